//! Lightning fixtures for container tests: fund a node's wallet, open a
//! channel to usable, pay an invoice and wait for both ends to see it.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use harness::node::{ChannelState, ChannelSummary, Node, NodeEvent, PaymentStatus};
use harness::report::RunReport;
use harness::{Cluster, LdkNode};

/// How long one Lightning step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(90);

/// Sends `sat` from bitcoind's wallet to `node`'s wallet and confirms it.
pub async fn fund(cluster: &Cluster, node: &LdkNode, sat: u64) -> Result<()> {
    let addr = node.new_address().await?;
    let b = cluster.bitcoind()?;
    b.send_to(&addr, sat).await?;
    b.mine(1).await?;
    harness::wait::until(
        &format!("{}: wallet funded with {sat} sat", node.name()),
        STEP,
        || async {
            let bal = node.balance().await.map_err(|e| e.to_string())?;
            if bal.wallet_trusted_sat >= sat {
                Ok(())
            } else {
                Err(format!("wallet has {} sat", bal.wallet_trusted_sat))
            }
        },
    )
    .await?;
    Ok(())
}

/// Connects `from` to `to`, opens a channel of `sat`, mines 6 blocks and
/// waits until both sides see it ready. Returns the channel as `from` sees it.
pub async fn open_channel(
    cluster: &Cluster,
    from: &LdkNode,
    to: &LdkNode,
    sat: u64,
) -> Result<ChannelSummary> {
    let to_info = to.info().await?;
    from.connect(&to_info.node_id, &to.p2p_addr()).await?;
    from.open_channel(&to_info.node_id, sat).await?;
    let pending = from
        .wait_event("channel pending", STEP, &|e| {
            matches!(e, NodeEvent::ChannelPending { .. })
        })
        .await?;
    let NodeEvent::ChannelPending { channel_id, .. } = pending else {
        bail!("unexpected event {pending:?}");
    };
    cluster.bitcoind()?.mine(6).await?;
    let is_ready = |e: &NodeEvent| matches!(e, NodeEvent::ChannelReady { .. });
    from.wait_event("channel ready", STEP, &is_ready).await?;
    to.wait_event("channel ready", STEP, &is_ready).await?;
    let channel = harness::wait::until(
        &format!("{}: channel {channel_id} usable", from.name()),
        STEP,
        || async {
            let chans = from.channels().await.map_err(|e| e.to_string())?;
            match chans.into_iter().find(|c| c.channel_id == channel_id) {
                Some(c) if c.state == ChannelState::Usable => Ok(c),
                Some(c) => Err(format!("state {:?}", c.state)),
                None => Err("channel not listed".to_string()),
            }
        },
    )
    .await?;
    Ok(channel)
}

/// Outcome of one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paid {
    Sent {
        payment_hash: String,
    },
    Failed {
        payment_hash: String,
        reason: String,
    },
}

/// `to` issues an invoice for `msat`, `from` pays it; waits for the payer's
/// outcome and, on success, for the payee's receipt. Returns the outcome and latency.
pub async fn pay(from: &LdkNode, to: &LdkNode, msat: u64) -> Result<(Paid, Duration)> {
    let invoice = to.invoice(msat, None).await?;
    let started = Instant::now();
    let hash = from.pay(&invoice.invoice).await?;
    let h = hash.clone();
    let outcome = from
        .wait_event("payment outcome", STEP, &move |e| match e {
            NodeEvent::PaymentSent { payment_hash, .. }
            | NodeEvent::PaymentFailed { payment_hash, .. } => payment_hash == &h,
            _ => false,
        })
        .await?;
    let took = started.elapsed();
    match outcome {
        NodeEvent::PaymentSent { .. } => {
            let h = hash.clone();
            to.wait_event("payment received", STEP, &move |e| {
                matches!(e, NodeEvent::PaymentReceived { payment_hash, .. } if payment_hash == &h)
            })
            .await?;
            Ok((Paid::Sent { payment_hash: hash }, took))
        }
        NodeEvent::PaymentFailed { reason, .. } => Ok((
            Paid::Failed {
                payment_hash: hash,
                reason,
            },
            took,
        )),
        other => bail!("unexpected event {other:?}"),
    }
}

/// The single channel between two nodes, as `node` sees it.
pub async fn only_channel(node: &LdkNode) -> Result<ChannelSummary> {
    let mut chans = node.channels().await?;
    if chans.len() != 1 {
        bail!("{} has {} channels, expected 1", node.name(), chans.len());
    }
    chans.pop().context("one channel")
}

/// Mines a block at a time until, for two blocks in a row, no node has
/// anything left to claim on chain, to sweep, or unconfirmed in its wallet.
/// (Two, because LDK hands an output from its monitor to its sweeper through
/// an event, and for a moment neither reports it.) Returns blocks mined.
pub async fn mine_until_settled(
    cluster: &Cluster,
    nodes: &[&LdkNode],
    max_blocks: u32,
) -> Result<u32> {
    let b = cluster.bitcoind()?;
    let mut mined = 0;
    let mut quiet = 0;
    loop {
        let mut pending = Vec::new();
        for n in nodes {
            let bal = n.balance().await?;
            if bal.claimable_onchain_sat + bal.sweeping_sat + bal.wallet_pending_sat > 0 {
                pending.push(format!(
                    "{}: claimable {} sat, sweeping {} sat, unconfirmed {} sat",
                    n.name(),
                    bal.claimable_onchain_sat,
                    bal.sweeping_sat,
                    bal.wallet_pending_sat
                ));
            }
        }
        quiet = if pending.is_empty() { quiet + 1 } else { 0 };
        if quiet == 2 {
            return Ok(mined);
        }
        if mined == max_blocks {
            bail!(
                "not settled after {max_blocks} blocks: {}",
                pending.join("; ")
            );
        }
        b.mine(1).await?;
        mined += 1;
        wait_synced(cluster, nodes).await?;
    }
}

/// Waits until every node's chain view has reached bitcoind's tip.
pub async fn wait_synced(cluster: &Cluster, nodes: &[&LdkNode]) -> Result<()> {
    let tip = cluster.bitcoind()?.height().await?;
    for n in nodes {
        harness::wait::until(
            &format!("{}: synced to height {tip}", n.name()),
            STEP,
            || async {
                let info = n.info().await.map_err(|e| e.to_string())?;
                if u64::from(info.block_height) >= tip {
                    Ok(())
                } else {
                    Err(format!("at height {}", info.block_height))
                }
            },
        )
        .await?;
    }
    Ok(())
}

/// Every payment a node knows of has a final status.
pub async fn assert_no_pending(node: &LdkNode) -> Result<()> {
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

/// Waits until `node`'s channels carry no HTLC: a payment's outcome arrives
/// before the last commitment update that removes its HTLC.
pub async fn wait_no_htlcs(node: &LdkNode) -> Result<Vec<ChannelSummary>> {
    let chans = harness::wait::until(
        &format!("{}: no HTLC left in any channel", node.name()),
        STEP,
        || async {
            let chans = node.channels().await.map_err(|e| e.to_string())?;
            let n: usize = chans.iter().map(|c| c.pending_htlcs.len()).sum();
            if n == 0 {
                Ok(chans)
            } else {
                Err(format!("{n} HTLCs pending"))
            }
        },
    )
    .await?;
    Ok(chans)
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
        report.push("stack up", self.stack_up);
        report.push("channel open to usable", self.open_to_usable);
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

    pub fn alice(&self) -> Result<&LdkNode> {
        Ok(self.cluster.node("alice")?)
    }

    pub fn bob(&self) -> Result<&LdkNode> {
        Ok(self.cluster.node("bob")?)
    }
}

/// A preimage and its payment hash (hex), drawn from a seeded RNG so a run replays.
pub fn preimage(rng: &mut impl rand::RngCore) -> (String, String) {
    use sha2::Digest;
    let mut p = [0u8; 32];
    rng.fill_bytes(&mut p);
    let h = sha2::Sha256::digest(p);
    (hex::encode(p), hex::encode(h))
}

/// Payments whose outcome has not arrived yet, by payment hash.
pub fn is_closed_event(e: &NodeEvent) -> bool {
    matches!(e, NodeEvent::ChannelClosed { .. })
}

/// `payee` issues a hold invoice for `msat` with a fresh preimage, `payer`
/// pays it, and the call returns once `payee` holds the HTLC. Returns
/// (preimage, payment hash), both hex.
pub async fn hold_htlc(
    payee: &LdkNode,
    payer: &LdkNode,
    msat: u64,
    rng: &mut impl rand::RngCore,
) -> Result<(String, String)> {
    let (preimage, hash) = preimage(rng);
    let invoice = payee.invoice(msat, Some(&hash)).await?;
    if !invoice.hold {
        bail!("{}: invoice for {hash} is not a hold invoice", payee.name());
    }
    payer.pay(&invoice.invoice).await?;
    let h = hash.clone();
    payee
        .wait_event("HTLC held", STEP, &move |e| {
            matches!(e, NodeEvent::HtlcAccepted { payment_hash, .. } if payment_hash == &h)
        })
        .await?;
    Ok((preimage, hash))
}
