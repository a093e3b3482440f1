//! Lifecycle checkpoints: a fault armed by a step fires when its trigger is
//! seen, while later steps run. Node events come from the node's event
//! stream (a cursor of the watcher's own, so no step misses an event); signer
//! requests are counted in the vlsd log the run keeps on disk, or held by
//! the node itself at a signer breakpoint until the fault is in place.

use std::path::PathBuf;
use std::time::Duration;

use regex_lite::Regex;

use crate::cluster::Cluster;
use crate::component::EventCursor;
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
}

/// What was seen when a trigger was reached.
#[derive(Debug, Clone)]
pub struct Reached {
    /// The event or log line that completed the count.
    pub evidence: String,
    /// A signer request the node holds (node, breakpoint id) until released.
    pub held: Option<(String, u64)>,
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
                let n = cluster.node(&node)?;
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
                                    held: Some((node, id)),
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
            log @ Watch::Log { .. } => log.reached_log().await,
        }
    }

    /// The signer-log half of [`Watch::reached`]; needs no cluster.
    async fn reached_log(self) -> Result<Reached> {
        match self {
            Watch::Event { node, .. } | Watch::Breakpoint { node, .. } => Err(
                HarnessError::component(node, "internal: a node watch read as a log watch"),
            ),
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

fn read_from(path: &std::path::Path, offset: u64) -> Result<(String, u64)> {
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
