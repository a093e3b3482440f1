//! A component that exits while being waited on fails at once, with an error
//! that says what was awaited and shows the container's log.

use std::time::Duration;

use harness::resources::{new_run_id, Resources};
use harness::{HarnessError, ImageBuilder, Signer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_during_readiness_shows_why() -> anyhow::Result<()> {
    scenarios::init();
    let docker = harness::docker::connect().await?;
    let (images, _) = ImageBuilder::default().ensure(&docker).await?;
    let res = Resources::create(docker, new_run_id()).await?;
    let err = Signer::builder(&images.vlsd, "alice")
        .with_args(["--no-such-flag"])
        .with_ready_timeout(Duration::from_secs(600))
        .start(&res)
        .await
        .expect_err("vlsd rejects an unknown flag and exits");
    let msg = err.to_string();
    // GaveUp, not Timeout: the exit ends the wait, not the 600 s deadline.
    assert!(matches!(err, HarnessError::GaveUp { .. }), "{msg}");
    assert!(
        msg.starts_with(
            "vlsd-alice: running with /data/regtest/node.seed written and its admin RPC answering: gave up after"
        ),
        "{msg}"
    );
    assert!(msg.contains("container exited"), "{msg}");
    assert!(
        msg.contains("--no-such-flag"),
        "log tail missing from: {msg}"
    );
    res.teardown().await?;
    Ok(())
}
