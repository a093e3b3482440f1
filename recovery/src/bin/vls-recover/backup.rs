//! `vls-recover backup create` and `verify`: sealing a stopped signer's
//! state into a new backup file, and checking that one opens and holds
//! what it says.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;
use vls_recovery::archive::HtlcArchive;
use vls_recovery::backup::{self, DirSink, SealKey};
use vls_recovery::{RecoveryError, Seed, Snapshot};

use crate::args::{DatadirArgs, KeyArgs};
use crate::state::{datadir, open_key, read_passphrase};

#[derive(Subcommand)]
pub(crate) enum BackupCommand {
    /// Seal a stopped signer's state into a new backup file.
    Create(CreateArgs),
}

#[derive(Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    state: DatadirArgs,
    /// age recipient (`age1...`); repeat for several.
    #[arg(
        long,
        required_unless_present = "passphrase_file",
        conflicts_with = "passphrase_file"
    )]
    recipient: Vec<String>,
    /// File whose first line is the passphrase.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// Directory the backup goes into.
    #[arg(long)]
    out: PathBuf,
    /// Keep only the newest N backups of this directory.
    #[arg(long)]
    keep: Option<usize>,
    /// Also store the node seed (whoever can open the file can spend).
    #[arg(long)]
    include_seed: bool,
    /// age identity that opens the newest backup in --out, so its HTLC
    /// archive is carried into the new one (a --passphrase-file opens
    /// it by itself).
    #[arg(long, conflicts_with = "passphrase_file")]
    identity: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    file: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
}

pub(crate) fn run(json: bool, command: &BackupCommand) -> Result<bool, RecoveryError> {
    match command {
        BackupCommand::Create(a) => create(json, a),
    }
}

/// Seals the datadir's state into a new file in --out, carrying the HTLC
/// archive of the newest backup there when the key to open it was given.
fn create(json: bool, a: &CreateArgs) -> Result<bool, RecoveryError> {
    let CreateArgs {
        state,
        recipient,
        passphrase_file,
        out,
        keep,
        include_seed,
        identity,
    } = a;
    let root = state
        .datadir
        .as_deref()
        .ok_or_else(|| RecoveryError::Usage {
            reason: "backup create needs --datadir".into(),
        })?;
    let d = datadir(root, state.network)?;
    let key = match passphrase_file {
        Some(p) => SealKey::Passphrase(read_passphrase(p)?),
        None => SealKey::Recipients(
            recipient
                .iter()
                .map(|r| backup::parse_recipient(r))
                .collect::<Result<_, _>>()?,
        ),
    };
    let snapshot = Snapshot::load(&d)?;
    let seed = if *include_seed {
        let seed = Seed::from_file(&d.seed_path())?;
        snapshot.check_seed(&seed)?;
        Some(seed)
    } else {
        None
    };
    let carried = carry_archive(out, &snapshot, passphrase_file, identity)?;
    let archive = carried.as_ref().map(|(_, a)| a.clone()).unwrap_or_default();
    let sink = DirSink {
        dir: out.clone(),
        key,
        keep: *keep,
        seed,
        source: format!("datadir:{}", d.root().display()),
    };
    let path = sink.write_snapshot(&snapshot, &archive)?;
    let carried_from = carried.map(|(f, _)| f);
    if carried_from.is_none() && backup::list(out).map_or(0, |l| l.len()) > 1 {
        eprintln!(
            "warning: the HTLC archive of the older backups in {} was not carried: \
             give --identity to open them",
            out.display()
        );
    }
    if json {
        println!(
            "{}",
            json!({"ok": true, "file": path, "node_id": snapshot.node_id,
                   "channels": snapshot.channels.len(), "includes_seed": include_seed,
                   "archive_carried_from": carried_from})
        );
    } else {
        println!(
            "wrote {} (node {}, {} channels{})",
            path.display(),
            snapshot.node_id,
            snapshot.channels.len(),
            if *include_seed {
                ", includes the seed"
            } else {
                ""
            }
        );
        if let Some(f) = &carried_from {
            println!("HTLC archive carried from {}", f.display());
        }
    }
    Ok(false)
}

/// The newest backup in `dir` and its HTLC archive, when the key to open
/// it was given; none when `dir` has no backup yet or no key opens it.
fn carry_archive(
    dir: &Path,
    snapshot: &Snapshot,
    passphrase_file: &Option<PathBuf>,
    identity: &Option<PathBuf>,
) -> Result<Option<(PathBuf, HtlcArchive)>, RecoveryError> {
    let Some(newest) = backup::list(dir).ok().and_then(|l| l.last().cloned()) else {
        return Ok(None);
    };
    let key = KeyArgs {
        identity: identity.clone(),
        passphrase_file: passphrase_file.clone(),
    };
    if key.identity.is_none() && key.passphrase_file.is_none() {
        return Ok(None);
    }
    let older = backup::open_snapshot_file(&newest, &open_key(&key, &newest)?)?;
    if older.snapshot.node_id != snapshot.node_id {
        return Err(RecoveryError::Usage {
            reason: format!(
                "{}: holds backups of node {}, not {}; use a directory per node",
                dir.display(),
                older.snapshot.node_id,
                snapshot.node_id
            ),
        });
    }
    Ok(Some((newest, older.archive)))
}

/// Opens the backup and checks it through (checksum, snapshot, seed).
pub(crate) fn verify(json: bool, a: &VerifyArgs) -> Result<bool, RecoveryError> {
    let VerifyArgs { file, key } = a;
    let c = backup::open_snapshot_file(file, &open_key(key, file)?)?;
    if json {
        println!(
            "{}",
            json!({"ok": true, "file": file, "header": c.header,
                   "channels": c.snapshot.channels.len(),
                   "htlc_archive_commitments": c.archive.commitments()})
        );
    } else {
        println!(
            "ok: {} (node {}, {}, {} channels, {} archived commitments with HTLCs, created at {} ms{})",
            file.display(),
            c.header.node_id,
            c.header.network,
            c.snapshot.channels.len(),
            c.archive.commitments(),
            c.header.created_at_ms,
            if c.header.includes_seed {
                ", includes the seed"
            } else {
                ""
            }
        );
    }
    Ok(false)
}
