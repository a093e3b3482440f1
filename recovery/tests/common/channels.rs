//! Channels the testbed drives through real commitment rounds, funded on a
//! recorded chain: shared by the on-chain and watch tests.

use lightning_signer::bitcoin::{Address, Network as BtcNetwork, OutPoint, ScriptBuf, Transaction};
use lightning_signer::channel::CommitmentType;
use vls_recovery::chain::RecordedChain;
use vls_recovery::offline::OfflineSigner;
use vls_recovery::testbed::{self, funding_tx, htlc, tagged, MemoryState, Pair, Spec};
use vls_recovery::Seed;

/// Where every sweep goes: the fixture's allowlisted address.
pub fn destination() -> ScriptBuf {
    testbed::FIXTURE_ALLOWLISTED
        .parse::<Address<_>>()
        .expect("address")
        .require_network(BtcNetwork::Regtest)
        .expect("regtest")
        .script_pubkey()
}

pub const FEE_RATE: u32 = 1_000;

/// The generated channels run at fee rate 0, so the opener (us) pays only
/// the two 330-sat anchors, on anchor channels (from its balance: the
/// commitment's outputs add up to the capacity).
pub fn anchors_paid(t: CommitmentType) -> u64 {
    if matches!(t, CommitmentType::AnchorsZeroFeeHtlc) {
        660
    } else {
        0
    }
}

/// Our node with one channel of `commitment_type`, funded on `chain`, moved
/// through commitments 0..=2 with an HTLC each way on 2.
pub struct Generated {
    pub state: MemoryState,
    pub seed: [u8; 32],
    pub pair: Pair,
    pub funding: OutPoint,
    /// Their commitment 1, signed before it was revoked.
    pub their_old: Transaction,
}

pub fn generated(chain: &RecordedChain, commitment_type: CommitmentType) -> Generated {
    generated_with(chain, commitment_type, false)
}

/// As [`generated`]; with `pending`, commitment 2 is validated but 1 not
/// yet revoked (vls-core's pending next holder commitment).
pub fn generated_with(
    chain: &RecordedChain,
    commitment_type: CommitmentType,
    pending: bool,
) -> Generated {
    let seed = tagged("generated node");
    let state = MemoryState::new();
    let us = testbed::new_node(&seed, state.persister()).expect("node");
    let spec = Spec {
        dbid: 7,
        peer: "G".into(),
        we_open: true,
        capacity_sat: 1_000_000,
        commitment_type,
        to_self_delay: 20,
    };
    let funding_fn = |spk: &ScriptBuf, value: u64| {
        let tx = funding_tx("generated", spk, value);
        let outpoint = OutPoint {
            txid: tx.compute_txid(),
            vout: 0,
        };
        chain.mine(vec![tx]).expect("mine funding");
        outpoint
    };
    let pair = testbed::open(&us, testbed::peer("G"), &spec, &funding_fn).expect("open");
    let funding = us
        .with_channel(&pair.ours, |c| Ok(c.setup.funding_outpoint))
        .expect("funding");
    // The opener (us) pays the anchors.
    let a = anchors_paid(commitment_type);
    pair.round(0, 1_000_000 - a, 0, &[], &[]).expect("round 0");
    pair.round(1, 700_000 - a, 300_000, &[], &[])
        .expect("round 1");
    let their_old = pair.their_commitment().expect("their commitment 1");
    let (offered, _) = htlc("offered", 40_000, 500);
    let (received, _) = htlc("received", 30_000, 510);
    if pending {
        pair.half_round(2, 600_000 - a, 330_000, &[offered], &[received])
    } else {
        pair.round(2, 600_000 - a, 330_000, &[offered], &[received])
    }
    .expect("round 2");
    Generated {
        state,
        seed,
        pair,
        funding,
        their_old,
    }
}

impl Generated {
    pub fn signer(&self) -> OfflineSigner {
        let snapshot = self.state.snapshot().expect("snapshot");
        let seed = Seed::from_hex(&hex::encode(self.seed), "test").expect("seed");
        let signer = OfflineSigner::restore(&snapshot, &seed).expect("restore");
        signer
            .allow_destination(testbed::FIXTURE_ALLOWLISTED)
            .expect("allowlist");
        signer
    }
}

pub fn mine_empty(chain: &RecordedChain, n: u32) {
    for _ in 0..n {
        chain.mine(vec![]).expect("mine");
    }
}
