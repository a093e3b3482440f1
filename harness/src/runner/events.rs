//! The runner's side of its events: it stamps each with the time since the
//! run started and hands it to every consumer (the run report, the progress
//! display). Consumers never feed back into the run.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use crate::progress::RunProgress;
use crate::report::event::{Reporter, RunEvent};
use crate::report::RunReport;
use crate::sync::lock;

pub struct Events {
    started: Instant,
    consumers: Mutex<Consumers>,
}

struct Consumers {
    report: RunReport,
    progress: RunProgress,
}

impl Events {
    /// Events of a run that started at `started`, folded into `report`.
    pub fn new(started: Instant, report: RunReport) -> Self {
        Events {
            started,
            consumers: Mutex::new(Consumers {
                report,
                progress: RunProgress::default(),
            }),
        }
    }

    pub fn emit(&self, event: RunEvent) {
        let at = self.started.elapsed();
        let mut c = lock(&self.consumers);
        c.progress.on(at, &event);
        c.report.on(at, &event);
    }

    /// The report as folded so far (the run's last events included).
    pub fn into_report(self) -> RunReport {
        let mut report = self
            .consumers
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .report;
        report.total_seconds = self.started.elapsed().as_secs_f64();
        report
    }
}
