//! A typed, versioned view of one signer's state, read from a vlsd datadir.
//!
//! A snapshot carries two things: the store itself, entry by entry (key,
//! version, the exact JSON vls-persist wrote), which is what restore writes
//! back, and typed views derived from it (node, channels, allowlist, chain
//! tracker), which is what people, `diff` and anti-rollback read. The views are
//! never trusted on their own: parsing a snapshot re-derives them from the
//! store and refuses a document where the two disagree.

use std::collections::BTreeMap;

use lightning_signer::bitcoin::consensus::deserialize;
use lightning_signer::bitcoin::secp256k1::{PublicKey, Secp256k1};
use lightning_signer::bitcoin::Network as BtcNetwork;
use lightning_signer::channel::CommitmentType;
use lightning_signer::persist::model::ChannelEntry;
use lightning_signer::signer::derive::{key_derive, KeyDerivationStyle};
use lightning_signer::tx::tx::CommitmentInfo2;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use vls_persist::model::{AllowlistItemEntry, ChainTrackerEntry, NodeEntry, NodeStateEntry};

use crate::datadir::{Network, VlsdDatadir};
use crate::error::RecoveryError;
use crate::seed::Seed;
use crate::store::{self, RawStore, Versioned};

/// Version of the snapshot document layout.
pub const SNAPSHOT_VERSION: u32 = 1;

const NODE_ENTRY: &str = "node/entry/";
const NODE_STATE: &str = "node/state/";
const NODE_TRACKER: &str = "node/tracker/";
const NODE_ALLOWLIST: &str = "node/allowlist/";
const CHANNEL: &str = "channel/";

/// One store entry, byte-exact. `value` is the JSON vls-persist wrote,
/// embedded verbatim; `null` is a tombstone (a deleted key keeps its version).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreItem {
    pub key: String,
    pub version: u64,
    pub value: Option<Box<RawValue>>,
}

impl PartialEq for StoreItem {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
            && self.version == o.version
            && self.value.as_ref().map(|v| v.get()) == o.value.as_ref().map(|v| v.get())
    }
}
impl Eq for StoreItem {}

/// The node as its entries describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeView {
    pub key_derivation_style: u8,
    pub entry_version: u64,
    pub state_version: u64,
    /// Highest Core Lightning dbid seen; a restored signer refuses lower ones.
    pub dbid_high_water_mark: u64,
    pub invoices: usize,
    pub issued_invoices: usize,
    pub preimages: usize,
}

/// Where a channel's original id (`id0`) came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ChannelOrigin {
    /// Core Lightning: peer node id then the dbid, little-endian.
    Cln { peer_id: String, dbid: u64 },
    /// A node that names channels by dbid alone (LDK over the VLS protocol).
    ZeroPeer { dbid: u64 },
    /// Any other id (e.g. LDK with an in-process signer: 32 random bytes).
    Opaque,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelStatus {
    /// Created, keys derived, not yet set up (no funding outpoint).
    Stub,
    Open,
    Closed,
}

/// The counterparty's channel basepoints, compressed hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsView {
    pub funding: String,
    pub revocation: String,
    pub payment: String,
    pub delayed_payment: String,
    pub htlc: String,
}

/// One slot of the compact (BOLT 3) store of revocation secrets the
/// counterparty gave us; `index` counts down from 2^48 - 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretView {
    pub index: u64,
    pub secret: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HtlcDirection {
    /// We offered it (outgoing): ours back after expiry.
    Offered,
    /// They offered it (incoming): ours with the preimage.
    Received,
}

/// A pending HTLC, from our side.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtlcView {
    pub direction: HtlcDirection,
    pub payment_hash: String,
    pub amount_sat: u64,
    pub cltv_expiry: u32,
    pub preimage: Option<String>,
    pub on_holder_commitment: bool,
    pub on_counterparty_commitment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelView {
    pub key: String,
    pub version: u64,
    pub id0: String,
    pub origin: ChannelOrigin,
    /// The permanent id, when the node gave one.
    pub channel_id: Option<String>,
    pub status: ChannelStatus,
    pub capacity_sat: u64,
    /// `txid:vout`, txid as block explorers show it.
    pub funding_outpoint: Option<String>,
    pub commitment_type: Option<String>,
    pub is_outbound: Option<bool>,
    pub push_msat: Option<u64>,
    /// Delay we imposed on them (applies to their to_self outputs).
    pub holder_selected_contest_delay: Option<u16>,
    /// Delay they imposed on us (applies to our to_self outputs).
    pub counterparty_selected_contest_delay: Option<u16>,
    pub counterparty_points: Option<PointsView>,
    pub next_holder_commit_num: u64,
    pub next_counterparty_commit_num: u64,
    pub next_counterparty_revoke_num: u64,
    pub counterparty_secrets: Vec<SecretView>,
    pub to_holder_sat: Option<u64>,
    pub to_counterparty_sat: Option<u64>,
    pub htlcs: Vec<HtlcView>,
    /// Birth height, for channels still stubs.
    pub blockheight: Option<u32>,
}

impl ChannelView {
    /// What operators call the channel: peer and dbid when known.
    pub fn label(&self) -> String {
        match &self.origin {
            ChannelOrigin::Cln { peer_id, dbid } => format!("{peer_id}/dbid {dbid}"),
            ChannelOrigin::ZeroPeer { dbid } => format!("dbid {dbid}"),
            ChannelOrigin::Opaque => format!("id0 {}", self.id0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistView {
    pub version: Option<u64>,
    pub entries: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackerView {
    pub version: u64,
    pub height: u32,
    pub tip_hash: String,
    /// Outpoints the signer watches on chain (funding and closing).
    pub listeners: usize,
}

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

fn invalid(source: &str, key: &str, reason: impl std::fmt::Display) -> RecoveryError {
    RecoveryError::StateInvalid {
        source_name: source.to_string(),
        key: key.to_string(),
        reason: reason.to_string(),
    }
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
        let live = |prefix: &'static str| {
            raw.entries
                .iter()
                .filter(move |(k, v)| k.starts_with(prefix) && !v.value.is_empty())
        };
        let nodes: Vec<_> = live(NODE_ENTRY).collect();
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
        let get = |prefix: &str| -> Result<(&String, &Versioned), RecoveryError> {
            let key = format!("{prefix}{node_hex}");
            raw.entries
                .get_key_value(&key)
                .filter(|(_, v)| !v.value.is_empty())
                .ok_or_else(|| invalid(source, &key, "missing"))
        };
        let (state_key, state) = get(NODE_STATE)?;
        let node_state: NodeStateEntry =
            serde_json::from_slice(&state.value).map_err(|e| invalid(source, state_key, e))?;
        let preimages: BTreeMap<[u8; 32], [u8; 32]> = node_state
            .preimages
            .iter()
            .map(|p| (Sha256::digest(p).into(), *p))
            .collect();

        let (tracker_key, tracker) = get(NODE_TRACKER)?;
        let tracker_view = tracker_view(tracker, source, tracker_key)?;

        let allowlist = match get(NODE_ALLOWLIST) {
            Ok((k, v)) => {
                let a: AllowlistItemEntry =
                    serde_json::from_slice(&v.value).map_err(|e| invalid(source, k, e))?;
                AllowlistView {
                    version: Some(v.version),
                    entries: a.allowlist,
                }
            }
            Err(_) => AllowlistView {
                version: None,
                entries: Vec::new(),
            },
        };

        let chan_prefix = format!("{CHANNEL}{node_hex}/");
        let mut channels = Vec::new();
        for (key, v) in raw.entries.range(chan_prefix.clone()..) {
            if !key.starts_with(&chan_prefix) {
                break;
            }
            if v.value.is_empty() {
                continue;
            }
            let id0_hex = &key[chan_prefix.len()..];
            channels.push(channel_view(key, id0_hex, v, &preimages, source)?);
        }

        let store = raw
            .entries
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
            .collect::<Result<Vec<_>, RecoveryError>>()?;

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
        Ok(state
            .preimages
            .iter()
            .map(|p| (Sha256::digest(p).into(), *p))
            .collect())
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

fn tracker_view(v: &Versioned, source: &str, key: &str) -> Result<TrackerView, RecoveryError> {
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

fn origin(id0: &[u8]) -> ChannelOrigin {
    if id0.len() == 41 {
        let mut dbid = [0u8; 8];
        dbid.copy_from_slice(&id0[33..]);
        let dbid = u64::from_le_bytes(dbid);
        if id0[..33].iter().all(|b| *b == 0) {
            return ChannelOrigin::ZeroPeer { dbid };
        }
        if PublicKey::from_slice(&id0[..33]).is_ok() {
            return ChannelOrigin::Cln {
                peer_id: hex::encode(&id0[..33]),
                dbid,
            };
        }
    }
    ChannelOrigin::Opaque
}

fn commitment_type_name(t: &CommitmentType) -> &'static str {
    match t {
        CommitmentType::Legacy => "legacy",
        CommitmentType::StaticRemoteKey => "static-remote-key",
        CommitmentType::Anchors => "anchors",
        CommitmentType::AnchorsZeroFeeHtlc => "anchors-zero-fee-htlc",
    }
}

fn htlcs(
    holder: Option<&CommitmentInfo2>,
    counterparty: Option<&CommitmentInfo2>,
    preimages: &BTreeMap<[u8; 32], [u8; 32]>,
) -> Vec<HtlcView> {
    let mut out: BTreeMap<(HtlcDirection, [u8; 32], u64, u32), HtlcView> = BTreeMap::new();
    let mut add =
        |dir: HtlcDirection, list: &[lightning_signer::tx::tx::HTLCInfo2], on_holder: bool| {
            for h in list {
                let k = (dir, h.payment_hash.0, h.value_sat, h.cltv_expiry);
                let e = out.entry(k).or_insert_with(|| HtlcView {
                    direction: dir,
                    payment_hash: hex::encode(h.payment_hash.0),
                    amount_sat: h.value_sat,
                    cltv_expiry: h.cltv_expiry,
                    preimage: preimages.get(&h.payment_hash.0).map(hex::encode),
                    on_holder_commitment: false,
                    on_counterparty_commitment: false,
                });
                if on_holder {
                    e.on_holder_commitment = true;
                } else {
                    e.on_counterparty_commitment = true;
                }
            }
        };
    // On our commitment we are the broadcaster: its offered HTLCs are ours.
    if let Some(c) = holder {
        add(HtlcDirection::Offered, &c.offered_htlcs, true);
        add(HtlcDirection::Received, &c.received_htlcs, true);
    }
    // On theirs the roles swap.
    if let Some(c) = counterparty {
        add(HtlcDirection::Received, &c.offered_htlcs, false);
        add(HtlcDirection::Offered, &c.received_htlcs, false);
    }
    out.into_values().collect()
}

#[derive(Deserialize)]
struct SecretsJson {
    // Human-readable serde of `[u8; 32]`: an array of 32 numbers.
    old_secrets: Vec<([u8; 32], u64)>,
}

fn channel_view(
    key: &str,
    id0_hex: &str,
    v: &Versioned,
    preimages: &BTreeMap<[u8; 32], [u8; 32]>,
    source: &str,
) -> Result<ChannelView, RecoveryError> {
    let id0 = hex::decode(id0_hex).map_err(|e| invalid(source, key, format!("id0: {e}")))?;
    let entry: ChannelEntry =
        serde_json::from_slice(&v.value).map_err(|e| invalid(source, key, e))?;
    let es = &entry.enforcement_state;
    // The compact secret store's slots are crate-private in vls-core; read
    // them from the same JSON vls-core wrote.
    let counterparty_secrets = match &es.counterparty_secrets {
        None => Vec::new(),
        Some(s) => {
            let j: SecretsJson = serde_json::to_value(s)
                .and_then(serde_json::from_value)
                .map_err(|e| invalid(source, key, format!("counterparty_secrets: {e}")))?;
            j.old_secrets
                .into_iter()
                // Zeroed slots are padding, not secrets.
                .filter(|(secret, _)| secret.iter().any(|b| *b != 0))
                .map(|(secret, index)| SecretView {
                    index,
                    secret: hex::encode(secret),
                })
                .collect()
        }
    };
    let setup = entry.channel_setup.as_ref();
    let status = match (setup, es.channel_closed) {
        (None, _) => ChannelStatus::Stub,
        (Some(_), true) => ChannelStatus::Closed,
        (Some(_), false) => ChannelStatus::Open,
    };
    Ok(ChannelView {
        key: key.to_string(),
        version: v.version,
        id0: id0_hex.to_string(),
        origin: origin(&id0),
        channel_id: entry.id.as_ref().map(|i| hex::encode(i.as_slice())),
        status,
        capacity_sat: entry.channel_value_satoshis,
        funding_outpoint: setup.map(|s| s.funding_outpoint.to_string()),
        commitment_type: setup.map(|s| commitment_type_name(&s.commitment_type).to_string()),
        is_outbound: setup.map(|s| s.is_outbound),
        push_msat: setup.map(|s| s.push_value_msat),
        holder_selected_contest_delay: setup.map(|s| s.holder_selected_contest_delay),
        counterparty_selected_contest_delay: setup.map(|s| s.counterparty_selected_contest_delay),
        counterparty_points: setup.map(|s| {
            let p = &s.counterparty_points;
            PointsView {
                funding: hex::encode(p.funding_pubkey.serialize()),
                revocation: hex::encode(p.revocation_basepoint.0.serialize()),
                payment: hex::encode(p.payment_point.serialize()),
                delayed_payment: hex::encode(p.delayed_payment_basepoint.0.serialize()),
                htlc: hex::encode(p.htlc_basepoint.0.serialize()),
            }
        }),
        next_holder_commit_num: es.next_holder_commit_num,
        next_counterparty_commit_num: es.next_counterparty_commit_num,
        next_counterparty_revoke_num: es.next_counterparty_revoke_num,
        counterparty_secrets,
        to_holder_sat: es
            .current_holder_commit_info
            .as_ref()
            .map(|c| c.to_broadcaster_value_sat),
        to_counterparty_sat: es
            .current_holder_commit_info
            .as_ref()
            .map(|c| c.to_countersigner_value_sat),
        htlcs: htlcs(
            es.current_holder_commit_info.as_ref(),
            es.current_counterparty_commit_info.as_ref(),
            preimages,
        ),
        blockheight: entry.blockheight,
    })
}
