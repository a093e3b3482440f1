//! Reading the node's own entries out of a raw store (its node entry and
//! state, chain tracker and allowlist), each parsed with vls-persist's
//! types so a malformed entry is caught the way vlsd would catch it.

use std::collections::BTreeMap;

use lightning_signer::bitcoin::consensus::deserialize;
use lightning_signer::bitcoin::secp256k1::PublicKey;
use lightning_signer::bitcoin::Network as BtcNetwork;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use vls_persist::model::{AllowlistItemEntry, ChainTrackerEntry, NodeEntry};

use super::views::{AllowlistView, StoreItem, TrackerView};
use crate::datadir::Network;
use crate::error::RecoveryError;
use crate::store::{RawStore, Versioned};

pub(super) const NODE_ENTRY: &str = "node/entry/";
pub(super) const NODE_STATE: &str = "node/state/";
pub(super) const NODE_TRACKER: &str = "node/tracker/";
pub(super) const NODE_ALLOWLIST: &str = "node/allowlist/";
pub(super) const CHANNEL: &str = "channel/";

pub(super) fn invalid(source: &str, key: &str, reason: impl std::fmt::Display) -> RecoveryError {
    RecoveryError::StateInvalid {
        source_name: source.to_string(),
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

/// The store's one live node entry, parsed and checked: its key names a
/// valid node id, and the node is on `network`.
pub(super) fn read_node<'a>(
    raw: &'a RawStore,
    network: Network,
    source: &str,
) -> Result<(&'a String, &'a Versioned, NodeEntry), RecoveryError> {
    let nodes: Vec<_> = raw
        .entries
        .iter()
        .filter(|(k, v)| k.starts_with(NODE_ENTRY) && !v.value.is_empty())
        .collect();
    let (entry_key, entry) = match nodes.as_slice() {
        [one] => *one,
        [] => {
            return Err(invalid(
                source,
                NODE_ENTRY,
                "no node in this store (vlsd has not initialised it yet?)",
            ))
        }
        many => {
            return Err(invalid(
                source,
                NODE_ENTRY,
                format!("{} nodes; a vlsd datadir holds one per network", many.len()),
            ))
        }
    };
    let node_hex = &entry_key[NODE_ENTRY.len()..];
    let node_bytes = hex::decode(node_hex).map_err(|e| invalid(source, entry_key, e))?;
    PublicKey::from_slice(&node_bytes)
        .map_err(|e| invalid(source, entry_key, format!("node id: {e}")))?;
    let node_entry: NodeEntry =
        serde_json::from_slice(&entry.value).map_err(|e| invalid(source, entry_key, e))?;
    let want = BtcNetwork::from(network).to_string();
    if node_entry.network != want {
        return Err(invalid(
            source,
            entry_key,
            format!(
                "node is on network `{}`, expected `{want}`",
                node_entry.network
            ),
        ));
    }
    Ok((entry_key, entry, node_entry))
}

/// The live entry `<prefix><node_hex>`.
pub(super) fn node_item<'a>(
    raw: &'a RawStore,
    prefix: &str,
    node_hex: &str,
    source: &str,
) -> Result<(&'a String, &'a Versioned), RecoveryError> {
    let key = format!("{prefix}{node_hex}");
    raw.entries
        .get_key_value(&key)
        .filter(|(_, v)| !v.value.is_empty())
        .ok_or_else(|| invalid(source, &key, "missing"))
}

/// Payment preimages by their hash.
pub(super) fn by_hash(preimages: &[[u8; 32]]) -> BTreeMap<[u8; 32], [u8; 32]> {
    preimages
        .iter()
        .map(|p| (Sha256::digest(p).into(), *p))
        .collect()
}

/// The allowlist entry, if the node has one.
pub(super) fn allowlist_view(
    found: Option<(&String, &Versioned)>,
    source: &str,
) -> Result<AllowlistView, RecoveryError> {
    Ok(match found {
        Some((k, v)) => {
            let a: AllowlistItemEntry =
                serde_json::from_slice(&v.value).map_err(|e| invalid(source, k, e))?;
            AllowlistView {
                version: Some(v.version),
                entries: a.allowlist,
            }
        }
        None => AllowlistView {
            version: None,
            entries: Vec::new(),
        },
    })
}

pub(super) fn tracker_view(
    v: &Versioned,
    source: &str,
    key: &str,
) -> Result<TrackerView, RecoveryError> {
    // Parse with vls-persist's type first so a malformed entry is caught the
    // way vlsd would catch it; its fields are private, so read them as JSON.
    let _: ChainTrackerEntry =
        serde_json::from_slice(&v.value).map_err(|e| invalid(source, key, e))?;
    let json: serde_json::Value =
        serde_json::from_slice(&v.value).map_err(|e| invalid(source, key, e))?;
    let height = json
        .get("height")
        .and_then(|h| h.as_u64())
        .and_then(|h| u32::try_from(h).ok())
        .ok_or_else(|| invalid(source, key, "no `height`"))?;
    let tip = json
        .get("tip")
        .and_then(|t| t.as_str())
        .and_then(|t| hex::decode(t).ok())
        .ok_or_else(|| invalid(source, key, "no hex `tip`"))?;
    let header: lightning_signer::bitcoin::block::Header = tip
        .get(..80)
        .ok_or_else(|| invalid(source, key, "tip shorter than a block header"))
        .and_then(|b| deserialize(b).map_err(|e| invalid(source, key, format!("tip: {e}"))))?;
    let listeners = json
        .get("listeners")
        .and_then(|l| l.as_array())
        .map_or(0, Vec::len);
    Ok(TrackerView {
        version: v.version,
        height,
        tip_hash: header.block_hash().to_string(),
        listeners,
    })
}

/// Every entry byte-exact, tombstones as `null`; the values must be the
/// JSON vls-persist writes.
pub(super) fn store_items(raw: &RawStore, source: &str) -> Result<Vec<StoreItem>, RecoveryError> {
    raw.entries
        .iter()
        .map(|(k, v)| {
            let value = if v.value.is_empty() {
                None
            } else {
                let text = std::str::from_utf8(&v.value)
                    .map_err(|e| invalid(source, k, format!("not UTF-8 JSON: {e}")))?;
                Some(
                    RawValue::from_string(text.to_string())
                        .map_err(|e| invalid(source, k, format!("not JSON: {e}")))?,
                )
            };
            Ok(StoreItem {
                key: k.clone(),
                version: v.version,
                value,
            })
        })
        .collect()
}
