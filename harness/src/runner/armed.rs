//! Fault steps with a trigger: armed when the run reaches them, they fire
//! alongside the later steps. A checkpoint that never fires fails the run.

use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};

use crate::checkpoint::{release_fsync, Held, Reached, Watch};
use crate::cluster::Cluster;
use crate::error::{HarnessError, Result};
use crate::fault::Fault;
use crate::report::event::RunEvent;
use crate::scenario::{Scenario, Step, Trigger};

use super::state::World;

/// A checkpoint's firing: its step index, and what it saw and did.
type Firing<'a> = BoxFuture<'a, (usize, Result<(Reached, String)>)>;

#[derive(Default)]
pub struct Armed<'a> {
    firing: FuturesUnordered<Firing<'a>>,
    /// Step indexes of the checkpoints that have not fired yet.
    waiting: Vec<usize>,
}

impl<'a> Armed<'a> {
    /// Arms step `i`'s checkpoint: from now on, reaching `trigger` applies `fault`.
    pub async fn arm(
        &mut self,
        world: &'a World<'a>,
        i: usize,
        step: &Step,
        trigger: &Trigger,
        fault: &Fault,
    ) -> Result<()> {
        let watch = Watch::arm(world.cluster, trigger).await?;
        world.events.emit(RunEvent::CheckpointArmed {
            step: i,
            line: step.line,
            label: step.label.clone(),
            name: trigger.name().to_string(),
            trigger: trigger.describe(),
            fault: fault.to_string(),
        });
        self.waiting.push(i);
        let fault = fault.clone();
        self.firing
            .push(async move { (i, fire(world, watch, &fault).await) }.boxed());
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.firing.is_empty()
    }

    /// The next checkpoint to fire; pending forever when none is armed (for `select!`).
    pub async fn next(&mut self) -> (usize, Result<(Reached, String)>) {
        match self.firing.next().await {
            Some(fired) => fired,
            None => std::future::pending().await,
        }
    }

    /// Records a firing; a checkpoint whose fault could not be applied is an error.
    pub fn on_fired(
        &mut self,
        world: &World<'_>,
        scenario: &Scenario,
        idx: usize,
        fired: Result<(Reached, String)>,
    ) -> Result<()> {
        let step = &scenario.steps[idx];
        let name = step
            .when
            .as_ref()
            .map(Trigger::name)
            .unwrap_or_default()
            .to_string();
        let (reached, detail) = fired.map_err(|e| {
            HarnessError::Assertion(format!(
                "{}:{}: checkpoint {name}: {e}",
                scenario.path.display(),
                step.line
            ))
        })?;
        self.waiting.retain(|i| *i != idx);
        world.state().fired.push(name.clone());
        world.events.emit(RunEvent::CheckpointFired {
            step: idx,
            name,
            action: step.action.describe(),
            evidence: format!("{}; {detail}", reached.evidence),
        });
        Ok(())
    }

    /// After the last step: checkpoints still armed get a moment (a trigger
    /// may be in flight), then the ones that never fired fail the run.
    pub async fn finish(mut self, world: &World<'_>, scenario: &Scenario) -> Result<()> {
        let grace = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(grace);
        while !self.is_empty() {
            tokio::select! {
                _ = &mut grace => break,
                (idx, fired) = self.next() => self.on_fired(world, scenario, idx, fired)?,
            }
        }
        let never: Vec<String> = self
            .waiting
            .iter()
            .filter_map(|i| scenario.steps[*i].when.as_ref())
            .map(|t| format!("{} ({})", t.name(), t.describe()))
            .collect();
        if never.is_empty() {
            Ok(())
        } else {
            Err(HarnessError::Assertion(format!(
                "checkpoints never reached: {}",
                never.join(", ")
            )))
        }
    }
}

/// Waits for the checkpoint, then applies its fault. A node held at a
/// signer request is let go afterwards, if the fault left it running.
async fn fire(world: &World<'_>, watch: Watch, fault: &Fault) -> Result<(Reached, String)> {
    let mut reached = watch.reached(world.cluster).await?;
    // The node (or vlsd, mid-fsync) is still, so vlsd's state on disk is
    // the one this moment left: what a power cut now would keep.
    let signer_node = match &reached.held {
        Some(Held::SignerCall { node, .. }) => Some((node.as_str(), true)),
        Some(Held::Fsync { component, .. }) => component.strip_prefix("vlsd-").map(|n| (n, false)),
        None => None,
    };
    if let Some((node, freeze)) = signer_node {
        let state = signer_commitments(world.cluster, node, freeze).await;
        reached.evidence = format!("{}; durable: {state}", reached.evidence);
    }
    let applied = world.apply_fault(fault).await;
    if let Some(held) = &reached.held {
        release_held(world.cluster, held).await;
    }
    Ok((reached, applied?))
}

/// vlsd's commitment numbers for each of `node`'s channels, from its state
/// on disk (read while the container is paused).
async fn signer_commitments(cluster: &Cluster, node: &str, freeze: bool) -> String {
    let signer = match cluster.signer(node) {
        Ok(s) => s,
        Err(e) => return format!("vlsd state not read: {e}"),
    };
    match crate::artifacts::snapshot_signer_frozen(signer, freeze).await {
        Ok((snapshot, _)) => {
            let parts: Vec<String> = snapshot
                .channels
                .iter()
                .map(|c| {
                    format!(
                        "{} next_holder_commit_num {}, next_counterparty_commit_num {}",
                        c.label(),
                        c.next_holder_commit_num,
                        c.next_counterparty_commit_num
                    )
                })
                .collect();
            format!("vlsd-{node}: {}", parts.join("; "))
        }
        Err(e) => format!("vlsd-{node} state not read: {e}"),
    }
}

/// Lets the node (or layer) go on past what it holds, if the fault left
/// it running.
async fn release_held(cluster: &Cluster, held: &Held) {
    let released = match held {
        Held::SignerCall { node, id } => match cluster.node(node) {
            Ok(n) => match n.ldk("a signer breakpoint") {
                Ok(n) => n.release_breakpoint(*id).await.map(|_| ()),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
        Held::Fsync { component, id } => release_fsync(cluster, component, id).await,
    };
    if let Err(e) = released {
        // A killed or stopped component has nothing left to release.
        tracing::debug!(?held, error = %e, "not released");
    }
}
