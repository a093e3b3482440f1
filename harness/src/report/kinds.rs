//! The side-by-side table of `harness kinds`: every scenario run with its
//! vlsd-signed nodes as lnnode (LDK) and as Core Lightning, the same steps
//! and faults. Pure: rows from run reports, rendered as Markdown and JSON.

use serde::Serialize;

use super::{RunReport, Verdict};

/// How one scenario case came out on one node kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// `pass`, `fail`, `xfail`, `xpass`, or `n/a` when it could not run.
    pub verdict: String,
    pub seconds: Option<f64>,
    /// Where and why it failed, or why it could not run; empty on a pass.
    pub note: String,
}

impl Side {
    pub fn of(report: &RunReport) -> Side {
        let note = match report.verdict {
            Verdict::Pass => String::new(),
            _ => {
                let step = report
                    .steps
                    .iter()
                    .find(|s| !s.ok)
                    .map(|s| format!("step {} `{}`: ", s.index + 1, s.label))
                    .unwrap_or_default();
                format!("{step}{}", why(report.error.as_deref().unwrap_or("")))
            }
        };
        Side {
            verdict: format!("{:?}", report.verdict).to_lowercase(),
            seconds: Some(report.total_seconds),
            note,
        }
    }

    /// A case that did not run on this kind, and why.
    pub fn not_run(why: &str) -> Side {
        Side {
            verdict: "n/a".to_string(),
            seconds: None,
            note: why.to_string(),
        }
    }

    fn cell(&self) -> String {
        let mut c = self.verdict.to_uppercase();
        if let Some(s) = self.seconds {
            c.push_str(&format!(" ({s:.0} s)"));
        }
        if !self.note.is_empty() {
            c.push_str(": ");
            c.push_str(&self.note.replace('|', "\\|"));
        }
        c
    }
}

/// A note is one line of a table; the run's own report has the rest.
const NOTE_CHARS: usize = 120;

/// An error's first line and, when it goes on (a log excerpt of a
/// component that died), the last line of it that reports an error or a
/// panic (else its last): where it failed and what the component said.
/// Terminal colour codes (remote_hsmd_socket writes them) go.
fn why(error: &str) -> String {
    let lines: Vec<String> = error
        .lines()
        .map(strip_ansi)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let Some((first, rest)) = lines.split_first() else {
        return String::new();
    };
    let first = &drop_scenario_dir(first);
    let telling = |l: &&String| {
        let l = l.to_lowercase();
        (l.contains("error") || l.contains("panicked") || l.contains("failure"))
            && !l.starts_with("note:")
    };
    let said = rest.iter().rev().find(telling).or_else(|| rest.last());
    match said {
        None => clip(first, NOTE_CHARS),
        Some(said) => format!(
            "{} … {}",
            clip(first, NOTE_CHARS),
            clip(drop_source_path(said), NOTE_CHARS)
        ),
    }
}

/// An error names its scenario by the path it was loaded from; the file's
/// name is enough in a table of catalog files, and the rest differs from
/// one machine to the next.
fn drop_scenario_dir(line: &str) -> String {
    let Some(end) = line.find(".toml:") else {
        return line.to_string();
    };
    let token = line[..end].rfind(' ').map_or(0, |i| i + 1);
    match line[token..end].rfind('/') {
        Some(slash) => format!("{}{}", &line[..token], &line[token + slash + 1..]),
        None => line.to_string(),
    }
}

/// A Rust log line names its source file by a long registry path; the
/// message after it is what matters in a table cell.
fn drop_source_path(line: &str) -> &str {
    match line.find(".rs:") {
        Some(i) => {
            let after = &line[i + 4..];
            let after = after.trim_start_matches(|c: char| c.is_ascii_digit() || c == ':');
            after.trim_start()
        }
        None => line,
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ended by a letter.
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindsRow {
    pub scenario: String,
    pub lnnode: Side,
    pub cln: Side,
}

impl KindsRow {
    /// Both ran and came out differently (a pass against a failure).
    pub fn differs(&self) -> bool {
        let ok = |s: &Side| matches!(s.verdict.as_str(), "pass" | "xpass");
        self.cln.verdict != "n/a"
            && self.lnnode.verdict != "n/a"
            && ok(&self.cln) != ok(&self.lnnode)
    }
}

pub fn markdown(rows: &[KindsRow]) -> String {
    let count = |f: &dyn Fn(&KindsRow) -> bool| rows.iter().filter(|r| f(r)).count();
    let mut out = String::new();
    out.push_str(&format!(
        "{} scenario cases. lnnode + vlsd: {} pass, {} expected failures, {} fail. \
         Core Lightning + vlsd: {} ran, {} pass, {} fail, {} could not run. {} differ.\n\n",
        rows.len(),
        count(&|r| r.lnnode.verdict == "pass"),
        count(&|r| r.lnnode.verdict == "xfail"),
        count(&|r| matches!(r.lnnode.verdict.as_str(), "fail" | "xpass")),
        count(&|r| r.cln.verdict != "n/a"),
        count(&|r| r.cln.verdict == "pass"),
        count(&|r| r.cln.verdict == "fail"),
        count(&|r| r.cln.verdict == "n/a"),
        count(&|r| r.differs()),
    ));
    out.push_str("| scenario | lnnode + vlsd | Core Lightning + vlsd | differs |\n");
    out.push_str("|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.scenario,
            r.lnnode.cell(),
            r.cln.cell(),
            if r.differs() { "yes" } else { "" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::StepResult;

    fn report(verdict: Verdict, error: Option<&str>) -> RunReport {
        let mut r = RunReport::new("s", "run", std::path::Path::new("/tmp"));
        r.verdict = verdict;
        r.error = error.map(str::to_string);
        r.total_seconds = 12.4;
        r.steps = vec![
            StepResult {
                index: 0,
                line: 10,
                label: "open".into(),
                ok: true,
                seconds: 1.0,
            },
            StepResult {
                index: 1,
                line: 14,
                label: "pay alice -> bob".into(),
                ok: verdict == Verdict::Pass,
                seconds: 1.0,
            },
        ];
        r
    }

    #[test]
    fn a_failure_names_its_step_and_the_first_line_of_why() {
        let s = Side::of(&report(Verdict::Fail, Some("\nno route")));
        assert_eq!(s.verdict, "fail");
        assert_eq!(s.note, "step 2 `pay alice -> bob`: no route");
        let s = Side::of(&report(
            Verdict::Fail,
            Some("alice stopped; its log:\n\u{1b}[31mERROR\u{1b}[0m /x/adapter.rs:151: feerate below minimum\nLost connection\nnote: run with RUST_BACKTRACE=1\n"),
        ));
        assert_eq!(
            s.note,
            "step 2 `pay alice -> bob`: alice stopped; its log: … feerate below minimum"
        );
        assert_eq!(Side::of(&report(Verdict::Pass, None)).note, "");
    }

    #[test]
    fn rows_differ_only_when_both_ran_and_one_failed() {
        let pass = Side::of(&report(Verdict::Pass, None));
        let fail = Side::of(&report(Verdict::Fail, Some("x")));
        let row = |l: &Side, c: &Side| KindsRow {
            scenario: "s".into(),
            lnnode: l.clone(),
            cln: c.clone(),
        };
        assert!(row(&pass, &fail).differs());
        assert!(!row(&pass, &pass).differs());
        assert!(!row(&pass, &Side::not_run("hold invoices")).differs());
        let md = markdown(&[row(&pass, &fail), row(&pass, &Side::not_run("a|b"))]);
        assert!(
            md.starts_with("2 scenario cases. lnnode + vlsd: 2 pass"),
            "{md}"
        );
        assert!(
            md.contains("| s | PASS (12 s) | FAIL (12 s): step 2 `pay alice -> bob`: x | yes |"),
            "{md}"
        );
        assert!(md.contains("N/A: a\\|b |  |"), "{md}");
    }

    #[test]
    fn a_scenario_is_named_by_its_file_not_its_path() {
        assert_eq!(
            drop_scenario_dir("assertion failed: /work/x/scenarios/catalog/a-b.toml:26: step 2"),
            "assertion failed: a-b.toml:26: step 2"
        );
        assert_eq!(drop_scenario_dir("a-b.toml:3: bad"), "a-b.toml:3: bad");
        assert_eq!(drop_scenario_dir("no file here"), "no file here");
    }

    #[test]
    fn long_notes_are_clipped() {
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc", 3), "abc");
    }
}
