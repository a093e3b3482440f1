//! Backup files in a directory: named by node and time so they sort by
//! age, written atomically with mode 0600 and never over an existing file,
//! listed, and pruned to the newest N.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::sealed::{open, seal, BackupInfo, OpenKey, Opened, SealKey};
use crate::error::RecoveryError;

pub(super) const FILE_PREFIX: &str = "vls-backup-";
pub(super) const FILE_SUFFIX: &str = ".age";

/// Reads and opens a backup file.
pub fn open_file(path: &Path, key: &OpenKey) -> Result<Opened, RecoveryError> {
    open(&read(path)?, key, path)
}

pub(super) fn read(path: &Path) -> Result<Vec<u8>, RecoveryError> {
    std::fs::read(path).map_err(RecoveryError::io(path))
}

/// The file name of a backup: sorts by time, names the node.
pub fn file_name(info: &BackupInfo) -> String {
    let node: String = info.node_id.chars().take(16).collect();
    format!(
        "{FILE_PREFIX}{node}-{:016}{FILE_SUFFIX}",
        info.created_at_ms
    )
}

/// Writes `bytes` as `dir/name`: temp file in `dir`, fsync, link to the final
/// name (which fails rather than replace an existing file), fsync the directory.
pub fn write_new(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, RecoveryError> {
    let io = RecoveryError::io;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let final_path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    let linked = std::fs::hard_link(&tmp, &final_path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(RecoveryError::Exists { path: final_path })
        }
        Err(e) => {
            return Err(RecoveryError::Io {
                path: final_path,
                source: e,
            })
        }
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(final_path)
}

/// Backups in `dir`, oldest first (by name, which sorts by creation time).
pub fn list(dir: &Path) -> Result<Vec<PathBuf>, RecoveryError> {
    let entries = std::fs::read_dir(dir).map_err(RecoveryError::io(dir))?;
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(FILE_PREFIX) && n.ends_with(FILE_SUFFIX))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Deletes all but the newest `keep` backups; returns what it deleted.
pub fn retain(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, RecoveryError> {
    let all = list(dir)?;
    let excess = all.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for p in all.into_iter().take(excess) {
        std::fs::remove_file(&p).map_err(RecoveryError::io(&p))?;
        removed.push(p);
    }
    if !removed.is_empty() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(RecoveryError::io(dir))?;
    }
    Ok(removed)
}

/// Seals and writes a new backup into `dir`, then prunes to `keep` if given.
pub fn create(
    dir: &Path,
    info: &BackupInfo,
    payload: &[u8],
    key: &SealKey,
    keep: Option<usize>,
) -> Result<PathBuf, RecoveryError> {
    let sealed = seal(info, payload, key)?;
    let path = write_new(dir, &file_name(info), &sealed)?;
    if let Some(k) = keep {
        retain(dir, k.max(1))?;
    }
    Ok(path)
}

/// Milliseconds since the Unix epoch, for `created_at_ms`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
