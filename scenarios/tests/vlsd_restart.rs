//! vlsd persists its node seed on its volume and keeps it across restarts
//! (SIGTERM) and crashes (SIGKILL); with no node to talk to it keeps retrying.

use std::time::Duration;

use harness::{wait, Cluster};

/// Lines of vlsd's log that say it is retrying its node connection.
fn retries(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("error connecting to node, will retry"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vlsd_keeps_its_seed_across_restart_and_kill() -> anyhow::Result<()> {
    scenarios::init();
    let cluster = Cluster::builder().signer("alice").start().await?;
    let signer = cluster.signer("alice")?;
    let c = signer.container();
    let before = signer.seed().await?;

    // Still alive and retrying its (absent) node, once per second.
    wait::until(
        "vlsd-alice: two connection retries",
        Duration::from_secs(20),
        || async {
            let n = retries(&c.log_text().await);
            if n >= 2 {
                Ok(())
            } else {
                Err(format!("{n} retries logged"))
            }
        },
    )
    .await?;

    c.restart().await?;
    signer.wait_ready().await?;
    let after_restart = signer.seed().await?;
    assert_eq!(before, after_restart, "seed changed across a restart");

    c.kill().await?;
    c.start().await?;
    signer.wait_ready().await?;
    let after_kill = signer.seed().await?;
    assert_eq!(before, after_kill, "seed changed across SIGKILL");
    assert_eq!(before.fingerprint(), after_kill.fingerprint());

    // The seed was generated once, on the first start only.
    let log = c.log_text().await;
    let generated = log
        .lines()
        .filter(|l| l.contains("generating new seed"))
        .count();
    assert_eq!(
        generated, 1,
        "vlsd generated a seed {generated} times:\n{log}"
    );
    assert!(
        !log.contains(&hex_of(&before)),
        "the seed itself appeared in vlsd's log"
    );

    cluster.shutdown().await?;
    Ok(())
}

fn hex_of(seed: &vls_recovery::Seed) -> String {
    seed.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vlsd_exits_cleanly_on_sigterm() -> anyhow::Result<()> {
    scenarios::init();
    let cluster = Cluster::builder().signer("bob").start().await?;
    let c = cluster.signer("bob")?.container();
    c.stop().await?;
    let status = c.status().await?;
    assert!(!status.running);
    assert_eq!(status.exit_code, Some(0), "vlsd after SIGTERM: {status:?}");
    cluster.shutdown().await?;
    Ok(())
}
