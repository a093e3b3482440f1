//! The fate of a channel's funding output on chain, told from the channel's
//! own keys: which transaction spent it, whose commitment that is, at which
//! number, and whether the counterparty revoked it.
//!
//! A commitment transaction carries its number (obscured) in its locktime and
//! sequence; whose it is shows in its outputs: our `to_local` (a revocable
//! script under our delayed key) only appears on ours, our `to_remote`
//! (our static payment key) only on theirs.

use lightning_signer::bitcoin::secp256k1::ecdsa::Signature;
use lightning_signer::bitcoin::secp256k1::{All, PublicKey, Secp256k1, SecretKey};
use lightning_signer::bitcoin::{ScriptBuf, Transaction, TxOut, Txid};
use lightning_signer::channel::{Channel, ChannelBase};
use lightning_signer::lightning::ln::chan_utils::{
    get_countersigner_payment_script, get_keyed_anchor_redeemscript, get_revokeable_redeemscript,
    CommitmentTransaction, HTLCOutputInCommitment, TxCreationKeys,
};
use lightning_signer::util::transaction_utils::decode_commitment_number;
use lightning_signer::util::INITIAL_COMMITMENT_NUMBER;
use serde::Serialize;

use crate::chain::ChainView;

/// Which counterparty commitment, against what our state knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TheirCommitment {
    /// Their latest commitment, not revoked.
    Current,
    /// The one before, whose revocation we had not received.
    Previous,
    /// A number our state never signed: the state we hold is older than
    /// the channel (a rolled-back backup).
    Newer,
}

/// What happened to the funding output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fate {
    /// The funding transaction is not in the scanned blocks.
    FundingNotFound,
    /// Confirmed and unspent: the channel is still open on chain.
    Open { funding_height: u32 },
    /// Spent by a transaction that is no commitment: a cooperative close.
    MutualClose { txid: Txid, height: u32 },
    /// Our commitment. `revoked` when we had already revoked it (we
    /// broadcast from an old state; the counterparty can take `to_local`).
    Ours {
        txid: Txid,
        height: u32,
        number: u64,
        revoked: bool,
    },
    /// Their commitment, not revoked.
    Theirs {
        txid: Txid,
        height: u32,
        number: u64,
        which: TheirCommitment,
    },
    /// Their commitment that they had revoked: everything on it is ours.
    TheirRevoked {
        txid: Txid,
        height: u32,
        number: u64,
    },
    /// A commitment-shaped spender whose outputs match neither side.
    Unrecognised {
        txid: Txid,
        height: u32,
        reason: String,
    },
}

/// Scripts of one commitment, for one side, at one number.
pub(crate) fn holder_keys(
    channel: &Channel,
    secp: &Secp256k1<All>,
    point: &PublicKey,
) -> TxCreationKeys {
    let holder = channel.get_channel_basepoints();
    let cp = channel.counterparty_pubkeys();
    TxCreationKeys::derive_new(
        secp,
        point,
        &holder.delayed_payment_basepoint,
        &holder.htlc_basepoint,
        &cp.revocation_basepoint,
        &cp.htlc_basepoint,
    )
}

/// Our `to_local` witness script on our commitment at `point`.
pub(crate) fn holder_to_local_script(
    channel: &Channel,
    secp: &Secp256k1<All>,
    point: &PublicKey,
) -> ScriptBuf {
    let keys = holder_keys(channel, secp, point);
    get_revokeable_redeemscript(
        &keys.revocation_key,
        channel.setup.counterparty_selected_contest_delay,
        &keys.broadcaster_delayed_payment_key,
    )
}

/// Their `to_local` witness script on their commitment at `point`.
pub(crate) fn their_to_local_script(channel: &Channel, point: &PublicKey) -> ScriptBuf {
    let keys = channel.make_counterparty_tx_keys(point);
    get_revokeable_redeemscript(
        &keys.revocation_key,
        channel.setup.holder_selected_contest_delay,
        &keys.broadcaster_delayed_payment_key,
    )
}

/// Our output on their commitment (static key, so no point needed).
pub(crate) fn our_to_remote_spk(channel: &Channel) -> ScriptBuf {
    get_countersigner_payment_script(
        &channel.setup.features(),
        &channel.get_channel_basepoints().payment_point,
    )
}

pub(crate) fn their_to_remote_spk(channel: &Channel) -> ScriptBuf {
    get_countersigner_payment_script(
        &channel.setup.features(),
        &channel.counterparty_pubkeys().payment_point,
    )
}

/// The counterparty's per-commitment secret for commitment `number`, if
/// they revealed it (that is, revoked the commitment).
pub(crate) fn their_secret(channel: &Channel, number: u64) -> Option<SecretKey> {
    let state = &channel.enforcement_state;
    if number >= state.next_counterparty_revoke_num {
        return None;
    }
    let secrets = state.counterparty_secrets.as_ref()?;
    let idx = INITIAL_COMMITMENT_NUMBER.checked_sub(number)?;
    // get_secret asserts on an index it has not seen; only ask for ones
    // at or above the oldest it holds.
    if idx < secrets.get_min_seen_secret() {
        return None;
    }
    SecretKey::from_slice(&secrets.get_secret(idx)?).ok()
}

/// Their per-commitment point for `number`, where our state knows it.
pub(crate) fn their_point(
    channel: &Channel,
    secp: &Secp256k1<All>,
    number: u64,
) -> Option<PublicKey> {
    let state = &channel.enforcement_state;
    if let Some(secret) = their_secret(channel, number) {
        return Some(PublicKey::from_secret_key(secp, &secret));
    }
    state.get_previous_counterparty_point(number)
}

/// BOLT 3's anchor output value.
const ANCHOR_OUTPUT_VALUE_SATOSHI: u64 = 330;

/// An anchor output (either side's): 330 sat under a funding key.
pub(crate) fn is_anchor(channel: &Channel, out: &TxOut) -> bool {
    if !channel.setup.is_anchors() || out.value.to_sat() != ANCHOR_OUTPUT_VALUE_SATOSHI {
        return false;
    }
    [
        channel.get_channel_basepoints().funding_pubkey,
        channel.counterparty_pubkeys().funding_pubkey,
    ]
    .iter()
    .any(|k| out.script_pubkey == get_keyed_anchor_redeemscript(k).to_p2wsh())
}

fn has_output(tx: &Transaction, spk: &ScriptBuf) -> bool {
    tx.output.iter().any(|o| &o.script_pubkey == spk)
}

/// Tells what `view` shows of `channel`'s funding output.
pub fn classify(channel: &Channel, view: &ChainView, secp: &Secp256k1<All>) -> Fate {
    let funding = channel.setup.funding_outpoint;
    let Some(spender) = view.spender(&funding) else {
        return match view.tx(&funding.txid) {
            Some(c) => Fate::Open {
                funding_height: c.height,
            },
            None => Fate::FundingNotFound,
        };
    };
    let tx = &spender.tx;
    let txid = tx.compute_txid();
    let height = spender.height;
    let Some(number) = decode_commitment_number(tx, &channel.make_channel_parameters()) else {
        return Fate::MutualClose { txid, height };
    };
    let state = &channel.enforcement_state;

    if has_output(tx, &our_to_remote_spk(channel)) {
        return their_commitment(channel, txid, height, number);
    }
    let ours_by_to_local = number <= state.next_holder_commit_num
        && channel
            .get_per_commitment_point(number)
            .map(|p| has_output(tx, &holder_to_local_script(channel, secp, &p).to_p2wsh()))
            .unwrap_or(false);
    if ours_by_to_local || has_output(tx, &their_to_remote_spk(channel)) {
        // Everything below the current number was revoked when the next
        // one was signed.
        return Fate::Ours {
            txid,
            height,
            number,
            revoked: number + 1 < state.next_holder_commit_num,
        };
    }
    // Neither main output (both below dust, or all in HTLCs): their
    // to_local still tells theirs apart where we know their point.
    if let Some(p) = their_point(channel, secp, number) {
        if has_output(tx, &their_to_local_script(channel, &p).to_p2wsh()) {
            return their_commitment(channel, txid, height, number);
        }
    }
    Fate::Unrecognised {
        txid,
        height,
        reason: format!(
            "commitment number {number}, but no output matches either side's main outputs"
        ),
    }
}

fn their_commitment(channel: &Channel, txid: Txid, height: u32, number: u64) -> Fate {
    let state = &channel.enforcement_state;
    if number < state.next_counterparty_revoke_num {
        return Fate::TheirRevoked {
            txid,
            height,
            number,
        };
    }
    let which = if number + 1 == state.next_counterparty_commit_num {
        TheirCommitment::Current
    } else if number + 2 == state.next_counterparty_commit_num {
        TheirCommitment::Previous
    } else {
        TheirCommitment::Newer
    };
    Fate::Theirs {
        txid,
        height,
        number,
        which,
    }
}

/// The HTLC outputs of our commitment `number`, as LDK built it (output
/// order, output indexes), each with the counterparty's signature for its
/// second-stage transaction; none for a commitment we revoked (its
/// signatures are gone) or one our state does not hold.
pub(crate) struct HolderHtlcs {
    pub txid: Txid,
    /// The fee rate the second-stage transactions were signed at.
    pub feerate_per_kw: u32,
    pub htlcs: Vec<(HTLCOutputInCommitment, Signature)>,
}

pub(crate) fn holder_htlcs(
    channel: &Channel,
    secp: &Secp256k1<All>,
    number: u64,
) -> Option<HolderHtlcs> {
    let state = &channel.enforcement_state;
    let (info, sigs) = match &state.next_holder_commit_info {
        Some((info, sigs)) if number == state.next_holder_commit_num => (info, sigs),
        _ if number + 1 == state.next_holder_commit_num => (
            state.current_holder_commit_info.as_ref()?,
            state.current_counterparty_signatures.as_ref()?,
        ),
        _ => return None,
    };
    let point = channel.get_per_commitment_point(number).ok()?;
    let feerate_per_kw = if channel.setup.is_zero_fee_htlc() {
        0
    } else {
        info.feerate_per_kw
    };
    let params = channel.make_channel_parameters();
    let ct = CommitmentTransaction::new(
        INITIAL_COMMITMENT_NUMBER - number,
        &point,
        info.to_broadcaster_value_sat,
        info.to_countersigner_value_sat,
        feerate_per_kw,
        Channel::htlcs_info2_to_oic(&info.offered_htlcs, &info.received_htlcs),
        &params.as_holder_broadcastable(),
        secp,
    );
    let htlcs = ct.nondust_htlcs();
    if htlcs.len() != sigs.1.len() {
        return None;
    }
    Some(HolderHtlcs {
        txid: ct.trust().txid(),
        feerate_per_kw,
        htlcs: htlcs.iter().cloned().zip(sigs.1.iter().copied()).collect(),
    })
}
