//! The recovery plan: per channel, what the chain shows and the ordered
//! actions that bring our outputs home, each with the heights between which
//! it can and must happen and the value at stake. What cannot be recovered
//! is listed with its reason, never dropped.
//!
//! A plan is data: it serialises to JSON for programs and renders as a table
//! for people; [`crate::sweep`] turns its ready actions into signed
//! transactions.

use std::fmt;

use lightning_signer::bitcoin::secp256k1::{All, Secp256k1};
use lightning_signer::bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use lightning_signer::channel::{Channel, ChannelBase};
use lightning_signer::lightning::ln::chan_utils::{get_htlc_redeemscript, HTLCOutputInCommitment};
use serde::Serialize;

use crate::chain::ChainView;
use crate::fate::{
    classify, holder_htlcs, holder_to_local_script, is_anchor, our_to_remote_spk, their_point,
    their_to_local_script, their_to_remote_spk, Fate,
};
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
}

impl Plan {
    /// Builds the plan for every ready channel of `signer` from `view`.
    /// `label` names a channel for people (by its first id, hex).
    pub fn build(
        signer: &OfflineSigner,
        view: &ChainView,
        preimages: &Preimages,
        label: &dyn Fn(&str) -> String,
    ) -> Result<Plan, RecoveryError> {
        let secp = Secp256k1::new();
        let mut channels = Vec::new();
        for id in signer.channels() {
            let name = label(&hex::encode(id.as_slice()));
            let cp =
                signer.with_channel(id, |c| Ok(plan_channel(c, view, preimages, &secp, &name)))?;
            channels.push(cp);
        }
        Ok(Plan {
            tip: view.tip,
            scanned_from: view.from,
            channels,
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
    preimages: &Preimages,
    secp: &Secp256k1<All>,
    name: &str,
) -> ChannelPlan {
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
                ours(
                    c, view, preimages, secp, &tx, height, number, revoked, &mut plan, name,
                );
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
                theirs(c, view, preimages, secp, &theirs_at, &mut plan, name);
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

#[allow(clippy::too_many_arguments)]
fn ours(
    c: &Channel,
    view: &ChainView,
    preimages: &Preimages,
    secp: &Secp256k1<All>,
    tx: &Transaction,
    height: u32,
    number: u64,
    revoked: bool,
    plan: &mut ChannelPlan,
    name: &str,
) {
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
            plan.actions.push(Action {
                channel: name.to_string(),
                channel_id: hex::encode(c.id0.as_slice()),
                claim: Claim::ToLocal {
                    number,
                    witness_script,
                    csv,
                },
                outpoint,
                value_sat,
                earliest_height: earliest,
                // From an old state the counterparty may take it at once.
                deadline_height: revoked.then_some(height),
                status: status_of(view, &outpoint, earliest),
            });
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
            plan_our_htlc(c, view, preimages, &at, plan, name);
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
    if c.setup.is_zero_fee_htlc() {
        short(
            plan,
            "its second-stage transaction pays no fee and needs an input of ours to pay one; \
             not built by this version"
                .into(),
        );
        return;
    }
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
    plan.actions.push(Action {
        channel: name.to_string(),
        channel_id: hex::encode(c.id0.as_slice()),
        claim: Claim::HolderHtlc {
            number: at.number,
            htlc_index: at.index,
            offered: h.offered,
            cltv_expiry: h.cltv_expiry,
            payment_hash: hash,
        },
        outpoint: at.outpoint,
        value_sat,
        earliest_height: earliest,
        deadline_height: deadline,
        status: status_of(view, &at.outpoint, earliest),
    });
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
        plan.actions.push(Action {
            channel: name.to_string(),
            channel_id: hex::encode(c.id0.as_slice()),
            claim: Claim::ToLocal {
                number: at.number,
                witness_script: script.clone(),
                csv,
            },
            outpoint,
            value_sat: out.value.to_sat(),
            earliest_height: earliest,
            deadline_height: None,
            status: status_of(view, &outpoint, earliest),
        });
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
    preimages: &Preimages,
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
    // The HTLCs our state knows on this commitment (current or previous).
    let htlcs: Vec<(HTLCOutputInCommitment, ScriptBuf)> = match (point, revoked) {
        (Some(p), false) => c
            .enforcement_state
            .get_previous_counterparty_commit_info(number)
            .map(|info| {
                let keys = c.make_counterparty_tx_keys(&p);
                Channel::htlcs_info2_to_oic(&info.offered_htlcs, &info.received_htlcs)
                    .into_iter()
                    .map(|h| {
                        let script = get_htlc_redeemscript(&h, &c.setup.features(), &keys);
                        (h, script)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut used = vec![false; htlcs.len()];
    for (vout, out) in tx.output.iter().enumerate() {
        let outpoint = OutPoint {
            txid,
            vout: vout as u32,
        };
        let value_sat = out.value.to_sat();
        let earliest = height + 1;
        if out.script_pubkey == to_remote {
            plan.actions.push(Action {
                channel: name.to_string(),
                channel_id: hex::encode(c.id0.as_slice()),
                claim: Claim::ToRemote {
                    anchors: c.setup.is_anchors(),
                },
                outpoint,
                value_sat,
                earliest_height: earliest,
                deadline_height: None,
                status: status_of(view, &outpoint, earliest),
            });
        } else if let Some(script) = their_local
            .as_ref()
            .filter(|s| out.script_pubkey == s.to_p2wsh())
        {
            if !revoked {
                // Their own balance.
                continue;
            }
            let delay = u32::from(c.setup.holder_selected_contest_delay);
            plan.actions.push(Action {
                channel: name.to_string(),
                channel_id: hex::encode(c.id0.as_slice()),
                claim: Claim::JusticeToLocal {
                    number,
                    witness_script: script.clone(),
                },
                outpoint,
                value_sat,
                earliest_height: earliest,
                // Their delayed path opens `delay` blocks after the commitment.
                deadline_height: Some(height + delay.saturating_sub(1)),
                status: status_of(view, &outpoint, earliest),
            });
        } else if is_anchor(c, out) {
            // Worth less than the fee to claim it.
        } else if let Some(i) = (0..htlcs.len()).find(|i| {
            !used[*i]
                && out.script_pubkey == htlcs[*i].1.to_p2wsh()
                && value_sat * 1000 == htlcs[*i].0.amount_msat
        }) {
            used[i] = true;
            let (h, script) = &htlcs[i];
            plan_their_htlc(
                c, view, preimages, h, script, number, height, outpoint, plan, name,
            );
        } else if their_local.is_none() {
            plan.shortfalls.push(Shortfall {
                channel: name.to_string(),
                value_sat,
                what: format!("{outpoint} (output of their commitment {number})"),
                reason: "our state never saw this commitment (it is newer than our state): \
                         its outputs other than our to_remote cannot be told apart"
                    .into(),
            });
        } else {
            plan.shortfalls.push(Shortfall {
                channel: name.to_string(),
                value_sat,
                what: format!("{outpoint} (HTLC on their commitment {number})"),
                reason: if revoked {
                    "justice on HTLC outputs of a revoked commitment is not built by this \
                     version (vls-core keeps no HTLC details of revoked commitments)"
                } else {
                    "matches no HTLC our state knows on this commitment"
                }
                .into(),
            });
        }
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
    plan.actions.push(Action {
        channel: name.to_string(),
        channel_id: hex::encode(c.id0.as_slice()),
        claim,
        outpoint,
        value_sat,
        earliest_height: earliest,
        deadline_height: deadline,
        status: status_of(view, &outpoint, earliest),
    });
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

fn fate_text(fate: &Fate) -> String {
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
