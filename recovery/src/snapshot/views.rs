//! The typed views of a snapshot: the node, its channels, the allowlist and
//! the chain tracker, as people, `diff` and anti-rollback read them, and
//! the store entries they are derived from.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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
