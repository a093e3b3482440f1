//! One running LDK node: the components start-up assembled, and the
//! operations the admin API and the event handler use on them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Result};
use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;
use lightning_persister::fs_store::FilesystemStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api_error::ApiError;
use crate::bitcoind::Bitcoind;
use crate::config::Config;
use crate::event_log::EventLog;
use crate::ldk::{ChainMonitor, ChannelManager, PeerManager, SweepDestination, Sweeper};
use crate::logger::TracingLogger;
use crate::monitors::MonitorWriter;
use crate::persist::JsonMap;
use crate::signer::Keys;
use lnnode_api::Payment as PaymentRecord;

/// How long, after our connection closed mid-handshake, the peer may take
/// to show as connected through another connection (a handshake is a few
/// round trips on the run network; a peer that refused us shows nothing).
const CLOSED_GRACE: Duration = Duration::from_secs(2);

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
    pub(crate) background: Background,
}

/// The background processor's task, kept so that `Node::shutdown` can stop
/// it and wait for its last persist.
pub(crate) struct Background {
    /// Tells the background processor to persist and return.
    stop_tx: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Background {
    pub(crate) fn new() -> Self {
        Background {
            stop_tx: watch::channel(false).0,
            task: Mutex::new(None),
        }
    }

    /// Becomes true when the node is shutting down.
    pub(crate) fn stop_requests(&self) -> watch::Receiver<bool> {
        self.stop_tx.subscribe()
    }

    pub(crate) fn keep(&self, handle: JoinHandle<()>) {
        *crate::sync::lock(&self.task) = Some(handle);
    }
}

impl Node {
    /// Orderly stop: no more peer messages (so no more monitor updates),
    /// then the background processor persists the channel manager and
    /// returns. Persisting while peers still talk lets a monitor get ahead
    /// of the saved manager, and LDK force-closes such a channel at the
    /// next start.
    pub async fn shutdown(&self) {
        self.peer_manager.disconnect_all_peers();
        let _ = self.background.stop_tx.send(true);
        let handle = self.background.task.lock().ok().and_then(|mut b| b.take());
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

    /// Connects to `node_id` at `addr` unless connected already; returns
    /// once the handshake is done.
    pub async fn connect_peer(&self, node_id: PublicKey, addr: SocketAddr) -> Result<()> {
        if self.peer_manager.peer_by_node_id(&node_id).is_some() {
            return Ok(());
        }
        let pm = self.peer_manager.clone();
        let connected = lightning_net_tokio::connect_outbound(pm, node_id, addr)
            .await
            .ok_or_else(|| anyhow!(ApiError::PeerUnreachable(format!("{node_id}@{addr}"))))?;
        // The handshake completes asynchronously; wait for it (bounded).
        let mut deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut done = Box::pin(connected);
        let mut closed = false;
        loop {
            if self.peer_manager.peer_by_node_id(&node_id).is_some() {
                break;
            }
            if closed {
                tokio::time::sleep(Duration::from_millis(20)).await;
            } else {
                tokio::select! {
                    _ = &mut done => {
                        // LDK keeps one connection per peer: ours loses to
                        // one being set up at the same moment (the peer
                        // reconnecting to us, or our reconnect loop), and
                        // then the peer is connected all the same. Seen
                        // when bob reconnected to a restarted alice while
                        // the harness asked him to connect.
                        closed = true;
                        deadline = deadline.min(tokio::time::Instant::now() + CLOSED_GRACE);
                    }
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
            if tokio::time::Instant::now() > deadline {
                let why = if closed {
                    "connection closed during handshake"
                } else {
                    "no handshake within 10s"
                };
                return Err(anyhow!(ApiError::PeerUnreachable(format!(
                    "{node_id}@{addr}: {why}"
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

    /// An open channel by its id (hex), with its counterparty.
    pub fn find_channel(
        &self,
        id: &str,
    ) -> std::result::Result<(lightning::ln::types::ChannelId, PublicKey), ApiError> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(id, &mut b).map_err(|_| {
            ApiError::BadRequest(format!("`{id}` is not a channel id (32-byte hex)"))
        })?;
        let cid = lightning::ln::types::ChannelId(b);
        self.channel_manager
            .list_channels()
            .iter()
            .find(|c| c.channel_id == cid)
            .map(|c| (c.channel_id, c.counterparty.node_id))
            .ok_or_else(|| ApiError::UnknownChannel(id.to_string()))
    }

    /// Whether the sweeper's output was spent on chain by a transaction
    /// that is not its sweep: the peer's justice took our output of a
    /// revoked commitment. LDK's sweeper never learns that and would
    /// rebroadcast its sweep for good, so the output would show as ours
    /// and unsettled forever.
    pub async fn taken_by_another(
        &self,
        o: &lightning::util::sweep::TrackedSpendableOutput,
    ) -> bool {
        use lightning::util::sweep::OutputSpendStatus as S;
        let ours = match &o.status {
            S::PendingThresholdConfirmations { .. } => return false,
            S::PendingFirstConfirmation {
                latest_spending_tx, ..
            } => Some(latest_spending_tx.compute_txid()),
            S::PendingInitialBroadcast { .. } => None,
        };
        use lightning::sign::SpendableOutputDescriptor as D;
        let op = match &o.descriptor {
            D::StaticOutput { outpoint, .. } => outpoint,
            D::DelayedPaymentOutput(d) => &d.outpoint,
            D::StaticPaymentOutput(d) => &d.outpoint,
        };
        let unspent: Result<serde_json::Value> = self
            .bitcoind
            .call(
                "gettxout",
                serde_json::json!([op.txid.to_string(), op.index, false]),
            )
            .await;
        if !matches!(unspent, Ok(serde_json::Value::Null)) {
            return false;
        }
        // Spent in a block: by our sweep if the wallet it pays has it confirmed.
        if let Some(txid) = ours {
            let mine: Result<serde_json::Value> = self
                .bitcoind
                .wallet_call("gettransaction", serde_json::json!([txid.to_string()]))
                .await;
            if let Ok(t) = mine {
                if t.get("confirmations")
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(0)
                    > 0
                {
                    return false;
                }
            }
        }
        tracing::warn!(txid = %op.txid, vout = op.index, "an output the sweeper holds was spent by another transaction (a peer's justice): no longer ours");
        true
    }
}
