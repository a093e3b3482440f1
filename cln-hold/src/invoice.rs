//! The invoice lightningd signs for a hold. `signinvoice` reads a complete
//! BOLT11 string, signature included, and replaces the signature with the
//! node's (made by its hsmd: vlsd, behind remote_hsmd_socket), so the one
//! built here is signed with a throwaway key that never leaves this file.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Result};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};

/// What a hold invoice asks of its payer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub amount_msat: u64,
    pub payment_hash: [u8; 32],
    pub payment_secret: [u8; 32],
    pub description: String,
    pub expiry_secs: u64,
    /// Blocks the last hop must leave before the HTLC expires: lightningd's
    /// own `cltv-final`, as its invoices say.
    pub min_final_cltv: u64,
}

/// The throwaway key's bytes: any valid key does, since lightningd signs
/// again; the signature it replaces proves nothing.
const THROWAWAY_KEY: [u8; 32] = [0x01; 32];

/// lightningd's network name as a BOLT11 currency.
pub fn currency(network: &str) -> Result<Currency> {
    Ok(match network {
        "bitcoin" => Currency::Bitcoin,
        "testnet" | "testnet4" => Currency::BitcoinTestnet,
        "signet" => Currency::Signet,
        "regtest" => Currency::Regtest,
        other => bail!("network `{other}`: expected bitcoin, testnet, testnet4, signet or regtest"),
    })
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `terms` as a BOLT11 string for `signinvoice`.
pub fn to_sign(terms: &Terms, network: &str) -> Result<String> {
    let key = SecretKey::from_slice(&THROWAWAY_KEY)?;
    let secp = Secp256k1::signing_only();
    let invoice = InvoiceBuilder::new(currency(network)?)
        .description(terms.description.clone())
        .payment_hash(sha256::Hash::from_byte_array(terms.payment_hash))
        .payment_secret(PaymentSecret(terms.payment_secret))
        .duration_since_epoch(since_epoch())
        .min_final_cltv_expiry_delta(terms.min_final_cltv)
        .amount_milli_satoshis(terms.amount_msat)
        .expiry_time(Duration::from_secs(terms.expiry_secs))
        .build_signed(|msg| secp.sign_ecdsa_recoverable(msg, &key))
        .map_err(|e| anyhow!("building the invoice: {e}"))?;
    Ok(invoice.to_string())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use lightning_invoice::Bolt11Invoice;

    use super::*;

    fn terms() -> Terms {
        Terms {
            amount_msat: 50_000_000,
            payment_hash: [7; 32],
            payment_secret: [9; 32],
            description: "vls-chaos hold".to_string(),
            expiry_secs: 3600,
            min_final_cltv: 18,
        }
    }

    #[test]
    fn says_what_the_terms_say() {
        let text = to_sign(&terms(), "regtest").unwrap();
        assert!(text.starts_with("lnbcrt500u1"), "{text}");
        let inv = Bolt11Invoice::from_str(&text).unwrap();
        assert_eq!(inv.payment_hash().to_byte_array(), [7; 32]);
        assert_eq!(inv.payment_secret().0, [9; 32]);
        assert_eq!(inv.amount_milli_satoshis(), Some(50_000_000));
        assert_eq!(inv.expiry_time(), Duration::from_secs(3600));
        assert_eq!(inv.min_final_cltv_expiry_delta(), 18);
        let features = inv.features().unwrap();
        assert!(features.requires_payment_secret());
        assert!(features.requires_variable_length_onion());
    }

    #[test]
    fn refuses_an_unknown_network() {
        let err = to_sign(&terms(), "liquid").unwrap_err().to_string();
        assert!(err.contains("network `liquid`"), "{err}");
    }
}
