//! What an action does: one kind of claim per way an output comes home.

use lightning_signer::bitcoin::ScriptBuf;
use serde::Serialize;

use crate::feewallet::FeeCoin;

/// What an action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Claim {
    /// Broadcast our latest commitment (the channel is open on chain and
    /// nobody can sign a cooperative close any more).
    ForceClose,
    /// Our `to_local` on our commitment `number`, after our CSV delay.
    ToLocal {
        number: u64,
        #[serde(serialize_with = "hex_script")]
        witness_script: ScriptBuf,
        csv: u16,
    },
    /// Our `to_remote` on their commitment (static key).
    ToRemote { anchors: bool },
    /// Their `to_local` on their revoked commitment `number`, by the
    /// revocation path, before their CSV delay lets them take it.
    JusticeToLocal {
        number: u64,
        #[serde(serialize_with = "hex_script")]
        witness_script: ScriptBuf,
    },
    /// An HTLC they offered us, on their commitment `number`, claimed with
    /// its preimage before it expires.
    TheirHtlcPreimage {
        number: u64,
        #[serde(serialize_with = "hex_script")]
        witness_script: ScriptBuf,
        #[serde(serialize_with = "hex_hash")]
        payment_hash: [u8; 32],
    },
    /// An HTLC output of our commitment `number`, moved by its
    /// second-stage transaction, which the counterparty signed in advance:
    /// HTLC-success with the preimage (before the expiry), or HTLC-timeout
    /// (after it). Its output is then ours after our CSV delay.
    HolderHtlc {
        number: u64,
        /// Its place in LDK's HTLC order (the counterparty's signatures').
        htlc_index: usize,
        offered: bool,
        cltv_expiry: u32,
        #[serde(serialize_with = "hex_hash")]
        payment_hash: [u8; 32],
        /// On anchor channels, the fee wallet's coin that pays its fee
        /// (the peer signed it at a zero fee).
        fee_coin: Option<FeeCoin>,
    },
    /// An HTLC output of their revoked commitment `number` (details from
    /// the state or the HTLC archive), by the revocation path.
    JusticeHtlc {
        number: u64,
        #[serde(serialize_with = "hex_script")]
        witness_script: ScriptBuf,
    },
    /// An HTLC we offered, on their commitment `number`, taken back after
    /// its expiry.
    TheirHtlcTimeout {
        number: u64,
        #[serde(serialize_with = "hex_script")]
        witness_script: ScriptBuf,
        cltv_expiry: u32,
    },
}

impl Claim {
    pub fn name(&self) -> &'static str {
        match self {
            Claim::ForceClose => "force-close",
            Claim::ToLocal { .. } => "to_local (delayed)",
            Claim::ToRemote { .. } => "to_remote",
            Claim::JusticeToLocal { .. } => "justice to_local",
            Claim::JusticeHtlc { .. } => "justice htlc",
            Claim::HolderHtlc { offered: true, .. } => "htlc-timeout",
            Claim::HolderHtlc { offered: false, .. } => "htlc-success",
            Claim::TheirHtlcPreimage { .. } => "their htlc (preimage)",
            Claim::TheirHtlcTimeout { .. } => "their htlc (timeout)",
        }
    }
}

fn hex_hash<S: serde::Serializer>(h: &[u8; 32], ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&hex::encode(h))
}

fn hex_script<S: serde::Serializer>(s: &ScriptBuf, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&hex::encode(s.as_bytes()))
}
