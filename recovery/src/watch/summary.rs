//! The outcome so far: per channel what came home and at what fee, what
//! others took, and what the plan cannot recover.

use std::fmt;

use serde::Serialize;

use super::record::Settled;
use super::watcher::Watcher;
use crate::plan::{fate_text, Claim, Plan, Shortfall, Status};
use crate::RecoveryError;

impl Watcher {
    /// The outcome so far, per channel of `plan`.
    pub fn summary(&self, plan: &Plan) -> Summary {
        let channels = plan
            .channels
            .iter()
            .map(|c| {
                let mine: Vec<&Settled> = self
                    .settled
                    .values()
                    .filter(|s| s.channel == c.channel)
                    .collect();
                let at_stake: u64 = c
                    .actions
                    .iter()
                    .filter(|a| !matches!(a.claim, Claim::ForceClose))
                    .map(|a| a.value_sat)
                    .sum();
                ChannelSummary {
                    channel: c.channel.clone(),
                    found: fate_text(&c.fate),
                    recovered_sat: mine.iter().map(|s| s.recovered_sat).sum(),
                    fees_sat: mine.iter().filter(|s| s.ours).map(|s| s.fee_sat).sum(),
                    pending: c
                        .actions
                        .iter()
                        .filter(|a| !matches!(a.status, Status::Spent { .. }))
                        .count(),
                    at_stake_sat: at_stake,
                    txids: mine
                        .iter()
                        .filter(|s| s.ours)
                        .map(|s| s.txid.to_string())
                        .collect(),
                }
            })
            .collect();
        Summary {
            tip: plan.tip,
            channels,
            taken: self.settled.values().filter(|s| !s.ours).cloned().collect(),
            shortfalls: plan.shortfalls().cloned().collect(),
        }
    }
}

/// One channel's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelSummary {
    pub channel: String,
    /// What the chain shows of it.
    pub found: String,
    pub recovered_sat: u64,
    pub fees_sat: u64,
    /// Claims still to confirm.
    pub pending: usize,
    /// The value of every output the plan claims (second stages count the
    /// HTLC again as their output's claim).
    pub at_stake_sat: u64,
    pub txids: Vec<String>,
}

/// The watch's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub tip: u32,
    pub channels: Vec<ChannelSummary>,
    /// Outputs we claimed that someone else's transaction spent.
    pub taken: Vec<Settled>,
    pub shortfalls: Vec<Shortfall>,
}

impl Summary {
    pub fn recovered_sat(&self) -> u64 {
        self.channels.iter().map(|c| c.recovered_sat).sum()
    }

    /// What was lost because its deadline passed, as the error that names it.
    pub fn deadline_error(&self) -> Option<RecoveryError> {
        let lost: Vec<&Settled> = self.taken.iter().filter(|s| s.after_deadline).collect();
        if lost.is_empty() {
            return None;
        }
        Some(RecoveryError::DeadlinePassed {
            value_sat: lost.iter().map(|s| s.value_sat).sum(),
            what: lost
                .iter()
                .map(|s| {
                    format!(
                        "{} {} {} ({} sat, taken by {} at {})",
                        s.channel, s.claim, s.outpoint, s.value_sat, s.txid, s.height
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Channel names are long (peer id and dbid): each on its own line.
        for c in &self.channels {
            writeln!(f, "  {}: {}", c.channel, c.found)?;
            writeln!(
                f,
                "      recovered {} sat, fees {} sat, {} claim(s) open",
                c.recovered_sat, c.fees_sat, c.pending
            )?;
            for t in &c.txids {
                writeln!(f, "      {t}")?;
            }
        }
        writeln!(
            f,
            "recovered {} sat at chain tip {}",
            self.recovered_sat(),
            self.tip
        )?;
        for s in &self.taken {
            writeln!(
                f,
                "taken by others: {} {} {} sat by {} at {}{}",
                s.channel,
                s.claim,
                s.value_sat,
                s.txid,
                s.height,
                if s.after_deadline {
                    " (after its deadline)"
                } else {
                    ""
                }
            )?;
        }
        for s in &self.shortfalls {
            writeln!(
                f,
                "not recovered: {} {} sat {}: {}",
                s.channel, s.value_sat, s.what, s.reason
            )?;
        }
        Ok(())
    }
}
