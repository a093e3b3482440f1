//! bitcoind SIGKILLed while blocks are being mined: after a restart the chain
//! keeps every block whose mining was acknowledged, and the wallet balance is
//! exactly what that chain pays it.

use std::time::Duration;

use harness::component::regtest_subsidy_sat;
use harness::Cluster;
use serde_json::Value;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitcoind_killed_mid_mining_keeps_height_and_balance() -> anyhow::Result<()> {
    scenarios::init();
    let cluster = Cluster::builder().bitcoind().start().await?;
    let b = cluster.bitcoind()?;
    b.mine(101).await?;
    assert_eq!(b.height().await?, 101);

    // Mine one block per call, each acknowledged only once flushed; kill
    // while calls are still in flight.
    let (acked_tx, mut acked_rx) = watch::channel(101u64);
    let miner = async {
        loop {
            if b.mine(1).await.is_err() {
                break;
            }
            match b.height().await {
                Ok(h) => {
                    let _ = acked_tx.send(h);
                }
                Err(_) => break,
            }
        }
    };
    let killer = async {
        acked_rx
            .wait_for(|h| *h >= 115)
            .await
            .map_err(|e| anyhow::anyhow!("miner stopped before height 115: {e}"))?;
        b.container().kill().await?;
        anyhow::Ok(())
    };
    let (_, killed) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(120), miner),
        killer
    );
    killed?;
    let acked = *acked_rx.borrow();
    assert!(
        !b.container().status().await?.running,
        "bitcoind still running after SIGKILL"
    );

    b.container().start().await?;
    b.ready().await?;
    let height = b.height().await?;
    println!("last acknowledged height {acked}, height after restart {height}");
    assert!(
        height == acked || height == acked + 1,
        "height {height} after restart; last acknowledged {acked} (at most one unacknowledged block may survive)"
    );

    // Every block paid the wallet; coinbases mature after 100 confirmations.
    let balances: Value = b.call("getbalances", vec![]).await?;
    let sat = |ptr: &str| -> anyhow::Result<u64> {
        let btc = balances
            .pointer(ptr)
            .and_then(Value::as_f64)
            .ok_or_else(|| anyhow::anyhow!("getbalances has no {ptr}: {balances}"))?;
        Ok((btc * 1e8).round() as u64)
    };
    let mature: u64 = (1..=height.saturating_sub(100))
        .map(regtest_subsidy_sat)
        .sum();
    let immature: u64 = (height.saturating_sub(99).max(1)..=height)
        .map(regtest_subsidy_sat)
        .sum();
    assert_eq!(
        sat("/mine/trusted")?,
        mature,
        "trusted balance at height {height}"
    );
    assert_eq!(
        sat("/mine/immature")?,
        immature,
        "immature balance at height {height}"
    );
    assert_eq!(b.balance_sat().await?, mature);

    cluster.shutdown().await?;
    Ok(())
}
