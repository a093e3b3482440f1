//! The same scenario on the other node implementation: its lnnode nodes
//! that sign through vlsd run as Core Lightning instead, every step and
//! fault unchanged. What a Core Lightning node does not do (yet) is named
//! here, once, for the loader (a file that asks it of a `kind = "cln"`
//! node is refused) and for `harness kinds` (the side-by-side table).

use super::model::{Action, Assertion, Scenario, Trigger};
use crate::node::{NodeKind, SignerChoice};

/// What `s` asks of `node` that a Core Lightning node does not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The step's line in its file; `None` for the topology.
    pub line: Option<usize>,
    pub what: String,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.what),
            None => write!(f, "topology: {}", self.what),
        }
    }
}

/// What `s` asks of `node` that a Core Lightning node does not do, if
/// anything (the first such step).
pub fn cln_unsupported(s: &Scenario, node: &str) -> Option<Unsupported> {
    if s.topology
        .defer_restored_validation
        .iter()
        .any(|n| n == node)
    {
        return Some(Unsupported {
            line: None,
            what: "`defer_restored_validation` is an option of VLS's client in lnnode".to_string(),
        });
    }
    for step in &s.steps {
        let line = Some(step.line);
        if let Some(Trigger::SignerCall { node: n, .. }) = &step.when {
            if n == node {
                return Some(Unsupported {
                    line,
                    what: "`when.signer_call` holds a request inside lnnode's VLS client; \
                           Core Lightning's signer requests can be counted with \
                           `when.signer_request`"
                        .to_string(),
                });
            }
        }
        if let Some(Trigger::Fsync {
            component, file, ..
        }) = &step.when
        {
            if component == node {
                return Some(Unsupported {
                    line,
                    what: format!(
                        "`when.fsync` holds an fsync of lnnode's own file `{file}`, which lightningd does not write"
                    ),
                });
            }
        }
        let unsupported = match &step.action {
            Action::Stash(st) if st.by == node => "`stash`",
            Action::BroadcastStash(n) | Action::SweepStash(n) if n == node => {
                "a stashed commitment"
            }
            _ => continue,
        };
        return Some(Unsupported {
            line,
            what: format!("{unsupported} on a Core Lightning node are not supported yet"),
        });
    }
    None
}

/// The feerate a swapped node runs at, in sat per 1000 weight units. At
/// regtest's floor (253) vlsd refuses the penalty transaction lightningd
/// signs at every revocation and the node exits after its first payment
/// (docs/findings.md, "vlsd refuses Core Lightning's sweeps at the floor
/// feerate"): every scenario would end there, which `cln-payments` already
/// shows. Above it the rest of each scenario is compared; the delayed
/// sweep after a force-close is refused at this feerate too.
pub const SWAPPED_FEERATE_PERKW: u32 = 1000;

/// `s` with each lnnode node that signs through vlsd run as Core
/// Lightning (at [`SWAPPED_FEERATE_PERKW`]), or why that cannot run.
/// Nodes with a local signer stay lnnode: they are the peers. The
/// scenario's expected failure is dropped, since its signature is the
/// lnnode stack's; the run is judged by the scenario's own checks.
pub fn as_cln(s: &Scenario) -> Result<Scenario, String> {
    let swapped = vlsd_nodes(s, NodeKind::Lnnode);
    if swapped.is_empty() {
        return Err("no lnnode signs through vlsd here".to_string());
    }
    for n in &swapped {
        if let Some(why) = cln_unsupported(s, n) {
            return Err(format!("{n}: {why}"));
        }
    }
    let mut out = s.clone();
    rename_requests(&mut out, &swapped, cln_request);
    out.topology
        .feerates
        .extend(swapped.iter().map(|n| (n.clone(), SWAPPED_FEERATE_PERKW)));
    out.topology.cln_nodes.extend(swapped);
    drop_expected_failure(&mut out);
    Ok(out)
}

/// The nodes of `kind` that sign through vlsd.
fn vlsd_nodes(s: &Scenario, kind: NodeKind) -> Vec<String> {
    s.topology
        .nodes
        .iter()
        .filter(|(n, signer)| *signer == SignerChoice::Vlsd && s.topology.kind_of(n) == kind)
        .map(|(n, _)| n.clone())
        .collect()
}

/// A finding's signature is one node kind's; on the other the run is
/// judged by the scenario's own checks.
fn drop_expected_failure(s: &mut Scenario) {
    s.expect.finding = None;
    s.expect.signature = None;
    s.expect.intermittent = false;
}

/// The requests LDK's VLS client sends in a form of its own, and what
/// Core Lightning (through remote_hsmd_socket) sends for the same step:
/// the hsmd wire's message. The rest are named alike.
const LDK_TO_CLN_REQUESTS: [(&str, &str); 6] = [
    ("GetPerCommitmentPoint2", "GetPerCommitmentPoint"),
    ("SignRemoteCommitmentTx2", "SignRemoteCommitmentTx"),
    ("ValidateCommitmentTx2", "ValidateCommitmentTx"),
    ("SignMutualCloseTx2", "SignMutualCloseTx"),
    ("SignLocalCommitmentTx2", "SignCommitmentTx"),
    ("SignLocalHtlcTx2", "SignLocalHtlcTx"),
];

/// Core Lightning's name for the signer request lnnode calls `ldk`.
pub fn cln_request(ldk: &str) -> &str {
    LDK_TO_CLN_REQUESTS
        .iter()
        .find(|(l, _)| *l == ldk)
        .map_or(ldk, |(_, c)| c)
}

/// lnnode's name for the signer request Core Lightning calls `cln`.
pub fn ldk_request(cln: &str) -> &str {
    LDK_TO_CLN_REQUESTS
        .iter()
        .find(|(_, c)| *c == cln)
        .map_or(cln, |(l, _)| l)
}

/// Renames the signer requests that `swapped`'s vlsd is asked to count,
/// in checkpoints and in log assertions, with `rename`.
fn rename_requests(s: &mut Scenario, swapped: &[String], rename: fn(&str) -> &str) {
    let is_swapped_signer = |c: &str| swapped.iter().any(|n| c == format!("vlsd-{n}"));
    for step in &mut s.steps {
        if let Some(Trigger::SignerRequest {
            signer, request, ..
        }) = &mut step.when
        {
            if is_swapped_signer(signer) {
                *request = rename(request).to_string();
            }
        }
        if let Action::Assert(Assertion::Log(l)) = &mut step.action {
            if is_swapped_signer(&l.component) {
                l.contains = rename(&l.contains).to_string();
            }
        }
    }
}

/// Whether `s` runs a vlsd-signed node as Core Lightning as written.
pub fn has_cln_operator(s: &Scenario) -> bool {
    !vlsd_nodes(s, NodeKind::Cln).is_empty()
}

/// What `s` asks of `node` that only Core Lightning does, if anything
/// (the first such step).
pub fn lnnode_unsupported(s: &Scenario, node: &str) -> Option<Unsupported> {
    s.steps.iter().find_map(|step| {
        let what = match &step.action {
            Action::RecoverChannels(r) if r.node == node => {
                "`recover_channels` is Core Lightning's `recoverchannel`"
            }
            Action::Withdraw(n) if n == node => {
                "`withdraw` spends through the signer, and lnnode's on-chain wallet is bitcoind's"
            }
            _ => return None,
        };
        Some(Unsupported {
            line: Some(step.line),
            what: what.to_string(),
        })
    })
}

/// The reverse of [`as_cln`]: `s` with its vlsd-signed Core Lightning
/// nodes run as lnnode (whose feerates are its own), or why that cannot run.
pub fn as_lnnode(s: &Scenario) -> Result<Scenario, String> {
    let mut out = s.clone();
    let swapped = vlsd_nodes(s, NodeKind::Cln);
    for n in &swapped {
        if let Some(why) = lnnode_unsupported(s, n) {
            return Err(format!("{n}: {why}"));
        }
    }
    rename_requests(&mut out, &swapped, ldk_request);
    out.topology.cln_nodes.retain(|n| !swapped.contains(n));
    out.topology.feerates.retain(|(n, _)| !swapped.contains(n));
    drop_expected_failure(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Scenario {
        let mut all = Scenario::parse_all(std::path::Path::new("t.toml"), text).unwrap();
        all.remove(0)
    }

    const TWO_NODES: &str = r#"
name = "t"
description = "d"
[topology]
nodes = [
  { name = "alice", signer = "vlsd" },
  { name = "bob", signer = "local" },
]
channels = [{ from = "alice", to = "bob", capacity_sat = 500_000 }]
"#;

    #[test]
    fn the_vlsd_node_becomes_core_lightning_and_the_peer_stays() {
        let s = parse(&format!(
            "{TWO_NODES}[[steps]]\npay = {{ from = \"alice\", to = \"bob\", amount_msat = 1000 }}\n"
        ));
        let c = as_cln(&s).unwrap();
        assert_eq!(c.topology.kind_of("alice"), NodeKind::Cln);
        assert_eq!(c.topology.kind_of("bob"), NodeKind::Lnnode);
        assert_eq!(
            c.topology.feerates,
            vec![("alice".to_string(), SWAPPED_FEERATE_PERKW)]
        );
        assert_eq!(c.steps, s.steps);
        assert_eq!(c.expect.finding, None);
    }

    #[test]
    fn signer_request_triggers_on_the_swapped_signer_use_core_lightnings_names() {
        let s = parse(&format!(
            "{TWO_NODES}[[steps]]\nfault = {{ kind = \"kill\", target = \"vlsd-alice\" }}\nwhen = {{ signer_request = \"SignRemoteCommitmentTx2\", signer = \"vlsd-alice\", nth = 2 }}\n"
        ));
        let c = as_cln(&s).unwrap();
        match &c.steps[0].when {
            Some(Trigger::SignerRequest { request, nth, .. }) => {
                assert_eq!(request, "SignRemoteCommitmentTx");
                assert_eq!(*nth, 2);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cln_request("ValidateRevocation"), "ValidateRevocation");
    }

    #[test]
    fn a_signer_breakpoint_on_the_node_is_named_with_its_line() {
        let s = parse(&format!(
            "{TWO_NODES}[[steps]]\nfault = {{ kind = \"crash\", target = \"alice\" }}\nwhen = {{ node = \"alice\", signer_call = \"SignMutualCloseTx2\", at = \"request\" }}\n"
        ));
        let why = as_cln(&s).unwrap_err();
        assert!(why.starts_with("alice: line "), "{why}");
        assert!(why.contains("signer_call"), "{why}");
    }

    #[test]
    fn a_hold_invoice_runs_on_core_lightning_at_either_end() {
        let s = parse(&format!(
            "{TWO_NODES}[[steps]]\npay = {{ from = \"bob\", to = \"alice\", amount_msat = 1000, hold = \"h\" }}\n"
        ));
        assert_eq!(cln_unsupported(&s, "alice"), None);
        assert_eq!(cln_unsupported(&s, "bob"), None);
    }

    #[test]
    fn an_fsync_of_the_nodes_own_files_is_unsupported_and_of_its_signers_is_not() {
        let at = |component: &str, file: &str| {
            parse(&format!(
                "{TWO_NODES}[[steps]]\nfault = {{ kind = \"power_cut\", target = \"{component}\" }}\nwhen = {{ fsync = \"{file}\", component = \"{component}\" }}\n"
            ))
        };
        let why = cln_unsupported(&at("alice", "ldk/monitors/"), "alice").unwrap();
        assert!(why.what.contains("ldk/monitors/"), "{why}");
        assert_eq!(
            cln_unsupported(&at("vlsd-alice", "regtest/redb"), "alice"),
            None
        );
    }

    #[test]
    fn a_core_lightning_operator_swaps_back_to_lnnode_without_its_feerate() {
        let s = parse(
            r#"
name = "t"
description = "d"
[topology]
nodes = [
  { name = "carol", signer = "vlsd", kind = "cln", feerate_perkw = 1000 },
  { name = "dave", signer = "local", kind = "cln" },
]
"#,
        );
        assert!(has_cln_operator(&s));
        let l = as_lnnode(&s).unwrap();
        assert_eq!(l.topology.kind_of("carol"), NodeKind::Lnnode);
        assert_eq!(l.topology.kind_of("dave"), NodeKind::Cln);
        assert!(l.topology.feerates.is_empty());
        assert!(!has_cln_operator(&l));
        assert_eq!(ldk_request("SignCommitmentTx"), "SignLocalCommitmentTx2");
        assert_eq!(ldk_request("ValidateRevocation"), "ValidateRevocation");
    }

    #[test]
    fn swapping_there_and_back_keeps_the_request_names() {
        let s = parse(&format!(
            "{TWO_NODES}[[steps]]\nfault = {{ kind = \"kill\", target = \"vlsd-alice\" }}\nwhen = {{ signer_request = \"SignRemoteCommitmentTx2\", signer = \"vlsd-alice\", nth = 2 }}\n"
        ));
        let back = as_lnnode(&as_cln(&s).unwrap()).unwrap();
        assert_eq!(back.steps, s.steps);
    }

    #[test]
    fn channel_recovery_and_withdraw_keep_a_file_on_core_lightning() {
        let s = parse(
            r#"
name = "t"
description = "d"
[topology]
nodes = [
  { name = "carol", signer = "vlsd", kind = "cln" },
  { name = "bob", signer = "local" },
]
[[steps]]
withdraw = "carol"
"#,
        );
        let why = as_lnnode(&s).unwrap_err();
        assert!(why.starts_with("carol: line "), "{why}");
        assert!(why.contains("withdraw"), "{why}");
        assert_eq!(lnnode_unsupported(&s, "bob"), None);
    }

    #[test]
    fn a_topology_without_a_vlsd_lnnode_has_nothing_to_swap() {
        let s = parse(
            r#"
name = "t"
description = "d"
[topology]
nodes = [{ name = "bob", signer = "local" }]
"#,
        );
        assert!(as_cln(&s).is_err());
    }
}
