//! What the chain says: a [`ChainSource`] answers for blocks, broadcasts and
//! fee estimates; [`ChainView`] scans blocks once for the transactions that
//! spend what we watch (bitcoind here runs without `-txindex`, so a spender
//! can only be found by reading blocks).

mod recorded;
mod rpc;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lightning_signer::bitcoin::{Block, OutPoint, ScriptBuf, Transaction, Txid};

pub use recorded::RecordedChain;
pub use rpc::{RpcAuth, RpcChain};

use crate::RecoveryError;

/// A source of chain data. Implement it for another backend (Esplora, a
/// light client) without touching the classification or the plan.
pub trait ChainSource {
    /// Height of the best block.
    fn tip_height(&self) -> Result<u32, RecoveryError>;
    /// The block at `height` on the best chain.
    fn block_at(&self, height: u32) -> Result<Block, RecoveryError>;
    /// Hands `tx` to the network; the txid when accepted.
    fn broadcast(&self, tx: &Transaction) -> Result<Txid, RecoveryError>;
    /// The fee rate (sat per 1000 weight units) to confirm within `target`
    /// blocks, if the source has an estimate.
    fn fee_rate_estimate(&self, target: u16) -> Result<Option<u32>, RecoveryError>;
    /// The unconfirmed transaction spending `outpoint` in the mempool, if
    /// any.
    fn mempool_spender(&self, outpoint: &OutPoint) -> Result<Option<Transaction>, RecoveryError>;
    /// Waits until the tip is above `height`, or `timeout` passes; returns
    /// the tip then.
    fn wait_for_block(&self, height: u32, timeout: Duration) -> Result<u32, RecoveryError>;
}

/// A confirmed transaction and its height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    pub tx: Transaction,
    pub height: u32,
}

/// What one scan found: where each watched transaction and outpoint's
/// spender confirmed. Outputs of a watched transaction are watched in turn,
/// so one pass finds a funding output's whole tree of spends.
#[derive(Debug, Default, Clone)]
pub struct ChainView {
    pub tip: u32,
    /// The first height scanned.
    pub from: u32,
    txs: BTreeMap<Txid, Confirmed>,
    spenders: BTreeMap<OutPoint, Txid>,
    /// Outputs paying one of the watched scripts.
    paying: BTreeMap<OutPoint, (ScriptBuf, u64)>,
}

impl ChainView {
    /// Scans `from..=tip` for `funding` outpoints: the transactions that
    /// create them, and every transaction that spends them or, transitively,
    /// an output of one of those.
    pub fn scan(
        source: &dyn ChainSource,
        funding: &[OutPoint],
        from: u32,
    ) -> Result<ChainView, RecoveryError> {
        ChainView::scan_with_scripts(source, funding, &[], from)
    }

    /// As [`ChainView::scan`], and also every output paying one of
    /// `scripts` (the fee wallet's), with its spender.
    pub fn scan_with_scripts(
        source: &dyn ChainSource,
        funding: &[OutPoint],
        scripts: &[ScriptBuf],
        from: u32,
    ) -> Result<ChainView, RecoveryError> {
        let tip = source.tip_height()?;
        let mut view = ChainView {
            tip,
            from,
            ..ChainView::default()
        };
        let funding_txids: BTreeSet<Txid> = funding.iter().map(|o| o.txid).collect();
        let mut watched: BTreeSet<OutPoint> = funding.iter().copied().collect();
        for height in from..=tip {
            let block = source.block_at(height)?;
            for tx in block.txdata {
                let txid = tx.compute_txid();
                let spends_watched = tx
                    .input
                    .iter()
                    .any(|i| watched.contains(&i.previous_output));
                let mut pays_script = false;
                for (vout, o) in tx.output.iter().enumerate() {
                    if scripts.contains(&o.script_pubkey) {
                        pays_script = true;
                        let op = OutPoint {
                            txid,
                            vout: vout as u32,
                        };
                        watched.insert(op);
                        view.paying
                            .insert(op, (o.script_pubkey.clone(), o.value.to_sat()));
                    }
                }
                if !spends_watched && !pays_script && !funding_txids.contains(&txid) {
                    continue;
                }
                if spends_watched {
                    for i in &tx.input {
                        if watched.contains(&i.previous_output) {
                            view.spenders.insert(i.previous_output, txid);
                        }
                    }
                    watched.extend((0..tx.output.len() as u32).map(|vout| OutPoint { txid, vout }));
                }
                view.txs.insert(txid, Confirmed { tx, height });
            }
        }
        Ok(view)
    }

    /// A watched transaction, if it confirmed.
    pub fn tx(&self, txid: &Txid) -> Option<&Confirmed> {
        self.txs.get(txid)
    }

    /// Every watched transaction that confirmed.
    pub fn txs(&self) -> impl Iterator<Item = &Transaction> {
        self.txs.values().map(|c| &c.tx)
    }

    /// The confirmed transaction spending `outpoint`, if any.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<&Confirmed> {
        self.spenders.get(outpoint).and_then(|t| self.txs.get(t))
    }

    /// Unspent outputs paying `script` (a watched one), with their values.
    pub fn unspent_paying(&self, script: &ScriptBuf) -> Vec<(OutPoint, u64)> {
        self.paying
            .iter()
            .filter(|(op, (s, _))| s == script && !self.spenders.contains_key(op))
            .map(|(op, (_, v))| (*op, *v))
            .collect()
    }

    /// Confirmations of a transaction at `height` (1 in the tip block).
    pub fn confirmations(&self, height: u32) -> u32 {
        (self.tip + 1).saturating_sub(height)
    }
}
