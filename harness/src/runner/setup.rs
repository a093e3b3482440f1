//! Before the steps: the cluster the topology asks for, then the chain's
//! first coins, the nodes' funds and the topology's channels.

use crate::cluster::ClusterBuilder;
use crate::error::{HarnessError, Result};
use crate::lightning;
use crate::node::{Node, SignerChoice};
use crate::report::event::RunEvent;
use crate::scenario::{ChannelSpec, Scenario};

use super::state::{Opened, World};

/// The components, and their changes (faketime, power-cut layer, small
/// disks, supervisors), that the scenario's topology and faults need.
pub fn cluster_builder(scenario: &Scenario) -> ClusterBuilder {
    let mut builder = ClusterBuilder::default();
    let topo = &scenario.topology;
    if topo.bitcoind {
        builder = builder.bitcoind();
    }
    for (name, signer) in &topo.nodes {
        builder = builder
            .node(name, *signer)
            .with_kind(name, topo.kind_of(name));
    }
    for (node, perkw) in &topo.feerates {
        builder = builder.with_feerate(node, *perkw);
    }
    for node in &topo.signers {
        builder = builder.signer(node);
    }
    for node in &topo.defer_restored_validation {
        builder = builder.with_deferred_validation(node);
    }
    for c in &topo.supervised {
        builder = builder.with_supervisor(c);
    }
    for c in scenario.skewed_components() {
        builder = builder.with_faketime(c);
    }
    for c in scenario.power_cut_components() {
        builder = builder.with_power_cut(c);
    }
    for d in &topo.disks {
        builder = builder.with_disk_mb(&d.component, d.size_mb);
    }
    builder
}

/// Mines the first coins, funds the nodes and opens the topology's
/// channels. Returns the height from which penalties are looked for.
pub async fn setup(scenario: &Scenario, world: &World<'_>) -> Result<u64> {
    let topo = &scenario.topology;
    if topo.sync_seed {
        for (_, signer) in world.cluster.signers() {
            if signer.container().buffers_writes() {
                signer.sync_seed().await?;
            }
        }
    }
    let Ok(b) = world.cluster.bitcoind() else {
        return Ok(0);
    };
    b.mine(101).await?;
    if topo.nodes.is_empty() {
        return b.height().await;
    }
    let nodes: Vec<_> = world.cluster.nodes().collect();
    let mut addrs = Vec::new();
    for n in &nodes {
        addrs.push(n.new_address().await?);
    }
    let mut funding = Vec::new();
    for a in &addrs {
        funding.push(b.send_to(a, topo.fund_sat).await?);
    }
    b.mine(1).await?;
    for (n, txid) in nodes.iter().zip(&funding) {
        b.ensure_confirmed(txid)
            .await
            .map_err(|e| HarnessError::Assertion(format!("setup: funding {}: {e}", n.name())))?;
    }
    for n in &nodes {
        lightning::wait_funded(n, topo.fund_sat).await?;
    }
    let start = b.height().await?;
    if !topo.channels.is_empty() {
        open_channels(world, &topo.channels).await?;
    }
    for (name, signer) in &topo.nodes {
        if *signer == SignerChoice::Vlsd {
            lightning::wait_signer_chain_synced(world.cluster, name).await?;
        }
    }
    Ok(start)
}

/// Opens every channel at once (one batch of confirmations), then pushes
/// what each asks to push to its other end.
async fn open_channels(world: &World<'_>, channels: &[ChannelSpec]) -> Result<()> {
    let cluster = world.cluster;
    let mut pending = Vec::new();
    for c in channels {
        let id = lightning::open_pending(cluster, &c.from, &c.to, c.capacity_sat).await?;
        pending.push((c, id));
    }
    cluster.bitcoind()?.mine(6).await?;
    for (c, id) in &pending {
        lightning::wait_usable(cluster, &c.from, &c.to, id).await?;
        world.state().channels.insert(
            c.name(),
            Opened {
                id: id.clone(),
                opener: c.from.clone(),
                peer: c.to.clone(),
            },
        );
        world.events.emit(RunEvent::Setup {
            text: format!("channel {} usable", c.name()),
            detail: Some(id.clone()),
        });
    }
    for (c, _) in &pending {
        if c.push_sat == 0 {
            continue;
        }
        let (from, to) = (cluster.node(&c.from)?, cluster.node(&c.to)?);
        let outcome = lightning::pay(from, to, c.push_sat * 1000).await?;
        if !matches!(outcome, lightning::Paid::Sent { .. }) {
            return Err(HarnessError::Assertion(format!(
                "setup: pushing {} sat over {}: {outcome:?}",
                c.push_sat,
                c.name()
            )));
        }
        lightning::wait_no_htlcs(from).await?;
        lightning::wait_no_htlcs(to).await?;
    }
    Ok(())
}
