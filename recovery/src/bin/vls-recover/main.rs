//! `vls-recover`: the operator's command line over the recovery library.
//! Clap only; the work is in the library. Every command has `--json`.
//! Errors print one sentence with their stable code and exit with the code's class.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use age::secrecy::SecretString;
use clap::{Args, Parser, Subcommand, ValueEnum};
use lightning_signer::bitcoin::address::NetworkUnchecked;
use lightning_signer::bitcoin::{Address, ScriptBuf};
use serde_json::json;
use vls_recovery::archive::HtlcArchive;
use vls_recovery::backup::{self, BackupHeader, DirSink, OpenKey, SealKey};
use vls_recovery::chain::{ChainSource, ChainView, RecordedChain, RpcAuth, RpcChain};
use vls_recovery::closed;
use vls_recovery::diff::Diff;
use vls_recovery::feewallet::FeeWallet;
use vls_recovery::offline::OfflineSigner;
use vls_recovery::plan::{Claim, Known, Plan as RecoveryPlan};
use vls_recovery::preimage::Preimages;
use vls_recovery::restore::{self, Plan, Watermark};
use vls_recovery::scb::{self, PeerAddr};
use vls_recovery::snapshot::{ChannelStatus, HtlcDirection};
use vls_recovery::sweep;
use vls_recovery::{Network, RecoveryError, Seed, Snapshot, VlsdDatadir};

mod watch;

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
        command: BackupCommand,
    },
    /// Check that a backup opens with the key, matches its checksum, and holds
    /// a consistent snapshot (and the right seed, if it has one).
    Verify {
        file: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Show a backup's or a stopped signer's state.
    Inspect {
        /// A backup file.
        #[arg(required_unless_present = "datadir", conflicts_with = "datadir")]
        file: Option<PathBuf>,
        #[command(flatten)]
        state: DatadirArgs,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// What changed from A to B (each a backup file or a vlsd datadir).
    /// Exits 0 when nothing changed, 1 when something did.
    Diff {
        a: PathBuf,
        b: PathBuf,
        #[arg(long)]
        network: Option<Network>,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Write a backup into a new, empty vlsd datadir that vlsd starts from.
    Restore {
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
    },
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
    Sweep {
        #[command(flatten)]
        onchain: OnchainArgs,
        #[command(flatten)]
        spend: SpendArgs,
        /// Broadcast the signed transactions.
        #[arg(long, conflicts_with = "dry_run")]
        broadcast: bool,
        /// Sign and verify only (the default).
        #[arg(long)]
        dry_run: bool,
    },
    /// Sign, broadcast, re-broadcast and raise fees until every claimed
    /// output is spent; then a table of what came home. A datadir stays
    /// locked meanwhile; a force-close marks its channel closed first.
    Watch {
        #[command(flatten)]
        onchain: OnchainArgs,
        #[command(flatten)]
        spend: SpendArgs,
        /// Highest fee rate a bump may reach (default: the policy ceiling).
        #[arg(long)]
        max_fee_rate: Option<u32>,
        /// Raise the fee of an unconfirmed claim at every block once its
        /// deadline is this many blocks away or closer.
        #[arg(long, default_value_t = 6)]
        urgency_blocks: u32,
        /// Look again after this many seconds without a new block
        /// (re-broadcasts what a node may have dropped).
        #[arg(long, default_value_t = 60)]
        poll_secs: u64,
        /// One pass, then the table (exit 1 if claims remain open).
        #[arg(long)]
        once: bool,
    },
    /// The fee wallet's address: coins sent there pay the fees of anchor
    /// channels' zero-fee HTLC transactions (derived from the seed).
    FeeAddress {
        #[command(flatten)]
        signer: SignerArgs,
    },
    /// Core Lightning static channel backups (`recoverchannel` input).
    ExportScb {
        #[arg(required_unless_present = "datadir", conflicts_with = "datadir")]
        file: Option<PathBuf>,
        #[command(flatten)]
        state: DatadirArgs,
        #[arg(long, value_enum)]
        format: ScbFormat,
        /// A peer's address: NODEID@HOST:PORT (repeatable).
        #[arg(long)]
        peer_addr: Vec<PeerAddr>,
        #[command(flatten)]
        key: KeyArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ScbFormat {
    Cln,
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Seal a stopped signer's state into a new backup file.
    Create {
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
    },
}

#[derive(Args)]
struct DatadirArgs {
    /// A stopped vlsd's datadir.
    #[arg(long)]
    datadir: Option<PathBuf>,
    /// Network subdirectory; found automatically when there is only one.
    #[arg(long)]
    network: Option<Network>,
}

/// Where claimed funds go and at what fee rate.
#[derive(Args)]
struct SpendArgs {
    /// Where the funds go (an address of the node's network).
    #[arg(long)]
    to: String,
    /// Fee rate in sat per 1000 weight units (default: the chain
    /// source's estimate, held to policy bounds).
    #[arg(long)]
    fee_rate: Option<u32>,
}

/// The state and the seed to sign with.
#[derive(Args)]
struct SignerArgs {
    /// A backup file.
    #[arg(required_unless_present = "datadir", conflicts_with = "datadir")]
    file: Option<PathBuf>,
    #[command(flatten)]
    state: DatadirArgs,
    #[command(flatten)]
    key: KeyArgs,
    /// The node seed (hex); default: the backup's, or the datadir's node.seed.
    #[arg(long)]
    seed_file: Option<PathBuf>,
}

/// The state, the seed and the chain to recover from.
#[derive(Args)]
struct OnchainArgs {
    #[command(flatten)]
    signer: SignerArgs,
    /// bitcoind's RPC URL.
    #[arg(long, required_unless_present = "chain_file")]
    rpc_url: Option<String>,
    /// bitcoind's .cookie file.
    #[arg(long, conflicts_with = "rpc_user_file")]
    rpc_cookie: Option<PathBuf>,
    /// File holding `user:password` for bitcoind's RPC.
    #[arg(long)]
    rpc_user_file: Option<PathBuf>,
    /// A recorded chain ({"blocks": [hex, ...]}) instead of bitcoind.
    #[arg(long, conflicts_with = "rpc_url")]
    chain_file: Option<PathBuf>,
    /// First block height to scan for the channels' transactions (no
    /// funding output can be older than the node's first channel).
    #[arg(long, default_value_t = 0)]
    scan_from: u32,
    /// A payment preimage (64 hex digits) to claim HTLCs with (repeatable);
    /// your node's invoice database has the ones the signer never saw.
    #[arg(long)]
    preimage: Vec<String>,
    /// A file of preimages, one in hex per line.
    #[arg(long)]
    preimage_file: Option<PathBuf>,
    /// An older backup whose HTLC archive to add (repeatable): the HTLCs
    /// of revoked commitments, for justice on their HTLC outputs.
    #[arg(long)]
    archive_from: Vec<PathBuf>,
}

#[derive(Args)]
#[group(multiple = false)]
struct KeyArgs {
    /// age identity file (from `age-keygen`).
    #[arg(long)]
    identity: Option<PathBuf>,
    /// File whose first line is the passphrase.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

fn read_passphrase(path: &Path) -> Result<SecretString, RecoveryError> {
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(RecoveryError::io(path))?);
    let line = text.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        return Err(RecoveryError::Usage {
            reason: format!(
                "{}: the first line (the passphrase) is empty",
                path.display()
            ),
        });
    }
    Ok(SecretString::from(line))
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

fn open_key(k: &KeyArgs, file: &Path) -> Result<OpenKey, RecoveryError> {
    if let Some(p) = &k.identity {
        return Ok(OpenKey::Identities(backup::read_identities(p)?));
    }
    if let Some(p) = &k.passphrase_file {
        return Ok(OpenKey::Passphrase(read_passphrase(p)?));
    }
    Err(RecoveryError::Usage {
        reason: format!(
            "{}: a backup file needs --identity or --passphrase-file to open",
            file.display()
        ),
    })
}

/// The one network directory of a datadir, or the one asked for.
fn datadir(root: &Path, network: Option<Network>) -> Result<VlsdDatadir, RecoveryError> {
    if let Some(n) = network {
        return Ok(VlsdDatadir::new(root, n));
    }
    let found: Vec<Network> = ["bitcoin", "testnet", "signet", "regtest"]
        .iter()
        .filter_map(|n| n.parse::<Network>().ok())
        .filter(|n| VlsdDatadir::new(root, *n).state_db_path().is_file())
        .collect();
    match found.as_slice() {
        [one] => Ok(VlsdDatadir::new(root, *one)),
        [] => Err(RecoveryError::DatadirMissing {
            path: root.to_path_buf(),
            reason: "no <network>/redb inside (is this a vlsd datadir?)".into(),
        }),
        many => Err(RecoveryError::Usage {
            reason: format!(
                "{}: holds state for {}; pass --network",
                root.display(),
                many.iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// A snapshot from a datadir or a backup file.
struct Loaded {
    snapshot: Snapshot,
    header: Option<BackupHeader>,
    /// The seed a backup carries.
    seed: Option<Seed>,
    /// The HTLC archive a backup carries (a datadir's: its own state's).
    archive: HtlcArchive,
    label: String,
}

fn load(path: &Path, network: Option<Network>, key: &KeyArgs) -> Result<Loaded, RecoveryError> {
    if path.is_dir() {
        let d = datadir(path, network)?;
        let snapshot = Snapshot::load(&d)?;
        let mut archive = HtlcArchive::default();
        archive.observe(&snapshot)?;
        return Ok(Loaded {
            snapshot,
            header: None,
            seed: None,
            archive,
            label: format!("datadir {}", path.display()),
        });
    }
    let c = backup::open_snapshot_file(path, &open_key(key, path)?)?;
    Ok(Loaded {
        snapshot: c.snapshot,
        header: Some(c.header),
        seed: c.seed,
        archive: c.archive,
        label: format!("backup {}", path.display()),
    })
}

fn load_either(
    file: &Option<PathBuf>,
    state: &DatadirArgs,
    key: &KeyArgs,
) -> Result<Loaded, RecoveryError> {
    match (file, &state.datadir) {
        (Some(f), None) => load(f, state.network, key),
        (None, Some(d)) => {
            if !d.is_dir() {
                return Err(RecoveryError::DatadirMissing {
                    path: d.clone(),
                    reason: "not a directory".into(),
                });
            }
            load(d, state.network, key)
        }
        _ => Err(RecoveryError::Usage {
            reason: "give a backup FILE or --datadir, not both".into(),
        }),
    }
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

/// Where the state came from.
enum Source {
    Backup(PathBuf),
    Datadir(VlsdDatadir),
}

/// Everything an on-chain command works from.
struct Onchain {
    snapshot: Snapshot,
    signer: OfflineSigner,
    known: Known,
    chain: Box<dyn ChainSource>,
    plan: RecoveryPlan,
    label: String,
    /// People's names of channels, by first id (hex).
    labels: BTreeMap<String, String>,
    source: Source,
    scan_from: u32,
}

fn label_of(labels: &BTreeMap<String, String>, id0: &str) -> String {
    labels
        .get(id0)
        .cloned()
        .unwrap_or_else(|| format!("id0 {id0}"))
}

/// The seed: `--seed-file`, else the backup's, else the datadir's.
fn seed_of(
    seed_file: &Option<PathBuf>,
    l: &mut Loaded,
    state: &DatadirArgs,
) -> Result<Seed, RecoveryError> {
    match (seed_file, l.seed.take(), &state.datadir) {
        (Some(p), _, _) => Seed::from_file(p),
        (None, Some(s), _) => Ok(s),
        (None, None, Some(d)) => Seed::from_file(&datadir(d, state.network)?.seed_path()),
        (None, None, None) => Err(RecoveryError::SeedMissing),
    }
}

/// The state and the node restored from it in memory.
fn offline_signer(a: &SignerArgs) -> Result<(Loaded, OfflineSigner), RecoveryError> {
    let mut l = load_either(&a.file, &a.state, &a.key)?;
    let seed = seed_of(&a.seed_file, &mut l, &a.state)?;
    let signer = OfflineSigner::restore(&l.snapshot, &seed)?;
    Ok((l, signer))
}

fn onchain(a: &OnchainArgs) -> Result<Onchain, RecoveryError> {
    let (mut l, signer) = offline_signer(&a.signer)?;
    let chain: Box<dyn ChainSource> = match (&a.chain_file, &a.rpc_url) {
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
    };
    let fee_script = FeeWallet::of(&signer)?.script;
    let view = ChainView::scan_with_scripts(
        chain.as_ref(),
        &signer.funding_outpoints()?,
        &[fee_script],
        a.scan_from,
    )?;
    let mut preimages = Preimages::from_state(&l.snapshot.preimages()?);
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
    let wanted: Vec<[u8; 32]> = l
        .snapshot
        .channels
        .iter()
        .flat_map(|c| &c.htlcs)
        .filter_map(|h| {
            let mut b = [0u8; 32];
            hex::decode_to_slice(&h.payment_hash, &mut b)
                .ok()
                .map(|()| b)
        })
        .collect();
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
    let mut archive = std::mem::take(&mut l.archive);
    for f in &a.archive_from {
        let older = backup::open_snapshot_file(f, &open_key(&a.signer.key, f)?)?;
        if older.snapshot.node_id != l.snapshot.node_id {
            return Err(RecoveryError::Usage {
                reason: format!(
                    "--archive-from {}: a backup of node {}, not {}",
                    f.display(),
                    older.snapshot.node_id,
                    l.snapshot.node_id
                ),
            });
        }
        archive.merge(&older.archive);
    }
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

/// Ok(true) means "found a difference" (diff's exit 1).
fn run(cli: &Cli) -> Result<bool, RecoveryError> {
    match &cli.command {
        Command::Backup {
            command:
                BackupCommand::Create {
                    state,
                    recipient,
                    passphrase_file,
                    out,
                    keep,
                    include_seed,
                    identity,
                },
        } => {
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
            if cli.json {
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
        }
        Command::Verify { file, key } => {
            let c = backup::open_snapshot_file(file, &open_key(key, file)?)?;
            if cli.json {
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
        }
        Command::Inspect { file, state, key } => {
            let l = load_either(file, state, key)?;
            if cli.json {
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
        }
        Command::Diff { a, b, network, key } => {
            let la = load(a, *network, key)?;
            let lb = load(b, *network, key)?;
            let d = Diff::between(&la.snapshot, &lb.snapshot)?;
            if cli.json {
                println!("{}", json!({"a": la.label, "b": lb.label, "diff": d}));
            } else {
                print!("{d}");
            }
            return Ok(!d.is_empty());
        }
        Command::Restore {
            file,
            datadir: root,
            seed_file,
            against,
            force,
            key,
        } => {
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
            if cli.json {
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
        }
        Command::ChainStatus { onchain: a } => {
            let o = onchain(a)?;
            if cli.json {
                let fates: Vec<_> = o
                    .plan
                    .channels
                    .iter()
                    .map(|c| {
                        json!({"channel": c.channel, "funding": c.funding.to_string(),
                                    "capacity_sat": c.capacity_sat, "fate": c.fate})
                    })
                    .collect();
                println!(
                    "{}",
                    json!({"source": o.label, "node_id": o.snapshot.node_id,
                           "tip": o.plan.tip, "channels": fates})
                );
            } else {
                println!("{} (node {})", o.label, o.snapshot.node_id);
                for line in o.plan.to_string().lines().take(1 + o.plan.channels.len()) {
                    println!("{line}");
                }
            }
        }
        Command::Plan { onchain: a } => {
            let o = onchain(a)?;
            if cli.json {
                println!("{}", json!({"source": o.label, "plan": o.plan}));
            } else {
                println!("{} (node {})", o.label, o.snapshot.node_id);
                print!("{}", o.plan);
            }
        }
        Command::Sweep {
            onchain: a,
            spend: SpendArgs { to, fee_rate },
            broadcast,
            dry_run: _,
        } => {
            let o = onchain(a)?;
            let network = o.snapshot.network()?;
            let destination = parse_destination(to, network)?;
            o.signer.allow_destination(to)?;
            let rate = sweep::choose_fee_rate(network, *fee_rate, o.chain.fee_rate_estimate(6)?)?;
            let (signed, unsigned) = sweep::sign_ready(
                &o.signer,
                &o.plan,
                &o.known.preimages,
                network,
                &destination,
                rate,
            );
            let mut sent = Vec::new();
            let mut notes = Vec::new();
            if *broadcast {
                let mut closer = watch::Closer::for_source(&o)?;
                for s in &signed {
                    let force_close =
                        o.plan.actions().into_iter().find(|a| {
                            a.channel == s.channel && matches!(a.claim, Claim::ForceClose)
                        });
                    if let (Some(a), "force-close") = (force_close, s.claim.as_str()) {
                        notes.push(closer.mark(a)?);
                    }
                    sent.push(o.chain.broadcast(&s.tx).map(|t| t.to_string()));
                }
            }
            if cli.json {
                let sent: Vec<_> = sent
                    .iter()
                    .map(|r| match r {
                        Ok(t) => json!({"ok": true, "txid": t}),
                        Err(e) => json!({"ok": false, "code": e.code(), "message": e.to_string()}),
                    })
                    .collect();
                println!(
                    "{}",
                    json!({"fee_rate": rate, "broadcast": broadcast, "signed": signed, "notes": notes,
                           "unsigned": unsigned, "sent": sent,
                           "shortfalls": o.plan.shortfalls().collect::<Vec<_>>()})
                );
            } else {
                println!(
                    "{} signed at {rate} sat/kw{}",
                    signed.len(),
                    if *broadcast {
                        ", broadcasting"
                    } else {
                        " (dry run: nothing broadcast)"
                    }
                );
                for s in &signed {
                    println!(
                        "  {:<24} {:<20} {} in {} sat, fee {} sat ({} sat/kw)",
                        s.channel, s.claim, s.txid, s.value_in_sat, s.fee_sat, s.fee_rate
                    );
                    if !*broadcast {
                        println!(
                            "    {}",
                            lightning_signer::bitcoin::consensus::encode::serialize_hex(&s.tx)
                        );
                    }
                }
                for n in &notes {
                    println!("  {n}");
                }
                for r in &sent {
                    match r {
                        Ok(t) => println!("  sent {t}"),
                        Err(e) => println!("  NOT sent [{}]: {e}", e.code()),
                    }
                }
                for u in &unsigned {
                    println!(
                        "  not signed: {} {} {} ({} sat) [{}]: {}",
                        u.channel, u.claim, u.outpoint, u.value_sat, u.code, u.reason
                    );
                }
                for s in o.plan.shortfalls() {
                    println!(
                        "  not recovered: {} {} sat {}: {}",
                        s.channel, s.value_sat, s.what, s.reason
                    );
                }
            }
            if sent.iter().any(|r| r.is_err()) || !unsigned.is_empty() {
                return Ok(true);
            }
        }
        Command::Watch {
            onchain: a,
            spend: SpendArgs { to, fee_rate },
            max_fee_rate,
            urgency_blocks,
            poll_secs,
            once,
        } => {
            let o = onchain(a)?;
            return watch::run(
                o,
                &watch::WatchOpts {
                    to,
                    fee_rate: *fee_rate,
                    max_fee_rate: *max_fee_rate,
                    urgency_blocks: *urgency_blocks,
                    poll: std::time::Duration::from_secs(*poll_secs),
                    once: *once,
                    recorded: a.chain_file.is_some(),
                    json: cli.json,
                },
            );
        }
        Command::FeeAddress { signer } => {
            let (_, signer) = offline_signer(signer)?;
            let fee = FeeWallet::of(&signer)?;
            if cli.json {
                println!(
                    "{}",
                    json!({"address": fee.address, "path": fee.path.to_string()})
                );
            } else {
                println!("{}", fee.address);
            }
        }
        Command::ExportScb {
            file,
            state,
            format: ScbFormat::Cln,
            peer_addr,
            key,
        } => {
            let l = load_either(file, state, key)?;
            let e = scb::export(&l.snapshot, peer_addr);
            if cli.json {
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
        }
    }
    Ok(false)
}

fn parse_destination(to: &str, network: Network) -> Result<ScriptBuf, RecoveryError> {
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
