//! alice's lnnode SIGKILLed while it holds an HTLC for a hold invoice, then
//! started again: the HTLC is still pending on both sides, and settles.

use std::time::Instant;

use harness::node::{ChannelState, HtlcDirection};
use harness::{Node, NodeEvent};
use rand::SeedableRng;
use scenarios::lightning::{self, Pair, STEP};

const AMOUNT_SAT: u64 = 50_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lnnode_killed_holding_an_htlc() -> anyhow::Result<()> {
    scenarios::init();
    let total = Instant::now();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let pair = Pair::start(200_000).await?;
    let (alice, bob) = (pair.alice()?, pair.bob()?);

    let (preimage, hash) = lightning::hold_htlc(alice, bob, AMOUNT_SAT * 1000, &mut rng).await?;

    let t = Instant::now();
    alice.container().kill().await?;
    alice.container().start().await?;
    alice.wait_ready().await?;
    let restart = t.elapsed();

    // Still pending: on alice's channel as an inbound HTLC, on bob's as outbound.
    harness::wait::until(
        "alice: channel usable again after restart",
        STEP,
        || async {
            let c = lightning::only_channel(alice)
                .await
                .map_err(|e| e.to_string())?;
            if c.state == ChannelState::Usable {
                Ok(())
            } else {
                Err(format!("{:?}", c.state))
            }
        },
    )
    .await?;
    assert!(
        has_htlc(alice, &hash, HtlcDirection::Inbound).await?,
        "alice lost the held HTLC"
    );
    assert!(
        has_htlc(bob, &hash, HtlcDirection::Outbound).await?,
        "bob no longer has the HTLC in flight"
    );
    let bob_payment = bob
        .payments()
        .await?
        .into_iter()
        .find(|p| p.payment_hash == hash);
    assert_eq!(
        bob_payment.map(|p| p.status),
        Some(harness::node::PaymentStatus::Pending)
    );

    alice.settle(&hash, &preimage).await?;
    let h = hash.clone();
    bob.wait_event(
        "payment sent",
        STEP,
        &move |e| matches!(e, NodeEvent::PaymentSent { payment_hash, .. } if payment_hash == &h),
    )
    .await?;
    let h = hash.clone();
    alice
        .wait_event("payment received", STEP, &move |e| {
            matches!(e, NodeEvent::PaymentReceived { payment_hash, .. } if payment_hash == &h)
        })
        .await?;
    lightning::wait_no_htlcs(alice).await?;
    lightning::wait_no_htlcs(bob).await?;
    let bob_local = lightning::only_channel(bob).await?.local_balance_msat;
    assert_eq!(bob_local, (200_000 - AMOUNT_SAT) * 1000);
    lightning::assert_no_pending(alice).await?;
    lightning::assert_no_pending(bob).await?;

    let mut report = pair.report("ln-hold-crash");
    report.push("alice kill to ready", restart);
    report.total_seconds = total.elapsed().as_secs_f64();
    println!("{}", report.table());
    report.write_json()?;
    pair.cluster.shutdown().await?;
    Ok(())
}

/// Whether `node` has an HTLC for `hash` in `direction` on any channel.
async fn has_htlc(
    node: &harness::LdkNode,
    hash: &str,
    direction: HtlcDirection,
) -> anyhow::Result<bool> {
    Ok(node.channels().await?.iter().any(|c| {
        c.pending_htlcs
            .iter()
            .any(|x| x.payment_hash == hash && x.direction == direction)
    }))
}
