//! The payment preimages recovery can use to claim HTLCs we received: from
//! the signer's state, from the operator (a node's invoice database knows
//! the ones the signer never saw), and from the chain (a preimage revealed in
//! one claim settles the same hash elsewhere). Every entry is checked
//! against its hash; none is ever printed.

use std::collections::BTreeMap;
use std::fmt;

use lightning_signer::bitcoin::Transaction;
use sha2::{Digest, Sha256};

use crate::RecoveryError;

/// Preimages by payment hash.
#[derive(Default, Clone)]
pub struct Preimages(BTreeMap<[u8; 32], [u8; 32]>);

impl fmt::Debug for Preimages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Preimages({} known)", self.0.len())
    }
}

impl Preimages {
    /// Adds `preimage`; its hash is computed, so a wrong one cannot be filed
    /// under a hash it does not open.
    pub fn add(&mut self, preimage: [u8; 32]) {
        self.0.insert(Sha256::digest(preimage).into(), preimage);
    }

    /// From the signer state's map (hash -> preimage), keeping only the
    /// entries whose hash matches.
    pub fn from_state(map: &BTreeMap<[u8; 32], [u8; 32]>) -> Preimages {
        let mut p = Preimages::default();
        for preimage in map.values() {
            p.add(*preimage);
        }
        p
    }

    /// Adds one given as 64 hex digits (`what` names where it came from).
    pub fn add_hex(&mut self, hex_text: &str, what: &str) -> Result<(), RecoveryError> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(hex_text.trim(), &mut b).map_err(|_| RecoveryError::Usage {
            reason: format!("{what}: a preimage is 64 hex digits"),
        })?;
        self.add(b);
        Ok(())
    }

    /// Learns every 32-byte witness item of `txs` that is the preimage of a
    /// hash in `wanted` (HTLC claims put it there).
    pub fn harvest<'a>(
        &mut self,
        txs: impl IntoIterator<Item = &'a Transaction>,
        wanted: &[[u8; 32]],
    ) {
        for tx in txs {
            for input in &tx.input {
                for item in input.witness.iter().filter(|i| i.len() == 32) {
                    let hash: [u8; 32] = Sha256::digest(item).into();
                    if wanted.contains(&hash) {
                        let mut p = [0u8; 32];
                        p.copy_from_slice(item);
                        self.0.insert(hash, p);
                    }
                }
            }
        }
    }

    pub fn get(&self, hash: &[u8; 32]) -> Option<&[u8; 32]> {
        self.0.get(hash)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_matching_preimages_are_kept_and_none_is_shown() {
        let mut p = Preimages::default();
        p.add([7; 32]);
        let hash: [u8; 32] = Sha256::digest([7u8; 32]).into();
        assert_eq!(p.get(&hash), Some(&[7; 32]));
        assert_eq!(p.get(&[7; 32]), None);
        assert!(p.add_hex("zz", "--preimage").is_err());
        assert_eq!(format!("{p:?}"), "Preimages(1 known)");
    }
}
