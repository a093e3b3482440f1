//! The admin API the harness drives: typed JSON over HTTP. Every failure is a
//! typed error `{"error": {"code", "message"}}` with a matching status; a bad
//! request never takes the node down.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::PublicKey;
use lightning::ln::channelmanager::{Bolt11InvoiceParameters, PaymentId, Retry};
use lightning::routing::router::RouteParametersConfig;
use lightning::types::payment::{PaymentHash, PaymentPreimage};
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use serde::Deserialize;

use crate::api_error::ApiError;
use crate::claims;
use crate::clock::now_secs;
use crate::node::Node;
use crate::signer::CallError;
use lnnode_api::{
    AddressReply, Balance, Channel as ChannelView, ChannelState, Claim, ClaimKind, ConnectRequest,
    Direction, Events as EventsReply, Htlc as HtlcView, HtlcDirection, Info,
    Invoice as InvoiceReply, InvoiceRequest, OpenReply, OpenRequest, PayReply, PayRequest,
    Payment as PaymentRecord, PaymentStatus, SettleRequest,
};

type ApiResult<T> = Result<Json<T>, ApiError>;

fn parse_pubkey(s: &str) -> Result<PublicKey, ApiError> {
    PublicKey::from_str(s)
        .map_err(|_| ApiError::BadRequest(format!("`{s}` is not a node id (33-byte hex)")))
}

fn parse_hash(s: &str) -> Result<PaymentHash, ApiError> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(s, &mut b)
        .map_err(|_| ApiError::BadRequest(format!("`{s}` is not a payment hash (32-byte hex)")))?;
    Ok(PaymentHash(b))
}

async fn info(State(n): State<Arc<Node>>) -> ApiResult<Info> {
    Ok(Json(Info {
        node_id: n.node_id().to_string(),
        network: n.network.to_string(),
        signer: n.config.signer.as_str().to_string(),
        block_height: n.channel_manager.current_best_block().height,
        channels: n.channel_manager.list_channels().len(),
        peers: n.peer_manager.list_peers().len(),
        sweep_address: n.sweep.address.to_string(),
        p2p_port: n.config.p2p_listen.port(),
        started_at: n.started_at,
    }))
}

async fn balance(State(n): State<Arc<Node>>) -> ApiResult<Balance> {
    let (trusted, pending, claimable) = n.onchain_balance().await?;
    let local: u64 = n
        .channel_manager
        .list_channels()
        .iter()
        .map(|c| local_balance_msat(&n, c))
        .sum();
    let best = n.sweeper.current_best_block().height;
    let mut swept = Vec::new();
    for o in n.sweeper.tracked_spendable_outputs() {
        if !n.taken_by_another(&o).await {
            swept.extend(claims::from_sweep(
                &o.status,
                o.descriptor_value_sat(),
                best,
            ));
        }
    }
    let claims: Vec<Claim> = n
        .chain_monitor
        .get_claimable_balances(&[])
        .iter()
        .filter_map(claims::from_balance)
        .chain(swept)
        .collect();
    let sweeping: u64 = claims
        .iter()
        .filter(|c| c.kind == ClaimKind::Sweeping)
        .map(|c| c.amount_sat)
        .sum();
    Ok(Json(Balance {
        wallet_trusted_sat: trusted,
        wallet_pending_sat: pending,
        claimable_onchain_sat: claimable,
        sweeping_sat: sweeping,
        channels_local_msat: local,
        claims,
    }))
}

async fn new_address(State(n): State<Arc<Node>>) -> ApiResult<AddressReply> {
    let a = n.bitcoind.new_address().await?;
    Ok(Json(AddressReply {
        address: a.to_string(),
    }))
}

async fn connect(
    State(n): State<Arc<Node>>,
    Json(r): Json<ConnectRequest>,
) -> ApiResult<serde_json::Value> {
    let pk = parse_pubkey(&r.node_id)?;
    let addr = tokio::net::lookup_host(&r.addr)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| ApiError::PeerUnreachable(format!("cannot resolve `{}`", r.addr)))?;
    n.connect_peer(pk, addr).await?;
    Ok(Json(serde_json::json!({"connected": r.node_id})))
}

trait DescriptorValue {
    fn descriptor_value_sat(&self) -> u64;
}

impl DescriptorValue for lightning::util::sweep::TrackedSpendableOutput {
    fn descriptor_value_sat(&self) -> u64 {
        use lightning::sign::SpendableOutputDescriptor as D;
        match &self.descriptor {
            D::StaticOutput { output, .. } => output.value.to_sat(),
            D::DelayedPaymentOutput(d) => d.output.value.to_sat(),
            D::StaticPaymentOutput(d) => d.output.value.to_sat(),
        }
    }
}

/// What we would get on a close before fees: our output on the latest
/// holder commitment plus the fee and anchors we pay for it (the monitor's
/// numbers, whole satoshis), plus the HTLCs we offered. ChannelDetails alone
/// cannot say this: below the channel reserve its outbound capacity is 0
/// whatever the balance.
fn local_balance_msat(n: &Node, c: &lightning::ln::channel_state::ChannelDetails) -> u64 {
    use lightning::chain::channelmonitor::Balance as B;
    let offered: u64 = c.pending_outbound_htlcs.iter().map(|h| h.amount_msat).sum();
    let on_close = n
        .chain_monitor
        .get_monitor(c.channel_id)
        .ok()
        .and_then(|m| {
            m.get_claimable_balances()
                .into_iter()
                .find_map(|b| match b {
                    B::ClaimableOnChannelClose {
                        balance_candidates,
                        confirmed_balance_candidate_index,
                        ..
                    } => balance_candidates
                        .get(confirmed_balance_candidate_index)
                        .or(balance_candidates.last())
                        .map(|h| (h.amount_satoshis + h.transaction_fee_satoshis) * 1000),
                    _ => None,
                })
        });
    match on_close {
        Some(msat) => msat + offered,
        // No monitor yet (funding not signed): nothing is ours in the channel.
        None => 0,
    }
}

async fn channels(State(n): State<Arc<Node>>) -> ApiResult<Vec<ChannelView>> {
    let out = n
        .channel_manager
        .list_channels()
        .iter()
        .map(|c| {
            let mut htlcs: Vec<HtlcView> = c
                .pending_inbound_htlcs
                .iter()
                .map(|h| HtlcView {
                    direction: HtlcDirection::Inbound,
                    amount_msat: h.amount_msat,
                    payment_hash: h.payment_hash.to_string(),
                    cltv_expiry: h.cltv_expiry,
                })
                .collect();
            htlcs.extend(c.pending_outbound_htlcs.iter().map(|h| HtlcView {
                direction: HtlcDirection::Outbound,
                amount_msat: h.amount_msat,
                payment_hash: h.payment_hash.to_string(),
                cltv_expiry: h.cltv_expiry,
            }));
            let vls = n.keys.vls();
            let dbid = vls.and_then(|v| v.channel_dbid(c.user_channel_id));
            let refusal = vls
                .zip(dbid)
                .and_then(|(v, d)| v.transport.refusals.of_channel(d));
            ChannelView {
                channel_id: c.channel_id.to_string(),
                counterparty: c.counterparty.node_id.to_string(),
                funding_txo: c.funding_txo.map(|o| o.to_string()),
                capacity_sat: c.channel_value_satoshis,
                state: if refusal.is_some() {
                    ChannelState::Blocked
                } else if c.is_usable {
                    ChannelState::Usable
                } else if c.is_channel_ready {
                    ChannelState::Ready
                } else {
                    ChannelState::Pending
                },
                is_outbound: c.is_outbound,
                local_balance_msat: local_balance_msat(&n, c),
                outbound_capacity_msat: c.outbound_capacity_msat,
                inbound_capacity_msat: c.inbound_capacity_msat,
                confirmations: c.confirmations,
                pending_htlcs: htlcs,
                signer_dbid: dbid,
                signer_refusal: refusal,
            }
        })
        .collect();
    Ok(Json(out))
}

async fn open_channel(
    State(n): State<Arc<Node>>,
    Json(r): Json<OpenRequest>,
) -> ApiResult<OpenReply> {
    let pk = parse_pubkey(&r.node_id)?;
    if n.peer_manager.peer_by_node_id(&pk).is_none() {
        return Err(ApiError::UnknownPeer(format!(
            "{} is not connected",
            r.node_id
        )));
    }
    let (trusted, _) = n.bitcoind.wallet_balance().await?;
    if trusted.to_sat() < r.amount_sat {
        return Err(ApiError::InsufficientFunds(format!(
            "wallet has {} sat, channel needs {} sat plus fees",
            trusted.to_sat(),
            r.amount_sat
        )));
    }
    let user_channel_id: u128 = rand::random();
    let id = n
        .channel_manager
        .create_channel(pk, r.amount_sat, 0, user_channel_id, None, None)
        .map_err(|e| ApiError::BadRequest(format!("{e:?}")))?;
    Ok(Json(OpenReply {
        temporary_channel_id: id.to_string(),
    }))
}

async fn close_channel(
    State(n): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<serde_json::Value> {
    let (cid, cp) = n.find_channel(&id)?;
    // LDK will not start a shutdown while a monitor update is being written
    // (lnnode writes them in the background) or the peer is reconnecting;
    // both pass on their own, so a close asked for then waits for them.
    let started = std::time::Instant::now();
    loop {
        match n.channel_manager.close_channel(&cid, &cp) {
            Ok(()) => return Ok(Json(serde_json::json!({"closing": id}))),
            Err(lightning::util::errors::APIError::ChannelUnavailable { err })
                if started.elapsed() < CLOSE_WAIT
                    && (err.contains("waiting on a monitor update")
                        || err.contains("peer is disconnected")) =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(ApiError::BadRequest(format!("{e:?}"))),
        }
    }
}

/// How long a cooperative close waits for a monitor update in flight or a
/// peer reconnecting (lnnode dials its channel peers every 10 s).
const CLOSE_WAIT: Duration = Duration::from_secs(15);

async fn force_close_channel(
    State(n): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<serde_json::Value> {
    let (cid, cp) = n.find_channel(&id)?;
    n.channel_manager
        .force_close_broadcasting_latest_txn(&cid, &cp, "force-closed by operator".to_string())
        .map_err(|e| ApiError::BadRequest(format!("{e:?}")))?;
    Ok(Json(serde_json::json!({"force_closing": id})))
}

async fn create_invoice(
    State(n): State<Arc<Node>>,
    Json(r): Json<InvoiceRequest>,
) -> ApiResult<InvoiceReply> {
    let hold_hash = r.payment_hash.as_deref().map(parse_hash).transpose()?;
    let description = Description::new(r.description.unwrap_or_else(|| "vls-chaos".to_string()))
        .map_err(|e| ApiError::BadRequest(format!("description: {e}")))?;
    let params = Bolt11InvoiceParameters {
        amount_msats: Some(r.amount_msat),
        description: Bolt11InvoiceDescription::Direct(description),
        invoice_expiry_delta_secs: Some(r.expiry_secs.unwrap_or(3600)),
        min_final_cltv_expiry_delta: None,
        payment_hash: hold_hash,
    };
    let cm = n.channel_manager.clone();
    let invoice = tokio::task::spawn_blocking(move || cm.create_bolt11_invoice(params))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(format!("creating the invoice: {e:?}")))?;
    let hash = invoice.payment_hash().to_string();
    let now = now_secs();
    n.payments.update(&hash, |_| PaymentRecord {
        payment_hash: hash.clone(),
        direction: Direction::Inbound,
        status: PaymentStatus::Pending,
        amount_msat: Some(r.amount_msat),
        fee_msat: None,
        hold: hold_hash.is_some(),
        failure: None,
        created_at: now,
        updated_at: now,
    })?;
    Ok(Json(InvoiceReply {
        invoice: invoice.to_string(),
        payment_hash: hash,
        hold: hold_hash.is_some(),
    }))
}

/// Held HTLCs are known from the persisted record, so they survive a restart.
fn is_held(n: &Node, hash: &str) -> bool {
    n.payments
        .get(hash)
        .is_some_and(|r| r.status == PaymentStatus::Held)
}

async fn settle(
    State(n): State<Arc<Node>>,
    Path(hash): Path<String>,
    Json(r): Json<SettleRequest>,
) -> ApiResult<serde_json::Value> {
    let expected = parse_hash(&hash)?;
    let mut pre = [0u8; 32];
    hex::decode_to_slice(&r.preimage, &mut pre)
        .map_err(|_| ApiError::BadRequest("preimage: expected 32-byte hex".to_string()))?;
    if sha256::Hash::hash(&pre).to_byte_array() != expected.0 {
        return Err(ApiError::BadRequest(
            "preimage does not match the payment hash".to_string(),
        ));
    }
    if !is_held(&n, &hash) {
        return Err(ApiError::UnknownPayment(format!("no held HTLC for {hash}")));
    }
    let cm = n.channel_manager.clone();
    tokio::task::spawn_blocking(move || cm.claim_funds(PaymentPreimage(pre)))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(serde_json::json!({"settling": hash})))
}

async fn fail(
    State(n): State<Arc<Node>>,
    Path(hash): Path<String>,
) -> ApiResult<serde_json::Value> {
    let h = parse_hash(&hash)?;
    if !is_held(&n, &hash) {
        return Err(ApiError::UnknownPayment(format!("no held HTLC for {hash}")));
    }
    let cm = n.channel_manager.clone();
    tokio::task::spawn_blocking(move || cm.fail_htlc_backwards(&h))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    n.payments.update(&hash, |old| {
        let mut r = old.unwrap_or(PaymentRecord {
            payment_hash: hash.clone(),
            direction: Direction::Inbound,
            status: PaymentStatus::Failed,
            amount_msat: None,
            fee_msat: None,
            hold: true,
            failure: None,
            created_at: now_secs(),
            updated_at: now_secs(),
        });
        r.status = PaymentStatus::Failed;
        r.failure = Some("failed by operator".to_string());
        r
    })?;
    Ok(Json(serde_json::json!({"failed": hash})))
}

async fn pay(State(n): State<Arc<Node>>, Json(r): Json<PayRequest>) -> ApiResult<PayReply> {
    let invoice = Bolt11Invoice::from_str(r.invoice.trim())
        .map_err(|e| ApiError::InvalidInvoice(e.to_string()))?;
    if invoice.network() != n.network {
        return Err(ApiError::InvalidInvoice(format!(
            "invoice is for {}, this node is on {}",
            invoice.network(),
            n.network
        )));
    }
    let amount = invoice
        .amount_milli_satoshis()
        .ok_or_else(|| ApiError::InvalidInvoice("invoice has no amount".to_string()))?;
    // Refuse before the signer does: LDK would try and fail the payment later.
    let outbound: u64 = n
        .channel_manager
        .list_usable_channels()
        .iter()
        .map(|c| c.next_outbound_htlc_limit_msat)
        .max()
        .unwrap_or(0);
    if amount > outbound {
        return Err(ApiError::NoRoute(format!(
            "{amount} msat exceeds the largest sendable amount {outbound} msat"
        )));
    }
    let hash = invoice.payment_hash().to_string();
    if let Some(vls) = n.keys.vls() {
        let text = r.invoice.trim().to_string();
        let approved =
            tokio::task::block_in_place(|| vls.preapprove_invoice(&text)).map_err(|e| match e {
                CallError::Refused(reason) => ApiError::SignerRefused(format!(
                    "vlsd refused to approve paying {hash}: {reason}"
                )),
                CallError::Gone => ApiError::Internal("the signer did not answer".to_string()),
            })?;
        if !approved {
            return Err(ApiError::SignerRefused(format!(
                "vlsd did not approve paying {hash}"
            )));
        }
    }
    let now = now_secs();
    n.payments.update(&hash, |_| PaymentRecord {
        payment_hash: hash.clone(),
        direction: Direction::Outbound,
        status: PaymentStatus::Pending,
        amount_msat: Some(amount),
        fee_msat: None,
        hold: false,
        failure: None,
        created_at: now,
        updated_at: now,
    })?;
    let id = PaymentId(invoice.payment_hash().to_byte_array());
    let cm = n.channel_manager.clone();
    tokio::task::spawn_blocking(move || {
        cm.pay_for_bolt11_invoice(
            &invoice,
            id,
            None,
            RouteParametersConfig::default(),
            Retry::Timeout(Duration::from_secs(30)),
        )
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::NoRoute(format!("{e:?}")))?;
    Ok(Json(PayReply { payment_hash: hash }))
}

async fn payments(State(n): State<Arc<Node>>) -> ApiResult<Vec<PaymentRecord>> {
    Ok(Json(n.payments.values()))
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    timeout_ms: u64,
    /// The `started_at` the caller's `after` counts in; a different one
    /// (the node restarted since) means every event of this run is new.
    #[serde(default)]
    started_at: Option<u64>,
}

async fn events(
    State(n): State<Arc<Node>>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<EventsReply> {
    let wait = Duration::from_millis(q.timeout_ms.min(60_000));
    let after = match q.started_at {
        Some(s) if s != n.started_at => 0,
        _ => q.after,
    };
    let events = n.events.wait(after, wait).await;
    Ok(Json(EventsReply {
        started_at: n.started_at,
        events,
    }))
}

pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/v1/info", get(info))
        .route("/v1/balance", get(balance))
        .route("/v1/address", post(new_address))
        .route("/v1/peers", post(connect))
        .route("/v1/channels", get(channels).post(open_channel))
        .route("/v1/channels/:id/close", post(close_channel))
        .route("/v1/channels/:id/force-close", post(force_close_channel))
        .route("/v1/channels/:id/stash", post(crate::cheat::stash))
        .route("/v1/stash/sweep", post(crate::cheat::sweep))
        .route("/v1/invoices", post(create_invoice))
        .route("/v1/invoices/:hash/settle", post(settle))
        .route("/v1/invoices/:hash/fail", post(fail))
        .route("/v1/payments", get(payments).post(pay))
        .route("/v1/events", get(events))
        .with_state(node)
}

pub async fn serve(node: Arc<Node>, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "admin API listening");
    axum::serve(listener, router(node)).await?;
    Ok(())
}
