//! The recovery plan: per channel, what the chain shows and the ordered
//! actions that bring our outputs home, each with the heights between which
//! it can and must happen and the value at stake. What cannot be recovered
//! is listed with its reason, never dropped.
//!
//! A plan is data: it serialises to JSON for programs and renders as a table
//! for people; [`crate::sweep`] turns its ready actions into signed
//! transactions.

use std::collections::BTreeMap;
use std::fmt;

use lightning_signer::bitcoin::secp256k1::{All, PublicKey, Secp256k1};
use lightning_signer::bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use lightning_signer::channel::{Channel, ChannelBase};
use lightning_signer::lightning::ln::chan_utils::{get_htlc_redeemscript, HTLCOutputInCommitment};
use serde::Serialize;

use crate::archive::ArchivedHtlc;
use crate::archive::HtlcArchive;
use crate::chain::ChainView;
use crate::fate::{
    classify, holder_htlcs, holder_to_local_script, is_anchor, our_to_remote_spk, their_point,
    their_to_local_script, their_to_remote_spk, Fate,
};
use crate::feewallet::{FeeCoin, FeeWallet};
use crate::offline::OfflineSigner;
use crate::preimage::Preimages;
use crate::RecoveryError;

/// What an action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Claim {
    /// Broadcast our latest commitment (the channel is open on chain and
    /// nobody can sign a cooperative close any more).
    ForceClose,
    /// Our `to_local` on our commitment `number`, after our CSV delay.
    ToLocal {
        number: u64,
        #[serde(serialize_with = "hex_script")]
        witness_script: ScriptBuf,
        csv: u16,
    },
    /// Our `to_remote` on their commitment (static key).
    ToRemote { anchors: bool },
    /// Their `to_local` on their revoked commitment `number`, by the
    /// revocation path, before their CSV delay lets them take it.
    JusticeToLocal {
        number: u64,
        #[serde(serialize_with = "hex_script")]
        witness_script: ScriptBuf,
    },
    /// An HTLC they offered us, on their commitment `number`, claimed with
    /// its preimage before it expires.
    TheirHtlcPreimage {
        number: u64,
        #[serde(serialize_with = "hex_script")]
        witness_script: ScriptBuf,
        #[serde(serialize_with = "hex_hash")]
        payment_hash: [u8; 32],
    },
    /// An HTLC output of our commitment `number`, moved by its
    /// second-stage transaction, which the counterparty signed in advance:
    /// HTLC-success with the preimage (before the expiry), or HTLC-timeout
    /// (after it). Its output is then ours after our CSV delay.
    HolderHtlc {
        number: u64,
        /// Its place in LDK's HTLC order (the counterparty's signatures').
        htlc_index: usize,
        offered: bool,
        cltv_expiry: u32,
        #[serde(serialize_with = "hex_hash")]
        payment_hash: [u8; 32],
        /// On anchor channels, the fee wallet's coin that pays its fee
        /// (the peer signed it at a zero fee).
        fee_coin: Option<FeeCoin>,
    },
    /// An HTLC output of their revoked commitment `number` (details from
    /// the state or the HTLC archive), by the revocation path.
    JusticeHtlc {
        number: u64,
        #[serde(serialize_with = "hex_script")]
        witness_script: ScriptBuf,
    },
    /// An HTLC we offered, on their commitment `number`, taken back after
    /// its expiry.
    TheirHtlcTimeout {
        number: u64,
        #[serde(serialize_with = "hex_script")]
        witness_script: ScriptBuf,
        cltv_expiry: u32,
    },
}

impl Claim {
    pub fn name(&self) -> &'static str {
        match self {
            Claim::ForceClose => "force-close",
            Claim::ToLocal { .. } => "to_local (delayed)",
            Claim::ToRemote { .. } => "to_remote",
            Claim::JusticeToLocal { .. } => "justice to_local",
            Claim::JusticeHtlc { .. } => "justice htlc",
            Claim::HolderHtlc { offered: true, .. } => "htlc-timeout",
            Claim::HolderHtlc { offered: false, .. } => "htlc-success",
            Claim::TheirHtlcPreimage { .. } => "their htlc (preimage)",
            Claim::TheirHtlcTimeout { .. } => "their htlc (timeout)",
        }
    }
}

fn hex_hash<S: serde::Serializer>(h: &[u8; 32], ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&hex::encode(h))
}

fn hex_script<S: serde::Serializer>(s: &ScriptBuf, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&hex::encode(s.as_bytes()))
}

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
    fn at(
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

/// The whole plan at one chain tip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub tip: u32,
    pub scanned_from: u32,
    pub channels: Vec<ChannelPlan>,
    /// The fee address and the coins it holds that no claim took yet.
    pub fee_wallet: FeeWallet,
}

impl Plan {
    /// Builds the plan for every ready channel of `signer` from `view`.
    /// `label` names a channel for people (by its first id, hex).
    pub fn build(
        signer: &OfflineSigner,
        view: &ChainView,
        known: &Known,
        label: &dyn Fn(&str) -> String,
    ) -> Result<Plan, RecoveryError> {
        let secp = Secp256k1::new();
        let mut fees = FeeWallet::of(signer)?.with_coins(view, &known.fee_coins_in_use);
        let mut channels = Vec::new();
        for id in signer.channels() {
            let name = label(&hex::encode(id.as_slice()));
            let cp = signer.with_channel(id, |c| {
                Ok(plan_channel(c, view, known, &mut fees, &secp, &name))
            })?;
            channels.push(cp);
        }
        Ok(Plan {
            tip: view.tip,
            scanned_from: view.from,
            channels,
            fee_wallet: fees,
        })
    }

    /// Every action, the largest value with the nearest deadline first.
    pub fn actions(&self) -> Vec<&Action> {
        let mut all: Vec<&Action> = self.channels.iter().flat_map(|c| &c.actions).collect();
        all.sort_by_key(|a| {
            (
                a.deadline_height.unwrap_or(u32::MAX),
                std::cmp::Reverse(a.value_sat),
                a.earliest_height,
            )
        });
        all
    }

    pub fn shortfalls(&self) -> impl Iterator<Item = &Shortfall> {
        self.channels.iter().flat_map(|c| &c.shortfalls)
    }
}

fn status_of(view: &ChainView, outpoint: &OutPoint, earliest: u32) -> Status {
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

fn plan_channel(
    c: &Channel,
    view: &ChainView,
    known: &Known,
    fees: &mut FeeWallet,
    secp: &Secp256k1<All>,
    name: &str,
) -> ChannelPlan {
    let preimages = &known.preimages;
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
        Fate::Open { .. } => plan.actions.push(Action {
            channel: name.to_string(),
            channel_id: hex::encode(c.id0.as_slice()),
            claim: Claim::ForceClose,
            outpoint: c.setup.funding_outpoint,
            value_sat: holder_balance_sat + holder_htlcs_sat,
            earliest_height: view.tip + 1,
            deadline_height: None,
            status: Status::Ready,
        }),
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

/// Our commitment as it confirmed.
struct Ours<'a> {
    tx: &'a Transaction,
    height: u32,
    number: u64,
    revoked: bool,
}

#[allow(clippy::too_many_arguments)]
fn ours(
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

/// Why an HTLC offered to us is not claimed, and until when it can be.
fn preimage_unknown(cltv_expiry: u32) -> String {
    format!(
        "preimage unknown: give it with --preimage before block {cltv_expiry} (after it they take the HTLC back)"
    )
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
    // The peer signed an anchor channel's second stage at a zero fee: a
    // coin of the fee wallet pays it, taken once the claim is ready.
    let mut fee_coin = None;
    if c.setup.is_zero_fee_htlc() {
        let ready = status_of(view, &at.outpoint, earliest) == Status::Ready;
        let held = fees.in_use.get(&at.outpoint).cloned();
        if held.is_none() && !fees.funded && view.spender(&at.outpoint).is_none() {
            short(
                plan,
                format!(
                    "its second-stage transaction pays no fee (an anchor channel's): send a \
                     coin to the fee address {} (vls-recover fee-address) to pay it, one per \
                     HTLC or the change of one after it confirms",
                    fees.address
                ),
            );
            return;
        }
        if ready {
            fee_coin = held.or_else(|| (!fees.coins.is_empty()).then(|| fees.coins.remove(0)));
        }
    }
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
    // Once our second-stage transaction confirmed, its output is a delayed
    // to_local of ours.
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

/// Their commitment as it confirmed.
struct Theirs<'a> {
    tx: &'a Transaction,
    height: u32,
    number: u64,
    revoked: bool,
}

fn theirs(
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
    let delay = u32::from(c.setup.holder_selected_contest_delay);
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
        let earliest = height + 1;
        let action = |claim, deadline| {
            Action::at(
                c,
                view,
                name,
                claim,
                (outpoint, value_sat),
                earliest,
                deadline,
            )
        };
        if out.script_pubkey == to_remote {
            plan.actions.push(action(
                Claim::ToRemote {
                    anchors: c.setup.is_anchors(),
                },
                None,
            ));
            continue;
        }
        if let Some(script) = their_local
            .as_ref()
            .filter(|s| out.script_pubkey == s.to_p2wsh())
        {
            if revoked {
                plan.actions.push(action(
                    Claim::JusticeToLocal {
                        number,
                        witness_script: script.clone(),
                    },
                    // Their delayed path opens `delay` blocks after the commitment.
                    Some(height + delay.saturating_sub(1)),
                ));
            }
            // Otherwise their own balance.
            continue;
        }
        if is_anchor(c, out) {
            // Worth less than the fee to claim it.
            continue;
        }
        let matched = (0..htlcs.len()).find(|i| {
            !used[*i]
                && out.script_pubkey == htlcs[*i].1.to_p2wsh()
                && value_sat * 1000 == htlcs[*i].0.amount_msat
        });
        if let Some(i) = matched {
            used[i] = true;
            let (h, script) = &htlcs[i];
            if revoked {
                // They can move it with a second-stage transaction at once
                // if they know the preimage (an HTLC they received), or
                // after its expiry (one they offered).
                let deadline = if h.offered { h.cltv_expiry } else { height };
                plan.actions.push(action(
                    Claim::JusticeHtlc {
                        number,
                        witness_script: script.clone(),
                    },
                    Some(deadline),
                ));
            } else {
                plan_their_htlc(
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
                );
            }
        }
        if revoked {
            if let (Some(spender), Some(script)) = (view.spender(&outpoint), their_local.as_ref()) {
                let spender_txid = spender.tx.compute_txid();
                let spk = script.to_p2wsh();
                let pays_their_local = spender.tx.output.iter().any(|o| o.script_pubkey == spk);
                if pays_their_local {
                    if !second_stages.contains(&spender_txid) {
                        second_stages.push(spender_txid);
                        justice_second_stage(c, view, spender, script, number, delay, plan, name);
                    }
                    continue;
                }
                if matched.is_none() {
                    plan.shortfalls.push(Shortfall {
                        channel: name.to_string(),
                        value_sat,
                        what: format!("{outpoint} (output of their revoked commitment {number})"),
                        reason: format!(
                            "already spent by {spender_txid}, which is no second-stage transaction \
                             of theirs: an earlier claim of ours, or gone"
                        ),
                    });
                }
                continue;
            }
        }
        if matched.is_some() {
            continue;
        }
        let (what, reason) = if their_local.is_none() {
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
        plan.shortfalls.push(Shortfall {
            channel: name.to_string(),
            value_sat,
            what,
            reason,
        });
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

/// Their second-stage transaction off a revoked commitment: each output
/// paying their delayed script is ours by the revocation path until their
/// delay passes.
#[allow(clippy::too_many_arguments)]
fn justice_second_stage(
    c: &Channel,
    view: &ChainView,
    spender: &crate::chain::Confirmed,
    script: &ScriptBuf,
    number: u64,
    delay: u32,
    plan: &mut ChannelPlan,
    name: &str,
) {
    let txid = spender.tx.compute_txid();
    let spk = script.to_p2wsh();
    for (vout, out) in spender.tx.output.iter().enumerate() {
        if out.script_pubkey != spk {
            continue;
        }
        let outpoint = OutPoint {
            txid,
            vout: vout as u32,
        };
        let earliest = spender.height + 1;
        let claim = Claim::JusticeToLocal {
            number,
            witness_script: script.clone(),
        };
        let output = (outpoint, out.value.to_sat());
        let deadline = Some(spender.height + delay.saturating_sub(1));
        plan.actions
            .push(Action::at(c, view, name, claim, output, earliest, deadline));
    }
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

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chain tip {} (scanned from {}), {} channel(s)",
            self.tip,
            self.scanned_from,
            self.channels.len()
        )?;
        for c in &self.channels {
            writeln!(
                f,
                "  {}  funding {}  capacity {} sat  ours {} sat: {}",
                c.channel,
                c.funding,
                c.capacity_sat,
                c.holder_balance_sat,
                fate_text(&c.fate)
            )?;
        }
        let actions = self.actions();
        writeln!(f, "actions ({}):", actions.len())?;
        writeln!(
            f,
            "  {:<24} {:<20} {:>12} {:>9} {:>9}  {:<20} output",
            "channel", "claim", "value sat", "earliest", "deadline", "status"
        )?;
        for a in actions {
            let status = match &a.status {
                Status::Ready if a.deadline_height.is_some_and(|d| self.tip + 1 > d) => {
                    "ready, DEADLINE PASSED".to_string()
                }
                Status::Ready => "ready".to_string(),
                Status::Waiting { blocks } => format!("in {blocks} blocks"),
                Status::Spent { height, .. } => format!("spent at {height}"),
            };
            writeln!(
                f,
                "  {:<24} {:<20} {:>12} {:>9} {:>9}  {:<20} {}",
                a.channel,
                a.claim.name(),
                a.value_sat,
                a.earliest_height,
                a.deadline_height.map_or("-".into(), |h| h.to_string()),
                status,
                a.outpoint
            )?;
        }
        let coins = &self.fee_wallet.coins;
        writeln!(
            f,
            "fee wallet {}: {} free coin(s), {} sat",
            self.fee_wallet.address,
            coins.len(),
            coins.iter().map(|c| c.value_sat).sum::<u64>()
        )?;
        let short: Vec<&Shortfall> = self.shortfalls().collect();
        if !short.is_empty() {
            writeln!(f, "not recovered by this plan ({}):", short.len())?;
            for s in short {
                writeln!(
                    f,
                    "  {:<24} {:>12} sat  {}: {}",
                    s.channel, s.value_sat, s.what, s.reason
                )?;
            }
        }
        Ok(())
    }
}

pub(crate) fn fate_text(fate: &Fate) -> String {
    match fate {
        Fate::FundingNotFound => "funding not found on chain".into(),
        Fate::Open { funding_height } => format!("open (funded at {funding_height})"),
        Fate::MutualClose { txid, height } => format!("closed cooperatively by {txid} at {height}"),
        Fate::Ours {
            txid,
            height,
            number,
            revoked,
        } => format!(
            "our commitment {number}{} {txid} at {height}",
            if *revoked { " (REVOKED)" } else { "" }
        ),
        Fate::Theirs {
            txid,
            height,
            number,
            which,
        } => format!("their {which:?} commitment {number} {txid} at {height}").to_lowercase(),
        Fate::TheirRevoked {
            txid,
            height,
            number,
        } => format!("their REVOKED commitment {number} {txid} at {height}"),
        Fate::Unrecognised { txid, height, .. } => {
            format!("spent by unrecognised {txid} at {height}")
        }
    }
}
