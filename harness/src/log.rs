//! Streams a container's stdout/stderr into `<run>/logs/<container>.log`,
//! each line prefixed with Docker's timestamp.
//!
//! A follow stream ends whenever the container stops (a kill, a restart), so
//! the sink is resumed by its container after every start; lines already
//! written are skipped when a re-read returns them again. At teardown the
//! sink is closed with one last non-following read, so the file is complete
//! even when the follower never got to run (a panic on a single-threaded
//! runtime).

use std::collections::{HashSet, VecDeque};
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

/// How many of the latest lines are remembered to skip their repeats. A
/// re-read starts 2 s before the last line written (Docker's `since` has
/// whole seconds), so it repeats at most a few seconds of log: far fewer
/// lines than this in any component here. Were it more, a line would be
/// written twice, never lost.
const RECENT_LINES: usize = 8192;

struct State {
    file: File,
    /// The latest lines written, whole (Docker's timestamp included), to
    /// skip the ones a re-read returns again. Not "every line older than the
    /// last one": Docker timestamps stdout and stderr apart, so a line can
    /// follow a later-stamped one (a crash point's stderr line after the
    /// node's stdout, seen lost that way).
    recent: HashSet<String>,
    order: VecDeque<String>,
    /// Unix seconds when the last line was written, to ask Docker only for newer lines.
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
                recent: HashSet::new(),
                order: VecDeque::new(),
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
        if stamped(line) {
            if !st.recent.insert(line.to_string()) {
                return;
            }
            st.order.push_back(line.to_string());
            if st.order.len() > RECENT_LINES {
                if let Some(old) = st.order.pop_front() {
                    st.recent.remove(&old);
                }
            }
        }
        // A log file we cannot write is not worth failing a scenario for; the
        // container's own log stays in Docker until teardown.
        let _ = writeln!(st.file, "{line}");
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

/// Whether the line starts with Docker's RFC 3339 timestamp; only such
/// lines can come back in a re-read (the rest are the harness's own).
fn stamped(line: &str) -> bool {
    let ts = line.split_once(' ').map_or(line, |(ts, _)| ts);
    ts.ends_with('Z') && ts.starts_with(|c: char| c.is_ascii_digit())
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
    fn only_docker_stamped_lines_count_as_stamped() {
        assert!(stamped("2026-11-21T18:24:01.12Z hello"));
        assert!(!stamped("garbage line"));
        assert!(!stamped(""));
    }

    #[test]
    fn repeats_are_skipped_and_out_of_order_lines_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.log");
        let sink = LogSink::create(&p, "id").expect("sink");
        let lines = [
            "2026-12-07T03:58:45.240670707Z node: sending payment",
            // stderr, stamped before the stdout line above, written after it
            "2026-12-07T03:58:45.240500000Z agent: hold cp1 reached",
            // a re-read after a restart repeats both
            "2026-12-07T03:58:45.240670707Z node: sending payment",
            "2026-12-07T03:58:45.240500000Z agent: hold cp1 reached",
            "2026-12-07T03:58:46Z node: next",
        ];
        for l in lines {
            sink.write_line(l);
        }
        let text = std::fs::read_to_string(&p).expect("read");
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            vec![lines[0], lines[1], lines[4]]
        );
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
