//! The specs of the disaster steps: backups and on-chain recovery from
//! them, and a cheating counterparty's stashed commitment.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupSpec {
    /// The node whose vlsd is backed up.
    pub signer: String,
    /// What `recover_onchain.from` calls it.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverOnchainSpec {
    /// The node whose funds are recovered.
    pub signer: String,
    /// The backup (a `backup` step's name) to recover from.
    pub from: String,
    /// Give up when nothing is left to claim after this many blocks mined.
    #[serde(default = "default_recovery_blocks")]
    pub max_blocks: u32,
}

fn default_recovery_blocks() -> u32 {
    1_000
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StashSpec {
    pub channel: String,
    /// The node that keeps the copy: an end of the channel with
    /// `signer = "local"` (vlsd would not sign a commitment it may revoke).
    pub by: String,
    /// What `broadcast_stash` calls it.
    pub name: String,
}
