//! alice (signing through vlsd) opens a 1,000,000 sat channel to bob (local
//! keys), 50 payments go each way, then a cooperative close: each side's
//! on-chain balance grows by its channel balance minus fees, within a bound.

use std::time::{Duration, Instant};

use harness::report::{RunReport, Verdict};
use harness::{Cluster, Node, SignerChoice};
use scenarios::lightning::{self, Paid};

/// Closing plus sweep fees per side, at the node's fee floors (sat).
const FEE_BOUND_SAT: u64 = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_both_ways_then_cooperative_close() -> anyhow::Result<()> {
    scenarios::init();
    let total = Instant::now();
    let t = Instant::now();
    let cluster = Cluster::builder()
        .bitcoind()
        .node("alice", SignerChoice::Vlsd)
        .node("bob", SignerChoice::Local)
        .start()
        .await?;
    let stack_up = t.elapsed();
    let (alice, bob) = (cluster.node("alice")?, cluster.node("bob")?);
    let b = cluster.bitcoind()?;
    b.mine(101).await?;
    lightning::fund(&cluster, alice, 2_000_000).await?;
    let alice_wallet_before = alice.balance().await?.wallet_trusted_sat;
    let bob_wallet_before = bob.balance().await?.wallet_trusted_sat;

    let t = Instant::now();
    let channel = lightning::open_channel(&cluster, alice, bob, 1_000_000).await?;
    let open_to_usable = t.elapsed();
    assert_eq!(channel.capacity_sat, 1_000_000);
    let alice_wallet_after_open = alice.balance().await?.wallet_trusted_sat;
    let funding_cost = alice_wallet_before - alice_wallet_after_open;
    assert!(
        (1_000_000..1_000_000 + FEE_BOUND_SAT).contains(&funding_cost),
        "funding took {funding_cost} sat from alice's wallet"
    );

    // alice pays first: bob can spend only above his 1% channel reserve.
    let mut latencies = Vec::new();
    for _ in 0..50 {
        let (paid, took) = lightning::pay(alice, bob, 1_000_000).await?;
        assert!(matches!(paid, Paid::Sent { .. }), "alice -> bob: {paid:?}");
        latencies.push(took);
    }
    for _ in 0..50 {
        let (paid, took) = lightning::pay(bob, alice, 500_000).await?;
        assert!(matches!(paid, Paid::Sent { .. }), "bob -> alice: {paid:?}");
        latencies.push(took);
    }
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;

    // Exact: bob received 50 x 1,000 sat and sent 50 x 500 sat.
    lightning::wait_no_htlcs(bob).await?;
    lightning::wait_no_htlcs(alice).await?;
    let bob_chan = lightning::only_channel(bob).await?;
    assert_eq!(bob_chan.local_balance_msat, 25_000_000, "{bob_chan:?}");
    let alice_chan = lightning::only_channel(alice).await?;
    assert!(alice_chan.pending_htlcs.is_empty() && bob_chan.pending_htlcs.is_empty());
    let alice_local_sat = alice_chan.local_balance_msat / 1000;
    assert_eq!(alice_local_sat + 25_000, 1_000_000, "{alice_chan:?}");

    let t = Instant::now();
    alice.close_channel(&alice_chan.channel_id).await?;
    let closed = |e: &harness::NodeEvent| matches!(e, harness::NodeEvent::ChannelClosed { .. });
    alice
        .wait_event("channel closed", lightning::STEP, &closed)
        .await?;
    bob.wait_event("channel closed", lightning::STEP, &closed)
        .await?;
    let blocks = lightning::mine_until_settled(&cluster, &[alice, bob], 30).await?;
    let close_and_sweep = t.elapsed();

    let alice_gain = alice.balance().await?.wallet_trusted_sat - alice_wallet_after_open;
    let bob_gain = bob.balance().await?.wallet_trusted_sat - bob_wallet_before;
    assert!(
        alice_gain <= alice_local_sat && alice_local_sat - alice_gain <= FEE_BOUND_SAT,
        "alice got {alice_gain} sat on chain for a {alice_local_sat} sat channel balance"
    );
    assert!(
        bob_gain <= 25_000 && 25_000 - bob_gain <= FEE_BOUND_SAT,
        "bob got {bob_gain} sat on chain for a 25,000 sat channel balance"
    );
    lightning::assert_no_pending(alice).await?;
    lightning::assert_no_pending(bob).await?;

    let signed = cluster.container("vlsd-alice")?.log_text().await;
    let requests = signed
        .lines()
        .filter(|l| l.contains("signer got request"))
        .count();
    assert!(
        signed.contains("SignRemoteCommitmentTx2") && requests > 100,
        "vlsd-alice's log shows {requests} signing requests"
    );

    let mut report = RunReport::new("ln-payments", cluster.run_id(), cluster.run_dir());
    report.push("stack up (bitcoind + 2 nodes + vlsd)", stack_up);
    report.push("channel open to usable", open_to_usable);
    report.push("mean payment latency (100 payments)", mean);
    report.push(
        &format!("close and sweeps ({blocks} blocks)"),
        close_and_sweep,
    );
    report.total_seconds = total.elapsed().as_secs_f64();
    report.verdict = Verdict::Pass;
    println!("{}", report.table());
    println!(
        "vlsd-alice signing requests: {requests}; alice on-chain fees {} sat, bob {} sat",
        alice_local_sat - alice_gain,
        25_000 - bob_gain
    );
    report.write_json()?;
    cluster.shutdown().await?;
    Ok(())
}
