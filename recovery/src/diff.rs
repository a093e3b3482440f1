//! What changed between two snapshots of one signer, and the backup
//! strategies that decide from it whether a new backup is due.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

use crate::archive::HtlcArchive;
use crate::error::RecoveryError;
use crate::snapshot::{ChannelStatus, ChannelView, HtlcView, Snapshot};

/// `from -> to` of one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Step {
    pub from: u64,
    pub to: u64,
}

fn step(from: u64, to: u64) -> Option<Step> {
    (from != to).then_some(Step { from, to })
}

/// How one channel changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelChange {
    pub key: String,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<(ChannelStatus, ChannelStatus)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_commit_num: Option<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterparty_commit_num: Option<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterparty_revoke_num: Option<Step>,
    /// Revocation secrets received since `a` (one per revoked commitment).
    pub secrets_added: u64,
    pub htlcs_added: Vec<HtlcView>,
    pub htlcs_removed: Vec<HtlcView>,
    /// The commitment numbers went down: `b` is older than `a` here.
    pub went_backwards: bool,
}

/// Everything that differs between snapshot `a` and snapshot `b`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub node_id: String,
    pub channels_added: Vec<String>,
    pub channels_removed: Vec<String>,
    pub channels_changed: Vec<ChannelChange>,
    pub allowlist_added: Vec<String>,
    pub allowlist_removed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracker_height: Option<Step>,
    /// Store entries added, removed or at a new version: the unit of "a change".
    pub entries_changed: u64,
}

impl Diff {
    /// Compares two snapshots of the same node.
    pub fn between(a: &Snapshot, b: &Snapshot) -> Result<Diff, RecoveryError> {
        if a.node_id != b.node_id {
            return Err(RecoveryError::Mismatch {
                reason: format!(
                    "the snapshots are of different nodes ({} and {})",
                    a.node_id, b.node_id
                ),
            });
        }
        let ca: BTreeMap<&str, &ChannelView> =
            a.channels.iter().map(|c| (c.key.as_str(), c)).collect();
        let cb: BTreeMap<&str, &ChannelView> =
            b.channels.iter().map(|c| (c.key.as_str(), c)).collect();
        let channels_added = cb
            .iter()
            .filter(|(k, _)| !ca.contains_key(*k))
            .map(|(_, c)| c.label())
            .collect();
        let channels_removed = ca
            .iter()
            .filter(|(k, _)| !cb.contains_key(*k))
            .map(|(_, c)| c.label())
            .collect();
        let channels_changed = ca
            .iter()
            .filter_map(|(k, x)| cb.get(k).and_then(|y| channel_change(x, y)))
            .collect();

        let la: BTreeSet<&String> = a.allowlist.entries.iter().collect();
        let lb: BTreeSet<&String> = b.allowlist.entries.iter().collect();

        let ea: BTreeMap<&str, u64> = a
            .store
            .iter()
            .map(|i| (i.key.as_str(), i.version))
            .collect();
        let eb: BTreeMap<&str, u64> = b
            .store
            .iter()
            .map(|i| (i.key.as_str(), i.version))
            .collect();
        let keys: BTreeSet<&str> = ea.keys().chain(eb.keys()).copied().collect();
        let entries_changed = keys.iter().filter(|k| ea.get(*k) != eb.get(*k)).count() as u64;

        Ok(Diff {
            node_id: a.node_id.clone(),
            channels_added,
            channels_removed,
            channels_changed,
            allowlist_added: lb.difference(&la).map(|s| s.to_string()).collect(),
            allowlist_removed: la.difference(&lb).map(|s| s.to_string()).collect(),
            tracker_height: step(a.tracker.height.into(), b.tracker.height.into()),
            entries_changed,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries_changed == 0
    }

    /// Channels a static backup must learn about: new ones, and stubs that
    /// got their funding outpoint.
    pub fn new_channels(&self) -> usize {
        self.channels_added.len()
            + self
                .channels_changed
                .iter()
                .filter(|c| matches!(c.status, Some((ChannelStatus::Stub, _))))
                .count()
    }
}

fn channel_change(a: &ChannelView, b: &ChannelView) -> Option<ChannelChange> {
    if a == b {
        return None;
    }
    let ha: BTreeSet<&HtlcView> = a.htlcs.iter().collect();
    let hb: BTreeSet<&HtlcView> = b.htlcs.iter().collect();
    let went_backwards = b.next_holder_commit_num < a.next_holder_commit_num
        || b.next_counterparty_commit_num < a.next_counterparty_commit_num
        || b.next_counterparty_revoke_num < a.next_counterparty_revoke_num;
    Some(ChannelChange {
        key: a.key.clone(),
        label: a.label(),
        status: (a.status != b.status).then(|| (a.status.clone(), b.status.clone())),
        holder_commit_num: step(a.next_holder_commit_num, b.next_holder_commit_num),
        counterparty_commit_num: step(
            a.next_counterparty_commit_num,
            b.next_counterparty_commit_num,
        ),
        counterparty_revoke_num: step(
            a.next_counterparty_revoke_num,
            b.next_counterparty_revoke_num,
        ),
        secrets_added: b
            .next_counterparty_revoke_num
            .saturating_sub(a.next_counterparty_revoke_num),
        htlcs_added: hb.difference(&ha).map(|h| (*h).clone()).collect(),
        htlcs_removed: ha.difference(&hb).map(|h| (*h).clone()).collect(),
        went_backwards,
    })
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "no changes");
        }
        writeln!(f, "{} store entries changed", self.entries_changed)?;
        for c in &self.channels_added {
            writeln!(f, "+ channel {c}")?;
        }
        for c in &self.channels_removed {
            writeln!(f, "- channel {c}")?;
        }
        for c in &self.channels_changed {
            write!(f, "~ channel {}:", c.label)?;
            if let Some((x, y)) = &c.status {
                write!(f, " status {x:?} -> {y:?};")?;
            }
            for (name, s) in [
                ("holder commitment", c.holder_commit_num),
                ("counterparty commitment", c.counterparty_commit_num),
                ("counterparty revocation", c.counterparty_revoke_num),
            ] {
                if let Some(s) = s {
                    write!(f, " {name} {} -> {};", s.from, s.to)?;
                }
            }
            if c.secrets_added > 0 {
                write!(f, " {} revocation secrets added;", c.secrets_added)?;
            }
            for h in &c.htlcs_added {
                write!(
                    f,
                    " +htlc {:?} {} sat {};",
                    h.direction, h.amount_sat, h.payment_hash
                )?;
            }
            for h in &c.htlcs_removed {
                write!(
                    f,
                    " -htlc {:?} {} sat {};",
                    h.direction, h.amount_sat, h.payment_hash
                )?;
            }
            if c.went_backwards {
                write!(f, " WENT BACKWARDS")?;
            }
            writeln!(f)?;
        }
        for a in &self.allowlist_added {
            writeln!(f, "+ allowlist {a}")?;
        }
        for a in &self.allowlist_removed {
            writeln!(f, "- allowlist {a}")?;
        }
        if let Some(s) = self.tracker_height {
            writeln!(f, "~ chain tip height {} -> {}", s.from, s.to)?;
        }
        Ok(())
    }
}

/// When to write a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// When a channel appears or gets its funding (what a static backup needs).
    NewChannelsOnly,
    /// When at least this many store entries changed since the last backup.
    Periodic(u64),
    /// After every commit that changed anything.
    EveryChange,
}

impl FromStr for Strategy {
    type Err = RecoveryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || {
            RecoveryError::Usage {
            reason: format!(
                "backup strategy `{s}`: expected new-channels-only, periodic:<changes> (a positive number) or every-change"
            ),
        }
        };
        match s {
            "new-channels-only" => Ok(Strategy::NewChannelsOnly),
            "every-change" => Ok(Strategy::EveryChange),
            _ => {
                let n = s
                    .strip_prefix("periodic:")
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(usage)?;
                Ok(Strategy::Periodic(n))
            }
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::NewChannelsOnly => f.write_str("new-channels-only"),
            Strategy::Periodic(n) => write!(f, "periodic:{n}"),
            Strategy::EveryChange => f.write_str("every-change"),
        }
    }
}

/// Where the engine puts backups (a directory of sealed files, usually).
pub trait BackupSink {
    fn write(
        &mut self,
        snapshot: &Snapshot,
        archive: &HtlcArchive,
    ) -> Result<PathBuf, RecoveryError>;
}

/// What one `after_commit` call did.
#[derive(Debug)]
pub struct Outcome {
    pub diff: Diff,
    /// Changes not yet in any backup, after this call.
    pub pending_changes: u64,
    pub written: Option<PathBuf>,
    /// The backup was due but could not be written; it is retried on the
    /// next commit. The signer's own state is untouched either way.
    pub failed: Option<RecoveryError>,
}

/// Decides after each signer commit whether to back up, and does it.
///
/// It only ever reads snapshots, so a failing backup cannot hurt the signer;
/// a failed write keeps the backup due, so the next commit tries again.
/// Every commit feeds the HTLC archive, written or not: a commitment
/// revoked between two backups is in neither snapshot, only in the archive.
pub struct StrategyEngine<S: BackupSink> {
    strategy: Strategy,
    sink: S,
    pending_changes: u64,
    pending_new_channels: usize,
    archive: HtlcArchive,
}

impl<S: BackupSink> StrategyEngine<S> {
    pub fn new(strategy: Strategy, sink: S) -> Self {
        StrategyEngine::with_archive(strategy, sink, HtlcArchive::default())
    }

    /// Starts from `archive` (the newest backup's), so it keeps growing
    /// across restarts of the backup process.
    pub fn with_archive(strategy: Strategy, sink: S, archive: HtlcArchive) -> Self {
        StrategyEngine {
            strategy,
            sink,
            pending_changes: 0,
            pending_new_channels: 0,
            archive,
        }
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    pub fn archive(&self) -> &HtlcArchive {
        &self.archive
    }

    pub fn after_commit(
        &mut self,
        before: &Snapshot,
        after: &Snapshot,
    ) -> Result<Outcome, RecoveryError> {
        let diff = Diff::between(before, after)?;
        self.archive.observe(before)?;
        self.archive.observe(after)?;
        self.pending_changes += diff.entries_changed;
        self.pending_new_channels += diff.new_channels();
        let due = match self.strategy {
            Strategy::NewChannelsOnly => self.pending_new_channels > 0,
            Strategy::Periodic(n) => self.pending_changes >= n,
            Strategy::EveryChange => self.pending_changes > 0,
        };
        let (mut written, mut failed) = (None, None);
        if due {
            match self.sink.write(after, &self.archive) {
                Ok(p) => {
                    written = Some(p);
                    self.pending_changes = 0;
                    self.pending_new_channels = 0;
                }
                Err(e) => failed = Some(e),
            }
        }
        Ok(Outcome {
            diff,
            pending_changes: self.pending_changes,
            written,
            failed,
        })
    }
}
