//! The Lightning node seam: what a scenario can ask of any node. `LdkNode`
//! (our lnnode) implements it today; a Core Lightning adapter over `cln-rpc`
//! would implement the same trait.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Who holds a node's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignerChoice {
    /// A vlsd container (`vlsd-<node>`) signs every request.
    Vlsd,
    /// The node's own keys (LDK KeysManager).
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NodeInfo {
    pub node_id: String,
    pub network: String,
    pub signer: String,
    pub block_height: u32,
    pub channels: usize,
    pub peers: usize,
    pub sweep_address: String,
    pub p2p_port: u16,
    pub started_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Htlc {
    pub direction: String,
    pub amount_msat: u64,
    pub payment_hash: String,
    pub cltv_expiry: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChannelSummary {
    pub channel_id: String,
    pub counterparty: String,
    pub funding_txo: Option<String>,
    pub capacity_sat: u64,
    /// `pending`, `ready` or `usable`.
    pub state: String,
    pub is_outbound: bool,
    pub local_balance_msat: u64,
    pub outbound_capacity_msat: u64,
    pub inbound_capacity_msat: u64,
    pub confirmations: Option<u32>,
    pub pending_htlcs: Vec<Htlc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Balance {
    pub wallet_trusted_sat: u64,
    pub wallet_pending_sat: u64,
    pub claimable_onchain_sat: u64,
    pub sweeping_sat: u64,
    pub channels_local_msat: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Invoice {
    pub invoice: String,
    pub payment_hash: String,
    pub hold: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Held,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Payment {
    pub payment_hash: String,
    pub direction: String,
    pub status: PaymentStatus,
    pub amount_msat: Option<u64>,
    pub fee_msat: Option<u64>,
    pub hold: bool,
    pub failure: Option<String>,
}

/// Node events a scenario waits on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeEvent {
    ChannelPending {
        channel_id: String,
        counterparty: String,
        funding_txo: String,
    },
    ChannelReady {
        channel_id: String,
        counterparty: String,
    },
    ChannelClosed {
        channel_id: String,
        reason: String,
    },
    HtlcAccepted {
        payment_hash: String,
        amount_msat: u64,
        claim_deadline: Option<u32>,
    },
    PaymentReceived {
        payment_hash: String,
        amount_msat: u64,
    },
    PaymentSent {
        payment_hash: String,
        fee_msat: Option<u64>,
    },
    PaymentFailed {
        payment_hash: String,
        reason: String,
    },
    SpendableOutputs {
        channel_id: Option<String>,
        outputs: usize,
    },
}

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
