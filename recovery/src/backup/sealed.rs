//! The sealed format: the standard `age` format (so `age -d -i key.txt`
//! opens it), holding a one-line JSON header and then the payload.
//!
//! Corruption versus wrong key: a damaged recipient stanza looks to age just
//! like "not your key". With X25519 recipients we add an informational stanza
//! listing recipient fingerprints (age identities ignore unknown stanzas, and
//! age's header MAC covers it). If decryption fails although one of our
//! identities is listed, the file is damaged (`E-BACKUP-CORRUPT`), not the key.
//! Passphrase files cannot carry that stanza (scrypt must stand alone), so
//! there a failure is reported as `E-BACKUP-KEY` ("wrong passphrase or damaged").

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::Path;

use age::secrecy::SecretString;
use age_core::format::{FileKey, Stanza};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::RecoveryError;

/// Version of the plaintext layout inside the age file.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_NAME: &str = "vls-chaos-backup";
const FINGERPRINT_TAG: &str = "vls-chaos-recipients";

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
