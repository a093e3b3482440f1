//! What a parsed scenario is: its topology, its steps and their actions,
//! triggers and assertions, and how each describes itself in reports.

use std::path::PathBuf;

use super::spec::{
    self, BackupSpec, ChannelSpec, CloseSpec, DiskSpec, EventKind, ExpectSpec, FundSpec,
    OpenChannelSpec, PaySpec, RecoverChannelsSpec, RecoverOnchainSpec, RecoverSpec,
    RefusesStartSpec, SnapshotSpec, StashSpec, VlsdRecoverSpec,
};
use crate::fault::Fault;
use crate::node::SignerChoice;
use lnnode_api::SignerMoment;

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
    /// Nodes that run Core Lightning (the rest run lnnode).
    pub cln_nodes: Vec<String>,
    /// Core Lightning nodes' forced feerate (sat per 1000 weight units).
    pub feerates: Vec<(String, u32)>,
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

    pub fn kind_of(&self, node: &str) -> crate::node::NodeKind {
        if self.cln_nodes.iter().any(|n| n == node) {
            crate::node::NodeKind::Cln
        } else {
            crate::node::NodeKind::Lnnode
        }
    }

    pub fn has_node(&self, name: &str) -> bool {
        self.nodes.iter().any(|(n, _)| n == name)
    }

    /// Nodes whose vlsd can be snapshotted and restored.
    pub(super) fn has_vlsd(&self, node: &str) -> bool {
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
    RefusesStart(RefusesStartSpec),
    Snapshot(SnapshotSpec),
    Recover(RecoverSpec),
    VlsdRecover(VlsdRecoverSpec),
    Destroy(String),
    Backup(BackupSpec),
    RecoverOnchain(RecoverOnchainSpec),
    RecoverChannels(RecoverChannelsSpec),
    Withdraw(String),
    Stash(StashSpec),
    BroadcastStash(String),
    SweepStash(String),
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
    /// The `nth` fsync of `file` (a path suffix inside the datadir) by a
    /// component on the power-cut layer after arming, held by the layer
    /// before any of it is durable until the fault is applied.
    Fsync {
        name: String,
        component: String,
        file: String,
        nth: u32,
    },
}

impl Trigger {
    pub fn name(&self) -> &str {
        match self {
            Trigger::NodeEvent { name, .. }
            | Trigger::SignerRequest { name, .. }
            | Trigger::SignerCall { name, .. }
            | Trigger::Fsync { name, .. } => name,
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
            Trigger::Fsync {
                component,
                file,
                nth,
                ..
            } => format!(
                "{} fsync of {file} by {component}, held before it is durable",
                ordinal(*nth)
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
            Action::Close(c) if !c.wait => format!("close {} (not waited)", c.channel),
            Action::Close(c) => format!("close {}", c.channel),
            Action::ForceClose(c) if !c.wait => format!("force-close {} (not waited)", c.channel),
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
            Action::RefusesStart(r) => format!("{} refuses to start", r.component),
            Action::Snapshot(s) => format!("snapshot vlsd-{} as {}", s.signer, s.name),
            Action::Recover(r) => format!("restore vlsd-{} from {}", r.signer, r.from),
            Action::VlsdRecover(r) => format!("vlsd --recover-to on vlsd-{}'s state", r.signer),
            Action::Destroy(c) => format!("destroy {c} (its disk is gone)"),
            Action::Backup(b) => format!("back up vlsd-{} as {}", b.signer, b.name),
            Action::RecoverOnchain(r) => {
                format!(
                    "recover {}'s funds on chain from backup {}",
                    r.signer, r.from
                )
            }
            Action::RecoverChannels(r) => format!(
                "{} recovers its channels from a static channel backup of {}",
                r.node, r.from
            ),
            Action::Withdraw(n) => format!("{n} withdraws its on-chain wallet"),
            Action::Stash(s) => format!(
                "{} stashes its commitment of {} as {}",
                s.by, s.channel, s.name
            ),
            Action::BroadcastStash(n) => format!("broadcast stashed commitment {n}"),
            Action::SweepStash(n) => format!("the cheater sweeps its output of stash {n}"),
            Action::Assert(a) => format!("assert {}", describe_assertion(a)),
        }
    }
}

fn describe_assertion(a: &Assertion) -> String {
    match a {
        Assertion::Height(h) => format!("height = {h}"),
        Assertion::WalletSat(s) => format!("wallet = {s} sat"),
        Assertion::Channels(c) => format!(
            "{} has {} channels{}",
            c.node,
            c.count,
            c.state
                .map(|s| format!(" {}", format!("{s:?}").to_lowercase()))
                .unwrap_or_default()
        ),
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
        Assertion::Log(l) if l.count == Some(0) => {
            format!("{} log has no line with {:?}", l.component, l.contains)
        }
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

impl Scenario {
    /// Components whose wall clock a step skews (started with libfaketime).
    pub fn skewed_components(&self) -> Vec<String> {
        self.targets_of(|f| matches!(f, Fault::ClockSkew { .. }))
    }

    /// Components a step cuts the power of (started on the agent's
    /// write-buffering layer).
    /// Components on the power-cut layer: power cuts' targets, and the
    /// components whose fsyncs a checkpoint holds (the layer holds them).
    pub fn power_cut_components(&self) -> Vec<String> {
        let mut out = self.targets_of(|f| matches!(f, Fault::PowerCut { .. }));
        for s in &self.steps {
            if let Some(Trigger::Fsync { component, .. }) = &s.when {
                if !out.contains(component) {
                    out.push(component.clone());
                }
            }
        }
        out
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
}
