//! The layer under test, driven by path the way a program's system calls
//! reach it: each call resolves its path with `lookup` from the root, as the
//! kernel does, then calls the same `Inner` method the FUSE callback calls.
//! No mount: the lower directory is a temporary directory.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::super::Inner;

/// What a cut leaves: every regular file under the lower directory (relative
/// path, `/`-separated) with its bytes. Directories are not listed.
pub type Durable = BTreeMap<String, Vec<u8>>;

pub struct Layer {
    dir: tempfile::TempDir,
    inner: Inner,
}

pub const MODE: u32 = 0o644;
pub const UMASK: u32 = 0o022;

impl Layer {
    /// A layer over a datadir that already holds `dirs` and `files`, durable.
    pub fn over(dirs: &[&str], files: &[(&str, &[u8])]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for d in dirs {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for (path, bytes) in files {
            std::fs::write(dir.path().join(path), bytes).unwrap();
        }
        let inner = Inner::new(dir.path().to_path_buf());
        Layer { dir, inner }
    }

    pub fn empty() -> Self {
        Self::over(&[], &[])
    }

    fn lower(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The inode the kernel would use for `path` ("" is the root).
    pub fn ino(&mut self, path: &str) -> Result<u64, i32> {
        let mut ino = fuser::FUSE_ROOT_ID;
        for part in Path::new(path).components() {
            ino = self.inner.lookup(ino, part.as_os_str())?.ino;
        }
        Ok(ino)
    }

    fn parent_and_name<'p>(&mut self, path: &'p str) -> Result<(u64, &'p OsStr), i32> {
        let p = Path::new(path);
        let parent = p.parent().and_then(Path::to_str).unwrap_or("");
        let name = p.file_name().ok_or(libc::EINVAL)?;
        Ok((self.ino(parent)?, name))
    }

    /// open(path, O_CREAT | O_WRONLY | extra): returns the inode, which a
    /// program keeps as its file descriptor.
    pub fn create_flags(&mut self, path: &str, extra: i32) -> Result<u64, i32> {
        let (parent, name) = self.parent_and_name(path)?;
        let flags = libc::O_CREAT | libc::O_WRONLY | extra;
        Ok(self.inner.create(parent, name, MODE, UMASK, flags)?.ino)
    }

    pub fn create(&mut self, path: &str) -> u64 {
        self.create_flags(path, 0).unwrap()
    }

    pub fn mkdir(&mut self, path: &str) {
        let (parent, name) = self.parent_and_name(path).unwrap();
        self.inner.mkdir(parent, name, 0o755, UMASK).unwrap();
    }

    pub fn write_ino(&mut self, ino: u64, offset: u64, bytes: &[u8]) -> Result<(), i32> {
        let n = self.inner.write(ino, offset, bytes)?;
        assert_eq!(n as usize, bytes.len(), "a short write");
        Ok(())
    }

    pub fn try_write(&mut self, path: &str, offset: u64, bytes: &[u8]) -> Result<(), i32> {
        let ino = self.ino(path)?;
        self.write_ino(ino, offset, bytes)
    }

    pub fn write(&mut self, path: &str, offset: u64, bytes: &[u8]) {
        self.try_write(path, offset, bytes).unwrap()
    }

    /// truncate(path, len): setattr with a size, as the kernel sends it.
    pub fn try_truncate(&mut self, path: &str, len: u64) -> Result<(), i32> {
        let ino = self.ino(path)?;
        let attr = self.inner.setattr(ino, None, Some(len))?;
        assert_eq!(attr.size, len, "setattr reports the new size");
        Ok(())
    }

    pub fn truncate(&mut self, path: &str, len: u64) {
        self.try_truncate(path, len).unwrap()
    }

    pub fn fsync_ino(&mut self, ino: u64) -> Result<(), i32> {
        self.inner.fsync(ino)
    }

    pub fn try_fsync(&mut self, path: &str) -> Result<(), i32> {
        let ino = self.ino(path)?;
        self.fsync_ino(ino)
    }

    pub fn fsync(&mut self, path: &str) {
        self.try_fsync(path).unwrap()
    }

    pub fn fsyncdir(&mut self, dir: &str) {
        let ino = self.ino(dir).unwrap();
        self.inner.fsyncdir(ino).unwrap()
    }

    pub fn try_unlink(&mut self, path: &str) -> Result<(), i32> {
        let (parent, name) = self.parent_and_name(path)?;
        self.inner.unlink(parent, name)
    }

    pub fn unlink(&mut self, path: &str) {
        self.try_unlink(path).unwrap()
    }

    pub fn try_rename(&mut self, from: &str, to: &str) -> Result<(), i32> {
        let (parent, name) = self.parent_and_name(from)?;
        let (newparent, newname) = self.parent_and_name(to)?;
        self.inner.rename(parent, name, newparent, newname, 0)
    }

    pub fn rename(&mut self, from: &str, to: &str) {
        self.try_rename(from, to).unwrap()
    }

    pub fn read_ino(&mut self, ino: u64) -> Result<Vec<u8>, i32> {
        let size = self.inner.getattr(ino)?.size;
        let data = self.inner.read(ino, 0, u32::try_from(size).unwrap())?;
        assert_eq!(
            data.len() as u64,
            size,
            "read returns what getattr promised"
        );
        Ok(data.into_owned())
    }

    /// What the running program sees at `path`: None if the name is absent.
    pub fn read(&mut self, path: &str) -> Option<Vec<u8>> {
        match self.ino(path) {
            Ok(ino) => Some(self.read_ino(ino).unwrap()),
            Err(libc::ENOENT) => None,
            Err(e) => panic!("lookup {path}: errno {e}"),
        }
    }

    /// The power cut: the agent dies with what it holds in memory; only the
    /// lower directory remains.
    pub fn cut(self) -> Durable {
        let Layer { dir, inner } = self;
        drop(inner);
        durable(dir.path())
    }

    /// A cut, then the layer mounted again over what survived.
    pub fn cut_and_remount(&mut self) {
        self.inner = Inner::new(self.lower());
    }

    /// The orderly end (the program exits, or is stopped): everything held
    /// is written back, then the layer is mounted again.
    pub fn stop_and_remount(&mut self) {
        let failed = self.inner.persist_all();
        assert!(failed.is_empty(), "write-back failed: {failed:?}");
        self.inner = Inner::new(self.lower());
    }

    /// What is on the lower directory right now, without cutting.
    pub fn on_disk(&self) -> Durable {
        durable(self.dir.path())
    }
}

fn durable(root: &Path) -> Durable {
    fn walk(root: &Path, dir: &Path, out: &mut Durable) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = Durable::new();
    walk(root, root, &mut out);
    out
}

/// A Durable from literal entries.
pub fn files(entries: &[(&str, &[u8])]) -> Durable {
    entries
        .iter()
        .map(|(p, b)| ((*p).to_owned(), b.to_vec()))
        .collect()
}

/// Where two byte strings differ, briefly: file dumps are too long to read.
pub fn bytes_diff(got: &[u8], want: &[u8]) -> Option<String> {
    if got == want {
        return None;
    }
    let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
    let near = |b: &[u8]| b[at.min(b.len())..(at + 8).min(b.len())].to_vec();
    Some(format!(
        "{} bytes, want {}; first difference at {at}: {:?} where {:?} was wanted",
        got.len(),
        want.len(),
        near(got),
        near(want)
    ))
}

/// Every path that differs between two file sets, briefly.
pub fn diff(got: &Durable, want: &Durable) -> Option<String> {
    let mut out = Vec::new();
    for (path, w) in want {
        match got.get(path) {
            None => out.push(format!("{path}: missing")),
            Some(g) => out.extend(bytes_diff(g, w).map(|d| format!("{path}: {d}"))),
        }
    }
    for path in got.keys().filter(|p| !want.contains_key(*p)) {
        out.push(format!("{path}: present, want absent"));
    }
    (!out.is_empty()).then(|| out.join("; "))
}

#[track_caller]
pub fn assert_files(got: &Durable, want: &Durable) {
    if let Some(d) = diff(got, want) {
        panic!("files differ: {d}");
    }
}

#[track_caller]
pub fn assert_bytes(got: &[u8], want: &[u8]) {
    if let Some(d) = bytes_diff(got, want) {
        panic!("bytes differ: {d}");
    }
}
