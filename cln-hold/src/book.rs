//! The plugin's book: every hold invoice and the HTLCs waiting on each,
//! with the channel each one's answer goes back to its hook on.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::decide::{decide, Answer, Htlc, FAIL_BACK_BLOCKS};
use crate::record::{Record, State};

#[derive(Debug, Default)]
pub struct Book {
    invoices: BTreeMap<String, Entry>,
    /// The highest height seen (blocks, HTLCs): the height a failure names.
    tip: u32,
}

#[derive(Debug)]
struct Entry {
    record: Record,
    waiting: Vec<Waiting>,
}

impl Entry {
    /// An invoice with no HTLC waiting on it yet.
    fn new(record: Record) -> Entry {
        Entry {
            record,
            waiting: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Waiting {
    htlc: Htlc,
    reply: oneshot::Sender<Answer>,
}

/// An HTLC's answer now, or where it will arrive.
#[derive(Debug)]
pub enum Admitted {
    Now(Answer),
    Later(oneshot::Receiver<Answer>),
}

impl Book {
    pub fn new(records: impl IntoIterator<Item = (String, Record)>) -> Book {
        Book {
            invoices: records
                .into_iter()
                .map(|(hash, record)| (hash, Entry::new(record)))
                .collect(),
            tip: 0,
        }
    }

    pub fn record(&self, hash: &str) -> Option<&Record> {
        self.invoices.get(hash).map(|e| &e.record)
    }

    pub fn insert(&mut self, hash: &str, record: Record) -> Result<()> {
        if self.invoices.contains_key(hash) {
            bail!("payment_hash {hash}: there is already a hold invoice for it");
        }
        self.invoices.insert(hash.to_string(), Entry::new(record));
        Ok(())
    }

    pub fn admit(&mut self, htlc: Htlc) -> Admitted {
        self.tip = self.tip.max(htlc.height());
        let entry = self.invoices.get_mut(&htlc.payment_hash);
        match decide(entry.as_ref().map(|e| &e.record), &htlc) {
            Answer::Hold => {
                let (reply, answer) = oneshot::channel();
                if let Some(e) = entry {
                    e.waiting.push(Waiting { htlc, reply });
                }
                Admitted::Later(answer)
            }
            now => Admitted::Now(now),
        }
    }

    /// Records the caller's decision and answers every HTLC waiting on it;
    /// returns how many were answered.
    pub fn decide(&mut self, hash: &str, state: State) -> Result<usize> {
        let tip = self.tip;
        let Some(entry) = self.invoices.get_mut(hash) else {
            bail!("payment_hash {hash}: no hold invoice for it");
        };
        entry.record.state = state;
        let waiting = std::mem::take(&mut entry.waiting);
        let n = waiting.len();
        for w in waiting {
            let answer = match &entry.record.state {
                State::Settled { preimage } => Answer::Resolve(preimage.clone()),
                _ => w.htlc.unknown_details(tip),
            };
            // A hook gone (lightningd stopped) has nobody to answer.
            let _ = w.reply.send(answer);
        }
        Ok(n)
    }

    /// At `height`, fails back held HTLCs that are about to expire; the
    /// invoice stays open. Returns the HTLCs failed.
    pub fn new_block(&mut self, height: u32) -> Vec<Htlc> {
        self.tip = self.tip.max(height);
        let mut failed = Vec::new();
        for entry in self.invoices.values_mut() {
            let (due, keep): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut entry.waiting)
                .into_iter()
                .partition(|w| w.htlc.cltv_expiry <= height.saturating_add(FAIL_BACK_BLOCKS));
            entry.waiting = keep;
            for w in due {
                let _ = w.reply.send(w.htlc.unknown_details(height));
                failed.push(w.htlc);
            }
        }
        failed
    }

    /// Every invoice: `open` until its HTLCs add up to its amount, then
    /// `held` until settled or cancelled.
    pub fn list(&self) -> Vec<Value> {
        self.invoices
            .iter()
            .map(|(hash, e)| {
                let held_msat: u64 = e.waiting.iter().map(|w| w.htlc.amount_msat).sum();
                let state = match e.record.state {
                    State::Open if held_msat >= e.record.amount_msat => "held",
                    ref s => s.name(),
                };
                let htlcs: Vec<Value> = e
                    .waiting
                    .iter()
                    .map(|w| {
                        json!({
                            "short_channel_id": w.htlc.short_channel_id,
                            "id": w.htlc.id,
                            "amount_msat": w.htlc.amount_msat,
                            "cltv_expiry": w.htlc.cltv_expiry,
                            "fail_back_height": w.htlc.cltv_expiry.saturating_sub(FAIL_BACK_BLOCKS),
                        })
                    })
                    .collect();
                json!({
                    "payment_hash": hash,
                    "bolt11": e.record.bolt11,
                    "amount_msat": e.record.amount_msat,
                    "created_at": e.record.created_at,
                    "state": state,
                    "held_msat": held_msat,
                    "htlcs": htlcs,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn htlc(id: u64, amount_msat: u64, cltv_expiry: u32) -> Htlc {
        Htlc {
            short_channel_id: "103x1x0".to_string(),
            id,
            payment_hash: "aa".to_string(),
            amount_msat,
            cltv_expiry,
            cltv_expiry_relative: i64::from(cltv_expiry) - 110,
            total_msat: Some(50_000_000),
            payment_secret: Some("99".to_string()),
        }
    }

    fn book() -> Book {
        let record = Record {
            bolt11: "lnbcrt".to_string(),
            amount_msat: 50_000_000,
            payment_secret: "99".to_string(),
            created_at: 0,
            state: State::Open,
        };
        Book::new([("aa".to_string(), record)])
    }

    fn later(a: Admitted) -> oneshot::Receiver<Answer> {
        match a {
            Admitted::Later(rx) => rx,
            Admitted::Now(a) => panic!("answered at once: {a:?}"),
        }
    }

    fn state_of(b: &Book) -> String {
        b.list()[0]["state"].as_str().unwrap().to_string()
    }

    #[test]
    fn parts_are_held_until_they_add_up_then_settled_together() {
        let mut b = book();
        let mut one = later(b.admit(htlc(1, 20_000_000, 130)));
        assert_eq!(state_of(&b), "open");
        let mut two = later(b.admit(htlc(2, 30_000_000, 130)));
        assert_eq!(state_of(&b), "held");
        assert_eq!(b.list()[0]["held_msat"], 50_000_000);
        let settled = State::Settled {
            preimage: "cc".to_string(),
        };
        assert_eq!(b.decide("aa", settled).unwrap(), 2);
        assert_eq!(one.try_recv().unwrap(), Answer::Resolve("cc".to_string()));
        assert_eq!(two.try_recv().unwrap(), Answer::Resolve("cc".to_string()));
        assert_eq!(state_of(&b), "settled");
        // One lightningd replays after a restart is claimed at once.
        match b.admit(htlc(1, 20_000_000, 130)) {
            Admitted::Now(a) => assert_eq!(a, Answer::Resolve("cc".to_string())),
            Admitted::Later(_) => panic!("a settled invoice held an HTLC"),
        }
    }

    #[test]
    fn a_cancel_fails_the_held_htlcs_at_the_tip() {
        let mut b = book();
        let mut rx = later(b.admit(htlc(1, 50_000_000, 130)));
        b.new_block(112);
        assert_eq!(b.decide("aa", State::Cancelled).unwrap(), 1);
        assert_eq!(
            rx.try_recv().unwrap(),
            htlc(1, 50_000_000, 130).unknown_details(112)
        );
        assert_eq!(state_of(&b), "cancelled");
    }

    #[test]
    fn htlcs_near_expiry_are_failed_back_and_the_invoice_stays_open() {
        let mut b = book();
        let mut early = later(b.admit(htlc(1, 50_000_000, 130)));
        let mut late = later(b.admit(htlc(2, 50_000_000, 140)));
        assert!(b.new_block(130 - FAIL_BACK_BLOCKS - 1).is_empty());
        let failed = b.new_block(130 - FAIL_BACK_BLOCKS);
        assert_eq!(failed.iter().map(|h| h.id).collect::<Vec<_>>(), [1]);
        assert!(matches!(early.try_recv(), Ok(Answer::Fail(_))));
        assert!(late.try_recv().is_err(), "the later HTLC is still held");
        assert_eq!(state_of(&b), "held");
    }

    #[test]
    fn one_invoice_per_hash_and_decisions_need_one() {
        let mut b = book();
        let err = b.insert("aa", b.record("aa").unwrap().clone()).unwrap_err();
        assert!(err.to_string().contains("already a hold invoice"), "{err}");
        let err = b.decide("bb", State::Cancelled).unwrap_err();
        assert!(err.to_string().contains("no hold invoice"), "{err}");
    }
}
