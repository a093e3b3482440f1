//! The plugin's RPC methods, its hook and its block subscription: each
//! reads its request, takes the book, and answers.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Result};
use bitcoin::hashes::{sha256, Hash};
use cln_plugin::Plugin;
use serde_json::{json, Value};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::book::{Admitted, Book};
use crate::decide::{Answer, Htlc};
use crate::invoice::{to_sign, Terms};
use crate::lightningd::Lightningd;
use crate::record::{Record, State};

/// How long a hold invoice may be paid for unless the caller says.
const DEFAULT_EXPIRY_SECS: u64 = 3600;

#[derive(Clone)]
pub struct Shared {
    /// Loaded from the datastore at first use: lightningd answers RPC calls
    /// only once the plugin has started, and replayed HTLCs may come first.
    pub book: Arc<Mutex<Option<Book>>>,
}

type P = Plugin<Shared>;

fn lightningd(p: &P) -> Lightningd {
    Lightningd::new(&p.configuration())
}

async fn book(p: &P) -> Result<MappedMutexGuard<'_, Book>> {
    let mut guard = p.state().book.lock().await;
    if guard.is_none() {
        *guard = Some(Book::new(lightningd(p).records().await?));
    }
    MutexGuard::try_map(guard, Option::as_mut)
        .map_err(|_| anyhow!("the hold invoice book did not load"))
}

fn field<'a>(params: &'a Value, method: &str, name: &str) -> Result<&'a Value> {
    params.get(name).ok_or_else(|| {
        anyhow!("{method}: parameter `{name}` is missing (named parameters expected)")
    })
}

fn hex32(params: &Value, method: &str, name: &str) -> Result<[u8; 32]> {
    let text = field(params, method, name)?.as_str().unwrap_or_default();
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| anyhow!("{method}: `{name}` must be 64 hex characters, got {text:?}"))?;
    Ok(out)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub async fn hold_invoice(p: P, params: Value) -> Result<Value> {
    const M: &str = "hold-invoice";
    let payment_hash = hex32(&params, M, "payment_hash")?;
    let amount_msat = field(&params, M, "amount_msat")?
        .as_u64()
        .filter(|a| *a > 0)
        .ok_or_else(|| anyhow!("{M}: `amount_msat` must be a positive whole number"))?;
    let description = params
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("vls-chaos hold")
        .to_string();
    let expiry_secs = params
        .get("expiry")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_EXPIRY_SECS);
    let hash = hex::encode(payment_hash);
    let ld = lightningd(&p);
    let mut book = book(&p).await?;
    if book.record(&hash).is_some() {
        bail!("{M}: payment_hash {hash}: there is already a hold invoice for it");
    }
    let terms = Terms {
        amount_msat,
        payment_hash,
        payment_secret: rand::random(),
        description,
        expiry_secs,
        min_final_cltv: ld.cltv_final().await?,
    };
    let bolt11 = ld.sign_invoice(&to_sign(&terms, &ld.network)?).await?;
    let record = Record {
        bolt11: bolt11.clone(),
        amount_msat,
        payment_secret: hex::encode(terms.payment_secret),
        created_at: now_secs(),
        state: State::Open,
    };
    ld.store(&hash, &record).await?;
    book.insert(&hash, record)?;
    tracing::info!("hold invoice made: payment_hash {hash}, {amount_msat} msat");
    Ok(json!({"bolt11": bolt11, "payment_hash": hash, "expires_at": now_secs() + expiry_secs}))
}

pub async fn hold_settle(p: P, params: Value) -> Result<Value> {
    const M: &str = "hold-settle";
    let preimage = hex32(&params, M, "preimage")?;
    let hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
    if let Some(given) = params.get("payment_hash").and_then(Value::as_str) {
        if given != hash {
            bail!("{M}: the preimage hashes to {hash}, not to payment_hash {given}");
        }
    }
    let preimage = hex::encode(preimage);
    decide(&p, M, &hash, State::Settled { preimage }).await
}

pub async fn hold_cancel(p: P, params: Value) -> Result<Value> {
    const M: &str = "hold-cancel";
    let hash = hex::encode(hex32(&params, M, "payment_hash")?);
    decide(&p, M, &hash, State::Cancelled).await
}

/// Records the decision in the datastore, then answers the held HTLCs: a
/// claim is never made that a restart could forget.
async fn decide(p: &P, method: &str, hash: &str, state: State) -> Result<Value> {
    let ld = lightningd(p);
    let mut book = book(p).await?;
    let Some(record) = book.record(hash) else {
        bail!("{method}: payment_hash {hash}: no hold invoice for it");
    };
    match (&record.state, &state) {
        (State::Open, _) => {}
        (was, now) if was == now => {
            return Ok(json!({"payment_hash": hash, "state": now.name(), "htlcs": 0}));
        }
        (was, _) => bail!(
            "{method}: payment_hash {hash}: the hold invoice is already {}",
            was.name()
        ),
    }
    let mut record = record.clone();
    record.state = state.clone();
    ld.store(hash, &record).await?;
    let htlcs = book.decide(hash, state.clone())?;
    tracing::info!(
        "hold invoice {}: payment_hash {hash}, {htlcs} HTLCs answered",
        state.name()
    );
    Ok(json!({"payment_hash": hash, "state": state.name(), "htlcs": htlcs}))
}

pub async fn hold_list(p: P, _params: Value) -> Result<Value> {
    Ok(json!({"holds": book(&p).await?.list()}))
}

pub async fn htlc_accepted(p: P, payload: Value) -> Result<Value> {
    let continue_ = || Answer::Continue.to_reply().unwrap_or_default();
    let htlc = match Htlc::parse(&payload) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!("htlc_accepted: left to lightningd: {e}");
            return Ok(continue_());
        }
    };
    let admitted = match book(&p).await {
        Ok(mut b) => b.admit(htlc.clone()),
        Err(e) => {
            tracing::warn!(
                "htlc_accepted: payment_hash {}: no book, left to lightningd: {e}",
                htlc.payment_hash
            );
            return Ok(continue_());
        }
    };
    let answer = match admitted {
        Admitted::Now(Answer::Continue) => Answer::Continue,
        Admitted::Now(a) => {
            tracing::info!(
                "HTLC answered at once ({}): payment_hash {}, channel {} id {}",
                if matches!(a, Answer::Resolve(_)) {
                    "claimed"
                } else {
                    "failed"
                },
                htlc.payment_hash,
                htlc.short_channel_id,
                htlc.id
            );
            a
        }
        Admitted::Later(rx) => {
            tracing::info!(
                "HTLC held: payment_hash {}, channel {} id {}, {} msat, expiry {}",
                htlc.payment_hash,
                htlc.short_channel_id,
                htlc.id,
                htlc.amount_msat,
                htlc.cltv_expiry
            );
            rx.await
                .unwrap_or_else(|_| htlc.unknown_details(htlc.height()))
        }
    };
    Ok(answer.to_reply().unwrap_or_else(continue_))
}

pub async fn block_added(p: P, v: Value) -> Result<()> {
    let Some(height) = v
        .pointer("/block_added/height")
        .and_then(Value::as_u64)
        .and_then(|h| u32::try_from(h).ok())
    else {
        return Ok(());
    };
    for h in book(&p).await?.new_block(height) {
        tracing::info!(
            "held HTLC failed back at height {height}, before its expiry {}: payment_hash {}, channel {} id {}",
            h.cltv_expiry,
            h.payment_hash,
            h.short_channel_id,
            h.id
        );
    }
    Ok(())
}
