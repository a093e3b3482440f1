//! Lightning fixtures for container tests: fund a node's wallet, open a
//! channel to usable, pay an invoice and wait for both ends to see it.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use harness::node::{ChannelSummary, Node, NodeEvent, PaymentStatus};
use harness::report::{Phase, RunReport};
use harness::{AnyNode, Cluster};

pub use harness::lightning::STEP;

/// Sends `sat` from bitcoind's wallet to `node`'s wallet and confirms it.
pub async fn fund(cluster: &Cluster, node: &AnyNode, sat: u64) -> Result<()> {
    Ok(harness::lightning::fund(cluster, node, sat).await?)
}

/// Connects `from` to `to`, opens a channel of `sat`, mines 6 blocks and
/// waits until both sides see it usable. Returns the channel as `from` sees it.
pub async fn open_channel(
    cluster: &Cluster,
    from: &AnyNode,
    to: &AnyNode,
    sat: u64,
) -> Result<ChannelSummary> {
    Ok(harness::lightning::open_channel(cluster, from, to, sat).await?)
}

pub use harness::lightning::Paid;

/// `to` issues an invoice for `msat`, `from` pays it; waits for the payer's
/// outcome and, on success, for the payee's receipt. Returns the outcome and latency.
pub async fn pay(from: &AnyNode, to: &AnyNode, msat: u64) -> Result<(Paid, Duration)> {
    let started = Instant::now();
    let outcome = harness::lightning::pay(from, to, msat).await?;
    Ok((outcome, started.elapsed()))
}

/// The single channel between two nodes, as `node` sees it.
pub async fn only_channel(node: &AnyNode) -> Result<ChannelSummary> {
    let mut chans = node.channels().await?;
    if chans.len() != 1 {
        bail!("{} has {} channels, expected 1", node.name(), chans.len());
    }
    chans.pop().context("one channel")
}

/// See [`harness::lightning::mine_until_settled`].
pub async fn mine_until_settled(
    cluster: &Cluster,
    nodes: &[&AnyNode],
    max_blocks: u32,
) -> Result<u32> {
    Ok(harness::lightning::mine_until_settled(cluster, nodes, max_blocks).await?)
}

/// Waits until every node's chain view has reached bitcoind's tip.
pub async fn wait_synced(cluster: &Cluster, nodes: &[&AnyNode]) -> Result<()> {
    Ok(harness::lightning::wait_synced(cluster, nodes).await?)
}

/// Every payment a node knows of has a final status.
pub async fn assert_no_pending(node: &AnyNode) -> Result<()> {
    let stuck: Vec<_> = node
        .payments()
        .await?
        .into_iter()
        .filter(|p| matches!(p.status, PaymentStatus::Pending | PaymentStatus::Held))
        .collect();
    if !stuck.is_empty() {
        bail!("{} has unfinished payments: {stuck:?}", node.name());
    }
    Ok(())
}

/// Waits until `node`'s channels carry no HTLC.
pub async fn wait_no_htlcs(node: &AnyNode) -> Result<Vec<ChannelSummary>> {
    Ok(harness::lightning::wait_no_htlcs(node).await?)
}

/// The standard pair: alice signing through vlsd, bob with local keys, and a
/// 1,000,000 sat channel alice opened and funded. `push_to_bob_sat` is paid
/// to bob first so he can spend (above his 1% reserve).
pub struct Pair {
    pub cluster: Cluster,
    pub channel_id: String,
    pub stack_up: Duration,
    pub open_to_usable: Duration,
}

impl Pair {
    /// A run report that starts with the pair's own timings.
    pub fn report(&self, name: &str) -> RunReport {
        let mut report = RunReport::new(name, self.cluster.run_id(), self.cluster.run_dir());
        report.push("stack up", self.stack_up, Phase::ClusterUp);
        report.push("channel open to usable", self.open_to_usable, Phase::Setup);
        report
    }

    pub async fn start(push_to_bob_sat: u64) -> Result<Pair> {
        let t = Instant::now();
        let cluster = Cluster::builder()
            .bitcoind()
            .node("alice", harness::SignerChoice::Vlsd)
            .node("bob", harness::SignerChoice::Local)
            .start()
            .await?;
        let stack_up = t.elapsed();
        cluster.bitcoind()?.mine(101).await?;
        let (alice, bob) = (cluster.node("alice")?, cluster.node("bob")?);
        fund(&cluster, alice, 2_000_000).await?;
        let t = Instant::now();
        let channel = open_channel(&cluster, alice, bob, 1_000_000).await?;
        let open_to_usable = t.elapsed();
        if push_to_bob_sat > 0 {
            let (paid, _) = pay(alice, bob, push_to_bob_sat * 1000).await?;
            if !matches!(paid, Paid::Sent { .. }) {
                bail!("pushing {push_to_bob_sat} sat to bob: {paid:?}");
            }
            wait_no_htlcs(alice).await?;
        }
        Ok(Pair {
            cluster,
            channel_id: channel.channel_id,
            stack_up,
            open_to_usable,
        })
    }

    pub fn alice(&self) -> Result<&AnyNode> {
        Ok(self.cluster.node("alice")?)
    }

    pub fn bob(&self) -> Result<&AnyNode> {
        Ok(self.cluster.node("bob")?)
    }
}

pub use harness::lightning::preimage;

/// Payments whose outcome has not arrived yet, by payment hash.
pub fn is_closed_event(e: &NodeEvent) -> bool {
    matches!(e, NodeEvent::ChannelClosed { .. })
}

/// `payee` issues a hold invoice for `msat` with a fresh preimage, `payer`
/// pays it, and the call returns once `payee` holds the HTLC. Returns
/// (preimage, payment hash), both hex.
pub async fn hold_htlc(
    payee: &AnyNode,
    payer: &AnyNode,
    msat: u64,
    rng: &mut impl rand::RngCore,
) -> Result<(String, String)> {
    let (preimage, hash) = preimage(rng);
    harness::lightning::hold_htlc(payee, payer, msat, &hash).await?;
    Ok((preimage, hash))
}
