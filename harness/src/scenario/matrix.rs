//! A file with a `[matrix]` table stands for one scenario per combination
//! of its values, each run on a fresh cluster: `${key}` in the file's
//! strings is replaced by the case's value before the file is parsed. One
//! file can then sweep a fault over every signer request of an exchange,
//! or every fault kind over one checkpoint, and report each case on its own.
//!
//! The substitution is textual so parse errors keep their line numbers;
//! values are restricted to characters that cannot change the TOML around
//! them.

use std::collections::BTreeMap;

/// One combination: `(key, value)` in key order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Case(pub Vec<(String, String)>);

impl Case {
    /// `key=value,key=value`: how reports and `--case` name the case.
    pub fn label(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn render(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (k, v) in &self.0 {
            out = out.replace(&format!("${{{k}}}"), v);
        }
        out
    }
}

/// Why a matrix is not usable; the caller adds file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatrixError {
    Empty(String),
    BadKey(String),
    BadValue { key: String, value: String },
    TooMany(usize),
}

impl std::fmt::Display for MatrixError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MatrixError::Empty(k) => write!(f, "matrix.{k}: expected at least one value"),
            MatrixError::BadKey(k) => write!(
                f,
                "matrix: key `{k}` must be lower-case letters, digits and `_`"
            ),
            MatrixError::BadValue { key, value } => write!(
                f,
                "matrix.{key}: value `{value}` may only hold letters, digits and `_.:-`"
            ),
            MatrixError::TooMany(n) => write!(
                f,
                "matrix: {n} combinations; at most {MAX_CASES} (each runs its own cluster)"
            ),
        }
    }
}

/// Each case starts its own containers; beyond this a file is a stress run.
pub const MAX_CASES: usize = 64;

/// Every combination, the first key varying slowest; one empty case when
/// there is no matrix.
pub fn cases(matrix: &BTreeMap<String, Vec<String>>) -> Result<Vec<Case>, MatrixError> {
    let mut total = 1usize;
    for (k, values) in matrix {
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(MatrixError::BadKey(k.clone()));
        }
        if values.is_empty() {
            return Err(MatrixError::Empty(k.clone()));
        }
        for v in values {
            if v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
            {
                return Err(MatrixError::BadValue {
                    key: k.clone(),
                    value: v.clone(),
                });
            }
        }
        total = total.saturating_mul(values.len());
    }
    if total > MAX_CASES {
        return Err(MatrixError::TooMany(total));
    }
    let mut out = vec![Case::default()];
    for (k, values) in matrix {
        out = out
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut next = c.clone();
                    next.0.push((k.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    Ok(out)
}

/// `text` with every `${...}` read as `0`, so a file whose placeholders
/// stand for numbers still parses as TOML (used to read the matrix only).
pub fn blank(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                out.push('0');
                rest = &rest[start + end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Byte offset of the first `${...}` left after rendering, with its key.
pub fn leftover(text: &str) -> Option<(usize, String)> {
    let start = text.find("${")?;
    let key: String = text[start + 2..]
        .chars()
        .take_while(|c| *c != '}')
        .collect();
    Some((start, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    #[test]
    fn every_combination_in_a_stable_order() {
        let c = cases(&m(&[
            ("at", &["request", "reply"]),
            ("call", &["A", "B", "C"]),
        ]))
        .expect("valid");
        let labels: Vec<String> = c.iter().map(Case::label).collect();
        assert_eq!(
            labels,
            [
                "at=request,call=A",
                "at=request,call=B",
                "at=request,call=C",
                "at=reply,call=A",
                "at=reply,call=B",
                "at=reply,call=C"
            ]
        );
        assert_eq!(
            c[4].render(r#"when = { signer_call = "${call}", at = "${at}" }"#),
            r#"when = { signer_call = "B", at = "reply" }"#
        );
    }

    #[test]
    fn no_matrix_is_one_case() {
        let c = cases(&BTreeMap::new()).expect("valid");
        assert_eq!(c, vec![Case::default()]);
        assert_eq!(c[0].label(), "");
        assert_eq!(c[0].render("x = \"${y}\""), "x = \"${y}\"");
    }

    #[test]
    fn values_cannot_break_out_of_their_string() {
        assert_eq!(
            cases(&m(&[("k", &["a\" , x = \"b"])])),
            Err(MatrixError::BadValue {
                key: "k".into(),
                value: "a\" , x = \"b".into()
            })
        );
        assert_eq!(
            cases(&m(&[("k", &[])])),
            Err(MatrixError::Empty("k".into()))
        );
        assert_eq!(
            cases(&m(&[("K", &["a"])])),
            Err(MatrixError::BadKey("K".into()))
        );
        let big: Vec<String> = (0..9).map(|i| i.to_string()).collect();
        let big: Vec<&str> = big.iter().map(String::as_str).collect();
        assert_eq!(
            cases(&m(&[("a", &big), ("b", &big)])),
            Err(MatrixError::TooMany(81))
        );
    }

    #[test]
    fn blanks_placeholders_wherever_they_stand() {
        assert_eq!(
            blank("nth = ${nth}\nx = \"${call} at ${at}\"\n"),
            "nth = 0\nx = \"0 at 0\"\n"
        );
        assert_eq!(blank("open ${"), "open ${");
    }

    #[test]
    fn finds_a_placeholder_left_unrendered() {
        assert_eq!(
            leftover("a = \"x\"\nb = \"${typo}\""),
            Some((13, "typo".to_string()))
        );
        assert_eq!(leftover("a = 1"), None);
    }
}
