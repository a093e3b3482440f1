//! What a channel's plan holds: its actions, each with where it stands at
//! the tip, and what it cannot bring home.

use std::collections::BTreeMap;

use lightning_signer::bitcoin::{OutPoint, Txid};
use lightning_signer::channel::Channel;
use serde::Serialize;

use super::claim::Claim;
use crate::archive::HtlcArchive;
use crate::chain::ChainView;
use crate::fate::Fate;
use crate::preimage::Preimages;

/// What the plan knows besides the signer state: payment preimages, and the
/// HTLCs of counterparty commitments the state has forgotten.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub preimages: Preimages,
    pub archive: HtlcArchive,
    /// Payment hashes whose preimages to look for in spending witnesses
    /// (a forwarded HTLC's preimage revealed downstream claims upstream).
    pub wanted: Vec<[u8; 32]>,
    /// Fee wallet coins our unconfirmed transactions spend, by the output
    /// each of them claims.
    pub fee_coins_in_use: BTreeMap<OutPoint, OutPoint>,
}

/// Where an action stands at the plan's tip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Can be signed and broadcast now.
    Ready,
    /// Its timelock has not passed: the first block it can confirm in.
    Waiting { blocks: u32 },
    /// The output is already spent, by `txid`.
    Spent { txid: Txid, height: u32 },
}

/// One thing to do for one output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub channel: String,
    /// The channel's first id (hex), as the signer knows it.
    pub channel_id: String,
    pub claim: Claim,
    /// The output claimed (the funding output for a force-close).
    pub outpoint: OutPoint,
    pub value_sat: u64,
    /// The first block height it can confirm in.
    pub earliest_height: u32,
    /// The last height at which it is ours alone (after it the
    /// counterparty can take the output); none if it stays ours.
    pub deadline_height: Option<u32>,
    pub status: Status,
}

impl Action {
    /// `claim` on `output` (outpoint, value) of channel `c`, with its
    /// status at `view`'s tip.
    pub(super) fn at(
        c: &Channel,
        view: &ChainView,
        name: &str,
        claim: Claim,
        output: (OutPoint, u64),
        earliest_height: u32,
        deadline_height: Option<u32>,
    ) -> Action {
        let (outpoint, value_sat) = output;
        Action {
            channel: name.to_string(),
            channel_id: hex::encode(c.id0.as_slice()),
            claim,
            outpoint,
            value_sat,
            earliest_height,
            deadline_height,
            status: status_of(view, &outpoint, earliest_height),
        }
    }
}

/// Value the plan does not bring home, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shortfall {
    pub channel: String,
    pub value_sat: u64,
    pub what: String,
    pub reason: String,
}

/// Everything known of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelPlan {
    pub channel: String,
    /// The channel's first id (hex), as the signer knows it.
    pub channel_id: String,
    pub funding: OutPoint,
    pub capacity_sat: u64,
    /// Our balance on our latest commitment, HTLCs excluded.
    pub holder_balance_sat: u64,
    pub fate: Fate,
    pub actions: Vec<Action>,
    pub shortfalls: Vec<Shortfall>,
}

/// Where the claim of `outpoint` stands at `view`'s tip.
pub(super) fn status_of(view: &ChainView, outpoint: &OutPoint, earliest: u32) -> Status {
    if let Some(s) = view.spender(outpoint) {
        return Status::Spent {
            txid: s.tx.compute_txid(),
            height: s.height,
        };
    }
    // A transaction enters the block after the tip.
    if earliest <= view.tip + 1 {
        Status::Ready
    } else {
        Status::Waiting {
            blocks: earliest - (view.tip + 1),
        }
    }
}

/// Why an HTLC offered to us is not claimed, and until when it can be.
pub(super) fn preimage_unknown(cltv_expiry: u32) -> String {
    format!(
        "preimage unknown: give it with --preimage before block {cltv_expiry} (after it they take the HTLC back)"
    )
}
