//! Our second-stage HTLC transaction: rebuilt exactly as LDK built it (the
//! counterparty signed that), with, on anchor channels, a fee wallet coin
//! added to pay the fee the peer's signature left at zero.

use lightning_signer::bitcoin::bip32::DerivationPath;
use lightning_signer::bitcoin::secp256k1::Secp256k1;
use lightning_signer::bitcoin::{Amount, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use lightning_signer::channel::{Channel, ChannelBase};
use lightning_signer::lightning::ln::chan_utils::{
    build_htlc_input_witness, build_htlc_transaction, get_htlc_redeemscript,
};
use lightning_signer::lightning::types::payment::PaymentPreimage;

use crate::fate::{holder_htlcs, holder_keys};
use crate::feewallet::{FeeCoin, FeeWallet};
use crate::offline::{status_err, OfflineSigner};
use crate::preimage::Preimages;
use crate::RecoveryError;

/// A fee wallet coin paying for a zero-fee second-stage transaction.
pub(crate) struct FeeInput<'a> {
    pub coin: &'a FeeCoin,
    pub wallet: &'a FeeWallet,
    pub fee_rate: u32,
}

/// Witness bytes (with length prefixes) of an anchor HTLC input: the
/// dummy, two signatures, the preimage (or an empty item) and the script.
fn htlc_witness_len(script: &ScriptBuf, preimage: bool) -> u64 {
    let items = 1 + (1 + 73) * 2 + 1 + if preimage { 32 } else { 0 };
    (items + 1 + script.len() + 1) as u64
}

/// A p2wpkh input's witness bytes: count, signature, key.
const P2WPKH_WITNESS_LEN: u64 = 1 + 1 + 72 + 1 + 33;

/// Change below this goes to the fee instead (a p2wpkh output's dust limit).
const CHANGE_DUST_SAT: u64 = 294;

/// Adds `fee`'s coin as input 1 and, above dust, its change back to the
/// fee address as output 1 (the peer's SINGLE|ANYONECANPAY signature
/// covers input 0 and output 0 only), paying `fee.fee_rate` on the whole.
fn add_fee_input(
    tx: &mut Transaction,
    fee: &FeeInput,
    htlc_witness: u64,
    what: &str,
) -> Result<TxOut, RecoveryError> {
    tx.input.push(TxIn {
        previous_output: fee.coin.outpoint,
        script_sig: ScriptBuf::new(),
        sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
        witness: Witness::new(),
    });
    tx.output.push(TxOut {
        value: Amount::from_sat(fee.coin.value_sat),
        script_pubkey: fee.wallet.script.clone(),
    });
    // Witness bytes weigh one unit each; the segwit marker and flag two.
    let weight = tx.weight().to_wu() + 2 + htlc_witness + P2WPKH_WITNESS_LEN;
    let needed = (u64::from(fee.fee_rate) * weight).div_ceil(1000);
    let Some(change) = fee.coin.value_sat.checked_sub(needed) else {
        return Err(RecoveryError::Usage {
            reason: format!(
                "{what}: fee coin {} holds {} sat, less than the {needed} sat fee at {} sat/kw: \
                 send a larger coin to {}",
                fee.coin.outpoint, fee.coin.value_sat, fee.fee_rate, fee.wallet.address
            ),
        });
    };
    if change < CHANGE_DUST_SAT {
        tx.output.pop();
    } else if let Some(out) = tx.output.get_mut(1) {
        out.value = Amount::from_sat(change);
    }
    Ok(TxOut {
        value: Amount::from_sat(fee.coin.value_sat),
        script_pubkey: fee.wallet.script.clone(),
    })
}

/// Our second-stage transaction for HTLC `index` of our commitment
/// `number`: rebuilt as LDK built it (the counterparty signed exactly
/// that), signed by vls-core with the right commitment's key. Its fee was
/// set when the channel signed it.
pub(crate) fn holder_htlc(
    c: &Channel,
    number: u64,
    index: usize,
    preimages: &Preimages,
    fee: Option<FeeInput>,
    what: &str,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let secp = Secp256k1::new();
    let gone = |part: &str| RecoveryError::Internal {
        reason: format!("{what}: {part} of our commitment {number} is gone from the state"),
    };
    let hh = holder_htlcs(c, &secp, number).ok_or_else(|| gone("the HTLCs"))?;
    let (h, their_sig) = hh.htlcs.get(index).ok_or_else(|| gone("the HTLC"))?;
    let point = c
        .get_per_commitment_point(number)
        .map_err(|s| status_err(what, s))?;
    let keys = holder_keys(c, &secp, &point);
    let features = c.setup.features();
    let script = get_htlc_redeemscript(h, &features, &keys);
    let mut tx = build_htlc_transaction(
        &hh.txid,
        hh.feerate_per_kw,
        c.setup.counterparty_selected_contest_delay,
        h,
        &features,
        &keys.broadcaster_delayed_payment_key,
        &keys.revocation_key,
    );
    // Its fee input must be in place before we sign (SIGHASH_ALL).
    let fee_prevout = match &fee {
        Some(f) => Some(add_fee_input(
            &mut tx,
            f,
            htlc_witness_len(&script, !h.offered),
            what,
        )?),
        None => None,
    };
    let ours = c
        .sign_holder_htlc_tx_phase2(
            &tx,
            0,
            number,
            h.offered,
            h.cltv_expiry,
            h.amount_msat,
            h.payment_hash,
        )
        .map_err(|s| status_err(what, s))?;
    let preimage = if h.offered {
        None
    } else {
        let p = preimages
            .get(&h.payment_hash.0)
            .ok_or_else(|| RecoveryError::Usage {
                reason: format!("{what}: preimage unknown (give it with --preimage)"),
            })?;
        Some(PaymentPreimage(*p))
    };
    tx.input[0].witness =
        build_htlc_input_witness(&ours.sig, their_sig, &preimage, &script, &features);
    let prevout = TxOut {
        value: Amount::from_sat(h.amount_msat / 1000),
        script_pubkey: script.to_p2wsh(),
    };
    Ok((tx, std::iter::once(prevout).chain(fee_prevout).collect()))
}

/// Signs the fee coin's input (1) with the node's wallet key. The node's
/// on-chain signing takes every channel's lock, so none may be held here.
pub(super) fn sign_fee_input(
    signer: &OfflineSigner,
    wallet: &FeeWallet,
    tx: &mut Transaction,
    prevouts: &[TxOut],
    what: &str,
) -> Result<(), RecoveryError> {
    let paths = [DerivationPath::master(), wallet.path.clone()];
    let witnesses = signer
        .node()
        .unchecked_sign_onchain_tx(tx, &paths, prevouts, vec![None, None])
        .map_err(|s| status_err(what, s))?;
    let stack = witnesses.get(1).cloned().unwrap_or_default();
    if let Some(input) = tx.input.get_mut(1) {
        input.witness = Witness::from_slice(&stack);
    }
    Ok(())
}
