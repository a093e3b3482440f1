//! What lightningd's list calls say, in the node seam's terms: channels,
//! payments, and the events a node reports. lightningd pushes nothing to an
//! RPC client, so events are the differences between one look and the
//! next: a channel's state moving on, an invoice paid, a payment finished.
//! Every state here is one lightningd keeps until the next look, so no
//! event is missed between looks; each is reported once.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::node::{
    Balance, ChannelState, ChannelSummary, Htlc, HtlcDirection, NodeEvent, Payment, PaymentStatus,
};

/// lightningd's answers at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `listpeerchannels.channels`
    pub channels: Vec<Value>,
    /// `listinvoices.invoices`
    pub invoices: Vec<Value>,
    /// `listpays.pays`
    pub pays: Vec<Value>,
    /// `hold-list.holds`: our plugin's hold invoices.
    pub holds: Vec<Value>,
}

/// Before the funding transaction exists: nothing to report yet.
fn is_opening(state: &str) -> bool {
    matches!(
        state,
        "OPENINGD"
            | "DUALOPEND_OPEN_INIT"
            | "DUALOPEND_OPEN_COMMITTED"
            | "DUALOPEND_OPEN_COMMIT_READY"
    )
}

/// Funding broadcast, not yet locked in.
fn is_awaiting_lockin(state: &str) -> bool {
    matches!(
        state,
        "CHANNELD_AWAITING_LOCKIN" | "DUALOPEND_AWAITING_LOCKIN"
    )
}

/// Its closing transaction is signed or on chain: the channel is no
/// longer one the node can use (LDK drops it from its list at that point).
pub fn is_closed(state: &str) -> bool {
    matches!(
        state,
        "CLOSINGD_COMPLETE" | "AWAITING_UNILATERAL" | "FUNDING_SPEND_SEEN" | "ONCHAIN"
    )
}

pub(super) fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn msat_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// A channel as the seam shows it; `None` for one not yet funded or
/// already closed.
pub fn channel_summary(c: &Value) -> Option<ChannelSummary> {
    let state = str_of(c, "state");
    if is_opening(state) || is_closed(state) {
        return None;
    }
    let connected = c.get("peer_connected").and_then(Value::as_bool) == Some(true);
    let state = match state {
        s if is_awaiting_lockin(s) => ChannelState::Pending,
        "CHANNELD_NORMAL" if connected => ChannelState::Usable,
        "CHANNELD_NORMAL" => ChannelState::Ready,
        // Shutting down, negotiating the close, splicing.
        _ => ChannelState::Blocked,
    };
    let htlcs = c
        .get("htlcs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|h| Htlc {
            direction: if str_of(h, "direction") == "in" {
                HtlcDirection::Inbound
            } else {
                HtlcDirection::Outbound
            },
            amount_msat: msat_of(h, "amount_msat"),
            payment_hash: str_of(h, "payment_hash").to_string(),
            cltv_expiry: h.get("expiry").and_then(Value::as_u64).unwrap_or(0) as u32,
        })
        .collect();
    Some(ChannelSummary {
        channel_id: str_of(c, "channel_id").to_string(),
        counterparty: str_of(c, "peer_id").to_string(),
        funding_txo: funding_txo(c),
        capacity_sat: msat_of(c, "total_msat") / 1000,
        state,
        is_outbound: str_of(c, "opener") == "local",
        local_balance_msat: msat_of(c, "to_us_msat"),
        outbound_capacity_msat: msat_of(c, "spendable_msat"),
        inbound_capacity_msat: msat_of(c, "receivable_msat"),
        confirmations: None,
        pending_htlcs: htlcs,
        signer_dbid: None,
        signer_refusal: None,
    })
}

fn funding_txo(c: &Value) -> Option<String> {
    let txid = str_of(c, "funding_txid");
    let vout = c.get("funding_outnum").and_then(Value::as_u64)?;
    (!txid.is_empty()).then(|| format!("{txid}:{vout}"))
}

/// The node's money as the seam counts it: the on-chain wallet
/// (`listfunds`), open channels, and what closed channels still hold on
/// chain before it reaches the wallet, which the bookkeeper plugin keeps
/// per channel account (`bkpr-listbalances`).
pub fn balance(funds: &Value, channels: &[Value], accounts: &Value) -> Balance {
    let mut trusted = 0;
    let mut pending = 0;
    for o in funds
        .get("outputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let sat = msat_of(o, "amount_msat") / 1000;
        match str_of(o, "status") {
            "confirmed" => trusted += sat,
            "unconfirmed" => pending += sat,
            _ => {}
        }
    }
    let open: u64 = channels
        .iter()
        .filter_map(channel_summary)
        .map(|c| c.local_balance_msat)
        .sum();
    let closed: BTreeSet<&str> = channels
        .iter()
        .filter(|c| is_closed(str_of(c, "state")))
        .map(|c| str_of(c, "channel_id"))
        .collect();
    let claimable_msat: u64 = accounts
        .get("accounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| closed.contains(str_of(a, "account")))
        .flat_map(|a| {
            a.get("balances")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .map(|b| msat_of(b, "balance_msat"))
        .sum();
    Balance {
        wallet_trusted_sat: trusted,
        wallet_pending_sat: pending,
        claimable_onchain_sat: claimable_msat / 1000,
        sweeping_sat: 0,
        channels_local_msat: open,
        claims: Vec::new(),
    }
}

/// Payments both ways: outbound from `listpays` (one row per payment, not
/// per part), inbound from paid invoices and from every hold invoice.
pub fn payments(snap: &Snapshot) -> Vec<Payment> {
    let mut out = Vec::new();
    for p in &snap.pays {
        let status = match str_of(p, "status") {
            "complete" => PaymentStatus::Succeeded,
            "failed" => PaymentStatus::Failed,
            _ => PaymentStatus::Pending,
        };
        let amount = p.get("amount_msat").and_then(Value::as_u64);
        let sent = p.get("amount_sent_msat").and_then(Value::as_u64);
        let created = p.get("created_at").and_then(Value::as_u64).unwrap_or(0);
        out.push(Payment {
            payment_hash: str_of(p, "payment_hash").to_string(),
            direction: lnnode_api::Direction::Outbound,
            status,
            amount_msat: amount,
            fee_msat: amount.zip(sent).map(|(a, s)| s.saturating_sub(a)),
            hold: false,
            failure: (status == PaymentStatus::Failed).then(|| "payment failed".to_string()),
            created_at: created,
            updated_at: p
                .get("completed_at")
                .and_then(Value::as_u64)
                .unwrap_or(created),
        });
    }
    for i in &snap.invoices {
        if str_of(i, "status") != "paid" {
            continue;
        }
        let paid_at = i.get("paid_at").and_then(Value::as_u64).unwrap_or(0);
        out.push(Payment {
            payment_hash: str_of(i, "payment_hash").to_string(),
            direction: lnnode_api::Direction::Inbound,
            status: PaymentStatus::Succeeded,
            amount_msat: i.get("amount_received_msat").and_then(Value::as_u64),
            fee_msat: None,
            hold: false,
            failure: None,
            created_at: paid_at,
            updated_at: paid_at,
        });
    }
    for h in &snap.holds {
        let status = hold_status(h);
        let created = h.get("created_at").and_then(Value::as_u64).unwrap_or(0);
        out.push(Payment {
            payment_hash: str_of(h, "payment_hash").to_string(),
            direction: lnnode_api::Direction::Inbound,
            status,
            amount_msat: h.get("amount_msat").and_then(Value::as_u64),
            fee_msat: None,
            hold: true,
            failure: (status == PaymentStatus::Failed)
                .then(|| "hold invoice cancelled".to_string()),
            created_at: created,
            updated_at: created,
        });
    }
    out
}

/// A hold invoice's state in the plugin's words, as the seam says it.
fn hold_status(h: &Value) -> PaymentStatus {
    match str_of(h, "state") {
        "held" => PaymentStatus::Held,
        "settled" => PaymentStatus::Succeeded,
        "cancelled" => PaymentStatus::Failed,
        _ => PaymentStatus::Pending,
    }
}

/// The first height at which the plugin fails one of a hold's HTLCs back
/// by itself, as lnnode reports LDK's deadline.
fn hold_deadline(h: &Value) -> Option<u32> {
    h.get("htlcs")?
        .as_array()?
        .iter()
        .filter_map(|x| x.get("fail_back_height").and_then(Value::as_u64))
        .min()
        .and_then(|d| u32::try_from(d).ok())
}

/// The event log one node's looks build up.
#[derive(Debug, Default)]
pub struct Observer {
    channels: BTreeMap<String, String>,
    paid: BTreeSet<String>,
    pays_done: BTreeSet<String>,
    /// Hold invoices by payment hash, at their last look's state.
    holds: BTreeMap<String, PaymentStatus>,
    log: Vec<NodeEvent>,
}

impl Observer {
    /// Every event so far, oldest first.
    pub fn log(&self) -> &[NodeEvent] {
        &self.log
    }

    /// Adds what changed since the last look.
    pub fn observe(&mut self, snap: &Snapshot) {
        for c in &snap.channels {
            let id = str_of(c, "channel_id");
            let state = str_of(c, "state");
            if id.is_empty() || is_opening(state) {
                continue;
            }
            let before = self.channels.insert(id.to_string(), state.to_string());
            let was = before.as_deref();
            if was.is_none() {
                self.log.push(NodeEvent::ChannelPending {
                    channel_id: id.to_string(),
                    counterparty: str_of(c, "peer_id").to_string(),
                    funding_txo: funding_txo(c).unwrap_or_default(),
                    // lightningd names a channel by its final id from the start.
                    temporary_channel_id: Some(id.to_string()),
                });
            }
            let ready = |s: &str| !is_awaiting_lockin(s) && !is_opening(s);
            // A channel closed before it was ever locked in never was ready.
            let locked = c.get("short_channel_id").is_some();
            if !was.is_some_and(ready) && ready(state) && locked {
                self.log.push(NodeEvent::ChannelReady {
                    channel_id: id.to_string(),
                    counterparty: str_of(c, "peer_id").to_string(),
                });
            }
            if !was.is_some_and(is_closed) && is_closed(state) {
                let closer = c
                    .get("closer")
                    .and_then(Value::as_str)
                    .unwrap_or("nobody yet");
                self.log.push(NodeEvent::ChannelClosed {
                    channel_id: id.to_string(),
                    reason: format!("{state} (closer: {closer})"),
                });
            }
        }
        for i in &snap.invoices {
            let hash = str_of(i, "payment_hash");
            if str_of(i, "status") == "paid" && self.paid.insert(hash.to_string()) {
                self.log.push(NodeEvent::PaymentReceived {
                    payment_hash: hash.to_string(),
                    amount_msat: msat_of(i, "amount_received_msat"),
                });
            }
        }
        for h in &snap.holds {
            let hash = str_of(h, "payment_hash");
            let now = hold_status(h);
            let was = self.holds.insert(hash.to_string(), now);
            if was == Some(now) {
                continue;
            }
            match now {
                PaymentStatus::Held => self.log.push(NodeEvent::HtlcAccepted {
                    payment_hash: hash.to_string(),
                    amount_msat: msat_of(h, "held_msat"),
                    claim_deadline: hold_deadline(h),
                }),
                PaymentStatus::Succeeded => self.log.push(NodeEvent::PaymentReceived {
                    payment_hash: hash.to_string(),
                    amount_msat: msat_of(h, "amount_msat"),
                }),
                _ => {}
            }
        }
        for p in payments(snap) {
            if p.direction != lnnode_api::Direction::Outbound {
                continue;
            }
            let done = matches!(p.status, PaymentStatus::Succeeded | PaymentStatus::Failed);
            if !done || !self.pays_done.insert(p.payment_hash.clone()) {
                continue;
            }
            self.log.push(match p.status {
                PaymentStatus::Succeeded => NodeEvent::PaymentSent {
                    payment_hash: p.payment_hash,
                    fee_msat: p.fee_msat,
                },
                _ => NodeEvent::PaymentFailed {
                    payment_hash: p.payment_hash,
                    reason: p.failure.unwrap_or_default(),
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn channel(state: &str, scid: bool) -> Value {
        let mut c = json!({
            "channel_id": "aa", "peer_id": "02bb", "state": state, "peer_connected": true,
            "funding_txid": "cc", "funding_outnum": 1, "opener": "local",
            "total_msat": 1_000_000_000u64, "to_us_msat": 999_000_000u64,
            "spendable_msat": 980_000_000u64, "receivable_msat": 0,
            "htlcs": [{"direction": "out", "amount_msat": 5000, "payment_hash": "dd", "expiry": 150}]
        });
        if scid {
            c["short_channel_id"] = json!("103x1x1");
        }
        c
    }

    fn look(o: &mut Observer, channels: Vec<Value>) -> Vec<NodeEvent> {
        let before = o.log().len();
        o.observe(&Snapshot {
            channels,
            ..Default::default()
        });
        o.log()[before..].to_vec()
    }

    #[test]
    fn a_channel_s_life_is_reported_once_per_step() {
        let mut o = Observer::default();
        assert!(look(&mut o, vec![channel("OPENINGD", false)]).is_empty());
        let e = look(&mut o, vec![channel("CHANNELD_AWAITING_LOCKIN", false)]);
        assert!(
            matches!(&e[..], [NodeEvent::ChannelPending { funding_txo, temporary_channel_id: Some(t), .. }] if funding_txo == "cc:1" && t == "aa"),
            "{e:?}"
        );
        assert!(look(&mut o, vec![channel("CHANNELD_AWAITING_LOCKIN", false)]).is_empty());
        let e = look(&mut o, vec![channel("CHANNELD_NORMAL", true)]);
        assert!(matches!(&e[..], [NodeEvent::ChannelReady { .. }]), "{e:?}");
        assert!(look(&mut o, vec![channel("CHANNELD_SHUTTING_DOWN", true)]).is_empty());
        let e = look(&mut o, vec![channel("AWAITING_UNILATERAL", true)]);
        assert!(
            matches!(&e[..], [NodeEvent::ChannelClosed { reason, .. }] if reason.starts_with("AWAITING_UNILATERAL")),
            "{e:?}"
        );
        assert!(look(&mut o, vec![channel("ONCHAIN", true)]).is_empty());
    }

    #[test]
    fn a_channel_first_seen_closed_is_pending_ready_and_closed() {
        let mut o = Observer::default();
        let e = look(&mut o, vec![channel("ONCHAIN", true)]);
        assert_eq!(e.len(), 3, "{e:?}");
        let e = look(&mut Observer::default(), vec![channel("ONCHAIN", false)]);
        assert!(
            matches!(
                &e[..],
                [
                    NodeEvent::ChannelPending { .. },
                    NodeEvent::ChannelClosed { .. }
                ]
            ),
            "{e:?}"
        );
    }

    #[test]
    fn channels_show_in_the_seam_s_terms() {
        let s = channel_summary(&channel("CHANNELD_NORMAL", true)).expect("open");
        assert_eq!(s.state, ChannelState::Usable);
        assert_eq!(s.capacity_sat, 1_000_000);
        assert!(s.is_outbound);
        assert_eq!(s.pending_htlcs[0].direction, HtlcDirection::Outbound);
        assert_eq!(s.pending_htlcs[0].cltv_expiry, 150);
        assert!(channel_summary(&channel("ONCHAIN", true)).is_none());
        assert!(channel_summary(&channel("OPENINGD", false)).is_none());
        let mut c = channel("CHANNELD_NORMAL", true);
        c["peer_connected"] = json!(false);
        assert_eq!(
            channel_summary(&c).expect("open").state,
            ChannelState::Ready
        );
    }

    #[test]
    fn balance_counts_the_wallet_open_channels_and_closed_ones_apart() {
        let funds = json!({"outputs": [
            {"amount_msat": 5_000_000, "status": "confirmed"},
            {"amount_msat": 2_000_000, "status": "unconfirmed"},
            {"amount_msat": 9_000_000, "status": "spent"}
        ]});
        let mut closed = channel("ONCHAIN", true);
        closed["channel_id"] = json!("c1");
        let accounts = json!({"accounts": [
            {"account": "wallet", "balances": [{"balance_msat": 7_000_000}]},
            {"account": "c1", "balances": [{"balance_msat": 300_000_000}]},
            {"account": "aa", "balances": [{"balance_msat": 999_000_000}]}
        ]});
        let b = balance(
            &funds,
            &[channel("CHANNELD_NORMAL", true), closed],
            &accounts,
        );
        assert_eq!((b.wallet_trusted_sat, b.wallet_pending_sat), (5000, 2000));
        assert_eq!(b.channels_local_msat, 999_000_000);
        assert_eq!(b.claimable_onchain_sat, 300_000);
    }

    #[test]
    fn payments_finish_once_with_their_fee() {
        let mut o = Observer::default();
        let pending = json!({"payment_hash": "ee", "status": "pending", "created_at": 5});
        let done = json!({"payment_hash": "ee", "status": "complete", "created_at": 5,
            "amount_msat": 10_000, "amount_sent_msat": 10_001, "completed_at": 6});
        let paid = json!({"payment_hash": "ff", "status": "paid", "amount_received_msat": 7000, "paid_at": 9});
        o.observe(&Snapshot {
            pays: vec![pending],
            ..Default::default()
        });
        assert!(o.log().is_empty());
        let snap = Snapshot {
            pays: vec![done],
            invoices: vec![paid],
            ..Default::default()
        };
        o.observe(&snap);
        o.observe(&snap);
        assert_eq!(
            o.log(),
            &[
                NodeEvent::PaymentReceived {
                    payment_hash: "ff".into(),
                    amount_msat: 7000
                },
                NodeEvent::PaymentSent {
                    payment_hash: "ee".into(),
                    fee_msat: Some(1)
                },
            ]
        );
        let p = payments(&snap);
        assert_eq!(p[0].fee_msat, Some(1));
        assert_eq!(p[1].direction, lnnode_api::Direction::Inbound);
    }

    #[test]
    fn a_hold_is_accepted_once_held_and_received_once_settled() {
        let mut o = Observer::default();
        let hold = |state: &str, htlcs: Value| {
            json!({"payment_hash": "ab", "amount_msat": 50_000, "created_at": 3,
                   "state": state, "held_msat": 50_000, "htlcs": htlcs})
        };
        let look = |o: &mut Observer, h: Value| {
            o.observe(&Snapshot {
                holds: vec![h.clone()],
                ..Default::default()
            });
            payments(&Snapshot {
                holds: vec![h],
                ..Default::default()
            })
        };
        assert_eq!(
            look(&mut o, hold("open", json!([])))[0].status,
            PaymentStatus::Pending
        );
        let htlcs = json!([{"cltv_expiry": 140, "fail_back_height": 137},
                           {"cltv_expiry": 130, "fail_back_height": 127}]);
        let p = look(&mut o, hold("held", htlcs.clone()));
        assert_eq!((p[0].status, p[0].hold), (PaymentStatus::Held, true));
        look(&mut o, hold("held", htlcs));
        let p = look(&mut o, hold("settled", json!([])));
        assert_eq!(p[0].status, PaymentStatus::Succeeded);
        assert_eq!(
            o.log(),
            &[
                NodeEvent::HtlcAccepted {
                    payment_hash: "ab".into(),
                    amount_msat: 50_000,
                    claim_deadline: Some(127)
                },
                NodeEvent::PaymentReceived {
                    payment_hash: "ab".into(),
                    amount_msat: 50_000
                },
            ]
        );
        let p = look(&mut o, hold("cancelled", json!([])));
        assert_eq!(p[0].status, PaymentStatus::Failed);
    }
}
