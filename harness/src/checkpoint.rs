//! Lifecycle checkpoints: a fault armed by a step fires when its trigger is
//! seen, while later steps run. Node events come from the node's event
//! stream (a cursor of the watcher's own, so no step misses an event); signer
//! requests are counted in the vlsd log the run keeps on disk, or held by
//! the node itself at a signer breakpoint until the fault is in place.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use regex_lite::Regex;

use crate::cluster::Cluster;
use crate::component::EventCursor;
use crate::contained::CONTROL_DIR;
use crate::error::{HarnessError, Result};
use crate::node::NodeEvent;
use crate::scenario::{EventKind, SignerMoment, Trigger};

/// How often a signer log is read for new lines.
const LOG_POLL: Duration = Duration::from_millis(25);

impl EventKind {
    pub fn matches(self, e: &NodeEvent) -> bool {
        matches!(
            (self, e),
            (EventKind::ChannelPending, NodeEvent::ChannelPending { .. })
                | (EventKind::ChannelReady, NodeEvent::ChannelReady { .. })
                | (EventKind::ChannelClosed, NodeEvent::ChannelClosed { .. })
                | (EventKind::HtlcAccepted, NodeEvent::HtlcAccepted { .. })
                | (
                    EventKind::PaymentReceived,
                    NodeEvent::PaymentReceived { .. }
                )
                | (EventKind::PaymentSent, NodeEvent::PaymentSent { .. })
                | (EventKind::PaymentFailed, NodeEvent::PaymentFailed { .. })
                | (
                    EventKind::SpendableOutputs,
                    NodeEvent::SpendableOutputs { .. }
                )
        )
    }
}

/// A trigger being watched, positioned at the moment it was armed.
pub enum Watch {
    Event {
        node: String,
        kind: EventKind,
        nth: u32,
        cursor: EventCursor,
    },
    Log {
        path: PathBuf,
        offset: u64,
        pattern: Regex,
        nth: u32,
    },
    Breakpoint {
        node: String,
        request: String,
        at: SignerMoment,
        /// Matches still to come (re-armed with this after a node restart).
        nth: u32,
        id: u64,
    },
    /// A crash point in the component's power-cut layer; the layer says
    /// on stderr (the container's log) when it holds the fsync.
    Fsync {
        component: String,
        id: String,
        path: PathBuf,
        offset: u64,
    },
}

/// What stays held after a trigger is reached, until the fault is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// A signer request the node holds (node, breakpoint id).
    SignerCall { node: String, id: u64 },
    /// An fsync the component's power-cut layer holds (component, crash point id).
    Fsync { component: String, id: String },
}

/// What was seen when a trigger was reached.
#[derive(Debug, Clone)]
pub struct Reached {
    /// The event or log line that completed the count.
    pub evidence: String,
    /// What is held until released.
    pub held: Option<Held>,
}

/// How long one long poll for a breakpoint hit waits before asking again.
const BREAKPOINT_POLL: Duration = Duration::from_secs(20);

impl Watch {
    /// Starts watching from now: earlier events and log lines do not count.
    pub async fn arm(cluster: &Cluster, trigger: &Trigger) -> Result<Watch> {
        match trigger {
            Trigger::NodeEvent {
                node, event, nth, ..
            } => {
                let n = cluster.node(node)?;
                let mut cursor = EventCursor::default();
                // Skip what already happened.
                n.poll_events(&mut cursor, Duration::ZERO).await?;
                Ok(Watch::Event {
                    node: node.clone(),
                    kind: *event,
                    nth: *nth,
                    cursor,
                })
            }
            Trigger::SignerRequest {
                signer,
                request,
                nth,
                ..
            } => {
                let container = cluster.container(signer)?;
                let path = container.logs().path().to_path_buf();
                let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                Ok(Watch::Log {
                    path,
                    offset,
                    pattern: request_pattern(request)?,
                    nth: *nth,
                })
            }
            Trigger::SignerCall {
                node,
                request,
                nth,
                at,
                ..
            } => {
                let b = cluster
                    .node(node)?
                    .ldk("a signer breakpoint")?
                    .arm_breakpoint(request, *nth, *at)
                    .await?;
                Ok(Watch::Breakpoint {
                    node: node.clone(),
                    request: request.clone(),
                    at: *at,
                    nth: *nth,
                    id: b.id,
                })
            }
            Trigger::Fsync {
                component,
                file,
                nth,
                ..
            } => arm_fsync(cluster, component, file, *nth).await,
        }
    }

    /// Resolves when the trigger is reached. Never times out on its own:
    /// the run's end (or a `wait_for.checkpoint`) bounds it.
    pub async fn reached(self, cluster: &Cluster) -> Result<Reached> {
        match self {
            Watch::Event {
                node,
                kind,
                nth,
                mut cursor,
            } => {
                let n = cluster.node(&node)?;
                let mut seen = 0;
                loop {
                    let events = match n.poll_events(&mut cursor, Duration::from_secs(5)).await {
                        Ok(e) => e,
                        // The node may be down for a while (a fault); keep watching.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                    };
                    for e in events {
                        if kind.matches(&e) {
                            seen += 1;
                            if seen == nth {
                                return Ok(Reached {
                                    evidence: format!("{node}: {e:?}"),
                                    held: None,
                                });
                            }
                        }
                    }
                }
            }
            Watch::Breakpoint {
                node,
                request,
                at,
                mut nth,
                mut id,
            } => {
                let n = cluster.node(&node)?.ldk("a signer breakpoint")?;
                loop {
                    match n.breakpoint(id, BREAKPOINT_POLL).await {
                        Ok(b) => {
                            if let Some(hit) = b.hit {
                                let channel = hit
                                    .dbid
                                    .map(|d| format!(" (channel dbid {d})"))
                                    .unwrap_or_default();
                                return Ok(Reached {
                                    evidence: format!(
                                        "{node} holds {}{channel}, {}",
                                        hit.detail,
                                        match at {
                                            SignerMoment::Request => "not yet sent to vlsd",
                                            SignerMoment::Reply =>
                                                "answered by vlsd, answer not yet seen by the node",
                                        }
                                    ),
                                    held: Some(Held::SignerCall { node, id }),
                                });
                            }
                            if b.released {
                                return Err(HarnessError::component(
                                    &node,
                                    format!("breakpoint {id} was released before it was hit"),
                                ));
                            }
                        }
                        // The node restarted and forgot the breakpoint: arm
                        // it again for the matches still to come.
                        Err(HarnessError::NodeApi { code, .. }) if code == "unknown_breakpoint" => {
                            if let Ok(b) = n.arm_breakpoint(&request, nth, at).await {
                                id = b.id;
                            }
                        }
                        // The node is down for a while (a fault); keep watching.
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                    // Count what the node saw before a restart could lose it.
                    if let Ok(b) = n.breakpoint(id, Duration::ZERO).await {
                        if b.hit.is_none() && b.seen > 0 && b.nth > b.seen {
                            nth = b.nth - b.seen;
                        }
                    }
                }
            }
            Watch::Fsync {
                component,
                id,
                path,
                offset,
            } => {
                let pattern = Regex::new(&format!(r"vls-chaos-agent: hold {id} reached:"))
                    .map_err(|e| HarnessError::component("checkpoint", e.to_string()))?;
                let log = Watch::Log {
                    path: path.clone(),
                    offset,
                    pattern,
                    nth: 1,
                };
                let seen = log.reached_log().await?;
                let during = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| request_in_flight(&text, &id))
                    .map(|r| format!(", inside {r}"))
                    .unwrap_or_default();
                Ok(Reached {
                    evidence: format!("{component}: {}{during}", agent_line(&seen.evidence)),
                    held: Some(Held::Fsync { component, id }),
                })
            }
            log @ Watch::Log { .. } => log.reached_log().await,
        }
    }

    /// The signer-log half of [`Watch::reached`]; needs no cluster.
    async fn reached_log(self) -> Result<Reached> {
        match self {
            Watch::Event { node, .. } | Watch::Breakpoint { node, .. } => Err(
                HarnessError::component(node, "internal: a node watch read as a log watch"),
            ),
            Watch::Fsync { component, .. } => Err(HarnessError::component(
                component,
                "internal: an fsync watch read as a log watch",
            )),
            Watch::Log {
                path,
                mut offset,
                pattern,
                nth,
            } => {
                let mut seen = 0;
                let mut partial = String::new();
                loop {
                    let (chunk, next) = read_from(&path, offset)?;
                    offset = next;
                    partial.push_str(&chunk);
                    while let Some(end) = partial.find('\n') {
                        let line: String = partial.drain(..=end).collect();
                        if pattern.is_match(&line) {
                            seen += 1;
                            if seen == nth {
                                return Ok(Reached {
                                    evidence: line.trim_end().to_string(),
                                    held: None,
                                });
                            }
                        }
                    }
                    tokio::time::sleep(LOG_POLL).await;
                }
            }
        }
    }
}

/// Crash point ids, unique within the harness process (a container's
/// points are cleared when it boots, so they need be no more unique).
static NEXT_CRASH_POINT: AtomicU64 = AtomicU64::new(1);

/// Arms the component's power-cut layer at the `nth` fsync of `file`
/// (see the agent's `crash_point` module for the protocol).
async fn arm_fsync(cluster: &Cluster, component: &str, file: &str, nth: u32) -> Result<Watch> {
    let container = cluster.container(component)?;
    let id = format!("cp{}", NEXT_CRASH_POINT.fetch_add(1, Ordering::Relaxed));
    let path = container.logs().path().to_path_buf();
    let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    // `file` is checked to hold only `[A-Za-z0-9._/-]` when the scenario loads.
    let script = format!(
        "mkdir -p {CONTROL_DIR} && printf '%s' '{id} {nth} {file}' > {CONTROL_DIR}/hold.tmp && mv {CONTROL_DIR}/hold.tmp {CONTROL_DIR}/hold"
    );
    container.exec(&["sh", "-c", &script]).await?;
    Ok(Watch::Fsync {
        component: component.to_string(),
        id,
        path,
        offset,
    })
}

/// Lets a held fsync go on (nothing to do if the fault took the container down).
pub async fn release_fsync(cluster: &Cluster, component: &str, id: &str) -> Result<()> {
    let container = cluster.container(component)?;
    container
        .exec(&["touch", &format!("{CONTROL_DIR}/release-{id}")])
        .await
        .map(|_| ())
}

/// The last request vlsd logged it got before crash point `id` held its
/// fsync: the request whose state write was held.
fn request_in_flight(log: &str, id: &str) -> Option<String> {
    let hold = log.find(&format!("hold {id} reached:"))?;
    let got = Regex::new(r"signer got request (\d+) dbid (\d+) - (\w+)").ok()?;
    let c = got.captures_iter(&log[..hold]).last()?;
    Some(format!("request {} (dbid {}) {}", &c[1], &c[2], &c[3]))
}

/// The agent's announcement without its prefix, for the timeline.
fn agent_line(line: &str) -> &str {
    line.find("hold ").map(|i| &line[i..]).unwrap_or(line)
}

/// A request name as a whole word, so `SignRemoteCommitmentTx` does not
/// count `SignRemoteCommitmentTx2`.
pub fn request_pattern(request: &str) -> Result<Regex> {
    if !crate::scenario::is_request_name(request) {
        return Err(HarnessError::component(
            "checkpoint",
            format!("signer_request `{request}`: expected a request type name like SignRemoteCommitmentTx2"),
        ));
    }
    Regex::new(&format!(r"\b{request}\b"))
        .map_err(|e| HarnessError::component("checkpoint", e.to_string()))
}

/// What a log file holds from `offset` on, and the offset after it.
pub(crate) fn read_from(path: &std::path::Path, offset: u64) -> Result<(String, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((String::new(), offset)),
        Err(e) => return Err(HarnessError::io(path)(e)),
    };
    f.seek(SeekFrom::Start(offset))
        .map_err(HarnessError::io(path))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(HarnessError::io(path))?;
    let next = offset + buf.len() as u64;
    Ok((String::from_utf8_lossy(&buf).into_owned(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_names_match_whole_words() {
        let p = request_pattern("SignRemoteCommitmentTx").expect("pattern");
        assert!(p.is_match("INFO handle SignRemoteCommitmentTx(..)"));
        assert!(!p.is_match("INFO handle SignRemoteCommitmentTx2(..)"));
        assert!(request_pattern("Sign.*").is_err());
    }

    #[test]
    fn the_request_in_flight_is_the_last_one_before_the_hold() {
        let log = "signer got request 7 dbid 0 - PreapproveInvoice(..)\n\
                   signer got request 8 dbid 3 - SignRemoteCommitmentTx2(..)\n\
                   vls-chaos-agent: hold cp2 reached: fsync #1 of regtest/redb\n\
                   signer got request 9 dbid 3 - ValidateRevocation(..)\n";
        assert_eq!(
            request_in_flight(log, "cp2").as_deref(),
            Some("request 8 (dbid 3) SignRemoteCommitmentTx2")
        );
        assert_eq!(request_in_flight(log, "cp3"), None);
    }

    #[tokio::test]
    async fn log_watch_counts_lines_after_arming() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("vlsd.log");
        std::fs::write(&path, "old SignRemoteCommitmentTx2\n").expect("write");
        let offset = std::fs::metadata(&path).expect("meta").len();
        let watch = Watch::Log {
            path: path.clone(),
            offset,
            pattern: request_pattern("SignRemoteCommitmentTx2").expect("p"),
            nth: 2,
        };
        let writer = async {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("open");
            for i in 0..3 {
                tokio::time::sleep(Duration::from_millis(30)).await;
                writeln!(f, "line {i} SignRemoteCommitmentTx2 request").expect("append");
            }
        };
        let reader = tokio::time::timeout(Duration::from_secs(5), watch.reached_log());
        let (_, got) = tokio::join!(writer, reader);
        let got = got.expect("in time").expect("reached");
        assert_eq!(got.evidence, "line 1 SignRemoteCommitmentTx2 request");
    }
}
