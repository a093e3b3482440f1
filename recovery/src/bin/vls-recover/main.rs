//! `vls-recover`: the operator's command line over the recovery library.
//! Clap only; the work is in the library. Every command has `--json`.
//! Errors print one sentence with their stable code and exit with the code's class.
//!
//! One module per command group; `args`, `state` and `onchain` are what
//! they share: the argument groups, loading the state, and the on-chain
//! commands' starting point.

mod args;
mod backup;
mod closer;
mod inspect;
mod onchain;
mod plan;
mod restore;
mod scb;
mod state;
mod sweep;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;
use vls_recovery::RecoveryError;

use args::{OnchainArgs, SignerArgs};

#[derive(Parser)]
#[command(
    name = "vls-recover",
    version,
    about = "Backups and recovery for Validating Lightning Signer state"
)]
struct Cli {
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make and manage sealed backups.
    Backup {
        #[command(subcommand)]
        command: backup::BackupCommand,
    },
    /// Check that a backup opens with the key, matches its checksum, and holds
    /// a consistent snapshot (and the right seed, if it has one).
    Verify(backup::VerifyArgs),
    /// Show a backup's or a stopped signer's state.
    Inspect(inspect::InspectArgs),
    /// What changed from A to B (each a backup file or a vlsd datadir).
    /// Exits 0 when nothing changed, 1 when something did.
    Diff(inspect::DiffArgs),
    /// Write a backup into a new, empty vlsd datadir that vlsd starts from.
    Restore(restore::RestoreArgs),
    /// What the chain shows of each channel's funding output.
    ChainStatus {
        #[command(flatten)]
        onchain: OnchainArgs,
    },
    /// The ordered actions that bring every recoverable output home.
    Plan {
        #[command(flatten)]
        onchain: OnchainArgs,
    },
    /// Sign the plan's ready actions (every input script-verified); print
    /// them, or broadcast them with --broadcast.
    Sweep(sweep::SweepArgs),
    /// Sign, broadcast, re-broadcast and raise fees until every claimed
    /// output is spent; then a table of what came home. A datadir stays
    /// locked meanwhile; a force-close marks its channel closed first.
    Watch(watch::WatchArgs),
    /// The fee wallet's address: coins sent there pay the fees of anchor
    /// channels' zero-fee HTLC transactions (derived from the seed).
    FeeAddress {
        #[command(flatten)]
        signer: SignerArgs,
    },
    /// Core Lightning static channel backups (`recoverchannel` input).
    ExportScb(scb::ExportScbArgs),
}

/// Ok(true) means "found a difference" (diff's exit 1).
fn run(cli: &Cli) -> Result<bool, RecoveryError> {
    let json = cli.json;
    match &cli.command {
        Command::Backup { command } => backup::run(json, command),
        Command::Verify(a) => backup::verify(json, a),
        Command::Inspect(a) => inspect::inspect(json, a),
        Command::Diff(a) => inspect::diff(json, a),
        Command::Restore(a) => restore::run(json, a),
        Command::ChainStatus { onchain } => plan::chain_status(json, onchain),
        Command::Plan { onchain } => plan::plan(json, onchain),
        Command::Sweep(a) => sweep::run(json, a),
        Command::Watch(a) => watch::run(json, a),
        Command::FeeAddress { signer } => plan::fee_address(json, signer),
        Command::ExportScb(a) => scb::run(json, a),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(1),
        Err(e) => {
            if cli.json {
                println!(
                    "{}",
                    json!({"ok": false, "code": e.code(), "message": e.to_string()})
                );
            } else {
                eprintln!("error[{}]: {e}", e.code());
            }
            ExitCode::from(e.exit_code().clamp(2, 255) as u8)
        }
    }
}
