//! `vls-recover`: the operator's command line over the recovery library.
//! Clap only; the work is in the library. Every command has `--json`.
//! Errors print one sentence with their stable code and exit with the code's class.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use age::secrecy::SecretString;
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use vls_recovery::backup::{self, OpenKey, Opened};
use vls_recovery::RecoveryError;

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
    /// Check that a backup opens with the key and that its contents match its header.
    Verify {
        file: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Show a backup's header and contents.
    Inspect {
        file: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct KeyArgs {
    /// age identity file (from `age-keygen`).
    #[arg(long)]
    identity: Option<PathBuf>,
    /// File whose first line is the passphrase.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

fn open_key(k: &KeyArgs) -> Result<OpenKey, RecoveryError> {
    if let Some(p) = &k.identity {
        return Ok(OpenKey::Identities(backup::read_identities(p)?));
    }
    let path = k.passphrase_file.as_deref().unwrap_or(Path::new(""));
    let text = std::fs::read_to_string(path).map_err(|source| RecoveryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let line = text.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        return Err(RecoveryError::Usage {
            reason: format!(
                "{}: the first line (the passphrase) is empty",
                path.display()
            ),
        });
    }
    Ok(OpenKey::Passphrase(SecretString::from(line)))
}

fn run(cli: &Cli) -> Result<(), RecoveryError> {
    match &cli.command {
        Command::Verify { file, key } => {
            let Opened { header, .. } = backup::open_file(file, &open_key(key)?)?;
            if cli.json {
                println!("{}", json!({"ok": true, "file": file, "header": header}));
            } else {
                println!(
                    "ok: {} (node {}, {}, {} payload bytes, created at {} ms{})",
                    file.display(),
                    header.node_id,
                    header.network,
                    header.payload_bytes,
                    header.created_at_ms,
                    if header.includes_seed {
                        ", includes the seed"
                    } else {
                        ""
                    }
                );
            }
        }
        Command::Inspect { file, key } => {
            let opened = backup::open_file(file, &open_key(key)?)?;
            let payload: serde_json::Value =
                serde_json::from_slice(&opened.payload).map_err(|e| {
                    RecoveryError::BackupCorrupt {
                        file: file.clone(),
                        reason: format!("payload is not JSON: {e}"),
                    }
                })?;
            let doc = json!({"file": file, "header": opened.header, "payload": payload});
            if cli.json {
                println!("{doc}");
            } else {
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if cli.json {
                println!(
                    "{}",
                    json!({"ok": false, "code": e.code(), "message": e.to_string()})
                );
            } else {
                eprintln!("error[{}]: {e}", e.code());
            }
            ExitCode::from(e.exit_code().clamp(1, 255) as u8)
        }
    }
}
