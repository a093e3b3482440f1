//! Seeing a recovery through: at each new block, scan, plan again, sign and
//! broadcast what became ready, re-broadcast what is not confirmed yet,
//! re-sign at a higher fee rate what is close to its deadline, and note what
//! confirmed, and who took it. It ends when every output the plan claims is
//! spent.
//!
//! The watcher holds no chain state of its own beyond what it sent: every
//! step starts from the chain (a scan) and the signer state (a plan), so a
//! crash of the tool loses nothing; a new run picks up where the chain is.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use lightning_signer::bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use serde::Serialize;

use crate::chain::{ChainSource, ChainView};
use crate::offline::OfflineSigner;
use crate::plan::{Action, Claim, Known, Plan, Status};
use crate::sweep;
use crate::{Network, RecoveryError};

/// How the watcher pays fees and when it raises them.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub network: Network,
    /// Where every claimed output goes.
    pub destination: ScriptBuf,
    /// The first attempt's fee rate (sat per 1000 weight units).
    pub fee_rate: u32,
    /// Bumps stop here (the policy ceiling unless the operator says less).
    pub max_fee_rate: u32,
    /// Raise the fee of an unconfirmed claim once its deadline is this many
    /// blocks away or closer, at every block until it confirms.
    pub urgency_blocks: u32,
    pub scan_from: u32,
}

/// Factor (in percent) each bump raises the fee rate by; BIP 125 also asks
/// for at least the relay fee on top, which [`next_rate`] adds.
const BUMP_PERCENT: u32 = 150;

/// The fee rate after a bump from `rate`, held to `max`.
pub fn next_rate(rate: u32, max: u32) -> u32 {
    (rate.saturating_mul(BUMP_PERCENT) / 100)
        .max(rate.saturating_add(sweep::FEE_RATE_FLOOR))
        .min(max)
}

/// One version of a transaction of ours.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub txid: Txid,
    #[serde(skip)]
    pub tx: Transaction,
    pub fee_rate: u64,
    pub fee_sat: u64,
    /// The chain tip when it was sent.
    pub at_tip: u32,
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Broadcast {
        channel: String,
        claim: String,
        outpoint: OutPoint,
        txid: Txid,
        fee_rate: u64,
    },
    FeeBumped {
        channel: String,
        claim: String,
        outpoint: OutPoint,
        replaces: Txid,
        txid: Txid,
        fee_rate: u64,
    },
    /// Our transaction confirmed.
    Confirmed {
        channel: String,
        claim: String,
        txid: Txid,
        height: u32,
    },
    /// Someone else's transaction spent an output we claim.
    TakenByOther {
        channel: String,
        claim: String,
        outpoint: OutPoint,
        value_sat: u64,
        txid: Txid,
        height: u32,
    },
    /// The output is still unspent past the last height it was ours alone:
    /// the claim goes on, racing the counterparty.
    DeadlinePassed {
        channel: String,
        claim: String,
        outpoint: OutPoint,
        value_sat: u64,
        deadline_height: u32,
    },
    /// Their commitment sat in the mempool for a block: we spend our
    /// output on it at once, paying for both (child pays for parent).
    ChildPaysForParent {
        channel: String,
        parent: Txid,
        txid: Txid,
        /// The fee rate of parent and child together.
        package_fee_rate: u64,
    },
    NotSigned {
        channel: String,
        claim: String,
        outpoint: OutPoint,
        code: String,
        reason: String,
    },
    NotSent {
        channel: String,
        claim: String,
        txid: Txid,
        code: String,
        reason: String,
    },
}

/// An output the plan claimed, once spent.
#[derive(Debug, Clone, Serialize)]
pub struct Settled {
    pub channel: String,
    pub claim: String,
    pub outpoint: OutPoint,
    pub value_sat: u64,
    pub txid: Txid,
    pub height: u32,
    /// Spent by a transaction of ours.
    pub ours: bool,
    /// What reached the destination (zero for a step on the way, such as a
    /// second-stage HTLC transaction, and for what others took).
    pub recovered_sat: u64,
    /// The fee our transaction paid out of this output.
    pub fee_sat: u64,
    /// It was taken after its deadline had passed.
    pub after_deadline: bool,
}

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
    config: WatchConfig,
    sent: BTreeMap<OutPoint, Vec<Sent>>,
    settled: BTreeMap<OutPoint, Settled>,
    /// Warnings given once per output (deadline passed, signing refused).
    told: BTreeSet<(OutPoint, String)>,
    /// The tip at which each unconfirmed counterparty commitment was first
    /// seen in the mempool.
    seen_unconfirmed: BTreeMap<Txid, u32>,
    /// The package fee rate last aimed at for each stuck parent.
    package_rate: BTreeMap<Txid, u32>,
    /// The fee wallet coin each sent claim spends, by the output claimed.
    fee_coins_in_use: BTreeMap<OutPoint, OutPoint>,
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
        let fee_script = crate::feewallet::FeeWallet::of(signer)?.script;
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

    fn tell(&mut self, outpoint: OutPoint, what: &str) -> bool {
        self.told.insert((outpoint, what.to_string()))
    }

    fn settle(
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

    fn send(
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
        // A commitment's and a second-stage HTLC transaction's fees were
        // agreed with the peer: they cannot be re-signed at another rate.
        let fixed_fee = matches!(
            a.claim,
            Claim::ForceClose | Claim::HolderHtlc { fee_coin: None, .. }
        );
        let rate = match &last {
            None => self.config.fee_rate,
            Some(prev) => {
                let urgent = a
                    .deadline_height
                    .is_some_and(|d| d <= tip + self.config.urgency_blocks);
                let bumped = next_rate(prev.fee_rate as u32, self.config.max_fee_rate);
                if fixed_fee || !urgent || prev.at_tip >= tip || bumped <= prev.fee_rate as u32 {
                    // Keep it in mempools (a restarted bitcoind forgets it).
                    if let Err(e) = chain.broadcast(&prev.tx) {
                        events.push(not_sent(a, prev.txid, &e));
                    }
                    return Ok(());
                }
                bumped
            }
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
                if self.tell(a.outpoint, e.code()) {
                    events.push(Event::NotSigned {
                        channel: a.channel.clone(),
                        claim: a.claim.name().into(),
                        outpoint: a.outpoint,
                        code: e.code().into(),
                        reason: e.to_string(),
                    });
                }
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
        events.push(match &last {
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
        Ok(())
    }

    /// For each channel still open in blocks whose funding a commitment in
    /// the mempool spends: once it missed a block, spend our output on it
    /// (to_remote, at once spendable on channels without anchors) at a fee
    /// rate that lifts both to the target; raise it at each later block
    /// the pair misses. Returns the funding outpoints so spent.
    fn cpfp(
        &mut self,
        to: &Target,
        plan: &Plan,
        events: &mut Vec<Event>,
    ) -> Result<BTreeSet<OutPoint>, RecoveryError> {
        let mut stuck = BTreeSet::new();
        let tip = plan.tip;
        for c in &plan.channels {
            if !matches!(c.fate, crate::fate::Fate::Open { .. }) {
                continue;
            }
            let parent = match to.chain.mempool_spender(&c.funding) {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(e) => {
                    // An older bitcoind cannot tell; the rest goes on.
                    if self.tell(c.funding, e.code()) {
                        events.push(Event::NotSigned {
                            channel: c.channel.clone(),
                            claim: "child pays for parent".into(),
                            outpoint: c.funding,
                            code: e.code().into(),
                            reason: e.to_string(),
                        });
                    }
                    continue;
                }
            };
            stuck.insert(c.funding);
            let parent_txid = parent.compute_txid();
            let first_seen = *self.seen_unconfirmed.entry(parent_txid).or_insert(tip);
            let Some(id) = to.signer.channel(&c.channel_id).cloned() else {
                continue;
            };
            let (spk, anchors) = to.signer.with_channel(&id, |ch| {
                Ok((crate::fate::our_to_remote_spk(ch), ch.setup.is_anchors()))
            })?;
            let Some(vout) = parent.output.iter().position(|o| o.script_pubkey == spk) else {
                // Ours, or theirs without an output of ours: nothing to spend.
                continue;
            };
            let outpoint = OutPoint {
                txid: parent_txid,
                vout: vout as u32,
            };
            let action = Action {
                channel: c.channel.clone(),
                channel_id: c.channel_id.clone(),
                claim: Claim::ToRemote { anchors },
                outpoint,
                value_sat: parent.output[vout].value.to_sat(),
                earliest_height: tip + 1,
                deadline_height: None,
                status: Status::Ready,
            };
            let last = self.sent(&outpoint).last().cloned();
            if anchors || first_seen >= tip || last.as_ref().is_some_and(|l| l.at_tip >= tip) {
                // Anchor channels' to_remote waits a block (CSV 1), so only
                // their anchor could pull it in: that needs a wallet input.
                if let Some(l) = &last {
                    if let Err(e) = to.chain.broadcast(&l.tx) {
                        events.push(not_sent(&action, l.txid, &e));
                    }
                }
                continue;
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
            let sign = |rate: u32| {
                sweep::sign_action(
                    to.signer,
                    tip,
                    &action,
                    &to.known.preimages,
                    self.config.network,
                    &self.config.destination,
                    rate,
                )
            };
            // The child's weight from a first signing, then its rate so that
            // both together pay the target.
            let child = match sign(target).and_then(|first| {
                let pw = parent.weight().to_wu();
                let cw = first.tx.weight().to_wu().max(1);
                let need = (u64::from(target) * (pw + cw)).div_ceil(1000);
                let rate = (need.saturating_sub(parent_fee) * 1000).div_ceil(cw);
                let rate = u32::try_from(rate)
                    .unwrap_or(u32::MAX)
                    .clamp(target, self.config.max_fee_rate);
                sign(rate)
            }) {
                Ok(s) => s,
                Err(e) => {
                    if self.tell(action.outpoint, e.code()) {
                        events.push(Event::NotSigned {
                            channel: c.channel.clone(),
                            claim: "child pays for parent".into(),
                            outpoint,
                            code: e.code().into(),
                            reason: e.to_string(),
                        });
                    }
                    continue;
                }
            };
            let txid = child.tx.compute_txid();
            if let Err(e) = to.chain.broadcast(&child.tx) {
                events.push(not_sent(&action, txid, &e));
                continue;
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
        }
        Ok(stuck)
    }

    /// Every version sent for `outpoint`, oldest first.
    pub fn sent(&self, outpoint: &OutPoint) -> &[Sent] {
        self.sent.get(outpoint).map_or(&[], Vec::as_slice)
    }

    /// The outcome so far, per channel of `plan`.
    pub fn summary(&self, plan: &Plan) -> Summary {
        let channels = plan
            .channels
            .iter()
            .map(|c| {
                let mine: Vec<&Settled> = self
                    .settled
                    .values()
                    .filter(|s| s.channel == c.channel)
                    .collect();
                let at_stake: u64 = c
                    .actions
                    .iter()
                    .filter(|a| !matches!(a.claim, Claim::ForceClose))
                    .map(|a| a.value_sat)
                    .sum();
                ChannelSummary {
                    channel: c.channel.clone(),
                    found: crate::plan::fate_text(&c.fate),
                    recovered_sat: mine.iter().map(|s| s.recovered_sat).sum(),
                    fees_sat: mine.iter().filter(|s| s.ours).map(|s| s.fee_sat).sum(),
                    pending: c
                        .actions
                        .iter()
                        .filter(|a| !matches!(a.status, Status::Spent { .. }))
                        .count(),
                    at_stake_sat: at_stake,
                    txids: mine
                        .iter()
                        .filter(|s| s.ours)
                        .map(|s| s.txid.to_string())
                        .collect(),
                }
            })
            .collect();
        Summary {
            tip: plan.tip,
            channels,
            taken: self.settled.values().filter(|s| !s.ours).cloned().collect(),
            shortfalls: plan.shortfalls().cloned().collect(),
        }
    }
}

/// What a claim is signed with and sent to.
struct Target<'a> {
    signer: &'a OfflineSigner,
    chain: &'a dyn ChainSource,
    known: &'a Known,
}

fn not_sent(a: &Action, txid: Txid, e: &RecoveryError) -> Event {
    Event::NotSent {
        channel: a.channel.clone(),
        claim: a.claim.name().into(),
        txid,
        code: e.code().into(),
        reason: e.to_string(),
    }
}

/// One channel's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelSummary {
    pub channel: String,
    /// What the chain shows of it.
    pub found: String,
    pub recovered_sat: u64,
    pub fees_sat: u64,
    /// Claims still to confirm.
    pub pending: usize,
    /// The value of every output the plan claims (second stages count the
    /// HTLC again as their output's claim).
    pub at_stake_sat: u64,
    pub txids: Vec<String>,
}

/// The watch's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub tip: u32,
    pub channels: Vec<ChannelSummary>,
    /// Outputs we claimed that someone else's transaction spent.
    pub taken: Vec<Settled>,
    pub shortfalls: Vec<crate::plan::Shortfall>,
}

impl Summary {
    pub fn recovered_sat(&self) -> u64 {
        self.channels.iter().map(|c| c.recovered_sat).sum()
    }

    /// What was lost because its deadline passed, as the error that names it.
    pub fn deadline_error(&self) -> Option<RecoveryError> {
        let lost: Vec<&Settled> = self.taken.iter().filter(|s| s.after_deadline).collect();
        if lost.is_empty() {
            return None;
        }
        Some(RecoveryError::DeadlinePassed {
            value_sat: lost.iter().map(|s| s.value_sat).sum(),
            what: lost
                .iter()
                .map(|s| {
                    format!(
                        "{} {} {} ({} sat, taken by {} at {})",
                        s.channel, s.claim, s.outpoint, s.value_sat, s.txid, s.height
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Channel names are long (peer id and dbid): each on its own line.
        for c in &self.channels {
            writeln!(f, "  {}: {}", c.channel, c.found)?;
            writeln!(
                f,
                "      recovered {} sat, fees {} sat, {} claim(s) open",
                c.recovered_sat, c.fees_sat, c.pending
            )?;
            for t in &c.txids {
                writeln!(f, "      {t}")?;
            }
        }
        writeln!(
            f,
            "recovered {} sat at chain tip {}",
            self.recovered_sat(),
            self.tip
        )?;
        for s in &self.taken {
            writeln!(
                f,
                "taken by others: {} {} {} sat by {} at {}{}",
                s.channel,
                s.claim,
                s.value_sat,
                s.txid,
                s.height,
                if s.after_deadline {
                    " (after its deadline)"
                } else {
                    ""
                }
            )?;
        }
        for s in &self.shortfalls {
            writeln!(
                f,
                "not recovered: {} {} sat {}: {}",
                s.channel, s.value_sat, s.what, s.reason
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Broadcast {
                channel,
                claim,
                txid,
                fee_rate,
                ..
            } => write!(f, "{channel} {claim}: sent {txid} at {fee_rate} sat/kw"),
            Event::FeeBumped {
                channel,
                claim,
                replaces,
                txid,
                fee_rate,
                ..
            } => write!(
                f,
                "{channel} {claim}: fee raised to {fee_rate} sat/kw, {txid} replaces {replaces}"
            ),
            Event::Confirmed {
                channel,
                claim,
                txid,
                height,
            } => write!(f, "{channel} {claim}: {txid} confirmed at {height}"),
            Event::TakenByOther {
                channel,
                claim,
                value_sat,
                txid,
                height,
                ..
            } => write!(
                f,
                "{channel} {claim}: {value_sat} sat TAKEN by {txid} at {height}"
            ),
            Event::DeadlinePassed {
                channel,
                claim,
                value_sat,
                deadline_height,
                ..
            } => write!(
                f,
                "{channel} {claim}: deadline {deadline_height} passed with {value_sat} sat unclaimed; still trying"
            ),
            Event::ChildPaysForParent {
                channel,
                parent,
                txid,
                package_fee_rate,
            } => write!(
                f,
                "{channel}: their commitment {parent} is stuck; {txid} spends our output on it, both at {package_fee_rate} sat/kw"
            ),
            Event::NotSigned {
                channel,
                claim,
                code,
                reason,
                ..
            } => write!(f, "{channel} {claim}: not signed [{code}]: {reason}"),
            Event::NotSent {
                channel,
                claim,
                txid,
                code,
                reason,
            } => write!(f, "{channel} {claim}: {txid} not sent [{code}]: {reason}"),
        }
    }
}
