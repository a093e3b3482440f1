//! The specs of the disaster steps: backups, on-chain recovery from them
//! (the recovery library's, vlsd's own, Core Lightning's from a static
//! channel backup), and a cheating counterparty's stashed commitment.

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

/// What vlsd's recovery must report having broadcast in this run (its
/// closing summary line, which counts a transaction bitcoind already has
/// too); a count left out is not checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VlsdRecoverSpec {
    /// The node whose vlsd state is recovered.
    pub signer: String,
    /// Force-close transactions (commitments) broadcast.
    #[serde(default)]
    pub close_txs: Option<u32>,
    /// Second-stage HTLC transactions broadcast.
    #[serde(default)]
    pub htlc_txs: Option<u32>,
    /// Sweeps of delayed outputs broadcast.
    #[serde(default)]
    pub sweep_txs: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverChannelsSpec {
    /// The destroyed Core Lightning node, whose vlsd still runs.
    pub node: String,
    /// The backup (a `backup` step's name) the channel backup is made from.
    pub from: String,
    /// How `export-scb` writes the peer's revocation secrets.
    #[serde(default)]
    pub shachain: ScbShachain,
}

/// `export-scb --shachain` (docs/recovery.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScbShachain {
    /// Every secret, written so that Core Lightning claims the node's
    /// output whatever the peer holds.
    #[default]
    Recoverable,
    /// As Core Lightning's own `staticbackup` writes it.
    AsStaticbackup,
}
