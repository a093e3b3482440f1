//! Ctrl-C: the running future is dropped, which drops its cluster, which
//! removes the run's resources before the process exits.

use std::future::Future;

use crate::error::{HarnessError, Result};

pub async fn until_ctrl_c<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::select! {
        out = fut => out,
        _ = tokio::signal::ctrl_c() => Err(HarnessError::Interrupted),
    }
}
