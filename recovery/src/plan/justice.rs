//! Justice: on their revoked commitment every output of theirs is ours by
//! the revocation path, until their delay (to_local, their second stages'
//! outputs) or their HTLC paths let them take it first.

use lightning_signer::bitcoin::{OutPoint, ScriptBuf, Txid};
use lightning_signer::channel::Channel;
use lightning_signer::lightning::ln::chan_utils::HTLCOutputInCommitment;

use super::action::{Action, ChannelPlan, Shortfall};
use super::claim::Claim;
use crate::chain::{ChainView, Confirmed};

/// Their revoked commitment `number`, confirmed at `height`.
pub(super) struct Revoked<'a> {
    pub(super) c: &'a Channel,
    pub(super) view: &'a ChainView,
    pub(super) name: &'a str,
    pub(super) number: u64,
    pub(super) height: u32,
    /// The delay we imposed on their delayed outputs.
    pub(super) delay: u32,
    /// Their delayed script at `number`: their to_local's, and their
    /// second-stage transactions' outputs'.
    pub(super) their_local: &'a ScriptBuf,
}

impl Revoked<'_> {
    /// Their to_local `output` (outpoint, value).
    pub(super) fn to_local(&self, output: (OutPoint, u64)) -> Action {
        let claim = Claim::JusticeToLocal {
            number: self.number,
            witness_script: self.their_local.clone(),
        };
        // Their delayed path opens `delay` blocks after the commitment.
        let deadline = Some(self.height + self.delay.saturating_sub(1));
        let earliest = self.height + 1;
        Action::at(
            self.c, self.view, self.name, claim, output, earliest, deadline,
        )
    }

    /// The HTLC output `output` (outpoint, value) of `h`, whose witness
    /// script is `script`.
    pub(super) fn htlc(
        &self,
        h: &HTLCOutputInCommitment,
        script: &ScriptBuf,
        output: (OutPoint, u64),
    ) -> Action {
        // They can move it with a second-stage transaction at once
        // if they know the preimage (an HTLC they received), or
        // after its expiry (one they offered).
        let deadline = if h.offered {
            h.cltv_expiry
        } else {
            self.height
        };
        let claim = Claim::JusticeHtlc {
            number: self.number,
            witness_script: script.clone(),
        };
        let earliest = self.height + 1;
        Action::at(
            self.c,
            self.view,
            self.name,
            claim,
            output,
            earliest,
            Some(deadline),
        )
    }

    /// An output of the commitment once spent: by their second-stage
    /// transaction, whose outputs are ours in turn (each such transaction
    /// planned once, in `second_stages`), or by something else, which is
    /// a shortfall unless the output was `matched` (then it was our claim).
    /// False while it is unspent.
    pub(super) fn spent(
        &self,
        output: (OutPoint, u64),
        matched: bool,
        second_stages: &mut Vec<Txid>,
        plan: &mut ChannelPlan,
    ) -> bool {
        let (outpoint, value_sat) = output;
        let Some(spender) = self.view.spender(&outpoint) else {
            return false;
        };
        let spender_txid = spender.tx.compute_txid();
        let spk = self.their_local.to_p2wsh();
        let pays_their_local = spender.tx.output.iter().any(|o| o.script_pubkey == spk);
        if pays_their_local {
            if !second_stages.contains(&spender_txid) {
                second_stages.push(spender_txid);
                self.second_stage(spender, plan);
            }
        } else if !matched {
            let number = self.number;
            plan.shortfalls.push(Shortfall {
                channel: self.name.to_string(),
                value_sat,
                what: format!("{outpoint} (output of their revoked commitment {number})"),
                reason: format!(
                    "already spent by {spender_txid}, which is no second-stage transaction \
                     of theirs: an earlier claim of ours, or gone"
                ),
            });
        }
        true
    }

    /// Their second-stage transaction off the revoked commitment: each
    /// output paying their delayed script is ours by the revocation path
    /// until their delay passes.
    fn second_stage(&self, spender: &Confirmed, plan: &mut ChannelPlan) {
        let script = self.their_local;
        let txid = spender.tx.compute_txid();
        let spk = script.to_p2wsh();
        for (vout, out) in spender.tx.output.iter().enumerate() {
            if out.script_pubkey != spk {
                continue;
            }
            let outpoint = OutPoint {
                txid,
                vout: vout as u32,
            };
            let earliest = spender.height + 1;
            let claim = Claim::JusticeToLocal {
                number: self.number,
                witness_script: script.clone(),
            };
            let output = (outpoint, out.value.to_sat());
            let deadline = Some(spender.height + self.delay.saturating_sub(1));
            plan.actions.push(Action::at(
                self.c, self.view, self.name, claim, output, earliest, deadline,
            ));
        }
    }
}
