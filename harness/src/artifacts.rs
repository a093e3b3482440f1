//! What a run keeps for a post-mortem, and the recovery library at work on
//! a signer's state: snapshots (vlsd state read with `vls-recovery`, never
//! the seed) and restores into a stopped vlsd with anti-rollback.

use std::path::Path;

use serde_json::{json, Value};
use vls_recovery::restore::{self, Plan, Watermark};
use vls_recovery::{Network, RecoveryError, Snapshot, VlsdDatadir};

use crate::cluster::Cluster;
use crate::component::Signer;
use crate::error::{HarnessError, Result};
use crate::node::Node;

/// Where the recovery library keeps the restore marker in a vlsd datadir
/// (beside the state, under the network's directory).
fn marker_path(datadir: &VlsdDatadir) -> std::path::PathBuf {
    datadir.network_dir().join(restore::MARKER_FILE)
}

/// vlsd's state database inside its container, as the library lays it out.
fn state_db(signer: &Signer) -> String {
    signer.datadir().state_db_path().display().to_string()
}

/// Reads a vlsd's state and parses it with the recovery library. A running
/// vlsd is frozen for the copy so the file is not read mid-write.
pub async fn snapshot_signer(signer: &Signer) -> Result<(Snapshot, Vec<u8>)> {
    snapshot_signer_frozen(signer, true).await
}

/// As [`snapshot_signer`], without the freeze when `freeze` is false: for a
/// vlsd its power-cut layer holds mid-fsync, which is already still and
/// cannot be frozen (the cgroup freezer waits for the fsync to return).
pub async fn snapshot_signer_frozen(signer: &Signer, freeze: bool) -> Result<(Snapshot, Vec<u8>)> {
    let c = signer.container();
    let status = c.status().await?;
    let freeze = freeze && status.running && !status.paused;
    if freeze {
        c.pause().await?;
    }
    let bytes = c.read_file(&state_db(signer)).await;
    if freeze {
        c.unpause().await?;
    }
    let snapshot = parse_state(c.name(), &bytes?)?;
    let json = snapshot
        .to_json()
        .map_err(|e| HarnessError::component(c.name(), e.to_string()))?;
    Ok((snapshot, json))
}

fn parse_state(component: &str, redb: &[u8]) -> Result<Snapshot> {
    let dir = tempfile::tempdir().map_err(HarnessError::io(std::env::temp_dir()))?;
    let layout = VlsdDatadir::new(dir.path(), Network::Regtest);
    let net = layout.network_dir();
    std::fs::create_dir_all(&net).map_err(HarnessError::io(&net))?;
    let path = layout.state_db_path();
    std::fs::write(&path, redb).map_err(HarnessError::io(&path))?;
    Snapshot::load(&layout).map_err(|e| HarnessError::component(component, e.to_string()))
}

/// Why a restore did not happen.
#[derive(Debug)]
pub enum RestoreFailure {
    /// The recovery library refused (its error code says why).
    Refused(RecoveryError),
    Harness(HarnessError),
}

impl RestoreFailure {
    pub fn code(&self) -> Option<&'static str> {
        match self {
            RestoreFailure::Refused(e) => Some(e.code()),
            RestoreFailure::Harness(_) => None,
        }
    }

    pub fn into_harness(self) -> HarnessError {
        match self {
            RestoreFailure::Refused(e) => HarnessError::Assertion(format!("restore refused: {e}")),
            RestoreFailure::Harness(e) => e,
        }
    }
}

impl std::fmt::Display for RestoreFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreFailure::Refused(e) => write!(f, "{} {e}", e.code()),
            RestoreFailure::Harness(e) => write!(f, "{e}"),
        }
    }
}

impl From<HarnessError> for RestoreFailure {
    fn from(e: HarnessError) -> Self {
        RestoreFailure::Harness(e)
    }
}

/// Stops `signer`, restores `snapshot` over its state the way an operator
/// would with `vls-recover backup restore` (checked against the state it
/// replaces), and starts it again. When the library refuses, the signer is
/// started on its own state and the refusal is returned.
pub async fn restore_signer(
    signer: &Signer,
    snapshot: &Snapshot,
    from: &str,
) -> std::result::Result<String, RestoreFailure> {
    let c = signer.container();
    if c.status().await?.running {
        c.stop().await?;
    }
    let seed = signer.seed().await?;
    let dir = tempfile::tempdir().map_err(|e| HarnessError::io(std::env::temp_dir())(e))?;
    let mut against = Vec::new();
    let mut replaced = String::new();
    if let Ok(bytes) = c.read_file(&state_db(signer)).await {
        // A state too damaged to read has nothing newer to compare with,
        // as the library itself decides; the marker below still guards
        // against a rollback. Where the bits landed (a page or an entry's
        // JSON) is the seed's choice.
        match parse_state(c.name(), &bytes) {
            Ok(current) => against.push((
                format!("{}'s state before the restore", c.name()),
                Watermark::from(&current),
            )),
            Err(e) => {
                tracing::warn!(component = %c.name(), error = %e, "the state being replaced cannot be read");
                replaced = format!(" over a state that could not be read ({e})");
            }
        }
    }
    // The last restore's marker outlives a lost state file: a snapshot
    // older than what was restored then is a rollback too.
    let in_container = marker_path(signer.datadir());
    if let Ok(bytes) = c.read_file(&in_container.display().to_string()).await {
        let copy = dir.path().join("last-restore-marker.json");
        std::fs::write(&copy, bytes).map_err(HarnessError::io(&copy))?;
        match restore::Marker::read(&copy) {
            Ok(Some(m)) => against.push((
                format!("{}'s last restore marker ({})", c.name(), m.from),
                m.watermark,
            )),
            Ok(None) => {}
            Err(e) => {
                c.start().await?;
                return Err(RestoreFailure::Refused(e));
            }
        }
    }
    let planned = restore::restore(Plan {
        snapshot,
        seed: &seed,
        datadir: dir.path().to_path_buf(),
        against,
        force: false,
        from: from.to_string(),
    });
    let restored = match planned {
        Ok(r) => r,
        Err(e) => {
            c.start().await?;
            return Err(RestoreFailure::Refused(e));
        }
    };
    let restored_dir = VlsdDatadir::new(dir.path(), Network::Regtest);
    let redb = std::fs::read(restored_dir.state_db_path()).map_err(HarnessError::io(dir.path()))?;
    c.write_file(&state_db(signer), redb).await?;
    let marker = std::fs::read(marker_path(&restored_dir)).map_err(HarnessError::io(dir.path()))?;
    c.write_file(&in_container.display().to_string(), marker)
        .await?;
    c.start().await?;
    Ok(format!(
        "restored {} channels, {} entries from {from}{replaced}",
        restored.channels, restored.entries
    ))
}

/// Gathers chain state, node views and signer snapshots into the run
/// directory after a failure. Best effort: what cannot be read is noted.
pub async fn collect(cluster: &Cluster) {
    let dir = cluster.run_dir().join("artifacts");
    let mut notes = Vec::new();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(error = %e, "cannot create the artifacts directory");
        return;
    }
    if let Ok(b) = cluster.bitcoind() {
        let mut chain = serde_json::Map::new();
        for (key, method) in [
            ("blockchain", "getblockchaininfo"),
            ("mempool", "getrawmempool"),
            ("wallet", "getbalances"),
        ] {
            match b.call::<Value>(method, vec![]).await {
                Ok(v) => {
                    chain.insert(key.to_string(), v);
                }
                Err(e) => notes.push(format!("bitcoind {method}: {e}")),
            }
        }
        write_json(&dir.join("chain.json"), &Value::Object(chain), &mut notes);
    }
    // A node stuck on a dead signer does not answer; a post-mortem must
    // not wait two minutes per question, so every node is asked everything
    // at once, each question bounded.
    let views = futures_util::future::join_all(cluster.nodes().map(|n| async move {
        let (info, balance, channels, payments) = tokio::join!(
            bounded(n.info()),
            bounded(n.balance()),
            bounded(n.channels()),
            bounded(n.payments())
        );
        let view =
            json!({ "info": info, "balance": balance, "channels": channels, "payments": payments });
        (n.name().to_string(), view)
    }))
    .await;
    for (name, view) in views {
        write_json(&dir.join(format!("node-{name}.json")), &view, &mut notes);
    }
    for (_, s) in cluster.signers() {
        match snapshot_signer(s).await {
            Ok((_, json)) => {
                let p = dir.join(format!("{}-state.json", s.container().name()));
                if let Err(e) = std::fs::write(&p, json) {
                    notes.push(format!("{}: {e}", p.display()));
                }
            }
            Err(e) => notes.push(format!("{} snapshot: {e}", s.container().name())),
        }
    }
    if !notes.is_empty() {
        let _ = std::fs::write(dir.join("notes.txt"), notes.join("\n") + "\n");
    }
}

/// How long a post-mortem question waits: a live node answers in
/// milliseconds; one that is stuck never does.
const ARTIFACT_ANSWER: std::time::Duration = std::time::Duration::from_secs(5);

/// The answer as JSON, or the error (or the silence) as a string.
async fn bounded<T: serde::Serialize>(fut: impl std::future::Future<Output = Result<T>>) -> Value {
    match tokio::time::timeout(ARTIFACT_ANSWER, fut).await {
        Ok(Ok(v)) => serde_json::to_value(v).unwrap_or_else(|e| json!({ "error": e.to_string() })),
        Ok(Err(e)) => json!({ "error": e.to_string() }),
        Err(_) => json!({ "error": format!("no answer within {} s", ARTIFACT_ANSWER.as_secs()) }),
    }
}

fn write_json(path: &Path, v: &Value, notes: &mut Vec<String>) {
    match serde_json::to_vec_pretty(v) {
        Ok(bytes) => {
            if let Err(e) = std::fs::write(path, bytes) {
                notes.push(format!("{}: {e}", path.display()));
            }
        }
        Err(e) => notes.push(format!("{}: {e}", path.display())),
    }
}
