//! Core Lightning (lightningd) in a container, driven over its JSON-RPC:
//! the second implementation of the [`Node`](crate::node::Node) seam. With
//! a vlsd signer its hsmd is VLS's `remote_hsmd_socket`, which vlsd dials
//! as it dials lnnode.

mod force_close;
mod hold;
mod observe;
mod pay;
mod recover;
mod rpc;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::{json, Value};

use self::hold::HOLD_PLUGIN;
pub use self::observe::Snapshot;
use self::observe::{balance, channel_summary, payments, str_of, Observer};
pub use self::pay::ClnPayRequest;
use self::rpc::Rpc;
use super::bitcoind::Bitcoind;
use super::events::first_match;
use super::lnnode::{EventCursor, P2P_PORT};
use super::ready::wait_ready;
use super::vlsd::NODE_SIGNER_PORT;
use crate::contained::DATADIR;
use crate::container::{Container, ContainerSpec};
use crate::error::{HarnessError, Result};
use crate::node::{
    Balance, ChannelSummary, Invoice, Node, NodeEvent, NodeInfo, Payment, SignerChoice,
};
use crate::resources::Resources;
use crate::sync::lock;

/// Where the RPC socket's directory is mounted in the container.
const RPC_DIR: &str = "/rpc";
/// Its config file, outside the datadir: a lost disk does not take it.
const CONF: &str = "/run/cln/config";
/// How often a wait for an event looks at lightningd again.
const LOOK_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub struct ClnNodeBuilder {
    image: String,
    name: String,
    signer: SignerChoice,
    ready_timeout: Duration,
    feerate_perkw: Option<u32>,
}

impl ClnNodeBuilder {
    /// Every feerate lightningd uses (`--force-feerates`), in sat per
    /// 1000 weight units; otherwise regtest's floor.
    pub fn with_feerate(mut self, perkw: u32) -> Self {
        self.feerate_perkw = Some(perkw);
        self
    }

    pub fn with_ready_timeout(mut self, t: Duration) -> Self {
        self.ready_timeout = t;
        self
    }

    /// Starts the container; call [`ClnNode::wait_ready`] before use. With
    /// a vlsd signer lightningd answers nothing until vlsd has connected.
    pub async fn create(self, res: &Resources, bitcoind: &Bitcoind) -> Result<ClnNode> {
        let (user, password) = bitcoind.rpc_credentials();
        let bitcoind_host = bitcoind.container().name().to_string();
        // A short host path: a unix socket's path must fit in 107 bytes.
        let rpc_dir =
            std::env::temp_dir().join(format!("vls-chaos-{}-{}", res.run_id(), self.name));
        make_private_dir(&rpc_dir)?;
        // No `--developer`: the node runs as operators run it, and then
        // its first signer request is not the dev preinit only VLS's
        // developer build knows.
        let mut cmd = vec![
            format!("--conf={CONF}"),
            "--network=regtest".to_string(),
            format!("--lightning-dir={DATADIR}"),
            format!("--addr=0.0.0.0:{P2P_PORT}"),
            format!("--rpc-file={RPC_DIR}/lightning-rpc"),
            // The host user who runs the harness, not root in the
            // container, calls it; the directory itself is that user's, 0700.
            "--rpc-file-mode=0666".to_string(),
            "--log-level=debug".to_string(),
            // The one Python plugin: its modules are not in the image.
            "--disable-plugin=wss-proxy".to_string(),
            // Hold invoices (`pay … hold`): lightningd has none of its own.
            format!("--plugin={HOLD_PLUGIN}"),
        ];
        if let Some(f) = self.feerate_perkw {
            cmd.push(format!("--force-feerates={f}"));
        }
        let mut spec = ContainerSpec::new(&self.name, &self.image);
        if self.signer == SignerChoice::Vlsd {
            cmd.push("--subdaemon=hsmd:/usr/local/bin/remote_hsmd_socket".to_string());
            spec = spec
                .with_env("VLS_NETWORK", "regtest")
                .with_env("VLS_BIND", "0.0.0.0")
                .with_env("VLS_PORT", NODE_SIGNER_PORT.to_string())
                .with_env(
                    "BITCOIND_RPC_URL",
                    format!(
                        "http://{user}:{password}@{bitcoind_host}:{}",
                        super::bitcoind::RPC_PORT
                    ),
                );
        }
        let conf = format!(
            "bitcoin-rpcconnect={bitcoind_host}\nbitcoin-rpcport={}\nbitcoin-rpcuser={user}\nbitcoin-rpcpassword={password}\n",
            super::bitcoind::RPC_PORT
        );
        let spec = spec
            .with_cmd(cmd)
            .with_file(CONF, conf.into_bytes(), 0o600)
            .with_env("NO_COLOR", "1")
            .with_volume(format!("{}-data", self.name), DATADIR)
            .with_bind(rpc_dir.display().to_string(), RPC_DIR)
            .with_cap_add("NET_ADMIN")
            .with_stop_grace(Duration::from_secs(10));
        let container = res.start(spec).await?;
        Ok(ClnNode {
            inner: Arc::new(Inner {
                rpc: Rpc::new(&self.name, rpc_dir.join("lightning-rpc")),
                rpc_dir,
                container,
                signer: self.signer,
                ready_timeout: self.ready_timeout,
                observer: tokio::sync::Mutex::new(Observer::default()),
                cursor: Mutex::new((0, 0)),
                sweep_address: Mutex::new(None),
            }),
        })
    }
}

fn make_private_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(HarnessError::io(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(HarnessError::io(dir))
}

/// A Core Lightning node. Cheap to clone: clones share the connection
/// details and the event log.
#[derive(Clone)]
pub struct ClnNode {
    inner: Arc<Inner>,
}

struct Inner {
    rpc: Rpc,
    rpc_dir: PathBuf,
    container: Container,
    signer: SignerChoice,
    ready_timeout: Duration,
    /// One look at a time, so events keep their order.
    observer: tokio::sync::Mutex<Observer>,
    cursor: Mutex<EventCursor>,
    sweep_address: Mutex<Option<String>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.rpc_dir);
    }
}

impl std::fmt::Debug for ClnNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClnNode")
            .field("container", &self.inner.container)
            .field("signer", &self.inner.signer)
            .finish_non_exhaustive()
    }
}

impl ClnNode {
    pub fn builder(image: &str, name: &str, signer: SignerChoice) -> ClnNodeBuilder {
        ClnNodeBuilder {
            image: image.to_string(),
            name: name.to_string(),
            signer,
            // lightningd's first start makes its database and, with vlsd,
            // waits for the signer's first connection.
            ready_timeout: Duration::from_secs(120),
            feerate_perkw: None,
        }
    }

    pub fn container(&self) -> &Container {
        &self.inner.container
    }

    pub fn signer(&self) -> SignerChoice {
        self.inner.signer
    }

    /// `<name>:9735` on the run network.
    pub fn p2p_addr(&self) -> String {
        format!("{}:{P2P_PORT}", self.inner.container.name())
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.inner.rpc.call(method, params).await
    }

    /// Waits until lightningd answers `getinfo` (with vlsd: vlsd connected)
    /// and has caught up with bitcoind: until then it refuses to fund a
    /// channel ("still syncing with bitcoin network").
    pub async fn wait_ready(&self) -> Result<NodeInfo> {
        let what = format!(
            "{}: lightningd RPC ready and synced with bitcoind",
            self.inner.container.name()
        );
        wait_ready(
            &self.inner.container,
            &what,
            self.inner.ready_timeout,
            || async {
                let info = self
                    .call("getinfo", json!({}))
                    .await
                    .map_err(|e| e.to_string())?;
                // bitcoind's own warning stays while regtest has no block
                // yet (initial block download), so only lightningd's counts.
                if let Some(w) = info.get("warning_lightningd_sync").and_then(Value::as_str) {
                    return Err(format!("warning_lightningd_sync: {w}"));
                }
                self.info_now().await.map_err(|e| e.to_string())
            },
        )
        .await
    }

    async fn info_now(&self) -> Result<NodeInfo> {
        let info = self.call("getinfo", json!({})).await?;
        let known = lock(&self.inner.sweep_address).clone();
        let sweep_address = match known {
            Some(a) => a,
            None => {
                let a = self.new_address().await?;
                *lock(&self.inner.sweep_address) = Some(a.clone());
                a
            }
        };
        let count = |k: &str| info.get(k).and_then(Value::as_u64).unwrap_or(0) as usize;
        Ok(NodeInfo {
            node_id: text(&info, "id"),
            network: text(&info, "network"),
            signer: match self.inner.signer {
                SignerChoice::Vlsd => "vlsd",
                SignerChoice::Local => "local",
            }
            .to_string(),
            block_height: info.get("blockheight").and_then(Value::as_u64).unwrap_or(0) as u32,
            channels: count("num_active_channels") + count("num_pending_channels"),
            peers: count("num_peers"),
            sweep_address,
            p2p_port: P2P_PORT,
            started_at: 0,
        })
    }

    /// lightningd's answers now, and the events they make.
    pub async fn look(&self) -> Result<Snapshot> {
        let mut observer = self.inner.observer.lock().await;
        let (channels, invoices, pays, holds) = tokio::try_join!(
            self.call("listpeerchannels", json!({})),
            self.call("listinvoices", json!({})),
            self.call("listpays", json!({})),
            self.call("hold-list", json!({})),
        )?;
        let snap = Snapshot {
            channels: array(&channels, "channels"),
            invoices: array(&invoices, "invoices"),
            pays: array(&pays, "pays"),
            holds: array(&holds, "holds"),
        };
        observer.observe(&snap);
        Ok(snap)
    }

    /// Events after `cursor`, looking again until there is one or `timeout`
    /// passes; advances the cursor. The log lives in the harness, so a
    /// restart of lightningd loses nothing and repeats nothing.
    pub async fn poll_events(
        &self,
        cursor: &mut EventCursor,
        timeout: Duration,
    ) -> Result<Vec<NodeEvent>> {
        let start = Instant::now();
        loop {
            self.look().await?;
            let observer = self.inner.observer.lock().await;
            let log = observer.log();
            let from = (cursor.1 as usize).min(log.len());
            if from < log.len() || start.elapsed() >= timeout {
                cursor.1 = log.len() as u64;
                return Ok(log[from..].to_vec());
            }
            drop(observer);
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }

    /// Every address of the node's on-chain wallet, spent or not: where
    /// funds that reached this node are found on chain.
    pub async fn wallet_addresses(&self) -> Result<Vec<String>> {
        let (listed, funds) = tokio::try_join!(
            self.call("listaddresses", json!({})),
            self.call("listfunds", json!({"spent": true})),
        )?;
        let mut out: Vec<String> = Vec::new();
        for a in array(&listed, "addresses") {
            for k in ["bech32", "p2tr"] {
                if let Some(s) = a.get(k).and_then(Value::as_str) {
                    out.push(s.to_string());
                }
            }
        }
        for o in array(&funds, "outputs") {
            if let Some(s) = o.get("address").and_then(Value::as_str) {
                out.push(s.to_string());
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// An invoice reply (lightningd's `invoice`, the plugin's `hold-invoice`)
/// in the seam's terms.
fn invoice_of(r: &Value, hold: bool) -> Invoice {
    Invoice {
        invoice: text(r, "bolt11"),
        payment_hash: text(r, "payment_hash"),
        hold,
    }
}

fn text(v: &Value, key: &str) -> String {
    str_of(v, key).to_string()
}

fn array(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

impl Node for ClnNode {
    fn name(&self) -> &str {
        self.inner.container.name()
    }

    fn info(&self) -> BoxFuture<'_, Result<NodeInfo>> {
        self.info_now().boxed()
    }

    fn connect<'a>(&'a self, node_id: &'a str, addr: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            self.call("connect", json!({"id": format!("{node_id}@{addr}")}))
                .await?;
            Ok(())
        }
        .boxed()
    }

    fn open_channel<'a>(&'a self, node_id: &'a str, sat: u64) -> BoxFuture<'a, Result<String>> {
        async move {
            // Unannounced, as lnnode opens them; lightningd names the
            // channel by its final id once the funding is signed.
            let r = self
                .call(
                    "fundchannel",
                    json!({"id": node_id, "amount": sat, "announce": false}),
                )
                .await?;
            Ok(text(&r, "channel_id"))
        }
        .boxed()
    }

    fn channels(&self) -> BoxFuture<'_, Result<Vec<ChannelSummary>>> {
        async move {
            let snap = self.look().await?;
            Ok(snap.channels.iter().filter_map(channel_summary).collect())
        }
        .boxed()
    }

    fn close_channel<'a>(&'a self, channel_id: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            // lightningd's `close` answers only once the closing transaction
            // is out, and a signer fault in the negotiation decides whether
            // that ever happens. The seam's close is the request (as
            // lnnode's): done once lightningd has begun the shutdown, or
            // when `close` itself answers first (an error, or all done).
            let node = self.clone();
            let id = channel_id.to_string();
            let mut call = tokio::spawn(async move {
                node.inner
                    .rpc
                    .call_within("close", json!({"id": id}), Duration::from_secs(3600))
                    .await
            });
            loop {
                tokio::select! {
                    r = &mut call => {
                        return r
                            .map_err(|e| HarnessError::component(self.name(), e.to_string()))?
                            .map(|_| ());
                    }
                    _ = tokio::time::sleep(LOOK_EVERY) => {}
                }
                let snap = self.look().await?;
                let begun = snap.channels.iter().any(|c| {
                    str_of(c, "channel_id") == channel_id
                        && !matches!(
                            str_of(c, "state"),
                            "CHANNELD_NORMAL" | "CHANNELD_AWAITING_LOCKIN"
                        )
                });
                if begun {
                    return Ok(());
                }
            }
        }
        .boxed()
    }

    fn force_close_channel<'a>(&'a self, channel_id: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            let snap = self.look().await?;
            let peer = snap
                .channels
                .iter()
                .find(|c| c.get("channel_id").and_then(Value::as_str) == Some(channel_id))
                .map(|c| text(c, "peer_id"))
                .ok_or_else(|| HarnessError::NodeApi {
                    node: self.name().to_string(),
                    path: "force-close".to_string(),
                    status: 0,
                    code: "unknown_channel".to_string(),
                    message: format!("no channel {channel_id}"),
                })?;
            force_close::force_close(self, channel_id, &peer).await
        }
        .boxed()
    }

    fn invoice<'a>(
        &'a self,
        msat: u64,
        hold_hash: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Invoice>> {
        async move {
            if let Some(hash) = hold_hash {
                return self.hold_invoice(msat, hash).await;
            }
            let label = format!("vls-chaos-{}", rand::random::<u64>());
            let r = self
                .call(
                    "invoice",
                    json!({"amount_msat": msat, "label": label, "description": "vls-chaos"}),
                )
                .await?;
            Ok(invoice_of(&r, false))
        }
        .boxed()
    }

    fn settle<'a>(&'a self, payment_hash: &'a str, preimage: &'a str) -> BoxFuture<'a, Result<()>> {
        self.hold_settle(payment_hash, preimage).boxed()
    }

    fn fail<'a>(&'a self, payment_hash: &'a str) -> BoxFuture<'a, Result<()>> {
        self.hold_cancel(payment_hash).boxed()
    }

    fn pay<'a>(&'a self, invoice: &'a str) -> BoxFuture<'a, Result<String>> {
        self.pay_request(invoice).send_and_wait().boxed()
    }

    fn payments(&self) -> BoxFuture<'_, Result<Vec<Payment>>> {
        async move { Ok(payments(&self.look().await?)) }.boxed()
    }

    fn balance(&self) -> BoxFuture<'_, Result<Balance>> {
        async move {
            let (funds, channels, accounts) = tokio::try_join!(
                self.call("listfunds", json!({})),
                self.call("listpeerchannels", json!({})),
                self.call("bkpr-listbalances", json!({})),
            )?;
            Ok(balance(&funds, &array(&channels, "channels"), &accounts))
        }
        .boxed()
    }

    fn new_address(&self) -> BoxFuture<'_, Result<String>> {
        async move {
            let r = self.call("newaddr", json!({})).await?;
            Ok(text(&r, "bech32"))
        }
        .boxed()
    }

    fn wait_event<'a>(
        &'a self,
        what: &'a str,
        timeout: Duration,
        pred: &'a (dyn Fn(&NodeEvent) -> bool + Send + Sync),
    ) -> BoxFuture<'a, Result<NodeEvent>> {
        async move {
            let (event, after) = first_match(self.name(), what, timeout, pred, |t| async move {
                let mut cursor = *lock(&self.inner.cursor);
                let events = self.poll_events(&mut cursor, t).await?;
                *lock(&self.inner.cursor) = cursor;
                Ok(events)
            })
            .await?;
            // Events up to the match are consumed; the rest stay.
            lock(&self.inner.cursor).1 -= after as u64;
            Ok(event)
        }
        .boxed()
    }
}
