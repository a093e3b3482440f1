//! Steps of disaster scenarios: backups and on-chain recovery from them,
//! Core Lightning's recovery from a channel backup, and a cheating
//! counterparty's stashed commitment and its broadcast, checked against
//! the topology and the steps before them.

use super::Checker;
use crate::error::Result;
use crate::node::NodeKind;
use crate::scenario::model::Action;
use crate::scenario::spec::{BackupSpec, RecoverChannelsSpec, RecoverOnchainSpec, StashSpec};

impl Checker<'_> {
    pub(super) fn backup(&mut self, b: BackupSpec) -> Result<Action> {
        self.vlsd(&b.signer, "backup.signer")?;
        if b.name.trim().is_empty() || self.backups.contains(&b.name) {
            return Err(self.at(format!(
                "backup.name: expected a name not used by an earlier backup, got `{}`",
                b.name
            )));
        }
        self.backups.push(b.name.clone());
        Ok(Action::Backup(b))
    }

    pub(super) fn recover_onchain(&self, r: RecoverOnchainSpec) -> Result<Action> {
        self.vlsd(&r.signer, "recover_onchain.signer")?;
        if !self.backups.contains(&r.from) {
            return Err(self.at(format!(
                "recover_onchain.from: no backup `{}` taken before this step (expected one of: {})",
                r.from,
                one_of(&self.backups)
            )));
        }
        if r.max_blocks == 0 {
            return Err(self.at("recover_onchain.max_blocks: expected 1 or more".to_string()));
        }
        Ok(Action::RecoverOnchain(r))
    }

    pub(super) fn recover_channels(&mut self, r: RecoverChannelsSpec) -> Result<Action> {
        self.vlsd(&r.node, "recover_channels.node")?;
        if self.topology.kind_of(&r.node) != NodeKind::Cln {
            return Err(self.at(format!(
                "recover_channels.node: `{}` is not a Core Lightning node (expected `kind = \"cln\"`: `recoverchannel` is Core Lightning's)",
                r.node
            )));
        }
        if self.destroyed.contains(&format!("vlsd-{}", r.node)) {
            return Err(self.at(format!(
                "recover_channels.node: vlsd-{} was destroyed; expected it running (lightningd's `recoverchannel` asks the signer for each channel's keys)",
                r.node
            )));
        }
        if !self.backups.contains(&r.from) {
            return Err(self.at(format!(
                "recover_channels.from: no backup `{}` taken before this step (expected one of: {})",
                r.from,
                one_of(&self.backups)
            )));
        }
        self.destroyed.retain(|d| *d != r.node);
        Ok(Action::RecoverChannels(r))
    }

    pub(super) fn withdraw(&self, node: String) -> Result<Action> {
        self.node(&node, "withdraw")?;
        if self.topology.kind_of(&node) != NodeKind::Cln {
            return Err(self.at(format!(
                "withdraw: `{node}` is an lnnode node, whose on-chain wallet is bitcoind's own (expected `kind = \"cln\"`, whose wallet spends go through its signer)"
            )));
        }
        if self.destroyed.contains(&node) {
            return Err(self.at(format!(
                "withdraw: `{node}` was destroyed before this step; expected a running node"
            )));
        }
        Ok(Action::Withdraw(node))
    }

    pub(super) fn stash(&mut self, s: StashSpec) -> Result<Action> {
        self.channel(&s.channel, "stash.channel")?;
        self.node(&s.by, "stash.by")?;
        if self.topology.has_vlsd(&s.by) {
            return Err(self.at(format!(
                "stash.by: `{}` signs with vlsd; expected a node with `signer = \"local\"` (vlsd would not sign a commitment it may later revoke)",
                s.by
            )));
        }
        if s.name.trim().is_empty() || self.stashes.contains(&s.name) {
            return Err(self.at(format!(
                "stash.name: expected a name not used by an earlier stash, got `{}`",
                s.name
            )));
        }
        self.stashes.push(s.name.clone());
        Ok(Action::Stash(s))
    }

    /// A stash taken before this step, named in `field`.
    pub(super) fn stash_name(&self, name: &str, field: &str) -> Result<()> {
        if !self.stashes.iter().any(|s| s == name) {
            return Err(self.at(format!(
                "{field}: no stash `{name}` taken before this step (expected one of: {})",
                one_of(&self.stashes)
            )));
        }
        Ok(())
    }
}

/// The names an earlier step declared, for an error.
fn one_of(names: &[String]) -> String {
    if names.is_empty() {
        "none taken".to_string()
    } else {
        names.join(", ")
    }
}
