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
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

impl RecoveryError {
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
            RecoveryError::Internal { .. } => "E-INTERNAL",
        }
    }

    /// Process exit code for the class of error (0 ok, 1 difference found, 2.. errors).
    pub fn exit_code(&self) -> i32 {
        match self {
            RecoveryError::UnknownNetwork { .. } | RecoveryError::Usage { .. } => 2,
            RecoveryError::Io { .. } | RecoveryError::Exists { .. } => 3,
            RecoveryError::SeedInvalid { .. } => 4,
            RecoveryError::BackupCorrupt { .. } | RecoveryError::BackupVersion { .. } => 5,
            RecoveryError::BackupKey { .. } => 6,
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
