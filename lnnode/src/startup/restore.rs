//! LDK's saved state read back: the monitors, the channel manager read
//! against them, the sweeper, and the routing the manager needs; then
//! everything caught up with the chain and following it.

use std::sync::{Arc, RwLock};

use anyhow::{anyhow, Context, Result};
use bitcoin::BlockHash;
use lightning::chain::chainmonitor;
use lightning::chain::channelmonitor::ChannelMonitor;
use lightning::chain::{BestBlock, Listen};
use lightning::ln::channelmanager::{ChainParameters, ChannelManagerReadArgs};
use lightning::onion_message::messenger::DefaultMessageRouter;
use lightning::routing::router::DefaultRouter;
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::sign::NodeSigner;
use lightning::util::persist::{
    read_channel_monitors, KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY,
    CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
    NETWORK_GRAPH_PERSISTENCE_KEY, NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
    NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE, OUTPUT_SWEEPER_PERSISTENCE_KEY,
    OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE, OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::ReadableArgs;
use lightning::util::sweep::OutputSweeperSync;
use lightning_block_sync::rpc::RpcClient;
use vls_proxy::vls_protocol_client::DynSigner;

use super::base::Base;
use crate::broadcaster::Broadcaster;
use crate::chain::{self, Listeners};
use crate::clock::now_secs;
use crate::fee::FeeEstimator;
use crate::ldk::{
    user_config, ChainMonitor, ChannelManager, MessageRouter, NetworkGraph, Router, Scorer, Sweeper,
};
use crate::logger::TracingLogger;
use crate::monitors::MonitorWriter;
use crate::signer::Keys;

/// Each channel's monitor with the block it was last synced to.
pub(super) type Monitors = Vec<(BlockHash, ChannelMonitor<DynSigner>)>;

/// Path finding for payments and onion messages over the persisted graph.
pub(super) struct Routing {
    pub(super) graph: Arc<NetworkGraph>,
    pub(super) scorer: Arc<RwLock<Scorer>>,
    router: Arc<Router>,
    message_router: Arc<MessageRouter>,
}

/// Monitors first: reading them re-derives each channel's signer, and the
/// channel manager is read against them.
pub(super) async fn read_monitors(base: &Base, keys: &Arc<Keys>) -> Result<Monitors> {
    let keys_for_read = keys.clone();
    let store_for_read = base.store.clone();
    tokio::task::spawn_blocking(move || {
        read_channel_monitors(store_for_read, keys_for_read.clone(), keys_for_read)
    })
    .await?
    .context("reading channel monitors")
}

/// The chain monitor starts empty; the monitors `read_monitors` returns
/// join it only after they have caught up with the chain (see `catch_up`).
pub(super) fn chain_monitor(
    base: &Base,
    keys: &Arc<Keys>,
    monitor_writer: &Arc<MonitorWriter>,
) -> Arc<ChainMonitor> {
    Arc::new(chainmonitor::ChainMonitor::new(
        None,
        base.broadcaster.clone(),
        base.logger.clone(),
        base.fee.clone(),
        monitor_writer.clone(),
        keys.clone(),
        keys.get_peer_storage_key(),
    ))
}

/// The channel manager needs a router to be built; the graph it routes
/// over is the persisted one when there is one.
pub(super) fn routing(base: &Base, keys: &Arc<Keys>) -> Result<Routing> {
    let logger = &base.logger;
    let graph = Arc::new(
        match base.store.read(
            NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_KEY,
        ) {
            Ok(bytes) => NetworkGraph::read(&mut &bytes[..], logger.clone())
                .map_err(|e| anyhow!("network graph: {e:?}"))?,
            Err(_) => NetworkGraph::new(base.network, logger.clone()),
        },
    );
    let scorer = Arc::new(RwLock::new(ProbabilisticScorer::new(
        ProbabilisticScoringDecayParameters::default(),
        graph.clone(),
        logger.clone(),
    )));
    let router = Arc::new(DefaultRouter::new(
        graph.clone(),
        logger.clone(),
        keys.clone(),
        scorer.clone(),
        ProbabilisticScoringFeeParameters::default(),
    ));
    let message_router = Arc::new(DefaultMessageRouter::new(graph.clone(), keys.clone()));
    Ok(Routing {
        graph,
        scorer,
        router,
        message_router,
    })
}

/// The saved channel manager, read against the monitors, with the block it
/// was saved at (it must catch up from there); a fresh one at the tip on a
/// first start.
pub(super) fn channel_manager(
    base: &Base,
    keys: &Arc<Keys>,
    chain_monitor: &Arc<ChainMonitor>,
    routing: &Routing,
    monitors: &Monitors,
    (tip_hash, tip_height): (BlockHash, u32),
) -> Result<(Option<BlockHash>, Arc<ChannelManager>)> {
    let manager_bytes = base.store.read(
        CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_KEY,
    );
    match manager_bytes {
        Ok(bytes) => {
            let args = ChannelManagerReadArgs::new(
                keys.clone(),
                keys.clone(),
                keys.clone(),
                base.fee.clone(),
                chain_monitor.clone(),
                base.broadcaster.clone(),
                routing.router.clone(),
                routing.message_router.clone(),
                base.logger.clone(),
                user_config(),
                monitors.iter().map(|(_, m)| m).collect(),
            );
            let read = <(BlockHash, ChannelManager)>::read(&mut &bytes[..], args)
                .map_err(|e| anyhow!("reading the channel manager: {e:?}"))?;
            Ok((Some(read.0), Arc::new(read.1)))
        }
        Err(_) => {
            let params = ChainParameters {
                network: base.network,
                best_block: BestBlock::new(tip_hash, tip_height),
            };
            let cm = ChannelManager::new(
                base.fee.clone(),
                chain_monitor.clone(),
                base.broadcaster.clone(),
                routing.router.clone(),
                routing.message_router.clone(),
                base.logger.clone(),
                keys.clone(),
                keys.clone(),
                keys.clone(),
                user_config(),
                params,
                now_secs() as u32,
            );
            Ok((None, Arc::new(cm)))
        }
    }
}

/// The sweeper claims the outputs LDK hands over; the saved one keeps
/// those it was still sweeping and must catch up from its own block.
pub(super) fn output_sweeper(
    base: &Base,
    keys: &Arc<Keys>,
    tip: (BlockHash, u32),
) -> Result<Arc<Sweeper>> {
    let saved = base.store.read(
        OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
        OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
        OUTPUT_SWEEPER_PERSISTENCE_KEY,
    );
    let sweeper = match saved {
        Ok(bytes) => {
            let (_, s) = <(BestBlock, Sweeper)>::read(
                &mut &bytes[..],
                (
                    base.broadcaster.clone(),
                    base.fee.clone(),
                    None,
                    keys.clone(),
                    base.sweep.clone(),
                    base.store.clone(),
                    base.logger.clone(),
                ),
            )
            .map_err(|e| anyhow!("reading the output sweeper: {e:?}"))?;
            s
        }
        Err(_) => OutputSweeperSync::new(
            BestBlock::new(tip.0, tip.1),
            base.broadcaster.clone(),
            base.fee.clone(),
            None,
            keys.clone(),
            base.sweep.clone(),
            base.store.clone(),
            base.logger.clone(),
        ),
    };
    Ok(Arc::new(sweeper))
}

/// Catches every persisted component up, each from the block it was saved
/// at. Monitors catch up on their own and only then join the chain monitor,
/// which passes on only the blocks that come after.
pub(super) async fn catch_up(
    base: &Base,
    source: &Arc<RpcClient>,
    (manager_block, channel_manager): (BlockHash, &ChannelManager),
    sweeper: &Sweeper,
    chain_monitor: &ChainMonitor,
    mut monitors: Monitors,
) -> Result<()> {
    type MonitorListener = (
        ChannelMonitor<DynSigner>,
        Arc<Broadcaster>,
        Arc<FeeEstimator>,
        Arc<TracingLogger>,
    );
    let monitor_listeners: Vec<(BlockHash, MonitorListener)> = monitors
        .drain(..)
        .map(|(hash, m)| {
            let listener = (
                m,
                base.broadcaster.clone(),
                base.fee.clone(),
                base.logger.clone(),
            );
            (hash, listener)
        })
        .collect();
    {
        let sweeper_block = sweeper.current_best_block().block_hash;
        let mut listeners: Vec<(BlockHash, &(dyn Listen + Send + Sync))> = vec![
            (
                manager_block,
                channel_manager as &(dyn Listen + Send + Sync),
            ),
            (sweeper_block, sweeper as &(dyn Listen + Send + Sync)),
        ];
        for (h, l) in &monitor_listeners {
            listeners.push((*h, l as &(dyn Listen + Send + Sync)));
        }
        chain::catch_up(source, base.network, listeners).await?;
    }
    for (_, (monitor, ..)) in monitor_listeners {
        let id = monitor.channel_id();
        chain_monitor
            .load_existing_monitor(id, monitor)
            .map_err(|_| anyhow!("loading the monitor of channel {id}"))?;
    }
    Ok(())
}

/// From the caught-up state on, every new block goes to the components in
/// one order: manager, monitors, sweeper.
pub(super) fn follow_chain(
    base: &Base,
    source: Arc<RpcClient>,
    channel_manager: &Arc<ChannelManager>,
    chain_monitor: &Arc<ChainMonitor>,
    sweeper: &Arc<Sweeper>,
    bitcoind: &crate::bitcoind::Bitcoind,
    poll: std::time::Duration,
) {
    let listeners = Arc::new(Listeners(vec![
        channel_manager.clone() as Arc<dyn Listen + Send + Sync>,
        chain_monitor.clone() as Arc<dyn Listen + Send + Sync>,
        sweeper.clone() as Arc<dyn Listen + Send + Sync>,
    ]));
    // The background processor sweeps every 30 s; an output that matured
    // in this block is swept now, not half a minute of blocks later.
    let sweeper = sweeper.clone();
    let on_tip = move || {
        let sweeper = sweeper.clone();
        async move {
            // The sync sweeper signs (through vlsd, blocking): off the runtime.
            let swept = tokio::task::spawn_blocking(move || {
                sweeper.regenerate_and_broadcast_spend_if_necessary()
            })
            .await;
            if !matches!(swept, Ok(Ok(()))) {
                tracing::debug!("sweeping after a new block failed; the sweeper's timer retries");
            }
        }
    };
    chain::spawn_follow(
        source,
        bitcoind.clone(),
        base.network,
        listeners,
        poll,
        on_tip,
    );
}
