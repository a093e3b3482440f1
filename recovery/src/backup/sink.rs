//! A directory of sealed snapshot backups as the place backups go.

use std::path::PathBuf;

use super::files::{create, list, now_ms, FILE_SUFFIX};
use super::payload::snapshot_payload;
use super::sealed::{BackupInfo, SealKey};
use crate::archive::HtlcArchive;
use crate::error::RecoveryError;
use crate::seed::Seed;
use crate::snapshot::Snapshot;

/// A directory of sealed snapshot backups: the sink the strategy engine and
/// `vls-recover backup create` write to.
pub struct DirSink {
    pub dir: PathBuf,
    pub key: SealKey,
    pub keep: Option<usize>,
    pub seed: Option<Seed>,
    pub source: String,
}

impl DirSink {
    /// Seals `snapshot` into a new file; names it by time, never overwriting
    /// (two backups in one millisecond get the next free millisecond).
    pub fn write_snapshot(
        &self,
        snapshot: &Snapshot,
        archive: &HtlcArchive,
    ) -> Result<PathBuf, RecoveryError> {
        let payload = snapshot_payload(snapshot, archive, self.seed.as_ref())?;
        let mut info = BackupInfo {
            node_id: snapshot.node_id.clone(),
            network: snapshot.network.clone(),
            source: self.source.clone(),
            includes_seed: self.seed.is_some(),
            created_at_ms: now_ms(),
        };
        let newest = list(&self.dir)
            .unwrap_or_default()
            .last()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .and_then(|n| {
                n.strip_suffix(FILE_SUFFIX)
                    .and_then(|n| n.rsplit('-').next().map(str::to_string))
            })
            .and_then(|ms| ms.parse::<u64>().ok());
        if let Some(ms) = newest {
            info.created_at_ms = info.created_at_ms.max(ms + 1);
        }
        create(&self.dir, &info, &payload, &self.key, self.keep)
    }
}

impl crate::diff::BackupSink for DirSink {
    fn write(
        &mut self,
        snapshot: &Snapshot,
        archive: &HtlcArchive,
    ) -> Result<PathBuf, RecoveryError> {
        self.write_snapshot(snapshot, archive)
    }
}
