//! `harness`: run scenarios, build images, sweep leftovers. Clap only; the
//! work is in the library.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

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
        /// Of a matrix file, run only this case (`key=value,...`, as reports name it).
        #[arg(long)]
        case: Option<String>,
        /// Run the lnnode nodes that sign through vlsd as Core Lightning
        /// instead (the second column of `harness kinds`).
        #[arg(long)]
        cln: bool,
    },
    /// Run scenarios with their vlsd-signed nodes as lnnode and again as
    /// Core Lightning, and write the side-by-side table (kinds.md,
    /// kinds.json).
    Kinds {
        /// Scenario files (default: every catalog scenario).
        files: Vec<PathBuf>,
        /// Where kinds.md and kinds.json go (default: <target>/vls-chaos/kinds).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Of a matrix file, only its first case.
        #[arg(long)]
        first_case: bool,
    },
    /// Run disaster scenarios and write the recovery-rate matrix
    /// (matrix.md, matrix.json): per run, what the operator's nodes were
    /// due, what came home, the fees, and every lost satoshi named.
    Matrix {
        /// Scenario files (default: every catalog scenario with a disaster
        /// step: destroy, backup, recover_onchain, stash, vlsd_recover,
        /// force_close).
        files: Vec<PathBuf>,
        /// Seeds to run each scenario with (repeat; default: the file's).
        #[arg(long = "seed")]
        seeds: Vec<u64>,
        /// Where matrix.md and matrix.json go (default: <target>/vls-chaos/matrix).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Parse and validate scenario files without running them.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the scenarios in a directory (default: scenarios/catalog).
    List { dir: Option<PathBuf> },
    /// Print the JSON Schema of the scenario format.
    Schema,
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
    /// Build every missing image (base rootfs, vlsd, lnnode, Core Lightning).
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
        Command::Run {
            files,
            seed,
            keep,
            case,
            cln,
        } => run(&files, RunOptions { seed, keep }, case.as_deref(), cln).await,
        Command::Kinds {
            files,
            out,
            first_case,
        } => kinds(files, out, first_case).await,
        Command::Matrix { files, seeds, out } => matrix(files, &seeds, out).await,
        Command::Check { files } => check(&files),
        Command::List { dir } => list(dir),
        Command::Schema => {
            print!("{}", harness::scenario::json_schema());
            Ok(0)
        }
        Command::Images { action } => images(action).await,
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

/// Every file's scenarios (only `case` of a matrix, when given), all
/// validated before Docker is touched: bad input fails fast.
fn load(files: &[PathBuf], case: Option<&str>) -> harness::Result<Vec<Scenario>> {
    let mut scenarios = Vec::new();
    for f in files {
        let all = Scenario::load_all(f)?;
        let known: Vec<String> = all.iter().map(|s| s.case.clone()).collect();
        let picked: Vec<Scenario> = all
            .into_iter()
            .filter(|s| case.is_none_or(|c| c == s.case))
            .collect();
        if picked.is_empty() {
            return Err(HarnessError::ScenarioFile {
                path: f.clone(),
                reason: format!(
                    "no case `{}` (cases: {})",
                    case.unwrap_or_default(),
                    known.join("; ")
                ),
            });
        }
        scenarios.extend(picked);
    }
    Ok(scenarios)
}

async fn run(
    files: &[PathBuf],
    opts: RunOptions,
    case: Option<&str>,
    cln: bool,
) -> harness::Result<u8> {
    let mut scenarios = load(files, case)?;
    if cln {
        scenarios = scenarios
            .iter()
            .map(|s| {
                harness::scenario::kinds::as_cln(s).map_err(|why| HarnessError::ScenarioFile {
                    path: s.path.clone(),
                    reason: format!("{}: cannot run as Core Lightning: {why}", s.name),
                })
            })
            .collect::<harness::Result<_>>()?;
    }
    let mut reports = Vec::new();
    for s in &scenarios {
        let report = runner::run(s, &opts).await?;
        print!("{}", report.table());
        println!(
            "  timeline: {}",
            report.run_dir.join("timeline.md").display()
        );
        if report.verdict != Verdict::Pass {
            println!("  replay: {}", report.run_dir.join("replay.sh").display());
        }
        reports.push(report);
    }
    let junit = harness::paths::runs_dir().join("junit.xml");
    let written = harness::report::junit::junit(&reports)
        .map_err(|e| e.to_string())
        .and_then(|xml| std::fs::write(&junit, xml).map_err(|e| e.to_string()));
    if let Err(e) = written {
        eprintln!("warning: cannot write {}: {e}", junit.display());
    }
    let failed = reports.iter().filter(|r| !r.verdict.as_expected()).count();
    if let Some((median, max)) = harness::report::RunReport::wall_time_stats(&reports) {
        println!(
            "{} scenarios, {} failed ({} expected failures); wall time median {median:.1}s, max {max:.1}s; JUnit: {}",
            reports.len(),
            failed,
            reports.iter().filter(|r| r.verdict == Verdict::Xfail).count(),
            junit.display()
        );
        println!(
            "time by phase over the {} runs: {}",
            reports.len(),
            harness::report::RunReport::phase_line(&reports)
        );
    }
    Ok(u8::from(failed > 0))
}

async fn matrix(files: Vec<PathBuf>, seeds: &[u64], out: Option<PathBuf>) -> harness::Result<u8> {
    use harness::report::rate;
    let files = if files.is_empty() {
        disaster_files()?
    } else {
        files
    };
    let scenarios = load(&files, None)?;
    let seeds: Vec<Option<u64>> = if seeds.is_empty() {
        vec![None]
    } else {
        seeds.iter().map(|s| Some(*s)).collect()
    };
    let mut rows = Vec::new();
    for s in &scenarios {
        for seed in &seeds {
            let report = runner::run(
                s,
                &RunOptions {
                    seed: *seed,
                    keep: false,
                },
            )
            .await?;
            print!("{}", report.table());
            let operator: Vec<String> = s
                .topology
                .nodes
                .iter()
                .filter(|(_, signer)| *signer == harness::SignerChoice::Vlsd)
                .map(|(n, _)| n.clone())
                .collect();
            rows.push(rate::row(
                &report,
                &operator,
                recovered_by(s),
                s.expect.finding.as_deref(),
            ));
        }
    }
    write_table("matrix", out, &rate::markdown(&rows), &rows)?;
    Ok(u8::from(rows.iter().any(|r| r.verdict == "fail")))
}

/// Writes `<name>.md` and `<name>.json` (the rows) to `out`, by default
/// `<target>/vls-chaos/<name>`, and prints the table and where they went.
fn write_table(
    name: &str,
    out: Option<PathBuf>,
    markdown: &str,
    rows: &impl serde::Serialize,
) -> harness::Result<()> {
    let dir = out.unwrap_or_else(|| harness::paths::runs_dir().with_file_name(name));
    std::fs::create_dir_all(&dir).map_err(HarnessError::io(&dir))?;
    let md = dir.join(format!("{name}.md"));
    std::fs::write(&md, markdown).map_err(HarnessError::io(&md))?;
    let json = dir.join(format!("{name}.json"));
    let body = serde_json::to_string_pretty(rows)
        .map_err(|e| HarnessError::component(name, e.to_string()))?;
    std::fs::write(&json, body).map_err(HarnessError::io(&json))?;
    print!("{markdown}");
    println!("{name}: {} and {}", md.display(), json.display());
    Ok(())
}

async fn kinds(files: Vec<PathBuf>, out: Option<PathBuf>, first_case: bool) -> harness::Result<u8> {
    use harness::report::kinds::{markdown, KindsRow};
    use harness::scenario::kinds;
    let files = if files.is_empty() {
        catalog_files(|_| true)?
    } else {
        files
    };
    let mut scenarios = load(&files, None)?;
    if first_case {
        let mut seen = std::collections::HashSet::new();
        scenarios.retain(|s| seen.insert(s.path.clone()));
    }
    let opts = RunOptions {
        seed: None,
        keep: false,
    };
    let mut rows = Vec::new();
    for s in &scenarios {
        // A file written for Core Lightning is its own second column and
        // runs again with lnnode for the first.
        let (ldk, cln) = if kinds::has_cln_operator(s) {
            (kinds::as_lnnode(s), Ok(s.clone()))
        } else {
            (Ok(s.clone()), kinds::as_cln(s))
        };
        rows.push(KindsRow {
            scenario: s.name.clone(),
            lnnode: run_side(ldk, &opts).await?,
            cln: run_side(cln, &opts).await?,
        });
    }
    write_table("kinds", out, &markdown(&rows), &rows)?;
    Ok(u8::from(rows.iter().any(|r| r.lnnode.verdict == "fail")))
}

/// One column of `harness kinds`: the run of `side`, or why it cannot run.
async fn run_side(
    side: Result<Scenario, String>,
    opts: &RunOptions,
) -> harness::Result<harness::report::kinds::Side> {
    use harness::report::kinds::Side;
    Ok(match side {
        Ok(scenario) => {
            let report = runner::run(&scenario, opts).await?;
            print!("{}", report.table());
            Side::of(&report)
        }
        Err(why) => Side::not_run(&why),
    })
}

/// Who brings a scenario's funds home.
fn recovered_by(s: &Scenario) -> &'static str {
    use harness::scenario::Action;
    if s.steps
        .iter()
        .any(|st| matches!(st.action, Action::RecoverOnchain(_)))
    {
        "recovery library"
    } else if s
        .steps
        .iter()
        .any(|st| matches!(st.action, Action::VlsdRecover(_)))
    {
        "vlsd --recover-to"
    } else if s
        .steps
        .iter()
        .any(|st| matches!(st.action, Action::RecoverChannels(_)))
    {
        "Core Lightning's recoverchannel"
    } else {
        "the node (LDK through vlsd)"
    }
}

/// Catalog scenarios with a disaster step.
fn disaster_files() -> harness::Result<Vec<PathBuf>> {
    use harness::scenario::Action;
    catalog_files(|s| {
        s.steps.iter().any(|st| {
            matches!(
                st.action,
                Action::Destroy(_)
                    | Action::Backup(_)
                    | Action::RecoverOnchain(_)
                    | Action::RecoverChannels(_)
                    | Action::Stash(_)
                    | Action::VlsdRecover(_)
                    | Action::ForceClose(_)
            )
        })
    })
}

/// Catalog files with a scenario (of any matrix case) that `keep` selects.
fn catalog_files(keep: impl Fn(&Scenario) -> bool) -> harness::Result<Vec<PathBuf>> {
    let dir = harness::paths::workspace_root()
        .join("scenarios")
        .join("catalog");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(HarnessError::io(&dir))? {
        let path = entry.map_err(HarnessError::io(&dir))?.path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        if Scenario::load_all(&path)?.iter().any(&keep) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn check(files: &[PathBuf]) -> harness::Result<u8> {
    for f in files {
        let all = Scenario::load_all(f)?;
        match all.as_slice() {
            [s] => println!("{}: ok ({}, {} steps)", f.display(), s.name, s.steps.len()),
            _ => println!("{}: ok ({} matrix cases)", f.display(), all.len()),
        }
    }
    Ok(0)
}

fn list(dir: Option<PathBuf>) -> harness::Result<u8> {
    let dir = dir.unwrap_or_else(|| {
        harness::paths::workspace_root()
            .join("scenarios")
            .join("catalog")
    });
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| HarnessError::Io {
            path: dir.clone(),
            source: e,
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for f in &files {
        let all = Scenario::load_all(f)?;
        let Some(s) = all.first() else { continue };
        let name = match all.len() {
            1 => s.name.clone(),
            n => format!("{} (x{n})", s.name.split('[').next().unwrap_or_default()),
        };
        let summary = s
            .description
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let short: String = summary.chars().take(90).collect();
        println!("{:<36} {:>3} steps  {}", name, s.steps.len(), short);
    }
    Ok(0)
}

async fn images(action: ImagesAction) -> harness::Result<u8> {
    let docker = docker::connect().await?;
    let builder = ImageBuilder::default();
    match action {
        ImagesAction::Build => {
            let (_, outcomes) = builder.with_cln(true).ensure(&docker).await?;
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
