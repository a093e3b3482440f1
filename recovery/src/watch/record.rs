//! What the watcher keeps of each claimed output: every version of our
//! transaction it sent, and how the output was spent in the end.

use lightning_signer::bitcoin::{OutPoint, Transaction, Txid};
use serde::Serialize;

/// One version of a transaction of ours.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub txid: Txid,
    #[serde(skip)]
    pub tx: Transaction,
    pub fee_rate: u64,
    pub fee_sat: u64,
    /// The chain tip when it was sent.
    pub at_tip: u32,
}

/// An output the plan claimed, once spent.
#[derive(Debug, Clone, Serialize)]
pub struct Settled {
    pub channel: String,
    pub claim: String,
    pub outpoint: OutPoint,
    pub value_sat: u64,
    pub txid: Txid,
    pub height: u32,
    /// Spent by a transaction of ours.
    pub ours: bool,
    /// What reached the destination (zero for a step on the way, such as a
    /// second-stage HTLC transaction, and for what others took).
    pub recovered_sat: u64,
    /// The fee our transaction paid out of this output.
    pub fee_sat: u64,
    /// It was taken after its deadline had passed.
    pub after_deadline: bool,
}
