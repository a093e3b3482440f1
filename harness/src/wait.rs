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

/// Polls `probe` until it yields `Some`, backing off from 20 ms to 500 ms.
/// `probe` returns `Err(observation)` while the condition does not hold; the
/// last observation goes into the timeout error. The backoff keeps the poll
/// cheap; readiness here has no push notification to wait on instead.
pub async fn until<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, String>>,
{
    let deadline = Deadline::after(limit);
    let mut pause = Duration::from_millis(20);
    let mut last = String::from("not checked yet");
    loop {
        match tokio::time::timeout(deadline.remaining(), probe()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(observation)) => last = observation,
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
        pause = (pause * 2).min(Duration::from_millis(500));
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
