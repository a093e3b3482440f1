//! A channel's view, read from its store entry: where its id came from,
//! its setup, how far its commitments got, its revocation secrets and its
//! pending HTLCs.

use std::collections::BTreeMap;

use lightning_signer::bitcoin::secp256k1::PublicKey;
use lightning_signer::channel::CommitmentType;
use lightning_signer::persist::model::ChannelEntry;
use lightning_signer::tx::tx::CommitmentInfo2;
use serde::Deserialize;

use super::entries::{invalid, CHANNEL};
use super::views::{
    ChannelOrigin, ChannelStatus, ChannelView, HtlcDirection, HtlcView, PointsView, SecretView,
};
use crate::error::RecoveryError;
use crate::store::{RawStore, Versioned};

/// Every live channel of node `node_hex`, in key order.
pub(super) fn channel_views(
    raw: &RawStore,
    node_hex: &str,
    preimages: &BTreeMap<[u8; 32], [u8; 32]>,
    source: &str,
) -> Result<Vec<ChannelView>, RecoveryError> {
    let chan_prefix = format!("{CHANNEL}{node_hex}/");
    let mut channels = Vec::new();
    for (key, v) in raw.entries.range(chan_prefix.clone()..) {
        if !key.starts_with(&chan_prefix) {
            break;
        }
        if v.value.is_empty() {
            continue;
        }
        let id0_hex = &key[chan_prefix.len()..];
        channels.push(channel_view(key, id0_hex, v, preimages, source)?);
    }
    Ok(channels)
}

fn origin(id0: &[u8]) -> ChannelOrigin {
    if id0.len() == 41 {
        let mut dbid = [0u8; 8];
        dbid.copy_from_slice(&id0[33..]);
        let dbid = u64::from_le_bytes(dbid);
        if id0[..33].iter().all(|b| *b == 0) {
            return ChannelOrigin::ZeroPeer { dbid };
        }
        if PublicKey::from_slice(&id0[..33]).is_ok() {
            return ChannelOrigin::Cln {
                peer_id: hex::encode(&id0[..33]),
                dbid,
            };
        }
    }
    ChannelOrigin::Opaque
}

fn commitment_type_name(t: &CommitmentType) -> &'static str {
    match t {
        CommitmentType::Legacy => "legacy",
        CommitmentType::StaticRemoteKey => "static-remote-key",
        CommitmentType::Anchors => "anchors",
        CommitmentType::AnchorsZeroFeeHtlc => "anchors-zero-fee-htlc",
    }
}

fn htlcs(
    holder: Option<&CommitmentInfo2>,
    counterparty: Option<&CommitmentInfo2>,
    preimages: &BTreeMap<[u8; 32], [u8; 32]>,
) -> Vec<HtlcView> {
    let mut out: BTreeMap<(HtlcDirection, [u8; 32], u64, u32), HtlcView> = BTreeMap::new();
    let mut add =
        |dir: HtlcDirection, list: &[lightning_signer::tx::tx::HTLCInfo2], on_holder: bool| {
            for h in list {
                let k = (dir, h.payment_hash.0, h.value_sat, h.cltv_expiry);
                let e = out.entry(k).or_insert_with(|| HtlcView {
                    direction: dir,
                    payment_hash: hex::encode(h.payment_hash.0),
                    amount_sat: h.value_sat,
                    cltv_expiry: h.cltv_expiry,
                    preimage: preimages.get(&h.payment_hash.0).map(hex::encode),
                    on_holder_commitment: false,
                    on_counterparty_commitment: false,
                });
                if on_holder {
                    e.on_holder_commitment = true;
                } else {
                    e.on_counterparty_commitment = true;
                }
            }
        };
    // On our commitment we are the broadcaster: its offered HTLCs are ours.
    if let Some(c) = holder {
        add(HtlcDirection::Offered, &c.offered_htlcs, true);
        add(HtlcDirection::Received, &c.received_htlcs, true);
    }
    // On theirs the roles swap.
    if let Some(c) = counterparty {
        add(HtlcDirection::Received, &c.offered_htlcs, false);
        add(HtlcDirection::Offered, &c.received_htlcs, false);
    }
    out.into_values().collect()
}

#[derive(Deserialize)]
struct SecretsJson {
    // Human-readable serde of `[u8; 32]`: an array of 32 numbers.
    old_secrets: Vec<([u8; 32], u64)>,
}

fn channel_view(
    key: &str,
    id0_hex: &str,
    v: &Versioned,
    preimages: &BTreeMap<[u8; 32], [u8; 32]>,
    source: &str,
) -> Result<ChannelView, RecoveryError> {
    let id0 = hex::decode(id0_hex).map_err(|e| invalid(source, key, format!("id0: {e}")))?;
    let entry: ChannelEntry =
        serde_json::from_slice(&v.value).map_err(|e| invalid(source, key, e))?;
    let es = &entry.enforcement_state;
    // The compact secret store's slots are crate-private in vls-core; read
    // them from the same JSON vls-core wrote.
    let counterparty_secrets = match &es.counterparty_secrets {
        None => Vec::new(),
        Some(s) => {
            let j: SecretsJson = serde_json::to_value(s)
                .and_then(serde_json::from_value)
                .map_err(|e| invalid(source, key, format!("counterparty_secrets: {e}")))?;
            j.old_secrets
                .into_iter()
                // Zeroed slots are padding, not secrets.
                .filter(|(secret, _)| secret.iter().any(|b| *b != 0))
                .map(|(secret, index)| SecretView {
                    index,
                    secret: hex::encode(secret),
                })
                .collect()
        }
    };
    let setup = entry.channel_setup.as_ref();
    let status = match (setup, es.channel_closed) {
        (None, _) => ChannelStatus::Stub,
        (Some(_), true) => ChannelStatus::Closed,
        (Some(_), false) => ChannelStatus::Open,
    };
    Ok(ChannelView {
        key: key.to_string(),
        version: v.version,
        id0: id0_hex.to_string(),
        origin: origin(&id0),
        channel_id: entry.id.as_ref().map(|i| hex::encode(i.as_slice())),
        status,
        capacity_sat: entry.channel_value_satoshis,
        funding_outpoint: setup.map(|s| s.funding_outpoint.to_string()),
        commitment_type: setup.map(|s| commitment_type_name(&s.commitment_type).to_string()),
        is_outbound: setup.map(|s| s.is_outbound),
        push_msat: setup.map(|s| s.push_value_msat),
        holder_selected_contest_delay: setup.map(|s| s.holder_selected_contest_delay),
        counterparty_selected_contest_delay: setup.map(|s| s.counterparty_selected_contest_delay),
        counterparty_points: setup.map(|s| {
            let p = &s.counterparty_points;
            PointsView {
                funding: hex::encode(p.funding_pubkey.serialize()),
                revocation: hex::encode(p.revocation_basepoint.0.serialize()),
                payment: hex::encode(p.payment_point.serialize()),
                delayed_payment: hex::encode(p.delayed_payment_basepoint.0.serialize()),
                htlc: hex::encode(p.htlc_basepoint.0.serialize()),
            }
        }),
        next_holder_commit_num: es.next_holder_commit_num,
        next_counterparty_commit_num: es.next_counterparty_commit_num,
        next_counterparty_revoke_num: es.next_counterparty_revoke_num,
        counterparty_secrets,
        to_holder_sat: es
            .current_holder_commit_info
            .as_ref()
            .map(|c| c.to_broadcaster_value_sat),
        to_counterparty_sat: es
            .current_holder_commit_info
            .as_ref()
            .map(|c| c.to_countersigner_value_sat),
        htlcs: htlcs(
            es.current_holder_commit_info.as_ref(),
            es.current_counterparty_commit_info.as_ref(),
            preimages,
        ),
        blockheight: entry.blockheight,
    })
}
