//! What every LDK component is built over: fee estimates, broadcasting,
//! the store and the sweep address.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use bitcoin::{Address, Network};
use lightning_persister::fs_store::FilesystemStore;

use crate::bitcoind::Bitcoind;
use crate::broadcaster::Broadcaster;
use crate::fee::FeeEstimator;
use crate::ldk::SweepDestination;
use crate::logger::TracingLogger;
use crate::persist::write_atomically;

/// What every later phase is built from.
pub(super) struct Base {
    pub(super) network: Network,
    pub(super) logger: Arc<TracingLogger>,
    pub(super) fee: Arc<FeeEstimator>,
    pub(super) broadcaster: Arc<Broadcaster>,
    pub(super) store: Arc<FilesystemStore>,
    pub(super) sweep: Arc<SweepDestination>,
}

/// Fees, broadcasting, the store and the sweep address come first: every
/// LDK component is built over them. Fees are fetched once before anything
/// can ask for one.
pub(super) async fn setup(bitcoind: &Bitcoind, datadir: &Path) -> Result<Base> {
    let network = bitcoind.network();
    let logger = Arc::new(TracingLogger);
    let fee = FeeEstimator::new();
    fee.refresh(bitcoind).await;
    fee.spawn_refresh(bitcoind.clone());
    let broadcaster = Broadcaster::start(bitcoind.clone());
    let store = Arc::new(FilesystemStore::new(datadir.join("ldk")));
    let sweep = Arc::new(SweepDestination {
        address: sweep_address(bitcoind, datadir).await?,
    });
    Ok(Base {
        network,
        logger,
        fee,
        broadcaster,
        store,
        sweep,
    })
}

/// The node's sweep address, fixed at first start so vlsd's allowlist entry stays valid.
async fn sweep_address(bitcoind: &Bitcoind, datadir: &Path) -> Result<Address> {
    let path = datadir.join("sweep_address");
    match std::fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse::<Address<_>>()
            .map_err(|e| anyhow!("{}: {e}", path.display()))?
            .require_network(bitcoind.network())
            .map_err(|e| anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let a = bitcoind.new_address().await?;
            write_atomically(&path, a.to_string().as_bytes())?;
            Ok(a)
        }
        Err(e) => Err(e).with_context(|| path.display().to_string()),
    }
}
