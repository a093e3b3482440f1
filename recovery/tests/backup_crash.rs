//! A process writing backups of the fixture is SIGKILLed at 200 seeded random
//! moments once it is writing; each time, the newest backup in the directory
//! opens and verifies (checksum, snapshot re-derived from its entries).
//! Kills are timed from the writer's own "wrote" lines, not from its start,
//! so a busy machine moves them, not their meaning.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use vls_recovery::backup::{self, OpenKey};

/// Rounds out of 200 whose kill must land inside a write (its temporary
/// file left behind): the writer spends most of its loop writing and
/// fsyncing, so far more do; fewer means the kills land somewhere else.
const MIN_MID_WRITE: usize = 20;

#[test]
fn newest_backup_survives_sigkill_at_any_moment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let d = common::copy_fixture(state.path());
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let key = OpenKey::Identities(vec![id]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(200);
    let mut mid_write = 0;
    for round in 0..200 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_backup-crash-writer"))
            .arg(dir.path())
            .arg(&recipient)
            .arg(d.root())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn writer");
        let pid = child.id();
        let mut first = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read the writer's first line");
        assert_eq!(
            first.trim(),
            "wrote",
            "round {round}: writer did not start writing"
        );
        std::thread::sleep(Duration::from_micros(rng.random_range(0..20_000)));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("reap");
        assert!(
            status.code().is_none(),
            "round {round}: writer exited by itself: {status}"
        );
        let all = backup::list(dir.path()).expect("list");
        let newest = all
            .last()
            .unwrap_or_else(|| panic!("round {round}: no backup at all"));
        backup::open_snapshot_file(newest, &key).unwrap_or_else(|e| {
            panic!(
                "round {round}: newest backup {} is bad: {e}",
                newest.display()
            )
        });
        let suffix = format!(".tmp-{pid}");
        let left = std::fs::read_dir(dir.path())
            .expect("read backup dir")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(&suffix));
        if left {
            mid_write += 1;
        }
    }
    eprintln!("{mid_write} of 200 kills landed inside a write");
    assert!(
        mid_write >= MIN_MID_WRITE,
        "only {mid_write} of 200 kills landed inside a write (temporary file left)"
    );
}
