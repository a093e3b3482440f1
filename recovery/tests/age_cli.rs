//! A backup of the fixture made by `vls-recover backup create` opens with the
//! standard `age` tool (Debian's `age` package) and shows readable content:
//! the JSON header line, then the snapshot.

mod common;

use std::process::Command;

use age::secrecy::ExposeSecret;

#[test]
fn standard_age_tool_opens_a_fixture_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = common::copy_fixture(&dir.path().join("vlsd"));
    let id = age::x25519::Identity::generate();
    let key_file = dir.path().join("key.txt");
    std::fs::write(&key_file, format!("{}\n", id.to_string().expose_secret())).expect("key file");
    let out_dir = dir.path().join("backups");
    let made = Command::new(env!("CARGO_BIN_EXE_vls-recover"))
        .args(["backup", "create", "--json", "--datadir"])
        .arg(d.root())
        .args(["--recipient", &id.to_public().to_string(), "--out"])
        .arg(&out_dir)
        .output()
        .expect("run vls-recover");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&made.stdout).expect("json");
    let path = v["file"].as_str().expect("file").to_string();

    if let Err(why) = common::host::require_tool("age", "age") {
        panic!("{why}");
    }
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
    let (first, rest) = text.split_once('\n').expect("header line");
    let header: serde_json::Value = serde_json::from_str(first).expect("json header");
    assert_eq!(header["format"], "vls-chaos-backup");
    assert_eq!(header["includes_seed"], false);
    let payload: serde_json::Value = serde_json::from_str(rest).expect("json payload");
    assert_eq!(payload["snapshot"]["node_id"], header["node_id"]);
    assert_eq!(
        payload["snapshot"]["channels"].as_array().map(Vec::len),
        Some(3)
    );
    assert!(
        payload.get("seed").is_none(),
        "no seed without --include-seed"
    );
}
