#!/bin/sh
# Compiles Core Lightning from a release source tarball, inside the build
# container, with no network: /in/source.tar.gz in, /out/opt/cln out.
# The version comes from the tarball's top directory (lightning-vX.Y.Z), as
# CLN's Makefile reads it when there is no git checkout.
set -eu
mkdir -p /tmp/src
cd /tmp/src
tar xzf /in/source.tar.gz
cd /tmp/src/*lightning-v*
# The one change made to the release source. lightningd asks bitcoind for a
# new block every 30 s; only a --developer build can shorten that
# (--dev-bitcoind-poll), and a --developer lightningd also talks to its
# signer in ways operators' nodes do not. A regtest scenario mines a block
# and waits for the nodes to see it, so here lightningd looks every second.
poll=lightningd/chaintopology.c
if ! grep -q 'topo->poll_seconds = 30;' "$poll"; then
  echo "build.sh: $poll no longer sets poll_seconds = 30; the poll change needs a new look" >&2
  exit 1
fi
sed -i 's/topo->poll_seconds = 30;/topo->poll_seconds = 1;/' "$poll"
./configure --prefix=/opt/cln --disable-rust --disable-valgrind --disable-compat
make -j"$(nproc)"
make install DESTDIR=/tmp/install
# Written last: /out holds a finished tree or nothing the harness trusts.
cp -a /tmp/install/opt/cln /out/cln
./lightningd/lightningd --version > /out/version
