//! The concrete LDK types this node is assembled from, and how LDK is
//! configured. Start-up builds them, `Node` holds them; keeping them apart
//! from both lets either name them without naming the other.

use std::sync::{Arc, RwLock};

use bitcoin::Address;
use lightning::chain::{chainmonitor, Filter};
use lightning::ln::channelmanager;
use lightning::ln::peer_handler::IgnoringMessageHandler;
use lightning::onion_message::messenger::DefaultMessageRouter;
use lightning::routing::gossip::{self, P2PGossipSync};
use lightning::routing::router::DefaultRouter;
use lightning::routing::scoring::{ProbabilisticScorer, ProbabilisticScoringFeeParameters};
use lightning::routing::utxo::UtxoLookup;
use lightning::sign::ChangeDestinationSourceSync;
use lightning::util::config::UserConfig;
use lightning::util::sweep::OutputSweeperSync;
use lightning_net_tokio::SocketDescriptor;
use lightning_persister::fs_store::FilesystemStore;
use vls_proxy::vls_protocol_client::DynSigner;

use crate::broadcaster::Broadcaster;
use crate::fee::FeeEstimator;
use crate::logger::TracingLogger;
use crate::monitors::MonitorWriter;
use crate::signer::Keys;

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
