//! Checks that run after every scenario, apart from the workload and the
//! faults (as Jepsen keeps its checker apart): funds are conserved, and no
//! penalty transaction took anyone's funds unless the scenario says so.

use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::component::regtest_subsidy_sat;
use crate::error::{HarnessError, Result};
use crate::node::Node;
use crate::report::CheckResult;

/// Slack for msat rounding and dust, in sat.
pub const ROUNDING_SAT: u64 = 2_000;
/// Anchor outputs of a closed channel that nobody need ever spend.
pub const ANCHORS_SAT: u64 = 660;

/// The money the run can see, in sat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Σ subsidies of blocks 1..=tip: all coins that exist (fees return to
    /// the miner, which is bitcoind's wallet).
    pub minted: u64,
    /// bitcoind's own wallet, mature, immature and unconfirmed.
    pub miner_wallet: u64,
    /// Nodes' wallets, channel balances, claimable and sweeping outputs.
    pub nodes: Vec<(String, u64)>,
    /// Channel capacity held by neither side (commitment fee, anchors), over open channels.
    pub in_channel_fees: u64,
}

impl Ledger {
    pub fn observed(&self) -> u64 {
        self.miner_wallet + self.nodes.iter().map(|(_, v)| v).sum::<u64>() + self.in_channel_fees
    }

    /// Passes when what is seen is what was minted, short by at most
    /// `bound` (anchors of closed channels, rounding) and never above it.
    pub fn check(&self, bound: u64) -> CheckResult {
        let observed = self.observed();
        let missing = self.minted as i128 - observed as i128;
        let ok = missing >= 0 && missing <= bound as i128;
        CheckResult {
            name: "conservation".to_string(),
            ok,
            detail: format!(
                "minted {} sat; seen {} sat (miner {}, {}, in-channel fees {}); missing {} sat, bound {} sat",
                self.minted,
                observed,
                self.miner_wallet,
                self.nodes
                    .iter()
                    .map(|(n, v)| format!("{n} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.in_channel_fees,
                missing,
                bound
            ),
        }
    }
}

fn btc_to_sat(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_f64)
        .map(|b| (b * 1e8).round() as u64)
        .unwrap_or(0)
}

/// Reads every balance. Nodes must be up (the scenario ends healed).
pub async fn ledger(cluster: &Cluster) -> Result<Ledger> {
    let b = cluster.bitcoind()?;
    let tip = b.height().await?;
    let minted = (1..=tip).map(regtest_subsidy_sat).sum();
    let bal: Value = b.call("getbalances", vec![]).await?;
    let miner_wallet = btc_to_sat(bal.pointer("/mine/trusted"))
        + btc_to_sat(bal.pointer("/mine/untrusted_pending"))
        + btc_to_sat(bal.pointer("/mine/immature"));
    let mut nodes = Vec::new();
    let mut capacity: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for n in cluster.nodes() {
        let bal = n.balance().await.map_err(|e| {
            HarnessError::component(
                n.name(),
                format!("conservation check needs every node up and answering: {e}"),
            )
        })?;
        nodes.push((
            n.name().to_string(),
            bal.wallet_trusted_sat
                + bal.wallet_pending_sat
                + bal.claimable_onchain_sat
                + bal.sweeping_sat
                + bal.channels_local_msat / 1000,
        ));
        for c in n.channels().await? {
            let e = capacity
                .entry(c.channel_id.clone())
                .or_insert((c.capacity_sat, 0));
            e.1 += c.local_balance_msat / 1000;
        }
    }
    let in_channel_fees = capacity
        .values()
        .map(|(cap, held)| cap.saturating_sub(*held))
        .sum();
    Ok(Ledger {
        minted,
        miner_wallet,
        nodes,
        in_channel_fees,
    })
}

/// A spend through a revocation path: someone broadcast a revoked
/// commitment and the other side took the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Penalty {
    pub txid: String,
    pub height: u64,
    pub input: usize,
    /// `to_local` or `htlc`.
    pub output: &'static str,
}

/// Classifies one input's witness (hex items): a revocation spend of a
/// BOLT 3 `to_local` output is `<sig> 01 <script>` with the script
/// `OP_IF <revocationpubkey> OP_ELSE <delay> OP_CSV OP_DROP <key> OP_ENDIF OP_CHECKSIG`;
/// of an HTLC output it is `<sig> <revocationpubkey> <script>` with the
/// script starting `OP_DUP OP_HASH160 <20 bytes>`.
pub fn revocation_spend(witness: &[String]) -> Option<&'static str> {
    if witness.len() != 3 {
        return None;
    }
    let script = witness[2].to_ascii_lowercase();
    if witness[1] == "01"
        && script.starts_with("6321")
        && script.ends_with("68ac")
        && script.contains("b275")
    {
        return Some("to_local");
    }
    if witness[1].len() == 66 && script.starts_with("76a914") {
        return Some("htlc");
    }
    None
}

/// Every revocation spend in blocks `from..=tip`.
pub async fn penalties(cluster: &Cluster, from: u64) -> Result<Vec<Penalty>> {
    let b = cluster.bitcoind()?;
    let tip = b.height().await?;
    let mut found = Vec::new();
    for h in from.max(1)..=tip {
        let hash: String = b.call("getblockhash", vec![json!(h)]).await?;
        let block: Value = b.call("getblock", vec![json!(hash), json!(2)]).await?;
        for tx in block
            .get("tx")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let txid = tx.get("txid").and_then(Value::as_str).unwrap_or_default();
            for (i, vin) in tx
                .get("vin")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let witness: Vec<String> = vin
                    .get("txinwitness")
                    .and_then(Value::as_array)
                    .map(|w| {
                        w.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(output) = revocation_spend(&witness) {
                    found.push(Penalty {
                        txid: txid.to_string(),
                        height: h,
                        input: i,
                        output,
                    });
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_witnesses_are_recognised() {
        let key = "02".to_string() + &"11".repeat(32);
        let to_local = format!("6321{key}6702900 1b27521{key}68ac").replace(' ', "");
        assert_eq!(
            revocation_spend(&["30".into(), "01".into(), to_local.clone()]),
            Some("to_local")
        );
        // The delayed (honest) path pushes an empty item instead of 01.
        assert_eq!(revocation_spend(&["30".into(), "".into(), to_local]), None);
        let htlc = format!("76a914{}8763ac67", "22".repeat(20));
        assert_eq!(
            revocation_spend(&["30".into(), key.clone(), htlc.clone()]),
            Some("htlc")
        );
        // An HTLC success spend has five items.
        assert_eq!(
            revocation_spend(&["".into(), "30".into(), "30".into(), "aa".into(), htlc]),
            None
        );
    }

    #[test]
    fn ledger_bounds_are_one_sided() {
        let l = Ledger {
            minted: 1_000,
            miner_wallet: 500,
            nodes: vec![("a".into(), 300)],
            in_channel_fees: 100,
        };
        assert!(!l.check(50).ok, "100 missing > 50");
        assert!(l.check(100).ok);
        let over = Ledger {
            miner_wallet: 700,
            ..l
        };
        assert!(!over.check(1_000).ok, "more than minted is a failure");
    }
}
