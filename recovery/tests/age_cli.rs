//! A backup we write opens with the standard `age` tool and shows readable
//! content: the JSON header line, then the payload.

use std::path::Path;
use std::process::Command;

use age::secrecy::ExposeSecret;
use vls_recovery::backup::{self, BackupInfo, SealKey};

#[test]
fn standard_age_tool_opens_our_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = age::x25519::Identity::generate();
    let key_file = dir.path().join("key.txt");
    std::fs::write(&key_file, format!("{}\n", id.to_string().expose_secret())).expect("key file");
    let info = BackupInfo {
        node_id: "02".to_string() + &"cd".repeat(32),
        network: "regtest".to_string(),
        source: "test".to_string(),
        includes_seed: false,
        created_at_ms: 42,
    };
    let path = backup::create(
        &dir.path().join("backups"),
        &info,
        br#"{"channels":[]}"#,
        &SealKey::Recipients(vec![id.to_public()]),
        None,
    )
    .expect("create");
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key_file)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `age` ({e}); install Debian's `age` package"));
    assert!(
        out.status.success(),
        "age -d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines = text.lines();
    let header: serde_json::Value =
        serde_json::from_str(lines.next().expect("header line")).expect("json header");
    assert_eq!(header["format"], "vls-chaos-backup");
    assert_eq!(header["node_id"], info.node_id);
    assert_eq!(lines.next(), Some(r#"{"channels":[]}"#));
    assert!(Path::new(&path).exists());
}
