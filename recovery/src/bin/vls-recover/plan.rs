//! `vls-recover chain-status`, `plan` and `fee-address`: what the chain
//! shows of each channel and what recovery will do, with nothing signed
//! or sent.

use serde_json::json;
use vls_recovery::feewallet::FeeWallet;
use vls_recovery::RecoveryError;

use crate::args::{OnchainArgs, SignerArgs};
use crate::onchain::onchain;
use crate::state::offline_signer;

/// Each channel's funding output's fate: the plan's first lines.
pub(crate) fn chain_status(json: bool, a: &OnchainArgs) -> Result<bool, RecoveryError> {
    let o = onchain(a)?;
    if json {
        let fates: Vec<_> = o
            .plan
            .channels
            .iter()
            .map(|c| {
                json!({"channel": c.channel, "funding": c.funding.to_string(),
                            "capacity_sat": c.capacity_sat, "fate": c.fate})
            })
            .collect();
        println!(
            "{}",
            json!({"source": o.label, "node_id": o.snapshot.node_id,
                   "tip": o.plan.tip, "channels": fates})
        );
    } else {
        println!("{} (node {})", o.label, o.snapshot.node_id);
        for line in o.plan.to_string().lines().take(1 + o.plan.channels.len()) {
            println!("{line}");
        }
    }
    Ok(false)
}

/// The whole plan: every action and what it cannot recover.
pub(crate) fn plan(json: bool, a: &OnchainArgs) -> Result<bool, RecoveryError> {
    let o = onchain(a)?;
    if json {
        println!("{}", json!({"source": o.label, "plan": o.plan}));
    } else {
        println!("{} (node {})", o.label, o.snapshot.node_id);
        print!("{}", o.plan);
    }
    Ok(false)
}

/// The fee wallet's address; needs the seed, not the chain.
pub(crate) fn fee_address(json: bool, signer: &SignerArgs) -> Result<bool, RecoveryError> {
    let (_, signer) = offline_signer(signer)?;
    let fee = FeeWallet::of(&signer)?;
    if json {
        println!(
            "{}",
            json!({"address": fee.address, "path": fee.path.to_string()})
        );
    } else {
        println!("{}", fee.address);
    }
    Ok(false)
}
