//! What steps share during one run: the cluster, the fault injector, the
//! event stream, and the run's own state (holds, channels, snapshots,
//! payments sent without waiting, checkpoints fired, the seeded RNG)
//! behind one lock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::events::Events;
use crate::cluster::Cluster;
use crate::error::{HarnessError, Result};
use crate::fault::{Fault, Injector};
use crate::report::event::RunEvent;
use crate::sync::lock;

/// A hold payment in flight.
#[derive(Debug, Clone)]
pub struct Hold {
    pub payer: String,
    pub payee: String,
    pub preimage: String,
    pub hash: String,
}

/// A channel the run opened: its id, the node that opened it and the other end.
#[derive(Debug, Clone)]
pub struct Opened {
    pub id: String,
    pub opener: String,
    pub peer: String,
}

/// What one on-chain recovery found and brought home.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub node: String,
    pub finished: bool,
    pub summary: vls_recovery::watch::Summary,
    /// Blocks to spare before the nearest deadline of any claim when it
    /// was sent (negative: sent after it passed).
    pub deadline_slack: Option<i64>,
}

/// Each destroyed Core Lightning node's wallet addresses, by node.
pub type LostWallets = std::collections::BTreeMap<String, Vec<String>>;

pub struct RunState {
    pub rng: ChaCha8Rng,
    pub holds: HashMap<String, Hold>,
    pub channels: HashMap<String, Opened>,
    /// Payments sent without waiting: (payer, payment hash).
    pub unwaited: Vec<(String, String)>,
    pub snapshots: HashMap<String, vls_recovery::Snapshot>,
    /// Backups taken, by name: (node, file).
    pub backups: HashMap<String, (String, std::path::PathBuf)>,
    /// What each `recover_onchain` step brought home.
    pub recoveries: Vec<Recovery>,
    /// Commitments a cheating node keeps, by stash name: (node, copy).
    pub stashes: HashMap<String, (String, lnnode_api::Stash)>,
    /// Where recovery (`recover_onchain`, `vlsd_recover`) sends each
    /// node's funds: an address of a wallet of its own in bitcoind.
    pub recovery_addresses: HashMap<String, String>,
    /// Components a step took out of service for good (a signer whose
    /// state vlsd's own recovery has used): they stay down.
    pub retired: Vec<String>,
    /// The on-chain wallet addresses of each Core Lightning node a
    /// `destroy` step hit (it or its vlsd), read before the loss:
    /// lightningd's wallet is keyed from its signer's seed, so what a
    /// destroyed node still owns on chain is found there.
    pub lost_wallets: LostWallets,
    /// Names of the checkpoints that fired, in order.
    pub fired: Vec<String>,
    /// Names of the final checks that did not pass.
    pub failed_checks: Vec<String>,
    /// Payments sent without waiting, being handed to their payer in the
    /// background: `wait_for.payments` waits for these first.
    pub dispatches: Vec<Dispatch>,
}

/// A `pay` step's payments (sent without waiting) on their way to the
/// payer, one after the other, in a task of their own. The task answers
/// the payments the payer did not take, with why.
pub struct Dispatch {
    pub payer: String,
    pub task: tokio::task::JoinHandle<Vec<(String, String)>>,
}

impl Drop for RunState {
    /// A run that ends before its payments went out stops sending them.
    fn drop(&mut self) {
        for d in &self.dispatches {
            d.task.abort();
        }
    }
}

pub struct World<'a> {
    pub cluster: &'a Cluster,
    pub events: &'a Events,
    /// Faults are applied across awaits, so the injector has an async lock
    /// of its own; the run state's lock is never held across one.
    pub injector: tokio::sync::Mutex<Injector>,
    state: Mutex<RunState>,
}

impl<'a> World<'a> {
    pub fn new(cluster: &'a Cluster, events: &'a Events, seed: u64) -> Self {
        World {
            cluster,
            events,
            injector: tokio::sync::Mutex::new(Injector::new(seed)),
            state: Mutex::new(RunState {
                rng: ChaCha8Rng::seed_from_u64(seed),
                holds: HashMap::new(),
                channels: HashMap::new(),
                unwaited: Vec::new(),
                snapshots: HashMap::new(),
                stashes: HashMap::new(),
                backups: HashMap::new(),
                recoveries: Vec::new(),
                recovery_addresses: HashMap::new(),
                retired: Vec::new(),
                lost_wallets: Default::default(),
                fired: Vec::new(),
                failed_checks: Vec::new(),
                dispatches: Vec::new(),
            }),
        }
    }

    /// The nodes no step destroyed or retired.
    pub fn live_nodes(&self) -> Vec<&'a crate::component::AnyNode> {
        let retired = self.state().retired.clone();
        self.cluster
            .nodes()
            .filter(|n| !retired.iter().any(|r| r == crate::node::Node::name(*n)))
            .collect()
    }

    /// The run state (never held across an await).
    pub fn state(&self) -> MutexGuard<'_, RunState> {
        lock(&self.state)
    }

    pub fn channel(&self, name: &str) -> Result<Opened> {
        self.state().channels.get(name).cloned().ok_or_else(|| {
            HarnessError::component("runner", format!("channel `{name}` is not open"))
        })
    }

    pub fn hold(&self, name: &str) -> Result<Hold> {
        self.state()
            .holds
            .get(name)
            .cloned()
            .ok_or_else(|| HarnessError::component("runner", format!("no hold payment `{name}`")))
    }

    pub fn snapshot(&self, name: &str) -> Result<vls_recovery::Snapshot> {
        self.state()
            .snapshots
            .get(name)
            .cloned()
            .ok_or_else(|| HarnessError::component("runner", format!("no snapshot `{name}`")))
    }

    /// Applies `fault`; the seeded choices it made go to the report.
    pub async fn apply_fault(&self, fault: &Fault) -> Result<String> {
        let mut inj = self.injector.lock().await;
        let applied = inj.apply(self.cluster, fault).await;
        for text in inj.take_choices() {
            self.events.emit(RunEvent::Chosen { text });
        }
        applied
    }
}
