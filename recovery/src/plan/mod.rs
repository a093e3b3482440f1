//! The recovery plan: per channel, what the chain shows and the ordered
//! actions that bring our outputs home, each with the heights between which
//! it can and must happen and the value at stake. What cannot be recovered
//! is listed with its reason, never dropped.
//!
//! A plan is data: it serialises to JSON for programs and renders as a table
//! for people; [`crate::sweep`] turns its ready actions into signed
//! transactions.
//!
//! Each channel's plan starts from what became of its funding output
//! (`channel`): the commitment that confirmed is ours (`ours`) or theirs
//! (`theirs`), and a revoked one of theirs is all ours (`justice`).

mod action;
mod channel;
mod claim;
mod justice;
mod ours;
mod theirs;

use std::fmt;

use lightning_signer::bitcoin::secp256k1::Secp256k1;
use serde::Serialize;

pub use action::{Action, ChannelPlan, Known, Shortfall, Status};
pub use claim::Claim;

use crate::chain::ChainView;
use crate::fate::Fate;
use crate::feewallet::FeeWallet;
use crate::offline::OfflineSigner;
use crate::RecoveryError;
use channel::plan_channel;

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

/// A channel's fate in words, as the plan's table and the watch's summary
/// both tell it.
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
