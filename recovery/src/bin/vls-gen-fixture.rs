//! Generates `recovery/fixtures/vlsd-regtest-3ch`: a real vlsd regtest datadir
//! (seed file + redb state) holding three Core Lightning-style channels.
//!
//! The state is produced by vls-core's own `Node` and `Channel` code, driven
//! through channel setup, commitment signing and validation and revocation
//! against three counterparty nodes, and persisted by vls-persist's
//! `KVVPersister<RedbKVVStore, JsonFormat>` as vlsd persists it. Nothing is
//! written by hand.
//!
//!   cargo run -p vls-recovery --bin vls-gen-fixture -- recovery/fixtures/vlsd-regtest-3ch
//!
//! Channels (all with Core Lightning ids: peer id + dbid):
//! - dbid 1, peer A: we opened, anchors; two pending HTLCs (one each way;
//!   the payee of the outgoing one has released its preimage).
//! - dbid 2, peer B: they opened, static remote key; 60 commitments, so 59
//!   revocation secrets from the peer.
//! - dbid 3, peer C: we opened, anchors; only the initial commitment.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use lightning_signer::persist::Persist;
use vls_persist::kvv::redb::RedbKVVStore;
use vls_persist::kvv::{JsonFormat, KVVPersister};
use vls_recovery::testbed::{self, tagged};

fn generate(out: &Path) -> Result<(), String> {
    let regtest = out.join("regtest");
    if regtest.exists() {
        return Err(format!(
            "{}: already exists; remove it to regenerate",
            regtest.display()
        ));
    }
    std::fs::create_dir_all(&regtest).map_err(|e| format!("{}: {e}", regtest.display()))?;

    let seed = tagged("node seed");
    let persister: Arc<dyn Persist> =
        Arc::new(KVVPersister(RedbKVVStore::new(&regtest), JsonFormat));
    let us = testbed::fixture(&seed, persister, &mut |_, _, _| Ok(()))?;

    // Seed file as vlsd writes it: hex, no newline, read-only.
    let seed_path = regtest.join("node.seed");
    std::fs::write(&seed_path, hex::encode(seed))
        .map_err(|e| format!("{}: {e}", seed_path.display()))?;
    let mut perm = std::fs::metadata(&seed_path)
        .map_err(|e| format!("{}: {e}", seed_path.display()))?
        .permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&seed_path, perm)
        .map_err(|e| format!("{}: {e}", seed_path.display()))?;
    println!("node {} written to {}", us.get_id(), regtest.display());
    Ok(())
}

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: vls-gen-fixture <output datadir>");
        return ExitCode::from(2);
    };
    match generate(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
