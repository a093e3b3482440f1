//! Small files the node keeps beside LDK's store: secrets, counters and the
//! records the admin API serves. Every write is atomic (temp file in the same
//! directory, fsync, rename, directory fsync) so a crash leaves old or new, never torn.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_string());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// A 32-byte secret kept as hex in `path`, created (0600) on first use.
pub fn read_or_create_secret(path: &Path) -> Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut out = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut out)
                .with_context(|| format!("{}: expected 64 hex characters", path.display()))?;
            Ok(out)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: [u8; 32] = rand::random();
            write_atomically(path, hex::encode(secret).as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(secret)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A JSON map persisted on every change.
pub struct JsonMap<V> {
    path: PathBuf,
    map: Mutex<BTreeMap<String, V>>,
}

impl<V: Serialize + DeserializeOwned + Clone> JsonMap<V> {
    pub fn open(path: PathBuf) -> Result<Self> {
        let map = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not a valid record file", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(JsonMap {
            path,
            map: Mutex::new(map),
        })
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.map.lock().ok()?.get(key).cloned()
    }

    pub fn values(&self) -> Vec<V> {
        self.map
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn entries(&self) -> Vec<(String, V)> {
        self.map
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// Inserts or changes one entry and persists the whole map.
    pub fn update(&self, key: &str, f: impl FnOnce(Option<V>) -> V) -> Result<V> {
        let Ok(mut map) = self.map.lock() else {
            bail!("{}: lock poisoned", self.path.display());
        };
        let v = f(map.get(key).cloned());
        map.insert(key.to_string(), v.clone());
        let bytes = serde_json::to_vec_pretty(&*map)?;
        write_atomically(&self.path, &bytes)
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secret_is_created_once_with_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("s");
        let a = read_or_create_secret(&p).expect("create");
        let b = read_or_create_secret(&p).expect("read");
        assert_eq!(a, b);
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(&p, "zz").expect("write");
        let e = read_or_create_secret(&p).expect_err("bad hex");
        assert!(e.to_string().contains("expected 64 hex characters"));
    }

    #[test]
    fn json_map_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.json");
        let m: JsonMap<u32> = JsonMap::open(p.clone()).expect("open");
        m.update("a", |old| old.unwrap_or(0) + 1).expect("update");
        m.update("a", |old| old.unwrap_or(0) + 1).expect("update");
        let again: JsonMap<u32> = JsonMap::open(p).expect("reopen");
        assert_eq!(again.get("a"), Some(2));
    }
}
