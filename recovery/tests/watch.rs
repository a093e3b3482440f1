//! `watch` without Docker: channels the testbed drives, a recorded chain
//! that mines (or leaves out) what was broadcast, and the watcher taking
//! every claim through to confirmation, raising fees near deadlines and
//! naming what others took. Money is checked to the satoshi.

mod common;

use common::channels::*;
use lightning_signer::bitcoin::absolute::LockTime;
use lightning_signer::bitcoin::transaction::Version;
use lightning_signer::bitcoin::{
    Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use lightning_signer::channel::CommitmentType;
use vls_recovery::chain::{ChainSource, RecordedChain};
use vls_recovery::feewallet::FeeWallet;
use vls_recovery::offline::OfflineSigner;
use vls_recovery::plan::{Action, Claim, Known};
use vls_recovery::testbed::{funding_tx, htlc};
use vls_recovery::watch::{Event, Step, WatchConfig, Watcher};
use vls_recovery::Network;

fn config(urgency_blocks: u32) -> WatchConfig {
    WatchConfig {
        network: Network::Regtest,
        destination: destination(),
        fee_rate: FEE_RATE,
        max_fee_rate: 20_000,
        urgency_blocks,
        scan_from: 0,
    }
}

/// One step; force-closes are counted in `closes`.
fn step(
    w: &mut Watcher,
    signer: &OfflineSigner,
    chain: &RecordedChain,
    known: &mut Known,
    closes: &mut Vec<String>,
) -> Step {
    let mut hook = |a: &Action| {
        closes.push(a.channel_id.clone());
        Ok(())
    };
    w.step(signer, chain, known, &|id| id[..8].to_string(), &mut hook)
        .expect("step")
}

#[test]
fn watch_takes_a_force_close_home_to_the_last_satoshi() {
    let chain = RecordedChain::default();
    let g = generated(&chain, CommitmentType::StaticRemoteKey);
    let signer = g.signer();
    // The HTLC they offered us is claimable: we know its preimage.
    let (_, received_preimage) = htlc("received", 30_000, 510);
    let mut known = Known::default();
    known.preimages.add(received_preimage.0);
    let mut w = Watcher::new(config(6));
    let mut closes = Vec::new();
    let mut events = Vec::new();
    let mut finished = None;
    for _ in 0..600 {
        let s = step(&mut w, &signer, &chain, &mut known, &mut closes);
        events.extend(s.events.clone());
        if s.finished {
            finished = Some(s);
            break;
        }
        chain.mine(vec![]).expect("mine");
    }
    let s = finished.unwrap_or_else(|| panic!("not finished; events: {events:#?}"));
    // The state was marked closed once, before the force-close went out.
    assert_eq!(closes.len(), 1);
    assert!(
        matches!(events[0], Event::Broadcast { ref claim, .. } if claim == "force-close"),
        "{events:#?}"
    );
    let summary = w.summary(&s.plan);
    let c = &summary.channels[0];
    // Our balance and both HTLCs (fee rate 0: the commitment and the
    // second-stage transactions paid no fee) came home, less our sweeps' fees.
    assert_eq!(
        c.recovered_sat + c.fees_sat,
        600_000 + 40_000 + 30_000,
        "{summary}"
    );
    // to_local, and each HTLC's second stage then its delayed output.
    assert_eq!(c.txids.len(), 5, "{summary}");
    assert!(
        summary.taken.is_empty() && summary.shortfalls.is_empty(),
        "{summary}"
    );
    assert!(summary.deadline_error().is_none());
}

/// Their revoked commitment 1 confirmed at the tip.
fn revoked_on_chain(chain: &RecordedChain) -> (Generated, OfflineSigner, u32) {
    let g = generated(chain, CommitmentType::StaticRemoteKey);
    let signer = g.signer();
    let height = chain.mine(vec![g.their_old.clone()]).expect("mine");
    (g, signer, height)
}

#[test]
fn watch_raises_the_fee_of_a_stuck_justice_claim_as_its_deadline_nears() {
    let chain = RecordedChain::default();
    let (_g, signer, height) = revoked_on_chain(&chain);
    // Their CSV delay is 20: the justice deadline is height + 19. Bump
    // within 10 blocks of it.
    let mut w = Watcher::new(config(10));
    let mut known = Known::default();
    let mut closes = Vec::new();
    let mut rates = Vec::new();
    let mut justice = None;
    // Blocks leave our transactions out until three bumps went out.
    for _ in 0..30 {
        let s = step(&mut w, &signer, &chain, &mut known, &mut closes);
        for e in &s.events {
            match e {
                Event::Broadcast {
                    claim,
                    outpoint,
                    fee_rate,
                    ..
                }
                | Event::FeeBumped {
                    claim,
                    outpoint,
                    fee_rate,
                    ..
                } if claim == "justice to_local" => {
                    rates.push(*fee_rate);
                    justice = Some(*outpoint);
                }
                _ => {}
            }
        }
        if rates.len() >= 4 {
            break;
        }
        chain
            .mine_only(vec![])
            .expect("mine without our transactions");
    }
    let outpoint = justice.expect("justice broadcast");
    assert!(rates.len() >= 4, "{rates:?}");
    assert!(
        rates.windows(2).all(|r| r[1] > r[0]),
        "each bump pays more: {rates:?}"
    );
    // No bump before the deadline came within 10 blocks, then one a block.
    let sent = w.sent(&outpoint);
    assert_eq!(sent[0].at_tip, height);
    assert_eq!(sent[1].at_tip, height + 19 - 10);
    assert!(sent
        .windows(2)
        .skip(1)
        .all(|v| v[1].at_tip == v[0].at_tip + 1));
    // Only the newest version is in the mempool: each replaced the last.
    let newest = sent[sent.len() - 1].clone();
    let pool = chain.mempool().expect("mempool");
    assert!(pool.iter().any(|t| t.compute_txid() == newest.txid));
    let first = sent[0].txid;
    assert!(!pool.iter().any(|t| t.compute_txid() == first));
    // It confirms; the summary counts it once, at the fee it paid.
    chain.mine(vec![]).expect("mine");
    let s = step(&mut w, &signer, &chain, &mut known, &mut closes);
    let summary = w.summary(&s.plan);
    let settled: u64 = summary.channels[0].recovered_sat + summary.channels[0].fees_sat;
    // Their balance 300,000 (justice) and our to_remote 700,000.
    assert_eq!(settled, 1_000_000, "{summary}");
    assert!(summary.channels[0].txids.contains(&newest.txid.to_string()));
    assert!(closes.is_empty());
}

#[test]
fn watch_rebroadcasts_what_a_node_forgot() {
    let chain = RecordedChain::default();
    let (_g, signer, _) = revoked_on_chain(&chain);
    let mut w = Watcher::new(config(0));
    let (mut known, mut closes) = (Known::default(), Vec::new());
    step(&mut w, &signer, &chain, &mut known, &mut closes);
    let sent: Vec<_> = chain
        .mempool()
        .expect("mempool")
        .iter()
        .map(|t| t.compute_txid())
        .collect();
    assert_eq!(sent.len(), 2, "justice and to_remote");
    chain.clear_mempool().expect("clear");
    chain.mine(vec![]).expect("mine");
    step(&mut w, &signer, &chain, &mut known, &mut closes);
    let again: Vec<_> = chain
        .mempool()
        .expect("mempool")
        .iter()
        .map(|t| t.compute_txid())
        .collect();
    assert_eq!(again, sent, "the same transactions, not new ones");
}

#[test]
fn what_the_cheater_took_after_the_deadline_is_named() {
    let chain = RecordedChain::default();
    let (g, signer, height) = revoked_on_chain(&chain);
    // Nobody watched: the cheater waited out the delay and swept its
    // to_local (its witness is not checked by the recorded chain; only who
    // spent it matters here).
    let their_local = g
        .their_old
        .output
        .iter()
        .position(|o| o.value.to_sat() == 300_000)
        .expect("their to_local");
    for _ in 0..20 {
        chain.mine(vec![]).expect("mine");
    }
    let theft = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: g.their_old.compute_txid(),
                vout: their_local as u32,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::from_height(20),
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(299_000),
            script_pubkey: ScriptBuf::new_op_return([0u8; 4]),
        }],
    };
    let taken_at = chain.mine(vec![theft.clone()]).expect("mine");
    assert!(taken_at > height + 19);
    let mut w = Watcher::new(config(6));
    let (mut known, mut closes) = (Known::default(), Vec::new());
    let s = step(&mut w, &signer, &chain, &mut known, &mut closes);
    assert!(
        s.events.iter().any(|e| matches!(
            e,
            Event::TakenByOther {
                value_sat: 300_000,
                ..
            }
        )),
        "{:#?}",
        s.events
    );
    let summary = w.summary(&s.plan);
    let e = summary.deadline_error().expect("a loss past the deadline");
    assert_eq!(e.code(), "E-DEADLINE-PASSED");
    let text = e.to_string();
    assert!(text.starts_with("300000 sat lost"), "{text}");
    assert!(text.contains(&theft.compute_txid().to_string()), "{text}");
    // to_remote is still ours and goes out.
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, Event::Broadcast { claim, .. } if claim == "to_remote")));
    assert!(s
        .plan
        .actions()
        .iter()
        .all(|a| !matches!(a.claim, Claim::ForceClose)));
}

#[test]
fn a_stuck_commitment_of_theirs_is_pulled_in_by_our_output_on_it() {
    let chain = RecordedChain::default();
    let g = generated(&chain, CommitmentType::StaticRemoteKey);
    let signer = g.signer();
    // They broadcast their current commitment at fee rate 0: it waits.
    let theirs = g.pair.their_commitment().expect("their commitment");
    chain.broadcast(&theirs).expect("broadcast");
    let mut w = Watcher::new(config(6));
    let (mut known, mut closes) = (Known::default(), Vec::new());
    // First sight: give it a block. Our force-close would only conflict.
    let s = step(&mut w, &signer, &chain, &mut known, &mut closes);
    assert!(s.events.is_empty(), "{:#?}", s.events);
    assert!(closes.is_empty());
    chain.mine_only(vec![]).expect("a block without it");
    let s = step(&mut w, &signer, &chain, &mut known, &mut closes);
    let (child, rate) = s
        .events
        .iter()
        .find_map(|e| match e {
            Event::ChildPaysForParent {
                parent,
                txid,
                package_fee_rate,
                ..
            } => {
                assert_eq!(*parent, theirs.compute_txid());
                Some((*txid, *package_fee_rate))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no CPFP: {:#?}", s.events));
    // Parent and child together pay at least the target rate.
    assert!(rate >= u64::from(FEE_RATE), "{rate}");
    // Still left out: the child's rate goes up at the next block.
    chain.mine_only(vec![]).expect("another block without them");
    let s = step(&mut w, &signer, &chain, &mut known, &mut closes);
    let bumped = s
        .events
        .iter()
        .find_map(|e| match e {
            Event::ChildPaysForParent {
                txid,
                package_fee_rate,
                ..
            } => Some((*txid, *package_fee_rate)),
            _ => None,
        })
        .expect("a higher child");
    assert_ne!(bumped.0, child);
    assert!(bumped.1 > rate, "{bumped:?} after {rate}");
    // Both confirm: to_remote is home, less the child's fee, and nothing
    // was force-closed.
    chain.mine(vec![]).expect("mine");
    let s = step(&mut w, &signer, &chain, &mut known, &mut closes);
    assert!(closes.is_empty());
    let summary = w.summary(&s.plan);
    let c = &summary.channels[0];
    let to_remote = theirs
        .output
        .iter()
        .find(|o| o.value.to_sat() == 600_000)
        .expect("our to_remote");
    assert_eq!(
        c.recovered_sat + c.fees_sat,
        to_remote.value.to_sat(),
        "{summary}"
    );
    assert!(c.txids.contains(&bumped.0.to_string()), "{summary}");
}

#[test]
fn watch_pays_an_anchor_channels_htlc_transactions_from_the_fee_wallet() {
    let chain = RecordedChain::default();
    let g = generated(&chain, CommitmentType::AnchorsZeroFeeHtlc);
    let signer = g.signer();
    let fee_spk = FeeWallet::of(&signer).expect("fee wallet").script;
    chain
        .mine(vec![funding_tx("fee coin", &fee_spk, 50_000)])
        .expect("mine");
    let (_, received_preimage) = htlc("received", 30_000, 510);
    let mut known = Known::default();
    known.preimages.add(received_preimage.0);
    let mut w = Watcher::new(config(6));
    let mut closes = Vec::new();
    let mut last = None;
    for _ in 0..600 {
        let s = step(&mut w, &signer, &chain, &mut known, &mut closes);
        if s.finished {
            last = Some(s);
            break;
        }
        chain.mine(vec![]).expect("mine");
    }
    let s = last.expect("finished");
    assert_eq!(closes.len(), 1);
    let summary = w.summary(&s.plan);
    let c = &summary.channels[0];
    assert!(summary.shortfalls.is_empty(), "{summary}");
    // Our balance (less the two anchors it paid) and both HTLCs, plus the
    // 50,000 sat fee coin: home, paid in fees, or back in the fee wallet.
    let wallet: u64 = s.plan.fee_wallet.coins.iter().map(|c| c.value_sat).sum();
    assert!(wallet > 0 && wallet < 50_000, "{wallet}");
    assert_eq!(
        c.recovered_sat + c.fees_sat + wallet,
        (600_000 - 660) + 40_000 + 30_000 + 50_000,
        "{summary}"
    );
    assert_eq!(c.txids.len(), 5, "{summary}");
}
