//! Sealed backup files: the standard `age` format (so `age -d -i key.txt`
//! opens them), holding a one-line JSON header and then the payload (a signer
//! snapshot as JSON). Written atomically, mode 0600, never over an existing
//! file; older backups pruned to the newest N.
//!
//! Corruption versus wrong key: a damaged recipient stanza looks to age just
//! like "not your key". With X25519 recipients we add an informational stanza
//! listing recipient fingerprints (age identities ignore unknown stanzas, and
//! age's header MAC covers it). If decryption fails although one of our
//! identities is listed, the file is damaged (`E-BACKUP-CORRUPT`), not the key.
//! Passphrase files cannot carry that stanza (scrypt must stand alone), so
//! there a failure is reported as `E-BACKUP-KEY` ("wrong passphrase or damaged").

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use age_core::format::{FileKey, Stanza};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::archive::HtlcArchive;
use crate::error::RecoveryError;
use crate::seed::Seed;
use crate::snapshot::Snapshot;

/// Version of the plaintext layout inside the age file.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_NAME: &str = "vls-chaos-backup";
const FINGERPRINT_TAG: &str = "vls-chaos-recipients";
const FILE_PREFIX: &str = "vls-backup-";
const FILE_SUFFIX: &str = ".age";

/// The readable first line of every backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupHeader {
    pub format: String,
    pub format_version: u32,
    /// Unix milliseconds.
    pub created_at_ms: u64,
    pub node_id: String,
    pub network: String,
    /// Where the state came from, e.g. `datadir:/var/lib/vlsd`.
    pub source: String,
    pub includes_seed: bool,
    pub payload_bytes: u64,
    pub payload_sha256: String,
}

/// What identifies a backup, given by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    pub node_id: String,
    pub network: String,
    pub source: String,
    pub includes_seed: bool,
    pub created_at_ms: u64,
}

/// How to seal.
pub enum SealKey {
    /// One or more X25519 recipients (`age1...`).
    Recipients(Vec<age::x25519::Recipient>),
    Passphrase(SecretString),
}

/// How to open.
pub enum OpenKey {
    Identities(Vec<age::x25519::Identity>),
    Passphrase(SecretString),
}

/// A backup opened and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub header: BackupHeader,
    pub payload: Vec<u8>,
}

fn fingerprint(recipient: &str) -> String {
    hex::encode(&Sha256::digest(recipient.as_bytes())[..8])
}

/// Adds the fingerprint stanza; wraps nothing (it carries no key).
struct FingerprintStanza(Vec<String>);

impl age::Recipient for FingerprintStanza {
    fn wrap_file_key(
        &self,
        _file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        Ok((
            vec![Stanza {
                tag: FINGERPRINT_TAG.to_string(),
                args: self.0.clone(),
                body: Vec::new(),
            }],
            HashSet::new(),
        ))
    }
}

/// Parses an `age1...` recipient, naming the argument on error.
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient, RecoveryError> {
    s.trim()
        .parse::<age::x25519::Recipient>()
        .map_err(|e| RecoveryError::Usage {
            reason: format!("recipient `{s}`: not an age X25519 recipient ({e})"),
        })
}

/// Reads X25519 identities from an age identity file (`age-keygen` output).
pub fn read_identities(path: &Path) -> Result<Vec<age::x25519::Identity>, RecoveryError> {
    let text = std::fs::read_to_string(path).map_err(RecoveryError::io(path))?;
    let ids: Vec<age::x25519::Identity> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.parse().ok())
        .collect();
    if ids.is_empty() {
        return Err(RecoveryError::BackupKey {
            file: path.to_path_buf(),
            reason: "no AGE-SECRET-KEY-1... identity in the file".to_string(),
        });
    }
    Ok(ids)
}

/// Encrypts header + payload into age bytes.
pub fn seal(info: &BackupInfo, payload: &[u8], key: &SealKey) -> Result<Vec<u8>, RecoveryError> {
    let header = BackupHeader {
        format: FORMAT_NAME.to_string(),
        format_version: FORMAT_VERSION,
        created_at_ms: info.created_at_ms,
        node_id: info.node_id.clone(),
        network: info.network.clone(),
        source: info.source.clone(),
        includes_seed: info.includes_seed,
        payload_bytes: payload.len() as u64,
        payload_sha256: hex::encode(Sha256::digest(payload)),
    };
    let mut plain = serde_json::to_vec(&header).map_err(|e| RecoveryError::Internal {
        reason: e.to_string(),
    })?;
    plain.push(b'\n');
    plain.extend_from_slice(payload);

    let encryptor = match key {
        SealKey::Recipients(rs) => {
            if rs.is_empty() {
                return Err(RecoveryError::Usage {
                    reason: "no recipient given".to_string(),
                });
            }
            let fps = FingerprintStanza(rs.iter().map(|r| fingerprint(&r.to_string())).collect());
            let mut all: Vec<&dyn age::Recipient> =
                rs.iter().map(|r| r as &dyn age::Recipient).collect();
            all.push(&fps);
            age::Encryptor::with_recipients(all.into_iter()).map_err(|e| {
                RecoveryError::Internal {
                    reason: format!("age: {e}"),
                }
            })?
        }
        SealKey::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
    };
    let mut out = Vec::with_capacity(plain.len() + 512);
    let io_err = |e: std::io::Error| RecoveryError::Internal {
        reason: format!("age: {e}"),
    };
    let mut w = encryptor.wrap_output(&mut out).map_err(io_err)?;
    w.write_all(&plain).map_err(io_err)?;
    w.finish().map_err(io_err)?;
    Ok(out)
}

/// Our fingerprint stanza's entries, read from the (unauthenticated) header text.
fn listed_fingerprints(bytes: &[u8]) -> Vec<String> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\n---")
        .unwrap_or(bytes.len().min(4096));
    let text = String::from_utf8_lossy(&bytes[..end]);
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("-> {FINGERPRINT_TAG} ")))
        .flat_map(|rest| rest.split(' ').map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// Decrypts and verifies a backup. `file` names it in errors.
pub fn open(bytes: &[u8], key: &OpenKey, file: &Path) -> Result<Opened, RecoveryError> {
    let corrupt = |reason: String| RecoveryError::BackupCorrupt {
        file: file.to_path_buf(),
        reason,
    };
    let decryptor = age::Decryptor::new_buffered(bytes)
        .map_err(|e| corrupt(format!("not a readable age file: {e}")))?;
    let reader = match key {
        OpenKey::Identities(ids) => {
            let listed = listed_fingerprints(bytes);
            let ours: Vec<String> = ids
                .iter()
                .map(|i| fingerprint(&i.to_public().to_string()))
                .collect();
            match decryptor.decrypt(ids.iter().map(|i| i as &dyn age::Identity)) {
                Ok(r) => r,
                Err(age::DecryptError::NoMatchingKeys)
                    if !ours.iter().any(|f| listed.contains(f)) =>
                {
                    return Err(RecoveryError::BackupKey {
                        file: file.to_path_buf(),
                        reason: "none of the given identities is a recipient of this backup"
                            .to_string(),
                    })
                }
                Err(e) => return Err(corrupt(format!("{e}"))),
            }
        }
        OpenKey::Passphrase(p) => {
            let mut id = age::scrypt::Identity::new(p.clone());
            // Accept the work factors age itself picks on slow machines.
            id.set_max_work_factor(22);
            match decryptor.decrypt(std::iter::once(&id as &dyn age::Identity)) {
                Ok(r) => r,
                Err(age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed) => {
                    return Err(RecoveryError::BackupKey {
                        file: file.to_path_buf(),
                        reason: "wrong passphrase, or the passphrase stanza is damaged".to_string(),
                    })
                }
                Err(e) => return Err(corrupt(format!("{e}"))),
            }
        }
    };
    let mut plain = Vec::new();
    let mut reader = reader;
    reader
        .read_to_end(&mut plain)
        .map_err(|e| corrupt(format!("encrypted payload damaged or truncated: {e}")))?;
    let nl = plain
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| corrupt("no header line".to_string()))?;
    let header: BackupHeader =
        serde_json::from_slice(&plain[..nl]).map_err(|e| corrupt(format!("header: {e}")))?;
    if header.format != FORMAT_NAME {
        return Err(corrupt(format!(
            "header.format is `{}`, expected `{FORMAT_NAME}`",
            header.format
        )));
    }
    if header.format_version != FORMAT_VERSION {
        return Err(RecoveryError::BackupVersion {
            file: file.to_path_buf(),
            found: header.format_version,
            supported: FORMAT_VERSION,
        });
    }
    let payload = plain[nl + 1..].to_vec();
    if payload.len() as u64 != header.payload_bytes
        || hex::encode(Sha256::digest(&payload)) != header.payload_sha256
    {
        return Err(corrupt(
            "payload does not match header.payload_sha256".to_string(),
        ));
    }
    Ok(Opened { header, payload })
}

/// Reads and opens a backup file.
pub fn open_file(path: &Path, key: &OpenKey) -> Result<Opened, RecoveryError> {
    open(&read(path)?, key, path)
}

fn read(path: &Path) -> Result<Vec<u8>, RecoveryError> {
    std::fs::read(path).map_err(RecoveryError::io(path))
}

/// The file name of a backup: sorts by time, names the node.
pub fn file_name(info: &BackupInfo) -> String {
    let node: String = info.node_id.chars().take(16).collect();
    format!(
        "{FILE_PREFIX}{node}-{:016}{FILE_SUFFIX}",
        info.created_at_ms
    )
}

/// Writes `bytes` as `dir/name`: temp file in `dir`, fsync, link to the final
/// name (which fails rather than replace an existing file), fsync the directory.
pub fn write_new(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, RecoveryError> {
    let io = RecoveryError::io;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let final_path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    let linked = std::fs::hard_link(&tmp, &final_path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(RecoveryError::Exists { path: final_path })
        }
        Err(e) => {
            return Err(RecoveryError::Io {
                path: final_path,
                source: e,
            })
        }
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(final_path)
}

/// Backups in `dir`, oldest first (by name, which sorts by creation time).
pub fn list(dir: &Path) -> Result<Vec<PathBuf>, RecoveryError> {
    let entries = std::fs::read_dir(dir).map_err(RecoveryError::io(dir))?;
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(FILE_PREFIX) && n.ends_with(FILE_SUFFIX))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Deletes all but the newest `keep` backups; returns what it deleted.
pub fn retain(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, RecoveryError> {
    let all = list(dir)?;
    let excess = all.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for p in all.into_iter().take(excess) {
        std::fs::remove_file(&p).map_err(RecoveryError::io(&p))?;
        removed.push(p);
    }
    if !removed.is_empty() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(RecoveryError::io(dir))?;
    }
    Ok(removed)
}

/// Seals and writes a new backup into `dir`, then prunes to `keep` if given.
pub fn create(
    dir: &Path,
    info: &BackupInfo,
    payload: &[u8],
    key: &SealKey,
    keep: Option<usize>,
) -> Result<PathBuf, RecoveryError> {
    let sealed = seal(info, payload, key)?;
    let path = write_new(dir, &file_name(info), &sealed)?;
    if let Some(k) = keep {
        retain(dir, k.max(1))?;
    }
    Ok(path)
}

/// The payload of a snapshot backup: the snapshot, the HTLC archive
/// gathered up to it and, only when asked for, the node seed.
#[derive(Serialize)]
struct PayloadOut<'a> {
    snapshot: &'a Snapshot,
    htlc_archive: &'a HtlcArchive,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayloadIn {
    snapshot: Box<serde_json::value::RawValue>,
    /// Absent in backups written before the archive existed.
    #[serde(default)]
    htlc_archive: HtlcArchive,
    #[serde(default)]
    seed: Option<zeroize::Zeroizing<String>>,
}

/// A snapshot backup, opened and checked.
#[derive(Debug)]
pub struct Contents {
    pub header: BackupHeader,
    pub snapshot: Snapshot,
    /// What the backup carried, with the snapshot's own commitments added.
    pub archive: HtlcArchive,
    pub seed: Option<Seed>,
}

/// The payload bytes for `snapshot` and `archive` (which gets the
/// snapshot's own commitments added), with the seed only if given.
pub fn snapshot_payload(
    snapshot: &Snapshot,
    archive: &HtlcArchive,
    seed: Option<&Seed>,
) -> Result<zeroize::Zeroizing<Vec<u8>>, RecoveryError> {
    let mut archive = archive.clone();
    archive.observe(snapshot)?;
    let seed_hex = seed.map(|s| zeroize::Zeroizing::new(hex::encode(s.as_bytes())));
    let out = PayloadOut {
        snapshot,
        htlc_archive: &archive,
        seed: seed_hex.as_ref().map(|s| s.as_str()),
    };
    serde_json::to_vec(&out)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| RecoveryError::Internal {
            reason: format!("payload to JSON: {e}"),
        })
}

/// Opens a snapshot backup: decrypts, verifies the checksum, re-derives the
/// snapshot's views from its entries and checks the seed (if any) is this
/// node's.
pub fn open_snapshot(bytes: &[u8], key: &OpenKey, file: &Path) -> Result<Contents, RecoveryError> {
    let Opened { header, payload } = open(bytes, key, file)?;
    let corrupt = |reason: String| RecoveryError::BackupCorrupt {
        file: file.to_path_buf(),
        reason,
    };
    let payload = zeroize::Zeroizing::new(payload);
    let p: PayloadIn =
        serde_json::from_slice(&payload).map_err(|e| corrupt(format!("payload: {e}")))?;
    let snapshot = Snapshot::from_json(p.snapshot.get().as_bytes(), &file.display().to_string())
        .map_err(|e| corrupt(e.to_string()))?;
    if snapshot.node_id != header.node_id || snapshot.network != header.network {
        return Err(corrupt(format!(
            "header says node {} on {}, the snapshot is node {} on {}",
            header.node_id, header.network, snapshot.node_id, snapshot.network
        )));
    }
    let seed = match (&p.seed, header.includes_seed) {
        (Some(hex), true) => {
            let seed = Seed::from_hex(hex, &format!("{}: seed", file.display()))?;
            snapshot.check_seed(&seed)?;
            Some(seed)
        }
        (None, false) => None,
        _ => {
            return Err(corrupt(
                "header.includes_seed disagrees with the payload".to_string(),
            ))
        }
    };
    let mut archive = p.htlc_archive;
    archive.observe(&snapshot)?;
    Ok(Contents {
        header,
        snapshot,
        archive,
        seed,
    })
}

/// Reads and opens a snapshot backup file.
pub fn open_snapshot_file(path: &Path, key: &OpenKey) -> Result<Contents, RecoveryError> {
    open_snapshot(&read(path)?, key, path)
}

/// Milliseconds since the Unix epoch, for `created_at_ms`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A directory of sealed snapshot backups: the sink the strategy engine and
/// `vls-recover backup create` write to.
pub struct DirSink {
    pub dir: PathBuf,
    pub key: SealKey,
    pub keep: Option<usize>,
    pub seed: Option<Seed>,
    pub source: String,
}

impl DirSink {
    /// Seals `snapshot` into a new file; names it by time, never overwriting
    /// (two backups in one millisecond get the next free millisecond).
    pub fn write_snapshot(
        &self,
        snapshot: &Snapshot,
        archive: &HtlcArchive,
    ) -> Result<PathBuf, RecoveryError> {
        let payload = snapshot_payload(snapshot, archive, self.seed.as_ref())?;
        let mut info = BackupInfo {
            node_id: snapshot.node_id.clone(),
            network: snapshot.network.clone(),
            source: self.source.clone(),
            includes_seed: self.seed.is_some(),
            created_at_ms: now_ms(),
        };
        let newest = list(&self.dir)
            .unwrap_or_default()
            .last()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .and_then(|n| {
                n.strip_suffix(FILE_SUFFIX)
                    .and_then(|n| n.rsplit('-').next().map(str::to_string))
            })
            .and_then(|ms| ms.parse::<u64>().ok());
        if let Some(ms) = newest {
            info.created_at_ms = info.created_at_ms.max(ms + 1);
        }
        create(&self.dir, &info, &payload, &self.key, self.keep)
    }
}

impl crate::diff::BackupSink for DirSink {
    fn write(
        &mut self,
        snapshot: &Snapshot,
        archive: &HtlcArchive,
    ) -> Result<PathBuf, RecoveryError> {
        self.write_snapshot(snapshot, archive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::fs::PermissionsExt;

    fn info(ms: u64) -> BackupInfo {
        BackupInfo {
            node_id: "02".to_string() + &"ab".repeat(32),
            network: "regtest".to_string(),
            source: "test".to_string(),
            includes_seed: false,
            created_at_ms: ms,
        }
    }

    fn keypair() -> (age::x25519::Identity, age::x25519::Recipient) {
        let id = age::x25519::Identity::generate();
        let r = id.to_public();
        (id, r)
    }

    #[test]
    fn seal_open_round_trip_with_two_recipients() {
        let (a, ra) = keypair();
        let (b, rb) = keypair();
        let sealed =
            seal(&info(1), b"{\"x\":1}", &SealKey::Recipients(vec![ra, rb])).expect("seal");
        for id in [a, b] {
            let o = open(&sealed, &OpenKey::Identities(vec![id]), Path::new("f")).expect("open");
            assert_eq!(o.payload, b"{\"x\":1}");
            assert_eq!(o.header.node_id, info(1).node_id);
        }
    }

    #[test]
    fn wrong_key_is_backup_key() {
        let (_, r) = keypair();
        let (other, _) = keypair();
        let sealed = seal(&info(1), b"{}", &SealKey::Recipients(vec![r])).expect("seal");
        let e = open(
            &sealed,
            &OpenKey::Identities(vec![other]),
            Path::new("b.age"),
        )
        .expect_err("wrong key");
        assert_eq!(e.code(), "E-BACKUP-KEY", "{e}");
    }

    #[test]
    fn every_single_bit_flip_is_corrupt() {
        let (id, r) = keypair();
        let sealed = seal(
            &info(7),
            b"{\"channels\":[]}",
            &SealKey::Recipients(vec![r]),
        )
        .expect("seal");
        let key = OpenKey::Identities(vec![id]);
        for byte in 0..sealed.len() {
            for bit in 0..8 {
                let mut bad = sealed.clone();
                bad[byte] ^= 1 << bit;
                match open(&bad, &key, Path::new("f")) {
                    Ok(_) => panic!("flip at byte {byte} bit {bit} was accepted"),
                    Err(e) => {
                        assert_eq!(e.code(), "E-BACKUP-CORRUPT", "byte {byte} bit {bit}: {e}")
                    }
                }
            }
        }
    }

    #[test]
    fn truncation_is_corrupt() {
        let (id, r) = keypair();
        let sealed = seal(
            &info(7),
            &vec![b'x'; 100_000],
            &SealKey::Recipients(vec![r]),
        )
        .expect("seal");
        let key = OpenKey::Identities(vec![id]);
        for cut in [0, 10, sealed.len() / 2, sealed.len() - 1] {
            let e = open(&sealed[..cut], &key, Path::new("f")).expect_err("truncated");
            assert_eq!(e.code(), "E-BACKUP-CORRUPT", "cut {cut}: {e}");
        }
    }

    #[test]
    fn files_are_0600_never_overwritten_and_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, r) = keypair();
        let key = SealKey::Recipients(vec![r]);
        let mut paths = Vec::new();
        for ms in 1..=5 {
            paths.push(create(dir.path(), &info(ms), b"{}", &key, Some(3)).expect("create"));
        }
        let mode = std::fs::metadata(&paths[4])
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(list(dir.path()).expect("list"), paths[2..].to_vec());
        let e = create(dir.path(), &info(5), b"{}", &key, None).expect_err("same name");
        assert_eq!(e.code(), "E-EXISTS");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn round_trip_any_payload(payload in proptest::collection::vec(any::<u8>(), 0..4096), ms in any::<u64>()) {
            let (id, r) = keypair();
            let sealed = seal(&info(ms), &payload, &SealKey::Recipients(vec![r])).expect("seal");
            let o = open(&sealed, &OpenKey::Identities(vec![id]), Path::new("f")).expect("open");
            prop_assert_eq!(o.payload, payload);
            prop_assert_eq!(o.header.created_at_ms, ms);
        }
    }
}
