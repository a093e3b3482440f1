//! Progress for long steps: a spinner with elapsed time on a terminal, plain
//! start and end lines otherwise (CI logs, test output).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::report::event::{Reporter, RunEvent};

pub struct Step {
    label: String,
    start: Instant,
    bar: Option<ProgressBar>,
}

impl Step {
    pub fn begin(label: impl Into<String>) -> Step {
        let label = label.into();
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}") {
                bar.set_style(style);
            }
            bar.set_message(label.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            eprintln!("vls-chaos: {label} ...");
            None
        };
        Step {
            label,
            start: Instant::now(),
            bar,
        }
    }

    /// Shows the latest line of a child's output next to the label.
    pub fn note(&self, line: &str) {
        if let Some(bar) = &self.bar {
            let short: String = line.chars().take(80).collect();
            bar.set_message(format!("{}: {short}", self.label));
        }
    }

    pub fn finish(self, outcome: &str) -> Duration {
        let took = self.start.elapsed();
        let msg = format!("{}: {outcome} in {:.1}s", self.label, took.as_secs_f64());
        match &self.bar {
            Some(bar) => bar.finish_with_message(msg),
            None => eprintln!("vls-chaos: {msg}"),
        }
        took
    }
}

/// The progress display as a consumer of a run's events: one line (or
/// spinner) for the cluster start-up and one per step.
#[derive(Default)]
pub struct RunProgress {
    scenario: String,
    current: Option<Step>,
}

impl RunProgress {
    fn begin(&mut self, label: String) {
        if let Some(open) = self.current.take() {
            open.finish("ended");
        }
        self.current = Some(Step::begin(label));
    }

    fn finish(&mut self, outcome: &str) {
        if let Some(open) = self.current.take() {
            open.finish(outcome);
        }
    }
}

impl Reporter for RunProgress {
    fn on(&mut self, _at: Duration, event: &RunEvent) {
        match event {
            RunEvent::ClusterStarting { scenario } => {
                self.scenario = scenario.clone();
                self.begin(format!("{scenario}: cluster up"));
            }
            RunEvent::ClusterUp { .. } => self.finish("ready"),
            RunEvent::StepStarted { step, of, label } => {
                self.begin(format!("[{}/{of}] {label}", step + 1))
            }
            RunEvent::StepEnded { outcome, .. } => {
                self.finish(if outcome.ok() { "ok" } else { "FAILED" })
            }
            _ => {}
        }
    }
}
