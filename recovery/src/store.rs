//! vlsd's key-version-value store, raw: every key with its version and its
//! bytes, exactly as vls-persist's redb store keeps them.
//!
//! Reading goes to redb directly rather than through `RedbKVVStore`, whose
//! constructor panics (on a locked database among others) and creates the
//! file if it is missing; an operator pointing us at the wrong directory must
//! get an error, not a fresh empty database. Writing (restore) goes through
//! `RedbKVVStore::put_batch`, the code path vlsd itself uses.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use redb::{ReadableTable, TableDefinition};
use vls_persist::kvv::redb::RedbKVVStore;
use vls_persist::kvv::{KVVStore, KVV};

use crate::error::RecoveryError;

// Same names and key/value types as vls-persist's store: redb checks the
// types recorded in the file against these.
const KV_TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const META_TABLE: TableDefinition<&str, &[u8; 16]> = TableDefinition::new("meta");
const SIGNER_ID_KEY: &str = "signer_id";
/// The file name vls-persist gives its database inside `<datadir>/<network>`.
pub const DB_FILE: &str = "redb";

/// One stored value: its version and its bytes. Empty bytes are a tombstone
/// (vls-persist deletes by writing an empty value at the next version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub version: u64,
    pub value: Vec<u8>,
}

/// Every entry of one store plus its signer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStore {
    pub signer_id: [u8; 16],
    pub entries: BTreeMap<String, Versioned>,
}

fn redb_err(path: &Path, e: impl std::fmt::Display) -> RecoveryError {
    RecoveryError::StateInvalid {
        source_name: path.display().to_string(),
        key: "(database)".into(),
        reason: e.to_string(),
    }
}

/// Reads the whole store at `db_path` (`<datadir>/<network>/redb`).
/// A damaged file is an error naming it: redb asserts on some damage (a
/// zeroed region header) instead of returning `Corrupted`, and a recovery
/// tool must say what it found, not die on it.
pub fn read(db_path: &Path) -> Result<RawStore, RecoveryError> {
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_db(&open(db_path)?, db_path)
    }));
    match read {
        Ok(r) => r,
        Err(panic) => Err(redb_err(
            db_path,
            format!(
                "the database is damaged: redb failed reading it ({})",
                panic_message(panic.as_ref())
            ),
        )),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no message".to_string())
}

/// Opens an existing store, taking redb's exclusive lock on it.
fn open(db_path: &Path) -> Result<redb::Database, RecoveryError> {
    if !db_path.is_file() {
        return Err(RecoveryError::DatadirMissing {
            path: db_path.to_path_buf(),
            reason: "no redb database file (is this a vlsd datadir, and the right --network?)"
                .into(),
        });
    }
    let db = match redb::Database::open(db_path) {
        Ok(db) => db,
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
            return Err(RecoveryError::DatadirLocked {
                path: db_path.to_path_buf(),
            })
        }
        Err(redb::DatabaseError::UpgradeRequired(v)) => {
            return Err(redb_err(
                db_path,
                format!(
                    "redb file format {v} predates vlsd 1.0; start vlsd 1.0 once to migrate it"
                ),
            ))
        }
        Err(redb::DatabaseError::Storage(redb::StorageError::Io(source))) => {
            if source.raw_os_error() == Some(11) {
                return Err(RecoveryError::DatadirLocked {
                    path: db_path.to_path_buf(),
                });
            }
            if source.kind() == std::io::ErrorKind::InvalidData {
                return Err(redb_err(db_path, "not a redb database (or a damaged one)"));
            }
            return Err(RecoveryError::Io {
                path: db_path.to_path_buf(),
                source,
            });
        }
        Err(e) => return Err(redb_err(db_path, e)),
    };
    Ok(db)
}

fn read_db(db: &redb::Database, db_path: &Path) -> Result<RawStore, RecoveryError> {
    let tx = db.begin_read().map_err(|e| redb_err(db_path, e))?;
    let kv = tx
        .open_table(KV_TABLE)
        .map_err(|e| RecoveryError::DatadirMissing {
            path: db_path.to_path_buf(),
            reason: format!("no `kv` table: {e}"),
        })?;
    let mut entries = BTreeMap::new();
    for item in kv.iter().map_err(|e| redb_err(db_path, e))? {
        let (k, v) = item.map_err(|e| redb_err(db_path, e))?;
        let key = k.value().to_string();
        let vv = v.value();
        let Some((version, value)) = vv.split_first_chunk::<8>() else {
            return Err(RecoveryError::StateInvalid {
                source_name: db_path.display().to_string(),
                key,
                reason: format!("{} bytes; expected an 8-byte version first", vv.len()),
            });
        };
        entries.insert(
            key,
            Versioned {
                version: u64::from_be_bytes(*version),
                value: value.to_vec(),
            },
        );
    }
    let meta = tx
        .open_table(META_TABLE)
        .map_err(|e| redb_err(db_path, format!("no `meta` table: {e}")))?;
    let signer_id = meta
        .get(SIGNER_ID_KEY)
        .map_err(|e| redb_err(db_path, e))?
        .map(|g| *g.value())
        .ok_or_else(|| redb_err(db_path, "no signer_id in the `meta` table"))?;
    Ok(RawStore { signer_id, entries })
}

/// A store held open, and so locked, for as long as this lives: no vlsd
/// can start on it meanwhile (never two signers on one state).
pub struct Held {
    db: redb::Database,
    path: std::path::PathBuf,
}

impl Held {
    /// Locks the store at `db_path`; `E-DATADIR-LOCKED` if a vlsd holds it.
    pub fn lock(db_path: &Path) -> Result<Held, RecoveryError> {
        Ok(Held {
            db: open(db_path)?,
            path: db_path.to_path_buf(),
        })
    }

    pub fn read(&self) -> Result<RawStore, RecoveryError> {
        read_db(&self.db, &self.path)
    }

    /// Writes `value` at `key` as the next version after `expected`, in one
    /// durable transaction for all of `updates`; refuses (and writes
    /// nothing) if any entry moved on from the version it was read at.
    pub fn update(&self, updates: &[(String, u64, Vec<u8>)]) -> Result<(), RecoveryError> {
        let tx = self.db.begin_write().map_err(|e| redb_err(&self.path, e))?;
        {
            let mut kv = tx
                .open_table(KV_TABLE)
                .map_err(|e| redb_err(&self.path, e))?;
            for (key, expected, value) in updates {
                let now = kv
                    .get(key.as_str())
                    .map_err(|e| redb_err(&self.path, e))?
                    .and_then(|g| g.value().first_chunk::<8>().map(|v| u64::from_be_bytes(*v)));
                if now != Some(*expected) {
                    return Err(RecoveryError::StateInvalid {
                        source_name: self.path.display().to_string(),
                        key: key.clone(),
                        reason: format!(
                            "at version {now:?}, expected {expected}: the state changed since it was read"
                        ),
                    });
                }
                let mut bytes = (expected + 1).to_be_bytes().to_vec();
                bytes.extend_from_slice(value);
                kv.insert(key.as_str(), bytes.as_slice())
                    .map_err(|e| redb_err(&self.path, e))?;
            }
        }
        // redb's commit is durable (fsync) by default.
        tx.commit().map_err(|e| redb_err(&self.path, e))
    }
}

/// Creates a new store in `network_dir` (which must not hold a database yet)
/// holding exactly `store`: same signer id, same keys, versions and bytes.
pub fn write_new(network_dir: &Path, store: &RawStore) -> Result<(), RecoveryError> {
    let db_path = network_dir.join(DB_FILE);
    if db_path.exists() {
        return Err(RecoveryError::Exists { path: db_path });
    }
    // The signer id first, so RedbKVVStore keeps it instead of minting one.
    {
        let db = redb::Database::create(&db_path).map_err(|e| redb_err(&db_path, e))?;
        let tx = db.begin_write().map_err(|e| redb_err(&db_path, e))?;
        {
            let mut meta = tx
                .open_table(META_TABLE)
                .map_err(|e| redb_err(&db_path, e))?;
            meta.insert(SIGNER_ID_KEY, &store.signer_id)
                .map_err(|e| redb_err(&db_path, e))?;
            tx.open_table(KV_TABLE).map_err(|e| redb_err(&db_path, e))?;
        }
        tx.commit().map_err(|e| redb_err(&db_path, e))?;
    }
    let kvvs: Vec<KVV> = store
        .entries
        .iter()
        .map(|(k, v)| KVV(k.clone(), (v.version, v.value.clone())))
        .collect();
    // RedbKVVStore reports some failures by panicking; contain them.
    let dir = network_dir.to_path_buf();
    let outcome = std::panic::catch_unwind(move || {
        let kvv = RedbKVVStore::new_store(&dir);
        kvv.put_batch(kvvs).map_err(|e| format!("{e:?}"))
    });
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(redb_err(&db_path, format!("put_batch: {e}"))),
        Err(_) => return Err(redb_err(&db_path, "vls-persist panicked while writing")),
    }
    // redb fsyncs on commit; make the new directory entry durable too.
    for p in [db_path.as_path(), network_dir] {
        File::open(p)
            .and_then(|f| f.sync_all())
            .map_err(RecoveryError::io(p))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zeroed_page_is_an_error_naming_the_file_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RawStore {
            signer_id: [9; 16],
            entries: BTreeMap::new(),
        };
        write_new(dir.path(), &store).expect("write");
        let path = dir.path().join(DB_FILE);
        let mut bytes = std::fs::read(&path).expect("read file");
        let end = bytes.len().min(8192);
        bytes[4096..end].fill(0);
        std::fs::write(&path, &bytes).expect("damage");
        let err = read(&path).expect_err("a damaged store must not read");
        assert_eq!(err.code(), "E-STATE-INVALID");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
    }

    #[test]
    fn write_then_read_is_identical() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut entries = BTreeMap::new();
        entries.insert(
            "node/entry/02aa".to_string(),
            Versioned {
                version: 3,
                value: b"{\"a\":1}".to_vec(),
            },
        );
        entries.insert(
            "channel/02aa/01".to_string(),
            Versioned {
                version: 7,
                value: Vec::new(),
            },
        );
        let store = RawStore {
            signer_id: [9; 16],
            entries,
        };
        write_new(dir.path(), &store).expect("write");
        assert_eq!(read(&dir.path().join(DB_FILE)).expect("read"), store);
        assert!(matches!(
            write_new(dir.path(), &store),
            Err(RecoveryError::Exists { .. })
        ));
    }

    #[test]
    fn missing_database_is_not_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(DB_FILE);
        let e = read(&p).expect_err("missing");
        assert_eq!(e.code(), "E-DATADIR-MISSING");
        assert!(!p.exists());
    }

    #[test]
    fn locked_database_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(DB_FILE);
        let _holder = redb::Database::create(&p).expect("create");
        let e = read(&p).expect_err("locked");
        assert_eq!(e.code(), "E-DATADIR-LOCKED", "{e}");
        assert!(e.to_string().contains("stop vlsd"), "{e}");
    }

    #[test]
    fn garbage_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(DB_FILE);
        std::fs::write(&p, vec![0x5a; 4096]).expect("write");
        let e = read(&p).expect_err("garbage");
        assert_eq!(e.code(), "E-STATE-INVALID", "{e}");
    }
}
