//! A typed, versioned view of one signer's state, read from a vlsd datadir.
//!
//! A snapshot carries two things: the store itself, entry by entry (key,
//! version, the exact JSON vls-persist wrote), which is what restore writes
//! back, and typed views derived from it (node, channels, allowlist, chain
//! tracker), which is what people, `diff` and anti-rollback read. The views are
//! never trusted on their own: parsing a snapshot re-derives them from the
//! store and refuses a document where the two disagree.

mod channel;
mod entries;
mod views;

use std::collections::BTreeMap;

use lightning_signer::bitcoin::secp256k1::Secp256k1;
use lightning_signer::bitcoin::Network as BtcNetwork;
use lightning_signer::signer::derive::{key_derive, KeyDerivationStyle};
use serde::{Deserialize, Serialize};
use vls_persist::model::NodeStateEntry;

pub use views::{
    AllowlistView, ChannelOrigin, ChannelStatus, ChannelView, HtlcDirection, HtlcView, NodeView,
    PointsView, SecretView, StoreItem, TrackerView,
};

use crate::datadir::{Network, VlsdDatadir};
use crate::error::RecoveryError;
use crate::seed::Seed;
use crate::store::{self, RawStore, Versioned};
use channel::channel_views;
use entries::{
    allowlist_view, by_hash, invalid, node_item, read_node, store_items, tracker_view,
    NODE_ALLOWLIST, NODE_ENTRY, NODE_STATE, NODE_TRACKER,
};

/// Version of the snapshot document layout.
pub const SNAPSHOT_VERSION: u32 = 1;

/// One signer's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub snapshot_version: u32,
    pub node_id: String,
    pub network: String,
    pub signer_id: String,
    pub node: NodeView,
    pub channels: Vec<ChannelView>,
    pub allowlist: AllowlistView,
    pub tracker: TrackerView,
    pub store: Vec<StoreItem>,
}

/// The node id a seed gives under a key derivation style.
pub fn node_id_for_seed(
    seed: &Seed,
    key_derivation_style: u8,
    network: Network,
) -> Result<String, RecoveryError> {
    let style =
        KeyDerivationStyle::try_from(key_derivation_style).map_err(|_| RecoveryError::Usage {
            reason: format!("unknown key derivation style {key_derivation_style}"),
        })?;
    let secp = Secp256k1::new();
    let (id, _) = key_derive(style, BtcNetwork::from(network)).node_keys(seed.as_bytes(), &secp);
    Ok(hex::encode(id.serialize()))
}

impl Snapshot {
    /// Reads the signer state of `datadir` (vlsd must be stopped).
    pub fn load(datadir: &VlsdDatadir) -> Result<Snapshot, RecoveryError> {
        let path = datadir.state_db_path();
        let raw = store::read(&path)?;
        Snapshot::from_store(&raw, datadir.network(), &path.display().to_string())
    }

    /// Builds the typed views from a raw store, checking every entry parses
    /// with vls-persist's types.
    pub fn from_store(
        raw: &RawStore,
        network: Network,
        source: &str,
    ) -> Result<Snapshot, RecoveryError> {
        let (entry_key, entry, node_entry) = read_node(raw, network, source)?;
        let node_hex = &entry_key[NODE_ENTRY.len()..];
        let get = |prefix: &str| node_item(raw, prefix, node_hex, source);
        let (state_key, state) = get(NODE_STATE)?;
        let node_state: NodeStateEntry =
            serde_json::from_slice(&state.value).map_err(|e| invalid(source, state_key, e))?;
        let preimages = by_hash(&node_state.preimages);
        let (tracker_key, tracker) = get(NODE_TRACKER)?;
        let tracker_view = tracker_view(tracker, source, tracker_key)?;
        let allowlist = allowlist_view(get(NODE_ALLOWLIST).ok(), source)?;
        let channels = channel_views(raw, node_hex, &preimages, source)?;
        let store = store_items(raw, source)?;

        Ok(Snapshot {
            snapshot_version: SNAPSHOT_VERSION,
            node_id: node_hex.to_string(),
            network: network.as_str().to_string(),
            signer_id: hex::encode(raw.signer_id),
            node: NodeView {
                key_derivation_style: node_entry.key_derivation_style,
                entry_version: entry.version,
                state_version: state.version,
                dbid_high_water_mark: node_state.dbid_high_water_mark,
                invoices: node_state.invoices.len(),
                issued_invoices: node_state.issued_invoices.len(),
                preimages: node_state.preimages.len(),
            },
            channels,
            allowlist,
            tracker: tracker_view,
            store,
        })
    }

    pub fn network(&self) -> Result<Network, RecoveryError> {
        self.network.parse()
    }

    /// The store the snapshot holds, ready to write back.
    pub fn raw_store(&self) -> Result<RawStore, RecoveryError> {
        let mut signer_id = [0u8; 16];
        hex::decode_to_slice(&self.signer_id, &mut signer_id).map_err(|e| {
            RecoveryError::StateInvalid {
                source_name: "snapshot".into(),
                key: "signer_id".into(),
                reason: format!("expected 32 hex digits: {e}"),
            }
        })?;
        let entries = self
            .store
            .iter()
            .map(|i| {
                let value = i
                    .value
                    .as_ref()
                    .map(|v| v.get().as_bytes().to_vec())
                    .unwrap_or_default();
                (
                    i.key.clone(),
                    Versioned {
                        version: i.version,
                        value,
                    },
                )
            })
            .collect();
        Ok(RawStore { signer_id, entries })
    }

    /// Parses a snapshot document and checks its views against its store.
    pub fn from_json(bytes: &[u8], source: &str) -> Result<Snapshot, RecoveryError> {
        let doc: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| invalid(source, "(snapshot)", e))?;
        if doc.snapshot_version != SNAPSHOT_VERSION {
            return Err(invalid(
                source,
                "snapshot_version",
                format!(
                    "{}; this tool reads {SNAPSHOT_VERSION}",
                    doc.snapshot_version
                ),
            ));
        }
        let derived = Snapshot::from_store(&doc.raw_store()?, doc.network()?, source)?;
        if derived != doc {
            return Err(invalid(
                source,
                "(snapshot)",
                "the typed views disagree with the stored entries",
            ));
        }
        Ok(doc)
    }

    pub fn to_json(&self) -> Result<Vec<u8>, RecoveryError> {
        serde_json::to_vec(self).map_err(|e| RecoveryError::Internal {
            reason: format!("snapshot to JSON: {e}"),
        })
    }

    pub fn channel(&self, key: &str) -> Option<&ChannelView> {
        self.channels.iter().find(|c| c.key == key)
    }

    /// The payment preimages the signer knew, by payment hash (read from
    /// the stored node state: vls-core's restore forgets some of them).
    pub fn preimages(&self) -> Result<BTreeMap<[u8; 32], [u8; 32]>, RecoveryError> {
        let key = format!("{NODE_STATE}{}", self.node_id);
        let Some(value) = self
            .store
            .iter()
            .find(|i| i.key == key)
            .and_then(|i| i.value.as_ref())
        else {
            return Ok(BTreeMap::new());
        };
        let state: NodeStateEntry =
            serde_json::from_str(value.get()).map_err(|e| invalid("snapshot", &key, e))?;
        Ok(by_hash(&state.preimages))
    }

    /// The payment hashes of the channels' HTLCs, whose preimages a
    /// spending witness on chain may reveal.
    pub fn payment_hashes(&self) -> Vec<[u8; 32]> {
        self.channels
            .iter()
            .flat_map(|c| &c.htlcs)
            .filter_map(|h| {
                let mut b = [0u8; 32];
                hex::decode_to_slice(&h.payment_hash, &mut b)
                    .ok()
                    .map(|()| b)
            })
            .collect()
    }

    /// Checks that `seed` is this node's seed.
    pub fn check_seed(&self, seed: &Seed) -> Result<(), RecoveryError> {
        let got = node_id_for_seed(seed, self.node.key_derivation_style, self.network()?)?;
        if got != self.node_id {
            return Err(RecoveryError::SeedMismatch {
                seed_node: got,
                state_node: self.node_id.clone(),
            });
        }
        Ok(())
    }
}
