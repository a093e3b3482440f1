//! Every scenario file in `catalog/` runs as its own test against a fresh cluster.

use std::path::PathBuf;

use harness::report::Verdict;
use harness::runner::{self, RunOptions};
use harness::Scenario;
use rstest::rstest;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog(#[files("catalog/*.toml")] path: PathBuf) -> anyhow::Result<()> {
    scenarios::init();
    let scenario = Scenario::load(&path)?;
    let report = runner::run(&scenario, &RunOptions::default()).await?;
    println!("{}", report.table());
    println!("{}", report.markdown());
    assert_eq!(report.verdict, Verdict::Pass, "{}", report.table());
    let left = scenarios::leftovers(&report.run_id).await?;
    assert!(left.is_empty(), "run {} left {left:?}", report.run_id);
    Ok(())
}
