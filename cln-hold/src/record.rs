//! A hold invoice as the plugin keeps it in lightningd's datastore, so it
//! lives and dies with lightningd's database: a restarted node replays its
//! held HTLCs to the plugin, which must still know their invoices then.

use serde::{Deserialize, Serialize};

/// The datastore key under which every record sits, one per payment hash.
pub const DATASTORE_ROOT: &str = "vls-chaos-hold";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub bolt11: String,
    pub amount_msat: u64,
    /// Hex; the payer must send it back in the onion.
    pub payment_secret: String,
    pub created_at: u64,
    pub state: State,
}

/// What the caller has decided; until then the invoice is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum State {
    Open,
    /// Kept so an HTLC lightningd replays after a restart is claimed too.
    Settled {
        preimage: String,
    },
    Cancelled,
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Open => "open",
            State::Settled { .. } => "settled",
            State::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_json() {
        let r = Record {
            bolt11: "lnbcrt1".to_string(),
            amount_msat: 5,
            payment_secret: "00".to_string(),
            created_at: 1,
            state: State::Settled {
                preimage: "ab".to_string(),
            },
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.contains(r#""state":{"kind":"settled","preimage":"ab"}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), r);
    }
}
