//! `vls-recover watch`, and marking the state a force-close was signed from
//! closed (also for `sweep --broadcast`).

use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use vls_recovery::closed;
use vls_recovery::plan::{Action, Status};
use vls_recovery::store::Held;
use vls_recovery::sweep;
use vls_recovery::watch::{WatchConfig, Watcher};
use vls_recovery::{RecoveryError, Snapshot};

use crate::{label_of, parse_destination, Onchain, Source};

/// The state force-closes are signed from, to be marked closed before one
/// is broadcast. A datadir stays locked while this lives, so no vlsd can
/// start on it meanwhile.
pub(crate) enum Closer {
    Datadir { held: Held, root: PathBuf },
    Backup(PathBuf),
}

impl Closer {
    pub(crate) fn for_source(o: &Onchain) -> Result<Closer, RecoveryError> {
        match &o.source {
            Source::Backup(f) => Ok(Closer::Backup(f.clone())),
            Source::Datadir(d) => {
                let path = d.state_db_path();
                let held = Held::lock(&path)?;
                let now =
                    Snapshot::from_store(&held.read()?, d.network(), &path.display().to_string())?;
                if now != o.snapshot {
                    return Err(RecoveryError::StateInvalid {
                        source_name: path.display().to_string(),
                        key: "(database)".into(),
                        reason: "changed since it was read (did a vlsd run on it?); run again"
                            .into(),
                    });
                }
                Ok(Closer::Datadir {
                    held,
                    root: d.root().to_path_buf(),
                })
            }
        }
    }

    /// Marks `a`'s channel closed; says where.
    pub(crate) fn mark(&mut self, a: &Action) -> Result<String, RecoveryError> {
        let ids = [a.channel_id.clone()];
        match self {
            Closer::Datadir { held, root } => {
                closed::mark_closed(held, &ids)?;
                Ok(format!(
                    "{}: marked closed in {} before its force-close was broadcast",
                    a.channel,
                    root.display()
                ))
            }
            Closer::Backup(f) => {
                let m = closed::mark_backup_closed(f, &ids)?;
                Ok(format!(
                    "{}: force-closed from this backup, recorded in {} (restore refuses it now)",
                    a.channel,
                    m.display()
                ))
            }
        }
    }
}

pub(crate) struct WatchOpts<'a> {
    pub to: &'a str,
    pub fee_rate: Option<u32>,
    pub max_fee_rate: Option<u32>,
    pub urgency_blocks: u32,
    pub poll: Duration,
    pub once: bool,
    pub recorded: bool,
    pub json: bool,
}

/// Runs until every claimed output is spent (or one step with `once`).
/// Ok(true): not finished.
pub(crate) fn run(mut o: Onchain, w: &WatchOpts) -> Result<bool, RecoveryError> {
    if w.recorded && !w.once {
        return Err(RecoveryError::Usage {
            reason: "a recorded chain (--chain-file) never grows: watch it with --once".into(),
        });
    }
    let network = o.snapshot.network()?;
    let destination = parse_destination(w.to, network)?;
    o.signer.allow_destination(w.to)?;
    let (_, ceiling) = sweep::fee_rate_bounds(network);
    let fee_rate = sweep::choose_fee_rate(network, w.fee_rate, o.chain.fee_rate_estimate(6)?)?;
    let max_fee_rate = w.max_fee_rate.unwrap_or(ceiling);
    if max_fee_rate < fee_rate || max_fee_rate > ceiling {
        return Err(RecoveryError::FeeBounds {
            what: "--max-fee-rate".into(),
            rate: u64::from(max_fee_rate),
            min: u64::from(fee_rate),
            max: u64::from(ceiling),
        });
    }
    let mut closer = Closer::for_source(&o)?;
    let mut watcher = Watcher::new(WatchConfig {
        network,
        destination,
        fee_rate,
        max_fee_rate,
        urgency_blocks: w.urgency_blocks,
        scan_from: o.scan_from,
    });
    let bar = if w.json {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {elapsed} [{bar:30}] {pos}/{len} sat home  {msg}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    };
    let mut events = Vec::new();
    let mut notes = Vec::new();
    loop {
        let labels = o.labels.clone();
        let label = move |id0: &str| label_of(&labels, id0);
        // indicatif draws nothing off a terminal: print plainly there.
        let say = |line: &str| match (w.json, bar.is_hidden()) {
            (true, _) => {}
            (false, true) => println!("{line}"),
            (false, false) => bar.println(line),
        };
        let mut before_force_close = |a: &Action| -> Result<(), RecoveryError> {
            let note = closer.mark(a)?;
            say(&note);
            notes.push(note);
            Ok(())
        };
        let step = watcher.step(
            &o.signer,
            o.chain.as_ref(),
            &mut o.known,
            &label,
            &mut before_force_close,
        )?;
        for e in &step.events {
            say(&e.to_string());
        }
        events.extend(step.events.iter().cloned());
        let summary = watcher.summary(&step.plan);
        let open: Vec<&Action> = step
            .plan
            .actions()
            .into_iter()
            .filter(|a| !matches!(a.status, Status::Spent { .. }))
            .collect();
        let next = open
            .iter()
            .filter(|a| matches!(a.status, Status::Waiting { .. }))
            .map(|a| a.earliest_height)
            .min();
        bar.set_length(summary.recovered_sat() + open.iter().map(|a| a.value_sat).sum::<u64>());
        bar.set_position(summary.recovered_sat());
        bar.set_message(format!(
            "tip {}: {} claim(s) open{}",
            step.plan.tip,
            open.len(),
            next.map_or(String::new(), |h| format!(", next ready at {h}"))
        ));
        if step.finished || w.once {
            bar.finish_and_clear();
            if w.json {
                println!(
                    "{}",
                    json!({"source": o.label, "finished": step.finished, "fee_rate": fee_rate,
                           "summary": summary, "events": events, "notes": notes})
                );
            } else {
                println!("{} (node {})", o.label, o.snapshot.node_id);
                print!("{summary}");
                if !step.finished {
                    println!("not finished: {} claim(s) still open", open.len());
                }
            }
            if let Some(e) = summary.deadline_error() {
                return Err(e);
            }
            return Ok(!step.finished);
        }
        o.chain.wait_for_block(step.plan.tip, w.poll)?;
    }
}
