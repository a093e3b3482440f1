//! `vls-recover` end to end on the fixture: every command, its exit code and
//! its stable error codes.

mod common;

use std::path::Path;
use std::process::Command;

use age::secrecy::ExposeSecret;

/// Runs `vls-recover` with whitespace-separated arguments (test paths have no spaces).
fn run(args: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vls-recover"))
        .args(args.split_whitespace())
        .output()
        .expect("run vls-recover");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn key_file(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let id = age::x25519::Identity::generate();
    let p = dir.join(name);
    std::fs::write(&p, id.to_string().expose_secret()).expect("key");
    (p, id.to_public().to_string())
}

#[test]
fn backup_verify_inspect_diff_restore_export() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = common::copy_fixture(&dir.path().join("vlsd"));
    let (key, recipient) = key_file(dir.path(), "key.txt");
    let (other, _) = key_file(dir.path(), "other.txt");
    let out_dir = dir.path().join("backups");

    let (code, out, err) = run(&format!("backup create --datadir {} --recipient {recipient} --out {} --include-seed --keep 2 --json", d.root().display(), out_dir.display()));
    assert_eq!(code, 0, "{err}");
    let file = json(&out)["file"].as_str().expect("file").to_string();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!err.contains(&std::fs::read_to_string(d.seed_path()).expect("seed")));

    // A second backup opens the first (--identity) and carries its HTLC
    // archive on; dbid 1 has HTLCs on the peer's commitment.
    let (code, out, err) = run(&format!("backup create --datadir {} --recipient {recipient} --identity {} --out {} --include-seed --keep 2 --json", d.root().display(), key.display(), out_dir.display()));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json(&out)["archive_carried_from"].as_str(),
        Some(file.as_str())
    );
    let file = json(&out)["file"].as_str().expect("file").to_string();
    let (code, out, _) = run(&format!(
        "verify {file} --identity {} --json",
        key.display()
    ));
    assert_eq!(code, 0);
    assert_eq!(json(&out)["htlc_archive_commitments"], 1, "{out}");

    let (code, out, _) = run(&format!("verify {file} --identity {}", key.display()));
    assert_eq!(code, 0);
    assert!(
        out.starts_with("ok: ") && out.contains("3 channels"),
        "{out}"
    );

    let (code, out, _) = run(&format!(
        "inspect {file} --identity {} --json",
        key.display()
    ));
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["snapshot"]["channels"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["header"]["includes_seed"], true);

    let (code, out, _) = run(&format!("inspect --datadir {}", d.root().display()));
    assert_eq!(code, 0);
    assert!(out.contains("dbid 2 [open]"), "{out}");

    // The backup and the datadir it came from: no difference, exit 0.
    let (code, out, _) = run(&format!(
        "diff {file} {} --identity {}",
        d.root().display(),
        key.display()
    ));
    assert_eq!((code, out.trim()), (0, "no changes"));

    // Move the live state on; now the diff shows it and exits 1.
    common::advance_dbid3(&d, &common::fixture_seed());
    let (code, out, _) = run(&format!(
        "diff {file} {} --identity {}",
        d.root().display(),
        key.display()
    ));
    assert_eq!(code, 1);
    assert!(
        out.contains("dbid 3: counterparty commitment 1 -> 2"),
        "{out}"
    );

    // Restore the (now stale) backup: refused against the live state...
    let target = dir.path().join("restored");
    let (code, _, err) = run(&format!(
        "restore {file} --datadir {} --against {} --identity {}",
        target.display(),
        d.root().display(),
        key.display()
    ));
    assert_eq!(code, 9, "{err}");
    assert!(
        err.starts_with("error[E-ROLLBACK]: ") && err.contains("dbid 3"),
        "{err}"
    );
    assert!(!target.join("regtest").exists());

    // A backup a force-close was broadcast from is refused until its
    // marker is removed.
    let marker =
        vls_recovery::closed::mark_backup_closed(Path::new(&file), &["00ff".into()]).expect("mark");
    let (code, _, err) = run(&format!(
        "restore {file} --datadir {} --identity {}",
        target.display(),
        key.display()
    ));
    assert_eq!(code, 9, "{err}");
    assert!(
        err.contains("E-FORCE-CLOSED") && err.contains("00ff"),
        "{err}"
    );
    std::fs::remove_file(marker).expect("remove marker");
    // ...and restored when nothing newer is known, seed from the backup.
    let (code, out, err) = run(&format!(
        "restore {file} --datadir {} --identity {} --json",
        target.display(),
        key.display()
    ));
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["restored"]["channels"], 3);
    assert_eq!(
        std::fs::read(target.join("regtest/node.seed")).expect("seed"),
        std::fs::read(common::fixture().join("regtest/node.seed")).expect("seed")
    );
    let (code, _, err) = run(&format!(
        "restore {file} --datadir {} --identity {}",
        target.display(),
        key.display()
    ));
    assert_eq!(code, 3);
    assert!(err.starts_with("error[E-DATADIR-NOT-EMPTY]"), "{err}");

    // Core Lightning SCBs: three entries ready for `recoverchannel`.
    let (code, out, err) = run(&format!(
        "export-scb --datadir {} --format cln",
        target.display()
    ));
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v.as_object().map(|o| o.len()), Some(1), "only `scb`");
    assert_eq!(v["scb"].as_array().map(Vec::len), Some(3));
    assert_eq!(err.matches("exported: channel").count(), 3, "{err}");

    // Errors: wrong key, damaged file, missing file, no key, locked datadir.
    let (code, _, err) = run(&format!("verify {file} --identity {}", other.display()));
    assert_eq!(code, 6);
    assert!(err.starts_with("error[E-BACKUP-KEY]: "), "{err}");

    let mut bytes = std::fs::read(&file).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    let bad = dir.path().join("bad.age");
    std::fs::write(&bad, bytes).expect("write");
    let (code, out, _) = run(&format!(
        "verify {} --identity {} --json",
        bad.display(),
        key.display()
    ));
    assert_eq!(code, 5);
    assert_eq!(json(&out)["code"], "E-BACKUP-CORRUPT");

    let (code, _, err) = run(&format!(
        "verify /nonexistent.age --identity {}",
        key.display()
    ));
    assert_eq!(code, 3);
    assert!(err.starts_with("error[E-IO]: /nonexistent.age: "), "{err}");

    let (code, _, err) = run(&format!("inspect {file}"));
    assert_eq!(code, 2);
    assert!(
        err.contains("needs --identity or --passphrase-file"),
        "{err}"
    );

    let _held = redb::Database::open(d.state_db_path()).expect("hold the lock like vlsd");
    let (code, _, err) = run(&format!("inspect --datadir {}", d.root().display()));
    assert_eq!(code, 7);
    assert!(err.starts_with("error[E-DATADIR-LOCKED]: "), "{err}");
}

#[test]
fn passphrase_backups_and_restore_with_a_seed_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = common::copy_fixture(&dir.path().join("vlsd"));
    let pass = dir.path().join("pass.txt");
    std::fs::write(&pass, "correct horse battery staple\n").expect("pass");
    let wrong = dir.path().join("wrong.txt");
    std::fs::write(&wrong, "incorrect\n").expect("pass");
    let out_dir = dir.path().join("b");
    let (code, out, err) = run(&format!(
        "backup create --datadir {} --passphrase-file {} --out {} --json",
        d.root().display(),
        pass.display(),
        out_dir.display()
    ));
    assert_eq!(code, 0, "{err}");
    let file = json(&out)["file"].as_str().expect("file").to_string();
    let (code, _, _) = run(&format!(
        "verify {file} --passphrase-file {}",
        pass.display()
    ));
    assert_eq!(code, 0);
    let (code, _, err) = run(&format!(
        "verify {file} --passphrase-file {}",
        wrong.display()
    ));
    assert_eq!(code, 6, "{err}");
    // No seed in this backup and none given: restore says what to pass.
    let (code, _, err) = run(&format!(
        "restore {file} --datadir {} --passphrase-file {}",
        dir.path().join("r").display(),
        pass.display()
    ));
    assert_eq!(code, 4);
    assert!(
        err.starts_with("error[E-SEED-MISSING]") && err.contains("--seed-file"),
        "{err}"
    );
    let (code, _, err) = run(&format!(
        "restore {file} --datadir {} --passphrase-file {} --seed-file {}",
        dir.path().join("r").display(),
        pass.display(),
        d.seed_path().display()
    ));
    assert_eq!(code, 0, "{err}");
}
