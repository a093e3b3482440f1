//! Every LDK event handled: `handle` sorts them into groups (channels,
//! payments, on-chain outputs, features this node does not use), and the
//! ones the harness waits on go to the node's `EventLog`.

use bitcoin::secp256k1::PublicKey;
use bitcoin::{Address, Amount, ScriptBuf};
use lightning::events::{Event, FundingInfo, PaymentFailureReason, PaymentPurpose, ReplayEvent};
use lightning::ln::channelmanager::PaymentId;
use lightning::ln::types::ChannelId;
use lightning::sign::SpendableOutputDescriptor;
use lightning::types::payment::PaymentHash;

use crate::clock::now_secs;
use crate::node::Node;
use lnnode_api::{Direction, Event as NodeEvent, Payment as PaymentRecord, PaymentStatus};

/// Handles one LDK event. `Err(ReplayEvent)` makes LDK hand it to us again later.
///
/// The match names every kind LDK has, so a kind added by an LDK upgrade
/// fails the build here instead of being dropped; each group's own match
/// then only sees the kinds sent to it.
pub async fn handle(node: &Node, event: Event) -> Result<(), ReplayEvent> {
    match event {
        Event::FundingGenerationReady { .. }
        | Event::FundingTxBroadcastSafe { .. }
        | Event::ChannelPending { .. }
        | Event::ChannelReady { .. }
        | Event::ChannelClosed { .. }
        | Event::DiscardFunding { .. }
        | Event::OpenChannelRequest { .. }
        | Event::SplicePending { .. }
        | Event::SpliceFailed { .. }
        | Event::FundingTransactionReadyForSigning { .. } => channel_event(node, event).await,
        Event::PaymentClaimable { .. }
        | Event::PaymentClaimed { .. }
        | Event::PaymentSent { .. }
        | Event::PaymentFailed { .. }
        | Event::PaymentPathSuccessful { .. }
        | Event::PaymentPathFailed { .. }
        | Event::ProbeSuccessful { .. }
        | Event::ProbeFailed { .. }
        | Event::PaymentForwarded { .. }
        | Event::HTLCIntercepted { .. }
        | Event::HTLCHandlingFailed { .. } => payment_event(node, event),
        Event::SpendableOutputs {
            outputs,
            channel_id,
        } => return track_spendable_outputs(node, outputs, channel_id),
        Event::BumpTransaction(bump) => {
            // Anchors are never negotiated, so there is nothing to bump.
            tracing::error!(event = ?bump, "bump request although anchors are disabled");
        }
        Event::ConnectionNeeded { .. }
        | Event::InvoiceReceived { .. }
        | Event::OnionMessageIntercepted { .. }
        | Event::OnionMessagePeerConnected { .. }
        | Event::PersistStaticInvoice { .. }
        | Event::StaticInvoiceRequested { .. } => unused_feature_event(&event),
    }
    Ok(())
}

/// A channel's funding, state changes and close.
async fn channel_event(node: &Node, event: Event) {
    match event {
        Event::FundingGenerationReady {
            temporary_channel_id,
            counterparty_node_id,
            channel_value_satoshis,
            output_script,
            ..
        } => {
            let value = Amount::from_sat(channel_value_satoshis);
            let channel = (temporary_channel_id, counterparty_node_id);
            fund_channel(node, channel, value, &output_script).await;
        }
        Event::FundingTxBroadcastSafe {
            channel_id,
            funding_txo,
            ..
        } => {
            tracing::info!(%channel_id, funding_txo = %funding_txo, "funding broadcast safe");
        }
        Event::ChannelPending {
            channel_id,
            counterparty_node_id,
            funding_txo,
            former_temporary_channel_id,
            ..
        } => node.events.push(NodeEvent::ChannelPending {
            channel_id: channel_id.to_string(),
            counterparty: counterparty_node_id.to_string(),
            funding_txo: funding_txo.to_string(),
            temporary_channel_id: former_temporary_channel_id.map(|t| t.to_string()),
        }),
        Event::ChannelReady {
            channel_id,
            counterparty_node_id,
            ..
        } => node.events.push(NodeEvent::ChannelReady {
            channel_id: channel_id.to_string(),
            counterparty: counterparty_node_id.to_string(),
        }),
        Event::ChannelClosed {
            channel_id, reason, ..
        } => node.events.push(NodeEvent::ChannelClosed {
            channel_id: channel_id.to_string(),
            reason: reason.to_string(),
        }),
        Event::DiscardFunding {
            channel_id,
            funding_info,
        } => discard_funding(node, channel_id, funding_info).await,
        Event::OpenChannelRequest {
            temporary_channel_id,
            ..
        } => {
            // Only emitted with manual acceptance, which is off.
            tracing::warn!(channel_id = %temporary_channel_id, "unexpected open channel request");
        }
        Event::SplicePending { channel_id, .. } | Event::SpliceFailed { channel_id, .. } => {
            tracing::warn!(%channel_id, "splice event although splicing is disabled");
        }
        Event::FundingTransactionReadyForSigning { channel_id, .. } => {
            tracing::warn!(%channel_id, "interactive funding event although dual funding is not used");
        }
        // `handle` sends every other kind elsewhere.
        _ => {}
    }
}

/// Pays the channel's funding output from the bitcoind wallet, or abandons
/// the channel if the wallet cannot.
async fn fund_channel(
    node: &Node,
    (temporary_channel_id, counterparty_node_id): (ChannelId, PublicKey),
    value: Amount,
    output_script: &ScriptBuf,
) {
    let funded = async {
        let address = Address::from_script(output_script, node.network)?;
        let tx = node.bitcoind.fund_output(&address, value).await?;
        anyhow::Ok(tx)
    }
    .await;
    match funded {
        Ok(tx) => {
            let txid = tx.compute_txid();
            if let Err(e) = node.channel_manager.funding_transaction_generated(
                temporary_channel_id,
                counterparty_node_id,
                tx,
            ) {
                tracing::error!(channel_id = %temporary_channel_id, %txid, error = ?e, "funding transaction refused");
            } else {
                tracing::info!(channel_id = %temporary_channel_id, %txid, "funding transaction handed to LDK");
            }
        }
        Err(e) => {
            tracing::error!(channel_id = %temporary_channel_id, error = %e, "cannot fund the channel from the wallet; abandoning it");
            let _ = node.channel_manager.force_close_broadcasting_latest_txn(
                &temporary_channel_id,
                &counterparty_node_id,
                format!("funding failed: {e}"),
            );
        }
    }
}

async fn discard_funding(node: &Node, channel_id: ChannelId, funding_info: FundingInfo) {
    tracing::info!(%channel_id, "funding discarded");
    // Its inputs were locked when it was made; the wallet may spend them again.
    if let FundingInfo::Tx { transaction } = funding_info {
        if let Err(e) = node.bitcoind.unlock_inputs(&transaction).await {
            tracing::warn!(%channel_id, error = %e, "cannot unlock the discarded funding's inputs");
        }
    }
}

/// Payments in both directions, and HTLCs this node forwards or refuses.
fn payment_event(node: &Node, event: Event) {
    match event {
        Event::PaymentClaimable {
            payment_hash,
            purpose,
            amount_msat,
            claim_deadline,
            ..
        } => payment_claimable(node, payment_hash, &purpose, amount_msat, claim_deadline),
        Event::PaymentClaimed {
            payment_hash,
            amount_msat,
            ..
        } => payment_claimed(node, payment_hash, amount_msat),
        Event::PaymentSent {
            payment_hash,
            fee_paid_msat,
            amount_msat,
            ..
        } => payment_sent(node, payment_hash, fee_paid_msat, amount_msat),
        Event::PaymentFailed {
            payment_id,
            payment_hash,
            reason,
        } => payment_failed(node, payment_id, payment_hash, reason),
        Event::PaymentPathSuccessful { payment_hash, .. } => {
            tracing::debug!(payment_hash = ?payment_hash, "payment path succeeded");
        }
        Event::PaymentPathFailed {
            payment_hash,
            payment_failed_permanently,
            ..
        } => {
            tracing::info!(%payment_hash, payment_failed_permanently, "payment path failed");
        }
        Event::ProbeSuccessful { .. } | Event::ProbeFailed { .. } => {}
        Event::PaymentForwarded {
            total_fee_earned_msat,
            ..
        } => {
            tracing::info!(fee_msat = ?total_fee_earned_msat, "payment forwarded");
        }
        Event::HTLCIntercepted {
            intercept_id,
            payment_hash,
            ..
        } => {
            // Interception is off; fail anything that still arrives.
            tracing::warn!(%payment_hash, "intercepted HTLC failed back");
            let _ = node.channel_manager.fail_intercepted_htlc(intercept_id);
        }
        Event::HTLCHandlingFailed {
            prev_channel_id,
            failure_type,
            ..
        } => {
            tracing::info!(channel_id = %prev_channel_id, failure = ?failure_type, "HTLC handling failed");
        }
        // `handle` sends every other kind elsewhere.
        _ => {}
    }
}

/// An invoice of ours is being paid: claim it at once, or hold it (a hold
/// invoice: LDK does not know the preimage) until the harness settles it.
fn payment_claimable(
    node: &Node,
    payment_hash: PaymentHash,
    purpose: &PaymentPurpose,
    amount_msat: u64,
    claim_deadline: Option<u32>,
) {
    let hash = payment_hash.to_string();
    let preimage = match purpose {
        PaymentPurpose::Bolt11InvoicePayment {
            payment_preimage, ..
        } => *payment_preimage,
        other => other.preimage(),
    };
    match preimage {
        Some(p) => node.channel_manager.claim_funds(p),
        None => {
            record_payment(node, &hash, Direction::Inbound, |r| {
                r.status = PaymentStatus::Held;
                r.hold = true;
                r.amount_msat = Some(amount_msat);
            });
            node.events.push(NodeEvent::HtlcAccepted {
                payment_hash: hash,
                amount_msat,
                claim_deadline,
            });
        }
    }
}

fn payment_claimed(node: &Node, payment_hash: PaymentHash, amount_msat: u64) {
    let hash = payment_hash.to_string();
    record_payment(node, &hash, Direction::Inbound, |r| {
        r.status = PaymentStatus::Succeeded;
        r.amount_msat = Some(amount_msat);
    });
    node.events.push(NodeEvent::PaymentReceived {
        payment_hash: hash,
        amount_msat,
    });
}

fn payment_sent(
    node: &Node,
    payment_hash: PaymentHash,
    fee_paid_msat: Option<u64>,
    amount_msat: Option<u64>,
) {
    let hash = payment_hash.to_string();
    record_payment(node, &hash, Direction::Outbound, |r| {
        r.status = PaymentStatus::Succeeded;
        r.fee_msat = fee_paid_msat;
        if r.amount_msat.is_none() {
            r.amount_msat = amount_msat;
        }
    });
    node.events.push(NodeEvent::PaymentSent {
        payment_hash: hash,
        fee_msat: fee_paid_msat,
    });
}

fn payment_failed(
    node: &Node,
    payment_id: PaymentId,
    payment_hash: Option<PaymentHash>,
    reason: Option<PaymentFailureReason>,
) {
    let hash = payment_hash
        .map(|h| h.to_string())
        .unwrap_or_else(|| hex::encode(payment_id.0));
    let why = reason
        .map(|r| format!("{r:?}"))
        .unwrap_or_else(|| "unknown".to_string());
    record_payment(node, &hash, Direction::Outbound, |r| {
        r.status = PaymentStatus::Failed;
        r.failure = Some(why.clone());
    });
    node.events.push(NodeEvent::PaymentFailed {
        payment_hash: hash,
        reason: why,
    });
}

fn record_payment(
    node: &Node,
    hash: &str,
    direction: Direction,
    f: impl FnOnce(&mut PaymentRecord),
) {
    let now = now_secs();
    let res = node.payments.update(hash, |old| {
        let mut r = old.unwrap_or(PaymentRecord {
            payment_hash: hash.to_string(),
            direction,
            status: PaymentStatus::Pending,
            amount_msat: None,
            fee_msat: None,
            hold: false,
            failure: None,
            created_at: now,
            updated_at: now,
        });
        f(&mut r);
        r.updated_at = now;
        r
    });
    if let Err(e) = res {
        tracing::error!(payment_hash = hash, error = %e, "cannot persist payment record");
    }
}

/// Outputs that are ours to claim go to the sweeper; if it cannot take
/// them the event is replayed, so no output is forgotten.
fn track_spendable_outputs(
    node: &Node,
    outputs: Vec<SpendableOutputDescriptor>,
    channel_id: Option<ChannelId>,
) -> Result<(), ReplayEvent> {
    let n = outputs.len();
    // Static outputs too: with vlsd they pay a key bitcoind does not hold.
    if node
        .sweeper
        .track_spendable_outputs(outputs, channel_id, false, None)
        .is_err()
    {
        tracing::error!(channel_id = ?channel_id, "cannot track spendable outputs; will retry");
        return Err(ReplayEvent());
    }
    node.events.push(NodeEvent::SpendableOutputs {
        channel_id: channel_id.map(|c| c.to_string()),
        outputs: n,
    });
    Ok(())
}

/// Onion messages and BOLT12, which this node does not use: logged only.
fn unused_feature_event(event: &Event) {
    match event {
        Event::ConnectionNeeded { node_id, addresses } => {
            tracing::info!(peer = %node_id, addresses = addresses.len(), "connection needed");
        }
        Event::InvoiceReceived { payment_id, .. } => {
            // BOLT12 is not used by this node; LDK abandons the payment on timeout.
            tracing::warn!(payment_id = %payment_id, "unexpected BOLT12 invoice");
        }
        Event::PersistStaticInvoice { .. } | Event::StaticInvoiceRequested { .. } => {
            tracing::warn!("static invoice event although BOLT12 is not used");
        }
        // The onion message events, and every kind `handle` sends elsewhere.
        _ => {}
    }
}
