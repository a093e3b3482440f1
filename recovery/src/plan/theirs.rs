//! Their commitment confirmed: our `to_remote` at once, and each HTLC output
//! our state or the HTLC archive knows of, taken with its preimage or after
//! it expires; on a revoked one, `justice` takes the rest.

use lightning_signer::bitcoin::secp256k1::{All, PublicKey, Secp256k1};
use lightning_signer::bitcoin::{OutPoint, ScriptBuf, Transaction, TxOut};
use lightning_signer::channel::Channel;
use lightning_signer::lightning::ln::chan_utils::{get_htlc_redeemscript, HTLCOutputInCommitment};

use super::action::{preimage_unknown, Action, ChannelPlan, Known, Shortfall};
use super::claim::Claim;
use super::justice::Revoked;
use crate::archive::{ArchivedHtlc, HtlcArchive};
use crate::chain::ChainView;
use crate::fate::{is_anchor, our_to_remote_spk, their_point, their_to_local_script};
use crate::preimage::Preimages;

/// Their commitment as it confirmed.
pub(super) struct Theirs<'a> {
    pub(super) tx: &'a Transaction,
    pub(super) height: u32,
    pub(super) number: u64,
    pub(super) revoked: bool,
}

/// Each output of their commitment `at`: an action, or a shortfall that
/// says why not.
pub(super) fn theirs(
    c: &Channel,
    view: &ChainView,
    known: &Known,
    secp: &Secp256k1<All>,
    at: &Theirs,
    plan: &mut ChannelPlan,
    name: &str,
) {
    let Theirs {
        tx,
        height,
        number,
        revoked,
    } = *at;
    let txid = tx.compute_txid();
    let to_remote = our_to_remote_spk(c);
    let point = their_point(c, secp, number);
    let their_local = point.map(|p| their_to_local_script(c, &p));
    let htlcs = point.map_or_else(Vec::new, |p| their_htlcs(c, &known.archive, &p, number));
    let justice = their_local
        .as_ref()
        .filter(|_| revoked)
        .map(|script| Revoked {
            c,
            view,
            name,
            number,
            height,
            delay: u32::from(c.setup.holder_selected_contest_delay),
            their_local: script,
        });
    let mut used = vec![false; htlcs.len()];
    // Their second-stage transactions already justiced (one may spend
    // several of the commitment's HTLC outputs).
    let mut second_stages = Vec::new();
    for (vout, out) in tx.output.iter().enumerate() {
        let outpoint = OutPoint {
            txid,
            vout: vout as u32,
        };
        let value_sat = out.value.to_sat();
        let output = (outpoint, value_sat);
        if out.script_pubkey == to_remote {
            let claim = Claim::ToRemote {
                anchors: c.setup.is_anchors(),
            };
            plan.actions
                .push(Action::at(c, view, name, claim, output, height + 1, None));
            continue;
        }
        if their_local
            .as_ref()
            .is_some_and(|s| out.script_pubkey == s.to_p2wsh())
        {
            // Their own balance, unless they revoked it.
            if let Some(j) = &justice {
                plan.actions.push(j.to_local(output));
            }
            continue;
        }
        if is_anchor(c, out) {
            // Worth less than the fee to claim it.
            continue;
        }
        let matched = take_htlc(&htlcs, &mut used, out);
        if let Some(i) = matched {
            let (h, script) = &htlcs[i];
            match &justice {
                Some(j) => plan.actions.push(j.htlc(h, script, output)),
                None => plan_their_htlc(
                    c,
                    view,
                    &known.preimages,
                    h,
                    script,
                    number,
                    height,
                    outpoint,
                    plan,
                    name,
                ),
            }
        }
        if let Some(j) = &justice {
            if j.spent(output, matched.is_some(), &mut second_stages, plan) {
                continue;
            }
        }
        if matched.is_some() {
            continue;
        }
        let state_knows = their_local.is_some();
        plan.shortfalls
            .push(unmatched(output, number, state_knows, revoked, name));
    }
}

/// The first HTLC not `used` yet that `out` pays, marked used: one
/// commitment may hold several HTLCs alike.
fn take_htlc(
    htlcs: &[(HTLCOutputInCommitment, ScriptBuf)],
    used: &mut [bool],
    out: &TxOut,
) -> Option<usize> {
    let i = (0..htlcs.len()).find(|i| {
        !used[*i]
            && out.script_pubkey == htlcs[*i].1.to_p2wsh()
            && out.value.to_sat() * 1000 == htlcs[*i].0.amount_msat
    })?;
    used[i] = true;
    Some(i)
}

/// An `output` (outpoint, value) of their commitment that matches
/// nothing, and why it is not claimed.
fn unmatched(
    output: (OutPoint, u64),
    number: u64,
    state_knows: bool,
    revoked: bool,
    name: &str,
) -> Shortfall {
    let (outpoint, value_sat) = output;
    let (what, reason) = if !state_knows {
        (
            format!("{outpoint} (output of their commitment {number})"),
            "our state never saw this commitment (it is newer than our state): \
             its outputs other than our to_remote cannot be told apart"
                .to_string(),
        )
    } else if revoked {
        (
            format!("{outpoint} (HTLC on their revoked commitment {number})"),
            "neither the state nor the HTLC archive holds this commitment's HTLCs \
             (give older backups with --archive-from); if they move it with a \
             second-stage transaction, plan again: that output is ours"
                .to_string(),
        )
    } else {
        (
            format!("{outpoint} (HTLC on their commitment {number})"),
            "matches no HTLC our state knows on this commitment".to_string(),
        )
    };
    Shortfall {
        channel: name.to_string(),
        value_sat,
        what,
        reason,
    }
}

/// The HTLCs known on their commitment `number` (the state's for the
/// current and previous ones, and every variant the archive holds), each
/// with its witness script.
fn their_htlcs(
    c: &Channel,
    archive: &HtlcArchive,
    point: &PublicKey,
    number: u64,
) -> Vec<(HTLCOutputInCommitment, ScriptBuf)> {
    let keys = c.make_counterparty_tx_keys(point);
    let mut all = c
        .enforcement_state
        .get_previous_counterparty_commit_info(number)
        .map(|info| Channel::htlcs_info2_to_oic(&info.offered_htlcs, &info.received_htlcs))
        .unwrap_or_default();
    all.extend(
        archive
            .htlcs(&hex::encode(c.id0.as_slice()), number)
            .filter_map(ArchivedHtlc::on_their_commitment),
    );
    all.into_iter()
        .map(|h| {
            let script = get_htlc_redeemscript(&h, &c.setup.features(), &keys);
            (h, script)
        })
        .collect()
}

/// One HTLC output on their (unrevoked) commitment. `h.offered` is from
/// their side: they offered it, so it is ours with the preimage; otherwise
/// we offered it and take it back after it expires.
#[allow(clippy::too_many_arguments)]
fn plan_their_htlc(
    c: &Channel,
    view: &ChainView,
    preimages: &Preimages,
    h: &HTLCOutputInCommitment,
    script: &ScriptBuf,
    number: u64,
    height: u32,
    outpoint: OutPoint,
    plan: &mut ChannelPlan,
    name: &str,
) {
    let value_sat = h.amount_msat / 1000;
    let hash = h.payment_hash.0;
    let (claim, earliest, deadline) = if h.offered {
        if preimages.get(&hash).is_none() {
            plan.shortfalls.push(Shortfall {
                channel: name.to_string(),
                value_sat,
                what: format!("{outpoint} (HTLC they offered, hash {})", hex::encode(hash)),
                reason: preimage_unknown(h.cltv_expiry),
            });
            return;
        }
        (
            Claim::TheirHtlcPreimage {
                number,
                witness_script: script.clone(),
                payment_hash: hash,
            },
            height + 1,
            // Their timeout path opens in the block after the expiry.
            Some(h.cltv_expiry),
        )
    } else {
        (
            Claim::TheirHtlcTimeout {
                number,
                witness_script: script.clone(),
                cltv_expiry: h.cltv_expiry,
            },
            // A locktime of L confirms in block L + 1 at the earliest.
            (h.cltv_expiry + 1).max(height + 1),
            None,
        )
    };
    plan.actions.push(Action::at(
        c,
        view,
        name,
        claim,
        (outpoint, value_sat),
        earliest,
        deadline,
    ));
}
