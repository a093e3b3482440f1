//! One seed, one story: a scenario whose fault fires at a checkpoint (vlsd
//! restarted when it signs the first closing transaction), run twice with the same seed, gives the same
//! steps, checkpoint order, checks and verdict.

use std::path::Path;

use harness::report::Verdict;
use harness::runner::{self, RunOptions};
use harness::Scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_stable_report() -> anyhow::Result<()> {
    scenarios::init();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/coop-close-restart-signer.toml");
    let scenario = Scenario::load(&path)?;
    let opts = RunOptions {
        seed: Some(4242),
        ..RunOptions::default()
    };
    let first = runner::run(&scenario, &opts).await?;
    let second = runner::run(&scenario, &opts).await?;
    println!("{}\n{}", first.table(), second.table());
    assert_eq!(first.verdict, Verdict::Pass, "{}", first.table());
    assert_eq!(first.stable(), second.stable());
    Ok(())
}
