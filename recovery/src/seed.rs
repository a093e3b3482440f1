//! The node seed: parsed from vlsd's hex `node.seed`, never printed.
//!
//! `Debug` is redacted and the bytes are zeroed on drop. To tell two seeds
//! apart without revealing either, compare [`Seed::fingerprint`]s.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::RecoveryError;

/// vlsd's seed length in bytes.
pub const SEED_LEN: usize = 32;

pub struct Seed(Zeroizing<[u8; SEED_LEN]>);

impl Seed {
    /// Parses the contents of a `node.seed` file. `source_name` names where
    /// the text came from, for the error message only.
    pub fn from_hex(text: &str, source_name: &str) -> Result<Seed, RecoveryError> {
        let invalid = |reason: String| RecoveryError::SeedInvalid {
            source_name: source_name.to_string(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.len() != SEED_LEN * 2 {
            return Err(invalid(format!(
                "expected {} hex characters, found {}",
                SEED_LEN * 2,
                trimmed.len()
            )));
        }
        let mut bytes = Zeroizing::new([0u8; SEED_LEN]);
        hex::decode_to_slice(trimmed, bytes.as_mut_slice())
            .map_err(|_| invalid("expected hex digits only".to_string()))?;
        Ok(Seed(bytes))
    }

    pub fn from_file(path: &Path) -> Result<Seed, RecoveryError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(RecoveryError::io(path))?);
        Seed::from_hex(&text, &path.display().to_string())
    }

    pub fn as_bytes(&self) -> &[u8; SEED_LEN] {
        &self.0
    }

    /// First 8 bytes of SHA-256(seed), hex: safe to log, useless to an attacker.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_slice());
        hex::encode(&digest[..8])
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seed(fingerprint={})", self.fingerprint())
    }
}

impl PartialEq for Seed {
    fn eq(&self, other: &Self) -> bool {
        // Not secret-dependent timing-critical here (local comparison), but cheap to do right.
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Eq for Seed {}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn parses_with_trailing_newline() {
        let s = Seed::from_hex(&format!("{HEX}\n"), "t").expect("valid seed");
        assert_eq!(s.as_bytes()[31], 0x1f);
    }

    #[test]
    fn debug_never_shows_the_seed() {
        let s = Seed::from_hex(HEX, "t").expect("valid seed");
        let shown = format!("{s:?}");
        assert!(!shown.contains("0102030405"), "{shown}");
        assert!(shown.starts_with("Seed(fingerprint="));
    }

    #[test]
    fn rejects_wrong_length_and_non_hex() {
        let e = Seed::from_hex("abcd", "node.seed").expect_err("too short");
        assert_eq!(
            e.to_string(),
            "node.seed: node seed: expected 64 hex characters, found 4"
        );
        let bad = HEX.replace('0', "g");
        let e = Seed::from_hex(&bad, "node.seed").expect_err("not hex");
        assert_eq!(e.code(), "E-SEED-INVALID");
    }

    #[test]
    fn equality_and_fingerprint() {
        let a = Seed::from_hex(HEX, "a").expect("valid");
        let b = Seed::from_hex(HEX, "b").expect("valid");
        let c = Seed::from_hex(&HEX.replace("1f", "ff"), "c").expect("valid");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }
}
