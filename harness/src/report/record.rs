//! The run report as a fold of the run's events: the timeline, the timing
//! rows, the steps, the checkpoints and the checks each come from the event
//! that says so, and nowhere else.

use std::time::Duration;

use super::event::{Reporter, RunEvent, StepOutcome};
use super::{CheckpointResult, Entry, EntryKind, Phase, RunReport, StepResult, Verdict};

impl RunReport {
    fn line(&mut self, at: Duration, kind: EntryKind, text: &str, detail: Option<String>) {
        self.timeline.push(Entry {
            at_ms: at.as_millis() as u64,
            kind,
            text: text.to_string(),
            detail,
        });
    }

    /// Checkpoints in the order they fired, then the ones that never did.
    fn order_checkpoints(&mut self) {
        self.checkpoints
            .sort_by_key(|c| (c.at_ms.is_none(), c.at_ms, c.step));
    }

    fn on_step_ended(&mut self, at: Duration, e: (usize, usize, &str, Duration, &StepOutcome)) {
        let (index, line, label, took, outcome) = e;
        self.push(label, took, Phase::Steps);
        self.steps.push(StepResult {
            index,
            line,
            label: label.to_string(),
            ok: outcome.ok(),
            seconds: took.as_secs_f64(),
        });
        match outcome {
            StepOutcome::Done { detail: Some(d) } => {
                self.line(at, EntryKind::StepDone, label, Some(d.clone()))
            }
            StepOutcome::Done { detail: None } => {}
            StepOutcome::Failed { error } => {
                self.line(at, EntryKind::StepFailed, label, Some(error.clone()))
            }
        }
    }
}

impl Reporter for RunReport {
    fn on(&mut self, at: Duration, event: &RunEvent) {
        match event {
            RunEvent::ClusterStarting { scenario } => self.scenario = scenario.clone(),
            RunEvent::ClusterUp {
                run_id,
                run_dir,
                components,
                phases,
            } => {
                self.run_id = run_id.clone();
                self.run_dir = run_dir.clone();
                for (label, took) in phases {
                    self.push(label, *took, Phase::ClusterUp);
                }
                self.line(
                    at,
                    EntryKind::Setup,
                    "cluster up",
                    Some(components.join(", ")),
                );
            }
            RunEvent::Phase { label, took, phase } => self.push(label, *took, *phase),
            RunEvent::Setup { text, detail } => {
                self.line(at, EntryKind::Setup, text, detail.clone())
            }
            RunEvent::CheckpointArmed {
                step,
                line,
                label,
                name,
                trigger,
                fault,
            } => {
                let text = format!("{name}: {fault} when {trigger}");
                self.line(at, EntryKind::Armed, &text, None);
                self.checkpoints.push(CheckpointResult {
                    step: *step,
                    name: name.clone(),
                    trigger: trigger.clone(),
                    fault: fault.clone(),
                    fired: false,
                    at_ms: None,
                });
                // An armed step is done once armed; its firing is the checkpoint's.
                self.steps.push(StepResult {
                    index: *step,
                    line: *line,
                    label: label.clone(),
                    ok: true,
                    seconds: 0.0,
                });
            }
            RunEvent::CheckpointFired {
                step,
                name,
                action,
                evidence,
            } => {
                let text = format!("{name}: {action}");
                self.line(at, EntryKind::Fired, &text, Some(evidence.clone()));
                if let Some(c) = self.checkpoints.iter_mut().find(|c| c.step == *step) {
                    c.fired = true;
                    c.at_ms = Some(at.as_millis() as u64);
                }
                self.order_checkpoints();
            }
            RunEvent::StepStarted { label, .. } => self.line(at, EntryKind::Step, label, None),
            RunEvent::StepNote { text, detail } => {
                self.line(at, EntryKind::Step, text, detail.clone())
            }
            RunEvent::FaultApplied { label, detail } | RunEvent::FaultHealed { label, detail } => {
                self.line(at, EntryKind::Fault, label, Some(detail.clone()))
            }
            RunEvent::StepEnded {
                step,
                line,
                label,
                took,
                outcome,
            } => self.on_step_ended(at, (*step, *line, label, *took, outcome)),
            RunEvent::ComponentRestarted { text, detail } => {
                self.line(at, EntryKind::Fault, text, Some(detail.clone()))
            }
            RunEvent::CheckDone(c) => {
                self.line(at, EntryKind::Check, &c.name, Some(c.detail.clone()));
                self.checks.push(c.clone());
            }
            RunEvent::Chosen { text } => {
                self.line(at, EntryKind::Chosen, text, None);
                self.choices.push(text.clone());
            }
            RunEvent::Figures { lines } => self.figures.extend(lines.iter().cloned()),
            RunEvent::Accounting(a) => self.accounting = Some(a.clone()),
            RunEvent::RunFailed { error } => {
                self.verdict = Verdict::Fail;
                self.error.get_or_insert_with(|| error.clone());
            }
            RunEvent::Judged { verdict, error } => {
                self.verdict = *verdict;
                if error.is_some() {
                    self.error.clone_from(error);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CheckResult;

    fn ended(step: usize, ok: bool) -> RunEvent {
        RunEvent::StepEnded {
            step,
            line: 10 + step,
            label: format!("step {step}"),
            took: Duration::from_millis(5),
            outcome: if ok {
                StepOutcome::Done { detail: None }
            } else {
                StepOutcome::Failed {
                    error: "boom".into(),
                }
            },
        }
    }

    #[test]
    fn checkpoints_are_ordered_by_firing_and_steps_by_arrival() {
        let mut r = RunReport::new("s", "", std::path::Path::new("/tmp"));
        for (step, name) in [(0, "first-armed"), (1, "second-armed")] {
            r.on(
                Duration::ZERO,
                &RunEvent::CheckpointArmed {
                    step,
                    line: 1,
                    label: name.into(),
                    name: name.into(),
                    trigger: "t".into(),
                    fault: "f".into(),
                },
            );
        }
        r.on(Duration::from_millis(7), &ended(2, true));
        r.on(
            Duration::from_millis(9),
            &RunEvent::CheckpointFired {
                step: 1,
                name: "second-armed".into(),
                action: "kill".into(),
                evidence: "seen".into(),
            },
        );
        let s = r.stable();
        assert_eq!(
            s.checkpoints,
            vec![
                "second-armed (t -> f): fired",
                "first-armed (t -> f): never fired"
            ]
        );
        assert_eq!(
            s.steps,
            vec!["first-armed: ok", "second-armed: ok", "step 2: ok"]
        );
        assert_eq!(r.checkpoints[0].at_ms, Some(9));
    }

    #[test]
    fn a_failure_keeps_the_first_error_and_checks_keep_their_verdict() {
        let mut r = RunReport::new("s", "", std::path::Path::new("/tmp"));
        r.on(Duration::ZERO, &ended(0, false));
        for error in ["first", "second"] {
            r.on(
                Duration::ZERO,
                &RunEvent::RunFailed {
                    error: error.into(),
                },
            );
        }
        r.on(
            Duration::ZERO,
            &RunEvent::CheckDone(CheckResult::could_not_check("conservation", "bob down")),
        );
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(r.error.as_deref(), Some("first"));
        assert_eq!(
            r.stable().checks,
            vec!["conservation: could not check".to_string()]
        );
        assert_eq!(r.stable().steps, vec!["step 0: FAILED".to_string()]);
    }
}
