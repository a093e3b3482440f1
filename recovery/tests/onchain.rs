//! On-chain recovery without Docker: channel states made by vls-core itself
//! (the committed fixture, and channels the testbed drives through real
//! commitment rounds), a chain of blocks holding the transactions either
//! side would broadcast, and the library's plan and signed sweeps, each
//! checked by libbitcoinconsensus against its prevout.

mod common;

use common::channels::*;

use lightning_signer::bitcoin::{OutPoint, ScriptBuf, Transaction};
use lightning_signer::channel::CommitmentType;
use vls_recovery::archive::HtlcArchive;
use vls_recovery::backup::{self, DirSink, OpenKey, SealKey};
use vls_recovery::chain::{ChainSource, ChainView, RecordedChain};
use vls_recovery::diff::{Strategy as BackupStrategy, StrategyEngine};
use vls_recovery::fate::{Fate, TheirCommitment};
use vls_recovery::feewallet::FeeWallet;
use vls_recovery::offline::OfflineSigner;
use vls_recovery::plan::{Action, Claim, Known, Plan, Status};
use vls_recovery::preimage::Preimages;
use vls_recovery::snapshot::HtlcDirection;
use vls_recovery::sweep::{self, Signed};
use vls_recovery::testbed::{self, funding_tx, htlc, tagged};
use vls_recovery::{Network, Seed};

fn plan(signer: &OfflineSigner, chain: &RecordedChain, funding: &[OutPoint]) -> Plan {
    plan_with(signer, chain, funding, &Preimages::default())
}

fn plan_with(
    signer: &OfflineSigner,
    chain: &RecordedChain,
    funding: &[OutPoint],
    preimages: &Preimages,
) -> Plan {
    let known = Known {
        preimages: preimages.clone(),
        ..Known::default()
    };
    plan_known(signer, chain, funding, &known)
}

fn plan_known(
    signer: &OfflineSigner,
    chain: &RecordedChain,
    funding: &[OutPoint],
    known: &Known,
) -> Plan {
    let view = ChainView::scan(chain, funding, 0).expect("scan");
    Plan::build(signer, &view, known, &|id| id[..8].to_string()).expect("plan")
}

fn ready<'a>(plan: &'a Plan, name: &str) -> Vec<&'a Action> {
    plan.actions()
        .into_iter()
        .filter(|a| a.claim.name() == name && a.status == Status::Ready)
        .collect()
}

fn sign(signer: &OfflineSigner, plan: &Plan, action: &Action) -> Signed {
    sign_with(signer, plan, action, &Preimages::default())
}

fn sign_with(
    signer: &OfflineSigner,
    plan: &Plan,
    action: &Action,
    preimages: &Preimages,
) -> Signed {
    sweep::sign_action(
        signer,
        plan.tip,
        action,
        preimages,
        Network::Regtest,
        &destination(),
        FEE_RATE,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", action.claim.name()))
}

#[test]
fn holder_force_close_then_delayed_sweep_verify() {
    for commitment_type in [
        CommitmentType::StaticRemoteKey,
        CommitmentType::AnchorsZeroFeeHtlc,
    ] {
        let chain = RecordedChain::default();
        let g = generated(&chain, commitment_type);
        let signer = g.signer();

        let p = plan(&signer, &chain, &[g.funding]);
        assert!(
            matches!(p.channels[0].fate, Fate::Open { .. }),
            "{:?}",
            p.channels[0].fate
        );
        let close = ready(&p, "force-close");
        assert_eq!(close.len(), 1);
        // Our balance and both HTLCs are at stake.
        assert_eq!(
            close[0].value_sat,
            600_000 - anchors_paid(commitment_type) + 40_000 + 30_000
        );
        let signed = sign(&signer, &p, close[0]);
        assert_eq!(signed.value_in_sat, 1_000_000);
        // What our node would broadcast (signatures carry fresh nonces).
        let ours = g.pair.our_commitment().expect("our commitment");
        assert_eq!(signed.tx.compute_txid(), ours.compute_txid());
        assert_eq!(
            signed.fee_sat, 0,
            "the generated channels run at fee rate 0"
        );

        chain.mine(vec![signed.tx.clone()]).expect("mine close");
        let p = plan(&signer, &chain, &[g.funding]);
        match &p.channels[0].fate {
            Fate::Ours {
                number, revoked, ..
            } => {
                assert_eq!(*number, 2);
                assert!(!revoked);
            }
            other => panic!("expected our commitment, got {other:?}"),
        }
        let waiting: Vec<_> = p
            .actions()
            .into_iter()
            .filter(|a| matches!(a.claim, Claim::ToLocal { .. }))
            .collect();
        assert_eq!(waiting.len(), 1);
        assert_eq!(
            waiting[0].value_sat,
            600_000 - anchors_paid(commitment_type)
        );
        assert_eq!(waiting[0].status, Status::Waiting { blocks: 19 });

        mine_empty(&chain, 19);
        let p = plan(&signer, &chain, &[g.funding]);
        let sweep_ready = ready(&p, "to_local (delayed)");
        assert_eq!(sweep_ready.len(), 1, "{p}");
        let swept = sign(&signer, &p, sweep_ready[0]);
        assert!(swept.fee_rate >= u64::from(FEE_RATE));
        assert_eq!(swept.tx.output[0].script_pubkey, destination());
        // HTLCs it cannot claim are named, not dropped: on anchor channels
        // both (their second-stage transactions need a fee input), else the
        // one whose preimage is unknown.
        let anchors = commitment_type == CommitmentType::AnchorsZeroFeeHtlc;
        assert_eq!(p.shortfalls().count(), if anchors { 2 } else { 1 }, "{p}");
    }
}

#[test]
fn holder_htlc_second_stage_then_its_delayed_output_verify() {
    let chain = RecordedChain::default();
    let g = generated(&chain, CommitmentType::StaticRemoteKey);
    let signer = g.signer();
    let ours = g.pair.our_commitment().expect("our commitment");
    chain.mine(vec![ours]).expect("mine");
    let (_, preimage) = htlc("received", 30_000, 510);
    let mut pool = Preimages::default();
    pool.add(preimage.0);

    // HTLC-success: the preimage, before the expiry.
    let p = plan_with(&signer, &chain, &[g.funding], &pool);
    assert_eq!(p.shortfalls().count(), 0, "{p}");
    let success = ready(&p, "htlc-success");
    assert_eq!(success.len(), 1, "{p}");
    assert_eq!(success[0].value_sat, 30_000);
    assert_eq!(success[0].deadline_height, Some(510));
    let signed = sign_with(&signer, &p, success[0], &pool);
    assert_eq!(signed.tx.input[0].witness.nth(3), Some(&preimage.0[..]));
    // Fee rate 0 channel: the second stage carries the whole HTLC.
    assert_eq!(signed.fee_sat, 0);

    // Its output is ours after the CSV delay.
    chain.mine(vec![signed.tx.clone()]).expect("mine");
    let p = plan_with(&signer, &chain, &[g.funding], &pool);
    let second: Vec<_> = p
        .actions()
        .into_iter()
        .filter(|a| {
            a.claim.name() == "to_local (delayed)" && a.outpoint.txid == signed.tx.compute_txid()
        })
        .collect();
    assert_eq!(second.len(), 1, "{p}");
    assert_eq!(second[0].value_sat, 30_000);
    assert_eq!(second[0].status, Status::Waiting { blocks: 19 });
    mine_empty(&chain, 19);
    let p = plan_with(&signer, &chain, &[g.funding], &pool);
    let swept: Vec<_> = ready(&p, "to_local (delayed)")
        .into_iter()
        .filter(|a| a.outpoint.txid == signed.tx.compute_txid())
        .collect();
    assert_eq!(swept.len(), 1, "{p}");
    sign(&signer, &p, swept[0]);

    // HTLC-timeout: after the expiry (500), with locktime 500.
    let tip = p.tip;
    mine_empty(&chain, 500 - tip);
    let p = plan_with(&signer, &chain, &[g.funding], &pool);
    let timeout = ready(&p, "htlc-timeout");
    assert_eq!(timeout.len(), 1, "{p}");
    assert_eq!(timeout[0].value_sat, 40_000);
    let signed = sign(&signer, &p, timeout[0]);
    assert_eq!(signed.tx.lock_time.to_consensus_u32(), 500);
}

/// Plans with the fee wallet's coins in view.
fn plan_with_fees(
    signer: &OfflineSigner,
    chain: &RecordedChain,
    funding: &[OutPoint],
    pool: &Preimages,
) -> Plan {
    let fee = FeeWallet::of(signer).expect("fee wallet").script;
    let view = ChainView::scan_with_scripts(chain, funding, &[fee], 0).expect("scan");
    let known = Known {
        preimages: pool.clone(),
        ..Known::default()
    };
    Plan::build(signer, &view, &known, &|id| id[..8].to_string()).expect("plan")
}

#[test]
fn anchor_htlc_second_stages_take_a_fee_coin_and_verify() {
    let chain = RecordedChain::default();
    let g = generated(&chain, CommitmentType::AnchorsZeroFeeHtlc);
    let signer = g.signer();
    let ours = g.pair.our_commitment().expect("our commitment");
    chain.mine(vec![ours]).expect("mine");
    let (_, preimage) = htlc("received", 30_000, 510);
    let mut pool = Preimages::default();
    pool.add(preimage.0);

    // No coin at the fee address: both HTLCs are named, with the address.
    let p = plan_with_fees(&signer, &chain, &[g.funding], &pool);
    let address = p.fee_wallet.address.clone();
    let short: Vec<_> = p.shortfalls().collect();
    assert_eq!(short.len(), 2, "{p}");
    assert!(short.iter().all(|s| s.reason.contains(&address)), "{p}");

    // The operator sends 50,000 sat there.
    let fee_spk = FeeWallet::of(&signer).expect("fee wallet").script;
    chain
        .mine(vec![funding_tx("fee coin", &fee_spk, 50_000)])
        .expect("mine");
    let p = plan_with_fees(&signer, &chain, &[g.funding], &pool);
    assert_eq!(
        p.fee_wallet.coins.len(),
        0,
        "the coin went to the ready claim: {p}"
    );
    let success = ready(&p, "htlc-success");
    assert_eq!(success.len(), 1, "{p}");
    // The 40,000 sat HTLC-timeout waits for block 500: no coin yet, no shortfall.
    assert_eq!(p.shortfalls().count(), 0, "{p}");
    let signed = sign_with(&signer, &p, success[0], &pool);
    // Input 0 the HTLC (the peer's SINGLE|ANYONECANPAY signature still
    // verifies), input 1 the coin, output 1 the change back to the wallet;
    // `sign` verified both inputs with libbitcoinconsensus.
    assert_eq!(signed.tx.input.len(), 2);
    assert_eq!(signed.tx.output[0].value.to_sat(), 30_000);
    assert_eq!(signed.tx.output[1].script_pubkey, fee_spk);
    assert_eq!(signed.fee_sat, 50_000 - signed.tx.output[1].value.to_sat());
    assert!(
        signed.fee_rate >= u64::from(FEE_RATE),
        "{}",
        signed.fee_rate
    );

    // After block 500 the HTLC-timeout takes the change, now confirmed.
    chain.mine(vec![signed.tx.clone()]).expect("mine");
    let tip = chain.tip_height().expect("tip");
    mine_empty(&chain, 500 - tip);
    let p = plan_with_fees(&signer, &chain, &[g.funding], &pool);
    let timeout = ready(&p, "htlc-timeout");
    assert_eq!(timeout.len(), 1, "{p}");
    let change = OutPoint {
        txid: signed.tx.compute_txid(),
        vout: 1,
    };
    match &timeout[0].claim {
        Claim::HolderHtlc {
            fee_coin: Some(c), ..
        } => assert_eq!(c.outpoint, change),
        other => panic!("no fee coin: {other:?}"),
    }
    let signed = sign(&signer, &p, timeout[0]);
    assert_eq!(signed.tx.lock_time.to_consensus_u32(), 500);
    assert_eq!(signed.tx.input[1].previous_output, change);
}

/// Finding (upstream, vls-core 1.0.0-rc.1): when a validated next holder
/// commitment is pending (the node crashed between the peer's
/// commitment_signed and its own revoke_and_ack), vls-core's
/// `sign_holder_commitment_tx_for_recovery` signs that commitment, but its
/// HTLC transactions with the previous commitment's point (channel.rs:1619
/// against 1522): they fail script verification. Pinned: this asserts the
/// bug; our own second-stage path signs the same HTLC with the right key.
#[test]
fn vls_core_recovery_htlc_txs_fail_on_a_pending_next_commitment() {
    let chain = RecordedChain::default();
    let g = generated_with(&chain, CommitmentType::StaticRemoteKey, true);
    let (commitment, htlc_txs) = g
        .pair
        .us
        .with_channel(&g.pair.ours, |c| {
            assert!(c.enforcement_state.next_holder_commit_info.is_some());
            let (tx, htlc_txs, ..) =
                c.sign_holder_commitment_tx_for_recovery_dry_run(&[false, false], Some(1_000))?;
            Ok((tx, htlc_txs))
        })
        .expect("vls-core signs the pending commitment");
    // Only the offered HTLC is claimable without a preimage.
    assert_eq!(htlc_txs.len(), 1);
    let spent = htlc_txs[0].input[0].previous_output;
    assert_eq!(spent.txid, commitment.compute_txid());
    let prevout = commitment.output[spent.vout as usize].clone();
    let err = sweep::verify_scripts(&htlc_txs[0], &[prevout], "vls-core's HTLC-timeout")
        .expect_err("vls-core's HTLC transaction verifies: the upstream bug is fixed");
    assert_eq!(err.code(), "E-SCRIPT-INVALID");

    // The same commitment confirmed: ours verifies.
    let signer = g.signer();
    chain.mine(vec![commitment]).expect("mine");
    mine_empty(&chain, 500);
    let p = plan(&signer, &chain, &[g.funding]);
    assert!(
        matches!(p.channels[0].fate, Fate::Ours { number: 2, .. }),
        "{p}"
    );
    let timeout = ready(&p, "htlc-timeout");
    assert_eq!(timeout.len(), 1, "{p}");
    assert_eq!(timeout[0].outpoint, spent);
    sign(&signer, &p, timeout[0]);
}

#[test]
fn their_commitment_to_remote_verifies() {
    for commitment_type in [
        CommitmentType::StaticRemoteKey,
        CommitmentType::AnchorsZeroFeeHtlc,
    ] {
        let chain = RecordedChain::default();
        let g = generated(&chain, commitment_type);
        let signer = g.signer();
        let theirs = g.pair.their_commitment().expect("their commitment");
        chain.mine(vec![theirs]).expect("mine");
        let p = plan(&signer, &chain, &[g.funding]);
        match &p.channels[0].fate {
            Fate::Theirs { number, which, .. } => {
                assert_eq!(*number, 2);
                assert_eq!(*which, TheirCommitment::Current);
            }
            other => panic!("expected their commitment, got {other:?}"),
        }
        let claim = ready(&p, "to_remote");
        assert_eq!(claim.len(), 1, "{p}");
        assert_eq!(claim[0].value_sat, 600_000 - anchors_paid(commitment_type));
        let signed = sign(&signer, &p, claim[0]);
        assert_eq!(signed.value_in_sat, claim[0].value_sat);
        assert!(signed.fee_rate >= u64::from(FEE_RATE));
    }
}

#[test]
fn htlc_outputs_on_their_commitment_are_claimed_both_ways() {
    for commitment_type in [
        CommitmentType::StaticRemoteKey,
        CommitmentType::AnchorsZeroFeeHtlc,
    ] {
        let chain = RecordedChain::default();
        let g = generated(&chain, commitment_type);
        let signer = g.signer();
        let theirs = g.pair.their_commitment().expect("their commitment");
        chain.mine(vec![theirs]).expect("mine");

        // The HTLC they offered us needs its preimage: without it, it is a
        // named shortfall with its deadline.
        let p = plan(&signer, &chain, &[g.funding]);
        let short: Vec<_> = p.shortfalls().collect();
        assert_eq!(short.len(), 1, "{p}");
        assert_eq!(short[0].value_sat, 30_000);
        assert!(
            short[0].reason.contains("preimage unknown"),
            "{}",
            short[0].reason
        );
        assert!(short[0].reason.contains("510"), "{}", short[0].reason);

        let (_, preimage) = htlc("received", 30_000, 510);
        let mut pool = Preimages::default();
        pool.add(preimage.0);
        let p = plan_with(&signer, &chain, &[g.funding], &pool);
        assert_eq!(p.shortfalls().count(), 0, "{p}");
        let claim = ready(&p, "their htlc (preimage)");
        assert_eq!(claim.len(), 1, "{p}");
        assert_eq!(claim[0].value_sat, 30_000);
        assert_eq!(claim[0].deadline_height, Some(510));
        let signed = sign_with(&signer, &p, claim[0], &pool);
        assert_eq!(signed.tx.input[0].witness.nth(1), Some(&preimage.0[..]));

        // The HTLC we offered comes back after its expiry (500).
        let waiting: Vec<_> = p
            .actions()
            .into_iter()
            .filter(|a| a.claim.name() == "their htlc (timeout)")
            .collect();
        assert_eq!(waiting.len(), 1, "{p}");
        assert_eq!(waiting[0].value_sat, 40_000);
        assert_eq!(waiting[0].earliest_height, 501);
        assert!(matches!(waiting[0].status, Status::Waiting { .. }));
        let tip = p.tip;
        mine_empty(&chain, 500 - tip);
        let p = plan_with(&signer, &chain, &[g.funding], &pool);
        let timeout = ready(&p, "their htlc (timeout)");
        assert_eq!(timeout.len(), 1, "{p}");
        let signed = sign(&signer, &p, timeout[0]);
        assert_eq!(signed.tx.lock_time.to_consensus_u32(), 500);
    }
}

#[test]
fn their_revoked_commitment_justice_verifies() {
    for commitment_type in [
        CommitmentType::StaticRemoteKey,
        CommitmentType::AnchorsZeroFeeHtlc,
    ] {
        let chain = RecordedChain::default();
        let g = generated(&chain, commitment_type);
        let signer = g.signer();
        chain.mine(vec![g.their_old.clone()]).expect("mine");
        let p = plan(&signer, &chain, &[g.funding]);
        let height = match &p.channels[0].fate {
            Fate::TheirRevoked { number, height, .. } => {
                assert_eq!(*number, 1);
                *height
            }
            other => panic!("expected their revoked commitment, got {other:?}"),
        };
        let justice = ready(&p, "justice to_local");
        assert_eq!(justice.len(), 1, "{p}");
        // Their whole balance on commitment 1 is ours now.
        assert_eq!(justice[0].value_sat, 300_000);
        assert_eq!(justice[0].deadline_height, Some(height + 19));
        sign(&signer, &p, justice[0]);
        let to_remote = ready(&p, "to_remote");
        assert_eq!(to_remote.len(), 1);
        assert_eq!(
            to_remote[0].value_sat,
            700_000 - anchors_paid(commitment_type)
        );
        sign(&signer, &p, to_remote[0]);
        assert_eq!(p.shortfalls().count(), 0, "{p}");
    }
}

/// Their commitment 2 (an HTLC each way) revoked by round 3, with the
/// archive a backup engine gathered over rounds 2 and 3 and the newest
/// backup it sealed.
struct RevokedWithHtlcs {
    g: Generated,
    their_2: Transaction,
    /// Their HTLC-success for the HTLC we offered (they have its preimage).
    their_success: Transaction,
    archive: HtlcArchive,
    backup: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn revoked_with_htlcs(chain: &RecordedChain, commitment_type: CommitmentType) -> RevokedWithHtlcs {
    let g = generated(chain, commitment_type);
    let a = anchors_paid(commitment_type);
    let their_2 = g.pair.their_commitment().expect("their commitment 2");
    let (_, offered_preimage) = htlc("offered", 40_000, 500);
    let mut theirs = Preimages::default();
    theirs.add(offered_preimage.0);
    let their_htlc_txs = g.pair.their_htlc_txs(&theirs).expect("their HTLC txs");
    // The peer has the preimage of the HTLC we offered only: one success;
    // its HTLC-timeout (the one it offered) too.
    assert_eq!(their_htlc_txs.len(), 2);
    let their_success = their_htlc_txs
        .into_iter()
        .find(|t| t.lock_time.to_consensus_u32() == 0)
        .expect("their HTLC-success");

    let dir = tempfile::tempdir().expect("tempdir");
    let passphrase = dir.path().join("pass");
    std::fs::write(&passphrase, "correct horse").expect("pass");
    let key = || {
        let p = std::fs::read_to_string(&passphrase).expect("pass");
        age::secrecy::SecretString::from(p.trim().to_string())
    };
    let sink = DirSink {
        dir: dir.path().join("backups"),
        key: SealKey::Passphrase(key()),
        keep: Some(1),
        seed: None,
        source: "test".into(),
    };
    // Only new channels trigger a backup: the engine sees rounds 2 and 3
    // without writing one, as a backup process between commits would.
    let mut engine = StrategyEngine::new(BackupStrategy::NewChannelsOnly, sink);
    let at_2 = g.state.snapshot().expect("snapshot at 2");
    g.pair
        .round(3, 640_000 - a, 360_000, &[], &[])
        .expect("round 3");
    let at_3 = g.state.snapshot().expect("snapshot at 3");
    let o = engine.after_commit(&at_2, &at_3).expect("after commit");
    assert!(o.written.is_none());
    let backup = engine
        .sink()
        .write_snapshot(&at_3, engine.archive())
        .expect("backup");
    let opened = backup::open_snapshot_file(&backup, &OpenKey::Passphrase(key())).expect("open");
    RevokedWithHtlcs {
        g,
        their_2,
        their_success,
        archive: opened.archive,
        backup,
        _dir: dir,
    }
}

#[test]
fn htlc_archive_survives_a_backup_round_trip() {
    let chain = RecordedChain::default();
    let r = revoked_with_htlcs(&chain, CommitmentType::StaticRemoteKey);
    let id0 = {
        let s = r.g.state.snapshot().expect("snapshot");
        assert_eq!(s.channels.len(), 1);
        s.channels[0].id0.clone()
    };
    // The newest state alone no longer has commitment 2's HTLCs ...
    let mut state_only = HtlcArchive::default();
    state_only
        .observe(&r.g.state.snapshot().expect("snapshot"))
        .expect("observe");
    assert_eq!(state_only.htlcs(&id0, 2).count(), 0);
    // ... the backup does, exactly as they were: one each way.
    let mut got: Vec<_> = r
        .archive
        .htlcs(&id0, 2)
        .map(|h| (h.direction, h.amount_sat, h.cltv_expiry))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (HtlcDirection::Offered, 40_000, 500),
            (HtlcDirection::Received, 30_000, 510)
        ]
    );
    // A later backup process starts from that backup's archive and
    // carries it into the next one.
    let dir = tempfile::tempdir().expect("tempdir");
    let (id, recipient) = {
        let id = age::x25519::Identity::generate();
        let r = id.to_public();
        (id, r)
    };
    let sink = DirSink {
        dir: dir.path().to_path_buf(),
        key: SealKey::Recipients(vec![recipient]),
        keep: None,
        seed: None,
        source: "test".into(),
    };
    let engine = StrategyEngine::with_archive(BackupStrategy::EveryChange, sink, r.archive.clone());
    let now = r.g.state.snapshot().expect("snapshot");
    let next = engine
        .sink()
        .write_snapshot(&now, engine.archive())
        .expect("backup");
    let reopened = backup::open_snapshot_file(&next, &OpenKey::Identities(vec![id])).expect("open");
    assert_eq!(reopened.archive, r.archive);
    assert!(r.backup.exists());
}

#[test]
fn revoked_commitment_htlcs_and_second_stage_justice_verify() {
    for commitment_type in [
        CommitmentType::StaticRemoteKey,
        CommitmentType::AnchorsZeroFeeHtlc,
    ] {
        let chain = RecordedChain::default();
        let r = revoked_with_htlcs(&chain, commitment_type);
        let signer = r.g.signer();
        chain.mine(vec![r.their_2.clone()]).expect("mine");

        // Without the archive the HTLC outputs are named, not dropped.
        let p = plan(&signer, &chain, &[r.g.funding]);
        assert!(
            matches!(p.channels[0].fate, Fate::TheirRevoked { number: 2, .. }),
            "{p}"
        );
        let short: Vec<_> = p.shortfalls().collect();
        assert_eq!(short.len(), 2, "{p}");
        assert!(
            short.iter().all(|s| s.reason.contains("--archive-from")),
            "{p}"
        );
        assert_eq!(short.iter().map(|s| s.value_sat).sum::<u64>(), 70_000);

        // With it, every output of theirs is ours by the revocation path.
        let known = Known {
            archive: r.archive.clone(),
            ..Known::default()
        };
        let p = plan_known(&signer, &chain, &[r.g.funding], &known);
        assert_eq!(p.shortfalls().count(), 0, "{p}");
        let htlcs = ready(&p, "justice htlc");
        let mut values: Vec<u64> = htlcs.iter().map(|a| a.value_sat).collect();
        values.sort();
        assert_eq!(values, vec![30_000, 40_000], "{p}");
        for a in &htlcs {
            let signed = sign(&signer, &p, a);
            assert_eq!(signed.tx.input[0].witness.len(), 3);
        }
        assert_eq!(ready(&p, "justice to_local").len(), 1, "{p}");

        // They move the HTLC we offered with their HTLC-success: its
        // output (their delayed script) is ours until their delay passes.
        sweep::verify_scripts(
            &r.their_success,
            &[chain_prevout(&r.their_2, &r.their_success)],
            "their HTLC-success",
        )
        .expect("the cheater's second stage is itself valid");
        chain.mine(vec![r.their_success.clone()]).expect("mine");
        let p = plan_known(&signer, &chain, &[r.g.funding], &known);
        let spent: Vec<_> = p
            .actions()
            .into_iter()
            .filter(|a| {
                a.claim.name() == "justice htlc" && matches!(a.status, Status::Spent { .. })
            })
            .collect();
        assert_eq!(spent.len(), 1, "{p}");
        assert_eq!(spent[0].value_sat, 40_000);
        let second: Vec<_> = ready(&p, "justice to_local")
            .into_iter()
            .filter(|a| a.outpoint.txid == r.their_success.compute_txid())
            .collect();
        assert_eq!(second.len(), 1, "{p}");
        assert_eq!(
            second[0].value_sat,
            r.their_success.output[0].value.to_sat()
        );
        sign(&signer, &p, second[0]);
        assert_eq!(p.shortfalls().count(), 0, "{p}");
    }
}

/// The output of `parent` that `child`'s first input spends.
fn chain_prevout(parent: &Transaction, child: &Transaction) -> lightning_signer::bitcoin::TxOut {
    let op = child.input[0].previous_output;
    assert_eq!(op.txid, parent.compute_txid());
    parent.output[op.vout as usize].clone()
}

#[test]
fn fixture_force_close_verifies_for_every_channel() {
    let snapshot = common::fixture_snapshot();
    let signer = OfflineSigner::restore(&snapshot, &common::fixture_seed()).expect("restore");
    assert_eq!(signer.channels().len(), 3);
    for id in signer.channels() {
        let (funding, channel_id) = signer
            .with_channel(id, |c| {
                Ok((c.setup.funding_outpoint, hex::encode(id.as_slice())))
            })
            .expect("channel");
        let action = Action {
            channel: channel_id[..8].to_string(),
            channel_id,
            claim: Claim::ForceClose,
            outpoint: funding,
            value_sat: 0,
            earliest_height: 1,
            deadline_height: None,
            status: Status::Ready,
        };
        let signed = sweep::sign_action(
            &signer,
            400,
            &action,
            &Preimages::default(),
            Network::Regtest,
            &destination(),
            FEE_RATE,
        )
        .expect("force-close signs and verifies");
        assert_eq!(signed.tx.input[0].previous_output, funding);
    }
}

#[test]
fn fixture_revoked_commitment_is_classified_with_its_number() {
    // What peer B signed at commitment 10; the committed fixture (our state
    // only) has revoked it since.
    let old = testbed::fixture_their_commitment(2, 10).expect("fixture");

    let snapshot = common::fixture_snapshot();
    let signer = OfflineSigner::restore(&snapshot, &common::fixture_seed()).expect("restore");
    signer
        .allow_destination(testbed::FIXTURE_ALLOWLISTED)
        .expect("allowlist");
    let funding = old.input[0].previous_output;
    let chain = RecordedChain::default();
    mine_empty(&chain, 5);
    chain.mine(vec![old]).expect("mine");
    let p = plan(&signer, &chain, &[funding]);
    let c = p
        .channels
        .iter()
        .find(|c| c.funding == funding)
        .expect("channel B");
    assert!(
        matches!(
            c.fate,
            Fate::TheirRevoked {
                number: 10,
                height: 5,
                ..
            }
        ),
        "{:?}",
        c.fate
    );
    // At 10, (10 % 7) * 10_000 was ours: to_remote on their commitment; the
    // rest was theirs, and is ours by justice.
    let justice = ready(&p, "justice to_local");
    assert_eq!(justice.len(), 1, "{p}");
    sign(&signer, &p, justice[0]);
    let to_remote = ready(&p, "to_remote");
    assert_eq!(to_remote.len(), 1, "{p}");
    assert_eq!(to_remote[0].value_sat, 30_000);
    sign(&signer, &p, to_remote[0]);
}

#[test]
fn funding_not_found_is_a_shortfall_not_a_silence() {
    let snapshot = common::fixture_snapshot();
    let signer = OfflineSigner::restore(&snapshot, &common::fixture_seed()).expect("restore");
    let chain = RecordedChain::default();
    mine_empty(&chain, 3);
    let p = plan(&signer, &chain, &[]);
    assert_eq!(p.channels.len(), 3);
    for c in &p.channels {
        assert_eq!(c.fate, Fate::FundingNotFound);
    }
    assert_eq!(p.shortfalls().count(), 3);
}

#[test]
fn a_wrong_seed_is_refused_before_anything_is_restored() {
    let snapshot = common::fixture_snapshot();
    let other = Seed::from_hex(&hex::encode(tagged("another seed")), "test").expect("seed");
    let err = OfflineSigner::restore(&snapshot, &other)
        .err()
        .expect("refused");
    assert_eq!(err.code(), "E-SEED-MISMATCH");
}

#[test]
fn recorded_chain_round_trips_through_a_file() {
    let chain = RecordedChain::default();
    let _g = generated(&chain, CommitmentType::StaticRemoteKey);
    mine_empty(&chain, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chain.json");
    chain.save(&path).expect("save");
    let back = RecordedChain::load(&path).expect("load");
    assert_eq!(
        back.tip_height().expect("tip"),
        chain.tip_height().expect("tip")
    );
    assert_eq!(
        back.block_at(0).expect("block"),
        chain.block_at(0).expect("block")
    );
}

mod garbage {
    use std::sync::OnceLock;

    use lightning_signer::bitcoin::absolute::LockTime;
    use lightning_signer::bitcoin::transaction::Version;
    use lightning_signer::bitcoin::{Amount, Sequence, TxIn, TxOut, Witness};
    use proptest::prelude::*;

    use super::*;

    fn fixture_signer() -> &'static OfflineSigner {
        static SIGNER: OnceLock<OfflineSigner> = OnceLock::new();
        SIGNER.get_or_init(|| {
            OfflineSigner::restore(&common::fixture_snapshot(), &common::fixture_seed())
                .expect("restore")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any transaction spending a channel's funding output, commitment
        /// shaped or not, is classified without a panic, and the plan names
        /// what it cannot recover.
        #[test]
        fn any_spender_is_classified(
            channel in 0usize..3,
            sequence in prop_oneof![any::<u32>(), (0u32..0xff_ffff).prop_map(|s| 0x8000_0000 | s)],
            lock in prop_oneof![any::<u32>(), (0u32..0xff_ffff).prop_map(|l| 0x2000_0000 | l)],
            extra_inputs in 0usize..2,
            outputs in proptest::collection::vec((0u64..3_000_000, proptest::collection::vec(any::<u8>(), 0..40)), 0..6),
        ) {
            let signer = fixture_signer();
            let funding = signer.funding_outpoints().expect("fundings")[channel];
            let mut input = vec![TxIn {
                previous_output: funding,
                script_sig: ScriptBuf::new(),
                sequence: Sequence(sequence),
                witness: Witness::new(),
            }];
            for i in 0..extra_inputs {
                input.push(TxIn {
                    previous_output: OutPoint { txid: funding.txid, vout: 100 + i as u32 },
                    ..input[0].clone()
                });
            }
            let tx = Transaction {
                version: Version::TWO,
                lock_time: LockTime::from_consensus(lock),
                input,
                output: outputs
                    .into_iter()
                    .map(|(v, s)| TxOut { value: Amount::from_sat(v), script_pubkey: ScriptBuf::from_bytes(s) })
                    .collect(),
            };
            let chain = RecordedChain::default();
            chain.mine(vec![tx]).expect("mine");
            let view = ChainView::scan(&chain, &signer.funding_outpoints().expect("fundings"), 0).expect("scan");
            let p = Plan::build(signer, &view, &Known::default(), &|id| id.to_string()).expect("plan");
            let c = p.channels.iter().find(|c| c.funding == funding).expect("channel");
            let spent = !matches!(c.fate, Fate::FundingNotFound | Fate::Open { .. });
            prop_assert!(spent, "fate {:?}", c.fate);
            // Whatever it was, nothing at stake is silently dropped.
            let unrecognised = matches!(c.fate, Fate::Unrecognised { .. });
            if unrecognised {
                prop_assert_eq!(c.shortfalls.len(), 1);
            }
        }
    }
}
