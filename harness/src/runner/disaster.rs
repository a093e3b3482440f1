//! Disaster steps: a component's disk gone for good, a signer's state and
//! seed sealed into an operator's backup, and the recovery library
//! bringing a lost node's funds home from that backup on the run's chain.

use std::path::Path;

use serde_json::json;
use vls_recovery::archive::HtlcArchive;
use vls_recovery::backup::{self, DirSink, OpenKey, SealKey};
use vls_recovery::chain::{ChainSource, RpcAuth, RpcChain};
use vls_recovery::offline::OfflineSigner;
use vls_recovery::plan::{Action as PlanAction, Known, Status};
use vls_recovery::preimage::Preimages;
use vls_recovery::sweep;
use vls_recovery::watch::{WatchConfig, Watcher};
use vls_recovery::{Network, RecoveryError, Seed};

use super::state::{Opened, Recovery, World};
use crate::component::RPC_PORT;
use crate::error::{HarnessError, Result};
use crate::node::Node;
use crate::report::event::RunEvent;
use crate::scenario::{BackupSpec, RecoverOnchainSpec};

/// Kills `component` and erases its datadir: no restart can bring back
/// what it held. A Core Lightning node's wallet addresses are read first
/// (at its own or its signer's destruction), for the checks to find what
/// it still owns on chain should it be destroyed.
pub async fn destroy(world: &World<'_>, component: &str) -> Result<String> {
    let cluster = world.cluster;
    let c = cluster.container(component)?;
    // Read while lightningd still answers: it derives each address through
    // its signer, so once vlsd is gone it answers no more.
    let node_name = component.strip_prefix("vlsd-").unwrap_or(component);
    let known = world.state().lost_wallets.contains_key(node_name);
    if let (Ok(crate::component::AnyNode::Cln(node)), false) = (cluster.node(node_name), known) {
        let addresses = node.wallet_addresses().await.map_err(|e| {
            HarnessError::component(
                node_name,
                format!(
                    "destroy {component}: reading the node's wallet addresses before the loss: {e}"
                ),
            )
        })?;
        world
            .state()
            .lost_wallets
            .insert(node_name.to_string(), addresses);
    }
    world.state().retired.push(component.to_string());
    if c.status().await?.running {
        c.kill().await?;
    }
    let datadir = cluster.datadir_of(component)?;
    cluster.resources().erase_dir(c, &datadir).await?;
    Ok(format!(
        "{component} killed and its datadir {datadir} erased"
    ))
}

/// The run's backup key (the operator's age identity), made at the first
/// backup and kept in the run directory, 0600.
pub(super) fn identity(world: &World<'_>) -> Result<age::x25519::Identity> {
    let path = world.cluster.run_dir().join("backup-identity.txt");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return text
            .trim()
            .parse()
            .map_err(|e| HarnessError::component("runner", format!("{}: {e}", path.display())));
    }
    let id = age::x25519::Identity::generate();
    let secret = age::secrecy::ExposeSecret::expose_secret(&id.to_string()).to_string();
    write_private(&path, secret.as_bytes())?;
    Ok(id)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(HarnessError::io(path))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(HarnessError::io(path))
}

/// Seals vlsd's state and seed into a backup file of the run (the seed
/// with it: the backup alone must bring the funds home), carrying the HTLC
/// archive of the node's previous backup. It is taken once
/// no update of the node's channels is in flight, as a strategy that backs
/// up after every change has it.
pub async fn backup(world: &World<'_>, b: &BackupSpec) -> Result<String> {
    let channels: Vec<(String, Opened)> = world
        .state()
        .channels
        .iter()
        .filter(|(_, o)| o.opener == b.signer || o.peer == b.signer)
        .map(|(n, o)| (n.clone(), o.clone()))
        .collect();
    let listed: Vec<String> = world
        .cluster
        .node(&b.signer)?
        .channels()
        .await?
        .into_iter()
        .map(|c| c.channel_id)
        .collect();
    for (name, opened) in channels.iter().filter(|(_, o)| listed.contains(&o.id)) {
        super::quiet::settled_update(world, name, opened).await?;
    }
    let signer = world.cluster.signer(&b.signer)?;
    let c = signer.container();
    let (snapshot, _) = crate::artifacts::snapshot_signer(signer).await?;
    let seed_path = signer.datadir().seed_path().display().to_string();
    let seed_bytes = zeroize::Zeroizing::new(c.read_file(&c.durable_path(&seed_path)).await?);
    let seed_text = zeroize::Zeroizing::new(String::from_utf8_lossy(&seed_bytes).into_owned());
    let seed =
        Seed::from_hex(&seed_text, &format!("{}:{seed_path}", c.name())).map_err(recovery)?;
    snapshot.check_seed(&seed).map_err(recovery)?;
    let id = identity(world)?;
    let dir = world.cluster.run_dir().join("backups").join(&b.name);
    std::fs::create_dir_all(&dir).map_err(HarnessError::io(&dir))?;
    let sink = DirSink {
        dir,
        key: SealKey::Recipients(vec![id.to_public()]),
        keep: None,
        seed: Some(seed),
        source: format!("harness:{}", c.name()),
    };
    // As a strategy does: the HTLC archive of this node's previous backup
    // is carried into the new one, so the HTLCs of commitments since
    // revoked stay known (justice on their outputs needs them).
    let previous = world
        .state()
        .backups
        .values()
        .filter(|(node, _)| *node == b.signer)
        .map(|(_, path)| path.clone())
        .max();
    let archive = match previous {
        Some(p) => {
            backup::open_snapshot_file(&p, &OpenKey::Identities(vec![identity(world)?]))
                .map_err(recovery)?
                .archive
        }
        None => HtlcArchive::default(),
    };
    let path = sink.write_snapshot(&snapshot, &archive).map_err(recovery)?;
    let detail = format!(
        "{} channels of node {} -> {}",
        snapshot.channels.len(),
        snapshot.node_id,
        path.display()
    );
    world
        .state()
        .backups
        .insert(b.name.clone(), (b.signer.clone(), path));
    Ok(detail)
}

pub(super) fn recovery(e: RecoveryError) -> HarnessError {
    HarnessError::component("recovery", format!("{} ({})", e, e.code()))
}

/// The wallet of bitcoind where recovery sends a node's funds: its own,
/// so the checks can tell them from the miner's.
pub fn recovered_wallet(node: &str) -> String {
    format!("{node}-recovered")
}

/// The address a node's recovered funds go to: one of a wallet of its own
/// in bitcoind (made on first use), kept for the run.
pub async fn recovery_address(world: &World<'_>, node: &str) -> Result<String> {
    if let Some(a) = world.state().recovery_addresses.get(node) {
        return Ok(a.clone());
    }
    let b = world.cluster.bitcoind()?;
    let wallet = recovered_wallet(node);
    let created: Result<serde_json::Value> = b.call("createwallet", vec![json!(wallet)]).await;
    if let Err(e) = created {
        if !e.to_string().contains("already exists") {
            return Err(e);
        }
    }
    let address: String = b
        .wallet_call(&wallet, "getnewaddress", vec![json!(""), json!("bech32")])
        .await?;
    world
        .state()
        .recovery_addresses
        .insert(node.to_string(), address.clone());
    Ok(address)
}

/// The backup a `backup` step took under `name`: whose it is, its file,
/// and what it holds, opened with the run's key.
pub(super) fn open_backup(
    world: &World<'_>,
    name: &str,
) -> Result<(String, std::path::PathBuf, backup::Contents)> {
    let (node, file) = world
        .state()
        .backups
        .get(name)
        .cloned()
        .ok_or_else(|| HarnessError::component("runner", format!("no backup `{name}`")))?;
    let key = OpenKey::Identities(vec![identity(world)?]);
    let contents = backup::open_snapshot_file(&file, &key).map_err(recovery)?;
    Ok((node, file, contents))
}

/// Runs the recovery library from a backup until every claim is spent,
/// mining to the next height at which a claim becomes ready.
pub async fn recover_onchain(world: &World<'_>, r: &RecoverOnchainSpec) -> Result<String> {
    let cluster = world.cluster;
    let b = cluster.bitcoind()?;
    let (_, file, contents) = open_backup(world, &r.from)?;
    let seed = contents.seed.ok_or_else(|| {
        HarnessError::component(
            "recovery",
            format!("{}: the backup holds no seed", file.display()),
        )
    })?;
    let signer = OfflineSigner::restore(&contents.snapshot, &seed).map_err(recovery)?;
    let address = recovery_address(world, &r.signer).await?;
    signer.allow_destination(&address).map_err(recovery)?;
    let auth_file = world.cluster.run_dir().join("bitcoind-rpc-auth");
    if !auth_file.exists() {
        let (user, password) = b.rpc_credentials();
        write_private(&auth_file, format!("{user}:{password}\n").as_bytes())?;
    }
    let url = format!("http://{}", b.container().address(RPC_PORT).await?);
    let chain = RpcChain::connect(&url, &RpcAuth::UserPassFile(auth_file)).map_err(recovery)?;
    let destination = address
        .parse::<bitcoincore_rpc::bitcoin::Address<bitcoincore_rpc::bitcoin::address::NetworkUnchecked>>()
        .map_err(|e| HarnessError::component("bitcoind", format!("new address {address}: {e}")))?
        .assume_checked()
        .script_pubkey();
    let (_, ceiling) = sweep::fee_rate_bounds(Network::Regtest);
    let estimate = chain.fee_rate_estimate(6).map_err(recovery)?;
    let fee_rate = sweep::choose_fee_rate(Network::Regtest, None, estimate).map_err(recovery)?;
    let config = WatchConfig {
        network: Network::Regtest,
        destination,
        fee_rate,
        max_fee_rate: ceiling,
        urgency_blocks: 6,
        scan_from: 0,
    };
    let snapshot = contents.snapshot;
    let labels: std::collections::BTreeMap<String, String> = snapshot
        .channels
        .iter()
        .map(|c| (c.id0.clone(), c.label()))
        .collect();
    let mut known = Known {
        preimages: Preimages::from_state(&snapshot.preimages().map_err(recovery)?),
        archive: contents.archive,
        wanted: snapshot.payment_hashes(),
        fee_coins_in_use: Default::default(),
    };
    let mut watcher = Watcher::new(config);
    let start = b.height().await?;
    let mut slack: Option<i64> = None;
    // Each claim's slack is taken when it is first ready (first sent).
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let label = |id0: &str| labels.get(id0).cloned().unwrap_or_else(|| id0.to_string());
        let step = watcher
            .step(
                &signer,
                &chain,
                &mut known,
                &label,
                &mut |_: &PlanAction| Ok(()),
            )
            .map_err(recovery)?;
        for e in &step.events {
            // A timeline line, not a seeded choice: txids pay to a new
            // address of the recovery wallet, which differs every run.
            world.events.emit(RunEvent::StepNote {
                text: format!("recovery of {}: {e}", r.signer),
                detail: None,
            });
        }
        for a in step.plan.actions() {
            if let (Status::Ready, Some(d), true) =
                (&a.status, a.deadline_height, seen.insert(a.outpoint))
            {
                let left = i64::from(d) - i64::from(step.plan.tip);
                slack = Some(slack.map_or(left, |s| s.min(left)));
            }
        }
        let mined = b.height().await? - start;
        if step.finished || mined >= u64::from(r.max_blocks) {
            let summary = watcher.summary(&step.plan);
            let detail = format!(
                "{}after {mined} blocks: {}",
                if step.finished { "" } else { "NOT FINISHED " },
                summary.to_string().replace('\n', "; ")
            );
            world.state().recoveries.push(Recovery {
                node: r.signer.clone(),
                finished: step.finished,
                summary,
                deadline_slack: slack,
            });
            if !step.finished {
                return Err(HarnessError::Assertion(format!(
                    "recovery of {} from {} left claims open: {detail}",
                    r.signer, r.from
                )));
            }
            return Ok(detail);
        }
        // Mine to the next height at which a claim is ready; one block when
        // something was just sent and waits to confirm.
        let sent = step
            .plan
            .actions()
            .iter()
            .any(|a| matches!(a.status, Status::Ready));
        let next = step
            .plan
            .actions()
            .iter()
            .filter_map(|a| match a.status {
                Status::Waiting { .. } => Some(a.earliest_height),
                _ => None,
            })
            .min();
        let blocks = match (sent, next) {
            (false, Some(h)) if h > step.plan.tip + 1 => u64::from(h - step.plan.tip - 1),
            _ => 1,
        };
        let nodes = world.live_nodes();
        crate::lightning::mine_beside(cluster, &nodes, blocks.min(u64::from(r.max_blocks) - mined))
            .await?;
    }
}
