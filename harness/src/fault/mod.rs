//! Faults the runner applies to the components of a run: one enum, each
//! variant naming its target, and an [`Injector`] that applies them, keeps
//! the ones still in force, and heals them.
//!
//! Process faults are Docker operations; network faults are iptables rules
//! inside the target's network namespace; file faults edit a volume through
//! the Docker archive API (which works on stopped containers too); disk full
//! fills a size-limited tmpfs datadir; clock skew rewrites the libfaketime
//! offset file the target was started with.

mod clock;
mod disk;
mod file;
mod net;

use std::fmt;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cluster::Cluster;
use crate::error::{HarnessError, Result};

pub use clock::{faketime_env, FAKETIME_FILE};
pub use disk::FILL_FILE;

/// Which packets a partition drops, seen from its target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkDirection {
    /// Nothing passes either way.
    #[default]
    Both,
    /// The target cannot send to the peer (the peer's packets still arrive).
    Outbound,
    /// The peer cannot send to the target.
    Inbound,
}

/// How a file is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Corruption {
    /// Flip `count` bits at offsets drawn from the run's seed.
    FlipBits,
    /// Overwrite `len` bytes at `offset` with zeros.
    Zero,
    /// Cut the file to `len` bytes.
    Truncate,
    /// Remove the file.
    Delete,
}

/// One fault. `target` is a component of the run: `bitcoind`, a node name
/// (`alice`) or a signer (`vlsd-alice`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// SIGKILL: no flush, no cleanup; volumes keep what the kernel had.
    Kill {
        target: String,
    },
    /// SIGKILL, then start again at once, as a supervisor (systemd, a
    /// restart policy) brings a crashed process back. Nothing stays in force.
    Crash {
        target: String,
    },
    /// SIGTERM, SIGKILL after the component's grace period.
    Stop {
        target: String,
    },
    /// Start a stopped or killed component again, same volumes.
    Start {
        target: String,
    },
    /// SIGTERM with grace, then start.
    Restart {
        target: String,
    },
    /// Freeze every process of the component (cgroup freezer).
    Pause {
        target: String,
    },
    Unpause {
        target: String,
    },
    /// Drop packets between `target` and `peer` (iptables in the target's
    /// network namespace); re-applied when either restarts, until healed.
    Partition {
        target: String,
        peer: String,
        #[serde(default)]
        direction: LinkDirection,
    },
    /// Drop every `every`-th packet the target sends to and every `every`-th
    /// it receives from the other components (iptables `statistic --mode
    /// nth`: deterministic, unlike a random loss rate). `every = 10` is 10 %
    /// loss. The harness's own requests are spared.
    PacketLoss {
        target: String,
        every: u32,
    },
    /// Hold every packet the target sends to other components for `ms`
    /// milliseconds: an NFQUEUE rule and the agent's delayer in the target's
    /// namespace (this kernel has no netem). Re-applied after restarts.
    Delay {
        target: String,
        ms: u32,
    },
    /// Damage a file on the target's volumes. `path` is absolute in the container.
    Corrupt {
        target: String,
        path: String,
        mode: Corruption,
        /// Bits to flip (`flip_bits`).
        #[serde(default)]
        count: Option<u32>,
        /// First byte (`zero`).
        #[serde(default)]
        offset: Option<u64>,
        /// Bytes to zero (`zero`) or the length to keep (`truncate`).
        #[serde(default)]
        len: Option<u64>,
    },
    /// Fill the target's datadir, a size-limited tmpfs (`topology.disks`), to the last byte.
    DiskFull {
        target: String,
    },
    /// Move the target's wall clock by `offset_secs` (libfaketime; monotonic
    /// clocks are left alone so timers keep working).
    ClockSkew {
        target: String,
        offset_secs: i64,
    },
    /// Power loss: every process of the target dies at once and every write
    /// it had not fsynced is gone. The target must be in `topology.power_cut`
    /// (its datadir then sits on the agent's write-buffering FUSE layer).
    PowerCut {
        target: String,
    },
}

impl Fault {
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Kill { .. } => "kill",
            Fault::Crash { .. } => "crash",
            Fault::Stop { .. } => "stop",
            Fault::Start { .. } => "start",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Unpause { .. } => "unpause",
            Fault::Partition { .. } => "partition",
            Fault::PacketLoss { .. } => "packet_loss",
            Fault::Delay { .. } => "delay",
            Fault::Corrupt { .. } => "corrupt",
            Fault::DiskFull { .. } => "disk_full",
            Fault::ClockSkew { .. } => "clock_skew",
            Fault::PowerCut { .. } => "power_cut",
        }
    }

    /// Every kind, for documentation and coverage checks.
    pub const KINDS: [&'static str; 14] = [
        "kill",
        "crash",
        "stop",
        "start",
        "restart",
        "pause",
        "unpause",
        "partition",
        "packet_loss",
        "delay",
        "corrupt",
        "disk_full",
        "clock_skew",
        "power_cut",
    ];

    pub fn target(&self) -> &str {
        match self {
            Fault::Kill { target }
            | Fault::Crash { target }
            | Fault::Stop { target }
            | Fault::Start { target }
            | Fault::Restart { target }
            | Fault::Pause { target }
            | Fault::Unpause { target }
            | Fault::Partition { target, .. }
            | Fault::PacketLoss { target, .. }
            | Fault::Delay { target, .. }
            | Fault::Corrupt { target, .. }
            | Fault::DiskFull { target }
            | Fault::ClockSkew { target, .. }
            | Fault::PowerCut { target } => target,
        }
    }

    /// Other components the fault involves (the far end of a partition).
    pub fn peer(&self) -> Option<&str> {
        match self {
            Fault::Partition { peer, .. } => Some(peer),
            _ => None,
        }
    }

    /// True when the target runs afterwards and must be waited on before use.
    pub fn brings_up(&self) -> bool {
        matches!(
            self,
            Fault::Start { .. } | Fault::Restart { .. } | Fault::Crash { .. }
        )
    }

    /// True when the target's processes are gone afterwards.
    pub fn takes_down(&self) -> bool {
        matches!(
            self,
            Fault::Kill { .. } | Fault::Stop { .. } | Fault::PowerCut { .. }
        )
    }

    /// Checks what the type system cannot: counts and ranges that make sense.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self {
            Fault::PacketLoss { every, .. } if *every < 2 => Err(format!(
                "packet_loss: every = {every} would drop everything; expected 2 or more (use `partition` to drop all)"
            )),
            Fault::Delay { ms, .. } if *ms == 0 || *ms > 60_000 => Err(format!(
                "delay: ms = {ms}; expected 1 to 60000"
            )),
            Fault::Partition { target, peer, .. } if target == peer => {
                Err(format!("partition: target and peer are both `{target}`"))
            }
            Fault::Corrupt {
                path,
                mode,
                count,
                offset,
                len,
                ..
            } => {
                if !path.starts_with('/') {
                    return Err(format!(
                        "corrupt: path `{path}` must be absolute in the container"
                    ));
                }
                let (need_count, need_offset, need_len) = match mode {
                    Corruption::FlipBits => (true, false, false),
                    Corruption::Zero => (false, true, true),
                    Corruption::Truncate => (false, false, true),
                    Corruption::Delete => (false, false, false),
                };
                for (name, needed, given) in [
                    ("count", need_count, count.is_some()),
                    ("offset", need_offset, offset.is_some()),
                    ("len", need_len, len.is_some()),
                ] {
                    if needed && !given {
                        return Err(format!("corrupt: mode {mode:?} needs `{name}`"));
                    }
                    if !needed && given {
                        return Err(format!("corrupt: `{name}` has no meaning for mode {mode:?}"));
                    }
                }
                if *count == Some(0) {
                    return Err("corrupt: count must be at least 1".to_string());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition {
                target,
                peer,
                direction,
            } => write!(f, "partition {target} from {peer} ({direction:?})"),
            Fault::PacketLoss { target, every } => {
                write!(f, "packet_loss {target} (every {every}th packet)")
            }
            Fault::Corrupt {
                target, path, mode, ..
            } => write!(f, "corrupt {target}:{path} ({mode:?})"),
            Fault::ClockSkew {
                target,
                offset_secs,
            } => write!(f, "clock_skew {target} {offset_secs:+}s"),
            Fault::Delay { target, ms } => write!(f, "delay {target} {ms} ms"),
            other => write!(f, "{} {}", other.kind(), other.target()),
        }
    }
}

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
}

/// Applies faults with randomness from the run's seed and remembers the
/// ones still in force.
pub struct Injector {
    rng: ChaCha8Rng,
    active: Vec<Active>,
}

impl Injector {
    pub fn new(seed: u64) -> Self {
        Injector {
            // A stream of its own, so adding a fault does not shift other draws.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6661_756c_7473),
            active: Vec::new(),
        }
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
                Fault::Partition { target, peer, .. } if peer == component => Some(target.clone()),
                Fault::Partition { target, peer, .. } if target == component => Some(peer.clone()),
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
        let (undo, detail) = match fault {
            Fault::Kill { .. } if container.buffers_writes() => {
                // A process crash, not a power cut: kill the program under the
                // agent, which then writes back what the kernel would have kept.
                crash_under_agent(container).await?;
                (Some(Undo::Start), "SIGKILL to the program".to_string())
            }
            Fault::Kill { .. } => {
                container.kill().await?;
                (Some(Undo::Start), "SIGKILL".to_string())
            }
            Fault::Crash { .. } => {
                if container.buffers_writes() {
                    crash_under_agent(container).await?;
                } else {
                    container.kill().await?;
                    exited(container).await?;
                }
                container.start().await?;
                self.after_start(cluster, target).await?;
                (None, "SIGKILL, started again".to_string())
            }
            Fault::PowerCut { .. } => {
                if !container.buffers_writes() {
                    return Err(HarnessError::component(
                        target,
                        "power_cut: the component is not on the power-cut layer (list it in topology.power_cut)",
                    ));
                }
                // SIGKILL to the whole container: the agent dies with the
                // writes it held, as RAM does when the power goes.
                container.kill().await?;
                (
                    Some(Undo::Start),
                    "power cut: unsynced writes lost".to_string(),
                )
            }
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
            Fault::PacketLoss { every, .. } => {
                let rules = net::packet_loss(container, *every).await?;
                (
                    Some(Undo::Rules(rules)),
                    format!("dropping every {every}th packet each way"),
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
                path,
                mode,
                count,
                offset,
                len,
                ..
            } => {
                let detail = file::corrupt(
                    cluster,
                    container,
                    path,
                    *mode,
                    *count,
                    *offset,
                    *len,
                    &mut self.rng,
                )
                .await?;
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
        };
        if fault.brings_up() {
            // The component was down: whatever kept it down is over.
            self.active
                .retain(|a| !(a.fault.target() == target && matches!(a.undo, Undo::Start)));
        }
        if let Some(undo) = undo {
            self.active.push(Active {
                fault: fault.clone(),
                undo,
            });
        }
        Ok(detail)
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
                Undo::Rules(rules) => net::delete_rules(container, rules).await?,
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
                Fault::PacketLoss { every, .. } => net::packet_loss(container, *every).await?,
                _ => continue,
            };
            tracing::info!(component = %name, fault = %a.fault, "network fault re-applied after restart");
            a.undo = Undo::Rules(rules);
        }
        Ok(())
    }
}

/// SIGKILL to the program the agent runs (its pid file), then wait until
/// the agent has written back and the container has exited.
async fn crash_under_agent(container: &crate::container::Container) -> Result<()> {
    container
        .exec(&[
            "sh",
            "-c",
            &format!("kill -KILL \"$(cat {})\"", crate::cluster::CHILD_PID_FILE),
        ])
        .await?
        .ok(container.name(), "kill: SIGKILL to the program")?;
    exited(container).await
}

/// Waits until the container's processes are gone (a kill is asynchronous).
async fn exited(container: &crate::container::Container) -> Result<()> {
    crate::wait::until(
        &format!("{} to exit after its program was killed", container.name()),
        std::time::Duration::from_secs(30),
        || async {
            match container.status().await {
                Ok(s) if !s.running => Ok(()),
                Ok(_) => Err("still running".to_string()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<Fault, String> {
        #[derive(Deserialize)]
        struct W {
            fault: Fault,
        }
        toml::from_str::<W>(text)
            .map(|w| w.fault)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn faults_parse_from_inline_tables() {
        assert_eq!(
            parse(r#"fault = { kind = "kill", target = "vlsd-alice" }"#),
            Ok(Fault::Kill {
                target: "vlsd-alice".into()
            })
        );
        assert_eq!(
            parse(r#"fault = { kind = "partition", target = "alice", peer = "bob" }"#),
            Ok(Fault::Partition {
                target: "alice".into(),
                peer: "bob".into(),
                direction: LinkDirection::Both
            })
        );
        let f = parse(r#"fault = { kind = "corrupt", target = "vlsd-alice", path = "/data/regtest/redb", mode = "flip_bits", count = 8 }"#)
            .expect("corrupt");
        assert_eq!(f.validate(), Ok(()));
    }

    #[test]
    fn unknown_fields_and_kinds_are_errors() {
        let e =
            parse(r#"fault = { kind = "kill", target = "a", signal = 9 }"#).expect_err("unknown");
        assert!(e.contains("signal"), "{e}");
        let e = parse(r#"fault = { kind = "explode", target = "a" }"#).expect_err("kind");
        assert!(e.contains("explode") && e.contains("kill"), "{e}");
    }

    #[test]
    fn validation_names_the_missing_or_meaningless_field() {
        let f = parse(
            r#"fault = { kind = "corrupt", target = "a", path = "/x", mode = "zero", offset = 0 }"#,
        )
        .expect("parses");
        assert!(f.validate().expect_err("len").contains("needs `len`"));
        let f = parse(r#"fault = { kind = "corrupt", target = "a", path = "/x", mode = "delete", count = 1 }"#)
            .expect("parses");
        assert!(f.validate().expect_err("count").contains("no meaning"));
        let f =
            parse(r#"fault = { kind = "packet_loss", target = "a", every = 1 }"#).expect("parses");
        assert!(f.validate().is_err());
    }

    #[test]
    fn kinds_list_matches_the_enum() {
        let samples = [
            Fault::Kill { target: "t".into() },
            Fault::Crash { target: "t".into() },
            Fault::Stop { target: "t".into() },
            Fault::Start { target: "t".into() },
            Fault::Restart { target: "t".into() },
            Fault::Pause { target: "t".into() },
            Fault::Unpause { target: "t".into() },
            Fault::Partition {
                target: "t".into(),
                peer: "p".into(),
                direction: LinkDirection::Both,
            },
            Fault::PacketLoss {
                target: "t".into(),
                every: 3,
            },
            Fault::Delay {
                target: "t".into(),
                ms: 50,
            },
            Fault::Corrupt {
                target: "t".into(),
                path: "/x".into(),
                mode: Corruption::Delete,
                count: None,
                offset: None,
                len: None,
            },
            Fault::DiskFull { target: "t".into() },
            Fault::ClockSkew {
                target: "t".into(),
                offset_secs: 1,
            },
            Fault::PowerCut { target: "t".into() },
        ];
        let kinds: Vec<&str> = samples.iter().map(Fault::kind).collect();
        assert_eq!(kinds, Fault::KINDS);
    }
}
