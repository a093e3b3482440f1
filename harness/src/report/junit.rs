//! JUnit XML for a whole `harness run`, one test case per scenario run,
//! through quick-junit, which escapes and strips what XML cannot carry
//! (control characters, ANSI codes from a log).

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{RunReport, Verdict};

/// One JUnit XML document for `reports`, or why it could not be written.
pub fn junit(reports: &[RunReport]) -> Result<String, quick_junit::SerializeError> {
    let mut suite = TestSuite::new("scenarios");
    let mut total = std::time::Duration::ZERO;
    for r in reports {
        let took = std::time::Duration::from_secs_f64(r.total_seconds.max(0.0));
        total += took;
        let status = match r.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            // An expected failure is the outcome the scenario asks for; its
            // finding is named in the output.
            Verdict::Xfail => TestCaseStatus::success(),
            Verdict::Fail | Verdict::Xpass => {
                let msg = r.error.as_deref().unwrap_or("failed");
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(msg.lines().next().unwrap_or("failed"));
                s.set_description(msg);
                s
            }
        };
        let mut case = TestCase::new(r.scenario.as_str(), status);
        case.set_classname("scenarios");
        case.set_time(took);
        case.extra
            .insert("file".into(), r.file.display().to_string().into());
        case.set_system_out(format!(
            "{}{}: run {} (seed {}); artifacts {}; replay: {}",
            r.verdict.word(),
            match (r.verdict, &r.error) {
                (Verdict::Xfail, Some(e)) => format!(" ({e})"),
                _ => String::new(),
            },
            r.run_id,
            r.seed,
            r.run_dir.display(),
            r.replay_command()
        ));
        suite.add_test_case(case);
    }
    suite.set_time(total);
    let mut report = Report::new("vls-chaos");
    report.set_time(total);
    report.add_test_suite(suite);
    report.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_failures_and_escapes_what_xml_cannot_carry() {
        let mut a = RunReport::new("a<b", "r1", std::path::Path::new("/tmp/r1"));
        a.total_seconds = 1.5;
        let mut b = RunReport::new("b", "r2", std::path::Path::new("/tmp/r2"));
        b.verdict = Verdict::Fail;
        b.error = Some("step 3 \"pay\": timeout \u{1b}[31mred\u{1b}[0m \u{7}bell".into());
        let x = junit(&[a, b]).expect("serializes");
        assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
        assert!(x.contains("name=\"a&lt;b\""), "{x}");
        assert!(x.contains("step 3 &quot;pay&quot;: timeout"), "{x}");
        assert!(!x.contains('\u{1b}') && !x.contains('\u{7}'), "{x}");
        // What the XML says is what a JUnit reader reads back.
        let back = Report::deserialize_from_str(&x).expect("parses back");
        assert_eq!(back.tests, 2);
        assert_eq!(back.failures, 1);
    }
}
