//! The node's JSON-RPC client for bitcoind: its own wallet (funding, sweep
//! destination, balance), fee estimates and broadcasting. Blocks come through
//! `lightning-block-sync` (see `chain`).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bitcoin::consensus::encode;
use bitcoin::{Address, Amount, Network, Transaction};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

#[derive(Clone)]
pub struct Bitcoind {
    http: reqwest::Client,
    base: String,
    wallet: String,
    user: String,
    password: String,
    network: Network,
}

impl Bitcoind {
    pub fn new(
        base: &str,
        user: &str,
        password: &str,
        wallet: &str,
        network: Network,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the bitcoind http client")?;
        Ok(Bitcoind {
            http,
            base: base.trim_end_matches('/').to_string(),
            wallet: wallet.to_string(),
            user: user.to_string(),
            password: password.to_string(),
            network,
        })
    }

    pub fn network(&self) -> Network {
        self.network
    }

    /// `host:port` and `user:password` for lightning-block-sync's RPC client.
    pub fn endpoint_parts(&self) -> (String, u16, String) {
        let without_scheme = self
            .base
            .trim_start_matches("http://")
            .trim_start_matches("https://");
        let (host, port) = match without_scheme.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().unwrap_or(18443)),
            None => (without_scheme.to_string(), 18443),
        };
        (host, port, format!("{}:{}", self.user, self.password))
    }

    async fn request<T: DeserializeOwned>(
        &self,
        path: &str,
        method: &str,
        params: Value,
    ) -> Result<T> {
        let body = json!({"jsonrpc": "1.0", "id": "lnnode", "method": method, "params": params});
        let resp = self
            .http
            .post(format!("{}{}", self.base, path))
            .basic_auth(&self.user, Some(&self.password))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("bitcoind rpc `{method}`: no answer"))?;
        let v: Value = resp
            .json()
            .await
            .with_context(|| format!("bitcoind rpc `{method}`: unreadable answer"))?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
            let msg = err.get("message").and_then(Value::as_str).unwrap_or("");
            bail!(RpcError {
                method: method.to_string(),
                code,
                message: msg.to_string()
            });
        }
        serde_json::from_value(v.get("result").cloned().unwrap_or(Value::Null))
            .with_context(|| format!("bitcoind rpc `{method}`: unexpected result shape"))
    }

    /// A node-level call (no wallet).
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T> {
        self.request("/", method, params).await
    }

    /// Returns once bitcoind's tip is at `height` or above, or after
    /// `within` (whichever comes first).
    pub async fn wait_for_height(&self, height: u32, within: Duration) -> Result<()> {
        let _: Value = self
            .call(
                "waitforblockheight",
                json!([height, within.as_millis() as u64]),
            )
            .await?;
        Ok(())
    }

    /// A call on this node's wallet.
    pub async fn wallet_call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T> {
        let path = format!("/wallet/{}", self.wallet);
        self.request(&path, method, params).await
    }

    /// Creates or loads this node's wallet (loaded on bitcoind startup afterwards).
    pub async fn ensure_wallet(&self) -> Result<()> {
        let loaded: Vec<String> = self.call("listwallets", json!([])).await?;
        if loaded.iter().any(|w| w == &self.wallet) {
            return Ok(());
        }
        match self
            .call::<Value>("loadwallet", json!([self.wallet, true]))
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if is_code(&e, -18) => {}
            Err(e) if is_code(&e, -35) => return Ok(()),
            Err(e) => return Err(e),
        }
        self.call::<Value>(
            "createwallet",
            json!([self.wallet, false, false, "", false, true, true]),
        )
        .await
        .map(|_| ())
    }

    pub async fn new_address(&self) -> Result<Address> {
        let a: String = self
            .wallet_call("getnewaddress", json!(["", "bech32"]))
            .await?;
        a.parse::<Address<_>>()?
            .require_network(self.network)
            .map_err(|e| anyhow!("bitcoind returned an address for another network: {e}"))
    }

    /// Confirmed and unconfirmed-trusted wallet balance.
    pub async fn wallet_balance(&self) -> Result<(Amount, Amount)> {
        let v: Value = self.wallet_call("getbalances", json!([])).await?;
        let get = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_f64)
                .and_then(|b| Amount::from_btc(b).ok())
                .unwrap_or(Amount::ZERO)
        };
        Ok((get("/mine/trusted"), get("/mine/untrusted_pending")))
    }

    /// A signed transaction paying `amount` to `address`, funded by the wallet. Not broadcast.
    pub async fn fund_output(&self, address: &Address, amount: Amount) -> Result<Transaction> {
        let raw: String = self
            .wallet_call(
                "createrawtransaction",
                json!([[], [{ address.to_string(): amount.to_btc() }]]),
            )
            .await?;
        let funded: Value = self
            .wallet_call("fundrawtransaction", json!([raw, {"replaceable": false}]))
            .await?;
        let hex = funded
            .get("hex")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("fundrawtransaction: no hex in {funded}"))?;
        let signed: Value = self
            .wallet_call("signrawtransactionwithwallet", json!([hex]))
            .await?;
        if signed.get("complete").and_then(Value::as_bool) != Some(true) {
            bail!("signrawtransactionwithwallet: incomplete: {signed}");
        }
        let hex = signed
            .get("hex")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("signrawtransactionwithwallet: no hex"))?;
        let bytes = hex::decode(hex)?;
        let tx: Transaction = encode::deserialize(&bytes)?;
        // LDK broadcasts a funding transaction only once the peer has
        // signed, which can be much later (a restart in between); until
        // then the wallet must not spend its inputs on another one.
        // Persistent, so a bitcoind restart keeps the lock.
        self.wallet_call::<Value>("lockunspent", json!([false, outpoints(&tx), true]))
            .await
            .context("locking the funding transaction's inputs")?;
        Ok(tx)
    }

    /// Lets the wallet spend `tx`'s inputs again (its channel was given up).
    pub async fn unlock_inputs(&self, tx: &Transaction) -> Result<()> {
        self.wallet_call::<Value>("lockunspent", json!([true, outpoints(tx), true]))
            .await
            .map(|_| ())
    }

    pub async fn send_raw(&self, tx: &Transaction) -> Result<()> {
        let hex = encode::serialize_hex(tx);
        self.call::<String>("sendrawtransaction", json!([hex]))
            .await
            .map(|_| ())
    }

    /// Confirmations of a transaction, `None` if bitcoind does not know it.
    /// bitcoind runs without a transaction index, so a confirmed transaction
    /// that is not the wallet's reads as unknown; re-sending it then settles it.
    pub async fn confirmations(&self, txid: &bitcoin::Txid) -> Result<Option<u64>> {
        match self
            .call::<Value>("getrawtransaction", json!([txid.to_string(), true]))
            .await
        {
            Ok(v) => Ok(Some(
                v.get("confirmations").and_then(Value::as_u64).unwrap_or(0),
            )),
            Err(e) if is_code(&e, -5) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Fee rate estimate in sat/kvB for confirmation within `blocks`, if bitcoind has one.
    pub async fn estimate_sat_per_kvb(&self, blocks: u16) -> Option<u64> {
        let v: Value = self
            .call("estimatesmartfee", json!([blocks, "ECONOMICAL"]))
            .await
            .ok()?;
        let btc = v.get("feerate")?.as_f64()?;
        Amount::from_btc(btc).ok().map(|a| a.to_sat())
    }

    pub async fn tip(&self) -> Result<(bitcoin::BlockHash, u32)> {
        let v: Value = self.call("getblockchaininfo", json!([])).await?;
        let hash = v
            .get("bestblockhash")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("getblockchaininfo: no bestblockhash"))?
            .parse()?;
        let height = v
            .get("blocks")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("getblockchaininfo: no blocks"))?;
        Ok((hash, height as u32))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("bitcoind rpc `{method}` failed ({code}): {message}")]
pub struct RpcError {
    pub method: String,
    pub code: i64,
    pub message: String,
}

pub fn is_code(e: &anyhow::Error, code: i64) -> bool {
    e.downcast_ref::<RpcError>().is_some_and(|r| r.code == code)
}

/// `tx`'s inputs as `lockunspent` takes them.
fn outpoints(tx: &Transaction) -> Value {
    tx.input
        .iter()
        .map(
            |i| json!({"txid": i.previous_output.txid.to_string(), "vout": i.previous_output.vout}),
        )
        .collect()
}
