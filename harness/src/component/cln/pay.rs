//! A payment from a Core Lightning node: `pay` blocks until the payment
//! ends, so it runs on a task and connection of its own, and the step
//! goes on once lightningd has handed it over or refused it.

use std::time::Duration;

use serde_json::json;
use tokio::sync::oneshot::error::TryRecvError;

use super::{array, rpc, text, ClnNode};
use crate::error::{HarnessError, Result};
use crate::node::Node;
use crate::wait;

impl ClnNode {
    /// A payment that can be sent from a task of its own: `pay` blocks
    /// until the payment ends, so it gets its own connection and task, and
    /// its outcome arrives as an event.
    pub fn pay_request(&self, invoice: &str) -> ClnPayRequest {
        ClnPayRequest {
            node: self.clone(),
            invoice: invoice.to_string(),
        }
    }

    /// Waits until lightningd lists a send for `hash` (the payment left,
    /// as lnnode's pay request answers once LDK took it) or the `pay`
    /// command `ended`, with its error if it refused.
    async fn handed_over(&self, hash: &str, ended: &mut Ended) -> Result<()> {
        let what = format!("{}: payment {hash} handed over", self.name());
        wait::until(&what, rpc::CALL_TIMEOUT, || {
            let done = match ended.try_recv() {
                Ok(r) => Some(r),
                Err(TryRecvError::Closed) => Some(Ok(())),
                Err(TryRecvError::Empty) => None,
            };
            async move {
                if let Some(r) = done {
                    return Ok(r);
                }
                // An error here (lightningd gone mid-payment) is not the
                // answer: the command's own end will say so.
                let listed = self.call("listpays", json!({"payment_hash": hash})).await;
                if listed.is_ok_and(|l| !array(&l, "pays").is_empty()) {
                    Ok(Ok(()))
                } else {
                    Err("lightningd lists no send for it and `pay` has not ended".to_string())
                }
            }
        })
        .await?
    }
}

pub struct ClnPayRequest {
    node: ClnNode,
    invoice: String,
}

/// How a started `pay` command ends: its reply, or its error.
type Ended = tokio::sync::oneshot::Receiver<Result<()>>;

impl ClnPayRequest {
    /// Gives the payment to lightningd and returns its hash at once, so a
    /// burst of them is in flight together; a payment lightningd refuses
    /// before sending shows as no send in its records.
    pub async fn send(self) -> Result<String> {
        self.start().await.map(|(hash, _)| hash)
    }

    /// Like [`send`](Self::send), then waits until lightningd has sent the
    /// payment or refused it: a refusal (the signer's policy, no route) is
    /// this call's error, as lnnode's pay request's is.
    pub async fn send_and_wait(self) -> Result<String> {
        let node = self.node.clone();
        let (hash, mut ended) = self.start().await?;
        node.handed_over(&hash, &mut ended).await?;
        Ok(hash)
    }

    async fn start(self) -> Result<(String, Ended)> {
        let decoded = self
            .node
            .call("decode", json!({"string": self.invoice}))
            .await?;
        let hash = text(&decoded, "payment_hash");
        if hash.is_empty() {
            return Err(HarnessError::NodeApi {
                node: self.node.name().to_string(),
                path: "decode".to_string(),
                status: 0,
                code: "invalid_invoice".to_string(),
                message: format!("not a payable invoice: {decoded}"),
            });
        }
        let node = self.node.clone();
        let invoice = self.invoice;
        let (tx, ended) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            // The outcome is read from `listpays`; this reply says when the
            // command ended, and why if it refused.
            let r = node
                .inner
                .rpc
                .call_within("pay", json!({"bolt11": invoice}), Duration::from_secs(3600))
                .await;
            if let Err(e) = &r {
                tracing::debug!(node = node.name(), error = %e, "pay ended with an error");
            }
            let _ = tx.send(r.map(drop));
        });
        Ok((hash, ended))
    }
}
