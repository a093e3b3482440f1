//! The recovery-rate matrix: for each run of a disaster scenario, what the
//! operator's nodes (those signing with vlsd) were due, what came home,
//! the fees paid on the way, and every satoshi lost with where it went.
//! Pure: rows from run reports, rendered as Markdown and JSON.

use serde::Serialize;

use super::{RunReport, Verdict};

/// One run, from its operator's side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateRow {
    pub scenario: String,
    pub case: String,
    pub seed: u64,
    pub verdict: String,
    /// The nodes whose funds the row counts (signing with vlsd).
    pub operator: Vec<String>,
    /// What they were due, per the run's payments: the sum of their
    /// channel ends' expectations.
    pub recoverable_sat: u64,
    pub recovered_sat: u64,
    pub fees_sat: u64,
    pub lost_sat: u64,
    /// Where each lost satoshi went, or why the run has no figures.
    pub lost: Vec<String>,
    /// recovered / (recoverable - fees); `None` without figures.
    pub rate: Option<f64>,
    /// The fewest blocks to spare before a claim's deadline when the
    /// recovery library sent it; `None` when it ran no recovery.
    pub deadline_slack: Option<i64>,
    /// Who brought the funds home: the node itself (LDK through vlsd), the
    /// recovery library, or vlsd's own `--recover-to`.
    pub recovered_by: String,
}

/// The row of `report`, counting `operator`'s channel ends; `finding` is
/// the scenario's expected failure, if it has one.
pub fn row(
    report: &RunReport,
    operator: &[String],
    recovered_by: &str,
    finding: Option<&str>,
) -> RateRow {
    let mut r = RateRow {
        scenario: report.scenario.clone(),
        case: report.case.clone(),
        seed: report.seed,
        verdict: format!("{:?}", report.verdict).to_lowercase(),
        operator: operator.to_vec(),
        recoverable_sat: 0,
        recovered_sat: 0,
        fees_sat: 0,
        lost_sat: 0,
        lost: Vec::new(),
        rate: None,
        deadline_slack: None,
        recovered_by: recovered_by.to_string(),
    };
    let Some(a) = &report.accounting else {
        r.lost
            .push(match (&report.verdict, finding, &report.error) {
                (Verdict::Xfail, Some(f), _) => {
                    format!("not measured: expected failure, docs/findings.md#{f}")
                }
                (_, _, Some(e)) => format!("not measured: {}", first_line(e)),
                _ => "not measured: the scenario does not account per party".to_string(),
            });
        return r;
    };
    for l in a.parties.iter().filter(|l| operator.contains(&l.node)) {
        r.recoverable_sat += l.expected_sat;
        r.recovered_sat += l.held_sat;
        r.fees_sat += l.fees_sat();
        let short = l.short_sat();
        if short > 0 {
            r.lost_sat += short as u64;
            let gainers: Vec<String> = a
                .parties
                .iter()
                .filter(|o| o.channel == l.channel && o.node != l.node && o.short_sat() < 0)
                .map(|o| format!("{} holds {} sat more than its due", o.node, -o.short_sat()))
                .collect();
            let unclaimed: Vec<String> = l
                .unclaimed
                .iter()
                .map(|(o, v)| format!("{v} sat unclaimed at {o}"))
                .collect();
            r.lost.push(format!(
                "{} in {}: {short} sat{}",
                l.node,
                l.channel,
                [gainers, unclaimed]
                    .concat()
                    .iter()
                    .map(|s| format!("; {s}"))
                    .collect::<String>()
            ));
        }
    }
    // What the recovery could not bring home is a loss only if it was due
    // (an HTLC whose payment never completed is not).
    let note = if r.lost_sat > 0 { "" } else { "not due: " };
    for rec in a.recoveries.iter().filter(|x| operator.contains(&x.node)) {
        let taken = rec
            .taken
            .iter()
            .map(|t| format!("{note}recovery: taken by another: {t}"));
        let short = rec
            .shortfalls
            .iter()
            .map(|s| format!("{note}recovery: cannot recover {s}"));
        r.lost.extend(taken.chain(short));
        if let Some(s) = rec.deadline_slack {
            r.deadline_slack = Some(r.deadline_slack.map_or(s, |d: i64| d.min(s)));
        }
    }
    let due = r.recoverable_sat.saturating_sub(r.fees_sat);
    r.rate = (due > 0).then(|| r.recovered_sat as f64 / due as f64);
    r
}

/// An error's first line, at most 200 characters, for a table cell.
fn first_line(e: &str) -> String {
    e.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// The rate over every measured row: what came home of what was due less
/// the fees, summed.
pub fn total(rows: &[RateRow]) -> Option<f64> {
    let measured = rows.iter().filter(|r| r.rate.is_some());
    let (home, due) = measured.fold((0u64, 0u64), |(h, d), r| {
        (
            h + r.recovered_sat,
            d + r.recoverable_sat.saturating_sub(r.fees_sat),
        )
    });
    (due > 0).then(|| home as f64 / due as f64)
}

pub fn markdown(rows: &[RateRow]) -> String {
    let mut out = String::from(
        "| scenario | seed | verdict | recovered by | recoverable sat | recovered sat | fees sat | lost sat | rate | deadline slack (blocks) | where lost satoshis went |\n|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        // A matrix case's name already carries its case.
        let name = &r.scenario;
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.seed,
            r.verdict,
            r.recovered_by,
            r.recoverable_sat,
            r.recovered_sat,
            r.fees_sat,
            r.lost_sat,
            r.rate
                .map_or("—".to_string(), |x| format!("{:.2} %", x * 100.0)),
            r.deadline_slack.map_or("—".to_string(), |s| s.to_string()),
            if r.lost.is_empty() {
                "none".to_string()
            } else {
                r.lost.join("<br>").replace('|', "/")
            },
        ));
    }
    out.push_str(&format!(
        "\nRecovery rate over every measured run: {} (recovered ÷ (recoverable − fees)).\n",
        total(rows).map_or("—".to_string(), |x| format!("{:.2} %", x * 100.0))
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::{Accounting, PartyLine};

    fn line(node: &str, expected: u64, held: u64, fee: u64) -> PartyLine {
        PartyLine {
            node: node.into(),
            channel: "alice-bob".into(),
            expected_sat: expected,
            held_sat: held,
            fees: vec![("t".into(), fee)],
            unclaimed: Vec::new(),
            punished: false,
        }
    }

    fn report(parties: Vec<PartyLine>) -> RunReport {
        let mut r = RunReport::new("s", "run", std::path::Path::new("/tmp"));
        r.accounting = Some(Accounting {
            parties,
            recoveries: Vec::new(),
        });
        r
    }

    #[test]
    fn a_whole_recovery_is_100_percent_of_what_was_due_less_fees() {
        let r = row(
            &report(vec![
                line("alice", 700_000, 698_000, 2_000),
                line("bob", 300_000, 299_000, 1_000),
            ]),
            &["alice".into()],
            "recovery library",
            None,
        );
        assert_eq!(
            (r.recoverable_sat, r.recovered_sat, r.fees_sat, r.lost_sat),
            (700_000, 698_000, 2_000, 0)
        );
        assert_eq!(r.rate, Some(1.0));
        assert!(r.lost.is_empty());
    }

    #[test]
    fn a_loss_is_named_with_who_holds_it() {
        let r = row(
            &report(vec![
                line("alice", 900_000, 698_000, 2_000),
                line("bob", 100_000, 299_800, 200),
            ]),
            &["alice".into()],
            "recovery library",
            None,
        );
        assert_eq!(r.lost_sat, 200_000);
        assert!(
            r.lost[0].contains("alice in alice-bob: 200000 sat"),
            "{:?}",
            r.lost
        );
        assert!(
            r.lost[0].contains("bob holds 200000 sat more"),
            "{:?}",
            r.lost
        );
        let rate = r.rate.unwrap_or_default();
        assert!((rate - 698_000.0 / 898_000.0).abs() < 1e-9);
        assert!(markdown(&[r]).contains("77.73 %"));
    }

    #[test]
    fn a_run_without_figures_is_not_measured() {
        let mut rep = RunReport::new("s", "run", std::path::Path::new("/tmp"));
        rep.verdict = Verdict::Xfail;
        rep.error = Some("vlsd panicked".into());
        let r = row(&rep, &["alice".into()], "node", Some("vlsd-panics"));
        assert_eq!(r.rate, None);
        assert_eq!(
            r.lost[0],
            "not measured: expected failure, docs/findings.md#vlsd-panics"
        );
        assert_eq!(total(&[r]), None);
    }
}
