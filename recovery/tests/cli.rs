//! `vls-recover verify|inspect`: exit codes and stable error codes on real files.

use std::process::Command;

use age::secrecy::ExposeSecret;
use vls_recovery::backup::{self, BackupInfo, SealKey};

fn vls_recover(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vls-recover"))
        .args(args)
        .output()
        .expect("run vls-recover");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_and_inspect_report_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = age::x25519::Identity::generate();
    let key = dir.path().join("key.txt");
    std::fs::write(&key, id.to_string().expose_secret()).expect("key");
    let other = dir.path().join("other.txt");
    std::fs::write(
        &other,
        age::x25519::Identity::generate()
            .to_string()
            .expose_secret(),
    )
    .expect("key");
    let info = BackupInfo {
        node_id: "03".to_string() + &"01".repeat(32),
        network: "regtest".to_string(),
        source: "test".to_string(),
        includes_seed: false,
        created_at_ms: 9,
    };
    let file = backup::create(
        dir.path(),
        &info,
        br#"{"a":1}"#,
        &SealKey::Recipients(vec![id.to_public()]),
        None,
    )
    .expect("create");

    let (code, out, _) = vls_recover(&[
        "verify".as_ref(),
        file.as_os_str(),
        "--identity".as_ref(),
        key.as_os_str(),
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with("ok: "), "{out}");

    let (code, out, _) = vls_recover(&[
        "inspect".as_ref(),
        file.as_os_str(),
        "--identity".as_ref(),
        key.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["payload"]["a"], 1);

    let (code, _, err) = vls_recover(&[
        "verify".as_ref(),
        file.as_os_str(),
        "--identity".as_ref(),
        other.as_os_str(),
    ]);
    assert_eq!(code, 6);
    assert!(err.starts_with("error[E-BACKUP-KEY]: "), "{err}");

    let mut bytes = std::fs::read(&file).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let bad = dir.path().join("bad.age");
    std::fs::write(&bad, bytes).expect("write");
    let (code, out, _) = vls_recover(&[
        "verify".as_ref(),
        bad.as_os_str(),
        "--identity".as_ref(),
        key.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 5);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["code"], "E-BACKUP-CORRUPT");

    let (code, _, err) = vls_recover(&[
        "verify".as_ref(),
        "/nonexistent.age".as_ref(),
        "--identity".as_ref(),
        key.as_os_str(),
    ]);
    assert_eq!(code, 3);
    assert!(err.starts_with("error[E-IO]: /nonexistent.age: "), "{err}");
}
