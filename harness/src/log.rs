//! Streams a container's stdout/stderr into `<run>/logs/<container>.log`,
//! each line prefixed with Docker's timestamp.
//!
//! A follow stream ends whenever the container stops (a kill, a restart), so
//! the sink is resumed by its container after every start; lines already
//! written are skipped by timestamp. At teardown the sink is closed with one
//! last non-following read, so the file is complete even when the follower
//! never got to run (a panic on a single-threaded runtime).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::query_parameters::LogsOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use tokio::task::JoinHandle;

use crate::error::{HarnessError, Result};
use crate::sync::lock;

/// Pause before a log stream that ended is opened again.
const REFOLLOW: std::time::Duration = std::time::Duration::from_millis(250);

struct State {
    file: File,
    /// Normalised timestamp of the last line written (fixed-width, so it orders as text).
    last_ts: String,
    /// Unix seconds when that line was written, to ask Docker only for newer lines.
    last_unix: i64,
}

/// The log file of one container and the task that fills it.
#[derive(Clone)]
pub struct LogSink {
    path: PathBuf,
    container_id: String,
    state: Arc<Mutex<State>>,
    follower: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl LogSink {
    pub fn create(path: &Path, container_id: &str) -> Result<LogSink> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(HarnessError::io(dir))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(HarnessError::io(path))?;
        Ok(LogSink {
            path: path.to_path_buf(),
            container_id: container_id.to_string(),
            state: Arc::new(Mutex::new(State {
                file,
                last_ts: String::new(),
                last_unix: 0,
            })),
            follower: Arc::new(Mutex::new(None)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// (Re)starts following after the container (re)started. A stream that
    /// ends (the container exited) is opened again, so a restart by Docker
    /// itself (a supervised component) keeps its log file current too.
    pub fn follow(&self, docker: &Docker) {
        let docker = docker.clone();
        let this = self.clone();
        let handle = tokio::spawn(async move {
            loop {
                this.copy(&docker, true).await;
                tokio::time::sleep(REFOLLOW).await;
            }
        });
        if let Some(old) = lock(&self.follower).replace(handle) {
            old.abort();
        }
    }

    /// Stops following and appends whatever Docker has that the file lacks.
    pub async fn close(&self, docker: &Docker) {
        self.stop_following();
        self.copy(docker, false).await;
    }

    pub fn stop_following(&self) {
        if let Some(h) = lock(&self.follower).take() {
            h.abort();
        }
    }

    async fn copy(&self, docker: &Docker, follow: bool) {
        let since = (lock(&self.state).last_unix - 2).max(0);
        let opts = LogsOptionsBuilder::new()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .since(since as i32)
            .build();
        let mut stream = docker.logs(&self.container_id, Some(opts));
        let mut pending = String::new();
        while let Some(item) = stream.next().await {
            let Ok(chunk) = item else { break };
            pending.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            while let Some(nl) = pending.find('\n') {
                let line: String = pending.drain(..=nl).collect();
                self.write_line(line.trim_end_matches('\n'));
            }
        }
        if !pending.is_empty() {
            self.write_line(&pending);
        }
    }

    fn write_line(&self, line: &str) {
        let mut st = lock(&self.state);
        let (ts, _) = line.split_once(' ').unwrap_or((line, ""));
        let norm = normalise_ts(ts);
        if !norm.is_empty() && norm <= st.last_ts {
            return;
        }
        // A log file we cannot write is not worth failing a scenario for; the
        // container's own log stays in Docker until teardown.
        let _ = writeln!(st.file, "{line}");
        st.last_ts = norm;
        st.last_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
    }

    /// The last `n` lines of the file, for error messages.
    pub fn tail(&self, n: usize) -> String {
        tail_of_file(&self.path, n)
    }
}

/// Docker's RFC 3339 timestamp with the fraction padded to nanoseconds, so
/// that text order is time order.
fn normalise_ts(ts: &str) -> String {
    let Some(body) = ts.strip_suffix('Z') else {
        return String::new();
    };
    match body.split_once('.') {
        Some((secs, frac)) => format!("{secs}.{frac:0<9}Z"),
        None => format!("{body}.000000000Z"),
    }
}

pub fn tail_of_file(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The last `tail` lines of a log, preceded by up to `errors` earlier lines
/// that look like the reason a process gave up: a daemon that fails its init
/// often logs the cause long before its shutdown chatter fills the tail.
pub fn log_excerpt(log: &str, tail: usize, errors: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let split = lines.len().saturating_sub(tail);
    let (head, last) = lines.split_at(split);
    let marked: Vec<&str> = head
        .iter()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            ["error", "fatal", "corrupt", "panick", "abort"]
                .iter()
                .any(|m| l.contains(m))
        })
        .copied()
        .collect();
    let marked = &marked[marked.len().saturating_sub(errors)..];
    let mut out = String::new();
    if !marked.is_empty() {
        out.push_str("earlier error lines:\n");
        for l in marked {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str("last lines:\n");
    }
    out.push_str(&last.join("\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_order_as_text_after_normalising() {
        let a = normalise_ts("2026-11-21T18:24:01.12Z");
        let b = normalise_ts("2026-11-21T18:24:01.123Z");
        let c = normalise_ts("2026-11-21T18:24:02Z");
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(normalise_ts("garbage"), "");
    }

    #[test]
    fn tail_returns_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.log");
        std::fs::write(&p, "a\nb\nc\n").expect("write");
        assert_eq!(tail_of_file(&p, 2), "b\nc");
        assert_eq!(tail_of_file(&dir.path().join("missing"), 2), "");
    }
}

#[cfg(test)]
mod excerpt_tests {
    use super::log_excerpt;

    #[test]
    fn excerpt_keeps_the_cause_ahead_of_the_tail() {
        let mut log = vec!["boot".to_string(), "Error: index corrupted".to_string()];
        log.extend((0..20).map(|i| format!("shutdown step {i}")));
        let out = log_excerpt(&log.join("\n"), 3, 5);
        assert_eq!(
            out,
            "earlier error lines:\nError: index corrupted\nlast lines:\nshutdown step 17\nshutdown step 18\nshutdown step 19"
        );
    }

    #[test]
    fn excerpt_of_a_quiet_log_is_its_tail() {
        assert_eq!(log_excerpt("a\nb\nc", 2, 5), "b\nc");
        assert_eq!(log_excerpt("", 2, 5), "");
    }
}
