//! A loss the per-party check must name: recovery started after the
//! deadline of a justice claim (`fixtures/recovery-after-the-deadline.toml`).
//! The run fails, and its `parties` check says who is short, in which
//! channel and by how much, and who holds it instead.

use std::path::Path;

use harness::report::{CheckVerdict, Verdict};
use harness::runner::{self, RunOptions};
use harness::Scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_after_the_deadline_names_the_loss() -> anyhow::Result<()> {
    scenarios::init();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/recovery-after-the-deadline.toml");
    let scenario = Scenario::load(&path)?;
    let report = runner::run(&scenario, &RunOptions::default()).await?;
    println!("{}", report.table());
    assert_eq!(report.verdict, Verdict::Fail, "{}", report.table());
    let parties = report
        .checks
        .iter()
        .find(|c| c.name == "parties")
        .ok_or_else(|| anyhow::anyhow!("no parties check in {}", report.table()))?;
    assert_eq!(parties.verdict, CheckVerdict::Fail, "{}", parties.detail);
    // bob's output of the revoked commitment held 300,000 sat less its
    // share of the commitment fee; alice's due was 900,000 sat and only
    // her own output came home. Both ends are named with the channel.
    let short = parties
        .detail
        .split("; ")
        .find(|l| l.starts_with("alice in alice-bob"))
        .ok_or_else(|| anyhow::anyhow!("alice not named: {}", parties.detail))?;
    assert!(short.contains("expected 900000 sat"), "{short}");
    assert!(short.contains("SHORT 200000 sat"), "{short}");
    let over = parties
        .detail
        .split("; ")
        .find(|l| l.starts_with("bob in alice-bob"))
        .ok_or_else(|| anyhow::anyhow!("bob not named: {}", parties.detail))?;
    assert!(
        over.contains("expected 100000 sat") && over.contains("OVER"),
        "{over}"
    );
    // Conservation holds: nothing vanished, it went to the wrong party.
    let conservation = report.checks.iter().find(|c| c.name == "conservation");
    assert!(
        conservation.is_some_and(|c| c.verdict == CheckVerdict::Pass),
        "{:?}",
        conservation
    );
    Ok(())
}
