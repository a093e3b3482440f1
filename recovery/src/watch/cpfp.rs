//! Child pays for parent: their commitment stuck in the mempool while the
//! channel is still open in blocks gets pulled in by our output on it.

use std::collections::BTreeSet;

use lightning_signer::bitcoin::{OutPoint, Transaction};

use super::config::next_rate;
use super::event::{not_sent, Event};
use super::record::Sent;
use super::watcher::{Target, Watcher};
use crate::fate::{our_to_remote_spk, Fate};
use crate::plan::{Action, ChannelPlan, Claim, Plan, Status};
use crate::sweep::{self, Signed};
use crate::RecoveryError;

/// What the child of a stuck parent claims, in events.
const CPFP: &str = "child pays for parent";

impl Watcher {
    /// For each channel still open in blocks whose funding a commitment in
    /// the mempool spends: once it missed a block, spend our output on it
    /// (to_remote, at once spendable on channels without anchors) at a fee
    /// rate that lifts both to the target; raise it at each later block
    /// the pair misses. Returns the funding outpoints so spent.
    pub(super) fn cpfp(
        &mut self,
        to: &Target,
        plan: &Plan,
        events: &mut Vec<Event>,
    ) -> Result<BTreeSet<OutPoint>, RecoveryError> {
        let mut stuck = BTreeSet::new();
        for c in &plan.channels {
            if !matches!(c.fate, Fate::Open { .. }) {
                continue;
            }
            let Some(parent) = self.mempool_spender(to, c, events) else {
                continue;
            };
            stuck.insert(c.funding);
            self.pull_in(to, c, &parent, plan.tip, events)?;
        }
        Ok(stuck)
    }

    /// The transaction in the mempool that spends `c`'s funding, if any.
    fn mempool_spender(
        &mut self,
        to: &Target,
        c: &ChannelPlan,
        events: &mut Vec<Event>,
    ) -> Option<Transaction> {
        match to.chain.mempool_spender(&c.funding) {
            Ok(parent) => parent,
            Err(e) => {
                // An older bitcoind cannot tell; the rest goes on.
                self.not_signed(&c.channel, CPFP, c.funding, &e, events);
                None
            }
        }
    }

    /// Spends our output on the stuck `parent` once it missed a block, at
    /// a higher package rate at each block after; until then, and on
    /// anchor channels, only keeps what was sent in mempools.
    fn pull_in(
        &mut self,
        to: &Target,
        c: &ChannelPlan,
        parent: &Transaction,
        tip: u32,
        events: &mut Vec<Event>,
    ) -> Result<(), RecoveryError> {
        let parent_txid = parent.compute_txid();
        let first_seen = *self.seen_unconfirmed.entry(parent_txid).or_insert(tip);
        let Some(action) = our_output(to, c, parent, tip)? else {
            return Ok(());
        };
        let outpoint = action.outpoint;
        let anchors = matches!(action.claim, Claim::ToRemote { anchors: true });
        let last = self.sent(&outpoint).last().cloned();
        if anchors || first_seen >= tip || last.as_ref().is_some_and(|l| l.at_tip >= tip) {
            // Anchor channels' to_remote waits a block (CSV 1), so only
            // their anchor could pull it in: that needs a wallet input.
            if let Some(l) = &last {
                if let Err(e) = to.chain.broadcast(&l.tx) {
                    events.push(not_sent(&action, l.txid, &e));
                }
            }
            return Ok(());
        }
        let target = match &last {
            None => self.config.fee_rate,
            Some(_) => next_rate(
                self.package_rate
                    .get(&parent_txid)
                    .copied()
                    .unwrap_or(self.config.fee_rate),
                self.config.max_fee_rate,
            ),
        };
        let parent_fee = c
            .capacity_sat
            .saturating_sub(parent.output.iter().map(|o| o.value.to_sat()).sum::<u64>());
        let child = match self.sign_child(to, &action, parent, parent_fee, target, tip) {
            Ok(s) => s,
            Err(e) => {
                self.not_signed(&c.channel, CPFP, outpoint, &e, events);
                return Ok(());
            }
        };
        let txid = child.tx.compute_txid();
        if let Err(e) = to.chain.broadcast(&child.tx) {
            events.push(not_sent(&action, txid, &e));
            return Ok(());
        }
        let package_fee_rate = (parent_fee + child.fee_sat) * 1000
            / (parent.weight().to_wu() + child.tx.weight().to_wu()).max(1);
        self.package_rate.insert(parent_txid, target);
        events.push(Event::ChildPaysForParent {
            channel: c.channel.clone(),
            parent: parent_txid,
            txid,
            package_fee_rate,
        });
        self.sent.entry(outpoint).or_default().push(Sent {
            txid,
            tx: child.tx,
            fee_rate: child.fee_rate,
            fee_sat: child.fee_sat,
            at_tip: tip,
        });
        Ok(())
    }

    /// The child: its weight from a first signing, then its rate so that
    /// both together pay `target`.
    fn sign_child(
        &self,
        to: &Target,
        action: &Action,
        parent: &Transaction,
        parent_fee: u64,
        target: u32,
        tip: u32,
    ) -> Result<Signed, RecoveryError> {
        let sign = |rate: u32| {
            sweep::sign_action(
                to.signer,
                tip,
                action,
                &to.known.preimages,
                self.config.network,
                &self.config.destination,
                rate,
            )
        };
        sign(target).and_then(|first| {
            let pw = parent.weight().to_wu();
            let cw = first.tx.weight().to_wu().max(1);
            let need = (u64::from(target) * (pw + cw)).div_ceil(1000);
            let rate = (need.saturating_sub(parent_fee) * 1000).div_ceil(cw);
            let rate = u32::try_from(rate)
                .unwrap_or(u32::MAX)
                .clamp(target, self.config.max_fee_rate);
            sign(rate)
        })
    }
}

/// Our to_remote on their `parent` commitment of `c`, as a ready claim;
/// none if the signer lacks the channel or the commitment pays us nothing
/// (ours, or theirs without an output of ours).
fn our_output(
    to: &Target,
    c: &ChannelPlan,
    parent: &Transaction,
    tip: u32,
) -> Result<Option<Action>, RecoveryError> {
    let Some(id) = to.signer.channel(&c.channel_id).cloned() else {
        return Ok(None);
    };
    let (spk, anchors) = to
        .signer
        .with_channel(&id, |ch| Ok((our_to_remote_spk(ch), ch.setup.is_anchors())))?;
    let Some(vout) = parent.output.iter().position(|o| o.script_pubkey == spk) else {
        return Ok(None);
    };
    Ok(Some(Action {
        channel: c.channel.clone(),
        channel_id: c.channel_id.clone(),
        claim: Claim::ToRemote { anchors },
        outpoint: OutPoint {
            txid: parent.compute_txid(),
            vout: vout as u32,
        },
        value_sat: parent.output[vout].value.to_sat(),
        earliest_height: tip + 1,
        deadline_height: None,
        status: Status::Ready,
    }))
}
