//! Blocks from bitcoind into LDK: catch every listener up at start, then poll
//! the tip and feed connected and disconnected blocks to all of them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use base64::Engine;
use bitcoin::block::Header;
use bitcoin::{BlockHash, Network};
use lightning::chain::transaction::TransactionData;
use lightning::chain::{BestBlock, Listen};
use lightning_block_sync::http::HttpEndpoint;
use lightning_block_sync::init::{synchronize_listeners, validate_best_block_header};
use lightning_block_sync::poll::ChainPoller;
use lightning_block_sync::poll::ChainTip;
use lightning_block_sync::rpc::RpcClient;
use lightning_block_sync::{SpvClient, UnboundedCache};

use crate::bitcoind::Bitcoind;

pub fn block_source(bitcoind: &Bitcoind) -> Arc<RpcClient> {
    let (host, port, credentials) = bitcoind.endpoint_parts();
    let endpoint = HttpEndpoint::for_host(host).with_port(port);
    let basic = base64::engine::general_purpose::STANDARD.encode(credentials.as_bytes());
    Arc::new(RpcClient::new(&basic, endpoint))
}

/// Every component that follows the chain, fed in one order.
pub struct Listeners(pub Vec<Arc<dyn Listen + Send + Sync>>);

impl Listen for Listeners {
    fn filtered_block_connected(&self, header: &Header, txdata: &TransactionData, height: u32) {
        for l in &self.0 {
            l.filtered_block_connected(header, txdata, height);
        }
    }

    fn blocks_disconnected(&self, fork_point: BestBlock) {
        for l in &self.0 {
            l.blocks_disconnected(fork_point);
        }
    }
}

/// Brings listeners last synced at different blocks up to bitcoind's tip.
pub async fn catch_up(
    source: &Arc<RpcClient>,
    network: Network,
    listeners: Vec<(BlockHash, &(dyn Listen + Send + Sync))>,
) -> Result<()> {
    let mut cache = UnboundedCache::new();
    let listeners: Vec<(BlockHash, &(dyn Listen + Send + Sync))> = listeners;
    synchronize_listeners(source.clone(), network, &mut cache, listeners)
        .await
        .map_err(|e| anyhow!("catching up with bitcoind: {e:?}"))?;
    Ok(())
}

/// The longest one poll of bitcoind's tip (and the blocks it brings) may take.
const POLL_TIMEOUT: Duration = Duration::from_secs(20);

/// Polls bitcoind's tip whenever a block above the last one seen arrives,
/// and at least every `every` (a reorg to a chain of the same height does
/// not raise it), forever; after each new best tip the listeners have seen,
/// runs `on_tip`.
pub fn spawn_follow<F, Fut>(
    source: Arc<RpcClient>,
    waiter: Bitcoind,
    network: Network,
    listener: Arc<Listeners>,
    every: Duration,
    on_tip: F,
) where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let tip = loop {
            match validate_best_block_header(source.clone()).await {
                Ok(tip) => break tip,
                Err(e) => {
                    tracing::warn!(error = ?e, "bitcoind tip not available; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let mut height = tip.height;
        let mut cache = UnboundedCache::new();
        let poller = ChainPoller::new(source.clone(), network);
        let mut client = SpvClient::new(tip, poller, &mut cache, listener);
        loop {
            // lightning-block-sync waits up to 5 minutes for a response. A
            // request lost in a network partition would stall the node's
            // view of the chain that long after the network is back; give up
            // on it instead, and the next poll connects afresh. (Listeners
            // are called synchronously, so this never cuts a block in half.)
            match tokio::time::timeout(POLL_TIMEOUT, client.poll_best_tip()).await {
                Ok(Ok((ChainTip::Better(tip), _))) => {
                    height = tip.height;
                    on_tip().await
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = ?e, "polling bitcoind's tip failed; retrying"),
                Err(_) => tracing::warn!(
                    timeout_secs = POLL_TIMEOUT.as_secs(),
                    "bitcoind did not answer the tip poll; reconnecting"
                ),
            }
            // One request waiting in bitcoind instead of a poll every
            // tenth of a second: each poll cost bitcoind an HTTP round
            // trip and a thread hand-off, the largest share of its CPU in
            // a harness run (perf). The answer is due after `every`; one
            // lost in a partition must not hold the next look longer, and
            // an unreachable bitcoind is waited out, not asked in a loop.
            let waited =
                tokio::time::timeout(every * 2, waiter.wait_for_height(height + 1, every)).await;
            if matches!(waited, Ok(Err(_))) {
                tokio::time::sleep(every).await;
            }
        }
    });
}
