//! Spending one output to the destination: the one-input transaction, its
//! fee on the weight it will have once signed, and its witness.

use lightning_signer::bitcoin::absolute::LockTime;
use lightning_signer::bitcoin::secp256k1::ecdsa::Signature;
use lightning_signer::bitcoin::transaction::Version;
use lightning_signer::bitcoin::{
    Amount, EcdsaSighashType, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};

use super::fee::FEE_RATE_FLOOR;
use crate::offline::status_err;
use crate::plan::Action;
use crate::RecoveryError;

/// One claim's sweep: the action, where its output goes and at what fee
/// rate, and how errors name it.
pub(super) struct Sweep<'a> {
    pub(super) action: &'a Action,
    pub(super) destination: &'a ScriptBuf,
    pub(super) fee_rate: u32,
    pub(super) what: &'a str,
}

/// Spends `sweep`'s p2wsh output of `witness_script` to its destination,
/// with `branch` selecting the script's path and `sign` vls-core's call.
pub(super) fn sweep_p2wsh(
    sweep: &Sweep,
    witness_script: &ScriptBuf,
    lock_time: LockTime,
    sequence: Sequence,
    branch: Vec<u8>,
    sign: impl FnOnce(&Transaction) -> Result<Signature, lightning_signer::util::status::Status>,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let prevout = TxOut {
        value: Amount::from_sat(sweep.action.value_sat),
        script_pubkey: witness_script.to_p2wsh(),
    };
    let witness_len = 73 + 1 + branch.len() + 1 + witness_script.len() + 1;
    let tx = spend_one(sweep, lock_time, sequence, &prevout, witness_len)?;
    let sig = sign(&tx).map_err(|s| status_err(sweep.what, s))?;
    let stack = vec![sig_all(sig), branch, witness_script.to_bytes()];
    Ok((with_witness(tx, stack), vec![prevout]))
}

fn sig_all(sig: Signature) -> Vec<u8> {
    let mut v = sig.serialize_der().to_vec();
    v.push(EcdsaSighashType::All as u8);
    v
}

pub(super) fn with_witness(mut tx: Transaction, stack: Vec<Vec<u8>>) -> Transaction {
    tx.input[0].witness = Witness::from_slice(&stack);
    tx
}

/// A one-input, one-output sweep of `sweep`'s output paying its fee rate on
/// its signed weight (`witness_len` bytes of witness to come), and at least
/// that rate on the weight vls-core's policy assumes (unsigned weight + 220).
pub(super) fn spend_one(
    sweep: &Sweep,
    lock_time: LockTime,
    sequence: Sequence,
    prevout: &TxOut,
    witness_len: usize,
) -> Result<Transaction, RecoveryError> {
    let Sweep {
        action,
        destination,
        fee_rate,
        what,
    } = *sweep;
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time,
        input: vec![TxIn {
            previous_output: action.outpoint,
            script_sig: ScriptBuf::new(),
            sequence,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::ZERO,
            script_pubkey: destination.clone(),
        }],
    };
    // Segwit marker and flag (2), the stack's item count and the lengths.
    let signed_weight = tx.weight().to_wu() + 2 + 1 + 3 + witness_len as u64;
    let policy_weight = tx.weight().to_wu() + 220;
    let weight = signed_weight.max(policy_weight);
    let fee = (u64::from(fee_rate) * weight).div_ceil(1000);
    let value = prevout.value.to_sat();
    let dust = destination.minimal_non_dust().to_sat();
    if value < fee + dust {
        return Err(RecoveryError::FeeBounds {
            what: format!(
                "{what}: {value} sat is less than the fee ({fee} sat) plus dust ({dust} sat)"
            ),
            rate: u64::from(fee_rate),
            min: u64::from(FEE_RATE_FLOOR),
            max: u64::from(fee_rate),
        });
    }
    tx.output[0].value = Amount::from_sat(value - fee);
    Ok(tx)
}
