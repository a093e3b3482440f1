//! Reads what per-party accounting judges: the blocks since setup (with
//! the value of every input), the nodes' wallet addresses, the payments
//! that succeeded, and the run's channels with their funding outpoints.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::accounting::{Books, ChainTx, ChannelBook, Transfer, TxIn, TxOut};
use crate::checker::revocation_spend;
use crate::error::{HarnessError, Result};
use crate::node::{Node, PaymentStatus};
use lnnode_api::Direction;

use super::state::World;

pub async fn read(world: &World<'_>, from: u64) -> Result<Books> {
    let cluster = world.cluster;
    let b = cluster.bitcoind()?;
    // Verbosity 3: every input with the output it spends.
    let blocks = b.blocks(from, 3).await?;
    let txs: Vec<ChainTx> = blocks
        .iter()
        .flat_map(|(_, blk)| array(blk, "tx"))
        .filter_map(chain_tx)
        .collect();

    let mut owners = BTreeMap::new();
    let mut transfers = BTreeMap::<String, Transfer>::new();
    let mut channels_open = BTreeMap::<String, BTreeMap<String, u64>>::new();
    let loaded: Vec<String> = b.call("listwallets", vec![]).await?;
    let live: Vec<String> = world
        .live_nodes()
        .iter()
        .map(|n| n.name().to_string())
        .collect();
    for n in cluster.nodes() {
        // Core Lightning keeps its own wallet (keys from its signer); lnnode's is a bitcoind wallet.
        if let crate::component::AnyNode::Cln(c) = n {
            let addresses = if live.iter().any(|l| l == n.name()) {
                c.wallet_addresses().await?
            } else {
                // Read before its disk went (`destroy`).
                world
                    .state()
                    .lost_wallets
                    .get(n.name())
                    .cloned()
                    .unwrap_or_default()
            };
            for addr in addresses {
                owners.insert(addr, n.name().to_string());
            }
        }
        let recovered = super::disaster::recovered_wallet(n.name());
        for wallet in [n.name().to_string(), recovered] {
            if !loaded.contains(&wallet) {
                continue;
            }
            let listed: Value = b
                .wallet_call(
                    &wallet,
                    "listreceivedbyaddress",
                    vec![json!(0), json!(true)],
                )
                .await?;
            for a in listed.as_array().into_iter().flatten() {
                if let Some(addr) = a.get("address").and_then(Value::as_str) {
                    owners.insert(addr.to_string(), n.name().to_string());
                }
            }
        }
        // A destroyed node's payments and channels are gone with its disk:
        // its peer's records say what it sent and received.
        if !live.iter().any(|l| l == n.name()) {
            continue;
        }
        for p in n.payments().await? {
            if p.status != PaymentStatus::Succeeded {
                continue;
            }
            let amount = p.amount_msat.unwrap_or(0);
            let t = transfers
                .entry(p.payment_hash.clone())
                .or_insert_with(|| Transfer {
                    from: String::new(),
                    to: String::new(),
                    sent_msat: 0,
                    received_msat: 0,
                });
            match p.direction {
                Direction::Outbound => {
                    t.from = n.name().to_string();
                    t.sent_msat = amount + p.fee_msat.unwrap_or(0);
                }
                Direction::Inbound => {
                    t.to = n.name().to_string();
                    t.received_msat = amount;
                }
            }
        }
        for c in n.channels().await? {
            channels_open
                .entry(c.channel_id)
                .or_default()
                .insert(n.name().to_string(), c.local_balance_msat);
        }
    }
    let state = world.state();
    for (signer, address) in &state.recovery_addresses {
        owners.insert(address.clone(), signer.clone());
    }
    let mut channels = Vec::new();
    for (name, opened) in &state.channels {
        let Some((funding, capacity_sat)) = funding_of(&opened.id, &txs) else {
            return Err(HarnessError::component(
                "runner",
                format!(
                    "per-party accounting: no transaction since setup funds channel {name} ({})",
                    opened.id
                ),
            ));
        };
        channels.push(ChannelBook {
            name: name.clone(),
            opener: opened.opener.clone(),
            peer: opened.peer.clone(),
            funding,
            capacity_sat,
            open: channels_open
                .get(&opened.id)
                .filter(|ends| ends.len() == 2)
                .cloned(),
        });
    }
    Ok(Books {
        txs,
        channels,
        // A payment one end no longer lists (its node lost its state) is
        // counted from the end that does.
        transfers: transfers
            .into_values()
            .filter_map(|t| complete(t, &state.channels))
            .collect(),
        owners,
    })
}

/// A payment as both ends saw it; when one end's record is gone (its disk
/// was destroyed), the other end's, over its only channel peer.
fn complete(
    mut t: Transfer,
    channels: &std::collections::HashMap<String, super::state::Opened>,
) -> Option<Transfer> {
    let peers_of = |n: &str| -> Vec<String> {
        let mut p: Vec<String> = channels
            .values()
            .filter_map(|o| {
                if o.opener == n {
                    Some(o.peer.clone())
                } else if o.peer == n {
                    Some(o.opener.clone())
                } else {
                    None
                }
            })
            .collect();
        p.sort();
        p.dedup();
        p
    };
    match (t.from.is_empty(), t.to.is_empty()) {
        (false, false) => Some(t),
        (false, true) => {
            let [peer] = peers_of(&t.from).try_into().ok()?;
            t.to = peer;
            // Over one channel the payee gets what the payer sent.
            t.received_msat = t.sent_msat;
            Some(t)
        }
        (true, false) => {
            let [peer] = peers_of(&t.to).try_into().ok()?;
            t.from = peer;
            t.sent_msat = t.received_msat;
            Some(t)
        }
        (true, true) => None,
    }
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn sat(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_f64)
        .map(|b| (b * 1e8).round() as u64)
        .unwrap_or(0)
}

/// A transaction of a verbosity-3 block; `None` for the coinbase.
fn chain_tx(tx: &Value) -> Option<ChainTx> {
    let mut inputs = Vec::new();
    for vin in array(tx, "vin") {
        let prev_txid = vin.get("txid").and_then(Value::as_str)?;
        let vout = vin.get("vout").and_then(Value::as_u64)? as u32;
        let witness: Vec<String> = array(vin, "txinwitness")
            .filter_map(|w| w.as_str().map(String::from))
            .collect();
        inputs.push(TxIn {
            prevout: (prev_txid.to_string(), vout),
            value_sat: sat(vin.pointer("/prevout/value")),
            revocation: revocation_spend(&witness).is_some(),
        });
    }
    let outputs = array(tx, "vout")
        .map(|o| TxOut {
            value_sat: sat(o.get("value")),
            address: o
                .pointer("/scriptPubKey/address")
                .and_then(Value::as_str)
                .map(String::from),
        })
        .collect();
    Some(ChainTx {
        txid: tx.get("txid").and_then(Value::as_str)?.to_string(),
        inputs,
        outputs,
    })
}

/// The funding outpoint of a v1 channel id (the funding txid with the
/// output index XORed into its last two bytes, in the txid's internal
/// byte order) among `txs`, and its value.
fn funding_of(channel_id: &str, txs: &[ChainTx]) -> Option<((String, u32), u64)> {
    let id = hex::decode(channel_id).ok()?;
    if id.len() != 32 {
        return None;
    }
    for t in txs {
        for (vout, o) in t.outputs.iter().enumerate() {
            let mut internal = hex::decode(&t.txid).ok()?;
            internal.reverse();
            internal[30] ^= (vout >> 8) as u8;
            internal[31] ^= (vout & 0xff) as u8;
            if internal == id {
                return Some(((t.txid.clone(), vout as u32), o.value_sat));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_channel_id_names_its_funding_outpoint() {
        let txid = "00".repeat(31) + "ab";
        let tx = ChainTx {
            txid: txid.clone(),
            inputs: Vec::new(),
            outputs: vec![
                TxOut {
                    value_sat: 1,
                    address: None,
                },
                TxOut {
                    value_sat: 1_000_000,
                    address: None,
                },
            ],
        };
        // Internal order reverses the display hex: 0xab comes first; vout 1
        // is XORed into the last byte.
        let id = "ab".to_string() + &"00".repeat(30) + "01";
        assert_eq!(
            funding_of(&id, std::slice::from_ref(&tx)),
            Some(((txid, 1), 1_000_000))
        );
        assert_eq!(funding_of(&"00".repeat(32), &[tx]), None);
    }
}
