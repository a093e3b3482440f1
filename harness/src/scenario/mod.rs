//! Scenario files (TOML): topology, ordered steps, and what must hold.
//!
//! Parsing is strict: unknown keys are errors, and every error names the
//! file, line, column, field and what was expected. The format is
//! documented in docs/scenarios.md; its JSON Schema comes from [`spec`].

mod expect;
pub mod kinds;
pub mod matrix;
mod model;
pub mod spec;
mod topology;
mod validate;

use std::path::Path;

use crate::error::{HarnessError, Result};
pub use lnnode_api::SignerMoment;
pub use model::{Action, Assertion, Scenario, Step, Topology, Trigger, Wait};
pub use topology::is_request_name;

pub use spec::{
    AssertSpec, BackupSpec, ChannelSpec, CloseSpec, DiskSpec, EventKind, ExpectSpec, FundSpec,
    OpenChannelSpec, PayOutcome, PaySpec, RecoverChannelsSpec, RecoverOnchainSpec, RecoverSpec,
    RefusesStartSpec, ScbShachain, SnapshotSpec, StashSpec, VlsdRecoverSpec, WaitSpec,
};

impl Scenario {
    /// Reads and validates a scenario file without a matrix (or with one case).
    pub fn load(path: &Path) -> Result<Scenario> {
        let mut all = Scenario::load_all(path)?;
        if all.len() != 1 {
            return Err(HarnessError::ScenarioFile {
                path: path.to_path_buf(),
                reason: format!(
                    "a matrix of {} cases; run it with `harness run` (or pick one with --case)",
                    all.len()
                ),
            });
        }
        Ok(all.remove(0))
    }

    /// Reads and validates a scenario file: one scenario per matrix case.
    pub fn load_all(path: &Path) -> Result<Vec<Scenario>> {
        let text = std::fs::read_to_string(path).map_err(|e| HarnessError::ScenarioFile {
            path: path.to_path_buf(),
            reason: match e.kind() {
                std::io::ErrorKind::NotFound => "no such scenario file".to_string(),
                _ => format!("cannot read: {e}"),
            },
        })?;
        Scenario::parse_all(path, &text)
    }

    /// Parses scenario text with a matrix into its cases; `path` is used
    /// for messages only.
    pub fn parse_all(path: &Path, text: &str) -> Result<Vec<Scenario>> {
        let err_at = |offset: usize, message: String| {
            validate::error_at(path, text, Some(offset..offset), message)
        };
        // The matrix is read first. Placeholders may stand where TOML wants
        // a number or a boolean (`nth = ${nth}`), so each reads as 0 here;
        // only `[matrix]` is taken from this parse.
        let head: spec::MatrixOnly = toml::from_str(&matrix::blank(text)).map_err(|e| {
            err_at(
                e.span().map(|s| s.start).unwrap_or(0),
                e.message().trim().to_string(),
            )
        })?;
        let span = head.matrix.span();
        let cases =
            matrix::cases(head.matrix.get_ref()).map_err(|e| err_at(span.start, e.to_string()))?;
        let mut out = Vec::new();
        for case in cases {
            let rendered = case.render(text);
            if let Some((offset, key)) = matrix::leftover(&rendered) {
                return Err(err_at(
                    offset,
                    format!("`${{{key}}}` is not a key of [matrix]"),
                ));
            }
            let mut s = Scenario::parse(path, &rendered)?;
            s.case = case.label();
            if !s.case.is_empty() {
                s.name = format!("{}[{}]", s.name, s.case);
            }
            out.push(s);
        }
        Ok(out)
    }

    /// Parses scenario text; `path` is used for messages only.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario> {
        validate::scenario(path, text)
    }
}

/// The JSON Schema of the file format, as checked in at docs/scenario.schema.json.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(spec::ScenarioFile);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests;
