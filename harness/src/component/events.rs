//! Waiting for one of a node's events: the loop every node kind shares.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};
use crate::node::NodeEvent;

/// How long one ask for events may wait for the next one.
const LONG_POLL: Duration = Duration::from_secs(20);
/// Pause after an ask failed (a restarting node refuses connections for a moment).
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// Asks `next` for the events after the waiter's cursor (each ask waiting
/// at most [`LONG_POLL`]) until one passes `pred`, retrying failed asks,
/// until `timeout`. Returns the event and how many events of its batch came
/// after it, which the caller keeps or consumes with the batch.
pub(super) async fn first_match<F, Fut>(
    node: &str,
    what: &str,
    timeout: Duration,
    pred: &(dyn Fn(&NodeEvent) -> bool + Send + Sync),
    mut next: F,
) -> Result<(NodeEvent, usize)>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<Vec<NodeEvent>>>,
{
    let start = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(HarnessError::Timeout {
                what: format!("{node}: {what}"),
                after: timeout,
                last: if seen.is_empty() {
                    "no events".to_string()
                } else {
                    format!("events seen: {}", seen.join(", "))
                },
            });
        }
        let events = match next(left.min(LONG_POLL)).await {
            Ok(e) => e,
            Err(e) => {
                seen.push(format!("error: {e}"));
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        let count = events.len();
        for (i, e) in events.into_iter().enumerate() {
            if pred(&e) {
                return Ok((e, count - i - 1));
            }
            seen.push(format!("{e:?}"));
        }
    }
}
