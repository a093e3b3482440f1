//! A force-close: our latest holder commitment, signed as the channel
//! agreed it with the peer (its fee was set then).

use lightning_signer::bitcoin::{Amount, Transaction, TxOut};
use lightning_signer::channel::{Channel, ChannelBase};
use lightning_signer::lightning::ln::chan_utils::make_funding_redeemscript;

use crate::offline::status_err;
use crate::RecoveryError;

/// Our latest holder commitment, signed by vls-core's recovery path
/// without marking the channel closed; HTLCs are considered at `height`.
pub(crate) fn sign_latest_holder_commitment(
    c: &mut Channel,
    height: u32,
) -> Result<Transaction, lightning_signer::util::status::Status> {
    let state = &c.enforcement_state;
    // One entry per non-dust HTLC of the commitment vls-core will pick:
    // the pending next one if it validated one, else the current one.
    let htlcs = match (
        &state.next_holder_commit_info,
        &state.current_counterparty_signatures,
    ) {
        (Some((_, sigs)), _) | (None, Some(sigs)) => sigs.1.len(),
        (None, None) => 0,
    };
    let (tx, ..) =
        c.sign_holder_commitment_tx_for_recovery_dry_run(&vec![false; htlcs], Some(height))?;
    Ok(tx)
}

/// Spends the funding output: its prevout is the 2-of-2 of both funding keys.
pub(super) fn force_close(
    c: &mut Channel,
    tip: u32,
    what: &str,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let tx = sign_latest_holder_commitment(c, tip).map_err(|s| status_err(what, s))?;
    let holder = c.get_channel_basepoints().funding_pubkey;
    let theirs = c.counterparty_pubkeys().funding_pubkey;
    let funding = TxOut {
        value: Amount::from_sat(c.setup.channel_value_sat),
        script_pubkey: make_funding_redeemscript(&holder, &theirs).to_p2wsh(),
    };
    Ok((tx, vec![funding]))
}
