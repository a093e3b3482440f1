//! What a run does, as it happens: the runner emits these and knows nothing
//! of who listens. The run report (timeline, JSON, JUnit) and the progress
//! display are consumers, as nextest keeps its runner apart from its
//! reporter.

use std::time::Duration;

use super::{CheckResult, Verdict};

#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The run's containers are being started (images built first if missing).
    ClusterStarting {
        scenario: String,
    },
    /// Every component is ready; `phases` times the start-up.
    ClusterUp {
        run_id: String,
        run_dir: std::path::PathBuf,
        components: Vec<String>,
        phases: Vec<(String, Duration)>,
    },
    /// A timed part of the run outside the steps (setup, checks, teardown).
    Phase {
        label: String,
        took: Duration,
        phase: super::Phase,
    },
    /// Progress of the setup (a channel usable, setup done).
    Setup {
        text: String,
        detail: Option<String>,
    },
    /// A fault step with a trigger, armed to fire later.
    CheckpointArmed {
        step: usize,
        line: usize,
        label: String,
        name: String,
        trigger: String,
        fault: String,
    },
    CheckpointFired {
        step: usize,
        name: String,
        action: String,
        evidence: String,
    },
    StepStarted {
        step: usize,
        of: usize,
        label: String,
    },
    /// Something a step saw on its way that is worth a line (a node that
    /// went down while it sent a payment).
    StepNote {
        text: String,
        detail: Option<String>,
    },
    /// A fault step applied its fault (or a heal step healed).
    FaultApplied {
        label: String,
        detail: String,
    },
    FaultHealed {
        label: String,
        detail: String,
    },
    StepEnded {
        step: usize,
        line: usize,
        label: String,
        took: Duration,
        outcome: StepOutcome,
    },
    /// A component exited by itself and its supervisor started it again.
    ComponentRestarted {
        text: String,
        detail: String,
    },
    CheckDone(CheckResult),
    /// A choice the run's seed made (bit offsets, a loss pattern's phase):
    /// the same seed must make it again.
    Chosen {
        text: String,
    },
    /// Figures the run reached (each party's total, read for the final
    /// checks; what an operator's recovery brought home): what one seed
    /// must reach again.
    Figures {
        lines: Vec<String>,
    },
    /// Per-party accounting at the end, and what recovery brought home.
    Accounting(crate::accounting::Accounting),
    /// The run failed; the first failure is the run's error.
    RunFailed {
        error: String,
    },
    /// The run was held against the finding it reproduces: its verdict now
    /// says whether it failed as the finding says (and why not, if not).
    Judged {
        verdict: Verdict,
        error: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub enum StepOutcome {
    /// Done; `detail` is what it produced, when worth a line of its own.
    Done {
        detail: Option<String>,
    },
    Failed {
        error: String,
    },
}

impl StepOutcome {
    pub fn ok(&self) -> bool {
        matches!(self, StepOutcome::Done { .. })
    }
}

/// A consumer of a run's events. `at` is the time since the run started.
pub trait Reporter {
    fn on(&mut self, at: Duration, event: &RunEvent);
}
