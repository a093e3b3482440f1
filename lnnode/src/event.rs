//! Every LDK event handled, and a log of the ones the harness waits on,
//! served by the admin API as a long poll (no polling loops in the harness).

use std::sync::Mutex;
use std::time::Duration;

use bitcoin::Address;
use lightning::events::{Event, PaymentPurpose, ReplayEvent};
use tokio::sync::watch;

use crate::clock::now_secs;
use crate::node::Node;
use lnnode_api::{
    Direction, Event as NodeEvent, EventRecord as Record, Payment as PaymentRecord, PaymentStatus,
};

pub struct EventLog {
    records: Mutex<Vec<Record>>,
    latest: watch::Sender<u64>,
}

impl EventLog {
    pub fn new() -> Self {
        EventLog {
            records: Mutex::new(Vec::new()),
            latest: watch::channel(0).0,
        }
    }

    pub fn push(&self, event: NodeEvent) {
        let seq = {
            let Ok(mut r) = self.records.lock() else {
                return;
            };
            let seq = r.len() as u64 + 1;
            tracing::info!(seq, event = ?event, "node event");
            r.push(Record {
                seq,
                at: now_secs(),
                event,
            });
            seq
        };
        self.latest.send_replace(seq);
    }

    pub fn since(&self, after: u64) -> Vec<Record> {
        self.records
            .lock()
            .map(|r| r.iter().filter(|x| x.seq > after).cloned().collect())
            .unwrap_or_default()
    }

    /// Events after `after`, waiting up to `timeout` for the first one.
    pub async fn wait(&self, after: u64, timeout: Duration) -> Vec<Record> {
        let mut rx = self.latest.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|latest| *latest > after)).await;
        self.since(after)
    }
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new()
    }
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

/// Handles one LDK event. `Err(ReplayEvent)` makes LDK hand it to us again later.
pub async fn handle(node: &Node, event: Event) -> Result<(), ReplayEvent> {
    match event {
        Event::FundingGenerationReady {
            temporary_channel_id,
            counterparty_node_id,
            channel_value_satoshis,
            output_script,
            ..
        } => {
            let funded = async {
                let address = Address::from_script(&output_script, node.network)?;
                let tx = node
                    .bitcoind
                    .fund_output(&address, bitcoin::Amount::from_sat(channel_value_satoshis))
                    .await?;
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
        Event::FundingTxBroadcastSafe {
            channel_id,
            funding_txo,
            ..
        } => {
            tracing::info!(%channel_id, funding_txo = %funding_txo, "funding broadcast safe");
        }
        Event::PaymentClaimable {
            payment_hash,
            purpose,
            amount_msat,
            claim_deadline,
            ..
        } => {
            let hash = payment_hash.to_string();
            let preimage = match &purpose {
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
        Event::PaymentClaimed {
            payment_hash,
            amount_msat,
            ..
        } => {
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
        Event::ConnectionNeeded { node_id, addresses } => {
            tracing::info!(peer = %node_id, addresses = addresses.len(), "connection needed");
        }
        Event::InvoiceReceived { payment_id, .. } => {
            // BOLT12 is not used by this node; LDK abandons the payment on timeout.
            tracing::warn!(payment_id = %payment_id, "unexpected BOLT12 invoice");
        }
        Event::PaymentSent {
            payment_hash,
            fee_paid_msat,
            amount_msat,
            ..
        } => {
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
        Event::PaymentFailed {
            payment_id,
            payment_hash,
            reason,
        } => {
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
        Event::HTLCIntercepted {
            intercept_id,
            payment_hash,
            ..
        } => {
            // Interception is off; fail anything that still arrives.
            tracing::warn!(%payment_hash, "intercepted HTLC failed back");
            let _ = node.channel_manager.fail_intercepted_htlc(intercept_id);
        }
        Event::SpendableOutputs {
            outputs,
            channel_id,
        } => {
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
        }
        Event::PaymentForwarded {
            total_fee_earned_msat,
            ..
        } => {
            tracing::info!(fee_msat = ?total_fee_earned_msat, "payment forwarded");
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
        Event::SplicePending { channel_id, .. } | Event::SpliceFailed { channel_id, .. } => {
            tracing::warn!(%channel_id, "splice event although splicing is disabled");
        }
        Event::DiscardFunding {
            channel_id,
            funding_info,
        } => {
            tracing::info!(%channel_id, "funding discarded");
            // Its inputs were locked when it was made; the wallet may spend them again.
            if let lightning::events::FundingInfo::Tx { transaction } = funding_info {
                if let Err(e) = node.bitcoind.unlock_inputs(&transaction).await {
                    tracing::warn!(%channel_id, error = %e, "cannot unlock the discarded funding's inputs");
                }
            }
        }
        Event::OpenChannelRequest {
            temporary_channel_id,
            ..
        } => {
            // Only emitted with manual acceptance, which is off.
            tracing::warn!(channel_id = %temporary_channel_id, "unexpected open channel request");
        }
        Event::HTLCHandlingFailed {
            prev_channel_id,
            failure_type,
            ..
        } => {
            tracing::info!(channel_id = %prev_channel_id, failure = ?failure_type, "HTLC handling failed");
        }
        Event::BumpTransaction(bump) => {
            // Anchors are never negotiated, so there is nothing to bump.
            tracing::error!(event = ?bump, "bump request although anchors are disabled");
        }
        Event::OnionMessageIntercepted { .. } | Event::OnionMessagePeerConnected { .. } => {}
        Event::PersistStaticInvoice { .. } | Event::StaticInvoiceRequested { .. } => {
            tracing::warn!("static invoice event although BOLT12 is not used");
        }
        Event::FundingTransactionReadyForSigning { channel_id, .. } => {
            tracing::warn!(%channel_id, "interactive funding event although dual funding is not used");
        }
    }
    Ok(())
}
