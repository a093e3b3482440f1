//! Bad requests to a node's admin API get a typed error and leave the node
//! running: a malformed invoice, an unknown peer, an amount larger than the channel.

use harness::{HarnessError, Node};
use scenarios::lightning::{self, Paid, Pair};

fn code(e: &HarnessError) -> &str {
    match e {
        HarnessError::NodeApi { code, .. } => code,
        _ => "not an api error",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_admin_requests_get_typed_errors() -> anyhow::Result<()> {
    scenarios::init();
    let pair = Pair::start(0).await?;
    let (alice, bob) = (pair.alice()?, pair.bob()?);

    let e = alice
        .pay("lnbcrt1notaninvoice")
        .await
        .expect_err("malformed invoice");
    assert_eq!(code(&e), "invalid_invoice", "{e}");
    assert!(
        e.to_string()
            .starts_with("alice: /v1/payments: invalid_invoice (400)"),
        "{e}"
    );

    // A valid node id (the secp256k1 generator) that no node here has.
    let stranger = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    let e = alice
        .open_channel(stranger, 100_000)
        .await
        .expect_err("unknown peer");
    assert_eq!(code(&e), "unknown_peer", "{e}");
    let e = alice
        .connect(stranger, "nowhere.invalid:9735")
        .await
        .expect_err("unreachable");
    assert_eq!(code(&e), "peer_unreachable", "{e}");
    let e = alice
        .open_channel("not-a-node-id", 100_000)
        .await
        .expect_err("bad id");
    assert_eq!(code(&e), "bad_request", "{e}");

    // More than the whole channel.
    let big = bob.invoice(2_000_000 * 1000, None).await?;
    let e = alice
        .pay(&big.invoice)
        .await
        .expect_err("amount larger than the channel");
    assert_eq!(code(&e), "no_route", "{e}");

    let e = alice
        .settle(&"00".repeat(32), &"11".repeat(32))
        .await
        .expect_err("bad preimage");
    assert_eq!(code(&e), "bad_request", "{e}");

    // Still running and still paying.
    assert!(alice.container().status().await?.running);
    let (paid, _) = lightning::pay(alice, bob, 5_000_000).await?;
    assert!(matches!(paid, Paid::Sent { .. }), "{paid:?}");
    pair.cluster.shutdown().await?;
    Ok(())
}
