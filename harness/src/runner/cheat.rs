//! A cheating counterparty: it keeps a signed copy of its commitment while
//! the channel moves on, then broadcasts it, revoked, for the other end to
//! punish (the penalty check looks for the justice transaction).

use serde_json::json;

use super::state::World;
use crate::error::{HarnessError, Result};
use crate::scenario::StashSpec;

/// Waits for the channel's last update to finish (a payment step returns
/// when the payer learns the preimage, before the revocations), so the copy
/// is of the commitment both ends hold, then takes it.
pub async fn stash(world: &World<'_>, s: &StashSpec) -> Result<String> {
    let opened = world.channel(&s.channel)?;
    super::quiet::settled_update(world, &s.channel, &opened).await?;
    let copy = world
        .cluster
        .node(&s.by)?
        .ldk("`stash`")?
        .stash(&opened.id)
        .await?;
    let detail = format!(
        "{} keeps commitment {} of {} ({} HTLC transactions)",
        s.by,
        copy.commitment_txid,
        s.channel,
        copy.htlc_txs_hex.len()
    );
    world
        .state()
        .stashes
        .insert(s.name.clone(), (s.by.clone(), copy));
    Ok(detail)
}

fn stashed(world: &World<'_>, name: &str) -> Result<(String, lnnode_api::Stash)> {
    world
        .state()
        .stashes
        .get(name)
        .cloned()
        .ok_or_else(|| HarnessError::component("runner", format!("no stash `{name}`")))
}

/// The cheater's sweep of its delayed output on the broadcast stash; the
/// step fails if bitcoind refuses it (the delay has not passed, or the
/// victim already took the output).
pub async fn sweep(world: &World<'_>, name: &str) -> Result<String> {
    let (by, copy) = stashed(world, name)?;
    let descriptor = copy.to_local_descriptor_hex.ok_or_else(|| {
        HarnessError::Assertion(format!(
            "stash {name}: {by} had no output of its own on commitment {}",
            copy.commitment_txid
        ))
    })?;
    let txid = world
        .cluster
        .node(&by)?
        .ldk("`sweep_stash`")?
        .sweep_stash(&descriptor)
        .await?;
    Ok(format!(
        "{by} swept its output of {} in {txid}",
        copy.commitment_txid
    ))
}

/// Sends the stashed commitment through bitcoind, where it must be
/// accepted: the funding output is still unspent, and a revoked commitment
/// is as valid on chain as the latest one.
pub async fn broadcast(world: &World<'_>, name: &str) -> Result<String> {
    let (by, copy) = stashed(world, name)?;
    let txid: String = world
        .cluster
        .bitcoind()?
        .call("sendrawtransaction", vec![json!(copy.commitment_hex)])
        .await
        .map_err(|e| {
            HarnessError::Assertion(format!(
                "{by}'s stashed commitment {} of channel {} was refused by bitcoind: {e}",
                copy.commitment_txid, copy.channel_id
            ))
        })?;
    tracing::warn!(node = %by, txid = %txid, channel_id = %copy.channel_id, "broadcast a stashed commitment");
    Ok(format!("{by} broadcast its stashed commitment {txid}"))
}
