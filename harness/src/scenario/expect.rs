//! The `[expect]` table checked: a finding comes with exactly one
//! signature, and the signature names something the run has.

use super::model::Topology;
use super::spec::ExpectSpec;

/// The final checks a signature may name.
const FINAL_CHECKS: [&str; 3] = ["conservation", "parties", "penalty"];

/// A finding comes with exactly one signature that can be seen.
pub(super) fn expectation(e: &ExpectSpec, topology: &Topology) -> std::result::Result<(), String> {
    if e.intermittent && e.finding.is_none() {
        return Err("intermittent: expected a `finding` that shows in some runs only".to_string());
    }
    let sig = match (&e.finding, &e.signature) {
        (None, None) => return Ok(()),
        (Some(_), None) => return Err("finding: expected a `signature` with it".to_string()),
        (None, Some(_)) => {
            return Err("signature: expected a `finding` it is the sign of".to_string())
        }
        (Some(f), Some(sig)) => {
            let anchor = !f.is_empty()
                && f.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !anchor {
                return Err(format!(
                    "finding: `{f}`: expected the anchor of a heading in docs/findings.md (lowercase letters, digits, `-`)"
                ));
            }
            sig
        }
    };
    let given = [sig.error.is_some(), sig.log.is_some(), sig.check.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err("signature: expected exactly one of `error`, `log`, `check`".to_string());
    }
    if let Some(l) = &sig.log {
        let components = topology.components();
        if !components.contains(&l.component) {
            return Err(format!(
                "signature.log.component: no component `{}` in the topology (expected one of: {})",
                l.component,
                components.join(", ")
            ));
        }
    }
    match &sig.check {
        Some(c) if !FINAL_CHECKS.contains(&c.as_str()) => Err(format!(
            "signature.check: `{c}`: expected one of {}",
            FINAL_CHECKS.join(", ")
        )),
        _ => Ok(()),
    }
}
