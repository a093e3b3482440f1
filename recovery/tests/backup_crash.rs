//! A process writing backups is SIGKILLed at 200 seeded random moments; each
//! time, the newest backup in the directory opens and verifies.

use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use vls_recovery::backup::{self, OpenKey};

#[test]
fn newest_backup_survives_sigkill_at_any_moment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let key = OpenKey::Identities(vec![id]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(200);
    let mut verified = 0;
    for round in 0..200 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_backup-crash-writer"))
            .arg(dir.path())
            .arg(&recipient)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn writer");
        std::thread::sleep(Duration::from_micros(rng.random_range(0..40_000)));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("reap");
        assert!(
            status.code().is_none(),
            "round {round}: writer exited by itself: {status}"
        );
        let all = backup::list(dir.path()).expect("list");
        if let Some(newest) = all.last() {
            backup::open_file(newest, &key).unwrap_or_else(|e| {
                panic!(
                    "round {round}: newest backup {} is bad: {e}",
                    newest.display()
                )
            });
            verified += 1;
        }
    }
    assert!(
        verified > 150,
        "only {verified} rounds had a backup to check"
    );
}
