//! Signed transactions for a plan's ready actions, made by the offline
//! signer (vls-core's own signing calls and policy), each script-verified
//! against its prevout by libbitcoinconsensus and fee-checked before it may
//! leave this module.
//!
//! One module per kind of claim (`commitment`, `balance`, `holder_htlc`,
//! `their_htlc`, `justice`); `spend` builds the one-output sweeps they share
//! and `signed` checks what they give back.

mod balance;
mod commitment;
mod fee;
mod holder_htlc;
mod justice;
mod signed;
mod spend;
mod their_htlc;

use lightning_signer::bitcoin::{ScriptBuf, Transaction, TxOut};
use lightning_signer::channel::Channel;

pub(crate) use commitment::sign_latest_holder_commitment;
pub use fee::{choose_fee_rate, fee_rate_bounds, FEE_RATE_FLOOR};
pub(crate) use holder_htlc::{holder_htlc, FeeInput};
pub use signed::{verify_scripts, Signed, Unsigned};

use crate::feewallet::FeeWallet;
use crate::offline::OfflineSigner;
use crate::plan::{Action, Claim, Plan, Status};
use crate::preimage::Preimages;
use crate::{Network, RecoveryError};
use spend::Sweep;

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
    let sweep = Sweep {
        action,
        destination,
        fee_rate,
        what: &what,
    };
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
        Claim::ToRemote { anchors } => balance::to_remote(signer, &id, *anchors, &sweep)?,
        claim => signer.with_channel(&id, |c| {
            sign_in_channel(c, claim, tip, preimages, fee_wallet.as_ref(), &sweep)
        })?,
    };
    if let Some(wallet) = &fee_wallet {
        holder_htlc::sign_fee_input(signer, wallet, &mut tx, &prevouts, &what)?;
    }
    signed::finish(action, tx, prevouts, network, &what)
}

/// Every claim but `to_remote` is signed by the channel itself, under its
/// lock.
fn sign_in_channel(
    c: &mut Channel,
    claim: &Claim,
    tip: u32,
    preimages: &Preimages,
    fee_wallet: Option<&FeeWallet>,
    sweep: &Sweep,
) -> Result<(Transaction, Vec<TxOut>), RecoveryError> {
    let what = sweep.what;
    match claim {
        Claim::ForceClose => commitment::force_close(c, tip, what),
        Claim::ToLocal {
            number,
            witness_script,
            csv,
        } => balance::to_local(c, *number, witness_script, *csv, sweep),
        Claim::JusticeToLocal {
            number,
            witness_script,
        }
        | Claim::JusticeHtlc {
            number,
            witness_script,
        } => justice::justice(c, *number, witness_script, sweep),
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
            let fee = fee_coin
                .as_ref()
                .zip(fee_wallet)
                .map(|(coin, wallet)| FeeInput {
                    coin,
                    wallet,
                    fee_rate: sweep.fee_rate,
                });
            holder_htlc(c, *number, *htlc_index, preimages, fee, what)
        }
        Claim::TheirHtlcPreimage {
            number,
            witness_script,
            payment_hash,
        } => their_htlc::preimage(c, *number, witness_script, payment_hash, preimages, sweep),
        Claim::TheirHtlcTimeout {
            number,
            witness_script,
            cltv_expiry,
        } => their_htlc::timeout(c, *number, witness_script, *cltv_expiry, sweep),
        Claim::ToRemote { .. } => Err(RecoveryError::Internal {
            reason: format!("{what}: to_remote is signed without the channel lock"),
        }),
    }
}
