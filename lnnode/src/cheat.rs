//! What a cheating counterparty does, for scenarios that test the justice
//! path: take a signed copy of its current commitment (and the HTLC
//! transactions on it) to broadcast after the channel has moved on and
//! that commitment is revoked. Nodes with a local signer only: vlsd would
//! (rightly) refuse to sign a holder commitment it may later revoke, and
//! LDK expects that signature to succeed.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use bitcoin::consensus::encode::serialize_hex;

use lightning::ln::chan_utils::{
    get_commitment_transaction_number_obscure_factor, get_countersigner_payment_script,
    get_revokeable_redeemscript,
};
use lightning::ln::channel_keys::{DelayedPaymentKey, RevocationKey};
use lightning::sign::{
    ChannelSigner, DelayedPaymentOutputDescriptor, OutputSpender, SignerProvider,
    SpendableOutputDescriptor,
};
use lightning::util::ser::{Readable, Writeable};

use vls_proxy::vls_protocol_client::DynSigner;

use crate::api_error::ApiError;
use crate::node::Node;
use crate::signer::Keys;
use lnnode_api::{Stash, StashSweepReply, StashSweepRequest};

/// `POST /v1/channels/:id/stash`.
pub async fn stash(
    State(n): State<Arc<Node>>,
    Path(id): Path<String>,
) -> Result<Json<Stash>, ApiError> {
    if matches!(*n.keys, Keys::Vls(_)) {
        return Err(ApiError::BadRequest(
            "stashing a commitment needs a node with a local signer; this one signs through vlsd"
                .into(),
        ));
    }
    let (cid, _) = n.find_channel(&id)?;
    let monitor = n
        .chain_monitor
        .get_monitor(cid)
        .map_err(|()| ApiError::UnknownChannel(id.clone()))?;
    let txs = monitor.unsafe_get_latest_holder_commitment_txn(&n.logger);
    let Some((commitment, htlc_txs)) = txs.split_first() else {
        return Err(ApiError::Internal(format!(
            "channel {id}: LDK returned no holder commitment"
        )));
    };
    let commitment_txid = commitment.compute_txid().to_string();
    // The cheater's own delayed output, to sweep once its delay ends.
    let to_local = match &*n.keys {
        Keys::Local(keys) => to_local_descriptor(&monitor, keys, commitment),
        Keys::Vls(_) => None,
    }
    .map(|d| hex::encode(d.encode()));
    tracing::warn!(channel_id = %id, txid = %commitment_txid, htlc_txs = htlc_txs.len(), "stashed a signed holder commitment to broadcast after it is revoked");
    Ok(Json(Stash {
        channel_id: id,
        commitment_txid,
        commitment_hex: serialize_hex(commitment),
        htlc_txs_hex: htlc_txs.iter().map(serialize_hex).collect(),
        to_local_descriptor_hex: to_local,
    }))
}

/// The descriptor of our delayed output on `commitment` (ours, current),
/// from public parts only: the monitor hands out the channel's parameters
/// with a descriptor of its payment script, the commitment's obscured
/// number says which per-commitment point it used, and the keys manager
/// derives that point.
fn to_local_descriptor(
    monitor: &lightning::chain::chainmonitor::LockedChannelMonitor<'_, DynSigner>,
    keys: &lightning::sign::KeysManager,
    commitment: &bitcoin::Transaction,
) -> Option<SpendableOutputDescriptor> {
    let probe = |script: bitcoin::ScriptBuf| bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: Vec::new(),
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(1_000),
            script_pubkey: script,
        }],
    };
    // The keys manager's destination script is the same for every channel;
    // the monitor answers it with the channel's keys id.
    let keys_id = monitor
        .get_spendable_outputs(&probe(keys.get_destination_script([0; 32]).ok()?), 0)
        .into_iter()
        .find_map(|d| match d {
            SpendableOutputDescriptor::StaticOutput {
                channel_keys_id, ..
            } => channel_keys_id,
            _ => None,
        })?;
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let signer = keys.derive_channel_signer(keys_id);
    let ours = get_countersigner_payment_script(
        &monitor.channel_type_features(),
        &signer.pubkeys(&secp).payment_point,
    );
    // Our payment script on their commitment: answered with the parameters.
    let params = monitor
        .get_spendable_outputs(&probe(ours), 0)
        .into_iter()
        .find_map(|d| match d {
            SpendableOutputDescriptor::StaticPaymentOutput(p) => p.channel_transaction_parameters,
            _ => None,
        })?;
    let theirs = params.counterparty_parameters.as_ref()?;
    let input = commitment.input.first()?;
    let obscured = (u64::from(input.sequence.0 & 0xff_ffff) << 24)
        | u64::from(commitment.lock_time.to_consensus_u32() & 0xff_ffff);
    let number = obscured
        ^ get_commitment_transaction_number_obscure_factor(
            &params.holder_pubkeys.payment_point,
            &theirs.pubkeys.payment_point,
            params.is_outbound_from_holder,
        );
    let point = signer
        .get_per_commitment_point((1 << 48) - 1 - number, &secp)
        .ok()?;
    let revocation =
        RevocationKey::from_basepoint(&secp, &theirs.pubkeys.revocation_basepoint, &point);
    let delayed = DelayedPaymentKey::from_basepoint(
        &secp,
        &params.holder_pubkeys.delayed_payment_basepoint,
        &point,
    );
    let delay = theirs.selected_contest_delay;
    let script = get_revokeable_redeemscript(&revocation, delay, &delayed).to_p2wsh();
    let (index, output) = commitment
        .output
        .iter()
        .enumerate()
        .find(|(_, o)| o.script_pubkey == script)?;
    Some(SpendableOutputDescriptor::DelayedPaymentOutput(
        DelayedPaymentOutputDescriptor {
            outpoint: lightning::chain::transaction::OutPoint {
                txid: commitment.compute_txid(),
                index: index as u16,
            },
            per_commitment_point: point,
            to_self_delay: delay,
            output: output.clone(),
            revocation_pubkey: revocation,
            channel_keys_id: keys_id,
            channel_value_satoshis: params.channel_value_satoshis,
            channel_transaction_parameters: Some(params),
        },
    ))
}

/// `POST /v1/stash/sweep`: the cheater spends its own output of a stashed
/// commitment (once on chain and past its delay) to its wallet, as its own
/// tooling would; LDK does not, for a commitment it no longer holds.
pub async fn sweep(
    State(n): State<Arc<Node>>,
    Json(r): Json<StashSweepRequest>,
) -> Result<Json<StashSweepReply>, ApiError> {
    let Keys::Local(keys) = &*n.keys else {
        return Err(ApiError::BadRequest(
            "sweeping a stash needs a node with a local signer".into(),
        ));
    };
    let bytes = hex::decode(&r.descriptor_hex)
        .map_err(|e| ApiError::BadRequest(format!("descriptor_hex: {e}")))?;
    let descriptor = SpendableOutputDescriptor::read(&mut bytes.as_slice())
        .map_err(|e| ApiError::BadRequest(format!("descriptor_hex: not a descriptor: {e:?}")))?;
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let tx = keys
        .spend_spendable_outputs(
            &[&descriptor],
            Vec::new(),
            n.sweep.address.script_pubkey(),
            SWEEP_FEERATE_SAT_PER_KW,
            None,
            &secp,
        )
        .map_err(|()| ApiError::Internal("the keys manager could not sign the sweep".into()))?;
    let txid = n
        .bitcoind
        .call::<String>(
            "sendrawtransaction",
            serde_json::json!([serialize_hex(&tx)]),
        )
        .await
        .map_err(|e| ApiError::BadRequest(format!("bitcoind refused the sweep: {e:#}")))?;
    tracing::warn!(txid = %txid, "swept the delayed output of a stashed commitment");
    Ok(Json(StashSweepReply { txid }))
}

/// A cheater in no hurry: 1 sat/vB.
const SWEEP_FEERATE_SAT_PER_KW: u32 = 253;
