//! `vls-recover chain-status`, `plan` and `sweep` end to end on the fixture
//! against a recorded chain: peer B broadcast its revoked commitment 10.

mod common;

use std::process::Command;

use vls_recovery::chain::RecordedChain;
use vls_recovery::testbed;

fn run(args: &[&str]) -> (i32, String, String) {
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

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// A chain file in which peer B's commitment 10 confirmed at height 3.
fn chain_with_revoked_b(path: &std::path::Path) {
    let old = testbed::fixture_their_commitment(2, 10).expect("fixture");
    let chain = RecordedChain::default();
    for _ in 0..3 {
        chain.mine(vec![]).expect("mine");
    }
    chain.mine(vec![old]).expect("mine");
    chain.mine(vec![]).expect("mine");
    chain.save(path).expect("save");
}

#[test]
fn chain_status_plan_and_dry_run_sweep_on_the_fixture() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = common::copy_fixture(&dir.path().join("vlsd"));
    let chain = dir.path().join("chain.json");
    chain_with_revoked_b(&chain);
    let datadir = d.root().display().to_string();
    let chain_arg = chain.display().to_string();
    let base = ["--datadir", &datadir, "--chain-file", &chain_arg];
    let redb_before = std::fs::read(d.state_db_path()).expect("redb");

    let (code, out, err) = run(&[&["chain-status", "--json"][..], &base].concat());
    assert_eq!(code, 0, "{err}");
    let status = json(&out);
    assert_eq!(status["tip"], 4);
    let fates: Vec<&str> = status["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| c["fate"]["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(
        fates.iter().filter(|k| **k == "their_revoked").count(),
        1,
        "{out}"
    );
    assert_eq!(
        fates.iter().filter(|k| **k == "funding_not_found").count(),
        2,
        "{out}"
    );

    let (code, out, err) = run(&[&["plan"][..], &base].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("their REVOKED commitment 10"), "{out}");
    assert!(out.contains("justice to_local"), "{out}");
    assert!(out.contains("not recovered by this plan (2)"), "{out}");

    let (code, out, err) = run(&[&["plan", "--json"][..], &base].concat());
    assert_eq!(code, 0, "{err}");
    let plan = json(&out);
    let actions: Vec<&serde_json::Value> = plan["plan"]["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .flat_map(|c| c["actions"].as_array().expect("actions"))
        .collect();
    assert_eq!(actions.len(), 2, "{out}");
    let to_remote = actions
        .iter()
        .find(|a| a["claim"]["kind"] == "to_remote")
        .expect("to_remote");
    assert_eq!(to_remote["value_sat"], 30_000);
    assert_eq!(to_remote["status"]["status"], "ready");

    let to = testbed::FIXTURE_ALLOWLISTED;
    let (code, out, err) = run(&[
        &[
            "sweep",
            "--to",
            to,
            "--fee-rate",
            "2000",
            "--dry-run",
            "--json",
        ][..],
        &base,
    ]
    .concat());
    assert_eq!(code, 0, "{err}");
    let sweep = json(&out);
    assert_eq!(sweep["broadcast"], false);
    assert_eq!(sweep["fee_rate"], 2000);
    let signed = sweep["signed"].as_array().expect("signed");
    assert_eq!(signed.len(), 2, "{out}");
    for s in signed {
        assert!(s["fee_rate"].as_u64().expect("rate") >= 2000, "{s}");
        assert!(s["tx"].as_str().expect("hex").len() > 100);
    }
    assert_eq!(sweep["unsigned"].as_array().expect("unsigned").len(), 0);

    // Out of policy bounds: a coded error, nothing signed.
    let (code, out, _) = run(&[
        &["sweep", "--to", to, "--fee-rate", "10", "--json"][..],
        &base,
    ]
    .concat());
    assert_ne!(code, 0);
    assert_eq!(json(&out)["code"], "E-FEE-BOUNDS");

    // A destination of another network is refused.
    let (code, out, _) = run(&[
        &[
            "sweep",
            "--to",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "--json",
        ][..],
        &base,
    ]
    .concat());
    assert_eq!(code, 2);
    assert_eq!(json(&out)["code"], "E-USAGE");

    // watch, one pass: both claims go out, nothing is confirmed yet (exit 1),
    // and the table names the channels the chain knows nothing of.
    let (code, out, err) = run(&[
        &[
            "watch",
            "--to",
            to,
            "--fee-rate",
            "2000",
            "--once",
            "--json",
        ][..],
        &base,
    ]
    .concat());
    assert_eq!(code, 1, "{err}");
    let w = json(&out);
    assert_eq!(w["finished"], false);
    let sent: Vec<&str> = w["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event"] == "broadcast")
        .map(|e| e["claim"].as_str().expect("claim"))
        .collect();
    assert_eq!(sent.len(), 2, "{out}");
    assert!(
        sent.contains(&"justice to_local") && sent.contains(&"to_remote"),
        "{out}"
    );
    assert_eq!(w["summary"]["channels"].as_array().map(Vec::len), Some(3));
    assert_eq!(w["summary"]["shortfalls"].as_array().map(Vec::len), Some(2));
    // A recorded chain never grows: watching it to the end is refused.
    let (code, out, _) = run(&[&["watch", "--to", to, "--json"][..], &base].concat());
    assert_eq!(code, 2);
    assert_eq!(json(&out)["code"], "E-USAGE");

    // The fee wallet's address, from the seed: the plan shows it too.
    let (code, out, err) = run(&["fee-address", "--datadir", &datadir, "--json"]);
    assert_eq!(code, 0, "{err}");
    let address = json(&out)["address"].as_str().expect("address").to_string();
    assert!(address.starts_with("bcrt1q"), "{address}");
    assert_eq!(plan["plan"]["fee_wallet"]["address"], address.as_str());

    // The operator's state is never written (no force-close was needed).
    assert_eq!(std::fs::read(d.state_db_path()).expect("redb"), redb_before);
}

#[test]
fn garbage_chain_file_is_a_coded_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = common::copy_fixture(&dir.path().join("vlsd"));
    let chain = dir.path().join("chain.json");
    std::fs::write(&chain, r#"{"blocks": ["00ff"]}"#).expect("write");
    let (code, out, _) = run(&[
        "plan",
        "--datadir",
        &d.root().display().to_string(),
        "--chain-file",
        &chain.display().to_string(),
        "--json",
    ]);
    assert_eq!(code, 12);
    assert_eq!(json(&out)["code"], "E-CHAIN-DATA");
}

/// The plan of the one channel their (unrevoked) commitment closed.
fn closed_by_them(plan_json: &str) -> serde_json::Value {
    json(plan_json)["plan"]["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["fate"]["kind"] == "theirs")
        .expect("a channel closed by their commitment")
        .clone()
}

#[test]
fn preimage_given_on_the_command_line_claims_their_htlc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = common::copy_fixture(&dir.path().join("vlsd"));
    // Peer A closed with its current commitment 2: our 20,000 sat HTLC to
    // it (expiry 300) and its 15,000 sat HTLC to us (expiry 310) are on it.
    let theirs = testbed::fixture_their_commitment(1, 2).expect("fixture");
    let chain = RecordedChain::default();
    chain.mine(vec![]).expect("mine");
    chain.mine(vec![theirs]).expect("mine");
    let path = dir.path().join("chain.json");
    chain.save(&path).expect("save");
    let datadir = d.root().display().to_string();
    let chain_arg = path.display().to_string();
    let base = ["--datadir", &datadir, "--chain-file", &chain_arg, "--json"];

    let (code, out, err) = run(&[&["plan"][..], &base].concat());
    assert_eq!(code, 0, "{err}");
    let a = closed_by_them(&out);
    let short = a["shortfalls"].as_array().expect("shortfalls");
    assert_eq!(short.len(), 1, "{a}");
    assert_eq!(short[0]["value_sat"], 15_000);
    let kinds: Vec<&str> = a["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|x| x["claim"]["kind"].as_str().expect("kind"))
        .collect();
    assert!(kinds.contains(&"their_htlc_timeout"), "{a}");

    let preimage = hex::encode(testbed::tagged("incoming"));
    let (code, out, err) = run(&[&["plan", "--preimage", &preimage][..], &base].concat());
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(&preimage), "a preimage is never printed");
    let a = closed_by_them(&out);
    assert_eq!(
        a["shortfalls"].as_array().expect("shortfalls").len(),
        0,
        "{a}"
    );
    let claim = a["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|x| x["claim"]["kind"] == "their_htlc_preimage")
        .expect("preimage claim")
        .clone();
    assert_eq!(claim["value_sat"], 15_000);
    assert_eq!(claim["deadline_height"], 310);

    let (code, out, err) = run(&[
        &[
            "sweep",
            "--to",
            testbed::FIXTURE_ALLOWLISTED,
            "--preimage",
            &preimage,
        ][..],
        &base,
    ]
    .concat());
    assert_eq!(code, 0, "{err}{out}");
    let sweep = json(&out);
    let claims: Vec<&str> = sweep["signed"]
        .as_array()
        .expect("signed")
        .iter()
        .map(|s| s["claim"].as_str().expect("claim"))
        .collect();
    assert!(claims.contains(&"their htlc (preimage)"), "{out}");
    assert!(claims.contains(&"to_remote"), "{out}");
}
