//! Core Lightning crashed early in a payment burst
//! (`fixtures/cln-htlc-burst-crash-node-early.toml`) meets one of two
//! upstream findings, and which one is timing: mostly a payment left
//! pending for ever (the fixture's own finding, an XFAIL), and under load
//! sometimes vlsd refusing lightningd's changed re-signing of a peer
//! commitment (the finding of `cln-htlc-burst-crash-node-late`). The run
//! must fail with one of the two; a pass or any other failure fails.

use std::path::Path;

use harness::report::Verdict;
use harness::runner::{self, RunOptions};
use harness::Scenario;

/// vlsd's refusal, as `cln-htlc-burst-crash-node-late` names it.
const REFUSAL: &str = "retry of sign_counterparty_commitment";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_early_in_a_burst_meets_one_of_the_two_crash_findings() -> anyhow::Result<()> {
    scenarios::init();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cln-htlc-burst-crash-node-early.toml");
    let scenario = Scenario::load(&path)?;
    let report = runner::run(&scenario, &RunOptions::default()).await?;
    println!("{}", report.table());
    let vlsd_log = report.run_dir.join("logs").join("vlsd-carol.log");
    let refused = std::fs::read_to_string(&vlsd_log)
        .map(|log| log.contains(REFUSAL))
        .unwrap_or(false);
    let one_of_the_two =
        report.verdict == Verdict::Xfail || (report.verdict == Verdict::Fail && refused);
    assert!(
        one_of_the_two,
        "neither finding showed ({:?}; vlsd refused: {refused}):\n{}",
        report.verdict,
        report.table()
    );
    let left = scenarios::leftovers(&report.run_id).await?;
    assert!(left.is_empty(), "run {} left {left:?}", report.run_id);
    Ok(())
}
