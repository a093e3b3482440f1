//! Typed errors with stable codes: the codes are part of the CLI contract and
//! are never renumbered or reused.

use std::path::PathBuf;

/// Every failure the recovery library reports.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{source_name}: node seed: {reason}")]
    SeedInvalid { source_name: String, reason: String },
    #[error("unknown network `{given}`: expected one of bitcoin, testnet, signet, regtest")]
    UnknownNetwork { given: String },
    #[error("{reason}")]
    Usage { reason: String },
    #[error("{}: backup is damaged and cannot be trusted: {reason}", file.display())]
    BackupCorrupt { file: PathBuf, reason: String },
    #[error("{}: cannot open the backup with the given key: {reason}", file.display())]
    BackupKey { file: PathBuf, reason: String },
    #[error("{}: backup format version {found}; this tool reads version {supported}", file.display())]
    BackupVersion {
        file: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{}: already exists; backups are never overwritten", path.display())]
    Exists { path: PathBuf },
    #[error("{}: the signer state database is locked by a running vlsd; stop vlsd first (it holds an exclusive lock while it runs), or back up live from LSS", path.display())]
    DatadirLocked { path: PathBuf },
    #[error("{}: no signer state here: {reason}", path.display())]
    DatadirMissing { path: PathBuf, reason: String },
    #[error("{source_name}: signer state entry `{key}`: {reason}")]
    StateInvalid {
        source_name: String,
        key: String,
        reason: String,
    },
    #[error("{}: not empty ({found}); restore only into an empty datadir, or pass --force to move the old state aside", path.display())]
    DatadirNotEmpty { path: PathBuf, found: String },
    #[error("refusing to restore a rolled-back state: channel {channel}: {what} would go backwards from {newer} (in {against}) to {backup} (in the backup); signing from an older state can broadcast a revoked commitment and lose the channel")]
    Rollback {
        channel: String,
        what: String,
        newer: u64,
        backup: u64,
        against: String,
    },
    #[error("the seed belongs to node {seed_node}, but the state belongs to node {state_node}")]
    SeedMismatch {
        seed_node: String,
        state_node: String,
    },
    #[error("no seed: the backup was made without --include-seed; pass --seed-file with the node's seed")]
    SeedMissing,
    #[error("{reason}")]
    Mismatch { reason: String },
    #[error("{source_name}: chain source unreachable: {reason}")]
    ChainUnreachable { source_name: String, reason: String },
    #[error("{source_name}: chain data not understood: {reason}")]
    ChainData { source_name: String, reason: String },
    #[error("channel {channel}: funding output {outpoint} not found on chain: {reason}")]
    FundingNotFound {
        channel: String,
        outpoint: String,
        reason: String,
    },
    #[error("{what}: the signer's policy refused: {message}")]
    PolicyRefused { what: String, message: String },
    #[error("{what}: fee rate {rate} sat/kw is outside {min}..={max} sat/kw")]
    FeeBounds {
        what: String,
        rate: u64,
        min: u64,
        max: u64,
    },
    #[error("{what}: input {input} does not verify against its prevout: {reason}; nothing was broadcast")]
    ScriptInvalid {
        what: String,
        input: usize,
        reason: String,
    },
    #[error("transaction {txid}: rejected by the chain source: {reason}")]
    BroadcastRejected { txid: String, reason: String },
    #[error("{value_sat} sat lost: the counterparty took them after the deadline to claim them passed: {what}")]
    DeadlinePassed { value_sat: u64, what: String },
    #[error("{}: channel(s) {} were force-closed from this backup; a signer restored from it could sign new states on them. If their force-closes confirmed and you still want it, delete {}", file.display(), channels.join(", "), marker.display())]
    ForceClosed {
        file: PathBuf,
        channels: Vec<String>,
        marker: PathBuf,
    },
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

impl RecoveryError {
    /// For `map_err`: an I/O failure on `path`.
    pub fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> RecoveryError {
        let path = path.to_path_buf();
        move |source| RecoveryError::Io { path, source }
    }

    /// Stable code printed by the CLI and in `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            RecoveryError::Io { .. } => "E-IO",
            RecoveryError::SeedInvalid { .. } => "E-SEED-INVALID",
            RecoveryError::UnknownNetwork { .. } | RecoveryError::Usage { .. } => "E-USAGE",
            RecoveryError::BackupCorrupt { .. } => "E-BACKUP-CORRUPT",
            RecoveryError::BackupKey { .. } => "E-BACKUP-KEY",
            RecoveryError::BackupVersion { .. } => "E-BACKUP-VERSION",
            RecoveryError::Exists { .. } => "E-EXISTS",
            RecoveryError::DatadirLocked { .. } => "E-DATADIR-LOCKED",
            RecoveryError::DatadirMissing { .. } => "E-DATADIR-MISSING",
            RecoveryError::StateInvalid { .. } => "E-STATE-INVALID",
            RecoveryError::DatadirNotEmpty { .. } => "E-DATADIR-NOT-EMPTY",
            RecoveryError::Rollback { .. } => "E-ROLLBACK",
            RecoveryError::SeedMismatch { .. } => "E-SEED-MISMATCH",
            RecoveryError::SeedMissing => "E-SEED-MISSING",
            RecoveryError::Mismatch { .. } => "E-MISMATCH",
            RecoveryError::ChainUnreachable { .. } => "E-CHAIN-UNREACHABLE",
            RecoveryError::ChainData { .. } => "E-CHAIN-DATA",
            RecoveryError::FundingNotFound { .. } => "E-FUNDING-NOT-FOUND",
            RecoveryError::PolicyRefused { .. } => "E-POLICY-REFUSED",
            RecoveryError::FeeBounds { .. } => "E-FEE-BOUNDS",
            RecoveryError::ScriptInvalid { .. } => "E-SCRIPT-INVALID",
            RecoveryError::BroadcastRejected { .. } => "E-BROADCAST-REJECTED",
            RecoveryError::DeadlinePassed { .. } => "E-DEADLINE-PASSED",
            RecoveryError::ForceClosed { .. } => "E-FORCE-CLOSED",
            RecoveryError::Internal { .. } => "E-INTERNAL",
        }
    }

    /// Process exit code for the class of error (0 ok, 1 difference found, 2.. errors).
    pub fn exit_code(&self) -> i32 {
        match self {
            RecoveryError::UnknownNetwork { .. } | RecoveryError::Usage { .. } => 2,
            RecoveryError::Io { .. }
            | RecoveryError::Exists { .. }
            | RecoveryError::DatadirMissing { .. }
            | RecoveryError::DatadirNotEmpty { .. } => 3,
            RecoveryError::SeedInvalid { .. }
            | RecoveryError::SeedMismatch { .. }
            | RecoveryError::SeedMissing => 4,
            RecoveryError::DatadirLocked { .. } => 7,
            RecoveryError::StateInvalid { .. } => 8,
            RecoveryError::Rollback { .. } => 9,
            RecoveryError::Mismatch { .. } => 10,
            RecoveryError::BackupCorrupt { .. } | RecoveryError::BackupVersion { .. } => 5,
            RecoveryError::BackupKey { .. } => 6,
            RecoveryError::ChainUnreachable { .. } => 11,
            RecoveryError::ChainData { .. } => 12,
            RecoveryError::FundingNotFound { .. } => 13,
            RecoveryError::PolicyRefused { .. } => 14,
            RecoveryError::FeeBounds { .. } => 15,
            RecoveryError::ScriptInvalid { .. } => 16,
            RecoveryError::BroadcastRejected { .. } => 17,
            RecoveryError::DeadlinePassed { .. } => 18,
            RecoveryError::ForceClosed { .. } => 9,
            RecoveryError::Internal { .. } => 70,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let e = RecoveryError::SeedInvalid {
            source_name: "x".into(),
            reason: "y".into(),
        };
        assert_eq!(e.code(), "E-SEED-INVALID");
        assert_eq!(e.exit_code(), 4);
        assert_eq!(
            RecoveryError::UnknownNetwork {
                given: "foo".into()
            }
            .to_string(),
            "unknown network `foo`: expected one of bitcoin, testnet, signet, regtest"
        );
    }
}
