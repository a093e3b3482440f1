//! `vls-recover restore`: a backup written into a new vlsd datadir, refused
//! if it is older than any newer state in sight or was force-closed from.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use vls_recovery::backup;
use vls_recovery::closed;
use vls_recovery::restore::{self, Plan, Watermark};
use vls_recovery::{RecoveryError, Seed};

use crate::args::KeyArgs;
use crate::state::{load, open_key};

#[derive(Args)]
pub(crate) struct RestoreArgs {
    file: PathBuf,
    /// The vlsd datadir root (state goes to <datadir>/<network>/).
    #[arg(long)]
    datadir: PathBuf,
    /// The node seed (hex), when the backup has none.
    #[arg(long)]
    seed_file: Option<PathBuf>,
    /// A newer state (datadir or backup) the restore must not be older than.
    #[arg(long)]
    against: Vec<PathBuf>,
    /// Replace an existing state; it is moved aside, not deleted.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    key: KeyArgs,
}

pub(crate) fn run(json: bool, a: &RestoreArgs) -> Result<bool, RecoveryError> {
    let RestoreArgs {
        file,
        datadir: root,
        seed_file,
        against,
        force,
        key,
    } = a;
    let marks = closed::backup_marks(file)?;
    if !marks.is_empty() {
        return Err(RecoveryError::ForceClosed {
            file: file.clone(),
            channels: marks,
            marker: closed::backup_marker(file),
        });
    }
    let c = backup::open_snapshot_file(file, &open_key(key, file)?)?;
    let seed = match (seed_file, c.seed) {
        (Some(p), _) => Seed::from_file(p)?,
        (None, Some(s)) => s,
        (None, None) => return Err(RecoveryError::SeedMissing),
    };
    let network = c.snapshot.network()?;
    let mut marks = Vec::new();
    for x in against {
        let l = load(x, Some(network), key)?;
        marks.push((l.label, Watermark::from(&l.snapshot)));
    }
    let done = restore::restore(Plan {
        snapshot: &c.snapshot,
        seed: &seed,
        datadir: root.clone(),
        against: marks,
        force: *force,
        from: file.display().to_string(),
    })?;
    if json {
        println!("{}", json!({"ok": true, "restored": done}));
    } else {
        println!(
            "restored node {} ({} channels, {} entries) into {}",
            done.node_id,
            done.channels,
            done.entries,
            done.network_dir.display()
        );
        for a in &done.checked_against {
            println!("  not older than {a}");
        }
        if let Some(p) = &done.moved_aside {
            println!("  the previous state is kept at {}", p.display());
        }
        println!("start vlsd on this datadir; never start the old signer again");
    }
    Ok(false)
}
