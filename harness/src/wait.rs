//! Waiting on conditions under one deadline, never on fixed sleeps alone:
//! every wait names what it waited for and reports the last observation.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};

/// A point in time by which something must have happened.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    start: Instant,
    limit: Duration,
}

impl Deadline {
    pub fn after(limit: Duration) -> Self {
        Deadline {
            start: Instant::now(),
            limit,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.limit.saturating_sub(self.start.elapsed())
    }

    pub fn expired(&self) -> bool {
        self.start.elapsed() >= self.limit
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }
}

/// Why a probe's condition does not hold yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotYet {
    /// May still come true; poll again.
    Pending(String),
    /// Can no longer come true (the container it waits on has exited, say):
    /// waiting out the deadline would only hide the cause.
    Never(String),
}

/// First pause between two probes.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
/// Longest pause between two probes: how late a wait may see its condition.
/// Probes are a loopback HTTP or RPC call (a millisecond or two), and a run
/// waits a dozen times or more, each up to one pause late, so a long pause
/// costs a run more than the polls it saves.
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// Polls `probe` until it yields `Ok`, backing off from [`FIRST_PAUSE`] to
/// [`MAX_PAUSE`]. `probe` returns `Err(observation)` while the condition does
/// not hold; the last observation goes into the timeout error. Readiness here
/// has no push notification to wait on instead.
pub async fn until<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, String>>,
{
    until_or_never(what, limit, || {
        let fut = probe();
        async move { fut.await.map_err(NotYet::Pending) }
    })
    .await
}

/// [`until`] for a probe that can tell the condition will never hold; it then
/// returns [`HarnessError::GaveUp`] at once instead of at the deadline.
pub async fn until_or_never<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, NotYet>>,
{
    let deadline = Deadline::after(limit);
    let mut pause = FIRST_PAUSE;
    let mut last = String::from("not checked yet");
    loop {
        match tokio::time::timeout(deadline.remaining(), probe()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(NotYet::Pending(observation))) => last = observation,
            Ok(Err(NotYet::Never(reason))) => {
                return Err(HarnessError::GaveUp {
                    what: what.to_string(),
                    after: deadline.start.elapsed(),
                    reason,
                })
            }
            Err(_) => last = format!("probe still running at the deadline ({last})"),
        }
        if deadline.expired() {
            return Err(HarnessError::Timeout {
                what: what.to_string(),
                after: limit,
                last,
            });
        }
        tokio::time::sleep(pause.min(deadline.remaining())).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn returns_once_condition_holds() {
        let n = AtomicU32::new(0);
        let v = until("counter reaches 3", Duration::from_secs(5), || async {
            let seen = n.fetch_add(1, Ordering::SeqCst) + 1;
            if seen >= 3 {
                Ok(seen)
            } else {
                Err(format!("counter at {seen}"))
            }
        })
        .await
        .expect("reaches 3");
        assert_eq!(v, 3);
    }

    #[tokio::test]
    async fn never_gives_up_before_the_deadline() {
        let n = AtomicU32::new(0);
        let err = until_or_never::<(), _, _>("exit", Duration::from_secs(60), || async {
            if n.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(NotYet::Pending("starting".to_string()))
            } else {
                Err(NotYet::Never("container exited".to_string()))
            }
        })
        .await
        .expect_err("must give up");
        assert!(
            matches!(&err, HarnessError::GaveUp { reason, after, .. }
                if reason == "container exited" && *after < Duration::from_secs(60)),
            "{err}"
        );
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn timeout_names_the_wait_and_last_observation() {
        let err = until::<(), _, _>("never", Duration::from_millis(100), || async {
            Err("still no".to_string())
        })
        .await
        .expect_err("must time out");
        let msg = err.to_string();
        assert!(msg.starts_with("never: not done after 0.1s"), "{msg}");
        assert!(msg.contains("last: still no"), "{msg}");
    }
}
