//! `vls-chaos-hold`: a Core Lightning plugin for hold invoices, the kind
//! the harness's `pay … hold` step asks of a payee. An invoice is made for
//! a payment hash whose preimage only the caller knows (lightningd signs
//! it, through vlsd when it signs there); its HTLCs are held in the
//! `htlc_accepted` hook until `hold-settle` gives the preimage or
//! `hold-cancel` refuses them. Records live in lightningd's datastore, so
//! a restarted lightningd's replayed HTLCs are known again.

mod book;
mod decide;
mod invoice;
mod lightningd;
mod methods;
mod record;

use std::sync::Arc;

use anyhow::Result;
use cln_plugin::Builder;

use crate::methods::Shared;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let shared = Shared {
        book: Arc::new(tokio::sync::Mutex::new(None)),
    };
    let Some(plugin) = Builder::new(tokio::io::stdin(), tokio::io::stdout())
        .hook("htlc_accepted", methods::htlc_accepted)
        .subscribe("block_added", methods::block_added)
        .rpcmethod(
            "hold-invoice",
            "An invoice for amount_msat and payment_hash (hex) whose HTLCs are held until hold-settle or hold-cancel",
            methods::hold_invoice,
        )
        .rpcmethod(
            "hold-settle",
            "Claims a hold invoice's HTLCs with the preimage (hex) of its payment_hash",
            methods::hold_settle,
        )
        .rpcmethod(
            "hold-cancel",
            "Fails a hold invoice's HTLCs back and refuses any later one",
            methods::hold_cancel,
        )
        .rpcmethod(
            "hold-list",
            "Every hold invoice: open, held, settled or cancelled, with the HTLCs held",
            methods::hold_list,
        )
        .start(shared)
        .await?
    else {
        return Ok(());
    };
    plugin.join().await
}
