//! Start-up, phase by phase. The order is LDK's: monitors are read before
//! the channel manager that needs them, every component is caught up with
//! the chain before it follows the tip and before peers can talk to it,
//! and the background processor (which handles events) starts last, once
//! the node it hands events to is whole.

mod base;
mod restore;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use lightning::ln::channelmanager::RecentPaymentDetails;
use lightning::ln::peer_handler::{IgnoringMessageHandler, MessageHandler};
use lightning::routing::gossip::P2PGossipSync;
use lightning::routing::utxo::UtxoLookup;
use lightning::util::ser::Writeable;

use self::base::Base;
use self::restore::{
    catch_up, chain_monitor, channel_manager, follow_chain, output_sweeper, read_monitors, routing,
    Routing,
};
use crate::bitcoind::Bitcoind;
use crate::chain;
use crate::clock::now_secs;
use crate::config::Config;
use crate::event;
use crate::event_log::EventLog;
use crate::ldk::{ChannelManager, GossipSync, PeerManager, Scorer};
use crate::monitors::MonitorWriter;
use crate::node::{Background, Node};
use crate::persist::JsonMap;
use crate::signer::Keys;
use lnnode_api::{Direction, PaymentStatus};

/// Starts everything and returns once the node is serving; the returned
/// future-less handles keep running on the current runtime.
pub async fn start(config: Config, keys: Arc<Keys>, bitcoind: Bitcoind) -> Result<Arc<Node>> {
    let base = base::setup(&bitcoind, &config.datadir).await?;
    let monitors = read_monitors(&base, &keys).await?;
    let monitor_writer = MonitorWriter::new(base.store.clone());
    let chain_monitor = chain_monitor(&base, &keys, &monitor_writer);
    let routing = routing(&base, &keys)?;

    let tip = bitcoind.tip().await?;
    let source = chain::block_source(&bitcoind);
    let (manager_block, channel_manager) =
        channel_manager(&base, &keys, &chain_monitor, &routing, &monitors, tip)?;
    let sweeper = output_sweeper(&base, &keys, tip)?;
    if let Some(manager_block) = manager_block {
        let manager = (manager_block, &*channel_manager);
        catch_up(&base, &source, manager, &sweeper, &chain_monitor, monitors).await?;
    }
    let poll = Duration::from_millis(config.chain_poll_ms.max(10));
    follow_chain(
        &base,
        source,
        &channel_manager,
        &chain_monitor,
        &sweeper,
        &bitcoind,
        poll,
    );
    let (gossip_sync, peer_manager) = peer_manager(&base, &keys, &channel_manager, &routing);

    let datadir = config.datadir.clone();
    let node = Arc::new(Node {
        network: base.network,
        bitcoind,
        keys,
        logger: base.logger,
        channel_manager,
        chain_monitor,
        peer_manager,
        sweeper,
        store: base.store,
        monitor_writer,
        events: EventLog::new(),
        payments: JsonMap::open(datadir.join("payments.json"))?,
        peers: JsonMap::open(datadir.join("peers.json"))?,
        sweep: base.sweep,
        started_at: now_secs(),
        config,
        background: Background::new(),
    });

    reconcile_payments(&node);
    start_monitor_writer(&node)?;
    serve_peers(&node).await?;
    spawn_background_processing(&node, gossip_sync, routing.scorer);

    tracing::info!(
        node_id = %node.node_id(),
        signer = node.config.signer.as_str(),
        height = tip.1,
        "node started"
    );
    Ok(node)
}

/// The peer manager is part of the node, so it is built before it; no peer
/// connects until `serve_peers`, once the node is whole.
fn peer_manager(
    base: &Base,
    keys: &Arc<Keys>,
    channel_manager: &Arc<ChannelManager>,
    routing: &Routing,
) -> (Arc<GossipSync>, Arc<PeerManager>) {
    let gossip_sync: Arc<GossipSync> = Arc::new(P2PGossipSync::new(
        routing.graph.clone(),
        None::<Arc<dyn UtxoLookup + Send + Sync>>,
        base.logger.clone(),
    ));
    let ephemeral: [u8; 32] = rand::random();
    let peer_manager: Arc<PeerManager> = Arc::new(PeerManager::new(
        MessageHandler {
            chan_handler: channel_manager.clone(),
            route_handler: gossip_sync.clone(),
            onion_message_handler: Arc::new(IgnoringMessageHandler {}),
            custom_message_handler: Arc::new(IgnoringMessageHandler {}),
            send_only_message_handler: Arc::new(IgnoringMessageHandler {}),
        },
        now_secs() as u32,
        &ephemeral,
        base.logger.clone(),
        keys.clone(),
    ));
    (gossip_sync, peer_manager)
}

/// Outbound payments our records call pending but LDK does not know after
/// a restart never left this node: it stopped after the payment was asked
/// for and before LDK's state with it was saved. No event will ever end
/// them, so they end here, before any new event can touch the records.
fn reconcile_payments(node: &Node) {
    let known: std::collections::HashSet<[u8; 32]> = node
        .channel_manager
        .list_recent_payments()
        .iter()
        .map(|p| match p {
            RecentPaymentDetails::Pending { payment_id, .. }
            | RecentPaymentDetails::Fulfilled { payment_id, .. }
            | RecentPaymentDetails::Abandoned { payment_id, .. }
            | RecentPaymentDetails::AwaitingInvoice { payment_id, .. } => payment_id.0,
        })
        .collect();
    for p in node.payments.values() {
        if p.direction != Direction::Outbound || p.status != PaymentStatus::Pending {
            continue;
        }
        let mut id = [0u8; 32];
        if hex::decode_to_slice(&p.payment_hash, &mut id).is_err() || known.contains(&id) {
            continue;
        }
        tracing::warn!(payment_hash = %p.payment_hash, "payment unknown to LDK after the restart: it was never sent");
        let result = node.payments.update(&p.payment_hash, |old| {
            let mut r = old.unwrap_or_else(|| p.clone());
            r.status = PaymentStatus::Failed;
            r.failure =
                Some("never sent: the node stopped before the payment was saved".to_string());
            r.updated_at = now_secs();
            r
        });
        if let Err(e) = result {
            tracing::error!(payment_hash = %p.payment_hash, error = %e, "cannot record the lost payment");
        }
    }
}

/// The writer saves the channel manager ahead of every monitor batch (see
/// `monitors`), so it can start only once the manager exists; updates
/// queued before then, from blocks already followed, wait for it.
fn start_monitor_writer(node: &Node) -> Result<()> {
    let (cm, chm) = (node.channel_manager.clone(), node.chain_monitor.clone());
    node.monitor_writer
        .start(
            move || cm.encode(),
            move |channel_id, update_id| {
                if let Err(e) = chm.channel_monitor_updated(channel_id, update_id) {
                    tracing::warn!(%channel_id, update_id, error = ?e, "monitor update completion not taken");
                }
            },
        )
        .context("starting the monitor writer")
}

/// Peer I/O: inbound connections, the peer manager's timer, and reconnects
/// to channel peers. Only now may peers talk to the node.
async fn serve_peers(node: &Arc<Node>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(node.config.p2p_listen)
        .await
        .with_context(|| format!("binding the p2p port {}", node.config.p2p_listen))?;
    let pm = node.peer_manager.clone();
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let pm = pm.clone();
                    if let Ok(std_stream) = stream.into_std() {
                        tokio::spawn(async move {
                            lightning_net_tokio::setup_inbound(pm, std_stream).await;
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "accepting a peer failed"),
            }
        }
    });
    let pm = node.peer_manager.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            pm.timer_tick_occurred();
        }
    });
    node.spawn_reconnect();
    Ok(())
}

/// Background processing: events (handed to `event::handle`), persistence,
/// timers, sweeps. It runs until `Node::shutdown` asks it to persist and
/// return; a failed persist stops the process, as LDK's state would
/// otherwise run ahead of what is saved.
fn spawn_background_processing(
    node: &Arc<Node>,
    gossip_sync: Arc<GossipSync>,
    scorer: Arc<RwLock<Scorer>>,
) {
    let bp_node = node.clone();
    let gossip = lightning_background_processor::GossipSync::p2p(gossip_sync);
    let bp_store = node.store.clone();
    let stop_rx = node.background.stop_requests();
    let handle = tokio::spawn(async move {
        let handler_node = bp_node.clone();
        let result = lightning_background_processor::process_events_async_with_kv_store_sync(
            bp_store,
            move |e| {
                let n = handler_node.clone();
                async move { event::handle(&n, e).await }
            },
            bp_node.chain_monitor.clone(),
            bp_node.channel_manager.clone(),
            lightning_background_processor::NO_ONION_MESSENGER,
            gossip,
            bp_node.peer_manager.clone(),
            lightning_background_processor::NO_LIQUIDITY_MANAGER,
            Some(bp_node.sweeper.clone()),
            bp_node.logger.clone(),
            Some(scorer),
            move |d| {
                let mut stop = stop_rx.clone();
                Box::pin(async move {
                    let stopped = tokio::select! {
                        _ = tokio::time::sleep(d) => false,
                        r = stop.wait_for(|s| *s) => r.is_ok(),
                    };
                    stopped || *stop.borrow()
                })
            },
            false,
            || Some(Duration::from_secs(now_secs())),
        )
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "background processing stopped: persisting failed");
            std::process::exit(4);
        }
    });
    node.background.keep(handle);
}
