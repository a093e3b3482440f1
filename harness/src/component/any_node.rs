//! A cluster's Lightning node, whichever implementation it runs: the
//! [`Node`] seam plus what every node kind has (a container, a signer, a
//! p2p address, events to watch). What only lnnode can do (signer
//! breakpoints, a cheater's stash) says so when asked of another kind.

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::cln::{ClnNode, ClnPayRequest};
use super::lnnode::{EventCursor, LdkNode, PayRequest as LdkPayRequest};
use crate::container::Container;
use crate::error::{HarnessError, Result};
use crate::node::{
    Balance, ChannelSummary, Invoice, Node, NodeEvent, NodeInfo, NodeKind, Payment, SignerChoice,
};

// A cluster holds a handful of nodes, each for the whole run: the size of
// the larger variant does not matter, and boxing it would only add a hop.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum AnyNode {
    Ldk(LdkNode),
    Cln(ClnNode),
}

/// A payment to send from a task of its own, so a step can go on while
/// the node is stuck on its signer.
#[allow(clippy::large_enum_variant)]
pub enum PayRequest {
    Ldk(LdkPayRequest),
    Cln(ClnPayRequest),
}

impl PayRequest {
    /// Sends it; the payment hash the node answers with.
    pub async fn send(self) -> Result<String> {
        match self {
            PayRequest::Ldk(r) => r.send().await,
            PayRequest::Cln(r) => r.send().await,
        }
    }
}

macro_rules! each {
    ($self:expr, $n:ident => $e:expr) => {
        match $self {
            AnyNode::Ldk($n) => $e,
            AnyNode::Cln($n) => $e,
        }
    };
}

impl AnyNode {
    pub fn kind(&self) -> NodeKind {
        match self {
            AnyNode::Ldk(_) => NodeKind::Lnnode,
            AnyNode::Cln(_) => NodeKind::Cln,
        }
    }

    pub fn container(&self) -> &Container {
        each!(self, n => n.container())
    }

    pub fn signer(&self) -> SignerChoice {
        each!(self, n => n.signer())
    }

    /// `<name>:9735` on the run network.
    pub fn p2p_addr(&self) -> String {
        each!(self, n => n.p2p_addr())
    }

    /// Waits until the node answers (with vlsd: vlsd connected too).
    pub async fn wait_ready(&self) -> Result<NodeInfo> {
        each!(self, n => n.wait_ready().await)
    }

    /// Events after `cursor`, independent of [`Node::wait_event`]'s own.
    pub async fn poll_events(
        &self,
        cursor: &mut EventCursor,
        timeout: Duration,
    ) -> Result<Vec<NodeEvent>> {
        each!(self, n => n.poll_events(cursor, timeout).await)
    }

    pub fn pay_request(&self, invoice: &str) -> PayRequest {
        match self {
            AnyNode::Ldk(n) => PayRequest::Ldk(n.pay_request(invoice)),
            AnyNode::Cln(n) => PayRequest::Cln(n.pay_request(invoice)),
        }
    }

    /// The lnnode behind it, for what only lnnode does; `what` names the
    /// step or feature in the error.
    pub fn ldk(&self, what: &str) -> Result<&LdkNode> {
        match self {
            AnyNode::Ldk(n) => Ok(n),
            other => Err(HarnessError::component(
                other.name(),
                format!(
                    "{what} needs an lnnode node; `{}` runs {}",
                    other.name(),
                    other.kind()
                ),
            )),
        }
    }

    /// The Core Lightning node behind it, for what only Core Lightning
    /// does; `what` names the step or feature in the error.
    pub fn cln(&self, what: &str) -> Result<&ClnNode> {
        match self {
            AnyNode::Cln(n) => Ok(n),
            other => Err(HarnessError::component(
                other.name(),
                format!(
                    "{what} needs a Core Lightning node; `{}` runs {}",
                    other.name(),
                    other.kind()
                ),
            )),
        }
    }
}

impl Node for AnyNode {
    fn name(&self) -> &str {
        each!(self, n => n.name())
    }
    fn info(&self) -> BoxFuture<'_, Result<NodeInfo>> {
        each!(self, n => n.info())
    }
    fn connect<'a>(&'a self, node_id: &'a str, addr: &'a str) -> BoxFuture<'a, Result<()>> {
        each!(self, n => n.connect(node_id, addr))
    }
    fn open_channel<'a>(&'a self, node_id: &'a str, sat: u64) -> BoxFuture<'a, Result<String>> {
        each!(self, n => n.open_channel(node_id, sat))
    }
    fn channels(&self) -> BoxFuture<'_, Result<Vec<ChannelSummary>>> {
        each!(self, n => n.channels())
    }
    fn close_channel<'a>(&'a self, channel_id: &'a str) -> BoxFuture<'a, Result<()>> {
        each!(self, n => n.close_channel(channel_id))
    }
    fn force_close_channel<'a>(&'a self, channel_id: &'a str) -> BoxFuture<'a, Result<()>> {
        each!(self, n => n.force_close_channel(channel_id))
    }
    fn invoice<'a>(
        &'a self,
        msat: u64,
        hold_hash: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Invoice>> {
        each!(self, n => n.invoice(msat, hold_hash))
    }
    fn settle<'a>(&'a self, payment_hash: &'a str, preimage: &'a str) -> BoxFuture<'a, Result<()>> {
        each!(self, n => n.settle(payment_hash, preimage))
    }
    fn fail<'a>(&'a self, payment_hash: &'a str) -> BoxFuture<'a, Result<()>> {
        each!(self, n => n.fail(payment_hash))
    }
    fn pay<'a>(&'a self, invoice: &'a str) -> BoxFuture<'a, Result<String>> {
        each!(self, n => n.pay(invoice))
    }
    fn payments(&self) -> BoxFuture<'_, Result<Vec<Payment>>> {
        each!(self, n => n.payments())
    }
    fn balance(&self) -> BoxFuture<'_, Result<Balance>> {
        each!(self, n => n.balance())
    }
    fn new_address(&self) -> BoxFuture<'_, Result<String>> {
        each!(self, n => n.new_address())
    }
    fn wait_event<'a>(
        &'a self,
        what: &'a str,
        timeout: Duration,
        pred: &'a (dyn Fn(&NodeEvent) -> bool + Send + Sync),
    ) -> BoxFuture<'a, Result<NodeEvent>> {
        each!(self, n => n.wait_event(what, timeout, pred))
    }
}
