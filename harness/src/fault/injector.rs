//! The [`Injector`]: applies faults to a run's components, keeps the ones
//! still in force, heals them, and puts network faults back after a restart.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cluster::Cluster;
use crate::container::Container;
use crate::error::{HarnessError, Result};

use super::kinds::Fault;
use super::{clock, disk, file, net};

/// What applying a fault changed, kept so it can be undone or re-applied.
#[derive(Debug, Clone)]
enum Undo {
    /// Start the component again.
    Start,
    Unpause,
    /// iptables rules to delete (argument lists after `-D`), in `target`.
    Rules(Vec<Vec<String>>),
    /// Rules plus the delayer sidecar to remove.
    Delay {
        rules: Vec<Vec<String>>,
        sidecar: String,
    },
    RemoveFill,
    ResetClock,
}

#[derive(Debug, Clone)]
struct Active {
    fault: Fault,
    undo: Undo,
    /// A seeded choice the fault keeps when it is re-applied (the packet
    /// a loss pattern starts at).
    phase: u32,
}

/// Applies faults with randomness from the run's seed and remembers the
/// ones still in force.
pub struct Injector {
    rng: ChaCha8Rng,
    active: Vec<Active>,
    /// Seeded choices made since last taken, for the report.
    choices: Vec<String>,
    /// The phase the fault being inflicted chose.
    phase: u32,
}

impl Injector {
    pub fn new(seed: u64) -> Self {
        Injector {
            // A stream of its own, so adding a fault does not shift other draws.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6661_756c_7473),
            active: Vec::new(),
            choices: Vec::new(),
            phase: 0,
        }
    }

    /// The seeded choices made since the last call (bit offsets, a loss
    /// pattern's phase): what one seed must choose again.
    pub fn take_choices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.choices)
    }

    /// The components a fault in force keeps down (killed, stopped, power
    /// cut, and not started again yet).
    pub fn kept_down(&self) -> Vec<&str> {
        self.active
            .iter()
            .filter(|a| matches!(a.undo, Undo::Start))
            .map(|a| a.fault.target())
            .collect()
    }

    /// Faults in force, oldest first.
    pub fn active(&self) -> Vec<&Fault> {
        self.active.iter().map(|a| &a.fault).collect()
    }

    /// The components an active partition (either direction) separates from
    /// `component`.
    pub fn partitioned_from(&self, component: &str) -> Vec<String> {
        self.active
            .iter()
            .filter_map(|a| match &a.fault {
                Fault::Partition { target, peer, .. } | Fault::Reset { target, peer }
                    if peer == component =>
                {
                    Some(target.clone())
                }
                Fault::Partition { target, peer, .. } | Fault::Reset { target, peer }
                    if target == component =>
                {
                    Some(peer.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// Applies `fault`; returns a one-line account of what was done (offsets
    /// flipped, rules added) for the timeline.
    pub async fn apply(&mut self, cluster: &Cluster, fault: &Fault) -> Result<String> {
        let target = fault.target();
        let container = cluster.container(target)?;
        tracing::info!(component = %target, fault = %fault, "applying fault");
        let (undo, detail) = self.inflict(cluster, container, fault).await?;
        if fault.brings_up() {
            // The component was down: whatever kept it down is over.
            self.active
                .retain(|a| !(a.fault.target() == target && matches!(a.undo, Undo::Start)));
        }
        if let Some(undo) = undo {
            self.active.push(Active {
                fault: fault.clone(),
                undo,
                phase: self.phase,
            });
        }
        Ok(detail)
    }

    /// Does what `fault` says to its target; returns how to undo it, if it
    /// stays in force, and the account for the timeline.
    async fn inflict(
        &mut self,
        cluster: &Cluster,
        container: &Container,
        fault: &Fault,
    ) -> Result<(Option<Undo>, String)> {
        let target = fault.target();
        Ok(match fault {
            Fault::Kill { .. } => kill(container).await?,
            Fault::Crash { .. } => {
                if container.buffers_writes() {
                    crash_under_agent(container).await?;
                } else {
                    container.kill().await?;
                }
                container.start().await?;
                self.after_start(cluster, target).await?;
                (None, "SIGKILL, started again".to_string())
            }
            Fault::PowerCut { .. } => power_cut(container, target).await?,
            Fault::Stop { .. } => {
                container.stop().await?;
                (Some(Undo::Start), "SIGTERM".to_string())
            }
            Fault::Start { .. } => {
                container.start().await?;
                self.after_start(cluster, target).await?;
                (None, "started".to_string())
            }
            Fault::Restart { .. } => {
                container.restart().await?;
                self.after_start(cluster, target).await?;
                (None, "restarted".to_string())
            }
            Fault::Pause { .. } => {
                container.pause().await?;
                (Some(Undo::Unpause), "frozen".to_string())
            }
            Fault::Unpause { .. } => {
                container.unpause().await?;
                self.active
                    .retain(|a| !(a.fault.target() == target && matches!(a.undo, Undo::Unpause)));
                (None, "thawed".to_string())
            }
            Fault::Partition {
                peer, direction, ..
            } => {
                let rules = net::partition(cluster, target, peer, *direction).await?;
                let detail = format!("{} iptables rules", rules.len());
                (Some(Undo::Rules(rules)), detail)
            }
            Fault::Reset { peer, .. } => {
                let rules = net::reset(cluster, target, peer).await?;
                (
                    Some(Undo::Rules(rules)),
                    format!("data segments to {peer} answered by a TCP reset"),
                )
            }
            Fault::PacketLoss { every, .. } => {
                let phase = self.rng.random_range(0..*every);
                self.phase = phase;
                self.choices
                    .push(format!("{fault}: the pattern starts at packet {phase}"));
                let rules = net::packet_loss(container, *every, phase).await?;
                (
                    Some(Undo::Rules(rules)),
                    format!("dropping every {every}th packet each way, from packet {phase}"),
                )
            }
            Fault::Delay { ms, .. } => {
                let (rules, sidecar) = net::delay(cluster, container, *ms).await?;
                (
                    Some(Undo::Delay { rules, sidecar }),
                    format!("outgoing packets held {ms} ms"),
                )
            }
            Fault::Corrupt {
                path, corruption, ..
            } => {
                let (detail, choice) =
                    file::corrupt(cluster, container, path, *corruption, &mut self.rng).await?;
                if let Some(choice) = choice {
                    self.choices.push(format!("{fault}: {choice}"));
                }
                (None, detail)
            }
            Fault::DiskFull { .. } => {
                let detail = disk::fill(container, &cluster.datadir_of(target)?).await?;
                (Some(Undo::RemoveFill), detail)
            }
            Fault::ClockSkew { offset_secs, .. } => {
                clock::set_offset(container, *offset_secs).await?;
                (Some(Undo::ResetClock), format!("clock {offset_secs:+}s"))
            }
        })
    }

    /// Undoes every fault in force on `target` (and partitions naming it as
    /// peer), newest first. Returns what was healed.
    pub async fn heal(&mut self, cluster: &Cluster, target: &str) -> Result<Vec<String>> {
        let mut healed = Vec::new();
        while let Some(i) = self
            .active
            .iter()
            .rposition(|a| a.fault.target() == target || a.fault.peer() == Some(target))
        {
            let a = self.active.remove(i);
            let t = a.fault.target().to_string();
            let container = cluster.container(&t)?;
            match &a.undo {
                Undo::Start => {
                    container.start().await?;
                    self.after_start(cluster, &t).await?;
                }
                Undo::Unpause => container.unpause().await?,
                Undo::Rules(rules) => {
                    if let Err(e) = net::delete_rules(container, rules).await {
                        // Rules live in the container's network namespace,
                        // which went with it; a later start gets a fresh one.
                        if container.status().await?.running {
                            return Err(e);
                        }
                        tracing::info!(component = %t, fault = %a.fault, "not running: its rules went with its namespace");
                    }
                }
                Undo::Delay { rules, sidecar } => {
                    net::delete_rules(container, rules).await?;
                    cluster.resources().remove_sidecar(sidecar).await?;
                }
                Undo::RemoveFill => disk::unfill(container, &cluster.datadir_of(&t)?).await?,
                Undo::ResetClock => clock::set_offset(container, 0).await?,
            }
            tracing::info!(component = %t, fault = %a.fault, "healed");
            healed.push(a.fault.to_string());
        }
        if healed.is_empty() {
            return Err(HarnessError::component(
                target,
                "heal: no fault in force on this component",
            ));
        }
        Ok(healed)
    }

    /// After a component came back: wait until it is usable, then put back
    /// the network faults that involve it (its namespace is new, and its
    /// address may have changed).
    pub async fn after_start(&mut self, cluster: &Cluster, name: &str) -> Result<()> {
        cluster.wait_ready(name).await?;
        for a in self.active.iter_mut() {
            let involved = a.fault.target() == name || a.fault.peer() == Some(name);
            if !involved {
                continue;
            }
            let container = cluster.container(a.fault.target())?;
            if let (Undo::Delay { rules, .. }, Fault::Delay { ms, .. }) = (&a.undo, &a.fault) {
                let _ = net::delete_rules(container, rules).await;
                // start_sidecar replaces the old one, stranded in the dead namespace.
                let (rules, sidecar) = net::delay(cluster, container, *ms).await?;
                tracing::info!(component = %name, fault = %a.fault, "delay re-applied after restart");
                a.undo = Undo::Delay { rules, sidecar };
                continue;
            }
            let Undo::Rules(old) = &a.undo else { continue };
            // Rules in a fresh namespace are gone already; delete what is left.
            let _ = net::delete_rules(container, old).await;
            let rules = match &a.fault {
                Fault::Partition {
                    target,
                    peer,
                    direction,
                } => net::partition(cluster, target, peer, *direction).await?,
                Fault::Reset { target, peer } => net::reset(cluster, target, peer).await?,
                Fault::PacketLoss { every, .. } => {
                    net::packet_loss(container, *every, a.phase).await?
                }
                _ => continue,
            };
            tracing::info!(component = %name, fault = %a.fault, "network fault re-applied after restart");
            a.undo = Undo::Rules(rules);
        }
        Ok(())
    }
}

/// `kill`: SIGKILL. On the power-cut layer a process crash, not a power
/// cut: the program under the agent is killed, and the agent then writes
/// back what the kernel would have kept.
async fn kill(container: &Container) -> Result<(Option<Undo>, String)> {
    if container.buffers_writes() {
        crash_under_agent(container).await?;
        return Ok((Some(Undo::Start), "SIGKILL to the program".to_string()));
    }
    container.kill().await?;
    Ok((Some(Undo::Start), "SIGKILL".to_string()))
}

/// `power_cut`: SIGKILL to the whole container, so the agent dies with the
/// writes it held, as RAM does when the power goes.
async fn power_cut(container: &Container, target: &str) -> Result<(Option<Undo>, String)> {
    if !container.buffers_writes() {
        return Err(HarnessError::component(
            target,
            "power_cut: the component is not on the power-cut layer (list it in topology.power_cut)",
        ));
    }
    container.kill().await?;
    Ok((
        Some(Undo::Start),
        "power cut: unsynced writes lost".to_string(),
    ))
}

/// SIGKILL to the program the agent runs (its pid file), then wait until
/// the agent has written back and the container has exited.
async fn crash_under_agent(container: &Container) -> Result<()> {
    container
        .exec(&[
            "sh",
            "-c",
            &format!("kill -KILL \"$(cat {})\"", crate::contained::CHILD_PID_FILE),
        ])
        .await?
        .ok(container.name(), "kill: SIGKILL to the program")?;
    container
        .wait_exited("exit after its program was killed")
        .await
}
