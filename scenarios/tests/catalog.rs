//! Every scenario file in `catalog/` runs as its own test against a fresh
//! cluster, and the stable part of its report (verdict, steps, checkpoint
//! order, checks) is an insta snapshot, so a change in behaviour shows as
//! a diff in review (`cargo insta review`, or INSTA_UPDATE=always to accept).

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
    insta::with_settings!({ snapshot_path => "../catalog/snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_json_snapshot!(scenario.name.as_str(), report.stable());
    });
    let left = scenarios::leftovers(&report.run_id).await?;
    assert!(left.is_empty(), "run {} left {left:?}", report.run_id);
    Ok(())
}
