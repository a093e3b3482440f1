//! Our balance: our `to_local` on our commitment after our CSV delay, and
//! our `to_remote` on theirs, at once (a block later on anchor channels).

use lightning_signer::bitcoin::absolute::LockTime;
use lightning_signer::bitcoin::bip32::DerivationPath;
use lightning_signer::bitcoin::{Amount, ScriptBuf, Sequence, Transaction, TxOut};
use lightning_signer::channel::{Channel, ChannelId};

use super::spend::{spend_one, sweep_p2wsh, with_witness, Sweep};
use crate::fate::our_to_remote_spk;
use crate::offline::{status_err, OfflineSigner};
use crate::RecoveryError;

/// Our delayed `to_local` of commitment `number`, by its path after `csv`
/// blocks.
pub(super) fn to_local(
    c: &Channel,
    number: u64,
    witness_script: &ScriptBuf,
    csv: u16,
    sweep: &Sweep,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    sweep_p2wsh(
        sweep,
        witness_script,
        LockTime::ZERO,
        Sequence::from_height(csv),
        // The delayed path: OP_IF's false branch.
        vec![],
        |tx| {
            c.sign_delayed_sweep(
                tx,
                0,
                number,
                witness_script,
                sweep.action.value_sat,
                &DerivationPath::master(),
            )
        },
    )
}

/// Our `to_remote` on their commitment, signed by the node's on-chain
/// signing (with policy checks), which locks every channel: call it with
/// none held.
pub(super) fn to_remote(
    signer: &OfflineSigner,
    id: &ChannelId,
    anchors: bool,
    sweep: &Sweep,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let what = sweep.what;
    let ((key, suffix), spk) = signer.with_channel(id, |c| {
        let key = c
            .get_unilateral_close_key(&None, &None)
            .map_err(|s| status_err(what, s))?;
        Ok((key, our_to_remote_spk(c)))
    })?;
    let prevout = TxOut {
        value: Amount::from_sat(sweep.action.value_sat),
        script_pubkey: spk,
    };
    // The anchors script carries `1 OP_CSV`.
    let sequence = if anchors {
        Sequence::from_height(1)
    } else {
        Sequence::ENABLE_RBF_NO_LOCKTIME
    };
    let witness_len = 73 + 1 + suffix.iter().map(|i| i.len() + 1).sum::<usize>();
    let tx = spend_one(sweep, LockTime::ZERO, sequence, &prevout, witness_len)?;
    let uck = vec![Some((key, suffix))];
    let master = [DerivationPath::master()];
    signer
        .node()
        .check_onchain_tx(&tx, &[true], std::slice::from_ref(&prevout), &uck, &master)
        .map_err(|e| RecoveryError::PolicyRefused {
            what: what.to_string(),
            message: e.to_string(),
        })?;
    let witnesses = signer
        .node()
        .unchecked_sign_onchain_tx(&tx, &master, std::slice::from_ref(&prevout), uck)
        .map_err(|s| status_err(what, s))?;
    let stack = witnesses.into_iter().next().unwrap_or_default();
    Ok((with_witness(tx, stack), vec![prevout]))
}
