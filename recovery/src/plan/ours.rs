//! Our commitment confirmed: our delayed `to_local` after our CSV delay, and
//! each HTLC output by the second-stage transaction the counterparty signed
//! in advance, whose own output is then a delayed `to_local` of ours.

use lightning_signer::bitcoin::secp256k1::{All, Secp256k1};
use lightning_signer::bitcoin::{OutPoint, ScriptBuf, Transaction};
use lightning_signer::channel::{Channel, ChannelBase};
use lightning_signer::lightning::ln::chan_utils::HTLCOutputInCommitment;

use super::action::{preimage_unknown, status_of, Action, ChannelPlan, Shortfall, Status};
use super::claim::Claim;
use crate::chain::ChainView;
use crate::fate::{holder_htlcs, holder_to_local_script, is_anchor, their_to_remote_spk};
use crate::feewallet::{FeeCoin, FeeWallet};
use crate::preimage::Preimages;

/// Our commitment as it confirmed.
pub(super) struct Ours<'a> {
    pub(super) tx: &'a Transaction,
    pub(super) height: u32,
    pub(super) number: u64,
    pub(super) revoked: bool,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn ours(
    c: &Channel,
    view: &ChainView,
    preimages: &Preimages,
    fees: &mut FeeWallet,
    secp: &Secp256k1<All>,
    at: &Ours,
    plan: &mut ChannelPlan,
    name: &str,
) {
    let Ours {
        tx,
        height,
        number,
        revoked,
    } = *at;
    let txid = tx.compute_txid();
    let to_local = c
        .get_per_commitment_point(number)
        .ok()
        .map(|p| holder_to_local_script(c, secp, &p));
    let to_local_spk = to_local.as_ref().map(|s| s.to_p2wsh());
    let csv = c.setup.counterparty_selected_contest_delay;
    let their_to_remote = their_to_remote_spk(c);
    // The HTLCs of this commitment as our state built it (none when we
    // had revoked it: the counterparty's signatures are gone).
    let htlcs: Vec<(usize, HTLCOutputInCommitment)> = if revoked {
        Vec::new()
    } else {
        holder_htlcs(c, secp, number)
            .filter(|h| h.txid == txid)
            .map(|h| h.htlcs.into_iter().map(|(h, _)| h).enumerate().collect())
            .unwrap_or_default()
    };
    for (vout, out) in tx.output.iter().enumerate() {
        let outpoint = OutPoint {
            txid,
            vout: vout as u32,
        };
        let value_sat = out.value.to_sat();
        if Some(&out.script_pubkey) == to_local_spk.as_ref() {
            let Some(witness_script) = to_local.clone() else {
                continue;
            };
            let earliest = height + u32::from(csv);
            let claim = Claim::ToLocal {
                number,
                witness_script,
                csv,
            };
            // From an old state the counterparty may take it at once.
            let deadline = revoked.then_some(height);
            let output = (outpoint, value_sat);
            plan.actions
                .push(Action::at(c, view, name, claim, output, earliest, deadline));
        } else if out.script_pubkey == their_to_remote || is_anchor(c, out) {
            // Theirs, or an anchor: worth less than the fee to claim it.
        } else if let Some((index, h)) = htlcs
            .iter()
            .find(|(_, h)| h.transaction_output_index == Some(vout as u32))
        {
            let at = OurHtlc {
                number,
                index: *index,
                htlc: h,
                height,
                outpoint,
                to_local: to_local.as_ref(),
            };
            plan_our_htlc(c, view, preimages, fees, &at, plan, name);
        } else {
            plan.shortfalls.push(Shortfall {
                channel: name.to_string(),
                value_sat,
                what: format!("{outpoint} (HTLC on our commitment {number})"),
                reason: "HTLC claims (second-stage transactions) are not built by this version"
                    .into(),
            });
        }
    }
}

/// One HTLC output of our commitment as it confirmed.
struct OurHtlc<'a> {
    number: u64,
    index: usize,
    htlc: &'a HTLCOutputInCommitment,
    height: u32,
    outpoint: OutPoint,
    /// Our to_local witness script at `number` (the second stage's output).
    to_local: Option<&'a ScriptBuf>,
}

fn plan_our_htlc(
    c: &Channel,
    view: &ChainView,
    preimages: &Preimages,
    fees: &mut FeeWallet,
    at: &OurHtlc,
    plan: &mut ChannelPlan,
    name: &str,
) {
    let h = at.htlc;
    let value_sat = h.amount_msat / 1000;
    let hash = h.payment_hash.0;
    let short = |plan: &mut ChannelPlan, reason: String| {
        plan.shortfalls.push(Shortfall {
            channel: name.to_string(),
            value_sat,
            what: format!(
                "{} (HTLC {} on our commitment {})",
                at.outpoint,
                if h.offered {
                    "we offered"
                } else {
                    "they offered"
                },
                at.number
            ),
            reason,
        })
    };
    if !h.offered && preimages.get(&hash).is_none() {
        short(plan, preimage_unknown(h.cltv_expiry));
        return;
    }
    let (earliest, deadline) = if h.offered {
        // The HTLC-timeout's locktime is the expiry.
        ((h.cltv_expiry + 1).max(at.height + 1), None)
    } else {
        (at.height + 1, Some(h.cltv_expiry))
    };
    let fee_coin = match fee_coin(c, view, fees, at.outpoint, earliest) {
        Ok(coin) => coin,
        Err(reason) => {
            short(plan, reason);
            return;
        }
    };
    let waits_for_coin = c.setup.is_zero_fee_htlc() && fee_coin.is_none();
    let claim = Claim::HolderHtlc {
        number: at.number,
        htlc_index: at.index,
        offered: h.offered,
        cltv_expiry: h.cltv_expiry,
        payment_hash: hash,
        fee_coin,
    };
    let output = (at.outpoint, value_sat);
    let mut action = Action::at(c, view, name, claim, output, earliest, deadline);
    if waits_for_coin && action.status == Status::Ready {
        // Every coin went to other claims: the change of one comes back
        // to the fee address once it confirms.
        action.status = Status::Waiting { blocks: 1 };
    }
    plan.actions.push(action);
    second_stage(c, view, at, plan, name);
}

/// The peer signed an anchor channel's second stage at a zero fee: a coin
/// of the fee wallet pays it, taken once the claim is ready. None on other
/// channels, or while it waits; `Err` says why no coin can ever come.
fn fee_coin(
    c: &Channel,
    view: &ChainView,
    fees: &mut FeeWallet,
    outpoint: OutPoint,
    earliest: u32,
) -> Result<Option<FeeCoin>, String> {
    if !c.setup.is_zero_fee_htlc() {
        return Ok(None);
    }
    let ready = status_of(view, &outpoint, earliest) == Status::Ready;
    let held = fees.in_use.get(&outpoint).cloned();
    if held.is_none() && !fees.funded && view.spender(&outpoint).is_none() {
        return Err(format!(
            "its second-stage transaction pays no fee (an anchor channel's): send a \
             coin to the fee address {} (vls-recover fee-address) to pay it, one per \
             HTLC or the change of one after it confirms",
            fees.address
        ));
    }
    Ok(if ready {
        held.or_else(|| (!fees.coins.is_empty()).then(|| fees.coins.remove(0)))
    } else {
        None
    })
}

/// Once our second-stage transaction confirmed, its output is a delayed
/// to_local of ours.
fn second_stage(c: &Channel, view: &ChainView, at: &OurHtlc, plan: &mut ChannelPlan, name: &str) {
    let (Some(spender), Some(script)) = (view.spender(&at.outpoint), at.to_local) else {
        return;
    };
    let spk = script.to_p2wsh();
    let second_txid = spender.tx.compute_txid();
    for (vout, out) in spender.tx.output.iter().enumerate() {
        if out.script_pubkey != spk {
            continue;
        }
        let csv = c.setup.counterparty_selected_contest_delay;
        let outpoint = OutPoint {
            txid: second_txid,
            vout: vout as u32,
        };
        let earliest = spender.height + u32::from(csv);
        let claim = Claim::ToLocal {
            number: at.number,
            witness_script: script.clone(),
            csv,
        };
        let output = (outpoint, out.value.to_sat());
        plan.actions
            .push(Action::at(c, view, name, claim, output, earliest, None));
    }
}
