//! Plan and sign on-chain recovery for 10, 100 and 1,000 channels.
//!
//! Every channel is a real one: the testbed opens it against a peer node,
//! funds it in a block and moves it through three commitment rounds with
//! vls-core on both sides. A third of them are still open (force-close), a
//! third were closed by the peer's current commitment (to_remote) and a
//! third by a revoked one (justice and to_remote). Measured: scanning the
//! blocks, classifying every channel, building the plan and signing and
//! script-verifying every ready transaction, from a restored signer; and,
//! apart, restoring that signer from the snapshot and the seed.
//!
//!   cargo bench -p vls-recovery --bench onchain

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use lightning_signer::bitcoin::{Address, Network as BtcNetwork, OutPoint, ScriptBuf};
use lightning_signer::channel::CommitmentType;
use vls_recovery::chain::{ChainView, RecordedChain};
use vls_recovery::offline::OfflineSigner;
use vls_recovery::plan::{Known, Plan};
use vls_recovery::preimage::Preimages;
use vls_recovery::sweep;
use vls_recovery::testbed::{self, funding_tx, tagged, MemoryState, Spec};
use vls_recovery::{Network, Seed, Snapshot};

const SIZES: [usize; 3] = [10, 100, 1_000];

struct World {
    snapshot: Snapshot,
    seed: Seed,
    chain: RecordedChain,
    funding: Vec<OutPoint>,
}

impl World {
    /// A fresh signer, as each run of the CLI has: vls-core's fee velocity
    /// budget is per signer, and a reused one would run out across samples.
    fn signer(&self) -> OfflineSigner {
        let signer = OfflineSigner::restore(&self.snapshot, &self.seed).expect("restore");
        signer
            .allow_destination(testbed::FIXTURE_ALLOWLISTED)
            .expect("allowlist");
        signer
    }
}

fn world(n: usize) -> World {
    let seed = tagged("bench node");
    let state = MemoryState::new();
    let us = testbed::new_node(&seed, state.persister()).expect("node");
    let peer = testbed::peer("bench");
    let chain = RecordedChain::default();
    let mut closes = Vec::new();
    let mut funding = Vec::new();
    for i in 0..n {
        let spec = Spec {
            dbid: 1 + i as u64,
            peer: "bench".into(),
            we_open: i % 2 == 0,
            capacity_sat: 1_000_000,
            commitment_type: if i % 4 < 2 {
                CommitmentType::AnchorsZeroFeeHtlc
            } else {
                CommitmentType::StaticRemoteKey
            },
            to_self_delay: 144,
        };
        let place = |spk: &ScriptBuf, value: u64| {
            let tx = funding_tx(&format!("bench {i}"), spk, value);
            let outpoint = OutPoint {
                txid: tx.compute_txid(),
                vout: 0,
            };
            chain.mine(vec![tx]).expect("mine");
            outpoint
        };
        let pair = testbed::open(&us, peer.clone(), &spec, &place).expect("open");
        funding.push(
            us.with_channel(&pair.ours, |c| Ok(c.setup.funding_outpoint))
                .expect("funding"),
        );
        // The opener's balance pays the two anchors (fee rate 0).
        let anchors = if spec.commitment_type == CommitmentType::AnchorsZeroFeeHtlc {
            660
        } else {
            0
        };
        let (ours, theirs) = if spec.we_open {
            (anchors, 0)
        } else {
            (0, anchors)
        };
        pair.round(0, 500_000 - ours, 500_000 - theirs, &[], &[])
            .expect("round");
        pair.round(1, 400_000 - ours, 600_000 - theirs, &[], &[])
            .expect("round");
        let revoked = pair.their_commitment().expect("commitment");
        pair.round(2, 450_000 - ours, 550_000 - theirs, &[], &[])
            .expect("round");
        match i % 3 {
            0 => {}
            1 => closes.push(pair.their_commitment().expect("commitment")),
            _ => closes.push(revoked),
        }
    }
    chain.mine(closes).expect("mine");
    chain.mine(vec![]).expect("mine");
    let snapshot = state.snapshot().expect("snapshot");
    let seed = Seed::from_hex(&hex::encode(seed), "bench").expect("seed");
    World {
        snapshot,
        seed,
        chain,
        funding,
    }
}

fn benches(c: &mut Criterion) {
    let destination = testbed::FIXTURE_ALLOWLISTED
        .parse::<Address<_>>()
        .expect("address")
        .require_network(BtcNetwork::Regtest)
        .expect("regtest")
        .script_pubkey();
    let mut group = c.benchmark_group("onchain");
    group.sample_size(10);
    for n in SIZES {
        let w = world(n);
        group.bench_with_input(BenchmarkId::new("plan_and_sign", n), &w, |b, w| {
            b.iter_batched(
                || w.signer(),
                |signer| {
                    let view = ChainView::scan(&w.chain, &w.funding, 0).expect("scan");
                    let plan = Plan::build(&signer, &view, &Known::default(), &|id| id.to_string())
                        .expect("plan");
                    let (signed, unsigned) = sweep::sign_ready(
                        &signer,
                        &plan,
                        &Preimages::default(),
                        Network::Regtest,
                        &destination,
                        1_000,
                    );
                    assert!(unsigned.is_empty(), "{unsigned:?}");
                    // One each for open and current-closed, two for revoked.
                    let want: usize = (0..n).map(|i| if i % 3 == 2 { 2 } else { 1 }).sum();
                    assert_eq!(signed.len(), want);
                    black_box(signed)
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_with_input(BenchmarkId::new("restore_signer", n), &w, |b, w| {
            b.iter(|| black_box(w.signer()))
        });
    }
    group.finish();
}

criterion_group!(onchain, benches);
criterion_main!(onchain);
