//! An HTLC output of their commitment, claimed with our HTLC key: one they
//! offered, with its preimage; one we offered, back after its expiry.

use lightning_signer::bitcoin::absolute::LockTime;
use lightning_signer::bitcoin::bip32::DerivationPath;
use lightning_signer::bitcoin::secp256k1::Secp256k1;
use lightning_signer::bitcoin::{ScriptBuf, Sequence, Transaction, TxOut};
use lightning_signer::channel::Channel;

use super::spend::{sweep_p2wsh, Sweep};
use crate::fate::their_point;
use crate::preimage::Preimages;
use crate::RecoveryError;

/// An HTLC they offered on their commitment `number`, with the preimage
/// of `payment_hash`.
pub(super) fn preimage(
    c: &Channel,
    number: u64,
    witness_script: &ScriptBuf,
    payment_hash: &[u8; 32],
    preimages: &Preimages,
    sweep: &Sweep,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let what = sweep.what;
    let preimage = preimages
        .get(payment_hash)
        .ok_or_else(|| RecoveryError::Usage {
            reason: format!("{what}: preimage unknown (give it with --preimage)"),
        })?;
    their_htlc(
        c,
        number,
        witness_script,
        LockTime::ZERO,
        preimage.to_vec(),
        sweep,
    )
}

/// An HTLC we offered on their commitment `number`, taken back once
/// `cltv_expiry` passed.
pub(super) fn timeout(
    c: &Channel,
    number: u64,
    witness_script: &ScriptBuf,
    cltv_expiry: u32,
    sweep: &Sweep,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let what = sweep.what;
    let lock_time = LockTime::from_height(cltv_expiry).map_err(|e| RecoveryError::Internal {
        reason: format!("{what}: expiry {cltv_expiry}: {e}"),
    })?;
    // The script's expiry path: a preimage-sized item it is not.
    their_htlc(c, number, witness_script, lock_time, vec![], sweep)
}

/// Claims an HTLC output of their commitment `number` with our HTLC key:
/// `branch` is the preimage, or empty for the expiry path.
fn their_htlc(
    c: &Channel,
    number: u64,
    witness_script: &ScriptBuf,
    lock_time: LockTime,
    branch: Vec<u8>,
    sweep: &Sweep,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let what = sweep.what;
    let secp = Secp256k1::new();
    let point = their_point(c, &secp, number).ok_or_else(|| RecoveryError::Internal {
        reason: format!("{what}: their point for commitment {number} is gone"),
    })?;
    // Anchor channels' HTLC scripts carry `1 OP_CSV` on these paths.
    let sequence = if c.setup.is_anchors() {
        Sequence::from_height(1)
    } else {
        Sequence::ENABLE_RBF_NO_LOCKTIME
    };
    sweep_p2wsh(sweep, witness_script, lock_time, sequence, branch, |tx| {
        c.sign_counterparty_htlc_sweep(
            tx,
            0,
            &point,
            witness_script,
            sweep.action.value_sat,
            &DerivationPath::master(),
        )
    })
}
