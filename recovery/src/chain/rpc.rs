//! [`ChainSource`] over bitcoind's JSON-RPC.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bitcoincore_rpc::{Auth, Client, RpcApi};
use lightning_signer::bitcoin::{Block, OutPoint, Transaction, Txid};
use serde::Deserialize;

use super::ChainSource;
use crate::RecoveryError;

/// The longest single `waitfornewblock`: the RPC client's HTTP transport
/// gives up on a request after 15 s.
const RPC_WAIT_SLICE: Duration = Duration::from_secs(10);

/// One answer of `gettxspendingprevout`.
#[derive(Deserialize)]
struct SpendingPrevout {
    spendingtxid: Option<Txid>,
}

/// How to authenticate to bitcoind.
#[derive(Debug, Clone)]
pub enum RpcAuth {
    /// bitcoind's `.cookie` file.
    Cookie(PathBuf),
    /// A file holding `user:password` on its first line (kept out of argv
    /// and shell history).
    UserPassFile(PathBuf),
}

/// bitcoind reached over RPC.
pub struct RpcChain {
    url: String,
    client: Client,
}

impl RpcChain {
    pub fn connect(url: &str, auth: &RpcAuth) -> Result<RpcChain, RecoveryError> {
        let auth = match auth {
            RpcAuth::Cookie(path) => Auth::CookieFile(path.clone()),
            RpcAuth::UserPassFile(path) => {
                let text = std::fs::read_to_string(path).map_err(RecoveryError::io(path))?;
                let line = text.lines().next().unwrap_or_default();
                let Some((user, pass)) = line.split_once(':') else {
                    return Err(RecoveryError::Usage {
                        reason: format!(
                            "{}: expected `user:password` on the first line",
                            path.display()
                        ),
                    });
                };
                Auth::UserPass(user.to_string(), pass.to_string())
            }
        };
        let client = Client::new(url, auth).map_err(|e| RecoveryError::ChainUnreachable {
            source_name: url.to_string(),
            reason: e.to_string(),
        })?;
        Ok(RpcChain {
            url: url.to_string(),
            client,
        })
    }

    fn err(&self, what: &str, e: bitcoincore_rpc::Error) -> RecoveryError {
        RecoveryError::ChainUnreachable {
            source_name: self.url.clone(),
            reason: format!("{what}: {e}"),
        }
    }
}

impl ChainSource for RpcChain {
    fn tip_height(&self) -> Result<u32, RecoveryError> {
        let h = self
            .client
            .get_block_count()
            .map_err(|e| self.err("getblockcount", e))?;
        Ok(u32::try_from(h).unwrap_or(u32::MAX))
    }

    fn block_at(&self, height: u32) -> Result<Block, RecoveryError> {
        let hash = self
            .client
            .get_block_hash(u64::from(height))
            .map_err(|e| self.err(&format!("getblockhash {height}"), e))?;
        self.client
            .get_block(&hash)
            .map_err(|e| self.err(&format!("getblock {hash}"), e))
    }

    fn broadcast(&self, tx: &Transaction) -> Result<Txid, RecoveryError> {
        self.client
            .send_raw_transaction(tx)
            .map_err(|e| RecoveryError::BroadcastRejected {
                txid: tx.compute_txid().to_string(),
                reason: e.to_string(),
            })
    }

    fn mempool_spender(&self, outpoint: &OutPoint) -> Result<Option<Transaction>, RecoveryError> {
        // bitcoind answers this without -txindex (Bitcoin Core 24 and later).
        let arg = serde_json::json!([{"txid": outpoint.txid.to_string(), "vout": outpoint.vout}]);
        let found: Vec<SpendingPrevout> = self
            .client
            .call("gettxspendingprevout", &[arg])
            .map_err(|e| self.err("gettxspendingprevout", e))?;
        let Some(txid) = found.into_iter().find_map(|f| f.spendingtxid) else {
            return Ok(None);
        };
        match self.client.get_raw_transaction(&txid, None) {
            Ok(tx) => Ok(Some(tx)),
            // Mined or evicted between the two calls: not in the mempool.
            Err(bitcoincore_rpc::Error::JsonRpc(_)) => Ok(None),
            Err(e) => Err(self.err(&format!("getrawtransaction {txid}"), e)),
        }
    }

    fn wait_for_block(&self, height: u32, timeout: Duration) -> Result<u32, RecoveryError> {
        let start = Instant::now();
        loop {
            let tip = self.tip_height()?;
            let left = timeout.saturating_sub(start.elapsed());
            if tip > height || left.is_zero() {
                return Ok(tip);
            }
            // bitcoind answers when a block arrives or the wait ends; keep
            // each wait under the RPC transport's own timeout.
            let wait_ms = left.min(RPC_WAIT_SLICE).as_millis() as u64;
            self.client
                .wait_for_new_block(wait_ms)
                .map_err(|e| self.err("waitfornewblock", e))?;
        }
    }

    fn fee_rate_estimate(&self, target: u16) -> Result<Option<u32>, RecoveryError> {
        let r = self
            .client
            .estimate_smart_fee(target, None)
            .map_err(|e| self.err("estimatesmartfee", e))?;
        // BTC per 1000 vbytes to sat per 1000 weight units.
        Ok(r.fee_rate
            .map(|a| u32::try_from(a.to_sat() / 4).unwrap_or(u32::MAX)))
    }
}
