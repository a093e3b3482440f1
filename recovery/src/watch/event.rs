//! What happened, in order: what the watcher sent, what confirmed, what
//! others took, and what could not be signed or sent.

use std::fmt;

use lightning_signer::bitcoin::{OutPoint, Txid};
use serde::Serialize;

use crate::plan::Action;
use crate::RecoveryError;

/// What happened, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Broadcast {
        channel: String,
        claim: String,
        outpoint: OutPoint,
        txid: Txid,
        fee_rate: u64,
    },
    FeeBumped {
        channel: String,
        claim: String,
        outpoint: OutPoint,
        replaces: Txid,
        txid: Txid,
        fee_rate: u64,
    },
    /// Our transaction confirmed.
    Confirmed {
        channel: String,
        claim: String,
        txid: Txid,
        height: u32,
    },
    /// Someone else's transaction spent an output we claim.
    TakenByOther {
        channel: String,
        claim: String,
        outpoint: OutPoint,
        value_sat: u64,
        txid: Txid,
        height: u32,
    },
    /// The output is still unspent past the last height it was ours alone:
    /// the claim goes on, racing the counterparty.
    DeadlinePassed {
        channel: String,
        claim: String,
        outpoint: OutPoint,
        value_sat: u64,
        deadline_height: u32,
    },
    /// Their commitment sat in the mempool for a block: we spend our
    /// output on it at once, paying for both (child pays for parent).
    ChildPaysForParent {
        channel: String,
        parent: Txid,
        txid: Txid,
        /// The fee rate of parent and child together.
        package_fee_rate: u64,
    },
    NotSigned {
        channel: String,
        claim: String,
        outpoint: OutPoint,
        code: String,
        reason: String,
    },
    NotSent {
        channel: String,
        claim: String,
        txid: Txid,
        code: String,
        reason: String,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Broadcast {
                channel,
                claim,
                txid,
                fee_rate,
                ..
            } => write!(f, "{channel} {claim}: sent {txid} at {fee_rate} sat/kw"),
            Event::FeeBumped {
                channel,
                claim,
                replaces,
                txid,
                fee_rate,
                ..
            } => write!(
                f,
                "{channel} {claim}: fee raised to {fee_rate} sat/kw, {txid} replaces {replaces}"
            ),
            Event::Confirmed {
                channel,
                claim,
                txid,
                height,
            } => write!(f, "{channel} {claim}: {txid} confirmed at {height}"),
            Event::TakenByOther {
                channel,
                claim,
                value_sat,
                txid,
                height,
                ..
            } => write!(
                f,
                "{channel} {claim}: {value_sat} sat TAKEN by {txid} at {height}"
            ),
            Event::DeadlinePassed {
                channel,
                claim,
                value_sat,
                deadline_height,
                ..
            } => write!(
                f,
                "{channel} {claim}: deadline {deadline_height} passed with {value_sat} sat unclaimed; still trying"
            ),
            Event::ChildPaysForParent {
                channel,
                parent,
                txid,
                package_fee_rate,
            } => write!(
                f,
                "{channel}: their commitment {parent} is stuck; {txid} spends our output on it, both at {package_fee_rate} sat/kw"
            ),
            Event::NotSigned {
                channel,
                claim,
                code,
                reason,
                ..
            } => write!(f, "{channel} {claim}: not signed [{code}]: {reason}"),
            Event::NotSent {
                channel,
                claim,
                txid,
                code,
                reason,
            } => write!(f, "{channel} {claim}: {txid} not sent [{code}]: {reason}"),
        }
    }
}

/// `a`'s transaction `txid` did not reach the chain source.
pub(super) fn not_sent(a: &Action, txid: Txid, e: &RecoveryError) -> Event {
    Event::NotSent {
        channel: a.channel.clone(),
        claim: a.claim.name().into(),
        txid,
        code: e.code().into(),
        reason: e.to_string(),
    }
}
