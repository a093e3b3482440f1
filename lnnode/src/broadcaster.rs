//! Broadcasts through bitcoind and keeps re-sending each transaction until it
//! confirms or the network rejects it for good (spent, replaced, conflicting):
//! a restarted or briefly partitioned bitcoind must not lose a commitment or sweep.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::{Transaction, Txid};
use lightning::chain::chaininterface::BroadcasterInterface;

use crate::bitcoind::{Bitcoind, RpcError};
use crate::sync::lock;

pub struct Broadcaster {
    inner: Arc<Inner>,
}

struct Inner {
    bitcoind: Bitcoind,
    pending: Mutex<HashMap<Txid, Transaction>>,
}

impl Inner {
    async fn send(&self, tx: &Transaction) {
        let txid = tx.compute_txid();
        match self.bitcoind.send_raw(tx).await {
            Ok(()) => tracing::info!(%txid, "broadcast"),
            Err(e) => {
                let permanent = e.downcast_ref::<RpcError>().is_some_and(|r| {
                    // -27: already in the chain; the rest: inputs spent or conflicting.
                    r.code == -27
                        || r.message.contains("missingorspent")
                        || r.message.contains("txn-mempool-conflict")
                });
                if permanent {
                    tracing::info!(%txid, error = %e, "broadcast settled: not re-sending");
                    self.forget(&txid);
                } else {
                    // Non-final (timelocked), fee and transport errors: retry later.
                    tracing::debug!(%txid, error = %e, "broadcast deferred");
                }
            }
        }
    }

    fn forget(&self, txid: &Txid) {
        lock(&self.pending).remove(txid);
    }
}

impl Broadcaster {
    /// Starts the rebroadcast loop on the current runtime.
    pub fn start(bitcoind: Bitcoind) -> Arc<Self> {
        let inner = Arc::new(Inner {
            bitcoind,
            pending: Mutex::new(HashMap::new()),
        });
        let looping = inner.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                let txs: Vec<Transaction> = lock(&looping.pending).values().cloned().collect();
                for tx in txs {
                    let txid = tx.compute_txid();
                    if let Ok(Some(c)) = looping.bitcoind.confirmations(&txid).await {
                        if c > 0 {
                            looping.forget(&txid);
                            continue;
                        }
                    }
                    looping.send(&tx).await;
                }
            }
        });
        Arc::new(Broadcaster { inner })
    }
}

impl BroadcasterInterface for Broadcaster {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        for tx in txs {
            let tx = (*tx).clone();
            lock(&self.inner.pending).insert(tx.compute_txid(), tx.clone());
            let inner = self.inner.clone();
            // LDK calls this from sync code, possibly off the runtime: send
            // once now if we can; the loop retries either way.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move { inner.send(&tx).await });
            }
        }
    }
}
