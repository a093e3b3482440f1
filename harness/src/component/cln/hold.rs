//! Hold invoices on a Core Lightning node, which has none of its own: our
//! plugin `vls-chaos-hold` (crate `cln-hold/`, in the image) makes the
//! invoice for a hash whose preimage only the harness knows, holds its
//! HTLCs, and claims or fails them when told.

use serde_json::json;

use super::{invoice_of, ClnNode};
use crate::error::Result;
use crate::node::Invoice;

/// The plugin in the image (docker/cln/Dockerfile), loaded with `--plugin`.
pub(super) const HOLD_PLUGIN: &str = "/usr/local/libexec/vls-chaos/vls-chaos-hold";

impl ClnNode {
    pub(super) async fn hold_invoice(&self, msat: u64, payment_hash: &str) -> Result<Invoice> {
        let r = self
            .call(
                "hold-invoice",
                json!({"amount_msat": msat, "payment_hash": payment_hash, "description": "vls-chaos hold"}),
            )
            .await?;
        Ok(invoice_of(&r, true))
    }

    pub(super) async fn hold_settle(&self, payment_hash: &str, preimage: &str) -> Result<()> {
        let params = json!({"payment_hash": payment_hash, "preimage": preimage});
        self.call("hold-settle", params).await.map(drop)
    }

    pub(super) async fn hold_cancel(&self, payment_hash: &str) -> Result<()> {
        let params = json!({"payment_hash": payment_hash});
        self.call("hold-cancel", params).await.map(drop)
    }
}
