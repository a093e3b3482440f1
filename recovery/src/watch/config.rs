//! How the watcher pays fees and when it raises them.

use lightning_signer::bitcoin::ScriptBuf;

use crate::sweep;
use crate::Network;

/// How the watcher pays fees and when it raises them.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub network: Network,
    /// Where every claimed output goes.
    pub destination: ScriptBuf,
    /// The first attempt's fee rate (sat per 1000 weight units).
    pub fee_rate: u32,
    /// Bumps stop here (the policy ceiling unless the operator says less).
    pub max_fee_rate: u32,
    /// Raise the fee of an unconfirmed claim once its deadline is this many
    /// blocks away or closer, at every block until it confirms.
    pub urgency_blocks: u32,
    pub scan_from: u32,
}

/// Factor (in percent) each bump raises the fee rate by; BIP 125 also asks
/// for at least the relay fee on top, which [`next_rate`] adds.
const BUMP_PERCENT: u32 = 150;

/// The fee rate after a bump from `rate`, held to `max`.
pub fn next_rate(rate: u32, max: u32) -> u32 {
    (rate.saturating_mul(BUMP_PERCENT) / 100)
        .max(rate.saturating_add(sweep::FEE_RATE_FLOOR))
        .min(max)
}
