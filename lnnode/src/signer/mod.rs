//! Who signs: vlsd over the VLS gRPC protocol (the node hosts the service and
//! vlsd dials in), or LDK's own `KeysManager`. Both sit behind one `Keys`
//! type so the rest of the node has one set of LDK types.
//!
//! - [`link`]: the gRPC service vlsd connects to;
//! - [`transport`]: LDK's synchronous calls onto that link;
//! - [`channel`]: the channel signer, VLS's client with its gaps filled;
//! - [`breakpoint`], [`refusals`]: what the harness and the admin API see.

pub mod breakpoint;
pub mod channel;
mod claims;
pub mod link;
pub mod refusals;
pub mod transport;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use bitcoin::secp256k1::{ecdsa::Signature, All, PublicKey, Scalar, Secp256k1};
use bitcoin::{ScriptBuf, Transaction, TxOut};
use lightning::sign::{
    EntropySource, KeysManager, NodeSigner, OutputSpender, PeerStorageKey, ReceiveAuthKey,
    Recipient, SignerProvider, SpendableOutputDescriptor,
};
use vls_proxy::lightning_signer::channel::ChannelId as VlsChannelId;
use vls_proxy::vls_protocol_client::{DynSigner, KeysManagerClient};
use vls_proxy::vls_protocol_signer::vls_protocol::msgs::{
    DeBolt, PreapproveInvoice, PreapproveInvoiceReply, SerBolt,
};
use vls_proxy::vls_protocol_signer::vls_protocol::serde_bolt::WireString;

use crate::persist::{read_or_create_secret, write_atomically, JsonMap};
pub use channel::VlsChannelSigner;
pub use transport::{CallError, GrpcTransport};

/// VLS-backed keys: the client plus what it does not keep across restarts.
pub struct VlsKeys {
    client: KeysManagerClient,
    pub transport: Arc<GrpcTransport>,
    /// The client restarts its channel counter at 1 on every start; vlsd would
    /// then hand a new channel the keys of an old one. We persist the counter.
    next_dbid: Mutex<u64>,
    dbid_file: PathBuf,
    /// LDK's `user_channel_id` -> vlsd's channel id, so the admin API can
    /// name a channel's signer state.
    channel_dbids: JsonMap<u64>,
    defer_restored_validation: bool,
}

impl VlsKeys {
    /// Blocks until vlsd has connected and answered the init handshake.
    pub fn connect(
        transport: Arc<GrpcTransport>,
        network: bitcoin::Network,
        datadir: &Path,
        defer_restored_validation: bool,
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
            channel_dbids: JsonMap::open(datadir.join("vls_channels.json"))?,
            defer_restored_validation,
        })
    }

    /// vlsd's id for the channel LDK knows by `user_channel_id`.
    pub fn channel_dbid(&self, user_channel_id: u128) -> Option<u64> {
        self.channel_dbids.get(&user_channel_id.to_string())
    }

    fn allocate_dbid(&self, user_channel_id: u128) -> u64 {
        let mut next = self.next_dbid.lock().unwrap_or_else(|p| p.into_inner());
        let dbid = *next;
        *next += 1;
        // Persist before use: a crash must never hand out the same dbid twice.
        if let Err(e) = write_atomically(&self.dbid_file, next.to_string().as_bytes()) {
            tracing::error!(error = %e, "cannot persist the channel counter; refusing to reuse ids");
            std::process::exit(3);
        }
        if let Err(e) = self
            .channel_dbids
            .update(&user_channel_id.to_string(), |_| dbid)
        {
            // Only the admin API's view needs it; the channel works without.
            tracing::warn!(dbid, error = %e, "cannot record the channel's signer id");
        }
        dbid
    }

    /// Asks vlsd to approve paying `invoice` (vlsd refuses outgoing payments it has not approved).
    pub fn preapprove_invoice(&self, invoice: &str) -> Result<bool, CallError> {
        let message = PreapproveInvoice {
            invstring: WireString(invoice.as_bytes().to_vec()),
        };
        let bytes = self.transport.exchange(message.as_vec(), None)?;
        let reply = PreapproveInvoiceReply::from_vec(bytes)
            .map_err(|e| CallError::Refused(format!("unreadable reply: {e:?}")))?;
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
            Keys::Vls(v) => {
                VlsChannelId::new_from_oid(v.allocate_dbid(user_channel_id)).ldk_channel_keys_id()
            }
            Keys::Local(k) => k.generate_channel_keys_id(inbound, user_channel_id),
        }
    }

    fn derive_channel_signer(&self, channel_keys_id: [u8; 32]) -> DynSigner {
        match self {
            Keys::Vls(v) => DynSigner::new(VlsChannelSigner {
                inner: v.client.derive_channel_signer(channel_keys_id),
                transport: v.transport.clone(),
                dbid: VlsChannelId::new(&channel_keys_id).oid(),
                defer_restored_validation: v.defer_restored_validation,
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
