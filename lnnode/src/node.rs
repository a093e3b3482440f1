//! Wiring: one LDK node with its chain source, signer, store, peers and
//! background processing, and the operations the admin API exposes.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bitcoin::secp256k1::PublicKey;
use bitcoin::{Address, BlockHash, Network};
use lightning::chain::chainmonitor;
use lightning::chain::channelmonitor::ChannelMonitor;
use lightning::chain::{BestBlock, Filter, Listen};
use lightning::ln::channelmanager::{
    self, ChainParameters, ChannelManagerReadArgs, RecentPaymentDetails,
};
use lightning::ln::peer_handler::{IgnoringMessageHandler, MessageHandler};
use lightning::onion_message::messenger::DefaultMessageRouter;
use lightning::routing::gossip::{self, P2PGossipSync};
use lightning::routing::router::DefaultRouter;
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::routing::utxo::UtxoLookup;
use lightning::sign::{ChangeDestinationSourceSync, NodeSigner};
use lightning::util::config::UserConfig;
use lightning::util::persist::{
    read_channel_monitors, KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY,
    CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
    NETWORK_GRAPH_PERSISTENCE_KEY, NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
    NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE, OUTPUT_SWEEPER_PERSISTENCE_KEY,
    OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE, OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::{ReadableArgs, Writeable};
use lightning::util::sweep::OutputSweeperSync;
use lightning_net_tokio::SocketDescriptor;
use lightning_persister::fs_store::FilesystemStore;
use vls_proxy::vls_protocol_client::DynSigner;

use crate::bitcoind::Bitcoind;
use crate::broadcaster::Broadcaster;
use crate::chain::{self, Listeners};
use crate::clock::now_secs;
use crate::config::Config;
use crate::event::EventLog;
use crate::fee::FeeEstimator;
use crate::logger::TracingLogger;
use crate::monitors::MonitorWriter;
use crate::persist::{write_atomically, JsonMap};
use crate::signer::Keys;
use lnnode_api::{Direction, Payment as PaymentRecord, PaymentStatus};

pub type ChainMonitor = chainmonitor::ChainMonitor<
    DynSigner,
    Arc<dyn Filter + Send + Sync>,
    Arc<Broadcaster>,
    Arc<FeeEstimator>,
    Arc<TracingLogger>,
    Arc<MonitorWriter>,
    Arc<Keys>,
>;
pub type NetworkGraph = gossip::NetworkGraph<Arc<TracingLogger>>;
pub type Scorer = ProbabilisticScorer<Arc<NetworkGraph>, Arc<TracingLogger>>;
pub type Router = DefaultRouter<
    Arc<NetworkGraph>,
    Arc<TracingLogger>,
    Arc<Keys>,
    Arc<RwLock<Scorer>>,
    ProbabilisticScoringFeeParameters,
    Scorer,
>;
pub type MessageRouter = DefaultMessageRouter<Arc<NetworkGraph>, Arc<TracingLogger>, Arc<Keys>>;
pub type ChannelManager = channelmanager::ChannelManager<
    Arc<ChainMonitor>,
    Arc<Broadcaster>,
    Arc<Keys>,
    Arc<Keys>,
    Arc<Keys>,
    Arc<FeeEstimator>,
    Arc<Router>,
    Arc<MessageRouter>,
    Arc<TracingLogger>,
>;
pub type GossipSync =
    P2PGossipSync<Arc<NetworkGraph>, Arc<dyn UtxoLookup + Send + Sync>, Arc<TracingLogger>>;
pub type PeerManager = lightning::ln::peer_handler::PeerManager<
    SocketDescriptor,
    Arc<ChannelManager>,
    Arc<GossipSync>,
    Arc<IgnoringMessageHandler>,
    Arc<TracingLogger>,
    Arc<IgnoringMessageHandler>,
    Arc<Keys>,
    Arc<IgnoringMessageHandler>,
>;
pub type Sweeper = OutputSweeperSync<
    Arc<Broadcaster>,
    Arc<SweepDestination>,
    Arc<FeeEstimator>,
    Arc<dyn Filter + Send + Sync>,
    Arc<FilesystemStore>,
    Arc<TracingLogger>,
    Arc<Keys>,
>;

/// Where swept outputs go: this node's bitcoind wallet (allowlisted in vlsd
/// by the operator, since vlsd refuses sweeps to unknown destinations).
pub struct SweepDestination {
    pub address: Address,
}

impl ChangeDestinationSourceSync for SweepDestination {
    fn get_change_destination_script(&self) -> Result<bitcoin::ScriptBuf, ()> {
        Ok(self.address.script_pubkey())
    }
}

/// The node's configuration of LDK: no anchors (the VLS client cannot sign
/// anchor inputs and sweeps as non-anchor), inbound channels accepted.
pub fn user_config() -> UserConfig {
    let mut c = UserConfig::default();
    c.channel_handshake_config
        .negotiate_anchors_zero_fee_htlc_tx = false;
    c.channel_handshake_config
        .negotiate_anchor_zero_fee_commitments = false;
    c.channel_handshake_config
        .max_inbound_htlc_value_in_flight_percent_of_channel = 100;
    c.channel_handshake_config.minimum_depth = 1;
    c.channel_handshake_config.our_to_self_delay = 144;
    c.channel_handshake_config.announce_for_forwarding = false;
    c.channel_handshake_limits.max_minimum_depth = 144;
    c.channel_handshake_limits
        .force_announced_channel_preference = false;
    c.accept_inbound_channels = true;
    c.manually_accept_inbound_channels = false;
    c.reject_inbound_splices = true;
    c
}

pub struct Node {
    pub config: Config,
    pub network: Network,
    pub bitcoind: Bitcoind,
    pub keys: Arc<Keys>,
    pub logger: Arc<TracingLogger>,
    pub channel_manager: Arc<ChannelManager>,
    pub chain_monitor: Arc<ChainMonitor>,
    pub peer_manager: Arc<PeerManager>,
    pub sweeper: Arc<Sweeper>,
    pub store: Arc<FilesystemStore>,
    pub monitor_writer: Arc<MonitorWriter>,
    pub events: EventLog,
    pub payments: JsonMap<PaymentRecord>,
    pub peers: JsonMap<String>,
    pub sweep: Arc<SweepDestination>,
    pub started_at: u64,
    /// Tells the background processor to persist and return.
    stop_tx: tokio::sync::watch::Sender<bool>,
    background: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Node {
    /// Orderly stop: no more peer messages (so no more monitor updates),
    /// then the background processor persists the channel manager and
    /// returns. Persisting while peers still talk lets a monitor get ahead
    /// of the saved manager, and LDK force-closes such a channel at the
    /// next start.
    pub async fn shutdown(&self) {
        self.peer_manager.disconnect_all_peers();
        let _ = self.stop_tx.send(true);
        let handle = self.background.lock().ok().and_then(|mut b| b.take());
        if let Some(h) = handle {
            if tokio::time::timeout(Duration::from_secs(5), h)
                .await
                .is_err()
            {
                tracing::warn!("background processor did not stop within 5 s");
            }
        }
    }

    pub fn node_id(&self) -> PublicKey {
        self.channel_manager.get_our_node_id()
    }

    pub async fn connect_peer(&self, node_id: PublicKey, addr: SocketAddr) -> Result<()> {
        if self.peer_manager.peer_by_node_id(&node_id).is_some() {
            return Ok(());
        }
        let pm = self.peer_manager.clone();
        let connected = lightning_net_tokio::connect_outbound(pm, node_id, addr)
            .await
            .ok_or_else(|| {
                anyhow!(crate::admin::ApiError::PeerUnreachable(format!(
                    "{node_id}@{addr}"
                )))
            })?;
        // The handshake completes asynchronously; wait for it (bounded).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut done = Box::pin(connected);
        loop {
            if self.peer_manager.peer_by_node_id(&node_id).is_some() {
                break;
            }
            tokio::select! {
                _ = &mut done => return Err(anyhow!(crate::admin::ApiError::PeerUnreachable(format!("{node_id}@{addr}: connection closed during handshake")))),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            if tokio::time::Instant::now() > deadline {
                return Err(anyhow!(crate::admin::ApiError::PeerUnreachable(format!(
                    "{node_id}@{addr}: no handshake within 10s"
                ))));
            }
        }
        self.peers
            .update(&node_id.to_string(), |_| addr.to_string())?;
        Ok(())
    }

    /// Keeps reconnecting to every peer we have a channel with or were told of.
    pub fn spawn_reconnect(self: &Arc<Self>) {
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                for (id, addr) in node.peers.entries() {
                    let (Ok(pk), Ok(sa)) = (id.parse::<PublicKey>(), addr.parse::<SocketAddr>())
                    else {
                        continue;
                    };
                    // LDK's locks can be held for as long as a signer
                    // request takes; wait for them off the worker.
                    let has_channel = crate::clock::block_in_place(|| {
                        node.channel_manager
                            .list_channels()
                            .iter()
                            .any(|c| c.counterparty.node_id == pk)
                    });
                    if has_channel && node.peer_manager.peer_by_node_id(&pk).is_none() {
                        if let Err(e) = node.connect_peer(pk, sa).await {
                            tracing::debug!(peer = %pk, error = %e, "reconnect failed");
                        }
                    }
                }
            }
        });
    }

    /// Trusted wallet balance plus what LDK can still claim on chain.
    pub async fn onchain_balance(&self) -> Result<(u64, u64, u64)> {
        let (trusted, pending) = self.bitcoind.wallet_balance().await?;
        // An open channel's balance is reported as ClaimableOnChannelClose;
        // it is counted in the channel balances, not as on-chain funds.
        let claimable: u64 = self
            .chain_monitor
            .get_claimable_balances(&[])
            .iter()
            .filter(|b| {
                !matches!(
                    b,
                    lightning::chain::channelmonitor::Balance::ClaimableOnChannelClose { .. }
                )
            })
            .map(|b| b.claimable_amount_satoshis())
            .sum();
        Ok((trusted.to_sat(), pending.to_sat(), claimable))
    }
}

/// Starts everything and returns once the node is serving; the returned
/// future-less handles keep running on the current runtime.
pub async fn start(config: Config, keys: Arc<Keys>, bitcoind: Bitcoind) -> Result<Arc<Node>> {
    let network = bitcoind.network();
    let datadir = config.datadir.clone();
    let logger = Arc::new(TracingLogger);
    let fee = FeeEstimator::new();
    fee.refresh(&bitcoind).await;
    fee.spawn_refresh(bitcoind.clone());
    let broadcaster = Broadcaster::start(bitcoind.clone());
    let store = Arc::new(FilesystemStore::new(datadir.join("ldk")));

    let sweep = Arc::new(SweepDestination {
        address: sweep_address(&bitcoind, &datadir).await?,
    });

    // Monitors first: reading them re-derives each channel's signer.
    let keys_for_read = keys.clone();
    let store_for_read = store.clone();
    let mut monitors = tokio::task::spawn_blocking(move || {
        read_channel_monitors(store_for_read, keys_for_read.clone(), keys_for_read)
    })
    .await?
    .context("reading channel monitors")?;

    let monitor_writer = MonitorWriter::new(store.clone());
    let chain_monitor: Arc<ChainMonitor> = Arc::new(chainmonitor::ChainMonitor::new(
        None,
        broadcaster.clone(),
        logger.clone(),
        fee.clone(),
        monitor_writer.clone(),
        keys.clone(),
        keys.get_peer_storage_key(),
    ));

    let graph = Arc::new(
        match store.read(
            NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_KEY,
        ) {
            Ok(bytes) => NetworkGraph::read(&mut &bytes[..], logger.clone())
                .map_err(|e| anyhow!("network graph: {e:?}"))?,
            Err(_) => NetworkGraph::new(network, logger.clone()),
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

    let (tip_hash, tip_height) = bitcoind.tip().await?;
    let source = chain::block_source(&bitcoind);

    let manager_bytes = store.read(
        CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_KEY,
    );
    let (manager_block, channel_manager) = match manager_bytes {
        Ok(bytes) => {
            let args = ChannelManagerReadArgs::new(
                keys.clone(),
                keys.clone(),
                keys.clone(),
                fee.clone(),
                chain_monitor.clone(),
                broadcaster.clone(),
                router.clone(),
                message_router.clone(),
                logger.clone(),
                user_config(),
                monitors.iter().map(|(_, m)| m).collect(),
            );
            let read = <(BlockHash, ChannelManager)>::read(&mut &bytes[..], args)
                .map_err(|e| anyhow!("reading the channel manager: {e:?}"))?;
            (Some(read.0), Arc::new(read.1))
        }
        Err(_) => {
            let params = ChainParameters {
                network,
                best_block: BestBlock::new(tip_hash, tip_height),
            };
            let cm = ChannelManager::new(
                fee.clone(),
                chain_monitor.clone(),
                broadcaster.clone(),
                router.clone(),
                message_router.clone(),
                logger.clone(),
                keys.clone(),
                keys.clone(),
                keys.clone(),
                user_config(),
                params,
                now_secs() as u32,
            );
            (None, Arc::new(cm))
        }
    };

    let sweeper: Arc<Sweeper> = Arc::new(
        match store.read(
            OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
            OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
            OUTPUT_SWEEPER_PERSISTENCE_KEY,
        ) {
            Ok(bytes) => {
                let (_, s) = <(BestBlock, Sweeper)>::read(
                    &mut &bytes[..],
                    (
                        broadcaster.clone(),
                        fee.clone(),
                        None,
                        keys.clone(),
                        sweep.clone(),
                        store.clone(),
                        logger.clone(),
                    ),
                )
                .map_err(|e| anyhow!("reading the output sweeper: {e:?}"))?;
                s
            }
            Err(_) => OutputSweeperSync::new(
                BestBlock::new(tip_hash, tip_height),
                broadcaster.clone(),
                fee.clone(),
                None,
                keys.clone(),
                sweep.clone(),
                store.clone(),
                logger.clone(),
            ),
        },
    );

    // Catch every component up from where it was persisted.
    if let Some(manager_block) = manager_block {
        type MonitorListener = (
            ChannelMonitor<DynSigner>,
            Arc<Broadcaster>,
            Arc<FeeEstimator>,
            Arc<TracingLogger>,
        );
        let monitor_listeners: Vec<(BlockHash, MonitorListener)> = monitors
            .drain(..)
            .map(|(hash, m)| (hash, (m, broadcaster.clone(), fee.clone(), logger.clone())))
            .collect();
        {
            let sweeper_block = sweeper.current_best_block().block_hash;
            let mut listeners: Vec<(BlockHash, &(dyn Listen + Send + Sync))> = vec![
                (
                    manager_block,
                    &*channel_manager as &(dyn Listen + Send + Sync),
                ),
                (sweeper_block, &*sweeper as &(dyn Listen + Send + Sync)),
            ];
            for (h, l) in &monitor_listeners {
                listeners.push((*h, l as &(dyn Listen + Send + Sync)));
            }
            chain::catch_up(&source, network, listeners).await?;
        }
        for (_, (monitor, ..)) in monitor_listeners {
            let id = monitor.channel_id();
            chain_monitor
                .load_existing_monitor(id, monitor)
                .map_err(|_| anyhow!("loading the monitor of channel {id}"))?;
        }
    }

    let listeners = Arc::new(Listeners(vec![
        channel_manager.clone() as Arc<dyn Listen + Send + Sync>,
        chain_monitor.clone() as Arc<dyn Listen + Send + Sync>,
        sweeper.clone() as Arc<dyn Listen + Send + Sync>,
    ]));
    chain::spawn_follow(source, network, listeners);

    let gossip_sync: Arc<GossipSync> = Arc::new(P2PGossipSync::new(
        graph.clone(),
        None::<Arc<dyn UtxoLookup + Send + Sync>>,
        logger.clone(),
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
        logger.clone(),
        keys.clone(),
    ));

    let node = Arc::new(Node {
        network,
        bitcoind: bitcoind.clone(),
        keys: keys.clone(),
        logger: logger.clone(),
        channel_manager: channel_manager.clone(),
        chain_monitor: chain_monitor.clone(),
        peer_manager: peer_manager.clone(),
        sweeper: sweeper.clone(),
        store: store.clone(),
        monitor_writer: monitor_writer.clone(),
        events: EventLog::new(),
        payments: JsonMap::open(datadir.join("payments.json"))?,
        peers: JsonMap::open(datadir.join("peers.json"))?,
        sweep,
        started_at: now_secs(),
        config,
        stop_tx: tokio::sync::watch::channel(false).0,
        background: std::sync::Mutex::new(None),
    });

    reconcile_payments(&node);
    let (cm, chm) = (channel_manager.clone(), chain_monitor.clone());
    monitor_writer
        .start(
            move || cm.encode(),
            move |channel_id, update_id| {
                if let Err(e) = chm.channel_monitor_updated(channel_id, update_id) {
                    tracing::warn!(%channel_id, update_id, error = ?e, "monitor update completion not taken");
                }
            },
        )
        .context("starting the monitor writer")?;

    // Inbound peers.
    let listener = tokio::net::TcpListener::bind(node.config.p2p_listen)
        .await
        .with_context(|| format!("binding the p2p port {}", node.config.p2p_listen))?;
    let pm = peer_manager.clone();
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
    let pm = peer_manager.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            pm.timer_tick_occurred();
        }
    });
    node.spawn_reconnect();

    // Background processing: events, persistence, timers, sweeps.
    let bp_node = node.clone();
    let gossip = lightning_background_processor::GossipSync::p2p(gossip_sync);
    let bp_store = store.clone();
    let stop_rx = node.stop_tx.subscribe();
    let handle = tokio::spawn(async move {
        let handler_node = bp_node.clone();
        let result = lightning_background_processor::process_events_async_with_kv_store_sync(
            bp_store,
            move |event| {
                let n = handler_node.clone();
                async move { crate::event::handle(&n, event).await }
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
    if let Ok(mut b) = node.background.lock() {
        *b = Some(handle);
    }

    tracing::info!(
        node_id = %node.node_id(),
        signer = node.config.signer.as_str(),
        height = tip_height,
        "node started"
    );
    Ok(node)
}

/// Outbound payments our records call pending but LDK does not know after
/// a restart never left this node: it stopped after the payment was asked
/// for and before LDK's state with it was saved. No event will ever end
/// them, so they end here.
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

/// The node's sweep address, fixed at first start so vlsd's allowlist entry stays valid.
async fn sweep_address(bitcoind: &Bitcoind, datadir: &std::path::Path) -> Result<Address> {
    let path = datadir.join("sweep_address");
    match std::fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse::<Address<_>>()
            .map_err(|e| anyhow!("{}: {e}", path.display()))?
            .require_network(bitcoind.network())
            .map_err(|e| anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let a = bitcoind.new_address().await?;
            write_atomically(&path, a.to_string().as_bytes())?;
            Ok(a)
        }
        Err(e) => Err(e).with_context(|| path.display().to_string()),
    }
}
