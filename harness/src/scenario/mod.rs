//! Scenario files (TOML): topology, ordered steps, and what must hold.
//!
//! Parsing is strict: unknown keys are errors, and every error names the
//! file, line, column, field and what was expected. The format is
//! documented in docs/scenarios.md; its JSON Schema comes from [`spec`].

pub mod matrix;
pub mod spec;

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{HarnessError, Result};
use crate::fault::Fault;
use crate::node::SignerChoice;
pub use lnnode_api::SignerMoment;

pub use spec::{
    AssertSpec, ChannelSpec, CloseSpec, DiskSpec, EventKind, ExpectSpec, FundSpec, OpenChannelSpec,
    PayOutcome, PaySpec, RecoverSpec, SnapshotSpec, WaitSpec,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub path: PathBuf,
    /// The file's name, with the matrix case in brackets (`name[at=reply]`).
    pub name: String,
    /// The matrix case (`key=value,...`); empty for a file without a matrix.
    pub case: String,
    pub description: String,
    pub seed: u64,
    pub topology: Topology,
    pub steps: Vec<Step>,
    pub expect: ExpectSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Topology {
    pub bitcoind: bool,
    /// Lightning nodes and who signs for each.
    pub nodes: Vec<(String, SignerChoice)>,
    /// vlsd signers without a node.
    pub signers: Vec<String>,
    pub channels: Vec<ChannelSpec>,
    pub disks: Vec<DiskSpec>,
    pub fund_sat: u64,
    /// fsync each power-cut vlsd's seed file after start (see `TopologySpec`).
    pub sync_seed: bool,
    /// vlsd nodes whose lnnode keeps VLS's client deferring holder-commitment
    /// validation after a restart (see `NodeSpec`).
    pub defer_restored_validation: Vec<String>,
    /// Components Docker starts again when they exit with an error.
    pub supervised: Vec<String>,
}

impl Topology {
    /// Names of every component this topology starts.
    pub fn components(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.bitcoind {
            out.push("bitcoind".to_string());
        }
        for (n, s) in &self.nodes {
            out.push(n.clone());
            if *s == SignerChoice::Vlsd {
                out.push(format!("vlsd-{n}"));
            }
        }
        out.extend(self.signers.iter().map(|n| format!("vlsd-{n}")));
        out
    }

    pub fn has_node(&self, name: &str) -> bool {
        self.nodes.iter().any(|(n, _)| n == name)
    }

    /// Nodes whose vlsd can be snapshotted and restored.
    fn has_vlsd(&self, node: &str) -> bool {
        self.nodes
            .iter()
            .any(|(n, s)| n == node && *s == SignerChoice::Vlsd)
            || self.signers.iter().any(|s| s == node)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub label: String,
    pub action: Action,
    /// For a fault: fire at this checkpoint instead of at once.
    pub when: Option<Trigger>,
    /// 1-based line of the step in its file, for reports and errors.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Mine(u64),
    MineUntilSettled(u32),
    Fund(FundSpec),
    OpenChannel(OpenChannelSpec),
    Pay(PaySpec),
    Settle(String),
    Fail(String),
    Close(CloseSpec),
    ForceClose(CloseSpec),
    WaitFor(Wait),
    Fault(Fault),
    Heal(String),
    Snapshot(SnapshotSpec),
    Recover(RecoverSpec),
    Assert(Assertion),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    Event {
        node: String,
        event: EventKind,
        timeout_secs: u64,
    },
    Checkpoint {
        name: String,
        timeout_secs: u64,
    },
    Payments {
        node: String,
        timeout_secs: u64,
    },
}

/// A lifecycle checkpoint a fault waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The `nth` such event on `node` after arming.
    NodeEvent {
        name: String,
        node: String,
        event: EventKind,
        nth: u32,
    },
    /// The `nth` request of type `request` in `signer`'s log after arming.
    SignerRequest {
        name: String,
        signer: String,
        request: String,
        nth: u32,
    },
    /// The `nth` signer request of type `request` that vlsd-signed `node`
    /// makes after arming, held by the node at `at` until the fault is applied.
    SignerCall {
        name: String,
        node: String,
        request: String,
        nth: u32,
        at: SignerMoment,
    },
}

impl Trigger {
    pub fn name(&self) -> &str {
        match self {
            Trigger::NodeEvent { name, .. }
            | Trigger::SignerRequest { name, .. }
            | Trigger::SignerCall { name, .. } => name,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Trigger::NodeEvent {
                node, event, nth, ..
            } => format!("{} {event:?} on {node}", ordinal(*nth)),
            Trigger::SignerRequest {
                signer,
                request,
                nth,
                ..
            } => format!("{} {request} on {signer}", ordinal(*nth)),
            Trigger::SignerCall {
                node,
                request,
                nth,
                at,
                ..
            } => format!(
                "{} {request} of {node}, held {}",
                ordinal(*nth),
                match at {
                    SignerMoment::Request => "before vlsd sees it",
                    SignerMoment::Reply => "after vlsd answered",
                }
            ),
        }
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assertion {
    Height(u64),
    WalletSat(u64),
    Channels(spec::ChannelsAssert),
    ChannelBalance(spec::BalanceAssert),
    Htlcs(spec::CountAssert),
    Payments(spec::PaymentsAssert),
    Running(spec::RunningAssert),
    Log(spec::LogAssert),
    Clock(spec::ClockAssert),
    File(spec::FileAssert),
}

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::Mine(n) => format!("mine {n}"),
            Action::Fund(f) => format!("fund {} with {} sat", f.node, f.sat),
            Action::MineUntilSettled(n) => format!("mine until settled (max {n})"),
            Action::OpenChannel(o) => format!(
                "open channel {} -> {} ({} sat{})",
                o.from,
                o.to,
                o.capacity_sat,
                match (o.pending, o.confirm) {
                    (false, _) => ", negotiating",
                    (true, false) => ", unconfirmed",
                    (true, true) => "",
                }
            ),
            Action::Pay(p) => {
                let what = match &p.hold {
                    Some(h) => format!("hold payment {h}"),
                    None if p.count == 1 => "pay".to_string(),
                    None => format!("{} payments", p.count),
                };
                format!("{what} {} -> {} ({} msat)", p.from, p.to, p.amount_msat)
            }
            Action::Settle(h) => format!("settle {h}"),
            Action::Fail(h) => format!("fail {h}"),
            Action::Close(c) => format!("close {}", c.channel),
            Action::ForceClose(c) => format!("force-close {}", c.channel),
            Action::WaitFor(Wait::Event { node, event, .. }) => {
                format!("wait for {event:?} on {node}")
            }
            Action::WaitFor(Wait::Checkpoint { name, .. }) => format!("wait for checkpoint {name}"),
            Action::WaitFor(Wait::Payments { node, .. }) => {
                format!("wait for {node}'s payments to end")
            }
            Action::Fault(f) => f.to_string(),
            Action::Heal(c) => format!("heal {c}"),
            Action::Snapshot(s) => format!("snapshot vlsd-{} as {}", s.signer, s.name),
            Action::Recover(r) => format!("restore vlsd-{} from {}", r.signer, r.from),
            Action::Assert(a) => format!("assert {}", describe_assertion(a)),
        }
    }
}

fn describe_assertion(a: &Assertion) -> String {
    match a {
        Assertion::Height(h) => format!("height = {h}"),
        Assertion::WalletSat(s) => format!("wallet = {s} sat"),
        Assertion::Channels(c) => format!("{} has {} channels", c.node, c.count),
        Assertion::ChannelBalance(b) => {
            format!("{} local on {} = {} msat", b.node, b.channel, b.local_msat)
        }
        Assertion::Htlcs(c) => format!("{} has {} HTLCs", c.node, c.count),
        Assertion::Payments(p) => format!("{} payments {:?}", p.node, p.status),
        Assertion::Running(r) => format!(
            "{} {}",
            r.component,
            if r.running { "running" } else { "down" }
        ),
        Assertion::Log(l) => format!("{} log contains {:?}", l.component, l.contains),
        Assertion::Clock(c) => format!("{} clock {:+}s", c.component, c.offset_secs),
        Assertion::File(f) => match f.size {
            Some(n) if f.exists => format!("{}:{} has {n} bytes", f.component, f.path),
            _ => format!(
                "{}:{} {}",
                f.component,
                f.path,
                if f.exists { "exists" } else { "absent" }
            ),
        },
    }
}

const ACTIONS: &str = "one of `mine`, `mine_until_settled`, `fund`, `open_channel`, `pay`, `settle`, `fail`, `close`, `force_close`, `wait_for`, `fault`, `heal`, `snapshot`, `recover`, `assert`";

impl Scenario {
    /// Reads and validates a scenario file without a matrix (or with one case).
    pub fn load(path: &Path) -> Result<Scenario> {
        let mut all = Scenario::load_all(path)?;
        if all.len() != 1 {
            return Err(HarnessError::ScenarioFile {
                path: path.to_path_buf(),
                reason: format!(
                    "a matrix of {} cases; run it with `harness run` (or pick one with --case)",
                    all.len()
                ),
            });
        }
        Ok(all.remove(0))
    }

    /// Reads and validates a scenario file: one scenario per matrix case.
    pub fn load_all(path: &Path) -> Result<Vec<Scenario>> {
        let text = std::fs::read_to_string(path).map_err(|e| HarnessError::ScenarioFile {
            path: path.to_path_buf(),
            reason: match e.kind() {
                std::io::ErrorKind::NotFound => "no such scenario file".to_string(),
                _ => format!("cannot read: {e}"),
            },
        })?;
        Scenario::parse_all(path, &text)
    }

    /// Parses scenario text with a matrix into its cases; `path` is used
    /// for messages only.
    pub fn parse_all(path: &Path, text: &str) -> Result<Vec<Scenario>> {
        let err_at = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            HarnessError::ScenarioParse {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        // The matrix is read first. Placeholders may stand where TOML wants
        // a number or a boolean (`nth = ${nth}`), so each reads as 0 here;
        // only `[matrix]` is taken from this parse.
        let head: spec::MatrixOnly = toml::from_str(&matrix::blank(text)).map_err(|e| {
            err_at(
                e.span().map(|s| s.start).unwrap_or(0),
                e.message().trim().to_string(),
            )
        })?;
        let span = head.matrix.span();
        let cases =
            matrix::cases(head.matrix.get_ref()).map_err(|e| err_at(span.start, e.to_string()))?;
        let mut out = Vec::new();
        for case in cases {
            let rendered = case.render(text);
            if let Some((offset, key)) = matrix::leftover(&rendered) {
                return Err(err_at(
                    offset,
                    format!("`${{{key}}}` is not a key of [matrix]"),
                ));
            }
            let mut s = Scenario::parse(path, &rendered)?;
            s.case = case.label();
            if !s.case.is_empty() {
                s.name = format!("{}[{}]", s.name, s.case);
            }
            out.push(s);
        }
        Ok(out)
    }

    /// Components whose wall clock a step skews (started with libfaketime).
    pub fn skewed_components(&self) -> Vec<String> {
        self.targets_of(|f| matches!(f, Fault::ClockSkew { .. }))
    }

    /// Components a step cuts the power of (started on the agent's
    /// write-buffering layer).
    pub fn power_cut_components(&self) -> Vec<String> {
        self.targets_of(|f| matches!(f, Fault::PowerCut { .. }))
    }

    fn targets_of(&self, kind: impl Fn(&Fault) -> bool) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.steps {
            if let Action::Fault(f) = &s.action {
                if kind(f) && !out.iter().any(|c| c == f.target()) {
                    out.push(f.target().to_string());
                }
            }
        }
        out
    }

    /// Parses scenario text; `path` is used for messages only.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario> {
        let err_at = |span: Option<Range<usize>>, message: String| {
            let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            HarnessError::ScenarioParse {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let spec: spec::ScenarioFile =
            toml::from_str(text).map_err(|e| err_at(e.span(), e.message().trim().to_string()))?;
        let topology = topology(spec.topology.get_ref(), |m| {
            err_at(Some(spec.topology.span()), m)
        })?;
        let components = topology.components();

        let mut steps: Vec<Step> = Vec::new();
        let mut holds: Vec<String> = Vec::new();
        let mut snapshots: Vec<String> = Vec::new();
        let mut checkpoints: Vec<String> = Vec::new();
        let mut channels: Vec<String> = topology.channels.iter().map(ChannelSpec::name).collect();
        for (i, spanned) in spec.steps.into_iter().enumerate() {
            let span = spanned.span();
            let line = line_col(text, span.start).0;
            let s = spanned.into_inner();
            let at = |message: String| err_at(Some(span.clone()), format!("steps[{i}]: {message}"));
            let component = |c: &str, field: &str| -> Result<()> {
                if components.iter().any(|k| k == c) {
                    Ok(())
                } else {
                    Err(at(format!(
                        "{field}: no component `{c}` in the topology (expected one of: {})",
                        components.join(", ")
                    )))
                }
            };
            let node = |n: &str, field: &str| -> Result<()> {
                if topology.has_node(n) {
                    Ok(())
                } else {
                    Err(at(format!(
                        "{field}: no node `{n}` in topology.nodes (expected one of: {})",
                        topology
                            .nodes
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            };
            let vlsd = |n: &str, field: &str| -> Result<()> {
                if topology.has_vlsd(n) {
                    Ok(())
                } else {
                    Err(at(format!(
                        "{field}: `{n}` has no vlsd signer (expected a node with signer = \"vlsd\")"
                    )))
                }
            };
            let channel = |c: &str, known: &[String], field: &str| -> Result<()> {
                if known.iter().any(|k| k == c) {
                    Ok(())
                } else {
                    Err(at(format!(
                        "{field}: no channel `{c}` opened before this step (known: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    )))
                }
            };

            let mut actions = Vec::new();
            if let Some(n) = s.mine {
                actions.push(Action::Mine(n));
            }
            if let Some(n) = s.mine_until_settled {
                actions.push(Action::MineUntilSettled(n));
            }
            if let Some(f) = s.fund {
                node(&f.node, "fund.node")?;
                if f.sat == 0 {
                    return Err(at("fund.sat: expected 1 or more".to_string()));
                }
                actions.push(Action::Fund(f));
            }
            if let Some(o) = s.open_channel {
                node(&o.from, "open_channel.from")?;
                node(&o.to, "open_channel.to")?;
                if !o.pending && o.confirm {
                    return Err(at(
                        "open_channel.confirm: expected `confirm = false` with `pending = false` (nothing is broadcast to confirm)"
                            .to_string(),
                    ));
                }
                let name = o
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{}-{}", o.from, o.to));
                if o.pending {
                    channels.push(name.clone());
                }
                actions.push(Action::OpenChannel(OpenChannelSpec {
                    name: Some(name),
                    ..o
                }));
            }
            if let Some(p) = s.pay {
                node(&p.from, "pay.from")?;
                node(&p.to, "pay.to")?;
                if p.count == 0 {
                    return Err(at("pay.count: expected 1 or more".to_string()));
                }
                if let Some(h) = &p.hold {
                    if p.count != 1 || !p.wait || p.outcome != PayOutcome::Sent {
                        return Err(at(
                            "pay.hold: a hold payment is one payment that is waited on; drop count, wait and outcome"
                                .to_string(),
                        ));
                    }
                    if holds.contains(h) {
                        return Err(at(format!("pay.hold: `{h}` is already used")));
                    }
                    holds.push(h.clone());
                }
                actions.push(Action::Pay(p));
            }
            for (h, field, settle) in [(s.settle, "settle", true), (s.fail, "fail", false)] {
                if let Some(h) = h {
                    if !holds.contains(&h) {
                        return Err(at(format!(
                            "{field}: no hold payment `{h}` before this step"
                        )));
                    }
                    actions.push(if settle {
                        Action::Settle(h)
                    } else {
                        Action::Fail(h)
                    });
                }
            }
            for (c, force) in [(s.close, false), (s.force_close, true)] {
                if let Some(c) = c {
                    let field = if force { "force_close" } else { "close" };
                    channel(&c.channel, &channels, &format!("{field}.channel"))?;
                    if let Some(by) = &c.by {
                        node(by, &format!("{field}.by"))?;
                    }
                    actions.push(if force {
                        Action::ForceClose(c)
                    } else {
                        Action::Close(c)
                    });
                }
            }
            if let Some(w) = s.wait_for {
                let t = w.timeout_secs;
                let wait = match (&w.node, w.event, &w.checkpoint, &w.payments) {
                    (Some(n), Some(event), None, None) => {
                        node(n, "wait_for.node")?;
                        Wait::Event {
                            node: n.clone(),
                            event,
                            timeout_secs: t,
                        }
                    }
                    (None, None, Some(c), None) => {
                        if !checkpoints.contains(c) {
                            return Err(at(format!(
                                "wait_for.checkpoint: no fault with checkpoint `{c}` armed before this step"
                            )));
                        }
                        Wait::Checkpoint {
                            name: c.clone(),
                            timeout_secs: t,
                        }
                    }
                    (None, None, None, Some(n)) => {
                        node(n, "wait_for.payments")?;
                        Wait::Payments {
                            node: n.clone(),
                            timeout_secs: t,
                        }
                    }
                    _ => return Err(at(
                        "wait_for: expected `node` with `event`, or `checkpoint`, or `payments`"
                            .to_string(),
                    )),
                };
                actions.push(Action::WaitFor(wait));
            }
            if let Some(f) = s.fault {
                component(f.target(), "fault.target")?;
                if let Some(p) = f.peer() {
                    component(p, "fault.peer")?;
                }
                f.validate().map_err(|m| at(format!("fault: {m}")))?;
                if matches!(f, Fault::PowerCut { .. }) && f.target() == "bitcoind" {
                    return Err(at(
                        "fault: power_cut works on nodes and signers (their images carry the agent), not bitcoind"
                            .to_string(),
                    ));
                }
                let has_disk = topology.disks.iter().any(|d| d.component == f.target());
                if matches!(f, Fault::DiskFull { .. }) && !has_disk {
                    return Err(at(format!(
                        "fault: disk_full needs `{}` in topology.disks (a small tmpfs datadir to fill)",
                        f.target()
                    )));
                }
                if has_disk && (f.takes_down() || matches!(f, Fault::Restart { .. })) {
                    return Err(at(format!(
                        "fault: `{}` keeps its datadir on a tmpfs (topology.disks), which a stop would erase; \
                         give it no disk entry to stop or restart it",
                        f.target()
                    )));
                }
                actions.push(Action::Fault(f));
            } else if s.when.is_some() {
                return Err(at("when: only valid together with `fault`".to_string()));
            }
            if let Some(c) = s.heal {
                component(&c, "heal")?;
                actions.push(Action::Heal(c));
            }
            if let Some(sn) = s.snapshot {
                vlsd(&sn.signer, "snapshot.signer")?;
                if snapshots.contains(&sn.name) {
                    return Err(at(format!("snapshot.name: `{}` is already used", sn.name)));
                }
                snapshots.push(sn.name.clone());
                actions.push(Action::Snapshot(sn));
            }
            if let Some(r) = s.recover {
                vlsd(&r.signer, "recover.signer")?;
                if !snapshots.contains(&r.from) {
                    return Err(at(format!(
                        "recover.from: no snapshot `{}` taken before this step",
                        r.from
                    )));
                }
                actions.push(Action::Recover(r));
            }
            if let Some(a) = s.assert {
                actions.push(Action::Assert(assertion(a, &component, &node).map_err(
                    |e| match e {
                        Bad::Message(m) => at(m),
                        Bad::Error(e) => e,
                    },
                )?));
            }

            let action = match actions.len() {
                1 => actions.remove(0),
                0 => return Err(at(format!("no action: expected {ACTIONS}"))),
                n => {
                    return Err(at(format!(
                        "{n} actions in one step: expected exactly {ACTIONS}"
                    )))
                }
            };
            let needs_bitcoind = matches!(
                action,
                Action::Mine(_)
                    | Action::MineUntilSettled(_)
                    | Action::Fund(_)
                    | Action::Assert(Assertion::Height(_))
                    | Action::Assert(Assertion::WalletSat(_))
            );
            if needs_bitcoind && !topology.bitcoind {
                return Err(at(format!(
                    "`{}` needs `topology.bitcoind = true`",
                    action.describe()
                )));
            }
            let label = s.label.unwrap_or_else(|| action.describe());
            let when = match s.when {
                None => None,
                Some(w) => {
                    let name = w.name.clone().unwrap_or_else(|| label.clone());
                    if checkpoints.contains(&name) {
                        return Err(at(format!(
                            "when.name: checkpoint `{name}` is already used"
                        )));
                    }
                    checkpoints.push(name.clone());
                    let nth = w.nth.unwrap_or(1);
                    if nth == 0 {
                        return Err(at("when.nth: expected 1 or more".to_string()));
                    }
                    Some(match (w.event, w.node, w.signer_request, w.signer, w.signer_call) {
                        (None, Some(n), None, None, Some(request)) => {
                            node(&n, "when.node")?;
                            if !topology
                                .nodes
                                .iter()
                                .any(|(x, s)| *x == n && *s == SignerChoice::Vlsd)
                            {
                                return Err(at(format!(
                                    "when.node: `{n}` does not sign through vlsd; `signer_call` holds a vlsd node's requests"
                                )));
                            }
                            if !is_request_name(&request) {
                                return Err(at(format!("when.signer_call: `{request}` is not a request type name like ValidateCommitmentTx2")));
                            }
                            Trigger::SignerCall {
                                name,
                                node: n,
                                request,
                                nth,
                                at: w.at.unwrap_or(SignerMoment::Request),
                            }
                        }
                        (Some(event), Some(n), None, None, None) => {
                            node(&n, "when.node")?;
                            Trigger::NodeEvent {
                                name,
                                node: n,
                                event,
                                nth,
                            }
                        }
                        (None, None, Some(request), Some(signer), None) => {
                            component(&signer, "when.signer")?;
                            if !signer.starts_with("vlsd-") {
                                return Err(at(format!(
                                    "when.signer: `{signer}` is not a vlsd (expected `vlsd-<node>`)"
                                )));
                            }
                            Trigger::SignerRequest {
                                name,
                                signer,
                                request,
                                nth,
                            }
                        }
                        _ => return Err(at(
                            "when: expected `event` with `node`, `signer_request` with `signer`, or `signer_call` with `node`"
                                .to_string(),
                        )),
                    })
                }
            };
            steps.push(Step {
                label,
                action,
                when,
                line,
            });
        }

        Ok(Scenario {
            path: path.to_path_buf(),
            name: spec.name,
            case: String::new(),
            description: spec.description,
            seed: spec.seed.unwrap_or(0),
            topology,
            steps,
            expect: spec.expect,
        })
    }
}

enum Bad {
    Message(String),
    Error(HarnessError),
}

impl From<HarnessError> for Bad {
    fn from(e: HarnessError) -> Self {
        Bad::Error(e)
    }
}

fn assertion(
    a: AssertSpec,
    component: &dyn Fn(&str, &str) -> Result<()>,
    node: &dyn Fn(&str, &str) -> Result<()>,
) -> std::result::Result<Assertion, Bad> {
    let mut found = Vec::new();
    if let Some(h) = a.height {
        found.push(Assertion::Height(h));
    }
    if let Some(s) = a.wallet_sat {
        found.push(Assertion::WalletSat(s));
    }
    if let Some(c) = a.channels {
        node(&c.node, "assert.channels.node")?;
        found.push(Assertion::Channels(c));
    }
    if let Some(b) = a.channel_balance {
        node(&b.node, "assert.channel_balance.node")?;
        found.push(Assertion::ChannelBalance(b));
    }
    if let Some(c) = a.htlcs {
        node(&c.node, "assert.htlcs.node")?;
        found.push(Assertion::Htlcs(c));
    }
    if let Some(p) = a.payments {
        node(&p.node, "assert.payments.node")?;
        if p.count.is_some() == p.at_least.is_some() {
            return Err(Bad::Message(
                "assert.payments: expected exactly one of `count`, `at_least`".to_string(),
            ));
        }
        found.push(Assertion::Payments(p));
    }
    if let Some(r) = a.running {
        component(&r.component, "assert.running.component")?;
        found.push(Assertion::Running(r));
    }
    if let Some(l) = a.log {
        component(&l.component, "assert.log.component")?;
        found.push(Assertion::Log(l));
    }
    if let Some(c) = a.clock {
        component(&c.component, "assert.clock.component")?;
        found.push(Assertion::Clock(c));
    }
    if let Some(f) = a.file {
        component(&f.component, "assert.file.component")?;
        if f.size.is_some() && !f.exists {
            return Err(Bad::Message(
                "assert.file: `size` needs `exists = true`".to_string(),
            ));
        }
        found.push(Assertion::File(f));
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        n => Err(Bad::Message(format!(
            "assert: {n} checks in one assert; expected exactly one of `height`, `wallet_sat`, `channels`, `channel_balance`, `htlcs`, `payments`, `running`, `log`, `clock`, `file`"
        ))),
    }
}

fn topology(t: &spec::TopologySpec, err: impl Fn(String) -> HarnessError) -> Result<Topology> {
    let mut names: Vec<String> = Vec::new();
    let mut check_name = |n: &str, field: &str| -> Result<()> {
        if !is_dns_label(n) {
            return Err(err(format!(
                "{field}: `{n}` is not a valid name (expected lower-case letters, digits and `-`)"
            )));
        }
        if n == "bitcoind" || n.starts_with("vlsd-") || names.iter().any(|x| x == n) {
            return Err(err(format!("{field}: `{n}` appears twice or is reserved")));
        }
        names.push(n.to_string());
        Ok(())
    };
    let mut nodes = Vec::new();
    let mut defer_restored_validation = Vec::new();
    for n in &t.nodes {
        check_name(&n.name, "topology.nodes")?;
        nodes.push((n.name.clone(), n.signer));
        if n.defer_restored_validation {
            if n.signer != SignerChoice::Vlsd {
                return Err(err(format!(
                    "topology.nodes: `{}`: defer_restored_validation is about VLS's client; the node needs `signer = \"vlsd\"`",
                    n.name
                )));
            }
            defer_restored_validation.push(n.name.clone());
        }
    }
    let mut signers = Vec::new();
    for s in &t.signers {
        check_name(s, "topology.signers")?;
        signers.push(s.clone());
    }
    if !nodes.is_empty() && !t.bitcoind {
        return Err(err(
            "topology.nodes: Lightning nodes need `bitcoind = true`".to_string(),
        ));
    }
    let topo = Topology {
        bitcoind: t.bitcoind,
        nodes,
        signers,
        channels: t.channels.clone(),
        disks: t.disks.clone(),
        fund_sat: t.fund_sat,
        sync_seed: t.sync_seed,
        defer_restored_validation,
        supervised: t.supervised.clone(),
    };
    let components = topo.components();
    let mut channel_names: Vec<String> = Vec::new();
    for c in &topo.channels {
        for n in [&c.from, &c.to] {
            if !topo.has_node(n) {
                return Err(err(format!(
                    "topology.channels: no node `{n}` in topology.nodes"
                )));
            }
        }
        if c.from == c.to {
            return Err(err(format!("topology.channels: `{}` to itself", c.from)));
        }
        if c.push_sat >= c.capacity_sat {
            return Err(err(format!(
                "topology.channels: push_sat {} must be below capacity_sat {}",
                c.push_sat, c.capacity_sat
            )));
        }
        let name = c.name();
        if channel_names.contains(&name) {
            return Err(err(format!("topology.channels: `{name}` appears twice")));
        }
        channel_names.push(name);
    }
    for c in &topo.supervised {
        if !components.contains(c) {
            return Err(err(format!(
                "topology.supervised: no component `{c}` (expected one of: {})",
                components.join(", ")
            )));
        }
    }
    for d in &topo.disks {
        if !components.contains(&d.component) {
            return Err(err(format!(
                "topology.disks: no component `{}` (expected one of: {})",
                d.component,
                components.join(", ")
            )));
        }
        if d.size_mb == 0 {
            return Err(err("topology.disks: size_mb must be at least 1".to_string()));
        }
    }
    Ok(topo)
}

/// The shape of a VLS protocol request type name (`SignRemoteCommitmentTx2`);
/// whether the protocol has it, the signer (log) or node (breakpoint) knows.
pub fn is_request_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
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

/// The JSON Schema of the file format, as checked in at docs/scenario.schema.json.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(spec::ScenarioFile);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests;
