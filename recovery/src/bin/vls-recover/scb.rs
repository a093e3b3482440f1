//! `vls-recover export-scb`: Core Lightning static channel backups, the
//! input of its `recoverchannel`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde_json::json;
use vls_recovery::scb::{self, PeerAddr, ShachainForm};
use vls_recovery::RecoveryError;

use crate::args::{DatadirArgs, KeyArgs};
use crate::state::load_either;

#[derive(Clone, Copy, ValueEnum)]
enum ScbFormat {
    Cln,
}

/// `--shachain`: see [`ShachainForm`].
#[derive(Clone, Copy, Default, ValueEnum)]
enum Shachain {
    /// Every revocation secret, written so that Core Lightning recovers our
    /// output whatever the peer holds (docs/recovery.md).
    #[default]
    Recoverable,
    /// As Core Lightning's own `staticbackup` writes it; its onchaind then
    /// dies on a stub whose peer has an output (docs/findings.md).
    AsStaticbackup,
}

#[derive(Args)]
pub(crate) struct ExportScbArgs {
    #[arg(required_unless_present = "datadir", conflicts_with = "datadir")]
    file: Option<PathBuf>,
    #[command(flatten)]
    state: DatadirArgs,
    #[arg(long, value_enum)]
    format: ScbFormat,
    /// A peer's address: NODEID@HOST:PORT (repeatable).
    #[arg(long)]
    peer_addr: Vec<PeerAddr>,
    /// How the peer's revocation secrets are written.
    #[arg(long, value_enum, default_value_t)]
    shachain: Shachain,
    #[command(flatten)]
    key: KeyArgs,
}

pub(crate) fn run(json: bool, a: &ExportScbArgs) -> Result<bool, RecoveryError> {
    let ExportScbArgs {
        file,
        state,
        format: ScbFormat::Cln,
        peer_addr,
        shachain,
        key,
    } = a;
    let form = match shachain {
        Shachain::Recoverable => ShachainForm::Recoverable,
        Shachain::AsStaticbackup => ShachainForm::AsStaticbackup,
    };
    let l = load_either(file, state, key)?;
    let e = scb::export(&l.snapshot, peer_addr, form);
    if json {
        println!(
            "{}",
            json!({"source": l.label, "scb": e.scb, "channels": e.channels})
        );
    } else {
        // stdout is `recoverchannel`'s input as is; the report goes to stderr.
        println!("{}", json!({"scb": e.scb}));
        for c in &e.channels {
            match (&c.reason, &c.warning) {
                (Some(r), _) => eprintln!("not exported: channel {}: {r}", c.label),
                (None, Some(w)) => eprintln!("exported: channel {} ({w})", c.label),
                (None, None) => eprintln!("exported: channel {}", c.label),
            }
        }
    }
    Ok(false)
}
