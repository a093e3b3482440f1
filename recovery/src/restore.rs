//! Restore a snapshot into a new vlsd datadir, refusing anything that would
//! roll a channel back.
//!
//! Why rollback matters: a signer that restarts from an older state will sign
//! an old commitment the peer has already revoked; broadcasting it hands the
//! peer the whole channel through a justice transaction. So a restore is
//! compared with every newer state we can see (`--against`, the state being
//! replaced, and the marker the last restore left) and refused, naming the
//! first channel whose commitment number would go backwards.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::RecoveryError;
use crate::seed::Seed;
use crate::snapshot::Snapshot;
use crate::store;
use crate::{Network, VlsdDatadir};

/// Left in `<datadir>/<network>/` by every restore.
pub const MARKER_FILE: &str = "vls-recover-restored.json";
const MARKER_FORMAT: &str = "vls-recover-restored";

/// How far one channel has got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelMark {
    pub label: String,
    pub version: u64,
    pub next_holder_commit_num: u64,
    pub next_counterparty_commit_num: u64,
    pub next_counterparty_revoke_num: u64,
}

/// The high-water marks of a state: what a restore must not go below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watermark {
    pub node_id: String,
    pub channels: BTreeMap<String, ChannelMark>,
    pub entries: BTreeMap<String, u64>,
}

impl From<&Snapshot> for Watermark {
    fn from(s: &Snapshot) -> Self {
        Watermark {
            node_id: s.node_id.clone(),
            channels: s
                .channels
                .iter()
                .map(|c| {
                    (
                        c.key.clone(),
                        ChannelMark {
                            label: c.label(),
                            version: c.version,
                            next_holder_commit_num: c.next_holder_commit_num,
                            next_counterparty_commit_num: c.next_counterparty_commit_num,
                            next_counterparty_revoke_num: c.next_counterparty_revoke_num,
                        },
                    )
                })
                .collect(),
            entries: s.store.iter().map(|i| (i.key.clone(), i.version)).collect(),
        }
    }
}

/// The marker file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    pub format: String,
    pub restored_at_ms: u64,
    pub from: String,
    pub watermark: Watermark,
}

impl Marker {
    pub fn read(path: &Path) -> Result<Option<Marker>, RecoveryError> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(RecoveryError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let m: Marker =
            serde_json::from_slice(&bytes).map_err(|e| RecoveryError::StateInvalid {
                source_name: path.display().to_string(),
                key: "(restore marker)".into(),
                reason: e.to_string(),
            })?;
        Ok(Some(m))
    }
}

/// Refuses `backup` if any part of it is older than `newer` (named `against`
/// in the error). Channels first, because that is what loses money.
pub fn check_rollback(
    backup: &Snapshot,
    newer: &Watermark,
    against: &str,
) -> Result<(), RecoveryError> {
    if backup.node_id != newer.node_id {
        return Err(RecoveryError::Mismatch {
            reason: format!(
                "{against} is node {}, the backup is node {}; nothing to compare",
                newer.node_id, backup.node_id
            ),
        });
    }
    let ours = Watermark::from(backup);
    let rollback = |channel: &str, what: &str, newer: u64, backup: u64| RecoveryError::Rollback {
        channel: channel.to_string(),
        what: what.to_string(),
        newer,
        backup,
        against: against.to_string(),
    };
    for (key, n) in &newer.channels {
        let Some(b) = ours.channels.get(key) else {
            return Err(rollback(
                &n.label,
                "the channel's existence (the backup does not know it; its store version)",
                n.version,
                0,
            ));
        };
        for (what, nv, bv) in [
            (
                "holder commitment number",
                n.next_holder_commit_num,
                b.next_holder_commit_num,
            ),
            (
                "counterparty commitment number",
                n.next_counterparty_commit_num,
                b.next_counterparty_commit_num,
            ),
            (
                "counterparty revocation number",
                n.next_counterparty_revoke_num,
                b.next_counterparty_revoke_num,
            ),
            ("store version", n.version, b.version),
        ] {
            if bv < nv {
                return Err(rollback(&n.label, what, nv, bv));
            }
        }
    }
    for (key, nv) in &newer.entries {
        let bv = ours.entries.get(key).copied();
        if bv.is_none_or(|bv| bv < *nv) {
            return Err(rollback(
                &format!("(entry `{key}`)"),
                "store version",
                *nv,
                bv.unwrap_or(0),
            ));
        }
    }
    Ok(())
}

/// What to restore and where.
pub struct Plan<'a> {
    pub snapshot: &'a Snapshot,
    /// The node's seed (from the backup or a seed file).
    pub seed: &'a Seed,
    /// The datadir root; the state goes into `<root>/<network>/`.
    pub datadir: PathBuf,
    /// Newer states to check against, each with a name for messages.
    pub against: Vec<(String, Watermark)>,
    /// Replace a non-empty network directory (moved aside, never deleted).
    pub force: bool,
    /// Names the backup in the marker.
    pub from: String,
}

/// What a restore did.
#[derive(Debug, Serialize)]
pub struct Restored {
    pub network_dir: PathBuf,
    pub node_id: String,
    pub channels: usize,
    pub entries: usize,
    /// Where the replaced state went, with `--force`.
    pub moved_aside: Option<PathBuf>,
    /// The states the backup was checked against.
    pub checked_against: Vec<String>,
}

fn fsync_dir(path: &Path) -> Result<(), RecoveryError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(RecoveryError::io(path))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), RecoveryError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(RecoveryError::io(path))?;
    f.write_all(bytes).map_err(RecoveryError::io(path))?;
    f.sync_all().map_err(RecoveryError::io(path))
}

/// Restores `plan.snapshot` into `<datadir>/<network>/`.
///
/// Everything is written into a fresh sibling directory first, read back and
/// compared with the snapshot, and only then renamed into place, so a crash
/// leaves either the old state or the complete new one.
pub fn restore(mut plan: Plan<'_>) -> Result<Restored, RecoveryError> {
    let snap = plan.snapshot;
    let network = snap.network()?;
    snap.check_seed(plan.seed)?;
    let layout = VlsdDatadir::new(&plan.datadir, network);
    let target = layout.network_dir();
    check_replaced(&mut plan, &layout)?;
    for (name, mark) in &plan.against {
        check_rollback(snap, mark, name)?;
    }
    let tmp = stage(&plan, network)?;
    let moved_aside = put_in_place(&plan.datadir, &tmp, &target, network)?;
    Ok(Restored {
        network_dir: target,
        node_id: snap.node_id.clone(),
        channels: snap.channels.len(),
        entries: snap.store.len(),
        moved_aside,
        checked_against: plan.against.into_iter().map(|(n, _)| n).collect(),
    })
}

/// A non-empty network directory is refused unless `plan.force`; then
/// the state being replaced may be newer than the backup, so it joins
/// what the backup is checked against, with the marker of the restore
/// that produced it.
fn check_replaced(plan: &mut Plan<'_>, layout: &VlsdDatadir) -> Result<(), RecoveryError> {
    let target = layout.network_dir();
    let existing: Vec<String> = match fs::read_dir(&target) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(RecoveryError::Io {
                path: target,
                source,
            })
        }
    };
    if existing.is_empty() {
        return Ok(());
    }
    if !plan.force {
        let mut found = existing.clone();
        found.sort();
        return Err(RecoveryError::DatadirNotEmpty {
            path: target,
            found: found.join(", "),
        });
    }
    if let Some(m) = Marker::read(&target.join(MARKER_FILE))? {
        plan.against.push((
            format!("the last restore's marker ({})", m.from),
            m.watermark,
        ));
    }
    match Snapshot::load(layout) {
        Ok(current) => plan.against.push((
            format!("the state being replaced ({})", target.display()),
            Watermark::from(&current),
        )),
        Err(e @ RecoveryError::DatadirLocked { .. }) => return Err(e),
        // Damaged or absent: nothing newer to compare with; that is what --force is for.
        Err(_) => {}
    }
    Ok(())
}

/// The new state in a fresh sibling directory of the target, complete and
/// synced; on failure nothing of it is left.
fn stage(plan: &Plan<'_>, network: Network) -> Result<PathBuf, RecoveryError> {
    fs::create_dir_all(&plan.datadir).map_err(RecoveryError::io(&plan.datadir))?;
    let tmp = plan.datadir.join(format!(
        ".{}.restore-{}-{}",
        network,
        std::process::id(),
        crate::backup::now_ms()
    ));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp)
        .map_err(RecoveryError::io(&tmp))?;
    if let Err(e) = write_staged(plan, &tmp, network) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Writes the seed, the store and the marker into `tmp`, reading the store
/// back before anything is put in place.
fn write_staged(plan: &Plan<'_>, tmp: &Path, network: Network) -> Result<(), RecoveryError> {
    let snap = plan.snapshot;
    let seed_hex = zeroize::Zeroizing::new(hex::encode(plan.seed.as_bytes()));
    write_file(&tmp.join("node.seed"), seed_hex.as_bytes(), 0o400)?;
    let raw = snap.raw_store()?;
    store::write_new(tmp, &raw)?;
    // Read back what vls-persist wrote before anything is put in place.
    let back = Snapshot::from_store(
        &store::read(&tmp.join(store::DB_FILE))?,
        network,
        &tmp.display().to_string(),
    )?;
    if &back != snap {
        return Err(RecoveryError::Internal {
            reason: "the restored store reads back different from the backup".into(),
        });
    }
    let marker = Marker {
        format: MARKER_FORMAT.into(),
        restored_at_ms: crate::backup::now_ms(),
        from: plan.from.clone(),
        watermark: Watermark::from(snap),
    };
    let text = serde_json::to_vec_pretty(&marker).map_err(|e| RecoveryError::Internal {
        reason: e.to_string(),
    })?;
    write_file(&tmp.join(MARKER_FILE), &text, 0o600)?;
    fsync_dir(tmp)
}

/// Moves the state being replaced aside (never deleted) and the staged one
/// into `target`; says where the old one went.
fn put_in_place(
    datadir: &Path,
    tmp: &Path,
    target: &Path,
    network: Network,
) -> Result<Option<PathBuf>, RecoveryError> {
    let mut moved_aside = None;
    if target.exists() {
        let aside = datadir.join(format!("{}.replaced-{}", network, crate::backup::now_ms()));
        fs::rename(target, &aside).map_err(RecoveryError::io(target))?;
        moved_aside = Some(aside);
    }
    fs::rename(tmp, target).map_err(RecoveryError::io(tmp))?;
    fsync_dir(datadir)?;
    Ok(moved_aside)
}
