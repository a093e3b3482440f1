use super::*;
use crate::fault::Fault;

fn parse(text: &str) -> Result<Scenario> {
    Scenario::parse(Path::new("t.toml"), text)
}

const HEAD: &str = "name = \"t\"\ndescription = \"d\"\n[topology]\nnodes = [{ name = \"alice\", signer = \"vlsd\" }, { name = \"bob\", signer = \"local\" }]\nchannels = [{ from = \"alice\", to = \"bob\", capacity_sat = 1000000 }]\n";

#[test]
fn parses_steps_with_lines_and_default_labels() {
    let s = parse(&format!(
        "{HEAD}[[steps]]\nmine = 101\n[[steps]]\nlabel = \"crash\"\nfault = {{ kind = \"kill\", target = \"vlsd-alice\" }}\n"
    ))
    .expect("valid");
    assert_eq!(s.seed, 0);
    assert_eq!(s.steps.len(), 2);
    assert_eq!(s.steps[0].action, Action::Mine(101));
    assert_eq!(s.steps[0].label, "mine 101");
    assert_eq!(s.steps[0].line, 6);
    assert_eq!(s.steps[1].label, "crash");
    assert_eq!(
        s.steps[1].action,
        Action::Fault(Fault::Kill {
            target: "vlsd-alice".into()
        })
    );
    assert_eq!(
        s.topology.components(),
        ["bitcoind", "alice", "vlsd-alice", "bob"]
    );
    assert!(s.expect.conservation && !s.expect.penalty);
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = parse(&format!("{HEAD}[[steps]]\nmine = 1\nbogus = 2\n")).expect_err("unknown key");
    let msg = e.to_string();
    assert!(msg.starts_with("t.toml:8:"), "{msg}");
    assert!(msg.contains("bogus"), "{msg}");
}

#[test]
fn wrong_type_is_reported_with_position() {
    let e = parse(&format!("{HEAD}[[steps]]\nmine = \"lots\"\n")).expect_err("type");
    let msg = e.to_string();
    assert!(msg.starts_with("t.toml:7:"), "{msg}");
}

#[test]
fn unknown_fault_kind_lists_expected() {
    let e = parse(&format!(
        "{HEAD}[[steps]]\nfault = {{ kind = \"explode\", target = \"bitcoind\" }}\n"
    ))
    .expect_err("fault kind");
    let msg = e.to_string();
    assert!(msg.contains("explode") && msg.contains("kill"), "{msg}");
}

#[test]
fn semantic_errors_name_the_step_and_field() {
    let cases = [
        (
            "[[steps]]\nfault = { kind = \"kill\", target = \"lnd\" }\n",
            "fault.target: no component `lnd`",
        ),
        ("[[steps]]\nlabel = \"x\"\n", "steps[0]: no action"),
        (
            "[[steps]]\nmine = 1\nassert = { height = 1 }\n",
            "2 actions in one step",
        ),
        (
            "[[steps]]\nmine = 1\nwhen = { event = \"channel_ready\", node = \"alice\" }\n",
            "when: only valid together with `fault`",
        ),
        (
            "[[steps]]\nsettle = \"h1\"\n",
            "settle: no hold payment `h1`",
        ),
        (
            "[[steps]]\nforce_close = { channel = \"alice-carol\" }\n",
            "no channel `alice-carol` opened before this step (known: alice-bob)",
        ),
        (
            "[[steps]]\npay = { from = \"alice\", to = \"carol\", amount_msat = 1 }\n",
            "pay.to: no node `carol`",
        ),
        (
            "[[steps]]\nfault = { kind = \"disk_full\", target = \"vlsd-alice\" }\n",
            "needs `vlsd-alice` in topology.disks",
        ),
        (
            "[[steps]]\nwait_for = { checkpoint = \"c\" }\n",
            "no fault with checkpoint `c` armed",
        ),
        (
            "[[steps]]\nfault = { kind = \"power_cut\", target = \"bitcoind\" }\n",
            "power_cut works on nodes and signers",
        ),
        (
            "[[steps]]\nfault = { kind = \"reset\", target = \"alice\", peer = \"alice\" }\n",
            "reset: target and peer are both `alice`",
        ),
        (
            "[[steps]]\nfault = { kind = \"reset\", target = \"alice\", peer = \"carol\" }\n",
            "fault.peer: no component `carol`",
        ),
        (
            "[[steps]]\nfault = { kind = \"kill\", target = \"alice\" }\nwhen = { fsync = \"x\", component = \"bitcoind\" }\n",
            "when.fsync: the power-cut layer runs nodes and signers",
        ),
        (
            "[[steps]]\nfault = { kind = \"kill\", target = \"alice\" }\nwhen = { fsync = \"../x\", component = \"alice\" }\n",
            "when.fsync: `../x`: empty or `..` path components",
        ),
        (
            "[[steps]]\nfault = { kind = \"kill\", target = \"alice\" }\nwhen = { fsync = \"a b\", component = \"alice\" }\n",
            "when.fsync: `a b`: expected a path inside the datadir",
        ),
        (
            "[[steps]]\nfault = { kind = \"kill\", target = \"alice\" }\nwhen = { fsync = \"x\", component = \"alice\", node = \"alice\" }\n",
            "`fsync` goes with `component`",
        ),
        (
            "[[steps]]\nrefuses_start = { component = \"vlsd-alice\", log = \" \" }\n",
            "refuses_start.log: expected the text",
        ),
        (
            "[[steps]]\nfault = { kind = \"delay\", target = \"alice\", ms = 0 }\n",
            "delay: ms = 0; expected 1 to 60000",
        ),
        (
            "[[steps]]\nassert = { file = { component = \"alice\", path = \"/x\", exists = false, size = 0 } }\n",
            "`size` needs `exists = true`",
        ),
        (
            "[[steps]]\nrecover = { signer = \"alice\", from = \"s\" }\n",
            "no snapshot `s`",
        ),
        (
            "[[steps]]\nsnapshot = { signer = \"bob\", name = \"s\" }\n",
            "`bob` has no vlsd signer",
        ),
        (
            "[[steps]]\nassert = { height = 1, wallet_sat = 2 }\n",
            "2 checks in one assert",
        ),
        (
            "[[steps]]\nopen_channel = { from = \"alice\", to = \"bob\", capacity_sat = 1, pending = false }\n",
            "expected `confirm = false` with `pending = false`",
        ),

        (
            "[[steps]]\nfault = { kind = \"kill\", target = \"vlsd-alice\" }\nwhen = { signer_request = \"X\", signer = \"alice\" }\n",
            "is not a vlsd",
        ),
    ];
    for (steps, want) in cases {
        let e = parse(&format!("{HEAD}{steps}")).expect_err(want);
        let msg = e.to_string();
        assert!(msg.contains(want), "{msg} should contain {want}");
        assert!(msg.starts_with("t.toml:6:"), "{msg}");
    }
}

#[test]
fn a_channel_still_negotiating_cannot_be_named() {
    let steps = "[[steps]]\nopen_channel = { from = \"bob\", to = \"alice\", capacity_sat = 1, pending = false, confirm = false }\n[[steps]]\nclose = { channel = \"bob-alice\" }\n";
    let e = parse(&format!("{HEAD}{steps}")).expect_err("unnamed channel");
    assert!(
        e.to_string()
            .starts_with("t.toml:8:1: steps[1]: close.channel: no channel `bob-alice`"),
        "{e}"
    );
}

#[test]
fn checkpoints_parse_with_names_and_order() {
    let s = parse(&format!(
        "{HEAD}[[steps]]\nfault = {{ kind = \"kill\", target = \"vlsd-alice\" }}\nwhen = {{ signer_request = \"SignRemoteCommitmentTx2\", signer = \"vlsd-alice\", nth = 3, name = \"c3\" }}\n[[steps]]\npay = {{ from = \"alice\", to = \"bob\", amount_msat = 1000, count = 5, wait = false }}\n[[steps]]\nwait_for = {{ checkpoint = \"c3\" }}\n"
    ))
    .expect("valid");
    assert_eq!(
        s.steps[0].when,
        Some(Trigger::SignerRequest {
            name: "c3".into(),
            signer: "vlsd-alice".into(),
            request: "SignRemoteCommitmentTx2".into(),
            nth: 3
        })
    );
    assert_eq!(
        s.steps[0].when.as_ref().map(Trigger::describe).as_deref(),
        Some("3rd SignRemoteCommitmentTx2 on vlsd-alice")
    );
}

#[test]
fn tmpfs_datadirs_cannot_be_stopped() {
    let text = format!(
        "{}disks = [{{ component = \"vlsd-alice\", size_mb = 8 }}]\n[[steps]]\nfault = {{ kind = \"kill\", target = \"vlsd-alice\" }}\n",
        HEAD
    );
    let e = parse(&text).expect_err("kill of tmpfs datadir");
    assert!(e.to_string().contains("tmpfs"), "{e}");
}

#[test]
fn nodes_need_bitcoind_and_valid_names() {
    let e = parse("name = \"t\"\ndescription = \"d\"\n[topology]\nbitcoind = false\nnodes = [{ name = \"a\", signer = \"local\" }]\n")
        .expect_err("no bitcoind");
    assert!(e.to_string().contains("need `bitcoind = true`"), "{e}");
    let e = parse("name = \"t\"\ndescription = \"d\"\n[topology]\nsigners = [\"Alice Smith\"]\n")
        .expect_err("bad name");
    assert!(e.to_string().starts_with("t.toml:3:"), "{e}");
}

#[test]
fn missing_file_is_one_sentence() {
    let e = Scenario::load(Path::new("/nonexistent/x.toml")).expect_err("missing");
    assert_eq!(e.to_string(), "/nonexistent/x.toml: no such scenario file");
}

#[test]
fn catalog_files_parse() {
    let dir = crate::paths::workspace_root()
        .join("scenarios")
        .join("catalog");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("catalog dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load_all(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1, "no scenarios in {}", dir.display());
}

#[test]
fn checked_in_schema_is_current() {
    let path = crate::paths::workspace_root()
        .join("docs")
        .join("scenario.schema.json");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == json_schema(),
        "{} is stale: run `cargo run -p harness -- schema > docs/scenario.schema.json`",
        path.display()
    );
}

#[test]
fn power_cut_targets_run_on_the_buffering_layer() {
    let s = parse(&format!(
        "{HEAD}[[steps]]\nfault = {{ kind = \"power_cut\", target = \"vlsd-alice\" }}\n[[steps]]\nheal = \"vlsd-alice\"\n"
    ))
    .expect("valid");
    assert_eq!(s.power_cut_components(), ["vlsd-alice"]);
    assert!(s.skewed_components().is_empty());
    assert!(
        s.topology.sync_seed,
        "seeds are fsynced unless the file says otherwise"
    );
}

const MATRIX: &str = "name = \"m\"\ndescription = \"d\"\n[matrix]\ncall = [\"ValidateRevocation\", \"SignRemoteCommitmentTx2\"]\nnth = [\"1\", \"2\"]\n[topology]\nnodes = [{ name = \"alice\", signer = \"vlsd\" }, { name = \"bob\", signer = \"local\" }]\n[[steps]]\nlabel = \"crash at ${call} #${nth}\"\nfault = { kind = \"crash\", target = \"alice\" }\nwhen = { node = \"alice\", signer_call = \"${call}\", at = \"reply\", nth = ${nth} }\n";

#[test]
fn a_matrix_is_one_scenario_per_case() {
    let all = Scenario::parse_all(Path::new("m.toml"), MATRIX).expect("valid");
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "m[call=ValidateRevocation,nth=1]",
            "m[call=ValidateRevocation,nth=2]",
            "m[call=SignRemoteCommitmentTx2,nth=1]",
            "m[call=SignRemoteCommitmentTx2,nth=2]"
        ]
    );
    let last = &all[3];
    assert_eq!(last.case, "call=SignRemoteCommitmentTx2,nth=2");
    assert_eq!(last.steps[0].label, "crash at SignRemoteCommitmentTx2 #2");
    assert_eq!(last.steps[0].line, 8, "lines are those of the file");
    assert_eq!(
        last.steps[0].action,
        Action::Fault(Fault::Crash {
            target: "alice".into()
        })
    );
    assert_eq!(
        last.steps[0].when,
        Some(Trigger::SignerCall {
            name: "crash at SignRemoteCommitmentTx2 #2".into(),
            node: "alice".into(),
            request: "SignRemoteCommitmentTx2".into(),
            nth: 2,
            at: SignerMoment::Reply,
        })
    );
    let e = Scenario::load(Path::new("/nonexistent/m.toml")).expect_err("missing");
    assert!(e.to_string().contains("no such scenario file"), "{e}");
}

#[test]
fn a_placeholder_without_a_key_names_its_line() {
    let text = MATRIX.replace("signer_call = \"${call}\"", "signer_call = \"${cal}\"");
    let e = Scenario::parse_all(Path::new("m.toml"), &text).expect_err("typo");
    let msg = e.to_string();
    assert!(msg.starts_with("m.toml:11:"), "{msg}");
    assert!(msg.contains("`${cal}` is not a key of [matrix]"), "{msg}");
    let text = MATRIX.replace("[\"1\", \"2\"]", "[\"1\", \"2 x\"]");
    let e = Scenario::parse_all(Path::new("m.toml"), &text).expect_err("value");
    assert!(e.to_string().contains("matrix.nth: value `2 x`"), "{e}");
}

#[test]
fn signer_calls_need_a_vlsd_node() {
    let e = parse(&format!(
        "{HEAD}[[steps]]\nfault = {{ kind = \"crash\", target = \"bob\" }}\nwhen = {{ node = \"bob\", signer_call = \"ValidateCommitmentTx2\" }}\n"
    ))
    .expect_err("local signer");
    assert!(e.to_string().contains("does not sign through vlsd"), "{e}");
    let s = parse(&format!(
        "{HEAD}[[steps]]\nfault = {{ kind = \"kill\", target = \"alice\" }}\nwhen = {{ node = \"alice\", signer_call = \"ValidateCommitmentTx2\" }}\n"
    ))
    .expect("valid");
    assert_eq!(
        s.steps[0].when.as_ref().map(Trigger::describe).as_deref(),
        Some("1st ValidateCommitmentTx2 of alice, held before vlsd sees it")
    );
}

#[test]
fn deferred_validation_is_for_vlsd_nodes() {
    let head = HEAD.replace(
        "{ name = \"alice\", signer = \"vlsd\" }",
        "{ name = \"alice\", signer = \"vlsd\", defer_restored_validation = true }",
    );
    let s = parse(&head).expect("valid");
    assert_eq!(s.topology.defer_restored_validation, ["alice"]);
    let head = HEAD.replace(
        "{ name = \"bob\", signer = \"local\" }",
        "{ name = \"bob\", signer = \"local\", defer_restored_validation = true }",
    );
    let e = parse(&head).expect_err("local node");
    assert!(e.to_string().contains("needs `signer = \"vlsd\"`"), "{e}");
}

#[test]
fn supervised_components_must_exist() {
    let s = parse(&format!("{HEAD}supervised = [\"vlsd-alice\"]\n")).expect("valid");
    assert_eq!(s.topology.supervised, ["vlsd-alice"]);
    let e = parse(&format!("{HEAD}supervised = [\"vlsd-bob\"]\n")).expect_err("no such");
    assert!(
        e.to_string()
            .contains("topology.supervised: no component `vlsd-bob`"),
        "{e}"
    );
}

#[test]
fn a_finding_needs_exactly_one_signature_it_can_see() {
    let base = "name = \"x\"\ndescription = \"d\"\n[topology]\nsigners = [\"alice\"]\n[[steps]]\nmine = 1\n";
    let parse = |expect: &str| Scenario::parse(Path::new("x.toml"), &format!("{base}{expect}"));
    let ok = parse("[expect]\nfinding = \"a-b\"\nsignature = { log = { component = \"vlsd-alice\", contains = \"panic\" } }\n");
    assert!(ok.is_ok(), "{ok:?}");
    for (expect, says) in [
        ("[expect]\nfinding = \"a-b\"\n", "expected a `signature`"),
        ("[expect]\nsignature = { error = \"x\" }\n", "expected a `finding`"),
        ("[expect]\nfinding = \"A b\"\nsignature = { error = \"x\" }\n", "anchor"),
        ("[expect]\nfinding = \"a\"\nsignature = { error = \"x\", check = \"penalty\" }\n", "exactly one"),
        ("[expect]\nfinding = \"a\"\nsignature = { check = \"height\" }\n", "conservation, parties, penalty"),
        ("[expect]\nfinding = \"a\"\nsignature = { log = { component = \"bob\", contains = \"x\" } }\n", "no component `bob`"),
    ] {
        let e = parse(expect).expect_err(expect).to_string();
        assert!(e.contains(says) && e.contains("x.toml:7"), "{expect}: {e}");
    }
}

#[test]
fn an_fsync_checkpoint_puts_its_component_on_the_power_cut_layer() {
    let s = parse(&format!(
        "{HEAD}[[steps]]\nfault = {{ kind = \"power_cut\", target = \"vlsd-alice\" }}\nwhen = {{ fsync = \"ldk/monitors/\", component = \"alice\", nth = 2, name = \"c\" }}\n"
    ))
    .expect("valid");
    assert_eq!(
        s.steps[0].when,
        Some(Trigger::Fsync {
            name: "c".into(),
            component: "alice".into(),
            file: "ldk/monitors/".into(),
            nth: 2,
        })
    );
    assert_eq!(
        s.steps[0].when.as_ref().map(Trigger::describe).as_deref(),
        Some("2nd fsync of ldk/monitors/ by alice, held before it is durable")
    );
    // The cut's target for the fault, the held component for the checkpoint.
    assert_eq!(s.power_cut_components(), ["vlsd-alice", "alice"]);
}

#[test]
fn a_stash_is_a_local_signers_and_is_broadcast_by_its_name() {
    let base = "name = \"x\"\ndescription = \"d\"\n[topology]\nnodes = [{ name = \"alice\", signer = \"vlsd\" }, { name = \"bob\", signer = \"local\" }]\nchannels = [{ from = \"alice\", to = \"bob\", capacity_sat = 1_000_000 }]\n";
    let parse = |steps: &str| Scenario::parse(Path::new("x.toml"), &format!("{base}{steps}"));
    let ok = parse("[[steps]]\nstash = { channel = \"alice-bob\", by = \"bob\", name = \"old\" }\n[[steps]]\nbroadcast_stash = \"old\"\n");
    let s = ok.expect("a stash by bob, then its broadcast");
    assert_eq!(s.steps[1].action, Action::BroadcastStash("old".into()));
    for (steps, says) in [
        ("[[steps]]\nstash = { channel = \"alice-bob\", by = \"alice\", name = \"old\" }\n", "signs with vlsd"),
        ("[[steps]]\nstash = { channel = \"bob-alice\", by = \"bob\", name = \"old\" }\n", "stash.channel"),
        ("[[steps]]\nbroadcast_stash = \"old\"\n", "no stash `old`"),
        ("[[steps]]\nstash = { channel = \"alice-bob\", by = \"bob\", name = \"a\" }\n[[steps]]\nstash = { channel = \"alice-bob\", by = \"bob\", name = \"a\" }\n", "not used by an earlier stash"),
    ] {
        let e = parse(steps).expect_err(steps).to_string();
        assert!(e.contains(says), "{steps}: {e}");
    }
}

#[test]
fn channel_recovery_is_core_lightnings_and_needs_its_signer_and_a_backup() {
    let base = "name = \"x\"\ndescription = \"d\"\n[topology]\nnodes = [{ name = \"carol\", signer = \"vlsd\", kind = \"cln\" }, { name = \"alice\", signer = \"vlsd\" }, { name = \"bob\", signer = \"local\" }]\nchannels = [{ from = \"carol\", to = \"bob\", capacity_sat = 1_000_000 }]\n";
    let parse = |steps: &str| Scenario::parse(Path::new("x.toml"), &format!("{base}{steps}"));
    let backup = "[[steps]]\nbackup = { signer = \"carol\", name = \"b\" }\n[[steps]]\ndestroy = \"carol\"\n";
    let s = parse(&format!(
        "{backup}[[steps]]\nrecover_channels = {{ node = \"carol\", from = \"b\" }}\n[[steps]]\nwithdraw = \"carol\"\n"
    ))
    .expect("backup, destroy, recover, withdraw");
    assert!(
        matches!(&s.steps[2].action, Action::RecoverChannels(r) if r.shachain == ScbShachain::Recoverable)
    );
    assert_eq!(s.steps[3].action, Action::Withdraw("carol".into()));
    for (steps, says) in [
        ("[[steps]]\nrecover_channels = { node = \"carol\", from = \"b\" }\n", "no backup `b`"),
        ("[[steps]]\nbackup = { signer = \"alice\", name = \"b\" }\n[[steps]]\nrecover_channels = { node = \"alice\", from = \"b\" }\n", "not a Core Lightning node"),
        ("[[steps]]\nrecover_channels = { node = \"bob\", from = \"b\" }\n", "no vlsd signer"),
        ("[[steps]]\nbackup = { signer = \"carol\", name = \"b\" }\n[[steps]]\ndestroy = \"vlsd-carol\"\n[[steps]]\nrecover_channels = { node = \"carol\", from = \"b\" }\n", "vlsd-carol was destroyed"),
        ("[[steps]]\nwithdraw = \"alice\"\n", "bitcoind's own"),
        ("[[steps]]\ndestroy = \"carol\"\n[[steps]]\nwithdraw = \"carol\"\n", "was destroyed before this step"),
    ] {
        let e = parse(steps).expect_err(steps).to_string();
        assert!(e.contains(says), "{steps}: {e}");
    }
}
