//! Channel monitors are saved in LDK's asynchronous mode, so a crash never
//! leaves the saved ChannelManager behind a saved monitor.
//!
//! Written synchronously, a monitor update reaches disk at once while the
//! ChannelManager is saved later by the background processor; a node
//! killed in between starts with a manager older than its monitors, and LDK
//! force-closes every such channel ("A ChannelManager is stale compared to
//! the current ChannelMonitor"). Here an update is answered `InProgress`
//! and queued with the monitor as it is now. A writer thread saves the
//! ChannelManager first (LDK records an update as in flight before it hands
//! it to us, so the saved manager lists it and replays it at the next start
//! if the monitor write did not happen), then the monitors, then tells the
//! ChainMonitor each update is done. Until then LDK holds back the messages
//! the update guards (`commitment_signed`, `revoke_and_ack`), so a peer
//! never sees a state we could forget.

use std::sync::{Arc, Condvar, Mutex, OnceLock};

use lightning::chain::chainmonitor::Persist;
use lightning::chain::channelmonitor::{ChannelMonitor, ChannelMonitorUpdate};
use lightning::chain::ChannelMonitorUpdateStatus;
use lightning::ln::types::ChannelId;
use lightning::util::persist::MonitorName;
use lightning::util::persist::{
    KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE, CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::Writeable;
use lightning_persister::fs_store::FilesystemStore;
use vls_proxy::vls_protocol_client::DynSigner;

/// One monitor write waiting for the ChannelManager to be saved first.
struct Queued {
    key: String,
    bytes: Vec<u8>,
    /// The update to report done; `None` for a chain-sync write, which LDK
    /// does not wait for.
    update: Option<(ChannelId, u64)>,
}

#[derive(Default)]
struct Queue {
    items: Vec<Queued>,
    stopping: bool,
}

/// What the writer needs of the node, given once both exist (the
/// ChainMonitor is built with this writer).
struct Node {
    /// The ChannelManager, serialized now.
    manager_bytes: Box<dyn Fn() -> Vec<u8> + Send + Sync>,
    /// Tells the ChainMonitor an update is on disk.
    completed: Box<dyn Fn(ChannelId, u64) + Send + Sync>,
}

pub struct MonitorWriter {
    store: Arc<FilesystemStore>,
    queue: Mutex<Queue>,
    wake: Condvar,
    node: OnceLock<Node>,
}

impl MonitorWriter {
    pub fn new(store: Arc<FilesystemStore>) -> Arc<MonitorWriter> {
        Arc::new(MonitorWriter {
            store,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            node: OnceLock::new(),
        })
    }

    /// Starts the writer thread; queued updates wait until this is called.
    pub fn start(
        self: &Arc<Self>,
        manager_bytes: impl Fn() -> Vec<u8> + Send + Sync + 'static,
        completed: impl Fn(ChannelId, u64) + Send + Sync + 'static,
    ) -> std::io::Result<()> {
        let _ = self.node.set(Node {
            manager_bytes: Box::new(manager_bytes),
            completed: Box::new(completed),
        });
        let me = self.clone();
        std::thread::Builder::new()
            .name("monitor-writer".to_string())
            .spawn(move || me.run())
            .map(|_| ())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enqueue(&self, item: Queued) {
        self.lock().items.push(item);
        self.wake.notify_all();
    }

    fn run(&self) {
        loop {
            let batch = {
                let mut q = self.lock();
                while q.items.is_empty() && !q.stopping {
                    q = self.wake.wait(q).unwrap_or_else(|p| p.into_inner());
                }
                if q.items.is_empty() {
                    return;
                }
                std::mem::take(&mut q.items)
            };
            if let Err(e) = self.write(batch) {
                // LDK cannot go on without its monitors on disk; stopping
                // keeps the last state a peer saw one we can restart from.
                tracing::error!(error = %e, "writing channel monitors failed; stopping the node");
                std::process::exit(4);
            }
        }
    }

    /// Saves the ChannelManager, then the batch's monitors, then reports
    /// the updates done.
    fn write(&self, batch: Vec<Queued>) -> std::io::Result<()> {
        let Some(node) = self.node.get() else {
            return Err(std::io::Error::other(
                "monitor writer started without a node",
            ));
        };
        self.store.write(
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
            (node.manager_bytes)(),
        )?;
        let mut done = Vec::new();
        for q in batch {
            self.store.write(
                CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
                &q.key,
                q.bytes,
            )?;
            done.extend(q.update);
        }
        for (channel_id, update_id) in done {
            (node.completed)(channel_id, update_id);
        }
        Ok(())
    }

    /// Writes whatever is queued and stops the thread: for an orderly exit.
    pub fn flush_and_stop(&self) {
        let batch = {
            let mut q = self.lock();
            q.stopping = true;
            std::mem::take(&mut q.items)
        };
        self.wake.notify_all();
        if batch.is_empty() || self.node.get().is_none() {
            return;
        }
        if let Err(e) = self.write(batch) {
            tracing::error!(error = %e, "writing channel monitors at shutdown failed");
        }
    }
}

impl Persist<DynSigner> for MonitorWriter {
    fn persist_new_channel(
        &self,
        monitor_name: MonitorName,
        monitor: &ChannelMonitor<DynSigner>,
    ) -> ChannelMonitorUpdateStatus {
        // LDK takes one mode for every write of a run, so a new channel's
        // first monitor goes the same way; LDK holds funding until it is done.
        self.enqueue(Queued {
            key: monitor_name.to_string(),
            bytes: monitor.encode(),
            update: Some((monitor.channel_id(), monitor.get_latest_update_id())),
        });
        ChannelMonitorUpdateStatus::InProgress
    }

    fn update_persisted_channel(
        &self,
        monitor_name: MonitorName,
        monitor_update: Option<&ChannelMonitorUpdate>,
        monitor: &ChannelMonitor<DynSigner>,
    ) -> ChannelMonitorUpdateStatus {
        // Chain-sync writes queue too, so one cannot put an update on disk
        // ahead of the manager.
        self.enqueue(Queued {
            key: monitor_name.to_string(),
            bytes: monitor.encode(),
            update: monitor_update.map(|u| (monitor.channel_id(), u.update_id)),
        });
        ChannelMonitorUpdateStatus::InProgress
    }

    fn archive_persisted_channel(&self, monitor_name: MonitorName) {
        <FilesystemStore as Persist<DynSigner>>::archive_persisted_channel(
            &self.store,
            monitor_name,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn the_manager_is_written_before_the_monitors_and_updates_complete_after() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Arc::new(FilesystemStore::new(dir.path().to_path_buf()));
        let writer = MonitorWriter::new(store.clone());
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        // Queued before the writer starts (as at start-up, while LDK reads).
        writer.enqueue(Queued {
            key: "m1".into(),
            bytes: b"monitor 1 at update 7".to_vec(),
            update: Some((ChannelId([1; 32]), 7)),
        });
        writer.enqueue(Queued {
            key: "m1".into(),
            bytes: b"monitor 1 after a block".to_vec(),
            update: None,
        });
        let (l1, l2, st) = (log.clone(), log.clone(), store.clone());
        writer
            .start(
                move || {
                    // No monitor of the batch is on disk while the manager is made.
                    let on_disk = st
                        .read(
                            CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                            CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
                            "m1",
                        )
                        .is_ok();
                    l1.lock()
                        .expect("log")
                        .push(format!("manager (monitor on disk: {on_disk})"));
                    b"manager".to_vec()
                },
                move |id, update| {
                    l2.lock()
                        .expect("log")
                        .push(format!("done {} {update}", id.0[0]));
                },
            )
            .expect("start");
        let deadline = Instant::now() + Duration::from_secs(10);
        while log.lock().expect("log").len() < 2 {
            assert!(
                Instant::now() < deadline,
                "writer did not finish: {:?}",
                log.lock()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            *log.lock().expect("log"),
            ["manager (monitor on disk: false)", "done 1 7"]
        );
        let monitor = store
            .read(
                CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
                "m1",
            )
            .expect("monitor");
        assert_eq!(monitor, b"monitor 1 after a block", "the newest write wins");
        let manager = store
            .read(
                CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
                CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
                CHANNEL_MANAGER_PERSISTENCE_KEY,
            )
            .expect("manager");
        assert_eq!(manager, b"manager");
        writer.flush_and_stop();
    }
}
