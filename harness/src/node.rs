//! The Lightning node seam: what a scenario can ask of any node. `LdkNode`
//! (our lnnode, LDK) and `ClnNode` (Core Lightning over its JSON-RPC)
//! implement it.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Who holds a node's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignerChoice {
    /// A vlsd container (`vlsd-<node>`) signs every request.
    Vlsd,
    /// The node's own keys (LDK KeysManager).
    Local,
}

/// Which Lightning implementation a node runs.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// lnnode: LDK, this workspace's node.
    #[default]
    Lnnode,
    /// Core Lightning (lightningd), built from its release source.
    Cln,
}

impl std::fmt::Display for NodeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NodeKind::Lnnode => "lnnode",
            NodeKind::Cln => "cln",
        })
    }
}

pub use lnnode_api::{
    Balance, Channel as ChannelSummary, ChannelState, Event as NodeEvent, Htlc, HtlcDirection,
    Info as NodeInfo, Invoice, Payment, PaymentStatus,
};

/// A Lightning node under test. Every method is one request to the node;
/// none retries on its own, so a fault shows as an error, not a delay.
pub trait Node: Send + Sync {
    /// The node's name in the run (container hostname), e.g. `alice`.
    fn name(&self) -> &str;
    fn info(&self) -> BoxFuture<'_, Result<NodeInfo>>;
    /// Connects to `node_id` at `host:port` (a name on the run network).
    fn connect<'a>(&'a self, node_id: &'a str, addr: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Opens a channel; returns the temporary channel id.
    fn open_channel<'a>(&'a self, node_id: &'a str, sat: u64) -> BoxFuture<'a, Result<String>>;
    fn channels(&self) -> BoxFuture<'_, Result<Vec<ChannelSummary>>>;
    fn close_channel<'a>(&'a self, channel_id: &'a str) -> BoxFuture<'a, Result<()>>;
    fn force_close_channel<'a>(&'a self, channel_id: &'a str) -> BoxFuture<'a, Result<()>>;
    /// A BOLT11 invoice; with `hold_hash`, a hold invoice for that payment hash.
    fn invoice<'a>(
        &'a self,
        msat: u64,
        hold_hash: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Invoice>>;
    fn settle<'a>(&'a self, payment_hash: &'a str, preimage: &'a str) -> BoxFuture<'a, Result<()>>;
    fn fail<'a>(&'a self, payment_hash: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Starts paying; the outcome arrives as `PaymentSent` or `PaymentFailed`.
    fn pay<'a>(&'a self, invoice: &'a str) -> BoxFuture<'a, Result<String>>;
    fn payments(&self) -> BoxFuture<'_, Result<Vec<Payment>>>;
    fn balance(&self) -> BoxFuture<'_, Result<Balance>>;
    fn new_address(&self) -> BoxFuture<'_, Result<String>>;
    /// Waits for the first event after the last one consumed that `pred`
    /// accepts; events it skips are consumed. `what` names it in the timeout error.
    fn wait_event<'a>(
        &'a self,
        what: &'a str,
        timeout: Duration,
        pred: &'a (dyn Fn(&NodeEvent) -> bool + Send + Sync),
    ) -> BoxFuture<'a, Result<NodeEvent>>;
}
