//! [`ChainSource`] over blocks kept in a file: a chain recorded from a
//! bitcoind (or built by a test), read without any node running.
//!
//! The file is JSON: `{"blocks": ["<block hex>", ...]}`, block `i` at height
//! `i`. Transactions handed to [`ChainSource::broadcast`] are kept in memory
//! and go into the next block [`RecordedChain::mine`] makes.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use lightning_signer::bitcoin::block::{Header, Version};
use lightning_signer::bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use lightning_signer::bitcoin::hashes::Hash;
use lightning_signer::bitcoin::{
    Block, BlockHash, CompactTarget, OutPoint, Transaction, TxMerkleNode, Txid,
};
use serde::{Deserialize, Serialize};

use super::ChainSource;
use crate::RecoveryError;

#[derive(Serialize, Deserialize)]
struct RecordedFile {
    blocks: Vec<String>,
}

#[derive(Default)]
pub struct RecordedChain {
    blocks: Mutex<Vec<Block>>,
    mempool: Mutex<Vec<Transaction>>,
    fee_rate: Option<u32>,
}

fn poisoned() -> RecoveryError {
    RecoveryError::Internal {
        reason: "recorded chain lock poisoned".into(),
    }
}

impl RecordedChain {
    /// A chain of `blocks`, block `i` at height `i`.
    pub fn new(blocks: Vec<Block>) -> RecordedChain {
        RecordedChain {
            blocks: Mutex::new(blocks),
            ..RecordedChain::default()
        }
    }

    /// Answers fee estimates with `rate` (sat/kw) instead of none.
    pub fn with_fee_rate(mut self, rate: u32) -> RecordedChain {
        self.fee_rate = Some(rate);
        self
    }

    pub fn load(path: &Path) -> Result<RecordedChain, RecoveryError> {
        let bytes = std::fs::read(path).map_err(RecoveryError::io(path))?;
        let file: RecordedFile =
            serde_json::from_slice(&bytes).map_err(|e| RecoveryError::ChainData {
                source_name: path.display().to_string(),
                reason: format!("expected {{\"blocks\": [hex, ...]}}: {e}"),
            })?;
        let blocks = file
            .blocks
            .iter()
            .enumerate()
            .map(|(height, hex)| {
                deserialize_hex::<Block>(hex).map_err(|e| RecoveryError::ChainData {
                    source_name: path.display().to_string(),
                    reason: format!("blocks[{height}]: not a block: {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordedChain::new(blocks))
    }

    pub fn save(&self, path: &Path) -> Result<(), RecoveryError> {
        let blocks = self.blocks.lock().map_err(|_| poisoned())?;
        let file = RecordedFile {
            blocks: blocks.iter().map(serialize_hex).collect(),
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| RecoveryError::Internal {
            reason: format!("recorded chain to JSON: {e}"),
        })?;
        std::fs::write(path, bytes).map_err(RecoveryError::io(path))
    }

    /// Appends a block holding `txs` and what was broadcast since the last
    /// block; the block's proof of work is not real (nothing here checks it).
    pub fn mine(&self, txs: Vec<Transaction>) -> Result<u32, RecoveryError> {
        let mut blocks = self.blocks.lock().map_err(|_| poisoned())?;
        let mut mempool = self.mempool.lock().map_err(|_| poisoned())?;
        let mut txdata = txs;
        txdata.append(&mut mempool);
        let prev_blockhash = blocks
            .last()
            .map(|b| b.block_hash())
            .unwrap_or(BlockHash::all_zeros());
        let height = blocks.len() as u32;
        let mut block = Block {
            header: Header {
                version: Version::TWO,
                prev_blockhash,
                merkle_root: TxMerkleNode::all_zeros(),
                time: 1_700_000_000 + height,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: 0,
            },
            txdata,
        };
        if let Some(root) = block.compute_merkle_root() {
            block.header.merkle_root = root;
        }
        blocks.push(block);
        Ok(height)
    }

    /// Appends a block holding only `txs`: what was broadcast stays in the
    /// mempool (a block that left our low-fee transaction out).
    pub fn mine_only(&self, txs: Vec<Transaction>) -> Result<u32, RecoveryError> {
        let kept = std::mem::take(&mut *self.mempool.lock().map_err(|_| poisoned())?);
        let height = self.mine(txs);
        *self.mempool.lock().map_err(|_| poisoned())? = kept;
        height
    }

    /// Forgets the mempool, as a restarted node without its mempool file.
    pub fn clear_mempool(&self) -> Result<(), RecoveryError> {
        self.mempool.lock().map_err(|_| poisoned())?.clear();
        Ok(())
    }

    /// What was broadcast and not yet mined.
    pub fn mempool(&self) -> Result<Vec<Transaction>, RecoveryError> {
        Ok(self.mempool.lock().map_err(|_| poisoned())?.clone())
    }
}

impl ChainSource for RecordedChain {
    fn tip_height(&self) -> Result<u32, RecoveryError> {
        let blocks = self.blocks.lock().map_err(|_| poisoned())?;
        Ok((blocks.len() as u32).saturating_sub(1))
    }

    fn block_at(&self, height: u32) -> Result<Block, RecoveryError> {
        let blocks = self.blocks.lock().map_err(|_| poisoned())?;
        blocks
            .get(height as usize)
            .cloned()
            .ok_or_else(|| RecoveryError::ChainData {
                source_name: "recorded chain".into(),
                reason: format!(
                    "no block at height {height} (tip {})",
                    blocks.len().saturating_sub(1)
                ),
            })
    }

    /// As a node's mempool would: a transaction already there is accepted
    /// again; one spending an output a mempool transaction spends replaces
    /// it only if it pays a higher fee (BIP 125, where the prevouts are
    /// known); one spending an output spent in a block is refused.
    fn broadcast(&self, tx: &Transaction) -> Result<Txid, RecoveryError> {
        let txid = tx.compute_txid();
        let blocks = self.blocks.lock().map_err(|_| poisoned())?;
        let mut mempool = self.mempool.lock().map_err(|_| poisoned())?;
        if mempool.iter().any(|m| m.compute_txid() == txid) {
            return Ok(txid);
        }
        let spends = |t: &Transaction| -> Vec<OutPoint> {
            t.input.iter().map(|i| i.previous_output).collect()
        };
        let ours = spends(tx);
        let reject = |reason: String| RecoveryError::BroadcastRejected {
            txid: txid.to_string(),
            reason,
        };
        if blocks
            .iter()
            .flat_map(|b| &b.txdata)
            .any(|t| spends(t).iter().any(|o| ours.contains(o)))
        {
            return Err(reject("bad-txns-inputs-missingorspent".into()));
        }
        let fee = |t: &Transaction| -> Option<u64> {
            let mut value_in = 0u64;
            for o in spends(t) {
                let prev = blocks
                    .iter()
                    .flat_map(|b| &b.txdata)
                    .chain(mempool.iter())
                    .find(|p| p.compute_txid() == o.txid)?;
                value_in += prev.output.get(o.vout as usize)?.value.to_sat();
            }
            let out: u64 = t.output.iter().map(|o| o.value.to_sat()).sum();
            value_in.checked_sub(out)
        };
        let conflicts: Vec<usize> = (0..mempool.len())
            .filter(|i| spends(&mempool[*i]).iter().any(|o| ours.contains(o)))
            .collect();
        for i in &conflicts {
            if let (Some(new), Some(old)) = (fee(tx), fee(&mempool[*i])) {
                if new <= old {
                    return Err(reject(format!(
                        "insufficient fee: replaces {} paying {old} sat with {new} sat",
                        mempool[*i].compute_txid()
                    )));
                }
            }
        }
        for i in conflicts.into_iter().rev() {
            mempool.remove(i);
        }
        mempool.push(tx.clone());
        Ok(txid)
    }

    fn fee_rate_estimate(&self, _target: u16) -> Result<Option<u32>, RecoveryError> {
        Ok(self.fee_rate)
    }

    fn mempool_spender(&self, outpoint: &OutPoint) -> Result<Option<Transaction>, RecoveryError> {
        let mempool = self.mempool.lock().map_err(|_| poisoned())?;
        Ok(mempool
            .iter()
            .find(|t| t.input.iter().any(|i| i.previous_output == *outpoint))
            .cloned())
    }

    /// A recorded chain grows only by [`RecordedChain::mine`]: nothing to
    /// wait for.
    fn wait_for_block(&self, _height: u32, _timeout: Duration) -> Result<u32, RecoveryError> {
        self.tip_height()
    }
}
