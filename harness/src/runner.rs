//! Runs one scenario against a fresh cluster: setup, steps in order, then
//! teardown, timing each. A failing step ends the run with a FAIL verdict;
//! resources are removed either way.

use std::time::Instant;

use crate::cluster::{Cluster, ClusterBuilder};
use crate::error::{HarnessError, Result};
use crate::report::{RunReport, Verdict};
use crate::scenario::{Action, Scenario};

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

    let mut builder = ClusterBuilder::default();
    if scenario.topology.bitcoind {
        builder = builder.bitcoind();
    }
    for node in &scenario.topology.signers {
        builder = builder.signer(node);
    }
    let mut cluster = builder.start().await?;
    cluster.resources_mut().set_keep(opts.keep);

    let mut report = RunReport {
        scenario: scenario.name.clone(),
        file: scenario.path.clone(),
        seed,
        run_id: cluster.run_id().to_string(),
        run_dir: cluster.run_dir().to_path_buf(),
        verdict: Verdict::Pass,
        error: None,
        rows: Vec::new(),
        total_seconds: 0.0,
    };
    for (label, took) in cluster.startup() {
        report.push(label, *took);
    }

    for (i, step) in scenario.steps.iter().enumerate() {
        let t = Instant::now();
        tracing::info!(step = i, line = step.line, action = %step.action.describe(), "step");
        let outcome = execute(&cluster, &step.action).await;
        report.push(&step.label, t.elapsed());
        if let Err(e) = outcome {
            report.verdict = Verdict::Fail;
            report.error = Some(format!(
                "{}:{}: step {} ({}): {e}",
                scenario.path.display(),
                step.line,
                i,
                step.label
            ));
            break;
        }
    }

    let t = Instant::now();
    let teardown = cluster.shutdown().await;
    report.push("teardown", t.elapsed());
    if let Err(e) = teardown {
        report.verdict = Verdict::Fail;
        report.error.get_or_insert_with(|| format!("teardown: {e}"));
    }
    report.total_seconds = started.elapsed().as_secs_f64();
    if let Err(e) = report.write_json() {
        tracing::warn!(error = %e, "could not write report.json");
    }
    Ok(report)
}

async fn execute(cluster: &Cluster, action: &Action) -> Result<()> {
    match action {
        Action::Mine(n) => cluster.bitcoind()?.mine(*n).await.map(|_| ()),
        Action::Fault { fault, target } => {
            fault.apply(cluster.container(target)?).await?;
            if fault.brings_up() {
                cluster.wait_ready(target).await?;
            }
            Ok(())
        }
        Action::WaitReady(c) => cluster.wait_ready(c).await,
        Action::AssertHeight(want) => {
            let got = cluster.bitcoind()?.height().await?;
            if got != *want {
                return Err(HarnessError::Assertion(format!(
                    "bitcoind height is {got}, expected {want}"
                )));
            }
            Ok(())
        }
        Action::AssertBalanceSat(want) => {
            let got = cluster.bitcoind()?.balance_sat().await?;
            if got != *want {
                return Err(HarnessError::Assertion(format!(
                    "bitcoind wallet balance is {got} sat, expected {want} sat"
                )));
            }
            Ok(())
        }
    }
}
