//! Snapshot backups: the payload a backup of a signer's state holds (the
//! snapshot, the HTLC archive gathered up to it and, only when asked for,
//! the node seed), and opening one with every part checked.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::files::read;
use super::sealed::{open, BackupHeader, OpenKey, Opened};
use crate::archive::HtlcArchive;
use crate::error::RecoveryError;
use crate::seed::Seed;
use crate::snapshot::Snapshot;

/// The payload of a snapshot backup: the snapshot, the HTLC archive
/// gathered up to it and, only when asked for, the node seed.
#[derive(Serialize)]
struct PayloadOut<'a> {
    snapshot: &'a Snapshot,
    htlc_archive: &'a HtlcArchive,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayloadIn {
    snapshot: Box<serde_json::value::RawValue>,
    /// Absent in backups written before the archive existed.
    #[serde(default)]
    htlc_archive: HtlcArchive,
    #[serde(default)]
    seed: Option<zeroize::Zeroizing<String>>,
}

/// A snapshot backup, opened and checked.
#[derive(Debug)]
pub struct Contents {
    pub header: BackupHeader,
    pub snapshot: Snapshot,
    /// What the backup carried, with the snapshot's own commitments added.
    pub archive: HtlcArchive,
    pub seed: Option<Seed>,
}

/// The payload bytes for `snapshot` and `archive` (which gets the
/// snapshot's own commitments added), with the seed only if given.
pub fn snapshot_payload(
    snapshot: &Snapshot,
    archive: &HtlcArchive,
    seed: Option<&Seed>,
) -> Result<zeroize::Zeroizing<Vec<u8>>, RecoveryError> {
    let mut archive = archive.clone();
    archive.observe(snapshot)?;
    let seed_hex = seed.map(|s| zeroize::Zeroizing::new(hex::encode(s.as_bytes())));
    let out = PayloadOut {
        snapshot,
        htlc_archive: &archive,
        seed: seed_hex.as_ref().map(|s| s.as_str()),
    };
    serde_json::to_vec(&out)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| RecoveryError::Internal {
            reason: format!("payload to JSON: {e}"),
        })
}

/// Opens a snapshot backup: decrypts, verifies the checksum, re-derives the
/// snapshot's views from its entries and checks the seed (if any) is this
/// node's.
pub fn open_snapshot(bytes: &[u8], key: &OpenKey, file: &Path) -> Result<Contents, RecoveryError> {
    let Opened { header, payload } = open(bytes, key, file)?;
    let corrupt = |reason: String| RecoveryError::BackupCorrupt {
        file: file.to_path_buf(),
        reason,
    };
    let payload = zeroize::Zeroizing::new(payload);
    let p: PayloadIn =
        serde_json::from_slice(&payload).map_err(|e| corrupt(format!("payload: {e}")))?;
    let snapshot = Snapshot::from_json(p.snapshot.get().as_bytes(), &file.display().to_string())
        .map_err(|e| corrupt(e.to_string()))?;
    if snapshot.node_id != header.node_id || snapshot.network != header.network {
        return Err(corrupt(format!(
            "header says node {} on {}, the snapshot is node {} on {}",
            header.node_id, header.network, snapshot.node_id, snapshot.network
        )));
    }
    let seed = match (&p.seed, header.includes_seed) {
        (Some(hex), true) => {
            let seed = Seed::from_hex(hex, &format!("{}: seed", file.display()))?;
            snapshot.check_seed(&seed)?;
            Some(seed)
        }
        (None, false) => None,
        _ => {
            return Err(corrupt(
                "header.includes_seed disagrees with the payload".to_string(),
            ))
        }
    };
    let mut archive = p.htlc_archive;
    archive.observe(&snapshot)?;
    Ok(Contents {
        header,
        snapshot,
        archive,
        seed,
    })
}

/// Reads and opens a snapshot backup file.
pub fn open_snapshot_file(path: &Path, key: &OpenKey) -> Result<Contents, RecoveryError> {
    open_snapshot(&read(path)?, key, path)
}
