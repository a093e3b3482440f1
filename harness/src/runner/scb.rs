//! Core Lightning's own way home for a node whose disk is lost and whose
//! signer is not: a static channel backup, made by the recovery library
//! from the operator's backup of vlsd, fed to lightningd started again on
//! a new database and that vlsd (`recoverchannel`); its peers, told it
//! lost its state, close the channels, and lightningd's onchaind brings
//! its outputs into the wallet.
//! `withdraw` then spends that wallet through the signer.

use std::collections::BTreeSet;

use serde_json::json;
use vls_recovery::scb::{self, PeerAddr, ShachainForm, WireAddr};

use super::disaster::{open_backup, recovered_wallet, recovery_address};
use super::state::World;
use crate::component::ClnNode;
use crate::component::LN_P2P_PORT as P2P_PORT;
use crate::error::{HarnessError, Result};
use crate::node::Node;
use crate::scenario::{RecoverChannelsSpec, ScbShachain};

/// Where the fresh lightningd starts reading the chain: its first block,
/// as an operator who does not know when the node was born would ask.
const RESCAN_FROM: u64 = 1;

pub async fn recover_channels(world: &World<'_>, r: &RecoverChannelsSpec) -> Result<String> {
    let (owner, _, contents) = open_backup(world, &r.from)?;
    if owner != r.node {
        return Err(HarnessError::component(
            "runner",
            format!(
                "recover_channels: backup `{}` is vlsd-{owner}'s, not vlsd-{}'s",
                r.from, r.node
            ),
        ));
    }
    let form = match r.shachain {
        ScbShachain::Recoverable => ShachainForm::Recoverable,
        ScbShachain::AsStaticbackup => ShachainForm::AsStaticbackup,
    };
    let export = scb::export(&contents.snapshot, &peer_addrs(world, &r.node).await?, form);
    let left_out: Vec<String> = export
        .channels
        .iter()
        .filter(|c| !c.exported)
        .map(|c| {
            format!(
                "{}: {}",
                c.label,
                c.reason.as_deref().unwrap_or("no reason")
            )
        })
        .collect();
    if !left_out.is_empty() || export.scb.is_empty() {
        return Err(HarnessError::Assertion(format!(
            "recover_channels: the backup `{}` of {} exports {} channels; left out: [{}]",
            r.from,
            r.node,
            export.scb.len(),
            left_out.join("; ")
        )));
    }
    let exported: BTreeSet<String> = export
        .channels
        .iter()
        .filter_map(|c| c.channel_id.clone())
        .collect();

    let node = world.cluster.node(&r.node)?.cln("recover_channels")?;
    let c = node.container();
    if c.status().await?.running {
        return Err(HarnessError::Assertion(format!(
            "recover_channels: {} is running; expected it down with its database lost (`destroy`, or a kill and the file deleted)",
            r.node
        )));
    }
    let db = ClnNode::database_path();
    if c.file_exists(&db).await? {
        return Err(HarnessError::Assertion(format!(
            "recover_channels: {}'s database {db} is still there; `recoverchannel` is for a node that lost it",
            r.node
        )));
    }
    node.rescan_on_next_start(RESCAN_FROM).await?;
    // A kill that keeps the node down is healed by starting it; a
    // destroyed node has no fault in force and is started here.
    let mut injector = world.injector.lock().await;
    if injector.kept_down().contains(&r.node.as_str()) {
        injector.heal(world.cluster, &r.node).await?;
    } else {
        c.start().await?;
    }
    drop(injector);
    node.wait_ready().await?;
    world.state().retired.retain(|c| *c != r.node);
    let stubs: BTreeSet<String> = node
        .recover_channels(&export.scb)
        .await?
        .into_iter()
        .collect();
    if stubs != exported {
        return Err(HarnessError::Assertion(format!(
            "recover_channels: {} made stubs of [{}], expected the exported [{}]",
            r.node,
            join(&stubs),
            join(&exported)
        )));
    }
    // lightningd dials each peer at the address the backup gives and
    // tells it the channel is lost (a peer already connected learns it
    // from its own reestablish): the peer then force-closes, which the
    // scenario waits for. Dialling here too would race lightningd's own
    // connection, which it drops once it has sent its error.
    Ok(format!(
        "lightningd on a new database (chain rescanned from block {RESCAN_FROM}), {} stubs from backup `{}`: {}",
        stubs.len(),
        r.from,
        join(&stubs)
    ))
}

/// Every other live node's id and address on the run network: where the
/// backup says each peer is.
async fn peer_addrs(world: &World<'_>, node: &str) -> Result<Vec<PeerAddr>> {
    let mut out = Vec::new();
    for n in world.live_nodes() {
        if n.name() == node {
            continue;
        }
        let ip = world.cluster.container(n.name())?.ip_address().await?;
        let ip = ip.parse().map_err(|e| {
            HarnessError::component(n.name(), format!("container address `{ip}`: {e}"))
        })?;
        out.push(PeerAddr {
            peer_id: n.info().await?.node_id,
            addr: WireAddr::Ipv4(ip, P2P_PORT),
        });
    }
    Ok(out)
}

fn join(ids: &BTreeSet<String>) -> String {
    ids.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Spends the node's whole on-chain wallet, through its signer, to a new
/// address of a wallet of its own in bitcoind (allowlisted in its vlsd
/// first), and waits for it to confirm.
pub async fn withdraw(world: &World<'_>, name: &str) -> Result<String> {
    let node = world.cluster.node(name)?.cln("withdraw")?;
    let address = recovery_address(world, name).await?;
    // As the operator does before sending funds out: vlsd signs only for
    // the wallet's own addresses and those on its allowlist.
    if let Ok(signer) = world.cluster.signer(name) {
        signer.allowlist_add(&address).await?;
    }
    let txid = node.withdraw_all(&address).await?;
    let nodes = world.live_nodes();
    crate::lightning::mine_beside(world.cluster, &nodes, 1).await?;
    let b = world.cluster.bitcoind()?;
    let tx: serde_json::Value = b
        .wallet_call(&recovered_wallet(name), "gettransaction", vec![json!(txid)])
        .await?;
    let confirmations = tx
        .get("confirmations")
        .and_then(|c| c.as_i64())
        .unwrap_or(0);
    if confirmations < 1 {
        return Err(HarnessError::Assertion(format!(
            "withdraw: {name}'s transaction {txid} is not in a block after one was mined; the receiving wallet's view: {tx}"
        )));
    }
    let amount = tx.get("amount").and_then(|a| a.as_f64()).unwrap_or(0.0);
    Ok(format!(
        "{txid} to {address}: {} sat",
        (amount * 1e8).round() as u64
    ))
}
