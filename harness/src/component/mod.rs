//! Typed handles on the components of a cluster.

mod bitcoind;
mod lnnode;
mod vlsd;

pub use bitcoind::{regtest_subsidy_sat, Bitcoind, BitcoindBuilder, P2P_PORT, RPC_PORT};
pub use lnnode::{EventCursor, LdkNode, LdkNodeBuilder, ADMIN_PORT, P2P_PORT as LN_P2P_PORT};
pub use vlsd::{Signer, SignerBuilder, NODE_SIGNER_PORT};

use crate::container::Container;
use crate::error::HarnessError;

/// Adds the container's last log lines to a readiness timeout, so the error
/// shows why the component never became ready.
pub(crate) async fn with_log_tail(err: HarnessError, container: &Container) -> HarnessError {
    match err {
        HarnessError::Timeout { what, after, last } => {
            let tail = container.log_tail(15).await;
            let status = container
                .status()
                .await
                .map(|s| s.status)
                .unwrap_or_else(|e| e.to_string());
            HarnessError::Timeout {
                what,
                after,
                last: format!("{last}; container {status}; last log lines:\n{tail}"),
            }
        }
        other => other,
    }
}
