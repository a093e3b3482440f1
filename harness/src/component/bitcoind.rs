//! Regtest bitcoind (Bitcoin Knots from the base image), driven from the host
//! over JSON-RPC at its address on the run network.

use std::sync::Mutex;
use std::time::Duration;

use bitcoincore_rpc::bitcoin::Amount;
use bitcoincore_rpc::{jsonrpc, RpcApi};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::ready::wait_ready;
use crate::contained::DATADIR;
use crate::container::{Container, ContainerSpec};
use crate::error::{HarnessError, Result};
use crate::resources::Resources;
use crate::sync::lock;

/// bitcoind's answer to `getblock` with fees for a block whose undo data
/// is not on disk yet.
const UNDO_NOT_WRITTEN: &str = "Undo data expected but can't be read";

pub const RPC_PORT: u16 = 18443;
pub const P2P_PORT: u16 = 18444;
const WALLET: &str = "chaos";
const RPC_USER: &str = "chaos";

#[derive(Debug, Clone)]
pub struct BitcoindBuilder {
    image: String,
    name: String,
    rpc_timeout: Duration,
    ready_timeout: Duration,
}

impl BitcoindBuilder {
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn with_rpc_timeout(mut self, t: Duration) -> Self {
        self.rpc_timeout = t;
        self
    }

    pub fn with_ready_timeout(mut self, t: Duration) -> Self {
        self.ready_timeout = t;
        self
    }

    /// Starts the container, waits for RPC, and creates (or loads) the wallet.
    pub async fn start(self, res: &Resources) -> Result<Bitcoind> {
        let b = self.create(res).await?;
        b.ready().await?;
        Ok(b)
    }

    /// Starts the container without waiting; call [`Bitcoind::ready`] before use.
    pub async fn create(self, res: &Resources) -> Result<Bitcoind> {
        let mut pw = [0u8; 16];
        rand::rng().fill_bytes(&mut pw);
        let password = hex::encode(pw);
        let mut cmd = vec![
            "bitcoind".to_string(),
            "-regtest".to_string(),
            format!("-datadir={DATADIR}"),
            "-server".to_string(),
            "-printtoconsole".to_string(),
            "-rpcbind=0.0.0.0".to_string(),
            "-rpcallowip=0.0.0.0/0".to_string(),
            format!("-rpcuser={RPC_USER}"),
            format!("-rpcpassword={password}"),
            "-fallbackfee=0.00001".to_string(),
            // No -txindex: after a SIGKILL, bitcoind with an index can
            // refuse to start ("txindex: best block of the index not
            // found"), and kill faults on bitcoind must not end a run.
            // Knots defaults to legacy P2PKH addresses; Lightning wants segwit.
            "-addresstype=bech32".to_string(),
            "-changetype=bech32".to_string(),
            "-listen=1".to_string(),
            // Neither a router to map a port on (Knots enables PCP/NAT-PMP
            // by default) nor DNS seeds exist on a private regtest
            // network; the two threads racing at start aborted bitcoind
            // once (docs/findings.md, "bitcoind aborts at start").
            "-natpmp=0".to_string(),
            "-dnsseed=0".to_string(),
            // Knots refuses transactions it takes for CAT-21 mints
            // (nLockTime 21), its own wallet's among them: anti-fee-
            // sniping sets a recent height, now and then up to 99 back,
            // so a funding sent near height 110 is sometimes refused
            // (docs/findings.md, "Knots refuses its own wallet's
            // transactions").
            "-rejectparasites=0".to_string(),
            // Each wallet (the miner's, one per node) derives its
            // keypool when created: 1000 keys for each of 8 descriptors
            // by default, half a second of CPU per wallet on this
            // machine kind, for addresses a run never asks for. The
            // pool refills as addresses are handed out.
            "-keypool=20".to_string(),
        ];
        if !res.buffers_writes(&self.name) {
            // The wallets (the miner's, one per node) write every block's
            // coinbase and every payment to SQLite, and wait for each
            // write to reach the disk: a tenth of bitcoind's CPU in a
            // two-node run here (perf, 765 samples down to 680). A kill
            // or crash cannot lose what the kernel holds; only a power cut
            // could, and a bitcoind on the power-cut layer keeps SQLite's
            // fsyncs.
            cmd.push("-unsafesqlitesync".to_string());
        }
        let spec = ContainerSpec::new(&self.name, &self.image)
            .with_cmd(cmd)
            .with_volume(format!("{}-data", self.name), DATADIR)
            .with_cap_add("NET_ADMIN")
            .with_stop_grace(Duration::from_secs(30));
        let container = res.start(spec).await?;
        let b = Bitcoind {
            container,
            password,
            rpc_timeout: self.rpc_timeout,
            ready_timeout: self.ready_timeout,
            client: Mutex::new(None),
            mining_address: Mutex::new(None),
        };
        Ok(b)
    }
}

pub struct Bitcoind {
    container: Container,
    password: String,
    rpc_timeout: Duration,
    ready_timeout: Duration,
    /// (address, client): rebuilt when the container's address changes.
    client: Mutex<Option<(String, std::sync::Arc<bitcoincore_rpc::Client>)>>,
    mining_address: Mutex<Option<String>>,
}

impl std::fmt::Debug for Bitcoind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bitcoind")
            .field("container", &self.container)
            .finish_non_exhaustive()
    }
}

impl Bitcoind {
    pub fn builder(image: &str) -> BitcoindBuilder {
        BitcoindBuilder {
            image: image.to_string(),
            name: "bitcoind".to_string(),
            rpc_timeout: Duration::from_secs(30),
            ready_timeout: Duration::from_secs(60),
        }
    }

    pub fn container(&self) -> &Container {
        &self.container
    }

    /// `http://bitcoind:18443` as seen from other containers on the run network.
    pub fn internal_rpc_url(&self) -> String {
        format!("http://{}:{RPC_PORT}", self.container.name())
    }

    /// (user, password) for other components' RPC configuration.
    pub fn rpc_credentials(&self) -> (&str, &str) {
        (RPC_USER, &self.password)
    }

    async fn client(&self) -> Result<std::sync::Arc<bitcoincore_rpc::Client>> {
        // The container keeps its address per start; the client follows it.
        let address = self.container.address(RPC_PORT).await?;
        if let Some((a, c)) = lock(&self.client).as_ref() {
            if *a == address {
                return Ok(c.clone());
            }
        }
        let client = std::sync::Arc::new(self.wallet_client(&address, WALLET)?);
        *lock(&self.client) = Some((address, client.clone()));
        Ok(client)
    }

    /// A client of `wallet` at `address`, bounded by the RPC timeout.
    fn wallet_client(&self, address: &str, wallet: &str) -> Result<bitcoincore_rpc::Client> {
        let url = format!("http://{address}/wallet/{wallet}");
        let transport = jsonrpc::simple_http::SimpleHttpTransport::builder()
            .url(&url)
            .map_err(|e| HarnessError::component(self.container.name(), e.to_string()))?
            .auth(RPC_USER, Some(self.password.as_str()))
            .timeout(self.rpc_timeout)
            .build();
        Ok(bitcoincore_rpc::Client::from_jsonrpc(
            jsonrpc::Client::with_transport(transport),
        ))
    }

    /// Blocks `from..=tip` with their heights, decoded at `verbosity` (2:
    /// transactions; 3: and the output each input spends), in two batches.
    pub async fn blocks(&self, from: u64, verbosity: u8) -> Result<Vec<(u64, Value)>> {
        let tip = self.height().await?;
        let heights: Vec<u64> = (from.max(1)..=tip).collect();
        let hashes: Vec<String> = self
            .call_batch(
                "getblockhash",
                heights.iter().map(|h| vec![json!(h)]).collect(),
            )
            .await?;
        let params: Vec<Vec<Value>> = hashes
            .iter()
            .map(|h| vec![json!(h), json!(verbosity)])
            .collect();
        let blocks: Vec<Value> = match self.call_batch("getblock", params.clone()).await {
            // Decoding with fees reads each block's undo data, which
            // bitcoind may not have written out yet for a block it has
            // just connected ("Undo data expected but can't be read");
            // a flush writes it.
            Err(HarnessError::Rpc { reason, .. }) if reason.contains(UNDO_NOT_WRITTEN) => {
                self.flush().await?;
                self.call_batch("getblock", params).await?
            }
            other => other?,
        };
        Ok(heights.into_iter().zip(blocks).collect())
    }

    /// One RPC call, bounded by the RPC timeout. The client is blocking, so it
    /// runs on the blocking pool; a frozen bitcoind yields a clear error, not a hang.
    pub async fn call<T: DeserializeOwned + Send + 'static>(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<T> {
        let m = method.to_string();
        let timeout = self.rpc_timeout;
        self.blocking(method.to_string(), move |client| {
            client
                .call::<T>(&m, &params)
                .map_err(|e| describe_rpc_error(&e, timeout))
        })
        .await
    }

    /// One call on another wallet of this bitcoind (a node's), with a
    /// client of its own: rare (the checks at the end of a run).
    pub async fn wallet_call<T: DeserializeOwned + Send + 'static>(
        &self,
        wallet: &str,
        method: &str,
        params: Vec<Value>,
    ) -> Result<T> {
        let address = self.container.address(RPC_PORT).await?;
        let client = std::sync::Arc::new(self.wallet_client(&address, wallet)?);
        let m = method.to_string();
        let timeout = self.rpc_timeout;
        self.blocking_with(
            client,
            format!("{method} (wallet {wallet})"),
            move |client| {
                client
                    .call::<T>(&m, &params)
                    .map_err(|e| describe_rpc_error(&e, timeout))
            },
        )
        .await
    }

    /// `method` once per entry of `params`, in one HTTP request (JSON-RPC
    /// batch): scanning a hundred blocks one call at a time costs bitcoind,
    /// the harness and the kernel a round trip each.
    pub async fn call_batch<T: DeserializeOwned + Send + 'static>(
        &self,
        method: &str,
        params: Vec<Vec<Value>>,
    ) -> Result<Vec<T>> {
        if params.is_empty() {
            return Ok(Vec::new());
        }
        let m = method.to_string();
        self.blocking(format!("{method} (batch)"), move |client| {
            let rpc = client.get_jsonrpc_client();
            let raw: Vec<Box<serde_json::value::RawValue>> = params
                .iter()
                .map(|p| serde_json::value::to_raw_value(p).map_err(|e| e.to_string()))
                .collect::<std::result::Result<_, _>>()?;
            let requests: Vec<_> = raw.iter().map(|p| rpc.build_request(&m, Some(p))).collect();
            rpc.send_batch(&requests)
                .map_err(|e| e.to_string())?
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    r.ok_or_else(|| format!("no answer to call {i} of the batch"))?
                        .result::<T>()
                        .map_err(|e| format!("call {i} of the batch: {e}"))
                })
                .collect()
        })
        .await
    }

    /// Runs `f` with the client on the blocking pool (the client blocks),
    /// bounded by the RPC timeout: a frozen bitcoind yields a clear error
    /// naming `method`, not a hang.
    async fn blocking<R: Send + 'static>(
        &self,
        method: String,
        f: impl FnOnce(std::sync::Arc<bitcoincore_rpc::Client>) -> std::result::Result<R, String>
            + Send
            + 'static,
    ) -> Result<R> {
        let client = self.client().await?;
        self.blocking_with(client, method, f).await
    }

    /// [`Bitcoind::blocking`] with a given client (another wallet's).
    async fn blocking_with<R: Send + 'static>(
        &self,
        client: std::sync::Arc<bitcoincore_rpc::Client>,
        method: String,
        f: impl FnOnce(std::sync::Arc<bitcoincore_rpc::Client>) -> std::result::Result<R, String>
            + Send
            + 'static,
    ) -> Result<R> {
        let task = tokio::task::spawn_blocking(move || f(client));
        let rpc_err = |reason: String| HarnessError::Rpc {
            component: self.container.name().to_string(),
            method: method.clone(),
            reason,
        };
        match tokio::time::timeout(self.rpc_timeout + Duration::from_secs(1), task).await {
            Err(_) => Err(rpc_err(format!(
                "no answer within {:.1}s",
                self.rpc_timeout.as_secs_f64()
            ))),
            Ok(Err(join)) => Err(rpc_err(join.to_string())),
            Ok(Ok(r)) => r.map_err(rpc_err),
        }
    }

    /// Waits until RPC answers and the wallet is loaded: usable for every call.
    /// Needed after every (re)start.
    pub async fn ready(&self) -> Result<()> {
        self.wait_rpc().await?;
        self.ensure_wallet().await
    }

    /// Waits until RPC answers and the node is out of its warm-up.
    pub async fn wait_rpc(&self) -> Result<()> {
        let what = format!("{}: rpc ready", self.container.name());
        wait_ready(&self.container, &what, self.ready_timeout, || async {
            self.call::<Value>("getblockchaininfo", vec![])
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await
    }

    /// Creates the wallet, set to load on startup, or loads it after a restart.
    async fn ensure_wallet(&self) -> Result<()> {
        let loaded: Vec<String> = self.call("listwallets", vec![]).await?;
        if loaded.iter().any(|w| w == WALLET) {
            return Ok(());
        }
        let created = self
            .call::<Value>(
                "createwallet",
                vec![
                    json!(WALLET),
                    json!(false),
                    json!(false),
                    json!(""),
                    json!(false),
                    json!(true),
                    json!(true),
                ],
            )
            .await;
        match created {
            Ok(_) => Ok(()),
            // -4: already exists on disk (a restarted node that did not autoload).
            Err(HarnessError::Rpc { reason, .. }) if reason.contains("already exists") => self
                .call::<Value>("loadwallet", vec![json!(WALLET)])
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        }
    }

    pub async fn height(&self) -> Result<u64> {
        self.call("getblockcount", vec![]).await
    }

    pub async fn new_address(&self) -> Result<String> {
        self.call("getnewaddress", vec![json!(""), json!("bech32")])
            .await
    }

    async fn mining_address(&self) -> Result<String> {
        if let Some(a) = lock(&self.mining_address).clone() {
            return Ok(a);
        }
        let a = self.new_address().await?;
        *lock(&self.mining_address) = Some(a.clone());
        Ok(a)
    }

    /// Mines `n` blocks paying the wallet; returns their hashes.
    pub async fn mine(&self, n: u64) -> Result<Vec<String>> {
        let addr = self.mining_address().await?;
        self.mine_to(&addr, n).await
    }

    /// Mines `n` blocks to `address`, flushes them to disk and lets the
    /// wallet catch up before returning.
    pub async fn mine_to(&self, address: &str, n: u64) -> Result<Vec<String>> {
        let hashes: Vec<String> = self
            .call("generatetoaddress", vec![json!(n), json!(address)])
            .await?;
        self.flush().await?;
        // The wallet learns of new blocks from a queue that runs behind
        // `generatetoaddress`: without this, a send right after mining can
        // miss the coinbase that just matured (seen in CI: "Insufficient
        // funds" right after the first 101 blocks).
        self.call::<Value>("syncwithvalidationinterfacequeue", vec![])
            .await?;
        tracing::debug!(component = %self.container.name(), blocks = n, tip = hashes.last().map(String::as_str).unwrap_or(""), "mined");
        Ok(hashes)
    }

    /// Forces the block index and chainstate to disk. bitcoind keeps them in
    /// memory between periodic flushes, and a lone regtest node has no peer to
    /// fetch lost blocks from: measured here, a SIGKILL 0.1 s after mining 101
    /// blocks came back at height 0. `gettxoutsetinfo` flushes before it counts.
    pub async fn flush(&self) -> Result<()> {
        self.call::<Value>("gettxoutsetinfo", vec![json!("none")])
            .await
            .map(|_| ())
    }

    /// True once output `txid:vout` exists, in the mempool or unspent in the chain.
    pub async fn has_output(&self, txid: &str, vout: u32) -> Result<bool> {
        let v: Value = self
            .call("gettxout", vec![json!(txid), json!(vout), json!(true)])
            .await?;
        Ok(!v.is_null())
    }

    /// Sends `sat` from the wallet; returns the txid.
    pub async fn send_to(&self, address: &str, sat: u64) -> Result<String> {
        let btc = Amount::from_sat(sat).to_btc();
        let txid: String = self
            .call("sendtoaddress", vec![json!(address), json!(btc)])
            .await?;
        tracing::info!(component = %self.container.name(), txid = %txid, sat, "sent");
        self.ensure_in_mempool(&txid).await?;
        Ok(txid)
    }

    /// The wallet keeps and returns a transaction the mempool refused
    /// (`sendtoaddress` does not fail then), and a block mined next leaves
    /// it out: seen once in CI as a node funded with nothing. So each send
    /// is checked; a refused one is offered again once, and if the mempool
    /// still says no, the error carries its reason.
    async fn ensure_in_mempool(&self, txid: &str) -> Result<()> {
        if self.in_mempool(txid).await? {
            return Ok(());
        }
        let tx: Value = self.call("gettransaction", vec![json!(txid)]).await?;
        let confirmations = tx.get("confirmations").and_then(Value::as_i64);
        if confirmations.is_some_and(|c| c > 0) {
            return Ok(());
        }
        let hex = tx.get("hex").and_then(Value::as_str).unwrap_or_default();
        let test: Value = self.call("testmempoolaccept", vec![json!([hex])]).await?;
        let reason = test
            .pointer("/0/reject-reason")
            .and_then(Value::as_str)
            .unwrap_or("no reason given")
            .to_string();
        tracing::warn!(component = %self.container.name(), txid, reason = %reason, "the wallet's transaction is not in the mempool; offering it again");
        let again = self
            .call::<String>("sendrawtransaction", vec![json!(hex)])
            .await;
        if again.is_ok() && self.in_mempool(txid).await? {
            return Ok(());
        }
        Err(HarnessError::Rpc {
            component: self.container.name().to_string(),
            method: "sendtoaddress".to_string(),
            reason: format!(
                "transaction {txid} is in the wallet but the mempool refuses it: {reason} (offered again: {again:?}; wallet's view: {tx})"
            ),
        })
    }

    /// Fails, with the wallet's view of it, unless `txid` is in a block.
    pub async fn ensure_confirmed(&self, txid: &str) -> Result<()> {
        let tx: Value = self.call("gettransaction", vec![json!(txid)]).await?;
        match tx.get("confirmations").and_then(Value::as_i64) {
            Some(c) if c > 0 => Ok(()),
            _ => Err(HarnessError::Rpc {
                component: self.container.name().to_string(),
                method: "gettransaction".to_string(),
                reason: format!(
                    "transaction {txid} is not in a block (in mempool: {}); wallet's view: {tx}",
                    self.in_mempool(txid).await?
                ),
            }),
        }
    }

    async fn in_mempool(&self, txid: &str) -> Result<bool> {
        let entry: std::result::Result<Value, _> =
            self.call("getmempoolentry", vec![json!(txid)]).await;
        Ok(entry.is_ok())
    }

    /// Trusted (confirmed, mature) wallet balance in satoshis.
    pub async fn balance_sat(&self) -> Result<u64> {
        let v: Value = self.call("getbalances", vec![]).await?;
        let btc = v
            .pointer("/mine/trusted")
            .and_then(Value::as_f64)
            .ok_or_else(|| HarnessError::Rpc {
                component: self.container.name().to_string(),
                method: "getbalances".to_string(),
                reason: format!("no mine.trusted in answer: {v}"),
            })?;
        Amount::from_btc(btc)
            .map(|a| a.to_sat())
            .map_err(|e| HarnessError::Rpc {
                component: self.container.name().to_string(),
                method: "getbalances".to_string(),
                reason: format!("mine.trusted {btc}: {e}"),
            })
    }
}

fn describe_rpc_error(e: &bitcoincore_rpc::Error, timeout: Duration) -> String {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if lower.contains("timed out")
        || lower.contains("would block")
        || lower.contains("resource temporarily unavailable")
    {
        format!("no answer within {:.1}s ({text})", timeout.as_secs_f64())
    } else {
        text
    }
}

/// Regtest block subsidy at `height` (halving every 150 blocks), in satoshis.
pub fn regtest_subsidy_sat(height: u64) -> u64 {
    let halvings = height / 150;
    if halvings >= 64 {
        0
    } else {
        (50 * 100_000_000u64) >> halvings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsidy_halves_every_150_blocks() {
        assert_eq!(regtest_subsidy_sat(1), 5_000_000_000);
        assert_eq!(regtest_subsidy_sat(149), 5_000_000_000);
        assert_eq!(regtest_subsidy_sat(150), 2_500_000_000);
        assert_eq!(regtest_subsidy_sat(150 * 64), 0);
    }
}
