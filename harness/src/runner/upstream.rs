//! Upstream's own recovery, run as an operator would run it: stock vlsd in
//! `--recover-to` mode on a stopped signer's state, talking to the run's
//! bitcoind. Its outcome is judged from its exit code and its log, which is
//! kept in the run directory.

use serde_json::json;

use crate::component::RPC_PORT;
use crate::contained::DATADIR;
use crate::error::{HarnessError, Result};
use crate::scenario::VlsdRecoverSpec;

use super::state::World;

/// Where the image keeps vlsd (its entrypoint).
const VLSD_BIN: &str = "/usr/local/bin/vlsd";
/// The line vlsd's recovery ends with, counting what it broadcast.
const SUMMARY: &str = "close recovery complete:";
/// bitcoind's answers to a transaction it already has: vlsd's recovery
/// broadcasts every transaction again on each run and logs these as
/// errors, but they mean the transaction is confirmed (or waiting).
const ALREADY_THERE: [&str; 3] = [
    "Transaction outputs already in utxo set",
    "txn-already-in-mempool",
    "txn-already-known",
];

/// Stops the node's vlsd if it still runs, then runs `vlsd --recover-to`
/// on its datadir, to an address of bitcoind's wallet (the same one each
/// time for a signer). A recovery that exits with an error, panics, logs
/// an error, or broadcasts other counts than the step expects fails the
/// step; otherwise the detail says what vlsd closed and broadcast.
pub async fn vlsd_recover(world: &World<'_>, r: &VlsdRecoverSpec) -> Result<String> {
    let cluster = world.cluster;
    let signer = cluster.signer(&r.signer)?;
    let container = signer.container();
    let name = container.name().to_string();
    // Recovery opens the signer's database, which a running vlsd holds; the
    // operator stops it first. It may have exited already (its node died).
    world.state().retired.push(name.clone());
    let stopped = if container.status().await?.running {
        if let Err(e) = container.stop().await {
            if container.status().await?.running {
                return Err(e);
            }
        }
        "stopped vlsd, then "
    } else {
        ""
    };
    let b = cluster.bitcoind()?;
    let address = super::disaster::recovery_address(world, &r.signer).await?;
    let (user, password) = b.rpc_credentials();
    let rpc = format!(
        "http://{user}:{password}@{}:{RPC_PORT}",
        b.container().name()
    );
    let datadir = container.durable_path(DATADIR);
    let cmd = [
        VLSD_BIN,
        "--network",
        "regtest",
        "--datadir",
        &datadir,
        "--recover-to",
        &address,
        "--recover-type",
        "bitcoind",
        "--recover-rpc",
        &rpc,
    ];
    let image = cluster.images().vlsd.clone();
    let out = cluster
        .resources()
        .run_once_networked(&image, container, &cmd)
        .await?;
    // vlsd's recovery mode colours its log whatever NO_COLOR says.
    let plain = strip_ansi_escapes::strip_str(&out.stderr);
    let log = plain.replace(password, "<rpc password>");
    let (path, run) = keep_log(cluster.run_dir(), &name, &log)?;
    tracing::info!(component = %name, exit = out.exit_code, log = %path.display(), "vlsd recovery ran");
    let outcome = Outcome::read(out.exit_code, &log);
    let said = outcome.judge(r);
    // What the destination holds (mempool included): the money so far.
    let received: f64 = b
        .wallet_call(
            &super::disaster::recovered_wallet(&r.signer),
            "getreceivedbyaddress",
            vec![json!(address), json!(0)],
        )
        .await?;
    let received = (received * 1e8).round() as u64;
    if said.is_ok() {
        // Fees and amounts are fixed by the channel's state: a seed must
        // bring home the same satoshis.
        world.events.emit(crate::report::event::RunEvent::Figures {
            lines: vec![format!(
                "{name}'s own recovery, run {run}: {received} sat at its address"
            )],
        });
    }
    said.map(|said| format!("{stopped}{address} holds {received} sat: {said}"))
        .map_err(|why| {
            HarnessError::component(
                &name,
                format!("vlsd --recover-to {why} (log {})", path.display()),
            )
        })
}

/// What one run of vlsd's recovery did, read from its exit code and log.
#[derive(Debug)]
struct Outcome {
    exit_code: i64,
    errors: Vec<String>,
    /// Broadcasts bitcoind answered with [`ALREADY_THERE`].
    already_there: usize,
    /// `close_txs`, `htlc_txs`, `delayed_sweep_txs` of the summary line.
    counts: Option<[u32; 3]>,
    said: Vec<String>,
    tail: String,
}

impl Outcome {
    fn read(exit_code: i64, log: &str) -> Outcome {
        let (already, errors): (Vec<&str>, Vec<&str>) = log
            .lines()
            .filter(|l| l.contains(" ERROR ") || l.contains("panicked at"))
            .partition(|l| {
                l.contains("failed to broadcast") && ALREADY_THERE.iter().any(|a| l.contains(a))
            });
        let counts = log.lines().rev().find_map(|l| {
            let summary = &l[l.find(SUMMARY)?..];
            let field = |k: &str| -> Option<u32> {
                summary
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
            };
            Some([
                field("close_txs")?,
                field("htlc_txs")?,
                field("delayed_sweep_txs").unwrap_or(0),
            ])
        });
        let keys = [
            "closing txid",
            "broadcasting force-close",
            "broadcast HTLC recovery transaction",
            "sweep txid",
        ];
        let said = log
            .lines()
            .filter_map(|l| {
                keys.iter()
                    .find_map(|k| l.find(k).map(|i| l[i..].to_string()))
            })
            .collect();
        Outcome {
            exit_code,
            errors: errors.into_iter().map(str::to_string).collect(),
            already_there: already.len(),
            counts,
            said,
            tail: crate::log::log_excerpt(log, 8, 4),
        }
    }

    /// `Ok(what vlsd said it did)`, or why the run is a failure.
    fn judge(&self, r: &VlsdRecoverSpec) -> std::result::Result<String, String> {
        if self.exit_code != 0 || !self.errors.is_empty() {
            let shown = if self.errors.is_empty() {
                self.tail.clone()
            } else {
                self.errors.join(" | ")
            };
            return Err(format!("exited {} with errors: {shown}", self.exit_code));
        }
        let Some([close, htlc, sweep]) = self.counts else {
            return Err(format!(
                "ended without its `{SUMMARY}` line:\n{}",
                self.tail
            ));
        };
        let wanted = [
            ("force-close", r.close_txs, close),
            ("HTLC", r.htlc_txs, htlc),
            ("sweep", r.sweep_txs, sweep),
        ];
        let wrong: Vec<String> = wanted
            .iter()
            .filter(|(_, want, got)| want.is_some_and(|w| w != *got))
            .map(|(what, want, got)| {
                format!(
                    "{got} {what} transactions (expected {})",
                    want.unwrap_or_default()
                )
            })
            .collect();
        if !wrong.is_empty() {
            return Err(format!("broadcast {}", wrong.join(", ")));
        }
        let mut summary = format!("{close} force-close, {htlc} HTLC, {sweep} sweep transactions");
        if self.already_there > 0 {
            summary.push_str(&format!(
                ", {} of them already on chain",
                self.already_there
            ));
        }
        Ok(if self.said.is_empty() {
            summary
        } else {
            format!("{summary} ({})", self.said.join("; "))
        })
    }
}

/// Writes the recovery's output next to the components' logs, one file per
/// run of it; returns the file and which run of the signer's this was.
fn keep_log(run_dir: &std::path::Path, name: &str, log: &str) -> Result<(std::path::PathBuf, u32)> {
    let dir = run_dir.join("logs");
    let (path, run) = (1..u32::MAX)
        .map(|k| (dir.join(format!("{name}-recover-{k}.log")), k))
        .find(|(p, _)| !p.exists())
        .unwrap_or_else(|| (dir.join(format!("{name}-recover.log")), 0));
    std::fs::write(&path, log).map_err(HarnessError::io(&path))?;
    Ok((path, run))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(close: Option<u32>, htlc: Option<u32>, sweep: Option<u32>) -> VlsdRecoverSpec {
        VlsdRecoverSpec {
            signer: "alice".into(),
            close_txs: close,
            htlc_txs: htlc,
            sweep_txs: sweep,
        }
    }

    const SUMMARY_LINE: &str = "x  INFO vlsd/src/recovery/mod.rs:670: close recovery complete: mode=broadcast channels=1 prepared=1 skipped=0 close_txs=0 htlc_txs=1 delayed_outputs_ready=1 delayed_sweep_txs=1\n";

    #[test]
    fn a_failed_broadcast_fails_the_run_with_its_line() {
        let log = format!(
            "x  INFO vlsd::recovery: closing txid ab\n\
             x ERROR vlsd::recovery: failed to broadcast HTLC recovery transaction 0 (txid cd): mandatory-script-verify-flag-failed\n{SUMMARY_LINE}"
        );
        let err = Outcome::read(0, &log)
            .judge(&spec(None, None, None))
            .unwrap_err();
        assert!(err.contains("mandatory-script-verify-flag-failed"), "{err}");
        assert!(!err.contains("closing txid"), "{err}");
    }

    #[test]
    fn counts_come_from_the_summary_and_are_checked() {
        let log = format!(
            "x  INFO r: broadcast HTLC recovery transaction 0 for channel c: ef\n{SUMMARY_LINE}"
        );
        let o = Outcome::read(0, &log);
        assert_eq!(o.counts, Some([0, 1, 1]));
        assert_eq!(
            o.judge(&spec(Some(0), Some(1), None)).unwrap(),
            "0 force-close, 1 HTLC, 1 sweep transactions (broadcast HTLC recovery transaction 0 for channel c: ef)"
        );
        let err = o.judge(&spec(Some(1), Some(1), Some(0))).unwrap_err();
        assert_eq!(
            err,
            "broadcast 0 force-close transactions (expected 1), 1 sweep transactions (expected 0)"
        );
    }

    #[test]
    fn a_transaction_already_on_chain_is_not_an_error() {
        let log = format!(
            "x ERROR r: failed to broadcast HTLC recovery transaction 0 for channel c (txid d): JsonRpc(Rpc(RpcError {{ code: -27, message: \"Transaction outputs already in utxo set\", data: None }}))\n{SUMMARY_LINE}"
        );
        let said = Outcome::read(0, &log)
            .judge(&spec(None, Some(1), None))
            .unwrap();
        assert!(
            said.starts_with(
                "0 force-close, 1 HTLC, 1 sweep transactions, 1 of them already on chain"
            ),
            "{said}"
        );
    }

    #[test]
    fn a_run_without_its_summary_or_with_a_bad_exit_fails() {
        let o = Outcome::read(0, "x INFO starting\n");
        assert!(o
            .judge(&spec(None, None, None))
            .unwrap_err()
            .contains("without"));
        let o = Outcome::read(101, SUMMARY_LINE);
        assert!(o
            .judge(&spec(None, None, None))
            .unwrap_err()
            .contains("exited 101"));
    }
}
