//! `vls-recover inspect` and `diff`: a backup's or a stopped signer's
//! state, for people or as JSON, and what changed between two of them.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use vls_recovery::diff::Diff;
use vls_recovery::snapshot::{ChannelStatus, HtlcDirection};
use vls_recovery::{Network, RecoveryError, Snapshot};

use crate::args::{DatadirArgs, KeyArgs};
use crate::state::{load, load_either};

#[derive(Args)]
pub(crate) struct InspectArgs {
    /// A backup file.
    #[arg(required_unless_present = "datadir", conflicts_with = "datadir")]
    file: Option<PathBuf>,
    #[command(flatten)]
    state: DatadirArgs,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Args)]
pub(crate) struct DiffArgs {
    a: PathBuf,
    b: PathBuf,
    #[arg(long)]
    network: Option<Network>,
    #[command(flatten)]
    key: KeyArgs,
}

/// The state's summary (with the backup's header, if it is one).
pub(crate) fn inspect(json: bool, a: &InspectArgs) -> Result<bool, RecoveryError> {
    let InspectArgs { file, state, key } = a;
    let l = load_either(file, state, key)?;
    if json {
        let doc = json!({"source": l.label, "header": l.header, "snapshot": l.snapshot});
        println!("{doc}");
    } else {
        println!("{}", l.label);
        if let Some(h) = &l.header {
            println!(
                "backup: created at {} ms from {}, {}",
                h.created_at_ms,
                h.source,
                if h.includes_seed {
                    "includes the seed"
                } else {
                    "no seed"
                }
            );
        }
        print_summary(&l.snapshot);
    }
    Ok(false)
}

/// Ok(true) when something changed.
pub(crate) fn diff(json: bool, a: &DiffArgs) -> Result<bool, RecoveryError> {
    let DiffArgs { a, b, network, key } = a;
    let la = load(a, *network, key)?;
    let lb = load(b, *network, key)?;
    let d = Diff::between(&la.snapshot, &lb.snapshot)?;
    if json {
        println!("{}", json!({"a": la.label, "b": lb.label, "diff": d}));
    } else {
        print!("{d}");
    }
    Ok(!d.is_empty())
}

fn print_summary(s: &Snapshot) {
    println!("node {} on {}", s.node_id, s.network);
    println!(
        "chain tip: height {} ({}), watching {} outpoints",
        s.tracker.height, s.tracker.tip_hash, s.tracker.listeners
    );
    println!("allowlist: {}", s.allowlist.entries.join(", "));
    println!(
        "{} channels, {} store entries, dbid high-water mark {}",
        s.channels.len(),
        s.store.len(),
        s.node.dbid_high_water_mark
    );
    for c in &s.channels {
        let status = match c.status {
            ChannelStatus::Stub => "stub",
            ChannelStatus::Open => "open",
            ChannelStatus::Closed => "closed",
        };
        println!(
            "channel {} [{status}] {} sat, {}, funding {}",
            c.label(),
            c.capacity_sat,
            c.commitment_type.as_deref().unwrap_or("-"),
            c.funding_outpoint.as_deref().unwrap_or("-"),
        );
        println!(
            "  next commitment: ours {}, theirs {}; {} of theirs revoked ({} secret slots)",
            c.next_holder_commit_num,
            c.next_counterparty_commit_num,
            c.next_counterparty_revoke_num,
            c.counterparty_secrets.len()
        );
        for h in &c.htlcs {
            println!(
                "  htlc {} {} sat, hash {}, expiry {}{}",
                match h.direction {
                    HtlcDirection::Offered => "out",
                    HtlcDirection::Received => "in",
                },
                h.amount_sat,
                h.payment_hash,
                h.cltv_expiry,
                if h.preimage.is_some() {
                    ", preimage known"
                } else {
                    ""
                }
            );
        }
    }
}
