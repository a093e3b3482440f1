//! Network faults as iptables rules in the target's own network namespace
//! (every component runs with NET_ADMIN). Each rule carries a comment so
//! a person reading `iptables -S` in a kept run sees where it came from.

use crate::cluster::Cluster;
use crate::container::Container;
use crate::error::{HarnessError, Result};

use super::LinkDirection;

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

/// Drops every `every`-th packet in each direction.
pub(super) async fn packet_loss(container: &Container, every: u32) -> Result<Vec<Vec<String>>> {
    let every = every.to_string();
    let rules: Vec<Vec<String>> = ["INPUT", "OUTPUT"]
        .iter()
        .map(|chain| {
            rule(&[
                chain,
                "-m",
                "statistic",
                "--mode",
                "nth",
                "--every",
                &every,
                "--packet",
                "0",
                "-j",
                "DROP",
            ])
        })
        .collect();
    add_rules(container, &rules).await?;
    Ok(rules)
}

fn rule(parts: &[&str]) -> Vec<String> {
    let mut r: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
    // The comment match goes before the jump so -D finds the same rule.
    let jump = r.len() - 2;
    r.splice(
        jump..jump,
        ["-m", "comment", "--comment", COMMENT].map(String::from),
    );
    r
}

async fn add_rules(container: &Container, rules: &[Vec<String>]) -> Result<()> {
    for r in rules {
        iptables(container, "-I", r).await?;
    }
    Ok(())
}

pub(super) async fn delete_rules(container: &Container, rules: &[Vec<String>]) -> Result<()> {
    for r in rules {
        iptables(container, "-D", r).await?;
    }
    Ok(())
}

async fn iptables(container: &Container, op: &str, rule: &[String]) -> Result<()> {
    let mut cmd = vec!["iptables", "-w", op];
    cmd.extend(rule.iter().map(String::as_str));
    let out = container.exec(&cmd).await?;
    if out.exit_code != 0 {
        return Err(HarnessError::component(
            container.name(),
            format!(
                "`{}` failed ({}): {}",
                cmd.join(" "),
                out.exit_code,
                out.stderr.trim()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_sits_before_the_jump() {
        assert_eq!(
            rule(&["INPUT", "-s", "10.0.0.2", "-j", "DROP"]).join(" "),
            "INPUT -s 10.0.0.2 -m comment --comment vls-chaos -j DROP"
        );
    }
}
