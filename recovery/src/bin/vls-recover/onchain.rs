//! What the on-chain commands (chain-status, plan, sweep, watch) work from:
//! the state and its signer, the chain, what is known besides the state,
//! and the plan built from them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lightning_signer::bitcoin::address::NetworkUnchecked;
use lightning_signer::bitcoin::{Address, ScriptBuf};
use vls_recovery::archive::HtlcArchive;
use vls_recovery::backup;
use vls_recovery::chain::{ChainSource, ChainView, RecordedChain, RpcAuth, RpcChain};
use vls_recovery::feewallet::FeeWallet;
use vls_recovery::offline::OfflineSigner;
use vls_recovery::plan::{Known, Plan as RecoveryPlan};
use vls_recovery::preimage::Preimages;
use vls_recovery::{Network, RecoveryError, Snapshot, VlsdDatadir};

use crate::args::OnchainArgs;
use crate::state::{datadir, offline_signer, open_key};

/// Where the state came from.
pub(crate) enum Source {
    Backup(PathBuf),
    Datadir(VlsdDatadir),
}

/// Everything an on-chain command works from.
pub(crate) struct Onchain {
    pub(crate) snapshot: Snapshot,
    pub(crate) signer: OfflineSigner,
    pub(crate) known: Known,
    pub(crate) chain: Box<dyn ChainSource>,
    pub(crate) plan: RecoveryPlan,
    pub(crate) label: String,
    /// People's names of channels, by first id (hex).
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) source: Source,
    pub(crate) scan_from: u32,
}

/// A channel's name for people, by its first id (hex).
pub(crate) fn label_of(labels: &BTreeMap<String, String>, id0: &str) -> String {
    labels
        .get(id0)
        .cloned()
        .unwrap_or_else(|| format!("id0 {id0}"))
}

/// Everything an on-chain command works from, in the order its errors are
/// told: the state and seed, the chain, the preimages, the archive.
pub(crate) fn onchain(a: &OnchainArgs) -> Result<Onchain, RecoveryError> {
    let (mut l, signer) = offline_signer(&a.signer)?;
    let chain = chain_source(a)?;
    let fee_script = FeeWallet::of(&signer)?.script;
    let view = ChainView::scan_with_scripts(
        chain.as_ref(),
        &signer.funding_outpoints()?,
        &[fee_script],
        a.scan_from,
    )?;
    let mut preimages = preimages(a, &l.snapshot)?;
    let wanted = l.snapshot.payment_hashes();
    preimages.harvest(view.txs(), &wanted);
    let source = match (&a.signer.file, &a.signer.state.datadir) {
        (Some(f), _) => Source::Backup(f.clone()),
        (None, Some(d)) => Source::Datadir(datadir(d, a.signer.state.network)?),
        (None, None) => {
            return Err(RecoveryError::Usage {
                reason: "give a backup FILE or --datadir".into(),
            })
        }
    };
    let archive = archive(a, std::mem::take(&mut l.archive), &l.snapshot)?;
    let known = Known {
        preimages,
        archive,
        wanted,
        fee_coins_in_use: BTreeMap::new(),
    };
    let labels: BTreeMap<String, String> = l
        .snapshot
        .channels
        .iter()
        .map(|c| (c.id0.clone(), c.label()))
        .collect();
    let plan = RecoveryPlan::build(&signer, &view, &known, &|id0| label_of(&labels, id0))?;
    Ok(Onchain {
        snapshot: l.snapshot,
        signer,
        known,
        chain,
        plan,
        label: l.label,
        labels,
        source,
        scan_from: a.scan_from,
    })
}

/// A recorded chain (--chain-file) or bitcoind over RPC.
fn chain_source(a: &OnchainArgs) -> Result<Box<dyn ChainSource>, RecoveryError> {
    Ok(match (&a.chain_file, &a.rpc_url) {
        (Some(f), _) => Box::new(RecordedChain::load(f)?),
        (None, Some(url)) => {
            let auth = match (&a.rpc_cookie, &a.rpc_user_file) {
                (Some(c), _) => RpcAuth::Cookie(c.clone()),
                (None, Some(u)) => RpcAuth::UserPassFile(u.clone()),
                (None, None) => {
                    return Err(RecoveryError::Usage {
                        reason: "--rpc-url needs --rpc-cookie or --rpc-user-file".into(),
                    })
                }
            };
            Box::new(RpcChain::connect(url, &auth)?)
        }
        (None, None) => {
            return Err(RecoveryError::Usage {
                reason: "give --rpc-url or --chain-file".into(),
            })
        }
    })
}

/// The preimages the state knew, and those given with --preimage and
/// --preimage-file.
fn preimages(a: &OnchainArgs, snapshot: &Snapshot) -> Result<Preimages, RecoveryError> {
    let mut preimages = Preimages::from_state(&snapshot.preimages()?);
    for p in &a.preimage {
        preimages.add_hex(p, "--preimage")?;
    }
    if let Some(f) = &a.preimage_file {
        let text =
            zeroize::Zeroizing::new(std::fs::read_to_string(f).map_err(RecoveryError::io(f))?);
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            preimages.add_hex(line, &format!("{} line {}", f.display(), i + 1))?;
        }
    }
    Ok(preimages)
}

/// `archive` with those of the --archive-from backups (of the same node
/// as `snapshot`) added.
fn archive(
    a: &OnchainArgs,
    mut archive: HtlcArchive,
    snapshot: &Snapshot,
) -> Result<HtlcArchive, RecoveryError> {
    for f in &a.archive_from {
        let older = backup::open_snapshot_file(f, &open_key(&a.signer.key, f)?)?;
        if older.snapshot.node_id != snapshot.node_id {
            return Err(RecoveryError::Usage {
                reason: format!(
                    "--archive-from {}: a backup of node {}, not {}",
                    f.display(),
                    older.snapshot.node_id,
                    snapshot.node_id
                ),
            });
        }
        archive.merge(&older.archive);
    }
    Ok(archive)
}

/// The script `--to` pays, an address of `network`.
pub(crate) fn parse_destination(to: &str, network: Network) -> Result<ScriptBuf, RecoveryError> {
    let usage = |reason: String| RecoveryError::Usage {
        reason: format!("--to {to}: {reason}"),
    };
    let addr = to
        .parse::<Address<NetworkUnchecked>>()
        .map_err(|e| usage(format!("not an address: {e}")))?;
    let addr = addr
        .require_network(network.into())
        .map_err(|_| usage(format!("not an address of {network}")))?;
    Ok(addr.script_pubkey())
}
