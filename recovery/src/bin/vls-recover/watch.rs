//! `vls-recover watch`: sign, broadcast, re-broadcast and raise fees at
//! each block until every claimed output is spent, then the table of what
//! came home.

use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use vls_recovery::plan::{Action, Plan, Status};
use vls_recovery::sweep;
use vls_recovery::watch::{Summary, WatchConfig, Watcher};
use vls_recovery::RecoveryError;

use crate::args::{OnchainArgs, SpendArgs};
use crate::closer::Closer;
use crate::onchain::{label_of, onchain, parse_destination, Onchain};

#[derive(Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    onchain: OnchainArgs,
    #[command(flatten)]
    spend: SpendArgs,
    /// Highest fee rate a bump may reach (default: the policy ceiling).
    #[arg(long)]
    max_fee_rate: Option<u32>,
    /// Raise the fee of an unconfirmed claim at every block once its
    /// deadline is this many blocks away or closer.
    #[arg(long, default_value_t = 6)]
    urgency_blocks: u32,
    /// Look again after this many seconds without a new block
    /// (re-broadcasts what a node may have dropped).
    #[arg(long, default_value_t = 60)]
    poll_secs: u64,
    /// One pass, then the table (exit 1 if claims remain open).
    #[arg(long)]
    once: bool,
}

/// Runs until every claimed output is spent (or one step with `--once`).
/// Ok(true): not finished.
pub(crate) fn run(json: bool, a: &WatchArgs) -> Result<bool, RecoveryError> {
    let mut o = onchain(&a.onchain)?;
    if a.onchain.chain_file.is_some() && !a.once {
        return Err(RecoveryError::Usage {
            reason: "a recorded chain (--chain-file) never grows: watch it with --once".into(),
        });
    }
    let config = config(&o, a)?;
    let fee_rate = config.fee_rate;
    let mut closer = Closer::for_source(&o)?;
    let mut watcher = Watcher::new(config);
    let bar = progress_bar(json);
    let mut events = Vec::new();
    let mut notes = Vec::new();
    loop {
        let labels = o.labels.clone();
        let label = move |id0: &str| label_of(&labels, id0);
        // indicatif draws nothing off a terminal: print plainly there.
        let say = |line: &str| match (json, bar.is_hidden()) {
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
        let open = show_progress(&bar, &step.plan, &summary);
        if step.finished || a.once {
            bar.finish_and_clear();
            if json {
                println!(
                    "{}",
                    json!({"source": o.label, "finished": step.finished, "fee_rate": fee_rate,
                           "summary": summary, "events": events, "notes": notes})
                );
            } else {
                println!("{} (node {})", o.label, o.snapshot.node_id);
                print!("{summary}");
                if !step.finished {
                    println!("not finished: {open} claim(s) still open");
                }
            }
            if let Some(e) = summary.deadline_error() {
                return Err(e);
            }
            return Ok(!step.finished);
        }
        o.chain
            .wait_for_block(step.plan.tip, Duration::from_secs(a.poll_secs))?;
    }
}

/// The watcher's fee rates, held to policy, and where claims go (which
/// vls-core's policy is told to allow).
fn config(o: &Onchain, a: &WatchArgs) -> Result<WatchConfig, RecoveryError> {
    let network = o.snapshot.network()?;
    let destination = parse_destination(&a.spend.to, network)?;
    o.signer.allow_destination(&a.spend.to)?;
    let (_, ceiling) = sweep::fee_rate_bounds(network);
    let fee_rate =
        sweep::choose_fee_rate(network, a.spend.fee_rate, o.chain.fee_rate_estimate(6)?)?;
    let max_fee_rate = a.max_fee_rate.unwrap_or(ceiling);
    if max_fee_rate < fee_rate || max_fee_rate > ceiling {
        return Err(RecoveryError::FeeBounds {
            what: "--max-fee-rate".into(),
            rate: u64::from(max_fee_rate),
            min: u64::from(fee_rate),
            max: u64::from(ceiling),
        });
    }
    Ok(WatchConfig {
        network,
        destination,
        fee_rate,
        max_fee_rate,
        urgency_blocks: a.urgency_blocks,
        scan_from: o.scan_from,
    })
}

/// The bar of sat brought home on stderr; hidden with --json.
fn progress_bar(json: bool) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {elapsed} [{bar:30}] {pos}/{len} sat home  {msg}")
    {
        b.set_style(style.progress_chars("=> "));
    }
    b
}

/// Shows what came home of what is at stake, and when the next claim is
/// ready; returns how many claims are open.
fn show_progress(bar: &ProgressBar, plan: &Plan, summary: &Summary) -> usize {
    let open: Vec<&Action> = plan
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
        plan.tip,
        open.len(),
        next.map_or(String::new(), |h| format!(", next ready at {h}"))
    ));
    open.len()
}
