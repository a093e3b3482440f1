//! The watcher: the state of one watch, and one pass at the chain's tip.

use std::collections::{BTreeMap, BTreeSet};

use lightning_signer::bitcoin::{OutPoint, Txid};

use super::config::WatchConfig;
use super::event::Event;
use super::record::{Sent, Settled};
use crate::chain::{ChainSource, ChainView};
use crate::feewallet::FeeWallet;
use crate::offline::OfflineSigner;
use crate::plan::{Action, Claim, Known, Plan, Status};
use crate::RecoveryError;

/// What one step saw and did.
#[derive(Debug)]
pub struct Step {
    pub plan: Plan,
    pub events: Vec<Event>,
    /// Every claimed output is spent: nothing is left to do.
    pub finished: bool,
}

/// Called before a force-close is broadcast (to mark the state it was
/// signed from closed); an error stops the watch before anything is sent.
pub type BeforeForceClose<'a> = &'a mut dyn FnMut(&Action) -> Result<(), RecoveryError>;

/// The state of one watch: what it sent and what it saw settle.
pub struct Watcher {
    pub(super) config: WatchConfig,
    pub(super) sent: BTreeMap<OutPoint, Vec<Sent>>,
    pub(super) settled: BTreeMap<OutPoint, Settled>,
    /// Warnings given once per output (deadline passed, signing refused).
    pub(super) told: BTreeSet<(OutPoint, String)>,
    /// The tip at which each unconfirmed counterparty commitment was first
    /// seen in the mempool.
    pub(super) seen_unconfirmed: BTreeMap<Txid, u32>,
    /// The package fee rate last aimed at for each stuck parent.
    pub(super) package_rate: BTreeMap<Txid, u32>,
    /// The fee wallet coin each sent claim spends, by the output claimed.
    pub(super) fee_coins_in_use: BTreeMap<OutPoint, OutPoint>,
}

impl Watcher {
    pub fn new(config: WatchConfig) -> Watcher {
        Watcher {
            config,
            sent: BTreeMap::new(),
            settled: BTreeMap::new(),
            told: BTreeSet::new(),
            seen_unconfirmed: BTreeMap::new(),
            package_rate: BTreeMap::new(),
            fee_coins_in_use: BTreeMap::new(),
        }
    }

    /// One pass at the chain's current tip.
    pub fn step(
        &mut self,
        signer: &OfflineSigner,
        chain: &dyn ChainSource,
        known: &mut Known,
        label: &dyn Fn(&str) -> String,
        before_force_close: BeforeForceClose,
    ) -> Result<Step, RecoveryError> {
        let fee_script = FeeWallet::of(signer)?.script;
        let view = ChainView::scan_with_scripts(
            chain,
            &signer.funding_outpoints()?,
            &[fee_script],
            self.config.scan_from,
        )?;
        known.preimages.harvest(view.txs(), &known.wanted);
        known.fee_coins_in_use = self.fee_coins_in_use.clone();
        let known = &*known;
        let plan = Plan::build(signer, &view, known, label)?;
        let mut events = Vec::new();
        let to = Target {
            signer,
            chain,
            known,
        };
        let stuck = self.cpfp(&to, &plan, &mut events)?;
        for a in plan.actions() {
            match &a.status {
                Status::Spent { txid, height } => {
                    self.settle(&plan, &view, a, *txid, *height, &mut events)
                }
                Status::Waiting { .. } => {}
                Status::Ready => {
                    if let Some(d) = a.deadline_height.filter(|d| view.tip + 1 > *d) {
                        if self.tell(a.outpoint, "deadline") {
                            events.push(Event::DeadlinePassed {
                                channel: a.channel.clone(),
                                claim: a.claim.name().into(),
                                outpoint: a.outpoint,
                                value_sat: a.value_sat,
                                deadline_height: d,
                            });
                        }
                    }
                    // Their commitment is already on its way: ours would
                    // only conflict with it.
                    if matches!(a.claim, Claim::ForceClose) && stuck.contains(&a.outpoint) {
                        continue;
                    }
                    self.send(&to, &plan, a, &mut events, before_force_close)?;
                }
            }
        }
        let finished = plan
            .actions()
            .iter()
            .all(|a| matches!(a.status, Status::Spent { .. }));
        Ok(Step {
            plan,
            events,
            finished,
        })
    }

    pub(super) fn tell(&mut self, outpoint: OutPoint, what: &str) -> bool {
        self.told.insert((outpoint, what.to_string()))
    }

    /// Says that `claim` of `outpoint` could not be signed, once per output
    /// and error code: the watch tries again at every block.
    pub(super) fn not_signed(
        &mut self,
        channel: &str,
        claim: &str,
        outpoint: OutPoint,
        e: &RecoveryError,
        events: &mut Vec<Event>,
    ) {
        if self.tell(outpoint, e.code()) {
            events.push(Event::NotSigned {
                channel: channel.to_string(),
                claim: claim.into(),
                outpoint,
                code: e.code().into(),
                reason: e.to_string(),
            });
        }
    }

    /// Every version sent for `outpoint`, oldest first.
    pub fn sent(&self, outpoint: &OutPoint) -> &[Sent] {
        self.sent.get(outpoint).map_or(&[], Vec::as_slice)
    }
}

/// What a claim is signed with and sent to.
pub(super) struct Target<'a> {
    pub(super) signer: &'a OfflineSigner,
    pub(super) chain: &'a dyn ChainSource,
    pub(super) known: &'a Known,
}
