//! The log of node events the harness waits on, served by the admin API as
//! a long poll (no polling loops in the harness).

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::now_secs;
use crate::sync::lock;
use lnnode_api::{Event as NodeEvent, EventRecord as Record};

pub struct EventLog {
    records: Mutex<Vec<Record>>,
    latest: watch::Sender<u64>,
}

impl EventLog {
    pub fn new() -> Self {
        EventLog {
            records: Mutex::new(Vec::new()),
            latest: watch::channel(0).0,
        }
    }

    pub fn push(&self, event: NodeEvent) {
        let seq = {
            let mut r = lock(&self.records);
            let seq = r.len() as u64 + 1;
            tracing::info!(seq, event = ?event, "node event");
            r.push(Record {
                seq,
                at: now_secs(),
                event,
            });
            seq
        };
        self.latest.send_replace(seq);
    }

    pub fn since(&self, after: u64) -> Vec<Record> {
        lock(&self.records)
            .iter()
            .filter(|x| x.seq > after)
            .cloned()
            .collect()
    }

    /// Events after `after`, waiting up to `timeout` for the first one.
    pub async fn wait(&self, after: u64, timeout: Duration) -> Vec<Record> {
        let mut rx = self.latest.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|latest| *latest > after)).await;
        self.since(after)
    }
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new()
    }
}
