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
}

impl RecoveryError {
    /// Stable code printed by the CLI and in `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            RecoveryError::Io { .. } => "E-IO",
            RecoveryError::SeedInvalid { .. } => "E-SEED-INVALID",
            RecoveryError::UnknownNetwork { .. } => "E-USAGE",
        }
    }

    /// Process exit code for the class of error (0 ok, 1 difference found, 2.. errors).
    pub fn exit_code(&self) -> i32 {
        match self {
            RecoveryError::UnknownNetwork { .. } => 2,
            RecoveryError::Io { .. } => 3,
            RecoveryError::SeedInvalid { .. } => 4,
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
