//! The wire contract of lnnode's admin API, shared by the server (`lnnode`)
//! and its clients (the harness), so the two cannot drift apart. Plain serde
//! types only: no LDK, no HTTP.
//!
//! Routes (all JSON):
//! `GET /v1/info` -> [`Info`]; `GET /v1/balance` -> [`Balance`];
//! `POST /v1/address` -> [`AddressReply`]; `POST /v1/peers` [`ConnectRequest`];
//! `GET /v1/channels` -> `Vec<`[`Channel`]`>`; `POST /v1/channels` [`OpenRequest`] -> [`OpenReply`];
//! `POST /v1/channels/:id/close`, `POST /v1/channels/:id/force-close`;
//! `POST /v1/channels/:id/stash` -> [`Stash`] (local-signer nodes: a cheater's copy);
//! `POST /v1/stash/sweep` [`StashSweepRequest`] -> [`StashSweepReply`];
//! `POST /v1/invoices` [`InvoiceRequest`] -> [`Invoice`];
//! `POST /v1/invoices/:hash/settle` [`SettleRequest`], `POST /v1/invoices/:hash/fail`;
//! `GET /v1/payments` -> `Vec<`[`Payment`]`>`; `POST /v1/payments` [`PayRequest`] -> [`PayReply`];
//! `GET /v1/events?after=N&timeout_ms=M[&started_at=S]` -> [`Events`] (with
//! `started_at` other than the node's, `after` counts from 0: it restarted).
//! Failures: [`ErrorBody`]. On the separate control endpoint (`--control-listen`,
//! harness only): `POST /v1/breakpoints` [`BreakpointRequest`] -> [`Breakpoint`];
//! `GET /v1/breakpoints/:id?timeout_ms=M` -> [`Breakpoint`] once hit (or as it is at the timeout);
//! `POST /v1/breakpoints/:id/release` -> [`Breakpoint`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub node_id: String,
    pub network: String,
    /// `vlsd` or `local`.
    pub signer: String,
    pub block_height: u32,
    pub channels: usize,
    pub peers: usize,
    /// The node's wallet address that sweeps pay to (allowlisted in vlsd).
    pub sweep_address: String,
    pub p2p_port: u16,
    pub started_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub wallet_trusted_sat: u64,
    pub wallet_pending_sat: u64,
    /// Still claimable on chain by LDK (closing channels, HTLCs on chain).
    pub claimable_onchain_sat: u64,
    /// Handed to the sweeper and not yet swept under ANTI_REORG_DELAY blocks.
    pub sweeping_sat: u64,
    /// Local balance in open channels.
    pub channels_local_msat: u64,
    /// Everything LDK still has on chain for this node, one entry per
    /// balance (closing channels, HTLCs, outputs with the sweeper), with the
    /// height it waits for: what settling the chain must see through.
    #[serde(default)]
    pub claims: Vec<Claim>,
}

/// One of a node's on-chain balances that is not settled yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub kind: ClaimKind,
    /// What is at stake (for `their_htlc`, what goes to the peer unless
    /// the preimage turns up); unlike LDK's `claimable_amount_satoshis`,
    /// never 0 for an HTLC that is still ours to claim.
    pub amount_sat: u64,
    /// The block height it waits for; `None` when it waits only for its
    /// transaction to be mined.
    pub height: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// Ours, spendable once a timelock ends (`height`: the block it is
    /// spendable in, LDK's `confirmation_height`).
    AwaitingConfirmations,
    /// An HTLC we hold the preimage for, being claimed now; the peer can
    /// take it by timeout at `height`.
    Contentious,
    /// Our HTLC, ours again by timeout from `height` (LDK's
    /// `claimable_height`) unless the peer claims it with the preimage.
    OurHtlc,
    /// The peer's HTLC, without its preimage: theirs by timeout at
    /// `height` (its expiry).
    TheirHtlc,
    /// An output of a revoked commitment, ours to take now.
    RevokedOutput,
    /// Handed to the sweeper: swept once `height` buries it under
    /// ANTI_REORG_DELAY blocks, or being broadcast (`None`).
    Sweeping,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressReply {
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    pub node_id: String,
    /// `host:port`.
    pub addr: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelState {
    /// Funding not yet confirmed deep enough.
    Pending,
    /// Ready, but the peer is not connected.
    Ready,
    /// Ready and connected: can carry payments.
    Usable,
    /// Its signer refused a request the channel needs (see
    /// [`Channel::signer_refusal`]): it cannot move until that changes, but
    /// it can still be force-closed.
    Blocked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HtlcDirection {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Htlc {
    pub direction: HtlcDirection,
    pub amount_msat: u64,
    pub payment_hash: String,
    pub cltv_expiry: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub channel_id: String,
    pub counterparty: String,
    pub funding_txo: Option<String>,
    pub capacity_sat: u64,
    pub state: ChannelState,
    pub is_outbound: bool,
    /// What we would get on a close before fees: our output on the latest holder
    /// commitment plus the fee we pay for it (whole satoshis), plus HTLCs we offered.
    pub local_balance_msat: u64,
    pub outbound_capacity_msat: u64,
    pub inbound_capacity_msat: u64,
    pub confirmations: Option<u32>,
    pub pending_htlcs: Vec<Htlc>,
    /// vlsd's id for the channel (vlsd-signed nodes).
    #[serde(default)]
    pub signer_dbid: Option<u64>,
    /// The last request vlsd refused for this channel, while no request of
    /// that kind has been answered since.
    #[serde(default)]
    pub signer_refusal: Option<SignerRefusal>,
}

/// A signed copy of a node's current holder commitment, taken to be
/// broadcast after it is revoked (a cheating counterparty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stash {
    pub channel_id: String,
    pub commitment_txid: String,
    /// Consensus-encoded, hex.
    pub commitment_hex: String,
    /// The HTLC-success and HTLC-timeout transactions on that commitment
    /// that LDK could sign (HTLC-success only where the preimage is known).
    pub htlc_txs_hex: Vec<String>,
    /// The node's own delayed output on it (LDK-serialized
    /// `SpendableOutputDescriptor`, hex), for [`StashSweepRequest`].
    #[serde(default)]
    pub to_local_descriptor_hex: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StashSweepRequest {
    pub descriptor_hex: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StashSweepReply {
    pub txid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerRefusal {
    /// VLS protocol request type, e.g. `GetPerCommitmentPoint2`.
    pub request: String,
    /// vlsd's reason, e.g. its policy error.
    pub reason: String,
    /// Unix milliseconds.
    pub at_ms: u64,
}

/// Where a signer breakpoint holds a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignerMoment {
    /// Before the request goes to vlsd: vlsd has not seen it.
    Request,
    /// After vlsd answered (and persisted), before LDK sees the answer.
    Reply,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakpointRequest {
    /// VLS protocol request type, e.g. `ValidateCommitmentTx2`.
    pub request: String,
    /// Hold the n-th such request after arming (1 = the next).
    pub nth: u32,
    pub at: SignerMoment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakpoint {
    pub id: u64,
    pub request: String,
    pub nth: u32,
    pub at: SignerMoment,
    /// Matching requests seen since arming.
    pub seen: u32,
    /// Set once a request is held.
    pub hit: Option<BreakpointHit>,
    pub released: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakpointHit {
    pub request: String,
    /// vlsd's channel id, for channel requests.
    pub dbid: Option<u64>,
    /// What the request is about, e.g. `ValidateCommitmentTx2: holder commitment 2`
    /// (VLS numbering, counting up from 0).
    pub detail: String,
    /// Unix milliseconds.
    pub at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    pub node_id: String,
    pub amount_sat: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenReply {
    pub temporary_channel_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceRequest {
    pub amount_msat: u64,
    #[serde(default)]
    pub description: Option<String>,
    /// For a hold invoice: the hash whose preimage only the caller knows.
    #[serde(default)]
    pub payment_hash: Option<String>,
    #[serde(default)]
    pub expiry_secs: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub invoice: String,
    pub payment_hash: String,
    pub hold: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleRequest {
    pub preimage: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    pub invoice: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayReply {
    pub payment_hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
pub struct Payment {
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

/// Node events a client can wait on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    ChannelPending {
        channel_id: String,
        counterparty: String,
        funding_txo: String,
        /// The id the open request answered with (`OpenReply`), so the
        /// opener can tell its channels to one peer apart.
        #[serde(default)]
        temporary_channel_id: Option<String>,
    },
    ChannelReady {
        channel_id: String,
        counterparty: String,
    },
    ChannelClosed {
        channel_id: String,
        reason: String,
    },
    /// An HTLC for a hold invoice arrived and is held.
    HtlcAccepted {
        payment_hash: String,
        amount_msat: u64,
        /// Block height after which LDK fails it back by itself.
        claim_deadline: Option<u32>,
    },
    PaymentReceived {
        payment_hash: String,
        amount_msat: u64,
    },
    PaymentSent {
        payment_hash: String,
        fee_msat: Option<u64>,
    },
    PaymentFailed {
        payment_hash: String,
        reason: String,
    },
    SpendableOutputs {
        channel_id: Option<String>,
        outputs: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// 1, 2, ... since the node process started.
    pub seq: u64,
    /// Unix seconds.
    pub at: u64,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Events {
    /// Changes when the node restarts; sequence numbers start again at 1.
    pub started_at: u64,
    pub events: Vec<EventRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, e.g. `invalid_invoice`, `unknown_peer`, `no_route`.
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_by_kind_and_flattened() {
        let r = EventRecord {
            seq: 3,
            at: 10,
            event: Event::PaymentSent {
                payment_hash: "ab".into(),
                fee_msat: Some(0),
            },
        };
        let v = serde_json::to_value(&r).expect("serialize");
        assert_eq!(v["kind"], "payment_sent");
        assert_eq!(v["seq"], 3);
        let back: EventRecord = serde_json::from_value(v).expect("round trip");
        assert_eq!(back, r);
    }

    #[test]
    fn requests_reject_unknown_fields() {
        let e = serde_json::from_str::<PayRequest>(r#"{"invoice":"x","amount":1}"#);
        assert!(e.is_err());
    }
}
