//! Fee estimates from bitcoind's `estimatesmartfee`, refreshed in the
//! background, never below a per-target floor. Regtest rarely has data, so
//! the floors decide there; they sit well inside vlsd's policy range
//! (253..=333,333 sat/kw) so no signing request is refused for its fee.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lightning::chain::chaininterface::{ConfirmationTarget, FeeEstimator as LdkFeeEstimator};

use crate::bitcoind::Bitcoind;

pub struct FeeEstimator {
    rates: RwLock<HashMap<ConfirmationTarget, u32>>,
}

const TARGETS: [ConfirmationTarget; 8] = [
    ConfirmationTarget::MaximumFeeEstimate,
    ConfirmationTarget::UrgentOnChainSweep,
    ConfirmationTarget::MinAllowedAnchorChannelRemoteFee,
    ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee,
    ConfirmationTarget::AnchorChannelFee,
    ConfirmationTarget::NonAnchorChannelFee,
    ConfirmationTarget::ChannelCloseMinimum,
    ConfirmationTarget::OutputSpendingFee,
];

/// (confirmation blocks, floor in sat/kw) for each target.
fn policy(target: ConfirmationTarget) -> (u16, u32) {
    match target {
        ConfirmationTarget::MaximumFeeEstimate => (1, 20_000),
        ConfirmationTarget::UrgentOnChainSweep => (2, 5_000),
        ConfirmationTarget::MinAllowedAnchorChannelRemoteFee => (144, 253),
        ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee => (144, 253),
        ConfirmationTarget::AnchorChannelFee => (12, 500),
        ConfirmationTarget::NonAnchorChannelFee => (6, 2_000),
        ConfirmationTarget::ChannelCloseMinimum => (144, 1_000),
        ConfirmationTarget::OutputSpendingFee => (12, 2_000),
    }
}

impl FeeEstimator {
    pub fn new() -> Arc<Self> {
        let rates = TARGETS.iter().map(|t| (*t, policy(*t).1)).collect();
        Arc::new(FeeEstimator {
            rates: RwLock::new(rates),
        })
    }

    pub async fn refresh(&self, bitcoind: &Bitcoind) {
        for t in TARGETS {
            let (blocks, floor) = policy(t);
            let rate = match bitcoind.estimate_sat_per_kvb(blocks).await {
                // sat/kvB to sat/kw: 1 vbyte = 4 weight units.
                Some(per_kvb) => ((per_kvb / 4) as u32).max(floor),
                None => floor,
            };
            if let Ok(mut r) = self.rates.write() {
                r.insert(t, rate);
            }
        }
    }

    pub fn spawn_refresh(self: &Arc<Self>, bitcoind: Bitcoind) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                this.refresh(&bitcoind).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        });
    }
}

impl LdkFeeEstimator for FeeEstimator {
    fn get_est_sat_per_1000_weight(&self, target: ConfirmationTarget) -> u32 {
        self.rates
            .read()
            .ok()
            .and_then(|r| r.get(&target).copied())
            .unwrap_or_else(|| policy(target).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_are_inside_vlsd_policy_range() {
        let f = FeeEstimator::new();
        for t in TARGETS {
            let r = f.get_est_sat_per_1000_weight(t);
            assert!((253..=333_333).contains(&r), "{t:?}: {r}");
        }
        assert!(
            f.get_est_sat_per_1000_weight(ConfirmationTarget::UrgentOnChainSweep)
                >= f.get_est_sat_per_1000_weight(ConfirmationTarget::OutputSpendingFee)
        );
    }
}
