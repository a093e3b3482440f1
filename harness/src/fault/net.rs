//! Network faults as iptables rules in the target's own network namespace
//! (every component runs with NET_ADMIN). Each rule carries a comment so
//! a person reading `iptables -S` in a kept run sees where it came from.

use crate::cluster::Cluster;
use crate::container::Container;
use crate::error::Result;

use super::kinds::LinkDirection;

const COMMENT: &str = "vls-chaos";

/// Drops traffic between `target` and `peer`; returns the rules added.
pub(super) async fn partition(
    cluster: &Cluster,
    target: &str,
    peer: &str,
    direction: LinkDirection,
) -> Result<Vec<Vec<String>>> {
    let container = cluster.container(target)?;
    let peer_ip = cluster.container(peer)?.ip_address().await?;
    let mut rules = Vec::new();
    if matches!(direction, LinkDirection::Both | LinkDirection::Inbound) {
        rules.push(rule(&["INPUT", "-s", &peer_ip, "-j", "DROP"]));
    }
    if matches!(direction, LinkDirection::Both | LinkDirection::Outbound) {
        rules.push(rule(&["OUTPUT", "-d", &peer_ip, "-j", "DROP"]));
    }
    add_rules(container, &rules).await?;
    Ok(rules)
}

/// Resets the target's connections to `peer` at their next write: every
/// segment carrying data (PSH set; handshakes and bare ACKs carry none)
/// that the target sends to the peer is rejected with a TCP reset, which
/// its own kernel delivers to the sending socket.
pub(super) async fn reset(cluster: &Cluster, target: &str, peer: &str) -> Result<Vec<Vec<String>>> {
    let container = cluster.container(target)?;
    let peer_ip = cluster.container(peer)?.ip_address().await?;
    let rules = vec![rule(&[
        "OUTPUT",
        "-d",
        &peer_ip,
        "-p",
        "tcp",
        "--tcp-flags",
        "PSH",
        "PSH",
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ])];
    add_rules(container, &rules).await?;
    Ok(rules)
}

/// Drops every `every`-th packet, from packet `phase` on (the seed's
/// choice), in each direction between the target and
/// the other components. Loopback and the gateway (the harness's own
/// requests) are left alone: the fault is on the
/// links a scenario is about, not on the test's control channel.
pub(super) async fn packet_loss(
    container: &Container,
    every: u32,
    phase: u32,
) -> Result<Vec<Vec<String>>> {
    let gateway = container.gateway_address().await?;
    let rules = packet_loss_rules(&gateway, every, phase);
    add_rules(container, &rules).await?;
    Ok(rules)
}

fn packet_loss_rules(gateway: &str, every: u32, phase: u32) -> Vec<Vec<String>> {
    let every = every.to_string();
    let phase = phase.to_string();
    [("INPUT", "-i", "-s"), ("OUTPUT", "-o", "-d")]
        .iter()
        .map(|(chain, iface, addr)| {
            rule(&[
                chain,
                "!",
                iface,
                "lo",
                "!",
                addr,
                gateway,
                "-m",
                "statistic",
                "--mode",
                "nth",
                "--every",
                &every,
                "--packet",
                &phase,
                "-j",
                "DROP",
            ])
        })
        .collect()
}

/// The NFQUEUE number the delayer binds; one delay per component at a time.
const DELAY_QUEUE: &str = "7";

/// Sends every packet the target emits (but loopback) through the agent's
/// NFQUEUE delayer, a sidecar in the target's namespace. Returns the rules
/// and the sidecar's id.
pub(super) async fn delay(
    cluster: &Cluster,
    container: &Container,
    ms: u32,
) -> Result<(Vec<Vec<String>>, String)> {
    let ms = ms.to_string();
    let sidecar = cluster
        .resources()
        .start_sidecar(
            &cluster.images().vlsd,
            container,
            "delay",
            &[
                crate::contained::AGENT_BIN,
                "delay",
                "--queue",
                DELAY_QUEUE,
                "--ms",
                &ms,
            ],
        )
        .await?;
    // The queue is bound once the kernel lists it in the namespace; until
    // then `--queue-bypass` would let packets through undelayed.
    let resources = cluster.resources();
    crate::wait::until(
        &format!(
            "the delay agent of {} to bind NFQUEUE {DELAY_QUEUE}",
            container.name()
        ),
        std::time::Duration::from_secs(20),
        || async {
            if !resources
                .sidecar_running(&sidecar)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err("the delay sidecar exited (see `docker logs`)".to_string());
            }
            let out = container
                .exec(&["cat", "/proc/net/netfilter/nfnetlink_queue"])
                .await
                .map_err(|e| e.to_string())?;
            if queue_bound(&out.stdout, DELAY_QUEUE) {
                Ok(())
            } else {
                Err(format!("queues bound: {:?}", out.stdout.trim()))
            }
        },
    )
    .await?;
    let gateway = container.gateway_address().await?;
    let rules = vec![rule(&[
        "OUTPUT",
        "!",
        "-o",
        "lo",
        "!",
        "-d",
        &gateway,
        "-j",
        "NFQUEUE",
        "--queue-num",
        DELAY_QUEUE,
        "--queue-bypass",
    ])];
    add_rules(container, &rules).await?;
    Ok((rules, sidecar))
}

/// Whether `/proc/net/netfilter/nfnetlink_queue` lists queue `num`.
fn queue_bound(proc_text: &str, num: &str) -> bool {
    proc_text
        .lines()
        .any(|l| l.split_whitespace().next() == Some(num))
}

fn rule(parts: &[&str]) -> Vec<String> {
    let mut r: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
    // The comment match goes before the jump so -D finds the same rule.
    let jump = r.iter().position(|p| p == "-j").unwrap_or(r.len());
    r.splice(
        jump..jump,
        ["-m", "comment", "--comment", COMMENT].map(String::from),
    );
    r
}

async fn add_rules(container: &Container, rules: &[Vec<String>]) -> Result<()> {
    for r in rules {
        container.iptables("-I", r).await?;
    }
    Ok(())
}

pub(super) async fn delete_rules(container: &Container, rules: &[Vec<String>]) -> Result<()> {
    for r in rules {
        container.iptables("-D", r).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_queues_are_read_from_proc() {
        let text = "    7  12345     0 2 65531     0     0        0  1\n";
        assert!(queue_bound(text, "7"));
        assert!(!queue_bound(text, "0"));
        assert!(!queue_bound("", "7"));
    }

    #[test]
    fn packet_loss_spares_loopback_and_the_gateway() {
        let rules = packet_loss_rules("172.18.0.1", 5, 0);
        assert_eq!(
            rules[0].join(" "),
            "INPUT ! -i lo ! -s 172.18.0.1 -m statistic --mode nth --every 5 --packet 0 \
             -m comment --comment vls-chaos -j DROP"
        );
        assert_eq!(
            rules[1].join(" "),
            "OUTPUT ! -o lo ! -d 172.18.0.1 -m statistic --mode nth --every 5 --packet 0 \
             -m comment --comment vls-chaos -j DROP"
        );
    }

    #[test]
    fn comment_sits_before_the_jump() {
        assert_eq!(
            rule(&["INPUT", "-s", "10.0.0.2", "-j", "DROP"]).join(" "),
            "INPUT -s 10.0.0.2 -m comment --comment vls-chaos -j DROP"
        );
        assert_eq!(
            rule(&["OUTPUT", "-j", "NFQUEUE", "--queue-num", "7"]).join(" "),
            "OUTPUT -m comment --comment vls-chaos -j NFQUEUE --queue-num 7"
        );
    }
}
