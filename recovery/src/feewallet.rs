//! The fee wallet: coins at one address of the node's own on-chain wallet
//! (vls-core derives it from the seed), kept for fees no channel output can
//! pay. An anchor channel's second-stage HTLC transactions on our commitment
//! were signed by the peer at a zero fee with SIGHASH_SINGLE|ANYONECANPAY:
//! they confirm only with an input of ours added to pay for them. The
//! operator sends a little to `vls-recover fee-address`; each such
//! transaction then spends one coin of it and returns the change there.

use std::collections::BTreeMap;

use lightning_signer::bitcoin::bip32::{ChildNumber, DerivationPath};
use lightning_signer::bitcoin::{OutPoint, ScriptBuf};
use lightning_signer::wallet::Wallet;
use serde::Serialize;

use crate::chain::ChainView;
use crate::offline::{status_err, OfflineSigner};
use crate::RecoveryError;

/// The wallet child index of the fee address: far above any index a
/// node's own wallet reaches by counting up, so its coins are never mixed
/// with the node's.
pub const FEE_CHILD_INDEX: u32 = 2_000_000_000;

/// A coin of the fee wallet, unspent in the scanned blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeeCoin {
    pub outpoint: OutPoint,
    pub value_sat: u64,
}

/// The fee address and its coins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeeWallet {
    pub address: String,
    #[serde(skip)]
    pub script: ScriptBuf,
    #[serde(skip)]
    pub path: DerivationPath,
    /// Free coins, largest first.
    pub coins: Vec<FeeCoin>,
    /// Coins an unconfirmed transaction of ours already spends, by the
    /// output that transaction claims.
    pub in_use: BTreeMap<OutPoint, FeeCoin>,
    /// The address held any coin when the plan was made (a claim without
    /// one waits for the change of another).
    #[serde(skip)]
    pub funded: bool,
}

impl FeeWallet {
    /// The fee address of `signer`'s node (no coins yet).
    pub fn of(signer: &OfflineSigner) -> Result<FeeWallet, RecoveryError> {
        let child = ChildNumber::Normal {
            index: FEE_CHILD_INDEX,
        };
        // Native (Core Lightning) wallets take one child number, lnd's two
        // (branch, index); LDK's any.
        let paths = [
            DerivationPath::from(vec![child]),
            DerivationPath::from(vec![ChildNumber::Normal { index: 0 }, child]),
        ];
        let mut last = None;
        for path in paths {
            match signer.node().get_native_address(&path) {
                Ok(address) => {
                    return Ok(FeeWallet {
                        address: address.to_string(),
                        script: address.script_pubkey(),
                        path,
                        coins: Vec::new(),
                        in_use: BTreeMap::new(),
                        funded: false,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(s) => status_err("fee address", s),
            None => RecoveryError::Internal {
                reason: "fee address: no derivation path tried".into(),
            },
        })
    }

    /// With the coins `view` shows unspent at the address; `in_use` maps
    /// a claimed output to the coin an unconfirmed claim of it spends.
    pub fn with_coins(
        mut self,
        view: &ChainView,
        in_use: &BTreeMap<OutPoint, OutPoint>,
    ) -> FeeWallet {
        let all: Vec<FeeCoin> = view
            .unspent_paying(&self.script)
            .into_iter()
            .map(|(outpoint, value_sat)| FeeCoin {
                outpoint,
                value_sat,
            })
            .collect();
        self.funded = !all.is_empty();
        self.in_use = in_use
            .iter()
            .filter_map(|(claimed, coin)| {
                all.iter()
                    .find(|c| c.outpoint == *coin)
                    .map(|c| (*claimed, c.clone()))
            })
            .collect();
        self.coins = all
            .into_iter()
            .filter(|c| !in_use.values().any(|u| *u == c.outpoint))
            .collect();
        self.coins.sort_by(|a, b| {
            b.value_sat
                .cmp(&a.value_sat)
                .then(a.outpoint.cmp(&b.outpoint))
        });
        self
    }
}
