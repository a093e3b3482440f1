//! What a run did and how long each part took: a fold of the run's events
//! ([`event::RunEvent`], see `record.rs`), printed as a table and kept as
//! `report.json`, `timeline.md` and `replay.sh` in the run directory; JUnit
//! for many runs in `junit.rs`.

pub mod event;
pub mod junit;
pub mod kinds;
pub mod rate;
mod record;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Failed with the signature of the finding the scenario reproduces.
    Xfail,
    /// Passed although the scenario reproduces a finding: fixed upstream?
    Xpass,
}

impl Verdict {
    /// Whether the run came out as its scenario says it must.
    pub fn as_expected(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::Xfail)
    }

    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Xfail => "XFAIL",
            Verdict::Xpass => "XPASS",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub label: String,
    pub seconds: f64,
    pub phase: Phase,
}

/// Where a run's wall time goes, in the order a run passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Images, containers started, every component ready.
    ClusterUp,
    /// Chain, funds and channels before the first step.
    Setup,
    Steps,
    /// Mining until nothing is left on chain, for the final checks.
    Settle,
    /// The final checks on the settled chain.
    Checks,
    /// Post-mortem artifacts (failed runs) and removing the run's resources.
    Teardown,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::ClusterUp,
        Phase::Setup,
        Phase::Steps,
        Phase::Settle,
        Phase::Checks,
        Phase::Teardown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Phase::ClusterUp => "cluster up",
            Phase::Setup => "setup",
            Phase::Steps => "steps",
            Phase::Settle => "settle",
            Phase::Checks => "checks",
            Phase::Teardown => "teardown",
        }
    }
}

/// One line of a run's timeline, in milliseconds since the run started.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub at_ms: u64,
    pub kind: EntryKind,
    pub text: String,
    /// What was seen or done (log line, offsets, rules); may vary between runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Setup,
    Step,
    /// What a step that is not a fault produced (a channel id, payments sent).
    StepDone,
    StepFailed,
    /// A fault applied or healed by a step.
    Fault,
    Armed,
    Fired,
    Check,
    /// A choice the seed made.
    Chosen,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub index: usize,
    pub line: usize,
    pub label: String,
    pub ok: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckpointResult {
    /// Index of the scenario step that armed it.
    pub step: usize,
    pub name: String,
    pub trigger: String,
    pub fault: String,
    pub fired: bool,
    pub at_ms: Option<u64>,
}

/// A named check's result: passed, failed, or could not be made (the
/// figures it needs could not be read), which is not the same as failed.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub verdict: CheckVerdict,
    /// The figures behind the verdict, or why they could not be had.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckVerdict {
    Pass,
    Fail,
    CouldNotCheck,
}

impl CheckVerdict {
    pub fn word(self) -> &'static str {
        match self {
            CheckVerdict::Pass => "pass",
            CheckVerdict::Fail => "FAIL",
            CheckVerdict::CouldNotCheck => "could not check",
        }
    }
}

impl CheckResult {
    pub fn new(name: &str, passed: bool, detail: impl Into<String>) -> Self {
        CheckResult {
            name: name.to_string(),
            verdict: if passed {
                CheckVerdict::Pass
            } else {
                CheckVerdict::Fail
            },
            detail: detail.into(),
        }
    }

    /// The check could not be made: `why` names what could not be read.
    pub fn could_not_check(name: &str, why: impl Into<String>) -> Self {
        CheckResult {
            name: name.to_string(),
            verdict: CheckVerdict::CouldNotCheck,
            detail: why.into(),
        }
    }

    pub fn passed(&self) -> bool {
        self.verdict == CheckVerdict::Pass
    }
}

/// The parts of a report that must not change between runs with one seed:
/// what insta snapshots and the replay test compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stable {
    pub scenario: String,
    pub seed: u64,
    pub verdict: Verdict,
    pub steps: Vec<String>,
    pub checkpoints: Vec<String>,
    pub checks: Vec<String>,
    /// The seed's choices, in the order made.
    pub choices: Vec<String>,
    /// Each party's total at the end (or why the scenario does not pin it).
    pub figures: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub file: PathBuf,
    /// The matrix case of the file (empty without a matrix).
    pub case: String,
    pub seed: u64,
    pub run_id: String,
    pub run_dir: PathBuf,
    pub verdict: Verdict,
    pub error: Option<String>,
    pub rows: Vec<Row>,
    pub total_seconds: f64,
    pub steps: Vec<StepResult>,
    /// Checkpoints in the order they fired (then the ones that never did).
    pub checkpoints: Vec<CheckpointResult>,
    pub checks: Vec<CheckResult>,
    /// Choices the seed made (bit offsets, loss phases), in order.
    pub choices: Vec<String>,
    /// Each party's total at the end, as the final checks read it.
    pub figures: Vec<String>,
    /// Why the scenario's figures are not pinned (`[expect] figures_vary`).
    pub figures_vary: Option<String>,
    /// Per party: what each end of each channel should hold and holds,
    /// and what on-chain recovery brought home (when the checks ran).
    pub accounting: Option<crate::accounting::Accounting>,
    pub timeline: Vec<Entry>,
}

impl RunReport {
    /// An empty passing report for a run, to be filled by a test.
    pub fn new(scenario: &str, run_id: &str, run_dir: &std::path::Path) -> Self {
        RunReport {
            scenario: scenario.to_string(),
            file: PathBuf::new(),
            case: String::new(),
            seed: 0,
            run_id: run_id.to_string(),
            run_dir: run_dir.to_path_buf(),
            verdict: Verdict::Pass,
            error: None,
            rows: Vec::new(),
            total_seconds: 0.0,
            steps: Vec::new(),
            checkpoints: Vec::new(),
            checks: Vec::new(),
            choices: Vec::new(),
            figures: Vec::new(),
            figures_vary: None,
            accounting: None,
            timeline: Vec::new(),
        }
    }

    pub fn stable(&self) -> Stable {
        Stable {
            scenario: self.scenario.clone(),
            seed: self.seed,
            verdict: self.verdict,
            steps: self
                .steps
                .iter()
                .map(|s| format!("{}: {}", s.label, if s.ok { "ok" } else { "FAILED" }))
                .collect(),
            checkpoints: self
                .checkpoints
                .iter()
                .map(|c| {
                    format!(
                        "{} ({} -> {}): {}",
                        c.name,
                        c.trigger,
                        c.fault,
                        if c.fired { "fired" } else { "never fired" }
                    )
                })
                .collect(),
            checks: self
                .checks
                .iter()
                .map(|c| format!("{}: {}", c.name, c.verdict.word()))
                .collect(),
            choices: self.choices.clone(),
            figures: match &self.figures_vary {
                Some(why) => vec![format!("not pinned: {why}")],
                None => self.figures.clone(),
            },
        }
    }

    /// The timeline as a Markdown document.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# {} (seed {}): {}\n\nRun `{}`, {:.1} s. Replay: `{}`\n\n",
            self.scenario,
            self.seed,
            self.verdict.word(),
            self.run_id,
            self.total_seconds,
            self.replay_command()
        );
        if let Some(e) = &self.error {
            out.push_str(&format!("**Error:** {}\n\n", e.replace('\n', " ")));
        }
        out.push_str("| t (s) | kind | what | detail |\n|---:|---|---|---|\n");
        for e in &self.timeline {
            out.push_str(&format!(
                "| {:.3} | {:?} | {} | {} |\n",
                e.at_ms as f64 / 1000.0,
                e.kind,
                md_cell(&e.text),
                md_cell(e.detail.as_deref().unwrap_or(""))
            ));
        }
        if !self.checks.is_empty() {
            out.push_str("\n## Checks\n\n");
            for c in &self.checks {
                out.push_str(&format!(
                    "- {} **{}**: {}\n",
                    c.name,
                    c.verdict.word(),
                    c.detail
                ));
            }
        }
        out
    }

    /// The command that replays this run.
    pub fn replay_command(&self) -> String {
        let case = if self.case.is_empty() {
            String::new()
        } else {
            format!(" --case {}", self.case)
        };
        format!(
            "cargo run -p harness -- run {} --seed {}{case}",
            self.file.display(),
            self.seed
        )
    }

    /// Writes report.json, timeline.md and replay.sh into the run directory.
    pub fn write_all(&self) -> std::io::Result<()> {
        self.write_json()?;
        std::fs::write(self.run_dir.join("timeline.md"), self.markdown())?;
        let replay = self.run_dir.join("replay.sh");
        std::fs::write(
            &replay,
            format!(
                "#!/bin/sh\n# Replays run {} of scenario {} bit for bit (same file, same seed).\nset -e\ncd '{}'\nexec {}\n",
                self.run_id,
                self.scenario,
                crate::paths::workspace_root().display(),
                self.replay_command()
            ),
        )?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&replay, std::fs::Permissions::from_mode(0o755))
    }

    /// Adds a timing row; consecutive rows with the same label merge, so a
    /// multi-step phase ("kill+restart") reads as one figure.
    pub fn push(&mut self, label: &str, took: Duration, phase: Phase) {
        let secs = took.as_secs_f64();
        match self.rows.last_mut() {
            Some(last) if last.label == label && last.phase == phase => last.seconds += secs,
            _ => self.rows.push(Row {
                label: label.to_string(),
                seconds: secs,
                phase,
            }),
        }
    }

    /// The run's wall time by phase, every phase listed (0 when a run
    /// never reached it).
    pub fn phase_totals(&self) -> Vec<(Phase, f64)> {
        Phase::ALL
            .iter()
            .map(|p| {
                // A fold from 0.0: an empty f64 sum is -0.0, printed "-0.0s".
                let t = self
                    .rows
                    .iter()
                    .filter(|r| r.phase == *p)
                    .fold(0.0, |t, r| t + r.seconds);
                (*p, t)
            })
            .collect()
    }

    /// Phase totals summed over runs, as one line: where a batch's time went.
    pub fn phase_line(reports: &[RunReport]) -> String {
        Phase::ALL
            .iter()
            .map(|p| {
                let t: f64 = reports
                    .iter()
                    .flat_map(|r| r.phase_totals())
                    .filter(|(q, _)| q == p)
                    .fold(0.0, |t, (_, s)| t + s);
                format!("{} {t:.1}s", p.label())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Median and maximum of `total_seconds` over reports (for the run summary).
    pub fn wall_time_stats(reports: &[RunReport]) -> Option<(f64, f64)> {
        let mut t: Vec<f64> = reports.iter().map(|r| r.total_seconds).collect();
        if t.is_empty() {
            return None;
        }
        t.sort_by(f64::total_cmp);
        let n = t.len();
        let median = if n % 2 == 1 {
            t[n / 2]
        } else {
            (t[n / 2 - 1] + t[n / 2]) / 2.0
        };
        Some((median, t[n - 1]))
    }

    pub fn table(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|r| r.label.chars().count())
            .max()
            .unwrap_or(4)
            .max("total".len());
        let mut out = format!(
            "scenario {} (seed {}), run {}: {}\n",
            self.scenario,
            self.seed,
            self.run_id,
            self.verdict.word()
        );
        out.push_str(&format!("  {:<width$}  {:>9}\n", "step", "wall time"));
        for r in &self.rows {
            out.push_str(&format!("  {:<width$}  {:>8.2}s\n", r.label, r.seconds));
        }
        out.push_str(&format!(
            "  {:<width$}  {:>8.2}s\n",
            "total", self.total_seconds
        ));
        out.push_str(&format!(
            "  by phase: {}\n",
            Self::phase_line(std::slice::from_ref(self))
        ));
        if let Some(e) = &self.error {
            out.push_str(&format!("  error: {e}\n"));
        }
        out.push_str(&format!(
            "  logs: {}\n",
            self.run_dir.join("logs").display()
        ));
        out
    }

    pub fn write_json(&self) -> std::io::Result<PathBuf> {
        let path = self.run_dir.join("report.json");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::create_dir_all(&self.run_dir)?;
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_rows_with_one_label_merge() {
        let mut r = RunReport::new("s", "r", std::path::Path::new("/tmp/r"));
        r.seed = 1;
        r.total_seconds = 3.0;
        r.push("kill+restart", Duration::from_millis(500), Phase::Steps);
        r.push("kill+restart", Duration::from_millis(1500), Phase::Steps);
        r.push("mine", Duration::from_secs(1), Phase::Steps);
        assert_eq!(r.rows.len(), 2);
        assert!((r.rows[0].seconds - 2.0).abs() < 1e-9);
        let t = r.table();
        assert!(t.contains("kill+restart      2.00s"), "{t}");
        assert!(t.starts_with("scenario s (seed 1), run r: PASS"), "{t}");
    }

    #[test]
    fn time_is_summed_by_phase_per_run_and_over_runs() {
        let mut a = RunReport::new("a", "r", std::path::Path::new("/tmp/a"));
        a.push(
            "images (warm)",
            Duration::from_millis(400),
            Phase::ClusterUp,
        );
        a.push("cluster up", Duration::from_millis(1600), Phase::ClusterUp);
        a.push("pay", Duration::from_secs(3), Phase::Steps);
        a.push("settle", Duration::from_secs(5), Phase::Settle);
        a.push("artifacts", Duration::from_secs(1), Phase::Teardown);
        a.push("teardown", Duration::from_millis(500), Phase::Teardown);
        let totals = a.phase_totals();
        assert_eq!(totals.len(), 6);
        assert_eq!(totals[0], (Phase::ClusterUp, 2.0));
        assert_eq!(totals[1], (Phase::Setup, 0.0));
        assert_eq!(totals[5], (Phase::Teardown, 1.5));
        let b = a.clone();
        assert_eq!(
            RunReport::phase_line(&[a, b]),
            "cluster up 4.0s, setup 0.0s, steps 6.0s, settle 10.0s, checks 0.0s, teardown 3.0s"
        );
    }

    #[test]
    fn wall_time_median_and_max() {
        let mk = |t: f64| {
            let mut r = RunReport::new("s", "r", std::path::Path::new("/tmp"));
            r.total_seconds = t;
            r
        };
        assert_eq!(
            RunReport::wall_time_stats(&[mk(3.0), mk(1.0), mk(2.0)]),
            Some((2.0, 3.0))
        );
        assert_eq!(
            RunReport::wall_time_stats(&[mk(4.0), mk(1.0)]),
            Some((2.5, 4.0))
        );
        assert_eq!(RunReport::wall_time_stats(&[]), None);
    }
}
