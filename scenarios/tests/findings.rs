//! Every finding a catalog scenario reproduces is a heading of
//! docs/findings.md (by its anchor), so an expected failure always points
//! at the write-up of the bug it shows. No Docker.

use std::collections::BTreeSet;
use std::path::Path;

use harness::Scenario;

/// A Markdown heading's anchor, as GitHub makes it: lowercase, spaces to
/// `-`, everything but letters, digits, `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn anchors_follow_github() {
    assert_eq!(
        anchor("vlsd cannot sign the holder HTLC-timeout claim"),
        "vlsd-cannot-sign-the-holder-htlc-timeout-claim"
    );
    assert_eq!(
        anchor("bitcoind aborts at start: \"Unexpected error 9\""),
        "bitcoind-aborts-at-start-unexpected-error-9"
    );
}

#[test]
fn every_finding_named_by_a_scenario_is_written_up() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let findings = std::fs::read_to_string(root.join("docs/findings.md"))?;
    let headings: BTreeSet<String> = findings
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(anchor)
        .collect();
    let mut named = 0;
    for entry in std::fs::read_dir(root.join("scenarios/catalog"))? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        for s in Scenario::load_all(&path)? {
            if let Some(f) = &s.expect.finding {
                named += 1;
                assert!(
                    headings.contains(f),
                    "{}: expect.finding `{f}` is no heading of docs/findings.md (anchors: {headings:?})",
                    path.display()
                );
            }
        }
    }
    assert!(named > 0, "no catalog scenario reproduces a finding");
    Ok(())
}
