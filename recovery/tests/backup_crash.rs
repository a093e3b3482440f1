//! A process writing backups of the fixture is SIGKILLed at 200 seeded random
//! moments; each time, the newest backup in the directory opens and verifies
//! (checksum, snapshot re-derived from its entries).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use vls_recovery::backup::{self, OpenKey};

#[test]
fn newest_backup_survives_sigkill_at_any_moment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let d = common::copy_fixture(state.path());
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let key = OpenKey::Identities(vec![id]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(200);
    let mut verified = 0;
    // Rounds in which the writer got a new backup out before the kill: the
    // kills land while it is writing, not only while it starts up.
    let mut progressed = 0;
    let mut last_newest = None;
    for round in 0..200 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_backup-crash-writer"))
            .arg(dir.path())
            .arg(&recipient)
            .arg(d.root())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn writer");
        std::thread::sleep(Duration::from_micros(rng.random_range(0..60_000)));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("reap");
        assert!(
            status.code().is_none(),
            "round {round}: writer exited by itself: {status}"
        );
        let all = backup::list(dir.path()).expect("list");
        if let Some(newest) = all.last() {
            backup::open_snapshot_file(newest, &key).unwrap_or_else(|e| {
                panic!(
                    "round {round}: newest backup {} is bad: {e}",
                    newest.display()
                )
            });
            verified += 1;
            if last_newest.as_ref() != Some(newest) {
                progressed += 1;
                last_newest = Some(newest.clone());
            }
        }
    }
    assert!(
        progressed > 100,
        "the writer made progress in only {progressed} rounds"
    );
    assert!(
        verified > 150,
        "only {verified} rounds had a backup to check"
    );
}
