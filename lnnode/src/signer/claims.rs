//! On-chain claims signed by vlsd through the protocol's `SignAny*`
//! messages, which name the channel by dbid and carry the spent output's
//! script, so vlsd needs nothing of LDK's own numbering:
//!
//! - `SignAnyRemoteHtlcToUs` (143): our HTLCs on their commitment (the
//!   client's `sign_counterparty_htlc_transaction` is unimplemented and panics).
//! - `SignAnyLocalHtlcTx` (146): HTLC-timeout and HTLC-success on our own
//!   commitment. The client sends `SignLocalHtlcTx2`, which shares message
//!   id 20 with `SignRemoteHtlcTx`; vlsd decodes the latter and fails to
//!   parse the request (docs/findings.md, "Fixed in lnnode").
//! - `SignAnyPenaltyToUs` (144): justice on a revoked commitment of theirs,
//!   its `to_local` and its HTLC outputs.
//!
//! Every claim that pays our wallet names the wallet path of its output,
//! because vlsd's policy only signs sweeps to its own wallet.

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint};
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{ecdsa::Signature, All, PublicKey, Secp256k1, SecretKey};
use bitcoin::{Amount, ScriptBuf, Transaction, TxOut};
use lightning::ln::chan_utils::{
    get_htlc_redeemscript, get_revokeable_redeemscript, ChannelTransactionParameters,
    HTLCOutputInCommitment, TxCreationKeys,
};
use lightning::ln::channel_keys::{DelayedPaymentKey, RevocationKey};
use lightning::sign::HTLCDescriptor;
use vls_proxy::vls_protocol_client::node_call;
use vls_proxy::vls_protocol_signer::vls_protocol::model::{
    DisclosedSecret, PubKey, Signature as WireSignature,
};
use vls_proxy::vls_protocol_signer::vls_protocol::msgs::{
    SignAnyLocalHtlcTx, SignAnyPenaltyToUs, SignAnyRemoteHtlcToUs, SignTxReply,
};
use vls_proxy::vls_protocol_signer::vls_protocol::psbt::PsbtWrapper;
use vls_proxy::vls_protocol_signer::vls_protocol::serde_bolt::{Octets, WithSize};

use super::transport::GrpcTransport;

/// LDK numbers commitments down from this; VLS numbers them up from 0.
pub(super) const INITIAL_COMMITMENT_NUMBER: u64 = (1 << 48) - 1;

/// Wallet derivation path of the client's destination and shutdown scripts.
const DESTINATION_PATH: [u32; 1] = [1];

/// The input a claim signs: the transaction, which input, and the value
/// of the output it spends.
pub(super) struct Spend<'a> {
    pub tx: &'a Transaction,
    pub input: usize,
    pub amount: u64,
}

/// One signer, one channel: what every claim request names.
pub(super) struct Claimer<'a> {
    pub transport: &'a GrpcTransport,
    pub dbid: u64,
}

impl Claimer<'_> {
    /// Our HTLC on their commitment, claimed with the preimage or after
    /// its timeout, to our wallet.
    pub fn remote_htlc(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        spend: Spend<'_>,
        per_commitment_point: &PublicKey,
        htlc: &HTLCOutputInCommitment,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        let wscript = their_htlc_script(channel_parameters, per_commitment_point, htlc, secp_ctx)?;
        let Spend {
            tx: htlc_tx,
            input,
            amount,
        } = spend;
        let psbt = to_wallet(htlc_tx, input, amount, &wscript, per_commitment_point)?;
        let message = SignAnyRemoteHtlcToUs {
            remote_per_commitment_point: PubKey(per_commitment_point.serialize()),
            tx: WithSize(htlc_tx.clone()),
            psbt: WithSize(PsbtWrapper { inner: psbt }),
            wscript: Octets(wscript.to_bytes()),
            option_anchors: false,
            input: input as u32,
            peer_id: PubKey([0; 33]),
            dbid: self.dbid,
        };
        self.signed(message, htlc_tx, "their commitment's HTLC claim")
    }

    /// The HTLC-timeout or HTLC-success transaction of our own commitment.
    /// Its output is our delayed output of that commitment, which vlsd
    /// checks against the output's witness script.
    pub fn holder_htlc(
        &self,
        htlc_tx: &Transaction,
        input: usize,
        descriptor: &HTLCDescriptor,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        let wscript = descriptor.witness_script(secp_ctx);
        let mut psbt = unsigned_psbt(htlc_tx)?;
        if let Some(i) = psbt.inputs.get_mut(input) {
            i.witness_utxo = Some(descriptor.previous_utxo(secp_ctx));
        }
        if let Some(o) = psbt.outputs.get_mut(0) {
            o.witness_script = Some(htlc_output_script(descriptor, secp_ctx));
        }
        let message = SignAnyLocalHtlcTx {
            commitment_number: INITIAL_COMMITMENT_NUMBER - descriptor.per_commitment_number,
            tx: WithSize(htlc_tx.clone()),
            psbt: WithSize(PsbtWrapper { inner: psbt }),
            wscript: Octets(wscript.to_bytes()),
            option_anchors: false,
            input: input as u32,
            peer_id: PubKey([0; 33]),
            dbid: self.dbid,
        };
        self.signed(message, htlc_tx, "our commitment's HTLC transaction")
    }

    /// Justice: an output of their revoked commitment, `to_local` when
    /// `htlc` is `None`, to our wallet with the revocation key.
    pub fn penalty(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        spend: Spend<'_>,
        per_commitment_key: &SecretKey,
        htlc: Option<&HTLCOutputInCommitment>,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        let counterparty = channel_parameters
            .counterparty_parameters
            .as_ref()
            .ok_or(())?;
        let point = PublicKey::from_secret_key(secp_ctx, per_commitment_key);
        let wscript = match htlc {
            Some(htlc) => their_htlc_script(channel_parameters, &point, htlc, secp_ctx)?,
            None => get_revokeable_redeemscript(
                &RevocationKey::from_basepoint(
                    secp_ctx,
                    &channel_parameters.holder_pubkeys.revocation_basepoint,
                    &point,
                ),
                channel_parameters.holder_selected_contest_delay,
                &DelayedPaymentKey::from_basepoint(
                    secp_ctx,
                    &counterparty.pubkeys.delayed_payment_basepoint,
                    &point,
                ),
            ),
        };
        let Spend {
            tx: justice_tx,
            input,
            amount,
        } = spend;
        let psbt = to_wallet(justice_tx, input, amount, &wscript, &point)?;
        let message = SignAnyPenaltyToUs {
            revocation_secret: DisclosedSecret(per_commitment_key.secret_bytes()),
            tx: WithSize(justice_tx.clone()),
            psbt: WithSize(PsbtWrapper { inner: psbt }),
            wscript: Octets(wscript.to_bytes()),
            input: input as u32,
            peer_id: PubKey([0; 33]),
            dbid: self.dbid,
        };
        self.signed(message, justice_tx, "justice transaction")
    }

    fn signed<T: vls_proxy::vls_protocol_signer::vls_protocol::msgs::SerBolt>(
        &self,
        message: T,
        tx: &Transaction,
        what: &'static str,
    ) -> Result<Signature, ()> {
        let reply: SignTxReply = node_call(self.transport, message).map_err(|e| {
            tracing::error!(error = ?e, dbid = self.dbid, txid = %tx.compute_txid(), "signer refused the {what}");
        })?;
        wire_signature(&reply.signature.signature)
    }
}

/// The witness script of an HTLC output on their commitment at `point`:
/// they are the broadcaster and we countersign.
fn their_htlc_script(
    channel_parameters: &ChannelTransactionParameters,
    point: &PublicKey,
    htlc: &HTLCOutputInCommitment,
    secp_ctx: &Secp256k1<All>,
) -> Result<ScriptBuf, ()> {
    let counterparty = channel_parameters
        .counterparty_parameters
        .as_ref()
        .ok_or(())?;
    let keys = TxCreationKeys::from_channel_static_keys(
        point,
        &counterparty.pubkeys,
        &channel_parameters.holder_pubkeys,
        secp_ctx,
    );
    Ok(get_htlc_redeemscript(
        htlc,
        &channel_parameters.channel_type_features,
        &keys,
    ))
}

/// The transaction with its witnesses removed, as a PSBT.
fn unsigned_psbt(tx: &Transaction) -> Result<Psbt, ()> {
    let mut unsigned = tx.clone();
    for i in unsigned.input.iter_mut() {
        i.witness.clear();
        i.script_sig = ScriptBuf::new();
    }
    Psbt::from_unsigned_tx(unsigned).map_err(|_| ())
}

/// A PSBT spending `input` (a P2WSH of `wscript` worth `amount`) whose
/// first output pays our wallet at the destination path.
fn to_wallet(
    tx: &Transaction,
    input: usize,
    amount: u64,
    wscript: &ScriptBuf,
    key: &PublicKey,
) -> Result<Psbt, ()> {
    let mut psbt = unsigned_psbt(tx)?;
    if let Some(i) = psbt.inputs.get_mut(input) {
        i.witness_utxo = Some(TxOut {
            value: Amount::from_sat(amount),
            script_pubkey: wscript.to_p2wsh(),
        });
    }
    // vlsd reads only the path of the derivation map, not its key.
    if let Some(o) = psbt.outputs.get_mut(0) {
        let path: Vec<ChildNumber> = DESTINATION_PATH
            .iter()
            .map(|i| ChildNumber::Normal { index: *i })
            .collect();
        o.bip32_derivation
            .insert(*key, (Fingerprint::default(), DerivationPath::from(path)));
    }
    Ok(psbt)
}

/// The witness script of an HTLC transaction's output on our commitment:
/// our delayed key, revocable by them, as LDK builds it in
/// `HTLCDescriptor::tx_output`.
fn htlc_output_script(descriptor: &HTLCDescriptor, secp_ctx: &Secp256k1<All>) -> ScriptBuf {
    let params = descriptor
        .channel_derivation_parameters
        .transaction_parameters
        .as_holder_broadcastable();
    let delayed = DelayedPaymentKey::from_basepoint(
        secp_ctx,
        &params.broadcaster_pubkeys().delayed_payment_basepoint,
        &descriptor.per_commitment_point,
    );
    let revocation = RevocationKey::from_basepoint(
        secp_ctx,
        &params.countersignatory_pubkeys().revocation_basepoint,
        &descriptor.per_commitment_point,
    );
    get_revokeable_redeemscript(&revocation, params.contest_delay(), &delayed)
}

fn wire_signature(sig: &WireSignature) -> Result<Signature, ()> {
    Signature::from_compact(&sig.0).map_err(|_| ())
}
