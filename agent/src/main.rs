//! `vls-chaos-agent`: the part of the harness that runs inside a component's
//! container (or in its network namespace) to make faults the kernel here
//! cannot make by itself.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod crash_point;
mod delay;
mod fs;
mod pages;
mod supervise;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "vls-chaos-agent", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Mount `lower` at `mount` through a layer that keeps unsynced writes in
    /// memory, run the command on it, and write everything back when the
    /// command exits. SIGKILL of this process is a power cut.
    Fusebuf {
        #[arg(long)]
        lower: PathBuf,
        #[arg(long)]
        mount: PathBuf,
        /// Where the command's pid is written, so a "process crash" can kill
        /// the command alone and keep the buffered writes.
        #[arg(long, default_value = "/run/vls-chaos/child.pid")]
        pid_file: PathBuf,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Hold every packet of NFQUEUE `queue` for `ms` milliseconds.
    Delay {
        #[arg(long)]
        queue: u16,
        #[arg(long)]
        ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Fusebuf {
            lower,
            mount,
            pid_file,
            command,
        } => supervise::run(&lower, &mount, &pid_file, &command),
        Cmd::Delay { queue, ms } => match delay::run(queue, Duration::from_millis(ms)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vls-chaos-agent: delay on queue {queue}: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
