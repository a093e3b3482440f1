//! What a run did and how long each part took: printed as a table and kept
//! as `report.json` in the run directory.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub label: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub file: PathBuf,
    pub seed: u64,
    pub run_id: String,
    pub run_dir: PathBuf,
    pub verdict: Verdict,
    pub error: Option<String>,
    pub rows: Vec<Row>,
    pub total_seconds: f64,
}

impl RunReport {
    /// An empty passing report for a run, to be filled by a test.
    pub fn new(scenario: &str, run_id: &str, run_dir: &std::path::Path) -> Self {
        RunReport {
            scenario: scenario.to_string(),
            file: PathBuf::new(),
            seed: 0,
            run_id: run_id.to_string(),
            run_dir: run_dir.to_path_buf(),
            verdict: Verdict::Pass,
            error: None,
            rows: Vec::new(),
            total_seconds: 0.0,
        }
    }

    /// Adds a timing row; consecutive rows with the same label merge, so a
    /// multi-step phase ("kill+restart") reads as one figure.
    pub fn push(&mut self, label: &str, took: Duration) {
        let secs = took.as_secs_f64();
        match self.rows.last_mut() {
            Some(last) if last.label == label => last.seconds += secs,
            _ => self.rows.push(Row {
                label: label.to_string(),
                seconds: secs,
            }),
        }
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
            match self.verdict {
                Verdict::Pass => "PASS",
                Verdict::Fail => "FAIL",
            }
        );
        out.push_str(&format!("  {:<width$}  {:>9}\n", "step", "wall time"));
        for r in &self.rows {
            out.push_str(&format!("  {:<width$}  {:>8.2}s\n", r.label, r.seconds));
        }
        out.push_str(&format!(
            "  {:<width$}  {:>8.2}s\n",
            "total", self.total_seconds
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_rows_with_one_label_merge() {
        let mut r = RunReport {
            scenario: "s".into(),
            file: "s.toml".into(),
            seed: 1,
            run_id: "r".into(),
            run_dir: "/tmp/r".into(),
            verdict: Verdict::Pass,
            error: None,
            rows: vec![],
            total_seconds: 3.0,
        };
        r.push("kill+restart", Duration::from_millis(500));
        r.push("kill+restart", Duration::from_millis(1500));
        r.push("mine", Duration::from_secs(1));
        assert_eq!(r.rows.len(), 2);
        assert!((r.rows[0].seconds - 2.0).abs() < 1e-9);
        let t = r.table();
        assert!(t.contains("kill+restart      2.00s"), "{t}");
        assert!(t.starts_with("scenario s (seed 1), run r: PASS"), "{t}");
    }
}
