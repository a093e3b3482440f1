//! A paused (frozen) bitcoind: RPC calls fail with a clear timeout error
//! instead of hanging; after unpause the same client answers again.

use std::time::Duration;

use harness::{Cluster, HarnessError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_bitcoind_times_out_then_answers() -> anyhow::Result<()> {
    scenarios::init();
    let cluster = Cluster::builder()
        .bitcoind()
        .with_rpc_timeout(Duration::from_secs(3))
        .start()
        .await?;
    let b = cluster.bitcoind()?;
    b.mine(3).await?;

    b.container().pause().await?;
    assert!(b.container().status().await?.paused);
    let err = b
        .height()
        .await
        .expect_err("a paused bitcoind must not answer");
    match &err {
        HarnessError::Rpc {
            component, method, ..
        } => {
            assert_eq!(component, "bitcoind");
            assert_eq!(method, "getblockcount");
        }
        other => panic!("expected an rpc error, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.starts_with("bitcoind: rpc `getblockcount`: no answer within 3.0s"),
        "unclear error: {msg}"
    );

    b.container().unpause().await?;
    assert_eq!(b.height().await?, 3);
    cluster.shutdown().await?;
    Ok(())
}
