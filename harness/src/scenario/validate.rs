//! Parses a scenario file and checks its steps against its topology
//! (checked by [`super::topology`]) and against each other: every name a
//! step uses exists in the topology or was declared by an earlier step, and
//! each step has exactly one action. Every error names the file, line and
//! column, and the step and field.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::expect::expectation;
use super::model::{Action, Assertion, Scenario, Step, Topology, Wait};
use super::spec::ChannelSpec;
use super::spec::{
    self, AssertSpec, CloseSpec, ExpectSpec, FundSpec, OpenChannelSpec, PayOutcome, PaySpec,
    RecoverSpec, SnapshotSpec, StepSpec, WaitSpec,
};
use super::topology::topology;
use crate::error::{HarnessError, Result};
use crate::fault::{Fault, FaultSpec};

mod disaster;
mod trigger;

const ACTIONS: &str = "one of `mine`, `mine_until_settled`, `fund`, `open_channel`, `pay`, `settle`, `fail`, `close`, `force_close`, `wait_for`, `fault`, `heal`, `refuses_start`, `snapshot`, `recover`, `vlsd_recover`, `destroy`, `backup`, `recover_onchain`, `recover_channels`, `withdraw`, `stash`, `broadcast_stash`, `sweep_stash`, `assert`";

/// Parses and checks scenario text; `path` is used for messages only.
pub(super) fn scenario(path: &Path, text: &str) -> Result<Scenario> {
    let err_at = |span: Option<Range<usize>>, message: String| error_at(path, text, span, message);
    let spec: spec::ScenarioFile =
        toml::from_str(text).map_err(|e| err_at(e.span(), e.message().trim().to_string()))?;
    let topology_span = spec.topology.span();
    let topology = topology(spec.topology.get_ref(), |m| {
        err_at(Some(spec.topology.span()), m)
    })?;
    let mut checker = Checker::new(path, text, &topology);
    let steps = spec
        .steps
        .into_iter()
        .enumerate()
        .map(|(i, s)| checker.step(i, s))
        .collect::<Result<Vec<Step>>>()?;
    let expect = match spec.expect {
        Some(e) => {
            let span = e.span();
            let e = e.into_inner();
            expectation(&e, &topology).map_err(|m| err_at(Some(span), format!("expect: {m}")))?;
            e
        }
        None => ExpectSpec::default(),
    };
    let s = Scenario {
        path: path.to_path_buf(),
        name: spec.name,
        case: String::new(),
        description: spec.description,
        seed: spec.seed.unwrap_or(0),
        topology,
        steps,
        expect,
    };
    for node in &s.topology.cln_nodes {
        if let Some(u) = super::kinds::cln_unsupported(&s, node) {
            return Err(HarnessError::ScenarioParse {
                path: path.to_path_buf(),
                line: u
                    .line
                    .unwrap_or_else(|| line_col(text, topology_span.start).0),
                column: 1,
                message: format!("`{node}` runs Core Lightning: {}", u.what),
            });
        }
    }
    Ok(s)
}

/// An error at the start of `span` in `text` (at its first character
/// without a span).
pub(super) fn error_at(
    path: &Path,
    text: &str,
    span: Option<Range<usize>>,
    message: String,
) -> HarnessError {
    let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((1, 1));
    HarnessError::ScenarioParse {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// What the steps are checked against, in file order: the topology, and
/// what earlier steps declared (hold payments, snapshots, checkpoints,
/// channels); and where the step being checked is, for its errors.
struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    topology: &'a Topology,
    components: Vec<String>,
    holds: Vec<String>,
    snapshots: Vec<String>,
    checkpoints: Vec<String>,
    /// Names of the commitments stashed so far.
    stashes: Vec<String>,
    /// Names of the backups taken so far.
    backups: Vec<String>,
    /// Components destroyed so far (and not brought back).
    destroyed: Vec<String>,
    /// Channels a step can name: the topology's and those opened so far.
    channels: Vec<String>,
    /// The index of the step being checked, and its span in the text.
    index: usize,
    span: Range<usize>,
}

impl<'a> Checker<'a> {
    fn new(path: &'a Path, text: &'a str, topology: &'a Topology) -> Self {
        Checker {
            path,
            text,
            topology,
            components: topology.components(),
            holds: Vec::new(),
            snapshots: Vec::new(),
            checkpoints: Vec::new(),
            stashes: Vec::new(),
            backups: Vec::new(),
            destroyed: Vec::new(),
            channels: topology.channels.iter().map(ChannelSpec::name).collect(),
            index: 0,
            span: 0..0,
        }
    }

    /// An error in the step being checked.
    fn at(&self, message: String) -> HarnessError {
        error_at(
            self.path,
            self.text,
            Some(self.span.clone()),
            format!("steps[{}]: {message}", self.index),
        )
    }

    fn component(&self, c: &str, field: &str) -> Result<()> {
        if self.components.iter().any(|k| k == c) {
            Ok(())
        } else {
            Err(self.at(format!(
                "{field}: no component `{c}` in the topology (expected one of: {})",
                self.components.join(", ")
            )))
        }
    }

    fn node(&self, n: &str, field: &str) -> Result<()> {
        if self.topology.has_node(n) {
            Ok(())
        } else {
            Err(self.at(format!(
                "{field}: no node `{n}` in topology.nodes (expected one of: {})",
                self.topology
                    .nodes
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }

    fn vlsd(&self, n: &str, field: &str) -> Result<()> {
        if self.topology.has_vlsd(n) {
            Ok(())
        } else {
            Err(self.at(format!(
                "{field}: `{n}` has no vlsd signer (expected a node with signer = \"vlsd\")"
            )))
        }
    }

    fn channel(&self, c: &str, field: &str) -> Result<()> {
        if self.channels.iter().any(|k| k == c) {
            Ok(())
        } else {
            Err(self.at(format!(
                "{field}: no channel `{c}` opened before this step (known: {})",
                if self.channels.is_empty() {
                    "none".to_string()
                } else {
                    self.channels.join(", ")
                }
            )))
        }
    }

    /// Checks step `index` against the steps before it.
    fn step(&mut self, index: usize, spanned: Spanned<StepSpec>) -> Result<Step> {
        self.index = index;
        self.span = spanned.span();
        let line = line_col(self.text, self.span.start).0;
        let mut s = spanned.into_inner();
        let (label, when) = (s.label.take(), s.when.take());
        let actions = self.actions(s, when.is_some())?;
        let action = self.one_action(actions)?;
        let label = label.unwrap_or_else(|| action.describe());
        let when = match when {
            None => None,
            Some(w) => Some(self.trigger(w, &label)?),
        };
        Ok(Step {
            label,
            action,
            when,
            line,
        })
    }

    /// Every action the step names, each checked, in the order of
    /// [`ACTIONS`]; `when` is only valid with a fault.
    fn actions(&mut self, s: StepSpec, has_when: bool) -> Result<Vec<Action>> {
        let mut actions = Vec::new();
        actions.extend(s.mine.map(Action::Mine));
        actions.extend(s.mine_until_settled.map(Action::MineUntilSettled));
        if let Some(f) = s.fund {
            actions.push(self.fund(f)?);
        }
        if let Some(o) = s.open_channel {
            actions.push(self.open_channel(o)?);
        }
        if let Some(p) = s.pay {
            actions.push(self.pay(p)?);
        }
        for (h, field, settle) in [(s.settle, "settle", true), (s.fail, "fail", false)] {
            if let Some(h) = h {
                actions.push(self.end_hold(h, field, settle)?);
            }
        }
        for (c, force) in [(s.close, false), (s.force_close, true)] {
            if let Some(c) = c {
                actions.push(self.close(c, force)?);
            }
        }
        if let Some(w) = s.wait_for {
            actions.push(Action::WaitFor(self.wait(w)?));
        }
        if let Some(f) = s.fault {
            actions.push(Action::Fault(self.fault(f)?));
        } else if has_when {
            return Err(self.at("when: only valid together with `fault`".to_string()));
        }
        if let Some(c) = s.heal {
            self.component(&c, "heal")?;
            actions.push(Action::Heal(c));
        }
        if let Some(r) = s.refuses_start {
            self.component(&r.component, "refuses_start.component")?;
            if r.log.trim().is_empty() {
                return Err(self.at(
                    "refuses_start.log: expected the text the refusal shows in the log".to_string(),
                ));
            }
            actions.push(Action::RefusesStart(r));
        }
        if let Some(sn) = s.snapshot {
            actions.push(self.snapshot(sn)?);
        }
        if let Some(r) = s.recover {
            actions.push(self.recover(r)?);
        }
        if let Some(r) = s.vlsd_recover {
            self.vlsd(&r.signer, "vlsd_recover.signer")?;
            actions.push(Action::VlsdRecover(r));
        }
        if let Some(c) = s.destroy {
            self.component(&c, "destroy")?;
            self.destroyed.push(c.clone());
            actions.push(Action::Destroy(c));
        }
        if let Some(b) = s.backup {
            actions.push(self.backup(b)?);
        }
        if let Some(r) = s.recover_onchain {
            actions.push(self.recover_onchain(r)?);
        }
        if let Some(r) = s.recover_channels {
            actions.push(self.recover_channels(r)?);
        }
        if let Some(n) = s.withdraw {
            actions.push(self.withdraw(n)?);
        }
        if let Some(st) = s.stash {
            actions.push(self.stash(st)?);
        }
        if let Some(b) = s.broadcast_stash {
            self.stash_name(&b, "broadcast_stash")?;
            actions.push(Action::BroadcastStash(b));
        }
        if let Some(b) = s.sweep_stash {
            self.stash_name(&b, "sweep_stash")?;
            actions.push(Action::SweepStash(b));
        }
        if let Some(a) = s.assert {
            actions.push(Action::Assert(self.assertion(a)?));
        }
        Ok(actions)
    }

    /// The step's one action, which may need bitcoind.
    fn one_action(&self, mut actions: Vec<Action>) -> Result<Action> {
        let action = match actions.len() {
            1 => actions.remove(0),
            0 => return Err(self.at(format!("no action: expected {ACTIONS}"))),
            n => {
                return Err(self.at(format!(
                    "{n} actions in one step: expected exactly {ACTIONS}"
                )))
            }
        };
        let needs_bitcoind = matches!(
            action,
            Action::Mine(_)
                | Action::MineUntilSettled(_)
                | Action::Fund(_)
                | Action::VlsdRecover(_)
                | Action::BroadcastStash(_)
                | Action::RecoverOnchain(_)
                | Action::RecoverChannels(_)
                | Action::Withdraw(_)
                | Action::Assert(Assertion::Height(_))
                | Action::Assert(Assertion::WalletSat(_))
        );
        if needs_bitcoind && !self.topology.bitcoind {
            return Err(self.at(format!(
                "`{}` needs `topology.bitcoind = true`",
                action.describe()
            )));
        }
        Ok(action)
    }

    fn fund(&self, f: FundSpec) -> Result<Action> {
        self.node(&f.node, "fund.node")?;
        if f.sat == 0 {
            return Err(self.at("fund.sat: expected 1 or more".to_string()));
        }
        Ok(Action::Fund(f))
    }

    /// An open channel: later steps can name it once it is pending.
    fn open_channel(&mut self, o: OpenChannelSpec) -> Result<Action> {
        self.node(&o.from, "open_channel.from")?;
        self.node(&o.to, "open_channel.to")?;
        if !o.pending && o.confirm {
            return Err(self.at(
                "open_channel.confirm: expected `confirm = false` with `pending = false` (nothing is broadcast to confirm)"
                    .to_string(),
            ));
        }
        let name = o
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", o.from, o.to));
        if o.pending {
            self.channels.push(name.clone());
        }
        Ok(Action::OpenChannel(OpenChannelSpec {
            name: Some(name),
            ..o
        }))
    }

    /// A payment; a hold payment's name is for a later settle or fail.
    fn pay(&mut self, p: PaySpec) -> Result<Action> {
        self.node(&p.from, "pay.from")?;
        self.node(&p.to, "pay.to")?;
        if p.count == 0 {
            return Err(self.at("pay.count: expected 1 or more".to_string()));
        }
        if let Some(h) = &p.hold {
            if p.count != 1 || !p.wait || p.outcome != PayOutcome::Sent {
                return Err(self.at(
                    "pay.hold: a hold payment is one payment that is waited on; drop count, wait and outcome"
                        .to_string(),
                ));
            }
            if self.holds.contains(h) {
                return Err(self.at(format!("pay.hold: `{h}` is already used")));
            }
            self.holds.push(h.clone());
        }
        Ok(Action::Pay(p))
    }

    /// Settles (or fails) hold payment `h`.
    fn end_hold(&self, h: String, field: &str, settle: bool) -> Result<Action> {
        if !self.holds.contains(&h) {
            return Err(self.at(format!("{field}: no hold payment `{h}` before this step")));
        }
        Ok(if settle {
            Action::Settle(h)
        } else {
            Action::Fail(h)
        })
    }

    /// A cooperative (or, with `force`, a force) close.
    fn close(&self, c: CloseSpec, force: bool) -> Result<Action> {
        let field = if force { "force_close" } else { "close" };
        self.channel(&c.channel, &format!("{field}.channel"))?;
        if let Some(by) = &c.by {
            self.node(by, &format!("{field}.by"))?;
        }
        Ok(if force {
            Action::ForceClose(c)
        } else {
            Action::Close(c)
        })
    }

    fn wait(&self, w: WaitSpec) -> Result<Wait> {
        let t = w.timeout_secs;
        Ok(match (&w.node, w.event, &w.checkpoint, &w.payments) {
            (Some(n), Some(event), None, None) => {
                self.node(n, "wait_for.node")?;
                Wait::Event {
                    node: n.clone(),
                    event,
                    timeout_secs: t,
                }
            }
            (None, None, Some(c), None) => {
                if !self.checkpoints.contains(c) {
                    return Err(self.at(format!(
                        "wait_for.checkpoint: no fault with checkpoint `{c}` armed before this step"
                    )));
                }
                Wait::Checkpoint {
                    name: c.clone(),
                    timeout_secs: t,
                }
            }
            (None, None, None, Some(n)) => {
                self.node(n, "wait_for.payments")?;
                Wait::Payments {
                    node: n.clone(),
                    timeout_secs: t,
                }
            }
            _ => {
                return Err(self.at(
                    "wait_for: expected `node` with `event`, or `checkpoint`, or `payments`"
                        .to_string(),
                ))
            }
        })
    }

    fn fault(&self, f: FaultSpec) -> Result<Fault> {
        self.component(f.target(), "fault.target")?;
        if let Some(p) = f.peer() {
            self.component(p, "fault.peer")?;
        }
        let f = f.check().map_err(|m| self.at(format!("fault: {m}")))?;
        if matches!(f, Fault::PowerCut { .. }) && f.target() == "bitcoind" {
            return Err(self.at(
                "fault: power_cut works on nodes and signers (their images carry the agent), not bitcoind"
                    .to_string(),
            ));
        }
        let has_disk = self
            .topology
            .disks
            .iter()
            .any(|d| d.component == f.target());
        if matches!(f, Fault::DiskFull { .. }) && !has_disk {
            return Err(self.at(format!(
                "fault: disk_full needs `{}` in topology.disks (a small tmpfs datadir to fill)",
                f.target()
            )));
        }
        if has_disk && (f.takes_down() || matches!(f, Fault::Restart { .. })) {
            return Err(self.at(format!(
                "fault: `{}` keeps its datadir on a tmpfs (topology.disks), which a stop would erase; \
                 give it no disk entry to stop or restart it",
                f.target()
            )));
        }
        Ok(f)
    }

    fn snapshot(&mut self, sn: SnapshotSpec) -> Result<Action> {
        self.vlsd(&sn.signer, "snapshot.signer")?;
        if self.snapshots.contains(&sn.name) {
            return Err(self.at(format!("snapshot.name: `{}` is already used", sn.name)));
        }
        self.snapshots.push(sn.name.clone());
        Ok(Action::Snapshot(sn))
    }

    fn recover(&self, r: RecoverSpec) -> Result<Action> {
        self.vlsd(&r.signer, "recover.signer")?;
        if !self.snapshots.contains(&r.from) {
            return Err(self.at(format!(
                "recover.from: no snapshot `{}` taken before this step",
                r.from
            )));
        }
        Ok(Action::Recover(r))
    }

    fn assertion(&self, a: AssertSpec) -> Result<Assertion> {
        let mut found = Vec::new();
        if let Some(h) = a.height {
            found.push(Assertion::Height(h));
        }
        if let Some(s) = a.wallet_sat {
            found.push(Assertion::WalletSat(s));
        }
        if let Some(c) = a.channels {
            self.node(&c.node, "assert.channels.node")?;
            found.push(Assertion::Channels(c));
        }
        if let Some(b) = a.channel_balance {
            self.node(&b.node, "assert.channel_balance.node")?;
            found.push(Assertion::ChannelBalance(b));
        }
        if let Some(c) = a.htlcs {
            self.node(&c.node, "assert.htlcs.node")?;
            found.push(Assertion::Htlcs(c));
        }
        if let Some(p) = a.payments {
            self.node(&p.node, "assert.payments.node")?;
            if p.count.is_some() == p.at_least.is_some() {
                return Err(self.at(
                    "assert.payments: expected exactly one of `count`, `at_least`".to_string(),
                ));
            }
            found.push(Assertion::Payments(p));
        }
        if let Some(r) = a.running {
            self.component(&r.component, "assert.running.component")?;
            found.push(Assertion::Running(r));
        }
        if let Some(l) = a.log {
            self.component(&l.component, "assert.log.component")?;
            found.push(Assertion::Log(l));
        }
        if let Some(c) = a.clock {
            self.component(&c.component, "assert.clock.component")?;
            found.push(Assertion::Clock(c));
        }
        if let Some(f) = a.file {
            self.component(&f.component, "assert.file.component")?;
            if f.size.is_some() && !f.exists {
                return Err(self.at("assert.file: `size` needs `exists = true`".to_string()));
            }
            found.push(Assertion::File(f));
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            n => Err(self.at(format!(
                "assert: {n} checks in one assert; expected exactly one of `height`, `wallet_sat`, `channels`, `channel_balance`, `htlcs`, `payments`, `running`, `log`, `clock`, `file`"
            ))),
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}
