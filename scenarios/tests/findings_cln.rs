//! A finding whose failing step is a race (`fixtures/cln-signer-restart.toml`):
//! a restarted vlsd behind Core Lightning panics a moment after it starts,
//! seen by the restart step or by the payment after it. The run must be an
//! expected failure with the finding's signature, whichever step shows it.

use std::path::Path;

use harness::report::Verdict;
use harness::runner::{self, RunOptions};
use harness::Scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_vlsd_behind_cln_panics_on_the_replayed_preinit() -> anyhow::Result<()> {
    scenarios::init();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cln-signer-restart.toml");
    let scenario = Scenario::load(&path)?;
    let report = runner::run(&scenario, &RunOptions::default()).await?;
    println!("{}", report.table());
    assert_eq!(report.verdict, Verdict::Xfail, "{}", report.table());
    let left = scenarios::leftovers(&report.run_id).await?;
    assert!(left.is_empty(), "run {} left {left:?}", report.run_id);
    Ok(())
}
