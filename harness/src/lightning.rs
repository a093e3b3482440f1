//! Lightning building blocks the runner's steps (and hand-written tests) use:
//! fund a wallet, open a channel to usable, pay and wait for both ends, hold
//! an HTLC, mine until nothing is left to claim. Every wait names what it
//! waited for.

use std::time::Duration;

use crate::cluster::Cluster;
use crate::component::AnyNode;
use crate::error::{HarnessError, Result};
use crate::node::{ChannelState, ChannelSummary, Node, NodeEvent, PaymentStatus};
use crate::settle;
use crate::wait;

/// How long one Lightning step may take before it counts as stuck.
pub const STEP: Duration = Duration::from_secs(90);

/// Waits until `node`'s wallet holds at least `sat`, confirmed.
pub async fn wait_funded(node: &AnyNode, sat: u64) -> Result<()> {
    wait::until(
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
    .await
}

/// Sends `sat` from bitcoind's wallet to `node`'s wallet as one new coin and
/// confirms it.
pub async fn fund(cluster: &Cluster, node: &AnyNode, sat: u64) -> Result<()> {
    let before = node.balance().await?.wallet_trusted_sat;
    let addr = node.new_address().await?;
    let b = cluster.bitcoind()?;
    b.send_to(&addr, sat).await?;
    b.mine(1).await?;
    wait_funded(node, before + sat).await
}

/// Connects `from` to `to` and opens a channel of `sat`; returns the
/// channel id once the funding transaction is in bitcoind's mempool (or
/// chain), so blocks mined next confirm it.
pub async fn open_pending(cluster: &Cluster, from: &str, to: &str, sat: u64) -> Result<String> {
    let temporary = request_open(cluster, from, to, sat).await?;
    let f = cluster.node(from)?;
    // Match this request's channel: an earlier open to the same peer (one
    // a fault interrupted) can turn pending now too.
    let pending = f
        .wait_event("channel pending", STEP, &|e| {
            matches!(e, NodeEvent::ChannelPending { temporary_channel_id: Some(t), .. } if *t == temporary)
        })
        .await?;
    let NodeEvent::ChannelPending {
        channel_id,
        funding_txo,
        ..
    } = pending
    else {
        return Err(HarnessError::component(
            from,
            format!("unexpected event {pending:?}"),
        ));
    };
    let (txid, vout) = funding_txo
        .split_once(':')
        .and_then(|(t, v)| Some((t.to_string(), v.parse::<u32>().ok()?)))
        .ok_or_else(|| {
            HarnessError::component(
                from,
                format!("funding outpoint `{funding_txo}`: expected txid:vout"),
            )
        })?;
    // LDK reports the channel pending as it hands the funding transaction to
    // the node's broadcaster, which sends it a moment later.
    let b = cluster.bitcoind()?;
    wait::until(
        &format!("{from}: funding transaction {funding_txo} in bitcoind"),
        STEP,
        || async {
            match b.has_output(&txid, vout).await {
                Ok(true) => Ok(()),
                Ok(false) => Err("not in the mempool or chain yet".to_string()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await?;
    Ok(channel_id)
}

/// Connects `from` to `to` and asks it to open a channel; returns the
/// temporary channel id while the two negotiate.
pub async fn request_open(cluster: &Cluster, from: &str, to: &str, sat: u64) -> Result<String> {
    let (f, t) = (cluster.node(from)?, cluster.node(to)?);
    let to_info = t.info().await?;
    f.connect(&to_info.node_id, &t.p2p_addr()).await?;
    f.open_channel(&to_info.node_id, sat).await
}

/// Waits until `node`'s VLS frontend has fed vlsd every block up to
/// bitcoind's tip. vlsd checks funding depth against its own view of the
/// chain, so a node whose signer still lags cannot use a channel its
/// LDK already calls usable; a fault that starts then (packet loss on the
/// node) would hold the signer back for as long as it lasts.
pub async fn wait_signer_chain_synced(cluster: &Cluster, node: &str) -> Result<()> {
    let tip = cluster.bitcoind()?.height().await?;
    let container = cluster.container(node)?;
    wait::until(
        &format!("{node}: vlsd's chain view at height {tip}"),
        STEP,
        || async {
            match frontend_height(&container.log_text().await) {
                Some(h) if h >= tip => Ok(()),
                Some(h) => Err(format!("at height {h}")),
                None => Err("no block fed to vlsd yet".to_string()),
            }
        },
    )
    .await
}

/// The highest block the node's VLS frontend reports vlsd synced to
/// (`... chain_follower: tracker 02ab.. synced at height 108`).
fn frontend_height(log: &str) -> Option<u64> {
    log.lines()
        .filter(|l| l.contains("chain_follower"))
        .filter_map(|l| l.split("synced at height ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .max()
}

/// Waits until both ends list channel `id` as usable (funding confirmed).
pub async fn wait_usable(
    cluster: &Cluster,
    from: &str,
    to: &str,
    id: &str,
) -> Result<ChannelSummary> {
    let mut out = None;
    for name in [from, to] {
        let n = cluster.node(name)?;
        out = Some(
            wait::until(&format!("{name}: channel {id} usable"), STEP, || async {
                let chans = n.channels().await.map_err(|e| e.to_string())?;
                match chans.into_iter().find(|c| c.channel_id == id) {
                    Some(c) if c.state == ChannelState::Usable => Ok(c),
                    Some(c) => Err(format!("state {:?}", c.state)),
                    None => Err("channel not listed".to_string()),
                }
            })
            .await?,
        );
    }
    out.ok_or_else(|| HarnessError::component(from, "no channel"))
}

/// Connects, opens, mines 6 blocks and waits until both sides can use the
/// channel. Returns it as `from` sees it.
pub async fn open_channel(
    cluster: &Cluster,
    from: &AnyNode,
    to: &AnyNode,
    sat: u64,
) -> Result<ChannelSummary> {
    let id = open_pending(cluster, from.name(), to.name(), sat).await?;
    cluster.bitcoind()?.mine(6).await?;
    wait_usable(cluster, to.name(), from.name(), &id).await
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
/// outcome and, on success, the payee's receipt.
pub async fn pay(from: &AnyNode, to: &AnyNode, msat: u64) -> Result<Paid> {
    let invoice = to.invoice(msat, None).await?;
    let hash = from.pay(&invoice.invoice).await?;
    let h = hash.clone();
    let outcome = from
        .wait_event("payment outcome", STEP, &move |e| match e {
            NodeEvent::PaymentSent { payment_hash, .. }
            | NodeEvent::PaymentFailed { payment_hash, .. } => payment_hash == &h,
            _ => false,
        })
        .await?;
    match outcome {
        NodeEvent::PaymentSent { .. } => {
            wait_payment_status(to, &hash, PaymentStatus::Succeeded, STEP).await?;
            Ok(Paid::Sent { payment_hash: hash })
        }
        NodeEvent::PaymentFailed { reason, .. } => Ok(Paid::Failed {
            payment_hash: hash,
            reason,
        }),
        other => Err(HarnessError::component(
            from.name(),
            format!("unexpected event {other:?}"),
        )),
    }
}

/// Waits until `node` lists payment `hash` with `status`.
pub async fn wait_payment_status(
    node: &AnyNode,
    hash: &str,
    status: PaymentStatus,
    limit: Duration,
) -> Result<()> {
    wait::until(
        &format!("{}: payment {hash} {status:?}", node.name()),
        limit,
        || async {
            let payments = node.payments().await.map_err(|e| e.to_string())?;
            match payments.iter().find(|p| p.payment_hash == hash) {
                Some(p) if p.status == status => Ok(()),
                Some(p) => Err(format!("status {:?}", p.status)),
                None => Err("not listed".to_string()),
            }
        },
    )
    .await
}

/// Waits until `node`'s channels carry no HTLC: a payment's outcome arrives
/// before the last commitment update that removes its HTLC.
pub async fn wait_no_htlcs(node: &AnyNode) -> Result<Vec<ChannelSummary>> {
    wait::until(
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
    .await
}

/// A preimage and its payment hash (hex), drawn from a seeded RNG so a run replays.
pub fn preimage(rng: &mut impl rand::RngCore) -> (String, String) {
    use sha2::Digest;
    let mut p = [0u8; 32];
    rng.fill_bytes(&mut p);
    let h = sha2::Sha256::digest(p);
    (hex::encode(p), hex::encode(h))
}

/// `payee` issues a hold invoice for `hash`, `payer` pays it; returns once
/// `payee` holds the HTLC.
pub async fn hold_htlc(payee: &AnyNode, payer: &AnyNode, msat: u64, hash: &str) -> Result<()> {
    let invoice = payee.invoice(msat, Some(hash)).await?;
    if !invoice.hold {
        return Err(HarnessError::component(
            payee.name(),
            format!("invoice for {hash} is not a hold invoice"),
        ));
    }
    payer.pay(&invoice.invoice).await?;
    wait_payment_status(payee, hash, PaymentStatus::Held, STEP).await
}

/// Waits until every node's chain view has reached bitcoind's tip.
pub async fn wait_synced(cluster: &Cluster, nodes: &[&AnyNode]) -> Result<()> {
    let tip = cluster.bitcoind()?.height().await?;
    for n in nodes {
        wait::until(
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

/// Like [`wait_synced`] for the nodes that are up: a node a fault took down
/// catches up when it returns, and that is the scenario's business.
pub async fn wait_synced_best_effort(cluster: &Cluster, nodes: &[&AnyNode]) {
    let mut up = Vec::new();
    for n in nodes {
        if n.container()
            .status()
            .await
            .is_ok_and(|s| s.running && !s.paused)
            && n.info().await.is_ok()
        {
            up.push(*n);
        }
    }
    if let Err(e) = wait_synced(cluster, &up).await {
        tracing::warn!(error = %e, "nodes did not catch up with the chain");
    }
}

/// How many blocks in a row settling may find exactly the same things
/// pending before it says nobody is acting on them: LDK claims what is due
/// within a block or two and then re-broadcasts with higher fees.
const STALLED_BLOCKS: u32 = 30;

/// Mines until no node has anything left on chain, to sweep, or
/// unconfirmed, and the mempool is empty (see [`settle::next`]): straight
/// to the block before the next height a balance waits for, then a block
/// at a time while anything is due. Returns the blocks mined.
/// Mines up to `blocks`, but no further than the live `nodes` need to
/// look (the block before the earliest height one of their claims waits
/// for, as settling would), then waits for them to catch up: a node that
/// finds its claim's height long past broadcasts late and, catching up
/// block by block, bumps its fee at each. Returns the blocks mined.
pub async fn mine_beside(cluster: &Cluster, nodes: &[&AnyNode], blocks: u64) -> Result<u64> {
    let b = cluster.bitcoind()?;
    let mut balances = Vec::new();
    for n in nodes {
        balances.push((n.name(), n.balance().await?));
    }
    let view: Vec<(&str, &lnnode_api::Balance)> = balances.iter().map(|(n, b)| (*n, b)).collect();
    let tip = b.height().await?;
    let blocks = match settle::next(tip, &view, 0, 1) {
        settle::Next::Mine { blocks: cap, .. } if !settle::pending(&view).is_empty() => {
            blocks.min(cap)
        }
        _ => blocks,
    }
    .max(1);
    b.mine(blocks).await?;
    wait_synced(cluster, nodes).await?;
    Ok(blocks)
}

pub async fn mine_until_settled(
    cluster: &Cluster,
    nodes: &[&AnyNode],
    max_blocks: u32,
) -> Result<u32> {
    let b = cluster.bitcoind()?;
    let mut mined: u64 = 0;
    let mut quiet = 0;
    // The same things pending, block after block: nobody is acting on them.
    let mut unchanged: (String, u32) = (String::new(), 0);
    loop {
        let mut balances = Vec::new();
        for n in nodes {
            balances.push((n.name(), n.balance().await?));
        }
        let view: Vec<(&str, &lnnode_api::Balance)> =
            balances.iter().map(|(n, b)| (*n, b)).collect();
        let tip = b.height().await?;
        let info: serde_json::Value = b.call("getmempoolinfo", vec![]).await?;
        let mempool = info["size"].as_u64().unwrap_or(0) as usize;
        let (blocks, why) = match settle::next(tip, &view, mempool, quiet) {
            settle::Next::Settled => return Ok(mined as u32),
            settle::Next::Mine { blocks, why } => (blocks, why),
        };
        quiet = if settle::pending(&view).is_empty() && mempool == 0 {
            quiet + 1
        } else {
            0
        };
        let left = u64::from(max_blocks) - mined;
        if left == 0 {
            return Err(HarnessError::Timeout {
                what: "nodes settled on chain".to_string(),
                after: Duration::ZERO,
                last: format!("after {max_blocks} blocks: {why}"),
            });
        }
        unchanged = if why == unchanged.0 {
            (why.clone(), unchanged.1 + 1)
        } else {
            (why.clone(), 0)
        };
        if unchanged.1 >= STALLED_BLOCKS {
            return Err(HarnessError::GaveUp {
                what: "nodes settled on chain".to_string(),
                after: Duration::ZERO,
                reason: format!(
                    "nothing changed in {STALLED_BLOCKS} blocks (at height {tip}, {mined} mined): {why}"
                ),
            });
        }
        let blocks = blocks.min(left);
        tracing::debug!(tip, blocks, why = %why, "settling");
        b.mine(blocks).await?;
        mined += blocks;
        wait_synced(cluster, nodes).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::frontend_height;

    #[test]
    fn frontend_height_is_the_highest_synced_line() {
        let log = "2026-11-22T01:40:01Z INFO vls_frontend::chain_follower: tracker 02ab synced at height 83\n\
                   2026-11-22T01:40:02Z INFO bitcoind_client::dummy: new block 84-00ff\n\
                   2026-11-22T01:40:02Z INFO vls_frontend::chain_follower: tracker 02ab synced at height 108\n";
        assert_eq!(frontend_height(log), Some(108));
        assert_eq!(frontend_height("INFO lnnode: vlsd connected\n"), None);
    }
}
