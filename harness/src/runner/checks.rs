//! The checks at the end of a run, on a settled chain: the figures are read
//! here (balances, the blocks since setup) and judged by the checker. A
//! figure that cannot be read makes its check "could not check", never a
//! failure of the thing it checks.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::accounting;
use crate::checker::{self, revocation_spend, ChannelEnd, Ledger, Penalty};
use crate::cluster::Cluster;
use crate::component::regtest_subsidy_sat;
use crate::error::{HarnessError, Result};
use crate::lightning;
use crate::node::Node;
use crate::report::event::RunEvent;
use crate::report::CheckResult;
use crate::scenario::Scenario;
use crate::wait::{self, NotYet};

use super::state::{LostWallets, World};
use super::{books, disaster};

/// Conservation (when the scenario asks for it) and penalties, the
/// figures conservation read (each party's total, for the report to pin),
/// and how long settling the chain took.
pub async fn final_checks(
    scenario: &Scenario,
    world: &World<'_>,
    chain_start: u64,
) -> (Vec<CheckResult>, Vec<String>, Duration) {
    let mut out = Vec::new();
    let mut figures = Vec::new();
    let mut settled = Duration::ZERO;
    let cluster = world.cluster;
    if cluster.bitcoind().is_err() || scenario.topology.nodes.is_empty() {
        return (out, figures, settled);
    }
    if scenario.expect.conservation {
        let conserved = conservation_figures(world, &mut settled).await;
        let read = conserved.is_ok();
        out.push(match conserved {
            Ok((ledger, closed)) => {
                figures = party_figures(&ledger);
                checker::conservation(&ledger, closed)
            }
            Err(e) => CheckResult::could_not_check("conservation", e.to_string()),
        });
        // Per party, on the same settled chain.
        if scenario.expect.parties && read {
            out.push(match books::read(world, chain_start).await {
                Ok(b) => {
                    let lines = accounting::lines(&b);
                    figures.extend(lines.iter().map(|l| l.figure()));
                    let check = checker::parties(&lines);
                    world
                        .events
                        .emit(RunEvent::Accounting(accounting::Accounting {
                            parties: lines,
                            recoveries: recoveries(world),
                        }));
                    check
                }
                Err(e) => CheckResult::could_not_check("parties", e.to_string()),
            });
        }
    }
    out.push(match penalties(cluster, chain_start).await {
        Ok(found) => checker::penalty(&found, scenario.expect.penalty),
        Err(e) => CheckResult::could_not_check("penalty", e.to_string()),
    });
    (out, figures, settled)
}

/// What each `recover_onchain` step brought home, for the report.
fn recoveries(world: &World<'_>) -> Vec<accounting::RecoveryOutcome> {
    world
        .state()
        .recoveries
        .iter()
        .map(|r| accounting::RecoveryOutcome {
            node: r.node.clone(),
            finished: r.finished,
            recovered_sat: r.summary.recovered_sat(),
            fees_sat: r.summary.channels.iter().map(|c| c.fees_sat).sum(),
            taken: r
                .summary
                .taken
                .iter()
                .map(|t| {
                    format!(
                        "{} {} sat at {} (spent by {})",
                        t.claim, t.value_sat, t.outpoint, t.txid
                    )
                })
                .collect(),
            shortfalls: r
                .summary
                .shortfalls
                .iter()
                .map(|s| {
                    format!(
                        "{}: {} {} sat: {}",
                        s.channel, s.what, s.value_sat, s.reason
                    )
                })
                .collect(),
            deadline_slack: r.deadline_slack,
        })
        .collect()
}

/// Each node's total and what open channels hold for neither side. The
/// miner's wallet is left out: how many blocks settling takes is not a
/// figure of the scenario.
fn party_figures(ledger: &Ledger) -> Vec<String> {
    let mut lines: Vec<String> = ledger
        .nodes
        .iter()
        .map(|(name, sat)| format!("{name}: {sat} sat (wallet, channels, claims)"))
        .collect();
    lines.push(format!(
        "open channels' commitment fees and anchors: {} sat",
        ledger.in_channel_fees
    ));
    lines
}

/// Settles the chain, then reads every balance and counts the channels the
/// run opened that are closed now.
async fn conservation_figures(world: &World<'_>, settled: &mut Duration) -> Result<(Ledger, u64)> {
    let cluster = world.cluster;
    let nodes = world.live_nodes();
    let t = std::time::Instant::now();
    let mined = lightning::mine_until_settled(cluster, &nodes, 400).await;
    *settled = t.elapsed();
    mined?;
    let (retired, lost) = {
        let st = world.state();
        (st.retired.clone(), st.lost_wallets.clone())
    };
    let ledger = agreed_ledger(cluster, &retired, &lost).await?;
    let opened = world.state().channels.len() as u64;
    let mut open = std::collections::BTreeSet::new();
    for n in &nodes {
        for c in n.channels().await? {
            open.insert(c.channel_id);
        }
    }
    Ok((ledger, opened.saturating_sub(open.len() as u64)))
}

/// What the chain holds unspent at `addresses` (confirmed), in sat.
async fn unspent_at(b: &crate::component::Bitcoind, addresses: &[String]) -> Result<u64> {
    if addresses.is_empty() {
        return Ok(0);
    }
    let descriptors: Vec<Value> = addresses
        .iter()
        .map(|a| Value::String(format!("addr({a})")))
        .collect();
    let found: Value = b
        .call(
            "scantxoutset",
            vec![json!("start"), Value::Array(descriptors)],
        )
        .await?;
    Ok(btc_to_sat(found.get("total_amount")))
}

/// A wallet's `getbalances`: mature, immature and unconfirmed, in sat.
fn wallet_sat(bal: &Value) -> u64 {
    btc_to_sat(bal.pointer("/mine/trusted"))
        + btc_to_sat(bal.pointer("/mine/untrusted_pending"))
        + btc_to_sat(bal.pointer("/mine/immature"))
}

fn btc_to_sat(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_f64)
        .map(|b| (b * 1e8).round() as u64)
        .unwrap_or(0)
}

/// How long the two ends of an open channel may take to finish the update
/// in flight when the checks begin (a payment step returns when the payer
/// learns the preimage, before the revocations that end it): a few signer
/// round trips, each slow under a delay fault.
const AGREE_WITHIN: Duration = Duration::from_secs(20);

/// The ledger once both ends of every open channel count the same total;
/// if they still do not after [`AGREE_WITHIN`], the last reading, whose
/// disagreements fail the conservation check by name.
async fn agreed_ledger(
    cluster: &Cluster,
    retired: &[String],
    lost: &LostWallets,
) -> Result<Ledger> {
    let last = std::sync::Mutex::new(None);
    let agreed = wait::until_or_never(
        "both ends of every open channel count the same total",
        AGREE_WITHIN,
        || async {
            // A node that cannot be read will not be readable by waiting.
            let read = ledger(cluster, retired, lost)
                .await
                .map_err(|e| NotYet::Never(e.to_string()))?;
            if read.disagreements.is_empty() {
                return Ok(read);
            }
            let why = read.disagreements.join("; ");
            if let Ok(mut slot) = last.lock() {
                *slot = Some(read);
            }
            Err(NotYet::Pending(why))
        },
    )
    .await;
    match (agreed, last.into_inner().ok().flatten()) {
        (Ok(ledger), _) => Ok(ledger),
        (Err(HarnessError::Timeout { .. }), Some(disagreeing)) => Ok(disagreeing),
        (Err(e), _) => Err(e),
    }
}

/// Reads every balance. Nodes must be up (the scenario ends healed),
/// except those a step destroyed: theirs is what their on-chain wallet
/// still holds (lnnode's bitcoind wallet; Core Lightning's coins at the
/// addresses it had). Funds recovery sent to a node's own wallet are its own.
pub async fn ledger(cluster: &Cluster, retired: &[String], lost: &LostWallets) -> Result<Ledger> {
    let b = cluster.bitcoind()?;
    let tip = b.height().await?;
    let minted = (1..=tip).map(regtest_subsidy_sat).sum();
    let bal: Value = b.call("getbalances", vec![]).await?;
    let miner_wallet = wallet_sat(&bal);
    let mut nodes = Vec::new();
    let mut ends: BTreeMap<String, Vec<ChannelEnd>> = BTreeMap::new();
    let loaded: Vec<String> = b.call("listwallets", vec![]).await?;
    for n in cluster.nodes() {
        let recovered_wallet = disaster::recovered_wallet(n.name());
        let recovered = if loaded.contains(&recovered_wallet) {
            let v: Value = b
                .wallet_call(&recovered_wallet, "getbalances", vec![])
                .await?;
            wallet_sat(&v)
        } else {
            0
        };
        if retired.iter().any(|r| r == n.name()) {
            let held = match lost.get(n.name()) {
                Some(addresses) => unspent_at(b, addresses).await?,
                None => {
                    let v: Value = b.wallet_call(n.name(), "getbalances", vec![]).await?;
                    wallet_sat(&v)
                }
            };
            nodes.push((n.name().to_string(), held + recovered));
            continue;
        }
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
                + bal.channels_local_msat / 1000
                + recovered,
        ));
        for c in n.channels().await? {
            ends.entry(c.channel_id).or_default().push(ChannelEnd {
                node: n.name().to_string(),
                capacity_sat: c.capacity_sat,
                local_sat: c.local_balance_msat / 1000,
            });
        }
    }
    let in_channel_fees = ends
        .values()
        .map(|e| {
            let held: u64 = e.iter().map(|end| end.local_sat).sum();
            e.first()
                .map_or(0, |end| end.capacity_sat.saturating_sub(held))
        })
        .sum();
    Ok(Ledger {
        minted,
        miner_wallet,
        nodes,
        in_channel_fees,
        disagreements: checker::channel_disagreements(&ends),
    })
}

/// Every revocation spend in blocks `from..=tip`.
pub async fn penalties(cluster: &Cluster, from: u64) -> Result<Vec<Penalty>> {
    let b = cluster.bitcoind()?;
    let mut found = Vec::new();
    for (h, block) in b.blocks(from, 2).await? {
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
