//! Justice: an output of their revoked commitment (or of their second-stage
//! transaction off it) taken by the revocation path with the secret they
//! gave us when they revoked it.

use lightning_signer::bitcoin::absolute::LockTime;
use lightning_signer::bitcoin::bip32::DerivationPath;
use lightning_signer::bitcoin::secp256k1::{PublicKey, Secp256k1};
use lightning_signer::bitcoin::{ScriptBuf, Sequence, Transaction, TxOut};
use lightning_signer::channel::Channel;

use super::spend::{sweep_p2wsh, Sweep};
use crate::fate::their_secret;
use crate::plan::Claim;
use crate::RecoveryError;

/// Takes an output of their revoked commitment `number` (or of their
/// second-stage transaction off it) by the revocation path.
pub(super) fn justice(
    c: &Channel,
    number: u64,
    witness_script: &ScriptBuf,
    sweep: &Sweep,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let what = sweep.what;
    let secret = their_secret(c, number).ok_or_else(|| RecoveryError::Internal {
        reason: format!("{what}: the revocation secret for {number} is gone"),
    })?;
    let branch = if matches!(sweep.action.claim, Claim::JusticeHtlc { .. }) {
        // An HTLC script's revocation path: the revocation key itself,
        // hashed against the script's.
        let point = PublicKey::from_secret_key(&Secp256k1::new(), &secret);
        let revocation = c.make_counterparty_tx_keys(&point).revocation_key;
        revocation.to_public_key().serialize().to_vec()
    } else {
        // A delayed script's revocation path: OP_IF's true branch.
        vec![1]
    };
    sweep_p2wsh(
        sweep,
        witness_script,
        LockTime::ZERO,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
        branch,
        |tx| {
            c.sign_justice_sweep(
                tx,
                0,
                &secret,
                witness_script,
                sweep.action.value_sat,
                &DerivationPath::master(),
            )
        },
    )
}
