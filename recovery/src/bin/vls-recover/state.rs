//! Where the state comes from: a stopped vlsd's datadir or a sealed backup
//! (and the key that opens it), and the seed that goes with it.

use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use vls_recovery::archive::HtlcArchive;
use vls_recovery::backup::{self, BackupHeader, OpenKey};
use vls_recovery::offline::OfflineSigner;
use vls_recovery::{Network, RecoveryError, Seed, Snapshot, VlsdDatadir};

use crate::args::{DatadirArgs, KeyArgs, SignerArgs};

/// The passphrase: the first line of `path`.
pub(crate) fn read_passphrase(path: &Path) -> Result<SecretString, RecoveryError> {
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

/// How to open `file`: with --identity or --passphrase-file.
pub(crate) fn open_key(k: &KeyArgs, file: &Path) -> Result<OpenKey, RecoveryError> {
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
pub(crate) fn datadir(root: &Path, network: Option<Network>) -> Result<VlsdDatadir, RecoveryError> {
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
pub(crate) struct Loaded {
    pub(crate) snapshot: Snapshot,
    pub(crate) header: Option<BackupHeader>,
    /// The seed a backup carries.
    pub(crate) seed: Option<Seed>,
    /// The HTLC archive a backup carries (a datadir's: its own state's).
    pub(crate) archive: HtlcArchive,
    pub(crate) label: String,
}

/// The state at `path`: a datadir if it is a directory, else a backup file.
pub(crate) fn load(
    path: &Path,
    network: Option<Network>,
    key: &KeyArgs,
) -> Result<Loaded, RecoveryError> {
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

/// A backup FILE or --datadir, whichever was given.
pub(crate) fn load_either(
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
pub(crate) fn offline_signer(a: &SignerArgs) -> Result<(Loaded, OfflineSigner), RecoveryError> {
    let mut l = load_either(&a.file, &a.state, &a.key)?;
    let seed = seed_of(&a.seed_file, &mut l, &a.state)?;
    let signer = OfflineSigner::restore(&l.snapshot, &seed)?;
    Ok((l, signer))
}
