//! The HTLC archive: the HTLCs of every counterparty commitment the signer
//! ever held, by channel and commitment number.
//!
//! vls-core keeps HTLC details only for the counterparty's current and
//! previous commitments; it drops them when the counterparty revokes. But a
//! cheater broadcasts exactly a revoked commitment, and without the HTLC
//! details its HTLC outputs cannot be matched to scripts, so they cannot be
//! taken by the revocation path. The archive keeps them: every snapshot the
//! backup path sees adds its current and previous counterparty commitments,
//! and every backup carries what was gathered, so an archive only grows.
//!
//! A commitment number can hold more than one HTLC set: a signer restored
//! from an older state may sign the same number again, and the counterparty
//! can broadcast either. Every variant seen is kept.

use std::collections::{BTreeMap, HashMap};

use lightning_signer::lightning::ln::chan_utils::HTLCOutputInCommitment;
use lightning_signer::lightning::types::payment::PaymentHash;
use lightning_signer::persist::model::ChannelEntry;
use lightning_signer::tx::tx::{CommitmentInfo2, HTLCInfo2};
use serde::{Deserialize, Serialize};

use crate::snapshot::{HtlcDirection, Snapshot};
use crate::RecoveryError;

/// One HTLC of a counterparty commitment, seen from our side.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedHtlc {
    pub direction: HtlcDirection,
    pub payment_hash: String,
    pub amount_sat: u64,
    pub cltv_expiry: u32,
}

impl ArchivedHtlc {
    /// The HTLC as LDK describes it on the counterparty's commitment (the
    /// broadcaster's view: an HTLC we received is one they offered).
    pub fn on_their_commitment(&self) -> Option<HTLCOutputInCommitment> {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&self.payment_hash, &mut hash).ok()?;
        Some(HTLCOutputInCommitment {
            offered: self.direction == HtlcDirection::Received,
            amount_msat: self.amount_sat.checked_mul(1000)?,
            cltv_expiry: self.cltv_expiry,
            payment_hash: PaymentHash(hash),
            transaction_output_index: None,
        })
    }
}

/// HTLC sets by channel (first id, hex), then by counterparty commitment
/// number; each number holds every distinct set seen (sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtlcArchive {
    pub channels: BTreeMap<String, BTreeMap<u64, Vec<Vec<ArchivedHtlc>>>>,
}

fn archived(info: &CommitmentInfo2) -> Vec<ArchivedHtlc> {
    // On their commitment they are the broadcaster: its offered HTLCs are
    // the ones we receive.
    let side = |dir: HtlcDirection, list: &[HTLCInfo2]| {
        list.iter()
            .map(move |h| ArchivedHtlc {
                direction: dir,
                payment_hash: hex::encode(h.payment_hash.0),
                amount_sat: h.value_sat,
                cltv_expiry: h.cltv_expiry,
            })
            .collect::<Vec<_>>()
    };
    let mut all = side(HtlcDirection::Received, &info.offered_htlcs);
    all.extend(side(HtlcDirection::Offered, &info.received_htlcs));
    all.sort();
    all
}

impl HtlcArchive {
    /// Adds the counterparty commitments `snapshot` holds HTLC details for.
    /// Returns how many (commitment, HTLC set) pairs were new.
    pub fn observe(&mut self, snapshot: &Snapshot) -> Result<usize, RecoveryError> {
        let values: HashMap<&str, &str> = snapshot
            .store
            .iter()
            .filter_map(|i| i.value.as_ref().map(|v| (i.key.as_str(), v.get())))
            .collect();
        let mut added = 0;
        for c in &snapshot.channels {
            let Some(json) = values.get(c.key.as_str()) else {
                continue;
            };
            let entry: ChannelEntry =
                serde_json::from_str(json).map_err(|e| RecoveryError::StateInvalid {
                    source_name: "snapshot".into(),
                    key: c.key.clone(),
                    reason: e.to_string(),
                })?;
            let es = &entry.enforcement_state;
            let next = es.next_counterparty_commit_num;
            let known = [
                (next.checked_sub(1), &es.current_counterparty_commit_info),
                (next.checked_sub(2), &es.previous_counterparty_commit_info),
            ];
            for (number, info) in known {
                let (Some(number), Some(info)) = (number, info) else {
                    continue;
                };
                let set = archived(info);
                if set.is_empty() {
                    continue;
                }
                if self.insert(&c.id0, number, set) {
                    added += 1;
                }
            }
        }
        Ok(added)
    }

    fn insert(&mut self, id0: &str, number: u64, set: Vec<ArchivedHtlc>) -> bool {
        let variants = self
            .channels
            .entry(id0.to_string())
            .or_default()
            .entry(number)
            .or_default();
        match variants.binary_search(&set) {
            Ok(_) => false,
            Err(at) => {
                variants.insert(at, set);
                true
            }
        }
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: &HtlcArchive) {
        for (id0, numbers) in &other.channels {
            for (number, variants) in numbers {
                for set in variants {
                    self.insert(id0, *number, set.clone());
                }
            }
        }
    }

    /// Every HTLC known on counterparty commitment `number` of channel
    /// `id0` (all variants).
    pub fn htlcs(&self, id0: &str, number: u64) -> impl Iterator<Item = &ArchivedHtlc> {
        self.channels
            .get(id0)
            .and_then(|n| n.get(&number))
            .into_iter()
            .flatten()
            .flatten()
    }

    /// How many commitments (with HTLCs) it holds, over all channels.
    pub fn commitments(&self) -> usize {
        self.channels.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(dir: HtlcDirection, amount_sat: u64) -> ArchivedHtlc {
        ArchivedHtlc {
            direction: dir,
            payment_hash: hex::encode([amount_sat as u8; 32]),
            amount_sat,
            cltv_expiry: 500,
        }
    }

    #[test]
    fn insert_keeps_distinct_sets_once_each() {
        let mut a = HtlcArchive::default();
        let one = vec![h(HtlcDirection::Offered, 1)];
        let two = vec![h(HtlcDirection::Received, 2)];
        assert!(a.insert("c", 5, one.clone()));
        assert!(!a.insert("c", 5, one.clone()));
        assert!(a.insert("c", 5, two.clone()));
        assert_eq!(a.htlcs("c", 5).count(), 2);
        assert_eq!(a.htlcs("c", 6).count(), 0);
        assert_eq!(a.commitments(), 1);

        let mut b = HtlcArchive::default();
        b.insert("d", 1, two);
        b.merge(&a);
        b.merge(&a);
        assert_eq!(b.commitments(), 2);
        assert_eq!(b.htlcs("c", 5).count(), 2);
    }

    #[test]
    fn their_view_swaps_direction() {
        let ours_out = h(HtlcDirection::Offered, 7);
        let theirs = ours_out.on_their_commitment().expect("valid");
        // We offered it: on their commitment they received it.
        assert!(!theirs.offered);
        assert_eq!(theirs.amount_msat, 7_000);
        let bad = ArchivedHtlc {
            payment_hash: "zz".into(),
            ..ours_out
        };
        assert!(bad.on_their_commitment().is_none());
    }

    #[test]
    fn json_round_trip_keeps_numbers_as_keys() {
        let mut a = HtlcArchive::default();
        a.insert("c", 281_474_976_710_655, vec![h(HtlcDirection::Offered, 1)]);
        let text = serde_json::to_string(&a).expect("json");
        let back: HtlcArchive = serde_json::from_str(&text).expect("parse");
        assert_eq!(a, back);
    }
}
