//! The faults a scenario can inject: [`Fault`], as the runner applies it,
//! and [`FaultSpec`], as a scenario file writes it.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::corruption::{self, Corruption, CorruptionSpec};

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

/// A fault as a scenario file writes it. [`FaultSpec::check`] checks it with
/// the rest of its step (a `corrupt` fault's fields against its mode, among
/// others), so that an error names the step.
pub type FaultSpec = Fault<CorruptionSpec>;

/// One fault. `target` is a component of the run: `bitcoind`, a node name
/// (`alice`) or a signer (`vlsd-alice`).
// `C` is how a `corrupt` fault damages its file: a [`Corruption`] in a
// fault to apply, the fields a scenario file gives it in a [`FaultSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    deny_unknown_fields,
    bound(deserialize = "C: From<CorruptionSpec>")
)]
#[schemars(rename = "Fault", bound = "")]
pub enum Fault<C = Corruption> {
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
    /// Every data segment the target sends to `peer` is answered at once by
    /// a TCP reset from its own kernel (iptables REJECT `tcp-reset` on
    /// segments carrying data, in the target's namespace), as when the
    /// peer's socket is gone: connections still open, the first write on
    /// one resets it. Re-applied when either restarts, until healed.
    Reset {
        target: String,
        peer: String,
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
    #[serde(deserialize_with = "corruption::read")]
    #[schemars(with = "corruption::CorruptFile")]
    Corrupt {
        target: String,
        path: String,
        corruption: C,
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

impl<C> Fault<C> {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Kill { .. } => "kill",
            Self::Crash { .. } => "crash",
            Self::Stop { .. } => "stop",
            Self::Start { .. } => "start",
            Self::Restart { .. } => "restart",
            Self::Pause { .. } => "pause",
            Self::Unpause { .. } => "unpause",
            Self::Partition { .. } => "partition",
            Self::Reset { .. } => "reset",
            Self::PacketLoss { .. } => "packet_loss",
            Self::Delay { .. } => "delay",
            Self::Corrupt { .. } => "corrupt",
            Self::DiskFull { .. } => "disk_full",
            Self::ClockSkew { .. } => "clock_skew",
            Self::PowerCut { .. } => "power_cut",
        }
    }

    pub fn target(&self) -> &str {
        match self {
            Self::Kill { target }
            | Self::Crash { target }
            | Self::Stop { target }
            | Self::Start { target }
            | Self::Restart { target }
            | Self::Pause { target }
            | Self::Unpause { target }
            | Self::Partition { target, .. }
            | Self::Reset { target, .. }
            | Self::PacketLoss { target, .. }
            | Self::Delay { target, .. }
            | Self::Corrupt { target, .. }
            | Self::DiskFull { target }
            | Self::ClockSkew { target, .. }
            | Self::PowerCut { target } => target,
        }
    }

    /// Other components the fault involves (the far end of a partition).
    pub fn peer(&self) -> Option<&str> {
        match self {
            Self::Partition { peer, .. } | Self::Reset { peer, .. } => Some(peer),
            _ => None,
        }
    }

    /// True when the target runs afterwards and must be waited on before use.
    pub fn brings_up(&self) -> bool {
        matches!(
            self,
            Self::Start { .. } | Self::Restart { .. } | Self::Crash { .. }
        )
    }

    /// True when the target's processes are gone afterwards.
    pub fn takes_down(&self) -> bool {
        matches!(
            self,
            Self::Kill { .. } | Self::Stop { .. } | Self::PowerCut { .. }
        )
    }
}

impl Fault {
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
}

impl FaultSpec {
    /// Checks what the type system cannot (counts and ranges that make
    /// sense, a `corrupt` fault's fields against its mode) and gives the
    /// fault to apply.
    pub fn check(self) -> Result<Fault, String> {
        match &self {
            Self::PacketLoss { every, .. } if *every < 2 => return Err(format!(
                "packet_loss: every = {every} would drop everything; expected 2 or more (use `partition` to drop all)"
            )),
            Self::Delay { ms, .. } if *ms == 0 || *ms > 60_000 => return Err(format!(
                "delay: ms = {ms}; expected 1 to 60000"
            )),
            Self::Partition { target, peer, .. } | Self::Reset { target, peer }
                if target == peer =>
            {
                return Err(format!(
                    "{}: target and peer are both `{target}`",
                    self.kind()
                ))
            }
            Self::Corrupt { path, .. } if !path.starts_with('/') => {
                return Err(format!(
                    "corrupt: path `{path}` must be absolute in the container"
                ))
            }
            _ => {}
        }
        Ok(match self {
            Self::Kill { target } => Fault::Kill { target },
            Self::Crash { target } => Fault::Crash { target },
            Self::Stop { target } => Fault::Stop { target },
            Self::Start { target } => Fault::Start { target },
            Self::Restart { target } => Fault::Restart { target },
            Self::Pause { target } => Fault::Pause { target },
            Self::Unpause { target } => Fault::Unpause { target },
            Self::Partition {
                target,
                peer,
                direction,
            } => Fault::Partition {
                target,
                peer,
                direction,
            },
            Self::Reset { target, peer } => Fault::Reset { target, peer },
            Self::PacketLoss { target, every } => Fault::PacketLoss { target, every },
            Self::Delay { target, ms } => Fault::Delay { target, ms },
            Self::Corrupt {
                target,
                path,
                corruption,
            } => Fault::Corrupt {
                target,
                path,
                corruption: corruption.check()?,
            },
            Self::DiskFull { target } => Fault::DiskFull { target },
            Self::ClockSkew {
                target,
                offset_secs,
            } => Fault::ClockSkew {
                target,
                offset_secs,
            },
            Self::PowerCut { target } => Fault::PowerCut { target },
        })
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
            Fault::Reset { target, peer } => write!(f, "reset {target}'s connections to {peer}"),
            Fault::PacketLoss { target, every } => {
                write!(f, "packet_loss {target} (every {every}th packet)")
            }
            Fault::Corrupt {
                target,
                path,
                corruption,
            } => write!(f, "corrupt {target}:{path} ({:?})", corruption.mode()),
            Fault::ClockSkew {
                target,
                offset_secs,
            } => write!(f, "clock_skew {target} {offset_secs:+}s"),
            Fault::Delay { target, ms } => write!(f, "delay {target} {ms} ms"),
            other => write!(f, "{} {}", other.kind(), other.target()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<FaultSpec, String> {
        #[derive(Deserialize)]
        struct W {
            fault: FaultSpec,
        }
        toml::from_str::<W>(text)
            .map(|w| w.fault)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn faults_parse_from_inline_tables() {
        assert_eq!(
            parse(r#"fault = { kind = "kill", target = "vlsd-alice" }"#).map(FaultSpec::check),
            Ok(Ok(Fault::Kill {
                target: "vlsd-alice".into()
            }))
        );
        assert_eq!(
            parse(r#"fault = { kind = "partition", target = "alice", peer = "bob" }"#)
                .map(FaultSpec::check),
            Ok(Ok(Fault::Partition {
                target: "alice".into(),
                peer: "bob".into(),
                direction: LinkDirection::Both
            }))
        );
        let f = parse(r#"fault = { kind = "corrupt", target = "vlsd-alice", path = "/data/regtest/redb", mode = "flip_bits", count = 8 }"#)
            .expect("corrupt");
        assert_eq!(
            f.check(),
            Ok(Fault::Corrupt {
                target: "vlsd-alice".into(),
                path: "/data/regtest/redb".into(),
                corruption: Corruption::FlipBits { count: 8 }
            })
        );
    }

    #[test]
    fn unknown_fields_and_kinds_are_errors() {
        let e =
            parse(r#"fault = { kind = "kill", target = "a", signal = 9 }"#).expect_err("unknown");
        assert!(e.contains("signal"), "{e}");
        let e = parse(r#"fault = { kind = "explode", target = "a" }"#).expect_err("kind");
        assert!(e.contains("explode") && e.contains("kill"), "{e}");
        let e = parse(
            r#"fault = { kind = "corrupt", target = "a", path = "/x", mode = "delete", size = 1 }"#,
        )
        .expect_err("unknown");
        assert!(
            e.contains("`size`, expected one of `target`, `path`, `mode`"),
            "{e}"
        );
    }

    #[test]
    fn checks_name_the_missing_or_meaningless_field() {
        let f = parse(
            r#"fault = { kind = "corrupt", target = "a", path = "/x", mode = "zero", offset = 0 }"#,
        )
        .expect("parses");
        assert!(f.check().expect_err("len").contains("needs `len`"));
        let f = parse(r#"fault = { kind = "corrupt", target = "a", path = "/x", mode = "delete", count = 1 }"#)
            .expect("parses");
        assert!(f.check().expect_err("count").contains("no meaning"));
        let f =
            parse(r#"fault = { kind = "packet_loss", target = "a", every = 1 }"#).expect("parses");
        assert!(f.check().is_err());
    }

    #[test]
    fn corrupt_displays_its_mode() {
        let f = Fault::Corrupt {
            target: "vlsd-alice".into(),
            path: "/x".into(),
            corruption: Corruption::Zero { offset: 1, len: 2 },
        };
        assert_eq!(f.to_string(), "corrupt vlsd-alice:/x (Zero)");
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
                corruption: Corruption::Delete,
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
