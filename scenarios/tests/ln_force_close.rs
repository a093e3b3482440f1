//! bob force-closes while an HTLC to alice is pending. alice claims it on
//! bob's commitment with the preimage (signed by vlsd) and sweeps her
//! balance; after bob's CSV delay he sweeps his. Both wallets end with their
//! channel balances minus fees, within a bound.

use std::time::Instant;

use harness::{Node, NodeEvent};
use rand::SeedableRng;
use scenarios::lightning::{self, Pair, STEP};

const PUSH_SAT: u64 = 300_000;
const HTLC_SAT: u64 = 40_000;
const FEE_BOUND_SAT: u64 = 15_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counterparty_force_close_with_htlc_to_us() -> anyhow::Result<()> {
    scenarios::init();
    let total = Instant::now();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let pair = Pair::start(PUSH_SAT).await?;
    let (alice, bob) = (pair.alice()?, pair.bob()?);
    let b = pair.cluster.bitcoind()?;
    let alice_wallet = alice.balance().await?.wallet_trusted_sat;
    let bob_wallet = bob.balance().await?.wallet_trusted_sat;
    let alice_local = lightning::only_channel(alice).await?.local_balance_msat / 1000;
    assert_eq!(alice_local, 1_000_000 - PUSH_SAT);

    let (preimage, hash) = lightning::hold_htlc(alice, bob, HTLC_SAT * 1000, &mut rng).await?;

    let t = Instant::now();
    bob.force_close_channel(&pair.channel_id).await?;
    b.mine(1).await?;
    alice
        .wait_event("channel closed", STEP, &lightning::is_closed_event)
        .await?;
    alice.settle(&hash, &preimage).await?;
    let alice_blocks = lightning::mine_until_settled(&pair.cluster, &[alice], 40).await?;
    let alice_done = t.elapsed();
    let alice_gain = alice.balance().await?.wallet_trusted_sat - alice_wallet;
    let expected = alice_local + HTLC_SAT;
    assert!(
        alice_gain <= expected && expected - alice_gain <= FEE_BOUND_SAT,
        "alice got {alice_gain} sat on chain for {alice_local} sat of balance plus a {HTLC_SAT} sat HTLC"
    );
    let h = hash.clone();
    bob.wait_event(
        "payment sent (preimage learned on chain)",
        STEP,
        &move |e| matches!(e, NodeEvent::PaymentSent { payment_hash, .. } if payment_hash == &h),
    )
    .await?;

    // bob's own output waits out the CSV delay alice required (144 blocks).
    b.mine(144).await?;
    let bob_blocks = lightning::mine_until_settled(&pair.cluster, &[bob], 40).await?;
    let bob_gain = bob.balance().await?.wallet_trusted_sat - bob_wallet;
    let bob_expected = PUSH_SAT - HTLC_SAT;
    assert!(
        bob_gain <= bob_expected && bob_expected - bob_gain <= FEE_BOUND_SAT,
        "bob got {bob_gain} sat on chain for {bob_expected} sat of balance"
    );
    let log = pair.cluster.container("vlsd-alice")?.log_text().await;
    assert!(
        log.contains("SignAnyRemoteHtlcToUs"),
        "the HTLC claim was not signed by vlsd"
    );

    let mut report = pair.report("ln-force-close");
    report.push(
        &format!("force close to alice swept ({alice_blocks} blocks)"),
        alice_done,
        harness::report::Phase::Steps,
    );
    report.total_seconds = total.elapsed().as_secs_f64();
    println!("{}", report.table());
    println!(
        "fees: alice {} sat, bob {} sat; bob settled after {bob_blocks} more blocks",
        expected - alice_gain,
        bob_expected - bob_gain
    );
    report.write_json()?;
    pair.cluster.shutdown().await?;
    Ok(())
}
