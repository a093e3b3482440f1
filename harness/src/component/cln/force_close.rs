//! A unilateral close on demand. Core Lightning, run as operators run it
//! (no `--developer`), has no command that drops a channel to chain at
//! once: `close` with `unilateraltimeout` first offers the peer a mutual
//! close and forces only if the peer has not finished it in time, and a
//! live peer usually finishes. So the node does what an operator facing an
//! unresponsive peer sees: the peer is cut off (iptables in lightningd's
//! own namespace, this peer's address only), the connection dropped, and
//! `close` times out into the unilateral close. The cut is lifted whatever
//! happened, and the peer reconnects as after any outage.

use std::time::Duration;

use serde_json::{json, Value};

use super::observe::str_of;
use super::ClnNode;
use crate::error::{HarnessError, Result};
use crate::node::Node;

/// How long `close` waits for the peer before it forces; the peer cannot
/// answer, so any wait is spent for nothing.
const UNILATERAL_AFTER_SECS: u64 = 1;
/// How long the forced close may take to answer: lightningd asks its
/// signer for the commitment and broadcasts it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(120);
/// Marks the rules in `iptables -S` of a kept run.
const COMMENT: &str = "vls-chaos force-close";

pub(super) async fn force_close(node: &ClnNode, channel_id: &str, peer_id: &str) -> Result<()> {
    let peers = node.call("listpeers", json!({ "id": peer_id })).await?;
    let peer = peers
        .get("peers")
        .and_then(Value::as_array)
        .and_then(|p| p.first())
        .cloned()
        .unwrap_or(Value::Null);
    let connected = peer.get("connected").and_then(Value::as_bool) == Some(true);
    let rules = match peer_host(&peer) {
        Some(host) => cut_off_rules(&host),
        None => Vec::new(),
    };
    let container = node.container();
    for r in &rules {
        container.iptables("-I", r).await?;
    }
    let closed = close_unilaterally(node, channel_id, peer_id, connected).await;
    let mut lifted = Ok(());
    for r in &rules {
        if let Err(e) = container.iptables("-D", r).await {
            lifted = Err(e);
        }
    }
    closed.and(lifted)
}

async fn close_unilaterally(
    node: &ClnNode,
    channel_id: &str,
    peer_id: &str,
    connected: bool,
) -> Result<()> {
    if connected {
        node.call("disconnect", json!({ "id": peer_id, "force": true }))
            .await?;
    }
    let answer = node
        .inner
        .rpc
        .call_within(
            "close",
            json!({ "id": channel_id, "unilateraltimeout": UNILATERAL_AFTER_SECS }),
            CLOSE_TIMEOUT,
        )
        .await?;
    match str_of(&answer, "type") {
        "unilateral" => Ok(()),
        other => Err(HarnessError::NodeApi {
            node: node.name().to_string(),
            path: "close".to_string(),
            status: 0,
            code: "not_unilateral".to_string(),
            message: format!(
                "asked to force-close {channel_id}, lightningd closed it as `{other}`: {answer}"
            ),
        }),
    }
}

/// The host part of the peer's connected address (`netaddr`), as
/// lightningd reports it: `1.2.3.4:port`, or a name on the run network.
fn peer_host(peer: &Value) -> Option<String> {
    let addr = peer.get("netaddr")?.as_array()?.first()?.as_str()?;
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| host.to_string())
}

fn cut_off_rules(host: &str) -> Vec<Vec<String>> {
    [("INPUT", "-s"), ("OUTPUT", "-d")]
        .iter()
        .map(|(chain, addr)| {
            [
                chain,
                addr,
                host,
                "-m",
                "comment",
                "--comment",
                COMMENT,
                "-j",
                "DROP",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_host_is_the_address_without_its_port() {
        let peer = json!({ "netaddr": ["172.18.0.4:41312"] });
        assert_eq!(peer_host(&peer).as_deref(), Some("172.18.0.4"));
        let peer = json!({ "netaddr": ["[fd00::4]:9735"] });
        assert_eq!(peer_host(&peer).as_deref(), Some("fd00::4"));
        assert_eq!(peer_host(&json!({})), None);
        assert_eq!(peer_host(&json!({ "netaddr": [] })), None);
    }

    #[test]
    fn the_cut_drops_both_directions_of_that_host_only() {
        let rules = cut_off_rules("172.18.0.4");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0][..3], ["INPUT", "-s", "172.18.0.4"]);
        assert_eq!(rules[1][..3], ["OUTPUT", "-d", "172.18.0.4"]);
        assert!(rules
            .iter()
            .all(|r| r.ends_with(&["-j".into(), "DROP".into()])));
    }
}
