//! What signing gives back: a transaction checked before it may leave this
//! module (every input script-verified against its prevout by
//! libbitcoinconsensus, the fee held to policy), or why it was not signed.

use lightning_signer::bitcoin::{OutPoint, Transaction, TxOut};
use serde::Serialize;

use super::fee::fee_rate_bounds;
use crate::plan::{Action, Claim};
use crate::{Network, RecoveryError};

/// A transaction ready to broadcast, with what it spends.
#[derive(Debug, Clone, Serialize)]
pub struct Signed {
    pub channel: String,
    pub claim: String,
    #[serde(serialize_with = "tx_hex")]
    pub tx: Transaction,
    pub txid: String,
    /// What each input spends, in input order.
    #[serde(skip)]
    pub prevouts: Vec<TxOut>,
    pub value_in_sat: u64,
    pub fee_sat: u64,
    /// Fee per 1000 weight units of the signed transaction.
    pub fee_rate: u64,
}

fn tx_hex<S: serde::Serializer>(tx: &Transaction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&lightning_signer::bitcoin::consensus::encode::serialize_hex(tx))
}

/// What could not be signed, and why.
#[derive(Debug, Serialize)]
pub struct Unsigned {
    pub channel: String,
    pub claim: String,
    pub outpoint: OutPoint,
    pub value_sat: u64,
    pub code: &'static str,
    pub reason: String,
}

/// Verifies every input's script against its prevout and checks the fee.
pub(super) fn finish(
    action: &Action,
    tx: Transaction,
    prevouts: Vec<TxOut>,
    network: Network,
    what: &str,
) -> Result<Signed, RecoveryError> {
    verify_scripts(&tx, &prevouts, what)?;
    let value_in: u64 = prevouts.iter().map(|p| p.value.to_sat()).sum();
    let value_out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
    let fee = value_in
        .checked_sub(value_out)
        .ok_or_else(|| RecoveryError::Internal {
            reason: format!("{what}: outputs exceed inputs"),
        })?;
    let weight = tx.weight().to_wu().max(1);
    let fee_rate = fee * 1000 / weight;
    // A commitment's and its HTLC transactions' fees were agreed with the
    // peer; ours are held to policy.
    if !matches!(
        action.claim,
        Claim::ForceClose | Claim::HolderHtlc { fee_coin: None, .. }
    ) {
        let (min, max) = fee_rate_bounds(network);
        if fee_rate < u64::from(min) || fee_rate > u64::from(max) {
            return Err(RecoveryError::FeeBounds {
                what: what.to_string(),
                rate: fee_rate,
                min: u64::from(min),
                max: u64::from(max),
            });
        }
    }
    Ok(Signed {
        channel: action.channel.clone(),
        claim: action.claim.name().to_string(),
        txid: tx.compute_txid().to_string(),
        tx,
        prevouts,
        value_in_sat: value_in,
        fee_sat: fee,
        fee_rate,
    })
}

/// libbitcoinconsensus over every input of `tx`.
pub fn verify_scripts(
    tx: &Transaction,
    prevouts: &[TxOut],
    what: &str,
) -> Result<(), RecoveryError> {
    let bytes = lightning_signer::bitcoin::consensus::encode::serialize(tx);
    if prevouts.len() != tx.input.len() {
        return Err(RecoveryError::Internal {
            reason: format!(
                "{what}: {} prevouts for {} inputs",
                prevouts.len(),
                tx.input.len()
            ),
        });
    }
    for (i, prevout) in prevouts.iter().enumerate() {
        prevout
            .script_pubkey
            .verify(i, prevout.value, &bytes)
            .map_err(|e| RecoveryError::ScriptInvalid {
                what: what.to_string(),
                input: i,
                reason: format!("{e:?}"),
            })?;
    }
    Ok(())
}
