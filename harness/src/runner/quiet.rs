//! A channel's last update finished: both ends list it with the same
//! HTLCs and balances that add up to its capacity (the conservation
//! check's rule for open channels). A payment step returns when the payer
//! learns the preimage, before the revocations that end the update; a
//! copy of a commitment or a backup taken then would be of a state one end
//! is about to leave.

use std::collections::BTreeMap;

use super::state::{Opened, World};
use crate::checker::{self, ChannelEnd};
use crate::error::Result;
use crate::node::Node;
use crate::{lightning, wait};

pub async fn settled_update(world: &World<'_>, name: &str, opened: &Opened) -> Result<()> {
    let nodes = [
        world.cluster.node(&opened.opener)?,
        world.cluster.node(&opened.peer)?,
    ];
    wait::until(
        &format!("both ends of {name} agree on its balances and HTLCs"),
        lightning::STEP,
        || async {
            let mut ends = Vec::new();
            let mut htlcs = Vec::new();
            for n in nodes {
                let chans = n.channels().await.map_err(|e| e.to_string())?;
                let c = chans
                    .into_iter()
                    .find(|c| c.channel_id == opened.id)
                    .ok_or_else(|| format!("{} does not list the channel", n.name()))?;
                let mut hashes: Vec<String> = c
                    .pending_htlcs
                    .iter()
                    .map(|h| h.payment_hash.clone())
                    .collect();
                hashes.sort();
                htlcs.push(hashes);
                ends.push(ChannelEnd {
                    node: n.name().to_string(),
                    capacity_sat: c.capacity_sat,
                    local_sat: c.local_balance_msat / 1000,
                });
            }
            if htlcs.first() != htlcs.last() {
                return Err(format!("HTLCs differ: {htlcs:?}"));
            }
            let apart = checker::channel_disagreements(&BTreeMap::from([(name.to_string(), ends)]));
            if apart.is_empty() {
                Ok(())
            } else {
                Err(apart.join("; "))
            }
        },
    )
    .await
}
