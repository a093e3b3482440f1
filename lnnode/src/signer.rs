//! Who signs: vlsd over the VLS gRPC protocol (the node hosts the service and
//! vlsd dials in), or LDK's own `KeysManager`. Both sit behind one `Keys`
//! type so the rest of the node has one set of LDK types.
//!
//! The VLS client for LDK 0.2 leaves some channel-signer methods
//! unimplemented; [`VlsChannelSigner`] fills the one a counterparty
//! force-close needs (claiming an HTLC on their commitment) with the
//! protocol's own `SignAnyRemoteHtlcToUs` request.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use bitcoin::bip32::{DerivationPath, Fingerprint};
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{ecdsa::Signature, All, PublicKey, Scalar, Secp256k1, SecretKey};
use bitcoin::{Amount, ScriptBuf, Transaction, TxOut, Txid};
use lightning::ln::chan_utils::{
    get_htlc_redeemscript, ChannelPublicKeys, ChannelTransactionParameters, ClosingTransaction,
    CommitmentTransaction, HTLCOutputInCommitment, HolderCommitmentTransaction, TxCreationKeys,
};
use lightning::ln::msgs::UnsignedChannelAnnouncement;
use lightning::sign::ecdsa::EcdsaChannelSigner;
use lightning::sign::{
    ChannelSigner, EntropySource, HTLCDescriptor, KeysManager, NodeSigner, OutputSpender,
    PeerStorageKey, ReceiveAuthKey, Recipient, SignerProvider, SpendableOutputDescriptor,
};
use lightning::types::payment::PaymentPreimage;
use lightning::util::ser::Writeable;
use tokio::sync::{mpsc, oneshot};
use vls_proxy::grpc::adapter::{ChannelRequest, ClientId};
use vls_proxy::lightning_signer::channel::ChannelId as VlsChannelId;
use vls_proxy::vls_protocol_client::{
    node_call, DynSigner, Error as ClientError, InnerSign, KeysManagerClient, SignerClient,
    Transport,
};
use vls_proxy::vls_protocol_signer::vls_protocol::model::{PubKey, Signature as WireSignature};
use vls_proxy::vls_protocol_signer::vls_protocol::msgs::{
    PreapproveInvoice, PreapproveInvoiceReply, SignAnyRemoteHtlcToUs, SignTxReply,
};
use vls_proxy::vls_protocol_signer::vls_protocol::psbt::PsbtWrapper;
use vls_proxy::vls_protocol_signer::vls_protocol::serde_bolt::{Octets, WireString, WithSize};

use crate::persist::{read_or_create_secret, write_atomically};

/// How long a request may keep getting "temporary failure" (e.g. the signer's
/// chain view has not yet seen a funding transaction) before we give up.
const TEMPORARY_FAILURE_BUDGET: Duration = Duration::from_secs(180);

/// Sends VLS protocol messages to vlsd through the gRPC adapter's queue.
///
/// LDK calls signers from synchronous code. Each call is handed to the
/// signer runtime and the caller waits on a std channel, so this works from
/// runtime workers and plain threads alike. While vlsd is away, requests wait
/// in the adapter's queue and are re-sent when it reconnects.
pub struct GrpcTransport {
    sender: mpsc::Sender<ChannelRequest>,
    signer_rt: tokio::runtime::Handle,
    shutdown: triggered::Listener,
}

impl GrpcTransport {
    pub fn new(
        sender: mpsc::Sender<ChannelRequest>,
        signer_rt: tokio::runtime::Handle,
        shutdown: triggered::Listener,
    ) -> Self {
        GrpcTransport {
            sender,
            signer_rt,
            shutdown,
        }
    }

    fn round_trip(
        &self,
        message: Vec<u8>,
        client_id: Option<ClientId>,
    ) -> Result<Vec<u8>, ClientError> {
        let started = std::time::Instant::now();
        let mut backoff = Duration::from_millis(50);
        loop {
            let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
            let sender = self.sender.clone();
            let shutdown = self.shutdown.clone();
            let request_message = message.clone();
            let request_client = client_id.clone();
            self.signer_rt.spawn(async move {
                let (reply_tx, reply_rx) = oneshot::channel();
                let request = ChannelRequest {
                    message: request_message,
                    reply_tx,
                    client_id: request_client,
                };
                let exchange = async {
                    sender.send(request).await.map_err(|_| ())?;
                    reply_rx.await.map_err(|_| ())
                };
                let outcome = tokio::select! {
                    r = exchange => r,
                    _ = shutdown => Err(()),
                };
                let _ = done_tx.send(outcome);
            });
            let outcome = block_in_place(|| done_rx.recv());
            match outcome {
                Ok(Ok(reply)) if reply.is_temporary_failure => {
                    if started.elapsed() > TEMPORARY_FAILURE_BUDGET {
                        tracing::error!(
                            "signer kept answering 'temporary failure' for {:?}",
                            started.elapsed()
                        );
                        return Err(ClientError::TransportTransient);
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Ok(Ok(reply)) => return Ok(reply.reply),
                // The adapter shut down: vlsd refused a request (policy) or we are exiting.
                _ => return Err(ClientError::Transport),
            }
        }
    }
}

impl Transport for GrpcTransport {
    fn node_call(&self, message: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        self.round_trip(message, None)
    }

    fn call(&self, dbid: u64, peer_id: PubKey, message: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        self.round_trip(
            message,
            Some(ClientId {
                peer_id: peer_id.0,
                dbid,
            }),
        )
    }
}

/// Runs a blocking wait without stalling a multi-threaded runtime worker.
fn block_in_place<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// VLS-backed keys: the client plus what it does not keep across restarts.
pub struct VlsKeys {
    client: KeysManagerClient,
    transport: Arc<GrpcTransport>,
    /// The client restarts its channel counter at 1 on every start; vlsd would
    /// then hand a new channel the keys of an old one. We persist the counter.
    next_dbid: Mutex<u64>,
    dbid_file: PathBuf,
}

impl VlsKeys {
    /// Blocks until vlsd has connected and answered the init handshake.
    pub fn connect(
        transport: Arc<GrpcTransport>,
        network: bitcoin::Network,
        datadir: &Path,
    ) -> Result<VlsKeys> {
        let receive_auth = read_or_create_secret(&datadir.join("receive_auth_key"))?;
        let client = KeysManagerClient::new(
            transport.clone(),
            network.to_string(),
            None,
            None,
            ReceiveAuthKey(receive_auth),
        );
        let dbid_file = datadir.join("vls_next_dbid");
        let next = match std::fs::read_to_string(&dbid_file) {
            Ok(s) => s
                .trim()
                .parse::<u64>()
                .with_context(|| format!("{}: not a number", dbid_file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(e) => return Err(e).with_context(|| dbid_file.display().to_string()),
        };
        Ok(VlsKeys {
            client,
            transport,
            next_dbid: Mutex::new(next.max(1)),
            dbid_file,
        })
    }

    fn allocate_dbid(&self) -> u64 {
        let mut next = self.next_dbid.lock().unwrap_or_else(|p| p.into_inner());
        let dbid = *next;
        *next += 1;
        // Persist before use: a crash must never hand out the same dbid twice.
        if let Err(e) = write_atomically(&self.dbid_file, next.to_string().as_bytes()) {
            tracing::error!(error = %e, "cannot persist the channel counter; refusing to reuse ids");
            std::process::exit(3);
        }
        dbid
    }

    /// Asks vlsd to approve paying `invoice` (vlsd refuses outgoing payments it has not approved).
    pub fn preapprove_invoice(&self, invoice: &str) -> Result<bool> {
        let reply: PreapproveInvoiceReply = self
            .client
            .call(PreapproveInvoice {
                invstring: WireString(invoice.as_bytes().to_vec()),
            })
            .map_err(|e| anyhow::anyhow!("signer refused to preapprove the invoice: {e:?}"))?;
        Ok(reply.result)
    }
}

pub enum Keys {
    Vls(VlsKeys),
    Local(KeysManager),
}

impl Keys {
    pub fn local(datadir: &Path) -> Result<Keys> {
        let seed = read_or_create_secret(&datadir.join("keys_seed"))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("system clock before 1970")?;
        Ok(Keys::Local(KeysManager::new(
            &seed,
            now.as_secs(),
            now.subsec_nanos(),
            true,
        )))
    }

    pub fn vls(&self) -> Option<&VlsKeys> {
        match self {
            Keys::Vls(v) => Some(v),
            Keys::Local(_) => None,
        }
    }
}

impl EntropySource for Keys {
    /// Local randomness for both kinds: ids and nonces need no signer round trip.
    fn get_secure_random_bytes(&self) -> [u8; 32] {
        rand::random()
    }
}

impl NodeSigner for Keys {
    fn get_expanded_key(&self) -> lightning::ln::inbound_payment::ExpandedKey {
        match self {
            Keys::Vls(v) => v.client.get_expanded_key(),
            Keys::Local(k) => k.get_expanded_key(),
        }
    }

    fn get_peer_storage_key(&self) -> PeerStorageKey {
        match self {
            Keys::Vls(v) => v.client.get_peer_storage_key(),
            Keys::Local(k) => k.get_peer_storage_key(),
        }
    }

    fn get_receive_auth_key(&self) -> ReceiveAuthKey {
        match self {
            Keys::Vls(v) => v.client.get_receive_auth_key(),
            Keys::Local(k) => k.get_receive_auth_key(),
        }
    }

    fn get_node_id(&self, recipient: Recipient) -> Result<PublicKey, ()> {
        match self {
            Keys::Vls(v) => v.client.get_node_id(recipient),
            Keys::Local(k) => k.get_node_id(recipient),
        }
    }

    fn ecdh(
        &self,
        recipient: Recipient,
        other_key: &PublicKey,
        tweak: Option<&Scalar>,
    ) -> Result<bitcoin::secp256k1::ecdh::SharedSecret, ()> {
        match self {
            // The VLS client cannot tweak (no blinded paths or onion messages
            // here, so LDK never asks it to); refuse rather than panic if it does.
            Keys::Vls(_) if tweak.is_some() => Err(()),
            Keys::Vls(v) => v.client.ecdh(recipient, other_key, tweak),
            Keys::Local(k) => k.ecdh(recipient, other_key, tweak),
        }
    }

    fn sign_invoice(
        &self,
        invoice: &lightning_invoice::RawBolt11Invoice,
        recipient: Recipient,
    ) -> Result<bitcoin::secp256k1::ecdsa::RecoverableSignature, ()> {
        match self {
            Keys::Vls(v) => v.client.sign_invoice(invoice, recipient),
            Keys::Local(k) => k.sign_invoice(invoice, recipient),
        }
    }

    fn sign_bolt12_invoice(
        &self,
        invoice: &lightning::offers::invoice::UnsignedBolt12Invoice,
    ) -> Result<bitcoin::secp256k1::schnorr::Signature, ()> {
        match self {
            Keys::Vls(v) => v.client.sign_bolt12_invoice(invoice),
            Keys::Local(k) => k.sign_bolt12_invoice(invoice),
        }
    }

    fn sign_gossip_message(
        &self,
        msg: lightning::ln::msgs::UnsignedGossipMessage,
    ) -> Result<Signature, ()> {
        match self {
            Keys::Vls(v) => v.client.sign_gossip_message(msg),
            Keys::Local(k) => k.sign_gossip_message(msg),
        }
    }

    fn sign_message(&self, msg: &[u8]) -> Result<String, ()> {
        match self {
            Keys::Vls(v) => v.client.sign_message(msg),
            Keys::Local(k) => k.sign_message(msg),
        }
    }
}

impl SignerProvider for Keys {
    type EcdsaSigner = DynSigner;

    fn generate_channel_keys_id(&self, inbound: bool, user_channel_id: u128) -> [u8; 32] {
        match self {
            Keys::Vls(v) => VlsChannelId::new_from_oid(v.allocate_dbid()).ldk_channel_keys_id(),
            Keys::Local(k) => k.generate_channel_keys_id(inbound, user_channel_id),
        }
    }

    fn derive_channel_signer(&self, channel_keys_id: [u8; 32]) -> DynSigner {
        match self {
            Keys::Vls(v) => DynSigner::new(VlsChannelSigner {
                inner: v.client.derive_channel_signer(channel_keys_id),
                transport: v.transport.clone(),
                dbid: VlsChannelId::new(&channel_keys_id).oid(),
            }),
            Keys::Local(k) => DynSigner::new(k.derive_channel_signer(channel_keys_id)),
        }
    }

    fn get_destination_script(&self, channel_keys_id: [u8; 32]) -> Result<ScriptBuf, ()> {
        match self {
            Keys::Vls(v) => v.client.get_destination_script(channel_keys_id),
            Keys::Local(k) => k.get_destination_script(channel_keys_id),
        }
    }

    fn get_shutdown_scriptpubkey(&self) -> Result<lightning::ln::script::ShutdownScript, ()> {
        match self {
            Keys::Vls(v) => v.client.get_shutdown_scriptpubkey(),
            Keys::Local(k) => k.get_shutdown_scriptpubkey(),
        }
    }
}

impl OutputSpender for Keys {
    fn spend_spendable_outputs(
        &self,
        descriptors: &[&SpendableOutputDescriptor],
        outputs: Vec<TxOut>,
        change_destination_script: ScriptBuf,
        feerate_sat_per_1000_weight: u32,
        locktime: Option<bitcoin::absolute::LockTime>,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Transaction, ()> {
        match self {
            Keys::Vls(v) => v.client.spend_spendable_outputs(
                descriptors,
                outputs,
                change_destination_script,
                feerate_sat_per_1000_weight,
                locktime,
                secp_ctx,
            ),
            Keys::Local(k) => k.spend_spendable_outputs(
                descriptors,
                outputs,
                change_destination_script,
                feerate_sat_per_1000_weight,
                locktime,
                secp_ctx,
            ),
        }
    }
}

/// A VLS channel signer: the client's, plus claims on the counterparty's commitment.
#[derive(Clone)]
pub struct VlsChannelSigner {
    inner: SignerClient,
    transport: Arc<GrpcTransport>,
    dbid: u64,
}

/// Wallet derivation path of the client's destination and shutdown scripts.
const DESTINATION_PATH: [u32; 1] = [1];

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
        _channel_parameters: &ChannelTransactionParameters,
        justice_tx: &Transaction,
        input: usize,
        _amount: u64,
        _per_commitment_key: &SecretKey,
        _secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        refuse_justice(justice_tx, input)
    }

    fn sign_justice_revoked_htlc(
        &self,
        _channel_parameters: &ChannelTransactionParameters,
        justice_tx: &Transaction,
        input: usize,
        _amount: u64,
        _per_commitment_key: &SecretKey,
        _htlc: &HTLCOutputInCommitment,
        _secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        refuse_justice(justice_tx, input)
    }

    fn sign_holder_htlc_transaction(
        &self,
        htlc_tx: &Transaction,
        input: usize,
        htlc_descriptor: &HTLCDescriptor,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.inner
            .sign_holder_htlc_transaction(htlc_tx, input, htlc_descriptor, secp_ctx)
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
        let counterparty = channel_parameters
            .counterparty_parameters
            .as_ref()
            .ok_or(())?;
        // On their commitment they are the broadcaster and we countersign.
        let keys = TxCreationKeys::from_channel_static_keys(
            per_commitment_point,
            &counterparty.pubkeys,
            &channel_parameters.holder_pubkeys,
            secp_ctx,
        );
        let redeemscript =
            get_htlc_redeemscript(htlc, &channel_parameters.channel_type_features, &keys);
        let mut unsigned = htlc_tx.clone();
        for i in unsigned.input.iter_mut() {
            i.witness.clear();
            i.script_sig = ScriptBuf::new();
        }
        let mut psbt = Psbt::from_unsigned_tx(unsigned).map_err(|_| ())?;
        if let Some(i) = psbt.inputs.get_mut(input) {
            i.witness_utxo = Some(TxOut {
                value: Amount::from_sat(amount),
                script_pubkey: redeemscript.to_p2wsh(),
            });
        }
        // vlsd checks the claim pays our wallet at the path named here; the
        // map key is not read, only the path.
        if let Some(o) = psbt.outputs.get_mut(0) {
            o.bip32_derivation.insert(
                *per_commitment_point,
                (
                    Fingerprint::default(),
                    DerivationPath::from(
                        DESTINATION_PATH
                            .iter()
                            .map(|i| bitcoin::bip32::ChildNumber::Normal { index: *i })
                            .collect::<Vec<_>>(),
                    ),
                ),
            );
        }
        let message = SignAnyRemoteHtlcToUs {
            remote_per_commitment_point: PubKey(per_commitment_point.serialize()),
            tx: WithSize(htlc_tx.clone()),
            psbt: WithSize(PsbtWrapper { inner: psbt }),
            wscript: Octets(redeemscript.to_bytes()),
            option_anchors: false,
            input: input as u32,
            peer_id: PubKey([0; 33]),
            dbid: self.dbid,
        };
        let reply: SignTxReply = node_call(&*self.transport, message).map_err(|e| {
            tracing::error!(error = ?e, txid = %htlc_tx.compute_txid(), "signer refused the counterparty HTLC claim");
        })?;
        wire_signature(&reply.signature.signature)
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
        secp_ctx: &Secp256k1<All>,
    ) -> Result<PublicKey, ()> {
        self.inner.get_per_commitment_point(idx, secp_ctx)
    }

    fn release_commitment_secret(&self, idx: u64) -> Result<[u8; 32], ()> {
        self.inner.release_commitment_secret(idx)
    }

    fn validate_holder_commitment(
        &self,
        holder_tx: &HolderCommitmentTransaction,
        outbound_htlc_preimages: Vec<PaymentPreimage>,
    ) -> Result<(), ()> {
        self.inner
            .validate_holder_commitment(holder_tx, outbound_htlc_preimages)
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

fn wire_signature(sig: &WireSignature) -> Result<Signature, ()> {
    Signature::from_compact(&sig.0).map_err(|_| ())
}

/// Justice transactions are the recovery library's job (plan, issue 6); the
/// node refuses rather than aborting, so LDK keeps the channel state.
fn refuse_justice(justice_tx: &Transaction, input: usize) -> Result<Signature, ()> {
    tracing::error!(txid = %justice_tx.compute_txid(), input, "justice signing through vlsd is not supported by this node");
    Err(())
}
