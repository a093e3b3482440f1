//! Runs one scenario against a fresh cluster: setup (chain, funding,
//! channels), the steps in order with armed checkpoints firing alongside,
//! then the final checks. Everything it does is an event ([`RunEvent`]);
//! the report and the progress display are built from those. Every wait has
//! a timeout that names what it waited for; all randomness comes from the
//! seed. On failure the run directory keeps an artifact bundle; resources
//! are removed either way.
//!
//! Parts: `setup` (cluster and chain), `steps` and `pay` (one function per
//! step kind), `assert` (assert steps), `armed` (checkpoints), `checks`
//! (final checks), `state` (what steps share), `events` (the event stream).

mod armed;
mod assert;
mod books;
mod cheat;
mod checks;
mod disaster;
mod events;
mod exits;
mod pay;
mod quiet;
mod scb;
mod setup;
mod state;
mod steps;
mod upstream;

use std::path::Path;
use std::time::Instant;

use crate::checker;
use crate::cluster::Cluster;
use crate::error::{HarnessError, Result};
use crate::report::event::{RunEvent, StepOutcome};
use crate::report::{Phase, RunReport};
use crate::scenario::{Action, Scenario, Step};

use armed::Armed;
use events::Events;
use state::World;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Keep containers, network and volumes after the run.
    pub keep: bool,
}

/// Runs `scenario`. `Err` only when no cluster could be started at all
/// (Docker unreachable, image build failed); step failures are a FAIL report.
pub async fn run(scenario: &Scenario, opts: &RunOptions) -> Result<RunReport> {
    let started = Instant::now();
    let seed = opts.seed.unwrap_or(scenario.seed);
    tracing::info!(scenario = %scenario.name, seed, "run starting");
    let mut report = RunReport::new(&scenario.name, "", std::path::Path::new(""));
    report.file = scenario.path.clone();
    report.case = scenario.case.clone();
    report.seed = seed;
    report
        .figures_vary
        .clone_from(&scenario.expect.figures_vary);
    let events = Events::new(started, report);
    events.emit(RunEvent::ClusterStarting {
        scenario: scenario.name.clone(),
    });
    let mut cluster = setup::cluster_builder(scenario).start().await?;
    cluster.resources_mut().set_keep(opts.keep);
    events.emit(RunEvent::ClusterUp {
        run_id: cluster.run_id().to_string(),
        run_dir: cluster.run_dir().to_path_buf(),
        components: cluster.components(),
        phases: cluster.startup().to_vec(),
    });

    let outcome = {
        let world = World::new(&cluster, &events, seed);
        let error = drive(scenario, &world).await.err().map(|e| e.to_string());
        if let Some(e) = &error {
            events.emit(RunEvent::RunFailed { error: e.clone() });
        }
        note_supervisor_restarts(&world, &scenario.topology.supervised).await;
        let failed_checks = world.state().failed_checks.clone();
        Outcome {
            error,
            failed_checks,
        }
    };
    finish(scenario, cluster, events, outcome).await
}

/// How the steps and checks ended.
struct Outcome {
    error: Option<String>,
    failed_checks: Vec<String>,
}

/// Artifacts on failure, teardown, the finding judged (its logs are
/// complete only now), and the report written out.
async fn finish(
    scenario: &Scenario,
    cluster: Cluster,
    events: Events,
    outcome: Outcome,
) -> Result<RunReport> {
    let run_dir = cluster.run_dir().to_path_buf();
    if outcome.error.is_some() {
        let t = Instant::now();
        crate::artifacts::collect(&cluster).await;
        events.emit(RunEvent::Phase {
            label: "artifacts".to_string(),
            took: t.elapsed(),
            phase: Phase::Teardown,
        });
    }
    let t = Instant::now();
    let teardown = cluster.shutdown().await;
    events.emit(RunEvent::Phase {
        label: "teardown".to_string(),
        took: t.elapsed(),
        phase: Phase::Teardown,
    });
    if let Err(e) = teardown {
        events.emit(RunEvent::RunFailed {
            error: format!("teardown: {e}"),
        });
    }
    judge_finding(scenario, &run_dir, &outcome, &events);
    let report = events.into_report();
    if let Err(e) = report.write_all() {
        tracing::warn!(error = %e, "could not write the run report");
    }
    Ok(report)
}

/// Holds the run against the finding it reproduces, if any.
fn judge_finding(scenario: &Scenario, run_dir: &Path, outcome: &Outcome, events: &Events) {
    let (Some(id), Some(sig)) = (&scenario.expect.finding, &scenario.expect.signature) else {
        return;
    };
    let log = sig.log.as_ref().and_then(|l| {
        let path = run_dir.join("logs").join(format!("{}.log", l.component));
        std::fs::read_to_string(&path)
            .inspect_err(|e| tracing::warn!(path = %path.display(), error = %e, "log not read"))
            .ok()
    });
    let seen = checker::Observed {
        error: outcome.error.as_deref(),
        failed_checks: &outcome.failed_checks,
        log: log.as_deref(),
    };
    let (verdict, check) = checker::finding(id, sig, scenario.expect.intermittent, &seen);
    let error = (!verdict.as_expected()).then(|| check.detail.clone());
    events.emit(RunEvent::CheckDone(check));
    events.emit(RunEvent::Judged { verdict, error });
}

/// A supervised component that Docker started again crashed by itself: the
/// run goes on, as the operator's would, and the timeline says so.
async fn note_supervisor_restarts(world: &World<'_>, supervised: &[String]) {
    for name in supervised {
        let Ok(c) = world.cluster.container(name) else {
            continue;
        };
        match c.status().await {
            Ok(s) if s.restarts > 0 => world.events.emit(RunEvent::ComponentRestarted {
                text: format!("{name} exited with an error and its supervisor started it again"),
                detail: format!(
                    "{} restart(s); last exit code {}; see logs/{name}.log",
                    s.restarts,
                    s.exit_code.map_or("?".to_string(), |c| c.to_string())
                ),
            }),
            _ => {}
        }
    }
}

/// Setup, the steps (arming checkpoints as they come), the checkpoints'
/// end, then the final checks. The first failure ends the run.
async fn drive(scenario: &Scenario, world: &World<'_>) -> Result<()> {
    let t = Instant::now();
    let chain_start = setup::setup(scenario, world).await?;
    world.events.emit(RunEvent::Phase {
        label: "setup (chain, funds, channels)".to_string(),
        took: t.elapsed(),
        phase: Phase::Setup,
    });
    world.events.emit(RunEvent::Setup {
        text: "setup done".to_string(),
        detail: None,
    });
    let mut armed = Armed::default();
    for (i, step) in scenario.steps.iter().enumerate() {
        if let (Some(trigger), Action::Fault(fault)) = (&step.when, &step.action) {
            armed.arm(world, i, step, trigger, fault).await?;
            continue;
        }
        run_step(scenario, world, &mut armed, i, step).await?;
    }
    armed.finish(world, scenario).await?;

    let t = Instant::now();
    let (checks, figures, settled) = checks::final_checks(scenario, world, chain_start).await;
    if !figures.is_empty() {
        world.events.emit(RunEvent::Figures { lines: figures });
    }
    world.events.emit(RunEvent::Phase {
        label: "settle".to_string(),
        took: settled,
        phase: Phase::Settle,
    });
    world.events.emit(RunEvent::Phase {
        label: "checks".to_string(),
        took: t.elapsed().saturating_sub(settled),
        phase: Phase::Checks,
    });
    let failed: Vec<&crate::report::CheckResult> = checks.iter().filter(|c| !c.passed()).collect();
    world.state().failed_checks = failed.iter().map(|c| c.name.clone()).collect();
    let failed: Vec<String> = failed
        .iter()
        .map(|c| format!("{} ({}): {}", c.name, c.verdict.word(), c.detail))
        .collect();
    for c in checks {
        world.events.emit(RunEvent::CheckDone(c));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(HarnessError::Assertion(failed.join("; ")))
    }
}

/// Runs one step while armed checkpoints fire alongside it.
async fn run_step<'a>(
    scenario: &Scenario,
    world: &'a World<'a>,
    armed: &mut Armed<'a>,
    i: usize,
    step: &Step,
) -> Result<()> {
    world.events.emit(RunEvent::StepStarted {
        step: i,
        of: scenario.steps.len(),
        label: step.label.clone(),
    });
    let t = Instant::now();
    let exec = steps::execute(world, step);
    tokio::pin!(exec);
    let gone = exits::unexpected_exit(world, step);
    tokio::pin!(gone);
    let result = loop {
        tokio::select! {
            r = &mut exec => break r,
            e = &mut gone => break Err(e),
            (idx, fired) = armed.next(), if !armed.is_empty() => {
                if let Err(e) = armed.on_fired(world, scenario, idx, fired) {
                    break Err(e);
                }
            }
        }
    };
    // A crash in the step's last moments is a crash of this step too.
    let result = match result {
        Ok(detail) => match exits::down_after(world, step, &scenario.steps).await {
            Some(e) => Err(e),
            None => Ok(detail),
        },
        e => e,
    };
    let outcome = match &result {
        Ok(detail) => StepOutcome::Done {
            detail: detail.clone(),
        },
        Err(e) => StepOutcome::Failed {
            error: e.to_string(),
        },
    };
    world.events.emit(RunEvent::StepEnded {
        step: i,
        line: step.line,
        label: step.label.clone(),
        took: t.elapsed(),
        outcome,
    });
    result.map(|_| ()).map_err(|e| {
        HarnessError::Assertion(format!(
            "{}:{}: step {} ({}): {e}",
            scenario.path.display(),
            step.line,
            i,
            step.label
        ))
    })
}
