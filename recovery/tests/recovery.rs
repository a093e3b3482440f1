//! The recovery library on the real 3-channel fixture: snapshot, seal/open,
//! damage, restore (read back and started the way vlsd starts), anti-rollback
//! against a state a real signer advanced, diff and the backup strategies.

mod common;

use std::path::PathBuf;

use common::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use vls_recovery::archive::HtlcArchive;
use vls_recovery::backup::{self, DirSink, OpenKey, SealKey};
use vls_recovery::closed;
use vls_recovery::diff::{BackupSink, Diff, Strategy, StrategyEngine};
use vls_recovery::restore::{self, Plan, Watermark};
use vls_recovery::snapshot::{ChannelOrigin, ChannelStatus, HtlcDirection};
use vls_recovery::store::Held;
use vls_recovery::{Network, RecoveryError, Snapshot, VlsdDatadir};

fn keypair() -> (age::x25519::Identity, age::x25519::Recipient) {
    let id = age::x25519::Identity::generate();
    let r = id.to_public();
    (id, r)
}

fn seal(s: &Snapshot, r: &age::x25519::Recipient, with_seed: bool) -> Vec<u8> {
    let seed = fixture_seed();
    let payload = backup::snapshot_payload(s, &Default::default(), with_seed.then_some(&seed))
        .expect("payload");
    let info = backup::BackupInfo {
        node_id: s.node_id.clone(),
        network: s.network.clone(),
        source: "test".into(),
        includes_seed: with_seed,
        created_at_ms: 1,
    };
    backup::seal(&info, &payload, &SealKey::Recipients(vec![r.clone()])).expect("seal")
}

#[test]
fn fixture_snapshot_has_the_three_channels() {
    let s = fixture_snapshot();
    assert_eq!(s.network, "regtest");
    assert_eq!(s.channels.len(), 3);
    let dbids: Vec<u64> = s
        .channels
        .iter()
        .map(|c| match &c.origin {
            ChannelOrigin::Cln { dbid, .. } => *dbid,
            other => panic!("not a Core Lightning id: {other:?}"),
        })
        .collect();
    let mut sorted = dbids.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 2, 3]);
    let by = |d: u64| {
        s.channels
            .iter()
            .find(|c| c.label().ends_with(&format!("dbid {d}")))
            .expect("channel")
    };
    let c1 = by(1);
    assert_eq!(c1.status, ChannelStatus::Open);
    assert_eq!(c1.htlcs.len(), 2);
    let out = c1
        .htlcs
        .iter()
        .find(|h| h.direction == HtlcDirection::Offered)
        .expect("offered");
    assert_eq!((out.amount_sat, out.cltv_expiry), (20_000, 300));
    assert!(out.preimage.is_some() && out.on_holder_commitment && out.on_counterparty_commitment);
    let inc = c1
        .htlcs
        .iter()
        .find(|h| h.direction == HtlcDirection::Received)
        .expect("received");
    assert_eq!(
        (inc.amount_sat, inc.cltv_expiry, inc.preimage.is_none()),
        (15_000, 310, true)
    );
    let c2 = by(2);
    assert_eq!(c2.next_counterparty_revoke_num, 59);
    // 59 secrets kept compactly: one slot per set bit position in use.
    assert_eq!(c2.counterparty_secrets.len(), 6);
    assert_eq!(c2.commitment_type.as_deref(), Some("static-remote-key"));
    assert_eq!(by(3).next_holder_commit_num, 1);
    assert_eq!(s.allowlist.entries.len(), 1);
    s.check_seed(&fixture_seed()).expect("seed is the node's");
}

#[test]
fn snapshot_json_round_trip_and_tamper_is_refused() {
    let s = fixture_snapshot();
    let bytes = s.to_json().expect("json");
    assert_eq!(Snapshot::from_json(&bytes, "t").expect("parse"), s);
    // A view that disagrees with the stored entries is refused.
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).expect("value");
    v["channels"][0]["capacity_sat"] = 1.into();
    let e = Snapshot::from_json(&serde_json::to_vec(&v).expect("ser"), "t").expect_err("tampered");
    assert_eq!(e.code(), "E-STATE-INVALID");
}

#[test]
fn restore_then_snapshot_is_identical_and_vlsd_starts_from_it() {
    let s = fixture_snapshot();
    let (id, r) = keypair();
    let sealed = seal(&s, &r, true);
    let c =
        backup::open_snapshot(&sealed, &OpenKey::Identities(vec![id]), "b".as_ref()).expect("open");
    assert_eq!(c.snapshot, s);
    let seed = c.seed.expect("seed in backup");
    let dir = tempfile::tempdir().expect("tempdir");
    let done = restore_into(&c.snapshot, &seed, dir.path(), false).expect("restore");
    let d = VlsdDatadir::new(dir.path(), Network::Regtest);
    assert_eq!(done.network_dir, d.network_dir());
    assert_eq!(Snapshot::load(&d).expect("reload"), s);
    // vlsd's start-up path loads the node and every channel.
    let node = start_like_vlsd(&d, &seed);
    assert_eq!(hex::encode(node.get_id().serialize()), s.node_id);
    assert_eq!(node.get_channels().len(), 3);
    drop(node);

    // Not into a non-empty datadir without --force.
    let again = restore_into(&s, &seed, dir.path(), false).expect_err("not empty");
    assert_eq!(again.code(), "E-DATADIR-NOT-EMPTY");
}

#[test]
fn wrong_seed_is_refused_before_writing() {
    let s = fixture_snapshot();
    let other = vls_recovery::Seed::from_hex(&"11".repeat(32), "test").expect("seed");
    let dir = tempfile::tempdir().expect("tempdir");
    let e = restore_into(&s, &other, dir.path(), false).expect_err("mismatch");
    assert_eq!(e.code(), "E-SEED-MISMATCH");
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}

/// A real signer moves past the fixture; restoring the fixture over it, or
/// with it as `--against`, is refused naming the channel.
#[test]
fn rollback_is_refused_with_the_channel_named() {
    let seed = fixture_seed();
    let Advanced {
        old,
        newer,
        datadir: d,
        _dir: live,
    } = advanced();
    let diff = Diff::between(&old, &newer).expect("diff");
    assert_eq!(diff.channels_changed.len(), 1, "{diff}");
    let ch = &diff.channels_changed[0];
    assert!(ch.label.ends_with("dbid 3"));
    let step = ch
        .counterparty_commit_num
        .expect("counterparty commitment advanced");
    assert_eq!((step.from, step.to), (1, 2));
    assert!(!ch.went_backwards);

    let e = restore::check_rollback(&old, &Watermark::from(&newer), "the live datadir")
        .expect_err("rollback");
    assert_eq!(e.code(), "E-ROLLBACK");
    let msg = e.to_string();
    assert!(msg.contains("dbid 3"), "{msg}");
    assert!(msg.contains("counterparty commitment number"), "{msg}");
    assert!(msg.contains("from 2"), "{msg}");
    // The newer state against itself, or the old against the old, is fine.
    restore::check_rollback(&newer, &Watermark::from(&newer), "x").expect("same");
    restore::check_rollback(&newer, &Watermark::from(&old), "x").expect("forward");

    // --force over the newer state: the state being replaced is checked too.
    let e = restore_into(&old, &seed, live.path(), true).expect_err("refused");
    assert_eq!(e.code(), "E-ROLLBACK", "{e}");
    assert_eq!(Snapshot::load(&d).expect("untouched"), newer);

    // Restoring the newer state elsewhere, then the old one over it with
    // --force: the marker of the last restore refuses it.
    let fresh = tempfile::tempdir().expect("tempdir");
    restore_into(&newer, &seed, fresh.path(), false).expect("restore newer");
    std::fs::remove_file(fresh.path().join("regtest/redb")).expect("lose the state");
    let e = restore_into(&old, &seed, fresh.path(), true).expect_err("marker");
    assert_eq!(e.code(), "E-ROLLBACK");
    assert!(e.to_string().contains("marker"), "{e}");

    // Forward is allowed over the old state, which is kept aside.
    let e2 = tempfile::tempdir().expect("tempdir");
    let od = copy_fixture(e2.path());
    let done = restore_into(&newer, &seed, e2.path(), true).expect("forward restore");
    let aside = done.moved_aside.expect("old state kept");
    assert!(aside.join("redb").is_file());
    assert_eq!(Snapshot::load(&od).expect("reload"), newer);
}

#[test]
fn every_sampled_bit_flip_of_the_fixture_backup_is_corrupt() {
    let s = fixture_snapshot();
    let (id, r) = keypair();
    let sealed = seal(&s, &r, false);
    let key = OpenKey::Identities(vec![id]);
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
    let bits = sealed.len() * 8;
    for i in 0..10_000 {
        let bit = rng.random_range(0..bits);
        let mut b = sealed.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        match backup::open_snapshot(&b, &key, "f".as_ref()) {
            Err(e) => assert_eq!(e.code(), "E-BACKUP-CORRUPT", "flip {i} at bit {bit}: {e}"),
            Ok(_) => panic!("flip {i} at bit {bit} was accepted"),
        }
    }
    // Truncation anywhere is corrupt too.
    for cut in [0, 10, sealed.len() / 2, sealed.len() - 1] {
        let e = backup::open_snapshot(&sealed[..cut], &key, "f".as_ref()).expect_err("cut");
        assert_eq!(e.code(), "E-BACKUP-CORRUPT", "cut at {cut}");
    }
    let (other, _) = keypair();
    let e = backup::open_snapshot(&sealed, &OpenKey::Identities(vec![other]), "f".as_ref())
        .expect_err("wrong key");
    assert_eq!(e.code(), "E-BACKUP-KEY");
}

fn restore_into(
    snapshot: &Snapshot,
    seed: &vls_recovery::Seed,
    datadir: &std::path::Path,
    force: bool,
) -> Result<restore::Restored, RecoveryError> {
    restore::restore(Plan {
        snapshot,
        seed,
        datadir: datadir.to_path_buf(),
        against: vec![],
        force,
        from: "test".into(),
    })
}

struct FailingSink(u32);
impl BackupSink for FailingSink {
    fn write(&mut self, _: &Snapshot, _: &HtlcArchive) -> Result<PathBuf, RecoveryError> {
        self.0 += 1;
        Err(RecoveryError::Io {
            path: "/full-disk".into(),
            source: std::io::Error::other("no space left on device"),
        })
    }
}

#[test]
fn strategies_decide_from_real_diffs() {
    let Advanced { old, newer, .. } = advanced();
    let out = tempfile::tempdir().expect("tempdir");
    let (_, r) = keypair();
    let sink = |keep| DirSink {
        dir: out.path().to_path_buf(),
        key: SealKey::Recipients(vec![r.clone()]),
        keep,
        seed: None,
        source: "test".into(),
    };

    let mut every = StrategyEngine::new("every-change".parse().expect("s"), sink(None));
    assert!(every.after_commit(&old, &old).expect("o").written.is_none());
    let o = every.after_commit(&old, &newer).expect("o");
    assert!(o.written.is_some() && o.pending_changes == 0);

    let mut fresh = StrategyEngine::new(Strategy::NewChannelsOnly, sink(None));
    let o = fresh.after_commit(&old, &newer).expect("o");
    assert!(o.written.is_none(), "a commitment is not a new channel");
    assert_eq!(o.pending_changes, o.diff.entries_changed);

    let n = Diff::between(&old, &newer).expect("d").entries_changed;
    let mut periodic = StrategyEngine::new(Strategy::Periodic(n + 1), sink(Some(2)));
    assert!(periodic
        .after_commit(&old, &newer)
        .expect("o")
        .written
        .is_none());
    assert!(periodic
        .after_commit(&old, &newer)
        .expect("o")
        .written
        .is_some());

    // A failing write is reported, stays due, and the snapshots are untouched.
    let before = newer.clone();
    let mut failing = StrategyEngine::new(Strategy::EveryChange, FailingSink(0));
    let o = failing.after_commit(&old, &newer).expect("o");
    assert_eq!(o.failed.expect("failed").code(), "E-IO");
    let o = failing.after_commit(&newer, &newer).expect("o");
    assert!(o.failed.is_some(), "still due after a failure");
    assert_eq!(failing.sink().0, 2);
    assert_eq!(newer, before);

    assert_eq!(
        "periodic:0".parse::<Strategy>().expect_err("zero").code(),
        "E-USAGE"
    );
    let files = backup::list(out.path()).expect("list");
    assert_eq!(files.len(), 2);
}

#[test]
fn a_force_closed_channel_is_marked_closed_in_the_datadir_vlsd_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = copy_fixture(dir.path());
    let before = Snapshot::load(&d).expect("snapshot");
    let c3 = before
        .channels
        .iter()
        .find(|c| c.label().ends_with("dbid 3"))
        .expect("dbid 3")
        .clone();
    assert_eq!(c3.status, ChannelStatus::Open);
    {
        let held = Held::lock(&d.state_db_path()).expect("lock");
        // While it is held nobody else opens the state (vlsd included).
        assert_eq!(
            Held::lock(&d.state_db_path()).err().map(|e| e.code()),
            Some("E-DATADIR-LOCKED")
        );
        let changed = closed::mark_closed(&held, std::slice::from_ref(&c3.id0)).expect("mark");
        assert_eq!(changed, vec![c3.key.clone()]);
        // Marking again changes nothing.
        assert!(closed::mark_closed(&held, std::slice::from_ref(&c3.id0))
            .expect("again")
            .is_empty());
    }
    let after = Snapshot::load(&d).expect("snapshot after");
    let marked = after.channel(&c3.key).expect("dbid 3 after");
    assert_eq!(marked.status, ChannelStatus::Closed);
    assert_eq!(marked.version, c3.version + 1);
    // Every other entry is untouched.
    let others = |s: &Snapshot| -> Vec<_> {
        s.store
            .iter()
            .filter(|i| i.key != c3.key)
            .cloned()
            .collect()
    };
    assert_eq!(others(&before), others(&after));
    // vlsd's own start-up path reads the channel as closing.
    let node = start_like_vlsd(&d, &fixture_seed());
    let id0 = lightning_signer::channel::ChannelId::new(&hex::decode(&c3.id0).expect("id0"));
    let closed_flag = node
        .with_channel(&id0, |c| Ok(c.enforcement_state.channel_closed))
        .expect("channel");
    assert!(closed_flag);
}
