//! The channel signer for vlsd-signed channels: VLS's client for LDK 0.2,
//! with what it lacks or gets wrong filled in here.
//!
//! - On-chain claims (HTLC transactions on either commitment, justice) go
//!   through the protocol's `SignAny*` messages (`claims`).
//! - Commitment points and secrets are asked for here, so a refusal is an
//!   error LDK can wait on, not the client's `expect` panicking inside LDK
//!   with its locks held.
//! - Holder commitments are validated with vlsd at once. The client defers
//!   the validation of any channel it has not yet sent `SetupChannel` for,
//!   which after a restart is every channel: LDK then advances past a
//!   commitment vlsd never saw and asks for a point vlsd must refuse
//!   (docs/findings.md, "A restarted node's channels...").
//! - Anchor signing refuses cleanly instead of panicking.

use std::any::Any;
use std::sync::Arc;

use bitcoin::secp256k1::{ecdsa::Signature, All, PublicKey, Secp256k1, SecretKey};
use bitcoin::{Transaction, Txid};
use lightning::ln::chan_utils::{
    ChannelPublicKeys, ChannelTransactionParameters, ClosingTransaction, CommitmentTransaction,
    HTLCOutputInCommitment, HolderCommitmentTransaction,
};
use lightning::ln::msgs::UnsignedChannelAnnouncement;
use lightning::sign::ecdsa::EcdsaChannelSigner;
use lightning::sign::{ChannelSigner, HTLCDescriptor};
use lightning::types::payment::PaymentPreimage;
use lightning::util::ser::Writeable;
use vls_proxy::vls_protocol_client::{InnerSign, SignerClient};
use vls_proxy::vls_protocol_signer::vls_protocol::model::{
    BitcoinSignature, Htlc as WireHtlc, Sha256 as WireSha256, Signature as WireSignature,
};
use vls_proxy::vls_protocol_signer::vls_protocol::msgs::{
    DeBolt, GetPerCommitmentPoint, GetPerCommitmentPoint2, GetPerCommitmentPoint2Reply,
    GetPerCommitmentPointReply, SerBolt, ValidateCommitmentTx2, ValidateCommitmentTxReply,
};
use vls_proxy::vls_protocol_signer::vls_protocol::serde_bolt::Array;

use super::claims::{Claimer, Spend, INITIAL_COMMITMENT_NUMBER};
use super::link::ChannelRef;
use super::transport::GrpcTransport;

/// A VLS channel signer: the client's, plus claims on the counterparty's commitment.
#[derive(Clone)]
pub struct VlsChannelSigner {
    pub(super) inner: SignerClient,
    pub(super) transport: Arc<GrpcTransport>,
    pub(super) dbid: u64,
    /// Leave holder-commitment validation to the client, deferral and all
    /// (its upstream behaviour), to reproduce the finding.
    pub(super) defer_restored_validation: bool,
}

impl VlsChannelSigner {
    fn claimer(&self) -> Claimer<'_> {
        Claimer {
            transport: &self.transport,
            dbid: self.dbid,
        }
    }

    fn call<T: SerBolt, R: DeBolt>(&self, message: T) -> Result<R, ()> {
        let bytes = self
            .transport
            .exchange(
                message.as_vec(),
                Some(ChannelRef {
                    peer_id: [0; 33],
                    dbid: self.dbid,
                }),
            )
            .map_err(|_| ())?;
        R::from_vec(bytes).map_err(|e| {
            tracing::error!(dbid = self.dbid, error = ?e, "cannot parse vlsd's reply");
        })
    }
}

impl EcdsaChannelSigner for VlsChannelSigner {
    fn sign_counterparty_commitment(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        commitment_tx: &CommitmentTransaction,
        inbound_htlc_preimages: Vec<PaymentPreimage>,
        outbound_htlc_preimages: Vec<PaymentPreimage>,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<(Signature, Vec<Signature>), ()> {
        self.inner.sign_counterparty_commitment(
            channel_parameters,
            commitment_tx,
            inbound_htlc_preimages,
            outbound_htlc_preimages,
            secp_ctx,
        )
    }

    fn sign_holder_commitment(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        commitment_tx: &HolderCommitmentTransaction,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.inner
            .sign_holder_commitment(channel_parameters, commitment_tx, secp_ctx)
    }

    fn unsafe_sign_holder_commitment(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        commitment_tx: &HolderCommitmentTransaction,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.inner
            .unsafe_sign_holder_commitment(channel_parameters, commitment_tx, secp_ctx)
    }

    fn sign_justice_revoked_output(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        justice_tx: &Transaction,
        input: usize,
        amount: u64,
        per_commitment_key: &SecretKey,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.claimer().penalty(
            channel_parameters,
            Spend {
                tx: justice_tx,
                input,
                amount,
            },
            per_commitment_key,
            None,
            secp_ctx,
        )
    }

    fn sign_justice_revoked_htlc(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        justice_tx: &Transaction,
        input: usize,
        amount: u64,
        per_commitment_key: &SecretKey,
        htlc: &HTLCOutputInCommitment,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.claimer().penalty(
            channel_parameters,
            Spend {
                tx: justice_tx,
                input,
                amount,
            },
            per_commitment_key,
            Some(htlc),
            secp_ctx,
        )
    }

    fn sign_holder_htlc_transaction(
        &self,
        htlc_tx: &Transaction,
        input: usize,
        htlc_descriptor: &HTLCDescriptor,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.claimer()
            .holder_htlc(htlc_tx, input, htlc_descriptor, secp_ctx)
    }

    fn sign_counterparty_htlc_transaction(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        htlc_tx: &Transaction,
        input: usize,
        amount: u64,
        per_commitment_point: &PublicKey,
        htlc: &HTLCOutputInCommitment,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.claimer().remote_htlc(
            channel_parameters,
            Spend {
                tx: htlc_tx,
                input,
                amount,
            },
            per_commitment_point,
            htlc,
            secp_ctx,
        )
    }

    fn sign_closing_transaction(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        closing_tx: &ClosingTransaction,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.inner
            .sign_closing_transaction(channel_parameters, closing_tx, secp_ctx)
    }

    fn sign_holder_keyed_anchor_input(
        &self,
        _channel_parameters: &ChannelTransactionParameters,
        anchor_tx: &Transaction,
        input: usize,
        _secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        // Anchors are never negotiated by this node (see README); refuse if asked.
        tracing::error!(txid = %anchor_tx.compute_txid(), input, "anchor input signing requested but anchors are disabled");
        Err(())
    }

    fn sign_channel_announcement_with_funding_key(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        msg: &UnsignedChannelAnnouncement,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.inner
            .sign_channel_announcement_with_funding_key(channel_parameters, msg, secp_ctx)
    }

    fn sign_splice_shared_input(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        tx: &Transaction,
        input_index: usize,
        secp_ctx: &Secp256k1<All>,
    ) -> Signature {
        // Splicing is disabled (inbound splices rejected, none initiated), so
        // LDK never reaches this; the client's own method is the only option.
        self.inner
            .sign_splice_shared_input(channel_parameters, tx, input_index, secp_ctx)
    }
}

impl ChannelSigner for VlsChannelSigner {
    fn get_per_commitment_point(
        &self,
        idx: u64,
        _secp_ctx: &Secp256k1<All>,
    ) -> Result<PublicKey, ()> {
        let commitment = INITIAL_COMMITMENT_NUMBER - idx;
        tracing::info!(
            dbid = self.dbid,
            commitment,
            "LDK asks for the holder commitment point"
        );
        let reply: GetPerCommitmentPoint2Reply = self.call(GetPerCommitmentPoint2 {
            commitment_number: commitment,
        })?;
        PublicKey::from_slice(&reply.point.0).map_err(|_| ())
    }

    fn release_commitment_secret(&self, idx: u64) -> Result<[u8; 32], ()> {
        let commitment = INITIAL_COMMITMENT_NUMBER - idx;
        tracing::info!(
            dbid = self.dbid,
            commitment,
            "LDK revokes holder commitment"
        );
        // Protocol 4 (what vlsd speaks with an LDK node): asking for the
        // point two ahead releases the secret of this one.
        let reply: GetPerCommitmentPointReply = self.call(GetPerCommitmentPoint {
            commitment_number: commitment + 2,
        })?;
        reply.secret.map(|s| s.0).ok_or_else(|| {
            tracing::error!(
                dbid = self.dbid,
                commitment,
                "vlsd answered without the secret"
            );
        })
    }

    fn validate_holder_commitment(
        &self,
        holder_tx: &HolderCommitmentTransaction,
        outbound_htlc_preimages: Vec<PaymentPreimage>,
    ) -> Result<(), ()> {
        let tx = holder_tx.trust();
        let commitment = INITIAL_COMMITMENT_NUMBER - tx.commitment_number();
        tracing::info!(
            dbid = self.dbid,
            commitment,
            "LDK validates holder commitment"
        );
        // Commitment 0 arrives before `SetupChannel` on an inbound open, and
        // only the client can replay it after setup. Every later one belongs
        // to a channel vlsd has set up, restored or not.
        if commitment == 0 || self.defer_restored_validation {
            return self
                .inner
                .validate_holder_commitment(holder_tx, outbound_htlc_preimages);
        }
        let htlcs = tx
            .nondust_htlcs()
            .iter()
            .map(|h| WireHtlc {
                side: if h.offered {
                    WireHtlc::LOCAL
                } else {
                    WireHtlc::REMOTE
                },
                amount: h.amount_msat,
                payment_hash: WireSha256(h.payment_hash.0),
                ctlv_expiry: h.cltv_expiry,
            })
            .collect();
        let message = ValidateCommitmentTx2 {
            commitment_number: commitment,
            feerate: tx.negotiated_feerate_per_kw(),
            to_local_value_sat: tx.to_broadcaster_value_sat(),
            to_remote_value_sat: tx.to_countersignatory_value_sat(),
            htlcs: Array(htlcs),
            signature: bitcoin_signature(&holder_tx.counterparty_sig),
            htlc_signatures: Array(
                holder_tx
                    .counterparty_htlc_sigs
                    .iter()
                    .map(bitcoin_signature)
                    .collect(),
            ),
        };
        let _: ValidateCommitmentTxReply = self.call(message)?;
        Ok(())
    }

    fn validate_counterparty_revocation(&self, idx: u64, secret: &SecretKey) -> Result<(), ()> {
        self.inner.validate_counterparty_revocation(idx, secret)
    }

    fn pubkeys(&self, secp_ctx: &Secp256k1<All>) -> ChannelPublicKeys {
        self.inner.pubkeys(secp_ctx)
    }

    fn new_funding_pubkey(
        &self,
        splice_parent_funding_txid: Txid,
        secp_ctx: &Secp256k1<All>,
    ) -> PublicKey {
        self.inner
            .new_funding_pubkey(splice_parent_funding_txid, secp_ctx)
    }

    fn channel_keys_id(&self) -> [u8; 32] {
        self.inner.channel_keys_id()
    }
}

impl Writeable for VlsChannelSigner {
    fn write<W: lightning::util::ser::Writer>(
        &self,
        writer: &mut W,
    ) -> Result<(), bitcoin::io::Error> {
        self.inner.write(writer)
    }
}

impl InnerSign for VlsChannelSigner {
    fn box_clone(&self) -> Box<dyn InnerSign> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn vwrite(&self, writer: &mut Vec<u8>) -> Result<(), bitcoin::io::Error> {
        self.inner.write(writer)
    }
}

fn bitcoin_signature(sig: &Signature) -> BitcoinSignature {
    BitcoinSignature {
        signature: WireSignature(sig.serialize_compact()),
        sighash: bitcoin::EcdsaSighashType::All as u8,
    }
}
