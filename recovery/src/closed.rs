//! Marking channels of a stopped signer's state closed once we broadcast
//! their force-close: vls-core then refuses to validate any new commitment
//! on them ("channel is closing"), so a vlsd started later on this state
//! cannot move a channel on past the commitment already on its way to the
//! chain (which would make ours a revoked one the peer can take).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use lightning_signer::persist::model::ChannelEntry;
use serde::{Deserialize, Serialize};

use crate::store::Held;
use crate::RecoveryError;

const CHANNEL: &str = "channel/";

/// Sets `channel_closed` on the channels `id0s` (hex) of `held`, in one
/// transaction, each at its next version. Returns the keys it changed
/// (none for a channel already marked).
pub fn mark_closed(held: &Held, id0s: &[String]) -> Result<Vec<String>, RecoveryError> {
    let raw = held.read()?;
    let invalid = |key: &str, reason: String| RecoveryError::StateInvalid {
        source_name: "signer state".into(),
        key: key.to_string(),
        reason,
    };
    let mut updates = Vec::new();
    for (key, v) in &raw.entries {
        let Some(id0) = key
            .strip_prefix(CHANNEL)
            .and_then(|rest| rest.rsplit('/').next())
        else {
            continue;
        };
        if !id0s.iter().any(|i| i == id0) || v.value.is_empty() {
            continue;
        }
        let mut json: serde_json::Value =
            serde_json::from_slice(&v.value).map_err(|e| invalid(key, e.to_string()))?;
        let es = json
            .get_mut("enforcement_state")
            .and_then(|e| e.as_object_mut())
            .ok_or_else(|| invalid(key, "no `enforcement_state` object".into()))?;
        if es.get("channel_closed") == Some(&serde_json::Value::Bool(true)) {
            continue;
        }
        es.insert("channel_closed".into(), serde_json::Value::Bool(true));
        let bytes = serde_json::to_vec(&json).map_err(|e| invalid(key, e.to_string()))?;
        // Exactly what vlsd will read back.
        serde_json::from_slice::<ChannelEntry>(&bytes)
            .map_err(|e| invalid(key, format!("marked entry no longer parses: {e}")))?;
        updates.push((key.clone(), v.version, bytes));
    }
    held.update(&updates)?;
    Ok(updates.into_iter().map(|(k, ..)| k).collect())
}

/// The file next to a backup that lists the channels force-closed from it.
pub fn backup_marker(backup: &Path) -> PathBuf {
    let mut name = backup.as_os_str().to_owned();
    name.push(".force-closed");
    PathBuf::from(name)
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Marker {
    /// First ids (hex) of the channels whose force-close was broadcast.
    channels: Vec<String>,
}

/// The channels force-closed from `backup` (none if it has no marker).
pub fn backup_marks(backup: &Path) -> Result<Vec<String>, RecoveryError> {
    let path = backup_marker(backup);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<Marker>(&bytes)
            .map(|m| m.channels)
            .map_err(|e| RecoveryError::StateInvalid {
                source_name: path.display().to_string(),
                key: "channels".into(),
                reason: format!("expected {{\"channels\": [hex, ...]}}: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(RecoveryError::Io { path, source: e }),
    }
}

/// Records, next to `backup` (which is never rewritten), that the
/// channels `id0s` were force-closed from it: `restore` then refuses it.
/// Written atomically: temporary file, fsync, rename, directory fsync.
pub fn mark_backup_closed(backup: &Path, id0s: &[String]) -> Result<PathBuf, RecoveryError> {
    let path = backup_marker(backup);
    let mut marker = Marker {
        channels: backup_marks(backup)?,
    };
    for id in id0s {
        if !marker.channels.contains(id) {
            marker.channels.push(id.clone());
        }
    }
    let bytes = serde_json::to_vec_pretty(&marker).map_err(|e| RecoveryError::Internal {
        reason: format!("marker to JSON: {e}"),
    })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = PathBuf::from(format!("{}.tmp-{}", path.display(), std::process::id()));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(RecoveryError::io(&tmp))?;
        f.write_all(&bytes).map_err(RecoveryError::io(&tmp))?;
        f.sync_all().map_err(RecoveryError::io(&tmp))?;
    }
    std::fs::rename(&tmp, &path).map_err(RecoveryError::io(&path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(RecoveryError::io(dir))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_marker_accumulates_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backup = dir.path().join("vls-backup-x-1.age");
        assert!(backup_marks(&backup).expect("none").is_empty());
        mark_backup_closed(&backup, &["aa".into()]).expect("mark");
        mark_backup_closed(&backup, &["bb".into(), "aa".into()]).expect("mark");
        assert_eq!(backup_marks(&backup).expect("marks"), vec!["aa", "bb"]);
        std::fs::write(backup_marker(&backup), b"{").expect("damage");
        assert_eq!(
            backup_marks(&backup).expect_err("damaged").code(),
            "E-STATE-INVALID"
        );
    }
}
