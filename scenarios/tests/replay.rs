//! One seed, one story: a scenario whose fault makes a seeded choice (the
//! bits flipped in vlsd's state database), run twice with the same seed,
//! makes the same choice and ends the same way: the same steps, checkpoint
//! order, checks, verdict, and each party's satoshis at the end.

use std::path::Path;

use harness::report::Verdict;
use harness::runner::{self, RunOptions};
use harness::Scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_choices_same_outcome() -> anyhow::Result<()> {
    scenarios::init();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/signer-state-flip-bits.toml");
    let scenario = Scenario::load(&path)?;
    let opts = RunOptions {
        seed: Some(4242),
        ..RunOptions::default()
    };
    let first = runner::run(&scenario, &opts).await?;
    let second = runner::run(&scenario, &opts).await?;
    println!("{}\n{}", first.table(), second.table());
    assert_eq!(first.verdict, Verdict::Pass, "{}", first.table());
    let (a, b) = (first.stable(), second.stable());
    // What the comparison covers: a choice the seed made, and figures.
    assert!(
        a.choices.iter().any(|c| c.contains("bit offsets")),
        "the replay scenario must make a seeded choice: {:?}",
        a.choices
    );
    assert!(!a.figures.is_empty(), "no figures to compare");
    assert_eq!(a, b);
    Ok(())
}
