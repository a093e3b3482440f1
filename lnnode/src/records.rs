//! What the node remembers about payments for the admin API (LDK keeps only
//! recent ones), persisted beside LDK's store.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Outbound: sent, no outcome yet. Inbound: invoice issued, nothing arrived.
    Pending,
    /// Inbound on a hold invoice: the HTLC arrived and is being held.
    Held,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    pub payment_hash: String,
    pub direction: Direction,
    pub status: PaymentStatus,
    pub amount_msat: Option<u64>,
    pub fee_msat: Option<u64>,
    pub hold: bool,
    pub failure: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
}
