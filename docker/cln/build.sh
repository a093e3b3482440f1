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
./configure --prefix=/opt/cln --disable-rust --disable-valgrind --disable-compat
make -j"$(nproc)"
make install DESTDIR=/tmp/install
# Written last: /out holds a finished tree or nothing the harness trusts.
cp -a /tmp/install/opt/cln /out/cln
./lightningd/lightningd --version > /out/version
