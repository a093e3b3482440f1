//! Scenario files (TOML): topology, ordered steps, and the checks among them.
//!
//! Parsing is strict: unknown keys are errors, and every error names the
//! file, line, column, field and what was expected.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{HarnessError, Result};
use crate::fault::Fault;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub topology: Topology,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Topology {
    pub bitcoind: bool,
    /// Nodes that have a vlsd signer; each signer container is `vlsd-<node>`.
    pub signers: Vec<String>,
}

impl Topology {
    /// Names of every component this topology starts.
    pub fn components(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.bitcoind {
            out.push("bitcoind".to_string());
        }
        out.extend(self.signers.iter().map(|n| format!("vlsd-{n}")));
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub label: String,
    pub action: Action,
    /// 1-based line of the step in its file, for reports and errors.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Mine(u64),
    Fault { fault: Fault, target: String },
    WaitReady(String),
    AssertHeight(u64),
    AssertBalanceSat(u64),
}

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::Mine(n) => format!("mine {n}"),
            Action::Fault { fault, target } => format!("{fault} {target}"),
            Action::WaitReady(c) => format!("wait until {c} is ready"),
            Action::AssertHeight(h) => format!("assert height = {h}"),
            Action::AssertBalanceSat(s) => format!("assert wallet balance = {s} sat"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    name: String,
    description: String,
    seed: Option<u64>,
    topology: TopologySpec,
    #[serde(default)]
    steps: Vec<Spanned<StepSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologySpec {
    #[serde(default)]
    bitcoind: bool,
    #[serde(default = "no_signers")]
    signers: Spanned<Vec<String>>,
}

fn no_signers() -> Spanned<Vec<String>> {
    Spanned::new(0..0, Vec::new())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    label: Option<String>,
    mine: Option<u64>,
    fault: Option<Fault>,
    target: Option<String>,
    wait_ready: Option<String>,
    assert_height: Option<u64>,
    assert_balance_sat: Option<u64>,
}

const ACTIONS: &str =
    "one of `mine`, `fault` (with `target`), `wait_ready`, `assert_height`, `assert_balance_sat`";

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|e| HarnessError::ScenarioFile {
            path: path.to_path_buf(),
            reason: match e.kind() {
                std::io::ErrorKind::NotFound => "no such scenario file".to_string(),
                _ => format!("cannot read: {e}"),
            },
        })?;
        Scenario::parse(path, &text)
    }

    /// Parses scenario text; `path` is used for messages only.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario> {
        let err_at = |span: Option<Range<usize>>, message: String| {
            let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            HarnessError::ScenarioParse {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let spec: FileSpec =
            toml::from_str(text).map_err(|e| err_at(e.span(), e.message().trim().to_string()))?;

        let mut signers: Vec<String> = Vec::new();
        for s in spec.topology.signers.get_ref() {
            if !is_dns_label(s) {
                return Err(err_at(
                    Some(spec.topology.signers.span()),
                    format!("topology.signers: `{s}` is not a valid name (expected lower-case letters, digits and `-`)"),
                ));
            }
            if signers.contains(s) {
                return Err(err_at(
                    Some(spec.topology.signers.span()),
                    format!("topology.signers: `{s}` appears twice"),
                ));
            }
            signers.push(s.clone());
        }
        let topology = Topology {
            bitcoind: spec.topology.bitcoind,
            signers,
        };
        let components = topology.components();

        let mut steps = Vec::new();
        for (i, spanned) in spec.steps.into_iter().enumerate() {
            let span = spanned.span();
            let line = line_col(text, span.start).0;
            let s = spanned.into_inner();
            let at = |message: String| err_at(Some(span.clone()), format!("steps[{i}]: {message}"));
            let known = |c: &str, field: &str| -> Result<String> {
                if components.iter().any(|k| k == c) {
                    Ok(c.to_string())
                } else {
                    Err(at(format!(
                        "{field}: no component `{c}` in the topology (expected one of: {})",
                        components.join(", ")
                    )))
                }
            };
            let mut actions = Vec::new();
            if let Some(n) = s.mine {
                actions.push(Action::Mine(n));
            }
            if let Some(fault) = s.fault {
                let target = s.target.as_deref().ok_or_else(|| {
                    at("fault: needs `target`, the component to apply it to".to_string())
                })?;
                actions.push(Action::Fault {
                    fault,
                    target: known(target, "target")?,
                });
            } else if s.target.is_some() {
                return Err(at("target: only valid together with `fault`".to_string()));
            }
            if let Some(c) = &s.wait_ready {
                actions.push(Action::WaitReady(known(c, "wait_ready")?));
            }
            if let Some(h) = s.assert_height {
                actions.push(Action::AssertHeight(h));
            }
            if let Some(b) = s.assert_balance_sat {
                actions.push(Action::AssertBalanceSat(b));
            }
            let action = match actions.len() {
                1 => actions.remove(0),
                0 => return Err(at(format!("no action: expected {ACTIONS}"))),
                _ => {
                    return Err(at(format!(
                        "{} actions in one step: expected exactly {ACTIONS}",
                        actions.len()
                    )))
                }
            };
            let needs_bitcoind = matches!(
                action,
                Action::Mine(_) | Action::AssertHeight(_) | Action::AssertBalanceSat(_)
            );
            if needs_bitcoind && !topology.bitcoind {
                return Err(at(format!(
                    "`{}` needs `topology.bitcoind = true`",
                    action.describe()
                )));
            }
            steps.push(Step {
                label: s.label.unwrap_or_else(|| action.describe()),
                action,
                line,
            });
        }

        Ok(Scenario {
            path: path.to_path_buf(),
            name: spec.name,
            description: spec.description,
            seed: spec.seed.unwrap_or(0),
            topology,
            steps,
        })
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario> {
        Scenario::parse(Path::new("t.toml"), text)
    }

    const HEAD: &str =
        "name = \"t\"\ndescription = \"d\"\n[topology]\nbitcoind = true\nsigners = [\"alice\"]\n";

    #[test]
    fn parses_steps_with_lines_and_default_labels() {
        let s = parse(&format!(
            "{HEAD}[[steps]]\nmine = 101\n[[steps]]\nlabel = \"crash\"\nfault = \"kill\"\ntarget = \"bitcoind\"\n"
        ))
        .expect("valid");
        assert_eq!(s.seed, 0);
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[0].action, Action::Mine(101));
        assert_eq!(s.steps[0].label, "mine 101");
        assert_eq!(s.steps[0].line, 6);
        assert_eq!(s.steps[1].label, "crash");
        assert_eq!(
            s.steps[1].action,
            Action::Fault {
                fault: Fault::Kill,
                target: "bitcoind".into()
            }
        );
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = parse(&format!("{HEAD}[[steps]]\nmine = 1\nbogus = 2\n")).expect_err("unknown key");
        let msg = e.to_string();
        assert!(msg.starts_with("t.toml:8:"), "{msg}");
        assert!(msg.contains("bogus"), "{msg}");
    }

    #[test]
    fn wrong_type_is_reported_with_position() {
        let e = parse(&format!("{HEAD}[[steps]]\nmine = \"lots\"\n")).expect_err("type");
        let msg = e.to_string();
        assert!(msg.starts_with("t.toml:7:"), "{msg}");
    }

    #[test]
    fn unknown_fault_kind_lists_expected() {
        let e = parse(&format!(
            "{HEAD}[[steps]]\nfault = \"explode\"\ntarget = \"bitcoind\"\n"
        ))
        .expect_err("fault kind");
        let msg = e.to_string();
        assert!(msg.contains("explode") && msg.contains("kill"), "{msg}");
    }

    #[test]
    fn semantic_errors_name_the_step() {
        let cases = [
            (
                "[[steps]]\nfault = \"kill\"\n",
                "steps[0]: fault: needs `target`",
            ),
            (
                "[[steps]]\nfault = \"kill\"\ntarget = \"lnd\"\n",
                "no component `lnd`",
            ),
            ("[[steps]]\nlabel = \"x\"\n", "steps[0]: no action"),
            (
                "[[steps]]\nmine = 1\nassert_height = 1\n",
                "2 actions in one step",
            ),
            (
                "[[steps]]\ntarget = \"bitcoind\"\n",
                "only valid together with `fault`",
            ),
        ];
        for (steps, want) in cases {
            let e = parse(&format!("{HEAD}{steps}")).expect_err(want);
            let msg = e.to_string();
            assert!(msg.contains(want), "{msg} should contain {want}");
            assert!(msg.starts_with("t.toml:6:"), "{msg}");
        }
    }

    #[test]
    fn mining_needs_bitcoind() {
        let e = parse("name = \"t\"\ndescription = \"d\"\n[topology]\nsigners = [\"a\"]\n[[steps]]\nmine = 1\n")
            .expect_err("no bitcoind");
        assert!(e.to_string().contains("needs `topology.bitcoind = true`"));
    }

    #[test]
    fn bad_signer_names_are_rejected() {
        let e =
            parse("name = \"t\"\ndescription = \"d\"\n[topology]\nsigners = [\"Alice Smith\"]\n")
                .expect_err("bad name");
        assert!(e.to_string().starts_with("t.toml:4:"), "{e}");
    }

    #[test]
    fn missing_file_is_one_sentence() {
        let e = Scenario::load(Path::new("/nonexistent/x.toml")).expect_err("missing");
        assert_eq!(e.to_string(), "/nonexistent/x.toml: no such scenario file");
    }

    #[test]
    fn catalog_files_parse() {
        let dir = crate::paths::workspace_root()
            .join("scenarios")
            .join("catalog");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("catalog dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 1, "no scenarios in {}", dir.display());
    }
}
