//! vlsd SIGKILLed in the middle of a payment stream and started again: no
//! channel closes, every payment ends settled or failed (none lost or stuck),
//! and the channel's balances account for exactly the settled ones.

use std::time::Instant;

use harness::Node;
use scenarios::lightning::{self, Paid, Pair};
use tokio::sync::watch;

const PAYMENTS: usize = 30;
const KILL_AFTER: usize = 8;
const AMOUNT_SAT: u64 = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vlsd_killed_mid_payment_stream() -> anyhow::Result<()> {
    scenarios::init();
    let total = Instant::now();
    let pair = Pair::start(0).await?;
    let (alice, bob) = (pair.alice()?, pair.bob()?);
    let signer = pair.cluster.signer("alice")?;
    let vlsd = signer.container();

    let (done_tx, mut done_rx) = watch::channel(0usize);
    let stream = async {
        let mut outcomes = Vec::new();
        for i in 0..PAYMENTS {
            outcomes.push(lightning::pay(alice, bob, AMOUNT_SAT * 1000).await);
            let _ = done_tx.send(i + 1);
        }
        outcomes
    };
    let fault = async {
        done_rx.wait_for(|n| *n >= KILL_AFTER).await?;
        vlsd.kill().await?;
        let down = Instant::now();
        vlsd.start().await?;
        signer.wait_ready().await?;
        anyhow::Ok(down.elapsed())
    };
    let (outcomes, outage) = tokio::join!(stream, fault);
    let outage = outage?;

    let mut sent = 0u64;
    let mut failed = 0u64;
    for (i, o) in outcomes.into_iter().enumerate() {
        match o {
            Ok((Paid::Sent { .. }, _)) => sent += 1,
            Ok((Paid::Failed { .. }, _)) => failed += 1,
            Err(e) => panic!("payment {i} neither settled nor failed: {e:#}"),
        }
    }
    assert_eq!(sent + failed, PAYMENTS as u64);
    assert!(sent > KILL_AFTER as u64, "only {sent} payments settled");

    // No channel closed, and the channel still carries payments.
    let chans = lightning::wait_no_htlcs(alice).await?;
    assert_eq!(chans.len(), 1);
    assert_eq!(
        chans[0].state,
        harness::node::ChannelState::Usable,
        "{:?}",
        chans[0]
    );
    lightning::wait_no_htlcs(bob).await?;
    let (paid, _) = lightning::pay(alice, bob, AMOUNT_SAT * 1000).await?;
    assert!(
        matches!(paid, Paid::Sent { .. }),
        "after the crash: {paid:?}"
    );
    sent += 1;
    // Both sides: the payer sees the outcome before its HTLC leaves the commitment.
    lightning::wait_no_htlcs(alice).await?;
    lightning::wait_no_htlcs(bob).await?;

    // Sums conserved: bob holds exactly what settled; the two sides add up.
    let bob_local = lightning::only_channel(bob).await?.local_balance_msat;
    let alice_local = lightning::only_channel(alice).await?.local_balance_msat;
    assert_eq!(bob_local, sent * AMOUNT_SAT * 1000);
    assert_eq!(alice_local + bob_local, 1_000_000_000);
    lightning::assert_no_pending(alice).await?;
    lightning::assert_no_pending(bob).await?;
    for n in [alice, bob] {
        let closed = n
            .wait_event(
                "no channel closed",
                std::time::Duration::from_millis(200),
                &lightning::is_closed_event,
            )
            .await;
        assert!(
            closed.is_err(),
            "{}: a channel closed: {closed:?}",
            n.name()
        );
    }

    // vlsd ran twice and signed both before and after the kill.
    let log = vlsd.log_text().await;
    assert_eq!(
        log.matches("vlsd git_desc").count(),
        2,
        "vlsd should have started twice"
    );
    assert!(log.contains("SignRemoteCommitmentTx2"));

    let mut report = pair.report("ln-vlsd-crash");
    report.push("vlsd kill to ready", outage);
    report.total_seconds = total.elapsed().as_secs_f64();
    println!("{}", report.table());
    println!("payments: {sent} settled, {failed} failed");
    report.write_json()?;
    pair.cluster.shutdown().await?;
    Ok(())
}
