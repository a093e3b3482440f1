//! The topology of a scenario file, checked: component names Docker and DNS
//! accept, no name twice, signers and channels between nodes that exist.

use super::model::Topology;
use super::spec;
use crate::error::{HarnessError, Result};
use crate::node::{NodeKind, SignerChoice};

pub(super) fn topology(
    t: &spec::TopologySpec,
    err: impl Fn(String) -> HarnessError,
) -> Result<Topology> {
    let mut names: Vec<String> = Vec::new();
    let mut check_name = |n: &str, field: &str| -> Result<()> {
        if !is_dns_label(n) {
            return Err(err(format!(
                "{field}: `{n}` is not a valid name (expected lower-case letters, digits and `-`)"
            )));
        }
        if n == "bitcoind" || n.starts_with("vlsd-") || names.iter().any(|x| x == n) {
            return Err(err(format!("{field}: `{n}` appears twice or is reserved")));
        }
        names.push(n.to_string());
        Ok(())
    };
    let mut nodes = Vec::new();
    let mut defer_restored_validation = Vec::new();
    let mut cln_nodes = Vec::new();
    let mut feerates = Vec::new();
    for n in &t.nodes {
        check_name(&n.name, "topology.nodes")?;
        nodes.push((n.name.clone(), n.signer));
        if n.kind == NodeKind::Cln {
            cln_nodes.push(n.name.clone());
        }
        if let Some(f) = n.feerate_perkw {
            if n.kind != NodeKind::Cln {
                return Err(err(format!(
                    "topology.nodes: `{}`: feerate_perkw sets Core Lightning's feerates; the node needs `kind = \"cln\"`",
                    n.name
                )));
            }
            if f < 253 {
                return Err(err(format!(
                    "topology.nodes: `{}`: feerate_perkw = {f}: expected at least 253, the relay floor",
                    n.name
                )));
            }
            feerates.push((n.name.clone(), f));
        }
        if n.defer_restored_validation {
            if n.signer != SignerChoice::Vlsd || n.kind != NodeKind::Lnnode {
                return Err(err(format!(
                    "topology.nodes: `{}`: defer_restored_validation is about the VLS client inside lnnode; the node needs `signer = \"vlsd\"` and `kind = \"lnnode\"`",
                    n.name
                )));
            }
            defer_restored_validation.push(n.name.clone());
        }
    }
    let mut signers = Vec::new();
    for s in &t.signers {
        check_name(s, "topology.signers")?;
        signers.push(s.clone());
    }
    if !nodes.is_empty() && !t.bitcoind {
        return Err(err(
            "topology.nodes: Lightning nodes need `bitcoind = true`".to_string(),
        ));
    }
    let topo = Topology {
        bitcoind: t.bitcoind,
        nodes,
        signers,
        channels: t.channels.clone(),
        disks: t.disks.clone(),
        fund_sat: t.fund_sat,
        sync_seed: t.sync_seed,
        defer_restored_validation,
        supervised: t.supervised.clone(),
        cln_nodes,
        feerates,
    };
    let components = topo.components();
    let mut channel_names: Vec<String> = Vec::new();
    for c in &topo.channels {
        for n in [&c.from, &c.to] {
            if !topo.has_node(n) {
                return Err(err(format!(
                    "topology.channels: no node `{n}` in topology.nodes"
                )));
            }
        }
        if c.from == c.to {
            return Err(err(format!("topology.channels: `{}` to itself", c.from)));
        }
        if c.push_sat >= c.capacity_sat {
            return Err(err(format!(
                "topology.channels: push_sat {} must be below capacity_sat {}",
                c.push_sat, c.capacity_sat
            )));
        }
        let name = c.name();
        if channel_names.contains(&name) {
            return Err(err(format!("topology.channels: `{name}` appears twice")));
        }
        channel_names.push(name);
    }
    for c in &topo.supervised {
        if !components.contains(c) {
            return Err(err(format!(
                "topology.supervised: no component `{c}` (expected one of: {})",
                components.join(", ")
            )));
        }
    }
    for d in &topo.disks {
        if !components.contains(&d.component) {
            return Err(err(format!(
                "topology.disks: no component `{}` (expected one of: {})",
                d.component,
                components.join(", ")
            )));
        }
        if d.size_mb == 0 {
            return Err(err("topology.disks: size_mb must be at least 1".to_string()));
        }
    }
    Ok(topo)
}

/// The shape of a VLS protocol request type name (`SignRemoteCommitmentTx2`);
/// whether the protocol has it, the signer (log) or node (breakpoint) knows.
pub fn is_request_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}
