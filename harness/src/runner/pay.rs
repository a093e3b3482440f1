//! The `pay` step in its three forms (held, refused, sent one by one with
//! or without waiting), and the wait for payments sent without waiting.

use std::time::Duration;

use crate::error::{HarnessError, Result};
use crate::lightning;
use crate::node::{Node, PaymentStatus};
use crate::report::event::RunEvent;
use crate::scenario::{PayOutcome, PaySpec};
use crate::wait;

use super::state::{Dispatch, Hold, World};

pub async fn pay(world: &World<'_>, p: &PaySpec) -> Result<Option<String>> {
    if let Some(name) = &p.hold {
        return hold(world, p, name).await.map(Some);
    }
    if p.outcome == PayOutcome::Refused {
        return refused(world, p).await.map(Some);
    }
    if !p.wait {
        return dispatch(world, p).await.map(|_| None);
    }
    let (mut sent, mut failed) = (0u32, 0u32);
    for _ in 0..p.count {
        let (from, to) = (world.cluster.node(&p.from)?, world.cluster.node(&p.to)?);
        match lightning::pay(from, to, p.amount_msat).await? {
            lightning::Paid::Sent { .. } => sent += 1,
            lightning::Paid::Failed { reason, .. } => {
                failed += 1;
                if p.outcome == PayOutcome::Sent {
                    return Err(HarnessError::Assertion(format!(
                        "payment {} of {} failed: {reason}",
                        sent + failed,
                        p.count
                    )));
                }
            }
        }
    }
    if p.wait && p.outcome == PayOutcome::Failed && sent > 0 {
        return Err(HarnessError::Assertion(format!(
            "{sent} of {} payments succeeded, expected all to fail",
            p.count
        )));
    }
    Ok(p.wait.then(|| format!("{sent} sent, {failed} failed")))
}

/// A payment the payee holds until a `settle` or `fail` step names it.
async fn hold(world: &World<'_>, p: &PaySpec, name: &str) -> Result<String> {
    let (from, to) = (world.cluster.node(&p.from)?, world.cluster.node(&p.to)?);
    let (preimage, hash) = lightning::preimage(&mut world.state().rng);
    lightning::hold_htlc(to, from, p.amount_msat, &hash).await?;
    world.state().holds.insert(
        name.to_string(),
        Hold {
            payer: p.from.clone(),
            payee: p.to.clone(),
            preimage,
            hash: hash.clone(),
        },
    );
    Ok(format!("held {hash}"))
}

/// Every payment must be refused for sending; the reasons are the detail.
async fn refused(world: &World<'_>, p: &PaySpec) -> Result<String> {
    let (from, to) = (world.cluster.node(&p.from)?, world.cluster.node(&p.to)?);
    let mut reasons = Vec::new();
    for i in 0..p.count {
        let invoice = to.invoice(p.amount_msat, None).await?;
        match from.pay(&invoice.invoice).await {
            Ok(hash) => {
                return Err(HarnessError::Assertion(format!(
                    "payment {} of {} was accepted for sending ({hash}), expected a refusal",
                    i + 1,
                    p.count
                )))
            }
            Err(e) => reasons.push(e.to_string()),
        }
    }
    Ok(format!("refused: {}", reasons.join("; ")))
}

/// Has the payee issue every invoice, then hands them to the payer one
/// after the other in a task of its own, and moves on at once: the payer
/// may be stuck on its signer (a fault), and the steps after this one must
/// still run. `wait_for.payments` waits for them.
async fn dispatch(world: &World<'_>, p: &PaySpec) -> Result<()> {
    let (from, to) = (world.cluster.node(&p.from)?, world.cluster.node(&p.to)?);
    let mut requests = Vec::new();
    for _ in 0..p.count {
        let invoice = to.invoice(p.amount_msat, None).await?;
        requests.push((
            invoice.payment_hash.clone(),
            from.pay_request(&invoice.invoice),
        ));
        world
            .state()
            .unwaited
            .push((p.from.clone(), invoice.payment_hash));
    }
    let task = tokio::spawn(async move {
        let mut refused = Vec::new();
        for (hash, request) in requests {
            if let Err(e) = request.send().await {
                refused.push((hash, e.to_string()));
            }
        }
        refused
    });
    world.state().dispatches.push(Dispatch {
        payer: p.from.clone(),
        task,
    });
    Ok(())
}

/// Waits for `node`'s payments sent without waiting to have been handed
/// over; one it did not take (it went down while sending, say) is a line
/// of the timeline: whether it left is for the node's records to say.
async fn handed_over(world: &World<'_>, node: &str, limit: Duration) -> Result<()> {
    let mine: Vec<Dispatch> = {
        let mut state = world.state();
        let (mine, rest) = std::mem::take(&mut state.dispatches)
            .into_iter()
            .partition(|d| d.payer == node);
        state.dispatches = rest;
        mine
    };
    let deadline = tokio::time::Instant::now() + limit;
    for d in mine {
        let refused = tokio::time::timeout_at(deadline, d.task)
            .await
            .map_err(|_| HarnessError::Timeout {
                what: format!("{node}: payments sent without waiting handed over"),
                after: limit,
                last: "the node has not answered every payment request yet".to_string(),
            })?
            .map_err(|e| HarnessError::component("runner", format!("payment task: {e}")))?;
        for (hash, why) in refused {
            world.events.emit(RunEvent::StepNote {
                text: format!("{node} did not take payment {hash} when it was sent"),
                detail: Some(why),
            });
        }
    }
    Ok(())
}

/// Waits until every payment `node` sent without waiting has ended.
pub async fn wait_unwaited(world: &World<'_>, node: &str, limit: Duration) -> Result<()> {
    let started = tokio::time::Instant::now();
    handed_over(world, node, limit).await?;
    let limit = limit.saturating_sub(started.elapsed());
    let n = world.cluster.node(node)?;
    let mine: Vec<String> = world
        .state()
        .unwaited
        .iter()
        .filter(|(p, _)| p == node)
        .map(|(_, h)| h.clone())
        .collect();
    wait::until(
        &format!("{node}: {} payments ended", mine.len()),
        limit,
        || async {
            let payments = n.payments().await.map_err(|e| e.to_string())?;
            let open = mine
                .iter()
                .filter(|h| {
                    payments.iter().any(|p| {
                        &&p.payment_hash == h
                            && matches!(p.status, PaymentStatus::Pending | PaymentStatus::Held)
                    })
                })
                .count();
            if open == 0 {
                Ok(())
            } else {
                Err(format!("{open} still pending"))
            }
        },
    )
    .await
}
