//! Progress for long steps: a spinner with elapsed time on a terminal, plain
//! start and end lines otherwise (CI logs, test output).

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::report::event::{Reporter, RunEvent};

/// Every bar of the process on one display, so steps that run side by side
/// (image builds) get a line each instead of drawing over each other.
fn display() -> &'static MultiProgress {
    static DISPLAY: OnceLock<MultiProgress> = OnceLock::new();
    DISPLAY.get_or_init(MultiProgress::new)
}

pub struct Step {
    label: String,
    start: Instant,
    bar: Option<ProgressBar>,
    /// How long it took last time; the bar counts down from it.
    estimate: Option<Duration>,
}

impl Step {
    pub fn begin(label: impl Into<String>) -> Step {
        Step::start(label.into(), None)
    }

    /// A step that took about `estimate` last time: the display says how
    /// much of that is left.
    pub fn begin_estimated(label: impl Into<String>, estimate: Duration) -> Step {
        Step::start(label.into(), Some(estimate))
    }

    fn start(label: String, estimate: Option<Duration>) -> Step {
        let bar = if std::io::stderr().is_terminal() {
            let (bar, template) = match estimate {
                Some(e) => (
                    ProgressBar::new(e.as_secs().max(1)),
                    "{spinner} [{elapsed_precise}] {msg} (about {eta} left)",
                ),
                None => (
                    ProgressBar::new_spinner(),
                    "{spinner} [{elapsed_precise}] {msg}",
                ),
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            let bar = display().add(bar);
            bar.set_message(label.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            match estimate {
                Some(e) => eprintln!(
                    "vls-chaos: {label} ... (about {} min, as last time)",
                    e.as_secs().div_ceil(60)
                ),
                None => eprintln!("vls-chaos: {label} ..."),
            }
            None
        };
        Step {
            label,
            start: Instant::now(),
            bar,
            estimate,
        }
    }

    /// Shows the latest line of a child's output next to the label.
    pub fn note(&self, line: &str) {
        if let Some(bar) = &self.bar {
            let short: String = line.chars().take(80).collect();
            bar.set_message(format!("{}: {short}", self.label));
            if let Some(e) = self.estimate {
                // Past the estimate, the bar stays just short of its end.
                let elapsed = self
                    .start
                    .elapsed()
                    .min(e.saturating_sub(Duration::from_secs(1)));
                bar.set_position(elapsed.as_secs());
            }
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
