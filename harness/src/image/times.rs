//! How long each image build took the last time on this machine, kept in
//! the cache directory, so a first run can say how long is left. Best
//! effort: a missing or unreadable file means the defaults below.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Measured on a 2-core machine of the kind CI runs on (README, "Run a
/// scenario"): the base rootfs, vlsd from crates.io, lnnode and the agent
/// in release mode.
const DEFAULTS: [(&str, u64); 3] = [("base", 45), ("vlsd", 420), ("lnnode", 360)];

pub struct BuildTimes {
    path: PathBuf,
    secs: BTreeMap<String, u64>,
}

impl BuildTimes {
    pub fn load(cache_dir: &Path) -> BuildTimes {
        let path = cache_dir.join("build-times.json");
        let secs = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        BuildTimes { path, secs }
    }

    /// The last measured time of `name`'s build, else the default.
    pub fn estimate(&self, name: &str) -> Duration {
        let secs = self
            .secs
            .get(name)
            .copied()
            .or_else(|| DEFAULTS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s));
        Duration::from_secs(secs.unwrap_or(60))
    }

    /// Keeps `took` for the next cold build; written through a temp file
    /// and a rename, so a crash leaves the old file or the new one.
    pub fn record(&mut self, name: &str, took: Duration) {
        self.secs.insert(name.to_string(), took.as_secs().max(1));
        let tmp = self.path.with_extension("json.tmp");
        let written = serde_json::to_vec_pretty(&self.secs)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            tracing::debug!(path = %self.path.display(), error = %e, "build times not kept");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measured_time_replaces_the_default_and_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = BuildTimes::load(dir.path());
        assert_eq!(t.estimate("vlsd"), Duration::from_secs(420));
        assert_eq!(t.estimate("unknown"), Duration::from_secs(60));
        t.record("vlsd", Duration::from_secs(300));
        assert_eq!(
            BuildTimes::load(dir.path()).estimate("vlsd"),
            Duration::from_secs(300)
        );
    }
}
