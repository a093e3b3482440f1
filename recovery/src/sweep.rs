//! Signed transactions for a plan's ready actions, made by the offline
//! signer (vls-core's own signing calls and policy), each script-verified
//! against its prevout by libbitcoinconsensus and fee-checked before it may
//! leave this module.

use lightning_signer::bitcoin::absolute::LockTime;
use lightning_signer::bitcoin::bip32::DerivationPath;
use lightning_signer::bitcoin::secp256k1::ecdsa::Signature;
use lightning_signer::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning_signer::bitcoin::transaction::Version;
use lightning_signer::bitcoin::{
    Amount, EcdsaSighashType, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use lightning_signer::channel::{Channel, ChannelBase};
use lightning_signer::lightning::ln::chan_utils::{
    build_htlc_input_witness, build_htlc_transaction, get_htlc_redeemscript,
    make_funding_redeemscript,
};
use lightning_signer::lightning::types::payment::PaymentPreimage;
use lightning_signer::policy::simple_validator::make_default_simple_policy;
use serde::Serialize;

use crate::fate::{holder_htlcs, holder_keys, their_point, their_secret};
use crate::feewallet::{FeeCoin, FeeWallet};
use crate::offline::{status_err, OfflineSigner};
use crate::plan::{Action, Claim, Plan, Status};
use crate::preimage::Preimages;
use crate::{Network, RecoveryError};

/// BOLT 3's floor on a fee rate that relays (sat per 1000 weight units).
pub const FEE_RATE_FLOOR: u32 = 253;

/// The fee-rate range vls-core's default policy accepts on `network`
/// (sat/kw): sweeps outside it are refused, so we refuse them first.
pub fn fee_rate_bounds(network: Network) -> (u32, u32) {
    let policy = make_default_simple_policy(network.into());
    (
        policy.min_feerate_per_kw.max(FEE_RATE_FLOOR),
        policy.max_feerate_per_kw,
    )
}

/// The fee rate to use: the operator's, or the source's estimate, held to
/// the policy's bounds.
pub fn choose_fee_rate(
    network: Network,
    operator: Option<u32>,
    estimate: Option<u32>,
) -> Result<u32, RecoveryError> {
    let (min, max) = fee_rate_bounds(network);
    match operator {
        Some(rate) if rate < min || rate > max => Err(RecoveryError::FeeBounds {
            what: "--fee-rate".into(),
            rate: u64::from(rate),
            min: u64::from(min),
            max: u64::from(max),
        }),
        Some(rate) => Ok(rate),
        None => Ok(estimate.unwrap_or(min).clamp(min, max)),
    }
}

/// A transaction ready to broadcast, with what it spends.
#[derive(Debug, Clone, Serialize)]
pub struct Signed {
    pub channel: String,
    pub claim: String,
    #[serde(serialize_with = "tx_hex")]
    pub tx: Transaction,
    pub txid: String,
    /// What each input spends, in input order.
    #[serde(skip)]
    pub prevouts: Vec<TxOut>,
    pub value_in_sat: u64,
    pub fee_sat: u64,
    /// Fee per 1000 weight units of the signed transaction.
    pub fee_rate: u64,
}

fn tx_hex<S: serde::Serializer>(tx: &Transaction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&lightning_signer::bitcoin::consensus::encode::serialize_hex(tx))
}

/// What could not be signed, and why.
#[derive(Debug, Serialize)]
pub struct Unsigned {
    pub channel: String,
    pub claim: String,
    pub outpoint: OutPoint,
    pub value_sat: u64,
    pub code: &'static str,
    pub reason: String,
}

/// Every ready action of `plan` signed, or the reason it was not.
pub fn sign_ready(
    signer: &OfflineSigner,
    plan: &Plan,
    preimages: &Preimages,
    network: Network,
    destination: &ScriptBuf,
    fee_rate: u32,
) -> (Vec<Signed>, Vec<Unsigned>) {
    let mut signed = Vec::new();
    let mut unsigned = Vec::new();
    for action in plan.actions() {
        if action.status != Status::Ready {
            continue;
        }
        match sign_action(
            signer,
            plan.tip,
            action,
            preimages,
            network,
            destination,
            fee_rate,
        ) {
            Ok(s) => signed.push(s),
            Err(e) => unsigned.push(Unsigned {
                channel: action.channel.clone(),
                claim: action.claim.name().to_string(),
                outpoint: action.outpoint,
                value_sat: action.value_sat,
                code: e.code(),
                reason: e.to_string(),
            }),
        }
    }
    (signed, unsigned)
}

/// Signs one ready action.
pub fn sign_action(
    signer: &OfflineSigner,
    tip: u32,
    action: &Action,
    preimages: &Preimages,
    network: Network,
    destination: &ScriptBuf,
    fee_rate: u32,
) -> Result<Signed, RecoveryError> {
    let Some(id) = signer.channel(&action.channel_id).cloned() else {
        return Err(RecoveryError::Internal {
            reason: format!(
                "{}: no channel {} in the signer",
                action.channel, action.channel_id
            ),
        });
    };
    let what = format!(
        "{} {} {}",
        action.channel,
        action.claim.name(),
        action.outpoint
    );
    // An anchor channel's HTLC transaction gets a fee wallet coin.
    let fee_wallet = match &action.claim {
        Claim::HolderHtlc {
            fee_coin: Some(_), ..
        } => Some(FeeWallet::of(signer)?),
        _ => None,
    };
    let (mut tx, prevouts) = match &action.claim {
        // The node's on-chain signing locks every channel: call it with
        // none held.
        Claim::ToRemote { anchors } => {
            let (key, spk) = signer.with_channel(&id, |c| {
                let key = c
                    .get_unilateral_close_key(&None, &None)
                    .map_err(|s| status_err(&what, s))?;
                Ok((key, crate::fate::our_to_remote_spk(c)))
            })?;
            to_remote(
                signer,
                action,
                *anchors,
                key,
                spk,
                destination,
                fee_rate,
                &what,
            )?
        }
        claim => signer.with_channel(&id, |c| match claim {
            Claim::ForceClose => force_close(c, tip, &what),
            Claim::ToLocal {
                number,
                witness_script,
                csv,
            } => sweep_p2wsh(
                action,
                witness_script,
                LockTime::ZERO,
                Sequence::from_height(*csv),
                // The delayed path: OP_IF's false branch.
                vec![],
                destination,
                fee_rate,
                &what,
                |tx| {
                    c.sign_delayed_sweep(
                        tx,
                        0,
                        *number,
                        witness_script,
                        action.value_sat,
                        &DerivationPath::master(),
                    )
                },
            ),
            Claim::JusticeToLocal {
                number,
                witness_script,
            }
            | Claim::JusticeHtlc {
                number,
                witness_script,
            } => justice(
                c,
                action,
                *number,
                witness_script,
                destination,
                fee_rate,
                &what,
            ),
            Claim::HolderHtlc {
                number,
                htlc_index,
                fee_coin,
                ..
            } => {
                if fee_coin.is_none() && c.setup.is_zero_fee_htlc() {
                    return Err(RecoveryError::Usage {
                        reason: format!(
                            "{what}: pays no fee by itself (an anchor channel's); it needs a \
                             coin of the fee wallet (vls-recover fee-address)"
                        ),
                    });
                }
                let fee = match (fee_coin, &fee_wallet) {
                    (Some(coin), Some(wallet)) => Some(FeeInput {
                        coin,
                        wallet,
                        fee_rate,
                    }),
                    _ => None,
                };
                holder_htlc(c, *number, *htlc_index, preimages, fee, &what)
            }
            Claim::TheirHtlcPreimage {
                number,
                witness_script,
                payment_hash,
            } => {
                let preimage = preimages
                    .get(payment_hash)
                    .ok_or_else(|| RecoveryError::Usage {
                        reason: format!("{what}: preimage unknown (give it with --preimage)"),
                    })?;
                their_htlc(
                    c,
                    action,
                    *number,
                    witness_script,
                    LockTime::ZERO,
                    preimage.to_vec(),
                    destination,
                    fee_rate,
                    &what,
                )
            }
            Claim::TheirHtlcTimeout {
                number,
                witness_script,
                cltv_expiry,
            } => {
                let lock_time =
                    LockTime::from_height(*cltv_expiry).map_err(|e| RecoveryError::Internal {
                        reason: format!("{what}: expiry {cltv_expiry}: {e}"),
                    })?;
                // The script's expiry path: a preimage-sized item it is not.
                their_htlc(
                    c,
                    action,
                    *number,
                    witness_script,
                    lock_time,
                    vec![],
                    destination,
                    fee_rate,
                    &what,
                )
            }
            Claim::ToRemote { .. } => Err(RecoveryError::Internal {
                reason: format!("{what}: to_remote is signed without the channel lock"),
            }),
        })?,
    };
    if let Some(wallet) = &fee_wallet {
        // The coin's key is the node's wallet key; the node's on-chain
        // signing takes every channel's lock, so none may be held here.
        let paths = [DerivationPath::master(), wallet.path.clone()];
        let witnesses = signer
            .node()
            .unchecked_sign_onchain_tx(&tx, &paths, &prevouts, vec![None, None])
            .map_err(|s| status_err(&what, s))?;
        let stack = witnesses.get(1).cloned().unwrap_or_default();
        if let Some(input) = tx.input.get_mut(1) {
            input.witness = Witness::from_slice(&stack);
        }
    }
    finish(action, tx, prevouts, network, &what)
}

/// A fee wallet coin paying for a zero-fee second-stage transaction.
pub(crate) struct FeeInput<'a> {
    pub coin: &'a FeeCoin,
    pub wallet: &'a FeeWallet,
    pub fee_rate: u32,
}

/// Witness bytes (with length prefixes) of an anchor HTLC input: the
/// dummy, two signatures, the preimage (or an empty item) and the script.
fn htlc_witness_len(script: &ScriptBuf, preimage: bool) -> u64 {
    let items = 1 + (1 + 73) * 2 + 1 + if preimage { 32 } else { 0 };
    (items + 1 + script.len() + 1) as u64
}

/// A p2wpkh input's witness bytes: count, signature, key.
const P2WPKH_WITNESS_LEN: u64 = 1 + 1 + 72 + 1 + 33;

/// Change below this goes to the fee instead (a p2wpkh output's dust limit).
const CHANGE_DUST_SAT: u64 = 294;

/// Adds `fee`'s coin as input 1 and, above dust, its change back to the
/// fee address as output 1 (the peer's SINGLE|ANYONECANPAY signature
/// covers input 0 and output 0 only), paying `fee.fee_rate` on the whole.
fn add_fee_input(
    tx: &mut Transaction,
    fee: &FeeInput,
    htlc_witness: u64,
    what: &str,
) -> Result<TxOut, RecoveryError> {
    tx.input.push(TxIn {
        previous_output: fee.coin.outpoint,
        script_sig: ScriptBuf::new(),
        sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
        witness: Witness::new(),
    });
    tx.output.push(TxOut {
        value: Amount::from_sat(fee.coin.value_sat),
        script_pubkey: fee.wallet.script.clone(),
    });
    // Witness bytes weigh one unit each; the segwit marker and flag two.
    let weight = tx.weight().to_wu() + 2 + htlc_witness + P2WPKH_WITNESS_LEN;
    let needed = (u64::from(fee.fee_rate) * weight).div_ceil(1000);
    let Some(change) = fee.coin.value_sat.checked_sub(needed) else {
        return Err(RecoveryError::Usage {
            reason: format!(
                "{what}: fee coin {} holds {} sat, less than the {needed} sat fee at {} sat/kw: \
                 send a larger coin to {}",
                fee.coin.outpoint, fee.coin.value_sat, fee.fee_rate, fee.wallet.address
            ),
        });
    };
    if change < CHANGE_DUST_SAT {
        tx.output.pop();
    } else if let Some(out) = tx.output.get_mut(1) {
        out.value = Amount::from_sat(change);
    }
    Ok(TxOut {
        value: Amount::from_sat(fee.coin.value_sat),
        script_pubkey: fee.wallet.script.clone(),
    })
}

/// Takes an output of their revoked commitment `number` (or of their
/// second-stage transaction off it) by the revocation path.
fn justice(
    c: &Channel,
    action: &Action,
    number: u64,
    witness_script: &ScriptBuf,
    destination: &ScriptBuf,
    fee_rate: u32,
    what: &str,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let secret = their_secret(c, number).ok_or_else(|| RecoveryError::Internal {
        reason: format!("{what}: the revocation secret for {number} is gone"),
    })?;
    let branch = if matches!(action.claim, Claim::JusticeHtlc { .. }) {
        // An HTLC script's revocation path: the revocation key itself,
        // hashed against the script's.
        let point = PublicKey::from_secret_key(&Secp256k1::new(), &secret);
        let revocation = c.make_counterparty_tx_keys(&point).revocation_key;
        revocation.to_public_key().serialize().to_vec()
    } else {
        // A delayed script's revocation path: OP_IF's true branch.
        vec![1]
    };
    sweep_p2wsh(
        action,
        witness_script,
        LockTime::ZERO,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
        branch,
        destination,
        fee_rate,
        what,
        |tx| {
            c.sign_justice_sweep(
                tx,
                0,
                &secret,
                witness_script,
                action.value_sat,
                &DerivationPath::master(),
            )
        },
    )
}

/// Our second-stage transaction for HTLC `index` of our commitment
/// `number`: rebuilt as LDK built it (the counterparty signed exactly
/// that), signed by vls-core with the right commitment's key. Its fee was
/// set when the channel signed it.
pub(crate) fn holder_htlc(
    c: &Channel,
    number: u64,
    index: usize,
    preimages: &Preimages,
    fee: Option<FeeInput>,
    what: &str,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let secp = Secp256k1::new();
    let gone = |part: &str| RecoveryError::Internal {
        reason: format!("{what}: {part} of our commitment {number} is gone from the state"),
    };
    let hh = holder_htlcs(c, &secp, number).ok_or_else(|| gone("the HTLCs"))?;
    let (h, their_sig) = hh.htlcs.get(index).ok_or_else(|| gone("the HTLC"))?;
    let point = c
        .get_per_commitment_point(number)
        .map_err(|s| status_err(what, s))?;
    let keys = holder_keys(c, &secp, &point);
    let features = c.setup.features();
    let script = get_htlc_redeemscript(h, &features, &keys);
    let mut tx = build_htlc_transaction(
        &hh.txid,
        hh.feerate_per_kw,
        c.setup.counterparty_selected_contest_delay,
        h,
        &features,
        &keys.broadcaster_delayed_payment_key,
        &keys.revocation_key,
    );
    // Its fee input must be in place before we sign (SIGHASH_ALL).
    let fee_prevout = match &fee {
        Some(f) => Some(add_fee_input(
            &mut tx,
            f,
            htlc_witness_len(&script, !h.offered),
            what,
        )?),
        None => None,
    };
    let ours = c
        .sign_holder_htlc_tx_phase2(
            &tx,
            0,
            number,
            h.offered,
            h.cltv_expiry,
            h.amount_msat,
            h.payment_hash,
        )
        .map_err(|s| status_err(what, s))?;
    let preimage = if h.offered {
        None
    } else {
        let p = preimages
            .get(&h.payment_hash.0)
            .ok_or_else(|| RecoveryError::Usage {
                reason: format!("{what}: preimage unknown (give it with --preimage)"),
            })?;
        Some(PaymentPreimage(*p))
    };
    tx.input[0].witness =
        build_htlc_input_witness(&ours.sig, their_sig, &preimage, &script, &features);
    let prevout = TxOut {
        value: Amount::from_sat(h.amount_msat / 1000),
        script_pubkey: script.to_p2wsh(),
    };
    Ok((tx, std::iter::once(prevout).chain(fee_prevout).collect()))
}

/// Claims an HTLC output of their commitment `number` with our HTLC key:
/// `branch` is the preimage, or empty for the expiry path.
#[allow(clippy::too_many_arguments)]
fn their_htlc(
    c: &Channel,
    action: &Action,
    number: u64,
    witness_script: &ScriptBuf,
    lock_time: LockTime,
    branch: Vec<u8>,
    destination: &ScriptBuf,
    fee_rate: u32,
    what: &str,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let secp = Secp256k1::new();
    let point = their_point(c, &secp, number).ok_or_else(|| RecoveryError::Internal {
        reason: format!("{what}: their point for commitment {number} is gone"),
    })?;
    // Anchor channels' HTLC scripts carry `1 OP_CSV` on these paths.
    let sequence = if c.setup.is_anchors() {
        Sequence::from_height(1)
    } else {
        Sequence::ENABLE_RBF_NO_LOCKTIME
    };
    sweep_p2wsh(
        action,
        witness_script,
        lock_time,
        sequence,
        branch,
        destination,
        fee_rate,
        what,
        |tx| {
            c.sign_counterparty_htlc_sweep(
                tx,
                0,
                &point,
                witness_script,
                action.value_sat,
                &DerivationPath::master(),
            )
        },
    )
}

/// Spends `action`'s p2wsh output of `witness_script` to `destination`,
/// with `branch` selecting the script's path and `sign` vls-core's call.
#[allow(clippy::too_many_arguments)]
fn sweep_p2wsh(
    action: &Action,
    witness_script: &ScriptBuf,
    lock_time: LockTime,
    sequence: Sequence,
    branch: Vec<u8>,
    destination: &ScriptBuf,
    fee_rate: u32,
    what: &str,
    sign: impl FnOnce(&Transaction) -> Result<Signature, lightning_signer::util::status::Status>,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let prevout = TxOut {
        value: Amount::from_sat(action.value_sat),
        script_pubkey: witness_script.to_p2wsh(),
    };
    let witness_len = 73 + 1 + branch.len() + 1 + witness_script.len() + 1;
    let tx = spend_one(
        action.outpoint,
        lock_time,
        sequence,
        &prevout,
        destination,
        witness_len,
        fee_rate,
        what,
    )?;
    let sig = sign(&tx).map_err(|s| status_err(what, s))?;
    let stack = vec![sig_all(sig), branch, witness_script.to_bytes()];
    Ok((with_witness(tx, stack), vec![prevout]))
}

fn sig_all(sig: Signature) -> Vec<u8> {
    let mut v = sig.serialize_der().to_vec();
    v.push(EcdsaSighashType::All as u8);
    v
}

fn with_witness(mut tx: Transaction, stack: Vec<Vec<u8>>) -> Transaction {
    tx.input[0].witness = Witness::from_slice(&stack);
    tx
}

/// A one-input, one-output sweep paying `fee_rate` on its signed weight
/// (`witness_len` bytes of witness to come), and at least that rate on the
/// weight vls-core's policy assumes (unsigned weight + 220).
#[allow(clippy::too_many_arguments)]
fn spend_one(
    outpoint: OutPoint,
    lock_time: LockTime,
    sequence: Sequence,
    prevout: &TxOut,
    destination: &ScriptBuf,
    witness_len: usize,
    fee_rate: u32,
    what: &str,
) -> Result<Transaction, RecoveryError> {
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time,
        input: vec![TxIn {
            previous_output: outpoint,
            script_sig: ScriptBuf::new(),
            sequence,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::ZERO,
            script_pubkey: destination.clone(),
        }],
    };
    // Segwit marker and flag (2), the stack's item count and the lengths.
    let signed_weight = tx.weight().to_wu() + 2 + 1 + 3 + witness_len as u64;
    let policy_weight = tx.weight().to_wu() + 220;
    let weight = signed_weight.max(policy_weight);
    let fee = (u64::from(fee_rate) * weight).div_ceil(1000);
    let value = prevout.value.to_sat();
    let dust = destination.minimal_non_dust().to_sat();
    if value < fee + dust {
        return Err(RecoveryError::FeeBounds {
            what: format!(
                "{what}: {value} sat is less than the fee ({fee} sat) plus dust ({dust} sat)"
            ),
            rate: u64::from(fee_rate),
            min: u64::from(FEE_RATE_FLOOR),
            max: u64::from(fee_rate),
        });
    }
    tx.output[0].value = Amount::from_sat(value - fee);
    Ok(tx)
}

/// Our latest holder commitment, signed by vls-core's recovery path
/// without marking the channel closed; HTLCs are considered at `height`.
pub(crate) fn sign_latest_holder_commitment(
    c: &mut Channel,
    height: u32,
) -> Result<Transaction, lightning_signer::util::status::Status> {
    let state = &c.enforcement_state;
    // One entry per non-dust HTLC of the commitment vls-core will pick:
    // the pending next one if it validated one, else the current one.
    let htlcs = match (
        &state.next_holder_commit_info,
        &state.current_counterparty_signatures,
    ) {
        (Some((_, sigs)), _) | (None, Some(sigs)) => sigs.1.len(),
        (None, None) => 0,
    };
    let (tx, ..) =
        c.sign_holder_commitment_tx_for_recovery_dry_run(&vec![false; htlcs], Some(height))?;
    Ok(tx)
}

fn force_close(
    c: &mut Channel,
    tip: u32,
    what: &str,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let tx = sign_latest_holder_commitment(c, tip).map_err(|s| status_err(what, s))?;
    let holder = c.get_channel_basepoints().funding_pubkey;
    let theirs = c.counterparty_pubkeys().funding_pubkey;
    let funding = TxOut {
        value: Amount::from_sat(c.setup.channel_value_sat),
        script_pubkey: make_funding_redeemscript(&holder, &theirs).to_p2wsh(),
    };
    Ok((tx, vec![funding]))
}

#[allow(clippy::too_many_arguments)]
fn to_remote(
    signer: &OfflineSigner,
    action: &Action,
    anchors: bool,
    (key, suffix): (SecretKey, Vec<Vec<u8>>),
    spk: ScriptBuf,
    destination: &ScriptBuf,
    fee_rate: u32,
    what: &str,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let prevout = TxOut {
        value: Amount::from_sat(action.value_sat),
        script_pubkey: spk,
    };
    // The anchors script carries `1 OP_CSV`.
    let sequence = if anchors {
        Sequence::from_height(1)
    } else {
        Sequence::ENABLE_RBF_NO_LOCKTIME
    };
    let witness_len = 73 + 1 + suffix.iter().map(|i| i.len() + 1).sum::<usize>();
    let tx = spend_one(
        action.outpoint,
        LockTime::ZERO,
        sequence,
        &prevout,
        destination,
        witness_len,
        fee_rate,
        what,
    )?;
    let uck = vec![Some((key, suffix))];
    let master = [DerivationPath::master()];
    signer
        .node()
        .check_onchain_tx(&tx, &[true], std::slice::from_ref(&prevout), &uck, &master)
        .map_err(|e| RecoveryError::PolicyRefused {
            what: what.to_string(),
            message: e.to_string(),
        })?;
    let witnesses = signer
        .node()
        .unchecked_sign_onchain_tx(&tx, &master, std::slice::from_ref(&prevout), uck)
        .map_err(|s| status_err(what, s))?;
    let stack = witnesses.into_iter().next().unwrap_or_default();
    Ok((with_witness(tx, stack), vec![prevout]))
}

/// Verifies every input's script against its prevout and checks the fee.
fn finish(
    action: &Action,
    tx: Transaction,
    prevouts: Vec<TxOut>,
    network: Network,
    what: &str,
) -> Result<Signed, RecoveryError> {
    verify_scripts(&tx, &prevouts, what)?;
    let value_in: u64 = prevouts.iter().map(|p| p.value.to_sat()).sum();
    let value_out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
    let fee = value_in
        .checked_sub(value_out)
        .ok_or_else(|| RecoveryError::Internal {
            reason: format!("{what}: outputs exceed inputs"),
        })?;
    let weight = tx.weight().to_wu().max(1);
    let fee_rate = fee * 1000 / weight;
    // A commitment's and its HTLC transactions' fees were agreed with the
    // peer; ours are held to policy.
    if !matches!(
        action.claim,
        Claim::ForceClose | Claim::HolderHtlc { fee_coin: None, .. }
    ) {
        let (min, max) = fee_rate_bounds(network);
        if fee_rate < u64::from(min) || fee_rate > u64::from(max) {
            return Err(RecoveryError::FeeBounds {
                what: what.to_string(),
                rate: fee_rate,
                min: u64::from(min),
                max: u64::from(max),
            });
        }
    }
    Ok(Signed {
        channel: action.channel.clone(),
        claim: action.claim.name().to_string(),
        txid: tx.compute_txid().to_string(),
        tx,
        prevouts,
        value_in_sat: value_in,
        fee_sat: fee,
        fee_rate,
    })
}

/// libbitcoinconsensus over every input of `tx`.
pub fn verify_scripts(
    tx: &Transaction,
    prevouts: &[TxOut],
    what: &str,
) -> Result<(), RecoveryError> {
    let bytes = lightning_signer::bitcoin::consensus::encode::serialize(tx);
    if prevouts.len() != tx.input.len() {
        return Err(RecoveryError::Internal {
            reason: format!(
                "{what}: {} prevouts for {} inputs",
                prevouts.len(),
                tx.input.len()
            ),
        });
    }
    for (i, prevout) in prevouts.iter().enumerate() {
        prevout
            .script_pubkey
            .verify(i, prevout.value, &bytes)
            .map_err(|e| RecoveryError::ScriptInvalid {
                what: what.to_string(),
                input: i,
                reason: format!("{e:?}"),
            })?;
    }
    Ok(())
}
