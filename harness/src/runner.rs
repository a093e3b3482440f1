//! Runs one scenario against a fresh cluster: setup (chain, funding,
//! channels), the steps in order with armed checkpoints firing alongside,
//! then the checker. Every wait has a timeout that names what it waited
//! for; all randomness comes from the seed. On failure the run directory
//! keeps an artifact bundle; resources are removed either way.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::checker;
use crate::checkpoint::{Reached, Watch};
use crate::cluster::{Cluster, ClusterBuilder};
use crate::error::{HarnessError, Result};
use crate::fault::{Fault, Injector};
use crate::lightning;
use crate::node::{ChannelState, Node, NodeEvent, PaymentStatus, SignerChoice};
use crate::progress;
use crate::report::{
    CheckResult, CheckpointResult, Entry, EntryKind, RunReport, StepResult, Verdict,
};
use crate::scenario::{
    Action, Assertion, CloseSpec, OpenChannelSpec, PayOutcome, PaySpec, Scenario, Step, Trigger,
    Wait,
};
use crate::wait;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Keep containers, network and volumes after the run.
    pub keep: bool,
}

/// A hold payment in flight.
#[derive(Debug, Clone)]
struct Hold {
    payer: String,
    payee: String,
    preimage: String,
    hash: String,
}

/// A vlsd state taken by a `snapshot` step.
struct Taken {
    snapshot: vls_recovery::Snapshot,
}

/// Everything steps share during one run.
struct World<'a> {
    cluster: &'a Cluster,
    started: Instant,
    injector: tokio::sync::Mutex<Injector>,
    rng: Mutex<ChaCha8Rng>,
    holds: Mutex<HashMap<String, Hold>>,
    channels: Mutex<HashMap<String, (String, String)>>,
    /// Payments sent without waiting: (payer, payment hash).
    unwaited: Mutex<Vec<(String, String)>>,
    snapshots: Mutex<HashMap<String, Taken>>,
    timeline: Mutex<Vec<Entry>>,
    fired: Mutex<Vec<(String, u64)>>,
}

impl World<'_> {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn log(&self, kind: EntryKind, text: impl Into<String>, detail: Option<String>) {
        let entry = Entry {
            at_ms: self.now_ms(),
            kind,
            text: text.into(),
            detail,
        };
        if let Ok(mut t) = self.timeline.lock() {
            t.push(entry);
        }
    }

    fn channel_id(&self, name: &str) -> Result<(String, String)> {
        self.channels
            .lock()
            .ok()
            .and_then(|c| c.get(name).cloned())
            .ok_or_else(|| {
                HarnessError::component("runner", format!("channel `{name}` is not open"))
            })
    }

    async fn apply_fault(&self, fault: &Fault) -> Result<String> {
        let mut inj = self.injector.lock().await;
        inj.apply(self.cluster, fault).await
    }
}

/// Runs `scenario`. `Err` only when no cluster could be started at all
/// (Docker unreachable, image build failed); step failures are a FAIL report.
pub async fn run(scenario: &Scenario, opts: &RunOptions) -> Result<RunReport> {
    let started = Instant::now();
    let seed = opts.seed.unwrap_or(scenario.seed);
    tracing::info!(scenario = %scenario.name, seed, "run starting");

    let mut builder = ClusterBuilder::default();
    let topo = &scenario.topology;
    if topo.bitcoind {
        builder = builder.bitcoind();
    }
    for (name, signer) in &topo.nodes {
        builder = builder.node(name, *signer);
    }
    for node in &topo.signers {
        builder = builder.signer(node);
    }
    for node in &topo.defer_restored_validation {
        builder = builder.with_deferred_validation(node);
    }
    for c in &topo.supervised {
        builder = builder.with_supervisor(c);
    }
    for c in scenario.skewed_components() {
        builder = builder.with_faketime(c);
    }
    for c in scenario.power_cut_components() {
        builder = builder.with_power_cut(c);
    }
    for d in &topo.disks {
        builder = builder.with_disk_mb(&d.component, d.size_mb);
    }
    let step = progress::Step::begin(format!("{}: cluster up", scenario.name));
    let mut cluster = builder.start().await?;
    step.finish("ready");
    cluster.resources_mut().set_keep(opts.keep);

    let mut report = RunReport::new(&scenario.name, cluster.run_id(), cluster.run_dir());
    report.file = scenario.path.clone();
    report.case = scenario.case.clone();
    report.seed = seed;
    for (label, took) in cluster.startup() {
        report.push(label, *took);
    }

    let world = World {
        cluster: &cluster,
        started,
        injector: tokio::sync::Mutex::new(Injector::new(seed)),
        rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        holds: Mutex::new(HashMap::new()),
        channels: Mutex::new(HashMap::new()),
        unwaited: Mutex::new(Vec::new()),
        snapshots: Mutex::new(HashMap::new()),
        timeline: Mutex::new(Vec::new()),
        fired: Mutex::new(Vec::new()),
    };
    world.log(
        EntryKind::Setup,
        "cluster up",
        Some(cluster.components().join(", ")),
    );

    let outcome = drive(scenario, &world, &mut report).await;
    if let Err(e) = outcome {
        report.verdict = Verdict::Fail;
        report.error.get_or_insert_with(|| e.to_string());
    }
    note_supervisor_restarts(&world, &scenario.topology.supervised).await;
    report.timeline = world.timeline.lock().map(|t| t.clone()).unwrap_or_default();
    drop(world);

    if report.verdict == Verdict::Fail {
        let t = Instant::now();
        crate::artifacts::collect(&cluster, &report).await;
        report.push("artifacts", t.elapsed());
    }
    let t = Instant::now();
    let teardown = cluster.shutdown().await;
    report.push("teardown", t.elapsed());
    if let Err(e) = teardown {
        report.verdict = Verdict::Fail;
        report.error.get_or_insert_with(|| format!("teardown: {e}"));
    }
    report.total_seconds = started.elapsed().as_secs_f64();
    if let Err(e) = report.write_all() {
        tracing::warn!(error = %e, "could not write the run report");
    }
    Ok(report)
}

/// A supervised component that Docker started again crashed by itself: the
/// run goes on, as the operator's would, and the timeline says so.
async fn note_supervisor_restarts(world: &World<'_>, supervised: &[String]) {
    for name in supervised {
        let Ok(c) = world.cluster.container(name) else {
            continue;
        };
        match c.status().await {
            Ok(s) if s.restarts > 0 => world.log(
                EntryKind::Fault,
                format!("{name} exited with an error and its supervisor started it again"),
                Some(format!(
                    "{} restart(s); last exit code {}; see logs/{name}.log",
                    s.restarts,
                    s.exit_code.map_or("?".to_string(), |c| c.to_string())
                )),
            ),
            _ => {}
        }
    }
}

type Armed<'a> = BoxFuture<'a, (usize, Result<(Reached, String)>)>;

async fn drive(scenario: &Scenario, world: &World<'_>, report: &mut RunReport) -> Result<()> {
    let t = Instant::now();
    let chain_start = setup(scenario, world).await?;
    report.push("setup (chain, funds, channels)", t.elapsed());
    world.log(EntryKind::Setup, "setup done", None);

    let mut armed: FuturesUnordered<Armed<'_>> = FuturesUnordered::new();
    let mut checkpoints: Vec<(usize, CheckpointResult)> = Vec::new();
    let mut failure: Option<HarnessError> = None;

    for (i, step) in scenario.steps.iter().enumerate() {
        if let (Some(trigger), Action::Fault(fault)) = (&step.when, &step.action) {
            let watch = Watch::arm(world.cluster, trigger).await?;
            world.log(
                EntryKind::Armed,
                format!("{}: {} when {}", trigger.name(), fault, trigger.describe()),
                None,
            );
            checkpoints.push((
                i,
                CheckpointResult {
                    name: trigger.name().to_string(),
                    trigger: trigger.describe(),
                    fault: fault.to_string(),
                    fired: false,
                    at_ms: None,
                },
            ));
            let fault = fault.clone();
            armed.push(
                async move {
                    let out = async {
                        let mut reached = watch.reached(world.cluster).await?;
                        if let Some((node, _)) = &reached.held {
                            // The node is still, so vlsd's state is the one
                            // this moment of the exchange left.
                            let state = signer_commitments(world.cluster, node).await;
                            reached.evidence = format!("{}; {state}", reached.evidence);
                        }
                        let applied = world.apply_fault(&fault).await;
                        if let Some((node, id)) = &reached.held {
                            release_held(world.cluster, node, *id).await;
                        }
                        Ok((reached, applied?))
                    }
                    .await;
                    (i, out)
                }
                .boxed(),
            );
            report.steps.push(StepResult {
                index: i,
                line: step.line,
                label: step.label.clone(),
                ok: true,
                seconds: 0.0,
            });
            continue;
        }

        let bar = progress::Step::begin(format!(
            "[{}/{}] {}",
            i + 1,
            scenario.steps.len(),
            step.label
        ));
        let t = Instant::now();
        world.log(EntryKind::Step, &step.label, None);
        let exec = execute(world, step);
        tokio::pin!(exec);
        let result = loop {
            tokio::select! {
                r = &mut exec => break r,
                Some((idx, fired)) = armed.next(), if !armed.is_empty() => {
                    if let Err(e) = on_fired(world, scenario, idx, fired, &mut checkpoints) {
                        break Err(e);
                    }
                }
            }
        };
        let took = t.elapsed();
        report.push(&step.label, took);
        report.steps.push(StepResult {
            index: i,
            line: step.line,
            label: step.label.clone(),
            ok: result.is_ok(),
            seconds: took.as_secs_f64(),
        });
        match result {
            Ok(detail) => {
                bar.finish("ok");
                if let Some(d) = detail {
                    let kind = match step.action {
                        Action::Fault(_) | Action::Heal(_) => EntryKind::Fault,
                        _ => EntryKind::StepDone,
                    };
                    world.log(kind, &step.label, Some(d));
                }
            }
            Err(e) => {
                bar.finish("FAILED");
                world.log(EntryKind::StepFailed, &step.label, Some(e.to_string()));
                failure = Some(HarnessError::Assertion(format!(
                    "{}:{}: step {} ({}): {e}",
                    scenario.path.display(),
                    step.line,
                    i,
                    step.label
                )));
                break;
            }
        }
    }

    // Checkpoints still armed at the end: give them a moment (a trigger may
    // be in flight), then they count as never reached.
    if failure.is_none() {
        let deadline = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(deadline);
        while !armed.is_empty() {
            tokio::select! {
                _ = &mut deadline => break,
                Some((idx, fired)) = armed.next() => {
                    if let Err(e) = on_fired(world, scenario, idx, fired, &mut checkpoints) {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
    }
    drop(armed);
    // Report checkpoints in firing order, then the ones that never fired.
    let mut cps: Vec<CheckpointResult> = checkpoints.into_iter().map(|(_, c)| c).collect();
    cps.sort_by_key(|c| (c.at_ms.is_none(), c.at_ms));
    let never: Vec<String> = cps
        .iter()
        .filter(|c| !c.fired)
        .map(|c| format!("{} ({})", c.name, c.trigger))
        .collect();
    report.checkpoints = cps;
    if failure.is_none() && !never.is_empty() {
        failure = Some(HarnessError::Assertion(format!(
            "checkpoints never reached: {}",
            never.join(", ")
        )));
    }
    if let Some(e) = failure {
        return Err(e);
    }

    let t = Instant::now();
    let checks = final_checks(scenario, world, chain_start).await;
    report.push("checks", t.elapsed());
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    for c in &checks {
        world.log(EntryKind::Check, &c.name, Some(c.detail.clone()));
    }
    report.checks = checks;
    if !failed.is_empty() {
        return Err(HarnessError::Assertion(failed.join("; ")));
    }
    Ok(())
}

/// vlsd's commitment numbers for each of `node`'s channels, from its state
/// on disk (read while the container is paused).
async fn signer_commitments(cluster: &Cluster, node: &str) -> String {
    let signer = match cluster.signer(node) {
        Ok(s) => s,
        Err(e) => return format!("vlsd state not read: {e}"),
    };
    match crate::artifacts::snapshot_signer(signer).await {
        Ok((snapshot, _)) => {
            let parts: Vec<String> = snapshot
                .channels
                .iter()
                .map(|c| {
                    format!(
                        "{} next_holder_commit_num {}, next_counterparty_commit_num {}",
                        c.label(),
                        c.next_holder_commit_num,
                        c.next_counterparty_commit_num
                    )
                })
                .collect();
            format!("vlsd-{node}: {}", parts.join("; "))
        }
        Err(e) => format!("vlsd-{node} state not read: {e}"),
    }
}

/// Lets the node go on past a held request, if the fault left it running.
async fn release_held(cluster: &Cluster, node: &str, id: u64) {
    let Ok(n) = cluster.node(node) else { return };
    if let Err(e) = n.release_breakpoint(id).await {
        // A killed or stopped node has nothing left to release.
        tracing::debug!(node, id, error = %e, "breakpoint not released");
    }
}

fn on_fired(
    world: &World<'_>,
    scenario: &Scenario,
    idx: usize,
    fired: Result<(Reached, String)>,
    checkpoints: &mut [(usize, CheckpointResult)],
) -> Result<()> {
    let step = &scenario.steps[idx];
    let name = step
        .when
        .as_ref()
        .map(Trigger::name)
        .unwrap_or_default()
        .to_string();
    match fired {
        Ok((reached, detail)) => {
            let at = world.now_ms();
            world.log(
                EntryKind::Fired,
                format!("{name}: {}", step.action.describe()),
                Some(format!("{}; {detail}", reached.evidence)),
            );
            if let Ok(mut f) = world.fired.lock() {
                f.push((name.clone(), at));
            }
            if let Some((_, c)) = checkpoints.iter_mut().find(|(i, _)| *i == idx) {
                c.fired = true;
                c.at_ms = Some(at);
            }
            Ok(())
        }
        Err(e) => Err(HarnessError::Assertion(format!(
            "{}:{}: checkpoint {name}: {e}",
            scenario.path.display(),
            step.line
        ))),
    }
}

/// Mines the first coins, funds the nodes and opens the topology's
/// channels. Returns the height from which penalties are looked for.
async fn setup(scenario: &Scenario, world: &World<'_>) -> Result<u64> {
    let topo = &scenario.topology;
    if topo.sync_seed {
        for (_, signer) in world.cluster.signers() {
            if signer.container().buffers_writes() {
                signer.sync_seed().await?;
            }
        }
    }
    let Ok(b) = world.cluster.bitcoind() else {
        return Ok(0);
    };
    b.mine(101).await?;
    if topo.nodes.is_empty() {
        return b.height().await;
    }
    let nodes: Vec<_> = world.cluster.nodes().collect();
    let mut addrs = Vec::new();
    for n in &nodes {
        addrs.push((n, n.new_address().await?));
    }
    for (_, a) in &addrs {
        b.send_to(a, topo.fund_sat).await?;
    }
    b.mine(1).await?;
    for n in &nodes {
        lightning::wait_funded(n, topo.fund_sat).await?;
    }
    let start = b.height().await?;
    if !topo.channels.is_empty() {
        let mut pending = Vec::new();
        for c in &topo.channels {
            let id = lightning::open_pending(world.cluster, &c.from, &c.to, c.capacity_sat).await?;
            pending.push((c, id));
        }
        b.mine(6).await?;
        for (c, id) in &pending {
            lightning::wait_usable(world.cluster, &c.from, &c.to, id).await?;
            if let Ok(mut m) = world.channels.lock() {
                m.insert(c.name(), (id.clone(), c.from.clone()));
            }
            world.log(
                EntryKind::Setup,
                format!("channel {} usable", c.name()),
                Some(id.clone()),
            );
        }
        for (c, _) in &pending {
            if c.push_sat > 0 {
                let (from, to) = (world.cluster.node(&c.from)?, world.cluster.node(&c.to)?);
                let outcome = lightning::pay(from, to, c.push_sat * 1000).await?;
                if !matches!(outcome, lightning::Paid::Sent { .. }) {
                    return Err(HarnessError::Assertion(format!(
                        "setup: pushing {} sat over {}: {outcome:?}",
                        c.push_sat,
                        c.name()
                    )));
                }
                lightning::wait_no_htlcs(from).await?;
                lightning::wait_no_htlcs(to).await?;
            }
        }
    }
    for (name, signer) in &topo.nodes {
        if *signer == SignerChoice::Vlsd {
            lightning::wait_signer_chain_synced(world.cluster, name).await?;
        }
    }
    Ok(start)
}

/// Runs one step. `Ok(Some(detail))` for steps whose effect is worth a
/// timeline line of its own (faults).
async fn execute(world: &World<'_>, step: &Step) -> Result<Option<String>> {
    let cluster = world.cluster;
    match &step.action {
        Action::Mine(n) => {
            cluster.bitcoind()?.mine(*n).await?;
            // A node partitioned from bitcoind cannot catch up until healed;
            // waiting for it would only burn the step's timeout.
            let cut_off = world.injector.lock().await.partitioned_from("bitcoind");
            let nodes: Vec<_> = cluster
                .nodes()
                .filter(|n| !cut_off.iter().any(|c| c == n.name()))
                .collect();
            lightning::wait_synced_best_effort(cluster, &nodes).await;
            Ok(None)
        }
        Action::Fund(f) => {
            lightning::fund(cluster, cluster.node(&f.node)?, f.sat).await?;
            Ok(None)
        }
        Action::MineUntilSettled(max) => {
            let nodes: Vec<_> = cluster.nodes().collect();
            let mined = lightning::mine_until_settled(cluster, &nodes, *max).await?;
            Ok(Some(format!("{mined} blocks")))
        }
        Action::OpenChannel(o) => open_channel(world, o).await.map(Some),
        Action::Pay(p) => pay(world, p).await,
        Action::Settle(h) | Action::Fail(h) => {
            let settle = matches!(step.action, Action::Settle(_));
            let hold = world
                .holds
                .lock()
                .ok()
                .and_then(|m| m.get(h).cloned())
                .ok_or_else(|| {
                    HarnessError::component("runner", format!("no hold payment `{h}`"))
                })?;
            let payee = cluster.node(&hold.payee)?;
            let payer = cluster.node(&hold.payer)?;
            if settle {
                payee.settle(&hold.hash, &hold.preimage).await?;
            } else {
                payee.fail(&hold.hash).await?;
            }
            let want = if settle {
                PaymentStatus::Succeeded
            } else {
                PaymentStatus::Failed
            };
            lightning::wait_payment_status(payer, &hold.hash, want, lightning::STEP).await?;
            Ok(None)
        }
        Action::Close(c) => close(world, c, false).await.map(Some),
        Action::ForceClose(c) => close(world, c, true).await.map(Some),
        Action::WaitFor(w) => wait_for(world, w).await.map(|_| None),
        Action::Fault(f) => world.apply_fault(f).await.map(Some),
        Action::Heal(target) => {
            let healed = world.injector.lock().await.heal(cluster, target).await?;
            Ok(Some(format!("healed: {}", healed.join("; "))))
        }
        Action::Snapshot(s) => {
            let signer = cluster.signer(&s.signer)?;
            let (snapshot, json) = crate::artifacts::snapshot_signer(signer).await?;
            let dir = cluster.run_dir().join("snapshots");
            std::fs::create_dir_all(&dir).map_err(HarnessError::io(&dir))?;
            let path = dir.join(format!("{}.json", s.name));
            std::fs::write(&path, json).map_err(HarnessError::io(&path))?;
            let detail = format!(
                "{} channels, {} store entries -> {}",
                snapshot.channels.len(),
                snapshot.store.len(),
                path.display()
            );
            if let Ok(mut m) = world.snapshots.lock() {
                m.insert(s.name.clone(), Taken { snapshot });
            }
            Ok(Some(detail))
        }
        Action::Recover(r) => {
            let snapshot = world
                .snapshots
                .lock()
                .ok()
                .and_then(|m| m.get(&r.from).map(|t| t.snapshot.clone()))
                .ok_or_else(|| {
                    HarnessError::component("runner", format!("no snapshot `{}`", r.from))
                })?;
            let signer = cluster.signer(&r.signer)?;
            let outcome = crate::artifacts::restore_signer(signer, &snapshot, &r.from).await;
            let name = signer.container().name().to_string();
            let detail = match (outcome, &r.expect_error) {
                (Ok(d), None) => d,
                (Ok(d), Some(code)) => {
                    return Err(HarnessError::Assertion(format!(
                        "restore of {name} from {} succeeded ({d}), expected {code}",
                        r.from
                    )))
                }
                (Err(e), Some(code)) if e.code() == Some(code.as_str()) => {
                    format!("refused as expected: {e}")
                }
                (Err(e), _) => return Err(e.into_harness()),
            };
            world
                .injector
                .lock()
                .await
                .after_start(cluster, &name)
                .await?;
            if let Ok(n) = cluster.node(&r.signer) {
                n.wait_ready().await?;
            }
            Ok(Some(detail))
        }
        Action::Assert(a) => assert(world, a).await.map(|_| None),
    }
}

async fn open_channel(world: &World<'_>, o: &OpenChannelSpec) -> Result<String> {
    let cluster = world.cluster;
    if !o.pending {
        return match lightning::request_open(cluster, &o.from, &o.to, o.capacity_sat).await {
            Ok(_) => Ok(format!("{} asked {} to open a channel", o.from, o.to)),
            // The opener went down while it took the request (a fault
            // fired mid-request); what became of the channel is for the
            // later steps to see.
            Err(HarnessError::Rpc { reason, .. }) => Ok(format!(
                "{} went down while asking {} to open a channel: {reason}",
                o.from, o.to
            )),
            Err(e) => Err(e),
        };
    }
    let id = lightning::open_pending(cluster, &o.from, &o.to, o.capacity_sat).await?;
    if o.confirm {
        cluster.bitcoind()?.mine(6).await?;
        lightning::wait_usable(cluster, &o.from, &o.to, &id).await?;
    }
    let name = o
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", o.from, o.to));
    if let Ok(mut m) = world.channels.lock() {
        m.insert(name, (id.clone(), o.from.clone()));
    }
    Ok(format!("channel {id}"))
}

async fn pay(world: &World<'_>, p: &PaySpec) -> Result<Option<String>> {
    let cluster = world.cluster;
    let (from, to) = (cluster.node(&p.from)?, cluster.node(&p.to)?);
    if let Some(name) = &p.hold {
        let (preimage, hash) = {
            let mut rng = world
                .rng
                .lock()
                .map_err(|_| HarnessError::component("runner", "rng poisoned"))?;
            lightning::preimage(&mut *rng)
        };
        lightning::hold_htlc(to, from, p.amount_msat, &hash).await?;
        if let Ok(mut m) = world.holds.lock() {
            m.insert(
                name.clone(),
                Hold {
                    payer: p.from.clone(),
                    payee: p.to.clone(),
                    preimage,
                    hash: hash.clone(),
                },
            );
        }
        return Ok(Some(format!("held {hash}")));
    }
    if p.outcome == PayOutcome::Refused {
        let mut reasons = Vec::new();
        for i in 0..p.count {
            let invoice = to.invoice(p.amount_msat, None).await?;
            match from.pay(&invoice.invoice).await {
                Ok(hash) => {
                    return Err(HarnessError::Assertion(format!(
                        "payment {} of {} was accepted for sending ({hash}), expected a refusal",
                        i + 1,
                        p.count
                    )))
                }
                Err(e) => reasons.push(e.to_string()),
            }
        }
        return Ok(Some(format!("refused: {}", reasons.join("; "))));
    }
    let (mut sent, mut failed) = (0u32, 0u32);
    for _ in 0..p.count {
        if !p.wait {
            let invoice = to.invoice(p.amount_msat, None).await?;
            match from.pay(&invoice.invoice).await {
                Ok(_) => {}
                // The payer went down while it was sending (a fault fired
                // mid-request): whether the payment left is for its own
                // records to say once it is back (`wait_for.payments`).
                Err(HarnessError::Rpc { reason, .. }) => world.log(
                    EntryKind::Step,
                    format!(
                        "{} went down while sending {}",
                        p.from, invoice.payment_hash
                    ),
                    Some(reason),
                ),
                Err(e) => return Err(e),
            }
            if let Ok(mut u) = world.unwaited.lock() {
                u.push((p.from.clone(), invoice.payment_hash.clone()));
            }
            continue;
        }
        match lightning::pay(from, to, p.amount_msat).await? {
            lightning::Paid::Sent { .. } => sent += 1,
            lightning::Paid::Failed { reason, .. } => {
                failed += 1;
                if p.outcome == PayOutcome::Sent {
                    return Err(HarnessError::Assertion(format!(
                        "payment {} of {} failed: {reason}",
                        sent + failed,
                        p.count
                    )));
                }
            }
        }
    }
    if p.wait && p.outcome == PayOutcome::Failed && sent > 0 {
        return Err(HarnessError::Assertion(format!(
            "{sent} of {} payments succeeded, expected all to fail",
            p.count
        )));
    }
    Ok(p.wait.then(|| format!("{sent} sent, {failed} failed")))
}

async fn close(world: &World<'_>, c: &CloseSpec, force: bool) -> Result<String> {
    let (id, opener) = world.channel_id(&c.channel)?;
    let by = c.by.clone().unwrap_or(opener);
    let node = world.cluster.node(&by)?;
    if force {
        node.force_close_channel(&id).await?;
    } else {
        node.close_channel(&id).await?;
    }
    // Closed once the node no longer lists it (the closing or commitment
    // transaction is then broadcast).
    wait::until(
        &format!("{by}: channel {} closed", c.channel),
        lightning::STEP,
        || async {
            let chans = node.channels().await.map_err(|e| e.to_string())?;
            if chans.iter().any(|ch| ch.channel_id == id) {
                Err("still listed".to_string())
            } else {
                Ok(())
            }
        },
    )
    .await?;
    Ok(format!(
        "{} {id} by {by}",
        if force { "force-closed" } else { "closed" }
    ))
}

async fn wait_for(world: &World<'_>, w: &Wait) -> Result<()> {
    let cluster = world.cluster;
    match w {
        Wait::Event {
            node,
            event,
            timeout_secs,
        } => {
            let n = cluster.node(node)?;
            let kind = *event;
            let pred = move |e: &NodeEvent| kind.matches(e);
            n.wait_event(
                &format!("{event:?}"),
                Duration::from_secs(*timeout_secs),
                &pred,
            )
            .await
            .map(|_| ())
        }
        Wait::Checkpoint { name, timeout_secs } => {
            wait::until(
                &format!("checkpoint {name} reached"),
                Duration::from_secs(*timeout_secs),
                || async {
                    let fired = world
                        .fired
                        .lock()
                        .map(|f| f.iter().any(|(n, _)| n == name))
                        .unwrap_or(false);
                    if fired {
                        Ok(())
                    } else {
                        Err("not yet".to_string())
                    }
                },
            )
            .await
        }
        Wait::Payments { node, timeout_secs } => {
            let n = cluster.node(node)?;
            let mine: Vec<String> = world
                .unwaited
                .lock()
                .map(|u| {
                    u.iter()
                        .filter(|(p, _)| p == node)
                        .map(|(_, h)| h.clone())
                        .collect()
                })
                .unwrap_or_default();
            wait::until(
                &format!("{node}: {} payments ended", mine.len()),
                Duration::from_secs(*timeout_secs),
                || async {
                    let payments = n.payments().await.map_err(|e| e.to_string())?;
                    let open = mine
                        .iter()
                        .filter(|h| {
                            payments.iter().any(|p| {
                                &&p.payment_hash == h
                                    && matches!(
                                        p.status,
                                        PaymentStatus::Pending | PaymentStatus::Held
                                    )
                            })
                        })
                        .count();
                    if open == 0 {
                        Ok(())
                    } else {
                        Err(format!("{open} still pending"))
                    }
                },
            )
            .await
        }
    }
}

async fn assert(world: &World<'_>, a: &Assertion) -> Result<()> {
    let cluster = world.cluster;
    let fail = |m: String| Err(HarnessError::Assertion(m));
    match a {
        Assertion::Height(want) => {
            let got = cluster.bitcoind()?.height().await?;
            if got != *want {
                return fail(format!("bitcoind height is {got}, expected {want}"));
            }
        }
        Assertion::WalletSat(want) => {
            let got = cluster.bitcoind()?.balance_sat().await?;
            if got != *want {
                return fail(format!(
                    "bitcoind wallet balance is {got} sat, expected {want} sat"
                ));
            }
        }
        Assertion::Channels(c) => {
            let n = cluster.node(&c.node)?;
            // Channel state settles within moments of a reconnect: poll.
            wait::until(
                &format!(
                    "{}: {} channels{}",
                    c.node,
                    c.count,
                    c.state.map(|s| format!(" {s:?}")).unwrap_or_default()
                ),
                lightning::STEP,
                || async {
                    let chans = n.channels().await.map_err(|e| e.to_string())?;
                    let states: Vec<ChannelState> = chans.iter().map(|c| c.state).collect();
                    let ok = chans.len() == c.count
                        && c.state.is_none_or(|s| states.iter().all(|x| *x == s));
                    if ok {
                        Ok(())
                    } else {
                        Err(format!("{} channels, states {states:?}", chans.len()))
                    }
                },
            )
            .await?;
        }
        Assertion::ChannelBalance(b) => {
            let (id, _) = world.channel_id(&b.channel)?;
            let n = cluster.node(&b.node)?;
            lightning::wait_no_htlcs(n).await?;
            let chans = n.channels().await?;
            let got = chans
                .iter()
                .find(|c| c.channel_id == id)
                .map(|c| c.local_balance_msat)
                .ok_or_else(|| {
                    HarnessError::Assertion(format!(
                        "{} does not list channel {}",
                        b.node, b.channel
                    ))
                })?;
            if got != b.local_msat {
                return fail(format!(
                    "{} local balance on {} is {got} msat, expected {} msat",
                    b.node, b.channel, b.local_msat
                ));
            }
        }
        Assertion::Htlcs(c) => {
            let n = cluster.node(&c.node)?;
            wait::until(
                &format!("{}: {} HTLCs in flight", c.node, c.count),
                lightning::STEP,
                || async {
                    let chans = n.channels().await.map_err(|e| e.to_string())?;
                    let got: usize = chans.iter().map(|c| c.pending_htlcs.len()).sum();
                    if got == c.count {
                        Ok(())
                    } else {
                        Err(format!("{got} HTLCs"))
                    }
                },
            )
            .await?;
        }
        Assertion::Payments(p) => {
            let n = cluster.node(&p.node)?;
            let got = n
                .payments()
                .await?
                .iter()
                .filter(|x| x.status == p.status)
                .count();
            let ok = match (p.count, p.at_least) {
                (Some(c), _) => got == c,
                (_, Some(m)) => got >= m,
                _ => true,
            };
            if !ok {
                return fail(format!(
                    "{} has {got} payments {:?}, expected {}",
                    p.node,
                    p.status,
                    p.count
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| format!("at least {}", p.at_least.unwrap_or(0)))
                ));
            }
        }
        Assertion::Running(r) => {
            // Polled: a process that was told to stop takes a moment to exit.
            let c = cluster.container(&r.component)?;
            let want = if r.running { "running" } else { "down" };
            wait::until(
                &format!("{} {want}", r.component),
                Duration::from_secs(30),
                || async {
                    let s = c.status().await.map_err(|e| e.to_string())?;
                    if (s.running && !s.paused) == r.running {
                        Ok(())
                    } else {
                        Err(format!("{} is {}", r.component, s.status))
                    }
                },
            )
            .await
            .map_err(|e| HarnessError::Assertion(format!("expected {want}: {e}")))?;
        }
        Assertion::Log(l) => {
            let text = cluster.container(&l.component)?.log_text().await;
            let got = text.matches(&l.contains).count();
            let want = l.count.unwrap_or(1);
            let ok = if want == 0 { got == 0 } else { got >= want };
            if !ok {
                return fail(format!(
                    "{} log has {got} lines with {:?}, expected {}",
                    l.component,
                    l.contains,
                    if want == 0 {
                        "none".to_string()
                    } else {
                        format!("at least {want}")
                    }
                ));
            }
        }
        Assertion::Clock(c) => {
            let container = cluster.container(&c.component)?;
            let skew = wait::until(
                &format!("{}: clock {:+}s", c.component, c.offset_secs),
                Duration::from_secs(10),
                || async {
                    let out = container
                        .exec(&["date", "+%s"])
                        .await
                        .map_err(|e| e.to_string())?;
                    let theirs: i64 = out
                        .stdout
                        .trim()
                        .parse()
                        .map_err(|_| format!("date said {:?}", out.stdout))?;
                    let ours = vls_recovery::backup::now_ms() as i64 / 1000;
                    let skew = theirs - ours;
                    if (skew - c.offset_secs).abs() <= 5 {
                        Ok(skew)
                    } else {
                        Err(format!("offset {skew:+}s"))
                    }
                },
            )
            .await?;
            tracing::info!(component = %c.component, skew, "clock offset checked");
        }
        Assertion::File(f) => {
            let c = cluster.container(&f.component)?;
            let exists = c.file_exists(&f.path).await?;
            if exists != f.exists {
                return fail(format!(
                    "{}:{} {}, expected {}",
                    f.component,
                    f.path,
                    if exists { "exists" } else { "is absent" },
                    if f.exists { "present" } else { "absent" }
                ));
            }
            if let (true, Some(want)) = (exists, f.size) {
                let size = c.read_file(&f.path).await?.len() as u64;
                if size != want {
                    return fail(format!(
                        "{}:{} has {size} bytes on disk, expected {want}",
                        f.component, f.path
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Conservation and penalties, on a settled chain.
async fn final_checks(
    scenario: &Scenario,
    world: &World<'_>,
    chain_start: u64,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let cluster = world.cluster;
    if cluster.bitcoind().is_err() || scenario.topology.nodes.is_empty() {
        return out;
    }
    let nodes: Vec<_> = cluster.nodes().collect();
    if scenario.expect.conservation {
        let result = async {
            lightning::mine_until_settled(cluster, &nodes, 400).await?;
            let ledger = checker::ledger(cluster).await?;
            let opened = world.channels.lock().map(|c| c.len()).unwrap_or(0) as u64;
            let mut open = std::collections::BTreeSet::new();
            for n in &nodes {
                for c in n.channels().await? {
                    open.insert(c.channel_id);
                }
            }
            let closed = opened.saturating_sub(open.len() as u64);
            let bound = checker::ROUNDING_SAT + checker::ANCHORS_SAT * closed;
            Ok::<_, HarnessError>(ledger.check(bound))
        }
        .await;
        out.push(result.unwrap_or_else(|e| CheckResult {
            name: "conservation".to_string(),
            ok: false,
            detail: e.to_string(),
        }));
    }
    let penalties = checker::penalties(cluster, chain_start).await;
    out.push(match penalties {
        Ok(p) => {
            let ok = p.is_empty() != scenario.expect.penalty;
            CheckResult {
                name: "penalty".to_string(),
                ok,
                detail: if p.is_empty() {
                    format!(
                        "no revocation spend on chain{}",
                        if scenario.expect.penalty {
                            ", but the scenario expects one"
                        } else {
                            ""
                        }
                    )
                } else {
                    format!(
                        "{} revocation spends{}: {}",
                        p.len(),
                        if scenario.expect.penalty {
                            " (expected)"
                        } else {
                            ""
                        },
                        p.iter()
                            .map(|x| format!(
                                "{}:{} ({}) at {}",
                                x.txid, x.input, x.output, x.height
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            }
        }
        Err(e) => CheckResult {
            name: "penalty".to_string(),
            ok: false,
            detail: e.to_string(),
        },
    });
    out
}
