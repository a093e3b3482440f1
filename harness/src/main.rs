//! `harness`: run scenarios, build images, sweep leftovers. Clap only; the
//! work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use harness::error::HarnessError;
use harness::report::Verdict;
use harness::runner::{self, RunOptions};
use harness::{docker, gc, interrupt, ImageBuilder, Scenario};

#[derive(Parser)]
#[command(
    name = "harness",
    version,
    about = "vls-chaos: failure injection for VLS with real bitcoind, vlsd and Lightning nodes in Docker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files against fresh clusters (builds images on first use).
    Run {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Seed for every random choice (default: the file's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Keep containers, network and volumes afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// Parse and validate scenario files without running them.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Build, list or prune the locally built images.
    Images {
        #[command(subcommand)]
        action: ImagesAction,
    },
    /// Remove every vls-chaos container, network and volume whose run is no longer alive.
    Gc,
}

#[derive(Subcommand)]
enum ImagesAction {
    /// Build every missing image (base rootfs, vlsd).
    Build,
    /// List images labelled vls-chaos=1.
    List,
    /// Remove images that are not current (all of them with --all).
    Prune {
        #[arg(long)]
        all: bool,
    },
}

/// Exit codes: 0 ok, 1 a scenario failed, 2 bad input, 3 environment, 130 interrupted.
fn exit_code(e: &HarnessError) -> u8 {
    match e {
        HarnessError::ScenarioFile { .. } | HarnessError::ScenarioParse { .. } => 2,
        HarnessError::Interrupted => 130,
        _ => 3,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    harness::init_tracing("warn,harness=info");
    let cli = Cli::parse();
    match interrupt::until_ctrl_c(dispatch(cli.command)).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

async fn dispatch(command: Command) -> harness::Result<u8> {
    match command {
        Command::Run { files, seed, keep } => {
            // Validate every file before touching Docker: bad input fails fast.
            let scenarios = files
                .iter()
                .map(|f| Scenario::load(f))
                .collect::<harness::Result<Vec<_>>>()?;
            let opts = RunOptions { seed, keep };
            let mut failed = 0;
            for s in &scenarios {
                let report = runner::run(s, &opts).await?;
                print!("{}", report.table());
                if report.verdict == Verdict::Fail {
                    failed += 1;
                }
            }
            Ok(u8::from(failed > 0))
        }
        Command::Check { files } => {
            for f in &files {
                let s = Scenario::load(f)?;
                println!("{}: ok ({}, {} steps)", f.display(), s.name, s.steps.len());
            }
            Ok(0)
        }
        Command::Images { action } => {
            let docker = docker::connect().await?;
            let builder = ImageBuilder::default();
            match action {
                ImagesAction::Build => {
                    let (_, outcomes) = builder.ensure(&docker).await?;
                    for o in &outcomes {
                        println!(
                            "{:<5} {:<32} {} ({:.1}s)",
                            o.name,
                            o.tag,
                            if o.built { "built" } else { "present" },
                            o.took.as_secs_f64()
                        );
                    }
                    if outcomes.iter().all(|o| !o.built) {
                        println!("nothing to build: every image is present");
                    }
                }
                ImagesAction::List => {
                    for img in builder.list(&docker).await? {
                        println!(
                            "{:<32} {:>8.1} MB  {}",
                            img.tags.join(","),
                            img.size_bytes as f64 / 1e6,
                            if img.current { "current" } else { "stale" }
                        );
                    }
                }
                ImagesAction::Prune { all } => {
                    let removed = builder.prune(&docker, all).await?;
                    if removed.is_empty() {
                        println!("nothing to prune");
                    }
                    for r in removed {
                        println!("removed {r}");
                    }
                }
            }
            Ok(0)
        }
        Command::Gc => {
            let docker = docker::connect().await?;
            let removed = gc::sweep_orphans(&docker).await?;
            println!(
                "removed {} containers, {} networks, {} volumes from {} runs",
                removed.containers,
                removed.networks,
                removed.volumes,
                removed.runs.len()
            );
            Ok(0)
        }
    }
}
