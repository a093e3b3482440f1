//! Settling an output the plan claimed once it is spent: by us (and what
//! reached the destination, at what fee) or by someone else.

use lightning_signer::bitcoin::Txid;

use super::event::Event;
use super::record::Settled;
use super::watcher::Watcher;
use crate::chain::ChainView;
use crate::plan::{Action, Plan};

impl Watcher {
    /// Notes `a`'s output spent by `txid` at `height`, once.
    pub(super) fn settle(
        &mut self,
        plan: &Plan,
        view: &ChainView,
        a: &Action,
        txid: Txid,
        height: u32,
        events: &mut Vec<Event>,
    ) {
        if self.settled.contains_key(&a.outpoint) {
            return;
        }
        let spender = view.tx(&txid).map(|c| &c.tx);
        let to_us: u64 = spender.map_or(0, |t| {
            t.output
                .iter()
                .filter(|o| o.script_pubkey == self.config.destination)
                .map(|o| o.value.to_sat())
                .sum()
        });
        let version = self
            .sent
            .get(&a.outpoint)
            .and_then(|v| v.iter().find(|s| s.txid == txid));
        let sent_by_us = version.is_some();
        // A step on the way (our second-stage HTLC transaction) is ours
        // when the plan claims its output in turn.
        let leads_on = plan.actions().iter().any(|b| b.outpoint.txid == txid);
        let ours = sent_by_us || to_us > 0 || leads_on;
        let single_input = spender.is_some_and(|t| t.input.len() == 1);
        let out_total: u64 = spender.map_or(0, |t| t.output.iter().map(|o| o.value.to_sat()).sum());
        // What we sent we know the fee of (a fee input's coin included);
        // an earlier run's one-input claim pays the difference.
        let fee_sat = match version {
            Some(v) => v.fee_sat,
            None if ours && single_input => a.value_sat.saturating_sub(out_total),
            None => 0,
        };
        let after_deadline = a.deadline_height.is_some_and(|d| height > d);
        events.push(if ours {
            Event::Confirmed {
                channel: a.channel.clone(),
                claim: a.claim.name().into(),
                txid,
                height,
            }
        } else {
            Event::TakenByOther {
                channel: a.channel.clone(),
                claim: a.claim.name().into(),
                outpoint: a.outpoint,
                value_sat: a.value_sat,
                txid,
                height,
            }
        });
        self.settled.insert(
            a.outpoint,
            Settled {
                channel: a.channel.clone(),
                claim: a.claim.name().into(),
                outpoint: a.outpoint,
                value_sat: a.value_sat,
                txid,
                height,
                ours,
                recovered_sat: if ours { to_us } else { 0 },
                fee_sat,
                after_deadline,
            },
        );
    }
}
