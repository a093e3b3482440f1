//! [`ChainSource`] over bitcoind's JSON-RPC.

use std::path::PathBuf;

use bitcoincore_rpc::{Auth, Client, RpcApi};
use lightning_signer::bitcoin::{Block, Transaction, Txid};

use super::ChainSource;
use crate::RecoveryError;

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
