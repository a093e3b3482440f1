//! Crash points (LazyFS-style): the harness arms "the n-th fsync of file X"
//! from outside; when that fsync arrives the layer says so on stderr and
//! stops there, before anything of it is durable, until the harness
//! releases it. A fault applied in between (a power cut, a process crash)
//! lands after the program wrote its new state and before that state
//! reached the disk.
//!
//! The protocol is three files in a directory outside the mount (the
//! harness writes them with `docker exec`):
//! - `hold`: `<id> <nth> <path suffix>`, written whole (temp file + rename);
//!   a suffix ending in `/` names a directory: any file directly in it
//!   counts (LDK writes a monitor to a fresh temp file, fsyncs, renames);
//! - `release-<id>`: its existence lets the held fsync go on;
//! - nothing else: the hit is announced on stderr, which the harness reads
//!   from the container's log (`vls-chaos-agent: hold <id> reached: ...`).
//!
//! A boot clears them, as a power cut clears what a crash point lived in.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where the control files live inside the container.
pub const CONTROL_DIR: &str = "/run/vls-chaos";

/// How often a held fsync looks for its release.
const RELEASE_POLL: Duration = Duration::from_millis(5);

/// One armed crash point, as read from `hold`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm {
    pub id: String,
    pub nth: u32,
    /// Matched against the end of the file's path inside the mount, whole
    /// components (`redb` matches `regtest/redb`, not `myredb`).
    pub suffix: PathBuf,
    /// The suffix names the directory the file is in.
    pub dir: bool,
}

impl Arm {
    /// Parses `hold`'s text; `None` for anything malformed (a half-written
    /// file cannot be seen, since the harness renames it into place).
    pub fn parse(text: &str) -> Option<Arm> {
        let mut parts = text.trim().splitn(3, ' ');
        let id = parts.next()?.to_string();
        let nth = parts.next()?.parse().ok()?;
        let raw = parts.next()?;
        let dir = raw.ends_with('/');
        let suffix = PathBuf::from(raw.trim_end_matches('/'));
        (!id.is_empty() && nth > 0 && !suffix.as_os_str().is_empty()).then_some(Arm {
            id,
            nth,
            suffix,
            dir,
        })
    }

    fn matches(&self, path: &Path) -> bool {
        if self.dir {
            path.parent().is_some_and(|p| p.ends_with(&self.suffix))
        } else {
            path.ends_with(&self.suffix)
        }
    }
}

/// A crash point that was reached: what to announce and what to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub id: String,
    pub nth: u32,
    pub path: PathBuf,
}

/// Counts fsyncs against the armed point. Pure: the caller reads `hold`.
#[derive(Debug, Default)]
pub struct Counter {
    id: Option<String>,
    seen: u32,
    fired: bool,
}

impl Counter {
    /// Counts one fsync of `path` under `arm` (the current `hold`, if any).
    /// A new id starts a new count; a point fires once.
    pub fn on_fsync(&mut self, arm: Option<&Arm>, path: &Path) -> Option<Hit> {
        let arm = arm?;
        if self.id.as_deref() != Some(arm.id.as_str()) {
            *self = Counter {
                id: Some(arm.id.clone()),
                ..Counter::default()
            };
        }
        if self.fired || !arm.matches(path) {
            return None;
        }
        self.seen += 1;
        if self.seen < arm.nth {
            return None;
        }
        self.fired = true;
        Some(Hit {
            id: arm.id.clone(),
            nth: arm.nth,
            path: path.to_path_buf(),
        })
    }
}

/// The layer's side: reads `hold`, counts, and holds a hit until released
/// or until the agent shuts down (an unmount must not wait on a hold).
#[derive(Debug)]
pub struct CrashPoints {
    dir: PathBuf,
    counter: Counter,
    shutdown: Arc<AtomicBool>,
}

impl CrashPoints {
    pub fn new(dir: PathBuf, shutdown: Arc<AtomicBool>) -> Self {
        CrashPoints {
            dir,
            counter: Counter::default(),
            shutdown,
        }
    }

    /// A fresh boot: no crash point survives from before it.
    pub fn clear(dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name == "hold" || name.starts_with("hold.") || name.starts_with("release-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Called before an fsync of `path` does anything: returns once the
    /// fsync may go on.
    pub fn before_fsync(&mut self, path: &Path, dirty: bool) {
        let arm = std::fs::read_to_string(self.dir.join("hold"))
            .ok()
            .and_then(|t| Arm::parse(&t));
        let Some(hit) = self.counter.on_fsync(arm.as_ref(), path) else {
            return;
        };
        eprintln!(
            "vls-chaos-agent: hold {} reached: fsync #{} of {} ({}), held until released",
            hit.id,
            hit.nth,
            hit.path.display(),
            if dirty {
                "its new bytes are not yet durable"
            } else {
                "nothing new to make durable"
            }
        );
        let release = self.dir.join(format!("release-{}", hit.id));
        while !release.exists() && !self.shutdown.load(Ordering::SeqCst) {
            std::thread::sleep(RELEASE_POLL);
        }
        eprintln!("vls-chaos-agent: hold {} released", hit.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(id: &str, nth: u32, suffix: &str) -> Arm {
        Arm {
            id: id.into(),
            nth,
            suffix: suffix.trim_end_matches('/').into(),
            dir: suffix.ends_with('/'),
        }
    }

    #[test]
    fn parses_what_the_harness_writes() {
        assert_eq!(
            Arm::parse("c7 3 regtest/redb\n"),
            Some(arm("c7", 3, "regtest/redb"))
        );
        assert_eq!(Arm::parse("c7 3 a b"), Some(arm("c7", 3, "a b")));
        assert_eq!(Arm::parse("c7 0 redb"), None);
        assert_eq!(Arm::parse("c7 x redb"), None);
        assert_eq!(Arm::parse("c7 3"), None);
        assert_eq!(Arm::parse(""), None);
        assert_eq!(
            Arm::parse("c8 1 ldk/monitors/"),
            Some(arm("c8", 1, "ldk/monitors/"))
        );
        assert_eq!(Arm::parse("c8 1 /"), None);
    }

    #[test]
    fn a_directory_suffix_counts_any_file_directly_in_it() {
        let a = arm("1", 2, "ldk/monitors/");
        let mut c = Counter::default();
        assert_eq!(c.on_fsync(Some(&a), Path::new("ldk/manager")), None);
        assert_eq!(c.on_fsync(Some(&a), Path::new("ldk/monitors/x/y")), None);
        assert_eq!(
            c.on_fsync(Some(&a), Path::new("ldk/monitors/ab_0.1.tmp")),
            None
        );
        let hit = c.on_fsync(Some(&a), Path::new("ldk/monitors/ab_0.2.tmp"));
        assert_eq!(
            hit.map(|h| h.path),
            Some(PathBuf::from("ldk/monitors/ab_0.2.tmp"))
        );
    }

    #[test]
    fn fires_once_at_the_nth_fsync_of_the_named_file() {
        let a = arm("1", 3, "redb");
        let mut c = Counter::default();
        let redb = Path::new("regtest/redb");
        assert_eq!(c.on_fsync(Some(&a), Path::new("regtest/other")), None);
        assert_eq!(c.on_fsync(Some(&a), Path::new("regtest/myredb")), None);
        assert_eq!(c.on_fsync(Some(&a), redb), None);
        assert_eq!(c.on_fsync(Some(&a), redb), None);
        let hit = c.on_fsync(Some(&a), redb).map(|h| (h.nth, h.path));
        assert_eq!(hit, Some((3, redb.to_path_buf())));
        assert_eq!(c.on_fsync(Some(&a), redb), None, "fires once");
    }

    #[test]
    fn a_new_arm_starts_a_new_count_and_no_arm_counts_nothing() {
        let mut c = Counter::default();
        let redb = Path::new("redb");
        assert_eq!(c.on_fsync(None, redb), None);
        assert_eq!(c.on_fsync(Some(&arm("1", 2, "redb")), redb), None);
        // Re-armed before the first fired: the earlier fsync does not count.
        assert_eq!(c.on_fsync(Some(&arm("2", 2, "redb")), redb), None);
        assert!(c.on_fsync(Some(&arm("2", 2, "redb")), redb).is_some());
        // A later arm fires again, from its own count.
        assert!(c.on_fsync(Some(&arm("3", 1, "redb")), redb).is_some());
    }

    #[test]
    fn a_hold_ends_at_release_or_shutdown() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("hold"), "h1 1 redb").expect("arm");
        let shutdown = Arc::new(AtomicBool::new(false));
        let mut points = CrashPoints::new(dir.path().to_path_buf(), shutdown.clone());
        let release = dir.path().join("release-h1");
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            std::fs::write(release, "").expect("release");
        });
        points.before_fsync(Path::new("regtest/redb"), true);
        assert!(
            dir.path().join("release-h1").exists(),
            "the fsync went on before it was released"
        );
        releaser.join().expect("releaser");

        std::fs::write(dir.path().join("hold"), "h2 1 redb").expect("arm");
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            shutdown.store(true, Ordering::SeqCst);
        });
        points.before_fsync(Path::new("regtest/redb"), true);
        assert!(stopper.is_finished() || points.shutdown.load(Ordering::SeqCst));
        stopper.join().expect("stopper");

        CrashPoints::clear(dir.path());
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert!(left.is_empty(), "a boot clears every crash point file");
    }
}
