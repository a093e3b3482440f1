//! Readiness, the same for every component: one polling loop over a probe
//! of the component's own, which gives up when the container exits and
//! shows the container's log when it does not come up.

use std::future::Future;
use std::time::Duration;

use crate::container::Container;
use crate::error::{HarnessError, Result};
use crate::log::log_excerpt;
use crate::wait::{self, NotYet};

/// Polls `probe` until the component answers as ready: the one readiness
/// loop of every component. It gives up at once when the container is no
/// longer running (nothing restarts it behind the harness's back), and a
/// timeout or give-up carries the container's last log lines.
pub(crate) async fn wait_ready<T, F, Fut>(
    container: &Container,
    what: &str,
    limit: Duration,
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, String>>,
{
    let res = wait::until_or_never(what, limit, || {
        let answer = probe();
        async move {
            still_running(container).await?;
            answer.await.map_err(NotYet::Pending)
        }
    })
    .await;
    match res {
        Ok(v) => Ok(v),
        Err(e) => Err(with_log_tail(e, container).await),
    }
}

/// Adds the container's last log lines to a readiness timeout or give-up, so
/// the error shows why the component never became ready.
async fn with_log_tail(err: HarnessError, container: &Container) -> HarnessError {
    match err {
        HarnessError::Timeout { what, after, last } => {
            let log = container.log_text().await;
            let tail = log_excerpt(&log, 15, 8);
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
        HarnessError::GaveUp {
            what,
            after,
            reason,
        } => {
            let log = container.log_text().await;
            HarnessError::GaveUp {
                what,
                after,
                reason: format!("{reason}; log:\n{}", log_excerpt(&log, 15, 8)),
            }
        }
        other => other,
    }
}

/// A readiness probe's verdict on a container that is not running: it will
/// not become ready, since nothing restarts it behind the harness's back.
async fn still_running(container: &Container) -> std::result::Result<(), NotYet> {
    match container.status().await {
        Ok(s) if s.running => Ok(()),
        Ok(s) => Err(NotYet::Never(format!("container {}", s.status))),
        Err(e) => Err(NotYet::Pending(e.to_string())),
    }
}
