//! The `when` of a fault step: which checkpoint it waits for, checked
//! against the topology.

use super::Checker;
use crate::error::Result;
use crate::node::SignerChoice;
use crate::scenario::model::Trigger;
use crate::scenario::spec::TriggerSpec;
use crate::scenario::topology::is_request_name;
use lnnode_api::SignerMoment;

impl Checker<'_> {
    /// The checkpoint a fault step waits for; its name (default the step's
    /// `label`) is for a later `wait_for.checkpoint`.
    pub(super) fn trigger(&mut self, w: TriggerSpec, label: &str) -> Result<Trigger> {
        let TriggerSpec {
            name,
            event,
            node,
            signer_request,
            signer,
            signer_call,
            at,
            nth,
            fsync,
            component,
        } = w;
        let name = name.unwrap_or_else(|| label.to_string());
        if self.checkpoints.contains(&name) {
            return Err(self.at(format!("when.name: checkpoint `{name}` is already used")));
        }
        self.checkpoints.push(name.clone());
        let nth = nth.unwrap_or(1);
        if nth == 0 {
            return Err(self.at("when.nth: expected 1 or more".to_string()));
        }
        if fsync.is_some() || component.is_some() {
            let others = event.is_some()
                || node.is_some()
                || signer_request.is_some()
                || signer.is_some()
                || signer_call.is_some()
                || at.is_some();
            return match (fsync, component, others) {
                (Some(file), Some(component), false) => {
                    self.component(&component, "when.component")?;
                    if component == "bitcoind" {
                        return Err(self.at(
                            "when.fsync: the power-cut layer runs nodes and signers (their images carry the agent), not bitcoind"
                                .to_string(),
                        ));
                    }
                    check_fsync_file(&file).map_err(|why| self.at(format!("when.fsync: {why}")))?;
                    Ok(Trigger::Fsync {
                        name,
                        component,
                        file,
                        nth,
                    })
                }
                _ => Err(self.at(
                    "when: `fsync` goes with `component` (and `nth`, `name`) and nothing else"
                        .to_string(),
                )),
            };
        }
        match (event, node, signer_request, signer, signer_call) {
            (None, Some(node), None, None, Some(request)) => {
                self.signer_call(&node, &request)?;
                Ok(Trigger::SignerCall {
                    name,
                    node,
                    request,
                    nth,
                    at: at.unwrap_or(SignerMoment::Request),
                })
            }
            (Some(event), Some(node), None, None, None) => {
                self.node(&node, "when.node")?;
                Ok(Trigger::NodeEvent {
                    name,
                    node,
                    event,
                    nth,
                })
            }
            (None, None, Some(request), Some(signer), None) => {
                self.component(&signer, "when.signer")?;
                if !signer.starts_with("vlsd-") {
                    return Err(self.at(format!(
                        "when.signer: `{signer}` is not a vlsd (expected `vlsd-<node>`)"
                    )));
                }
                Ok(Trigger::SignerRequest {
                    name,
                    signer,
                    request,
                    nth,
                })
            }
            _ => Err(self.at(
                "when: expected `event` with `node`, `signer_request` with `signer`, `signer_call` with `node`, or `fsync` with `component`"
                    .to_string(),
            )),
        }
    }

    /// `signer_call` holds `request`s of a node that signs through vlsd.
    fn signer_call(&self, node: &str, request: &str) -> Result<()> {
        self.node(node, "when.node")?;
        if !self
            .topology
            .nodes
            .iter()
            .any(|(x, s)| x == node && *s == SignerChoice::Vlsd)
        {
            return Err(self.at(format!(
                "when.node: `{node}` does not sign through vlsd; `signer_call` holds a vlsd node's requests"
            )));
        }
        if !is_request_name(request) {
            return Err(self.at(format!("when.signer_call: `{request}` is not a request type name like ValidateCommitmentTx2")));
        }
        Ok(())
    }
}

/// A file an fsync checkpoint names: a relative path inside the datadir,
/// in characters the control file carries as they are.
fn check_fsync_file(file: &str) -> std::result::Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/');
    if file.is_empty() || file.starts_with('/') || !file.chars().all(plain) {
        return Err(format!(
            "`{file}`: expected a path inside the datadir such as `regtest/redb`, or a directory such as `ldk/monitors/` (letters, digits, `._-/`, not starting with `/`)"
        ));
    }
    if file
        .trim_end_matches('/')
        .split('/')
        .any(|part| part.is_empty() || part == "..")
    {
        return Err(format!("`{file}`: empty or `..` path components"));
    }
    Ok(())
}
