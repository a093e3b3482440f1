//! One channel's plan, from what became of its funding output: nothing to
//! do, a force-close to broadcast, or the outputs of the commitment that
//! confirmed, ours or theirs.

use lightning_signer::bitcoin::secp256k1::{All, Secp256k1};
use lightning_signer::channel::Channel;

use super::action::{Action, ChannelPlan, Known, Shortfall, Status};
use super::claim::Claim;
use super::ours::{ours, Ours};
use super::theirs::{theirs, Theirs};
use crate::chain::ChainView;
use crate::fate::{classify, Fate};
use crate::feewallet::FeeWallet;

/// Channel `c`'s plan, named `name` for people.
pub(super) fn plan_channel(
    c: &Channel,
    view: &ChainView,
    known: &Known,
    fees: &mut FeeWallet,
    secp: &Secp256k1<All>,
    name: &str,
) -> ChannelPlan {
    let preimages = &known.preimages;
    let (holder_balance_sat, holder_htlcs_sat) = holder_value(c);
    let fate = classify(c, view, secp);
    let revoked = matches!(fate, Fate::TheirRevoked { .. });
    let mut plan = ChannelPlan {
        channel: name.to_string(),
        channel_id: hex::encode(c.id0.as_slice()),
        funding: c.setup.funding_outpoint,
        capacity_sat: c.setup.channel_value_sat,
        holder_balance_sat,
        fate: fate.clone(),
        actions: Vec::new(),
        shortfalls: Vec::new(),
    };
    let shortfall = |value_sat: u64, what: String, reason: &str| Shortfall {
        channel: name.to_string(),
        value_sat,
        what,
        reason: reason.to_string(),
    };
    match fate {
        Fate::FundingNotFound => plan.shortfalls.push(shortfall(
            holder_balance_sat + holder_htlcs_sat,
            format!("funding output {}", c.setup.funding_outpoint),
            "not found in the scanned blocks: scan from an earlier height, or the funding never confirmed",
        )),
        Fate::Open { .. } => plan.actions.push(force_close(
            c,
            view,
            name,
            holder_balance_sat + holder_htlcs_sat,
        )),
        Fate::MutualClose { .. } => {}
        Fate::Ours {
            txid,
            height,
            number,
            revoked,
        } => {
            if let Some(tx) = view.tx(&txid).map(|t| t.tx.clone()) {
                let at = Ours {
                    tx: &tx,
                    height,
                    number,
                    revoked,
                };
                ours(c, view, preimages, fees, secp, &at, &mut plan, name);
            }
        }
        Fate::Theirs {
            txid,
            height,
            number,
            ..
        }
        | Fate::TheirRevoked {
            txid,
            height,
            number,
        } => {
            if let Some(tx) = view.tx(&txid).map(|t| t.tx.clone()) {
                let theirs_at = Theirs {
                    tx: &tx,
                    height,
                    number,
                    revoked,
                };
                theirs(c, view, known, secp, &theirs_at, &mut plan, name);
            }
        }
        Fate::Unrecognised { txid, reason, .. } => plan.shortfalls.push(shortfall(
            holder_balance_sat + holder_htlcs_sat,
            format!("funding spent by {txid}"),
            &reason,
        )),
    }
    plan
}

/// Our balance and our HTLCs' value on our latest commitment: what is at
/// stake while the funding output is not spent by a commitment we can read.
fn holder_value(c: &Channel) -> (u64, u64) {
    let state = &c.enforcement_state;
    let holder_balance_sat = state
        .current_holder_commit_info
        .as_ref()
        .map_or(0, |i| i.to_broadcaster_value_sat);
    let holder_htlcs_sat: u64 = state.current_holder_commit_info.as_ref().map_or(0, |i| {
        i.offered_htlcs
            .iter()
            .chain(&i.received_htlcs)
            .map(|h| h.value_sat)
            .sum()
    });
    (holder_balance_sat, holder_htlcs_sat)
}

/// The channel is open on chain: our latest commitment goes out at once,
/// with everything of ours on it at stake.
fn force_close(c: &Channel, view: &ChainView, name: &str, value_sat: u64) -> Action {
    Action {
        channel: name.to_string(),
        channel_id: hex::encode(c.id0.as_slice()),
        claim: Claim::ForceClose,
        outpoint: c.setup.funding_outpoint,
        value_sat,
        earliest_height: view.tip + 1,
        deadline_height: None,
        status: Status::Ready,
    }
}
