//! The fee rate a sweep pays: the operator's or the chain's estimate, held
//! to what vls-core's policy will sign.

use lightning_signer::policy::simple_validator::make_default_simple_policy;

use crate::{Network, RecoveryError};

/// BOLT 3's floor on a fee rate that relays (sat per 1000 weight units).
pub const FEE_RATE_FLOOR: u32 = 253;

/// The fee-rate range vls-core's default policy accepts on `network`
/// (sat/kw): sweeps outside it are refused, so we refuse them first.
pub fn fee_rate_bounds(network: Network) -> (u32, u32) {
    let policy = make_default_simple_policy(network.into());
    (
        policy.min_feerate_per_kw.max(FEE_RATE_FLOOR),
        policy.max_feerate_per_kw,
    )
}

/// The fee rate to use: the operator's, or the source's estimate, held to
/// the policy's bounds.
pub fn choose_fee_rate(
    network: Network,
    operator: Option<u32>,
    estimate: Option<u32>,
) -> Result<u32, RecoveryError> {
    let (min, max) = fee_rate_bounds(network);
    match operator {
        Some(rate) if rate < min || rate > max => Err(RecoveryError::FeeBounds {
            what: "--fee-rate".into(),
            rate: u64::from(rate),
            min: u64::from(min),
            max: u64::from(max),
        }),
        Some(rate) => Ok(rate),
        None => Ok(estimate.unwrap_or(min).clamp(min, max)),
    }
}
