//! Sending a ready claim: signed at the first fee rate, then re-broadcast
//! at each block until it confirms, and re-signed at a higher rate (a BIP
//! 125 replacement) once its deadline is near.

use lightning_signer::bitcoin::Txid;

use super::config::next_rate;
use super::event::{not_sent, Event};
use super::record::Sent;
use super::watcher::{BeforeForceClose, Target, Watcher};
use crate::plan::{Action, Claim, Plan};
use crate::sweep::{self, Signed};
use crate::RecoveryError;

impl Watcher {
    /// Signs and broadcasts `a`, or keeps its last version in mempools.
    pub(super) fn send(
        &mut self,
        to: &Target,
        plan: &Plan,
        a: &Action,
        events: &mut Vec<Event>,
        before_force_close: BeforeForceClose,
    ) -> Result<(), RecoveryError> {
        let Target {
            signer,
            chain,
            known,
        } = *to;
        let tip = plan.tip;
        let last = self.sent.get(&a.outpoint).and_then(|v| v.last()).cloned();
        let rate = match &last {
            None => self.config.fee_rate,
            Some(prev) => match self.bumped_rate(a, prev, tip) {
                Some(bumped) => bumped,
                None => {
                    // Keep it in mempools (a restarted bitcoind forgets it).
                    if let Err(e) = chain.broadcast(&prev.tx) {
                        events.push(not_sent(a, prev.txid, &e));
                    }
                    return Ok(());
                }
            },
        };
        let signed = match sweep::sign_action(
            signer,
            tip,
            a,
            &known.preimages,
            self.config.network,
            &self.config.destination,
            rate,
        ) {
            Ok(s) => s,
            Err(e) => {
                self.not_signed(&a.channel, a.claim.name(), a.outpoint, &e, events);
                return Ok(());
            }
        };
        if matches!(a.claim, Claim::ForceClose) {
            before_force_close(a)?;
        }
        let txid = signed.tx.compute_txid();
        if let Err(e) = chain.broadcast(&signed.tx) {
            events.push(not_sent(a, txid, &e));
            return Ok(());
        }
        self.record(a, last.as_ref(), signed, txid, tip, events);
        Ok(())
    }

    /// The rate to re-sign `a` at, once its deadline is near and a block
    /// passed since `prev` was sent; none while `prev` should stand, or
    /// when no higher rate is left.
    fn bumped_rate(&self, a: &Action, prev: &Sent, tip: u32) -> Option<u32> {
        // A commitment's and a second-stage HTLC transaction's fees were
        // agreed with the peer: they cannot be re-signed at another rate.
        let fixed_fee = matches!(
            a.claim,
            Claim::ForceClose | Claim::HolderHtlc { fee_coin: None, .. }
        );
        let urgent = a
            .deadline_height
            .is_some_and(|d| d <= tip + self.config.urgency_blocks);
        let bumped = next_rate(prev.fee_rate as u32, self.config.max_fee_rate);
        if fixed_fee || !urgent || prev.at_tip >= tip || bumped <= prev.fee_rate as u32 {
            None
        } else {
            Some(bumped)
        }
    }

    /// Notes `signed` (as `txid`) sent for `a` at `tip`, replacing `last`
    /// if there was one.
    fn record(
        &mut self,
        a: &Action,
        last: Option<&Sent>,
        signed: Signed,
        txid: Txid,
        tip: u32,
        events: &mut Vec<Event>,
    ) {
        events.push(match last {
            None => Event::Broadcast {
                channel: a.channel.clone(),
                claim: a.claim.name().into(),
                outpoint: a.outpoint,
                txid,
                fee_rate: signed.fee_rate,
            },
            Some(prev) => Event::FeeBumped {
                channel: a.channel.clone(),
                claim: a.claim.name().into(),
                outpoint: a.outpoint,
                replaces: prev.txid,
                txid,
                fee_rate: signed.fee_rate,
            },
        });
        if let Claim::HolderHtlc {
            fee_coin: Some(coin),
            ..
        } = &a.claim
        {
            self.fee_coins_in_use.insert(a.outpoint, coin.outpoint);
        }
        self.sent.entry(a.outpoint).or_default().push(Sent {
            txid,
            tx: signed.tx,
            fee_rate: signed.fee_rate,
            fee_sat: signed.fee_sat,
            at_tip: tip,
        });
    }
}
