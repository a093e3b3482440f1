//! The per-party check over the accounting's lines.

use crate::accounting::{PartyLine, PARTY_ROUNDING_SAT};
use crate::report::CheckResult;

/// Per-party accounting: every end of every channel holds what it
/// should, give or take its rounding (`accounting`).
pub fn parties(lines: &[PartyLine]) -> CheckResult {
    let bad: Vec<&PartyLine> = lines
        .iter()
        .filter(|l| l.short_sat().unsigned_abs() > PARTY_ROUNDING_SAT as u128)
        .collect();
    let detail = if bad.is_empty() {
        format!(
            "every end of every channel holds what it should (within {PARTY_ROUNDING_SAT} sat): {}",
            lines
                .iter()
                .map(PartyLine::describe)
                .collect::<Vec<_>>()
                .join("; ")
        )
    } else {
        bad.iter()
            .map(|l| l.describe())
            .collect::<Vec<_>>()
            .join("; ")
    };
    CheckResult::new("parties", bad.is_empty(), detail)
}
