//! Two models of what a power cut leaves, for files named by path.
//!
//! The layer's model (what `fs.rs` documents, and what the layer must do
//! exactly): a name is durable the moment create, rename or unlink returns
//! (metadata journaled in order, as ext4 with `data=ordered` behaves in
//! practice); a file's bytes and length are durable only as of its last
//! fsync. Data belongs to the file, not the name, so it follows renames.
//!
//! POSIX's promise (what any filesystem, LazyFS's harshest one included,
//! must keep): a name is guaranteed only once its directory has been
//! fsynced since the name last changed, and a file's bytes only if it has not
//! been modified since its last fsync. Anything else may or may not survive.
//! The layer's model keeps strictly more than this promise; the promise is
//! checked on its own so a mistake in the layer's model cannot hide a loss.

use std::collections::{BTreeMap, BTreeSet};

use super::layer::Durable;

#[derive(Debug, Clone)]
struct File {
    /// What the program reads.
    live: Vec<u8>,
    /// What the last fsync (or the disk at mount) holds.
    durable: Vec<u8>,
    /// Not written or truncated since `durable` was set.
    clean: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Name -> file id; in the layer's model these are on disk at once.
    names: BTreeMap<String, usize>,
    files: Vec<File>,
    /// POSIX: names created, removed or renamed since their directory's
    /// last fsyncdir; a crash may show any state they went through.
    touched: BTreeSet<String>,
}

pub fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

impl Model {
    /// A datadir whose files are all durable (names and bytes).
    pub fn over(files: &[(&str, &[u8])]) -> Self {
        let mut m = Model::default();
        for (path, bytes) in files {
            m.names.insert((*path).to_owned(), m.files.len());
            m.files.push(File {
                live: bytes.to_vec(),
                durable: bytes.to_vec(),
                clean: true,
            });
        }
        m
    }

    fn file(&mut self, path: &str) -> Result<&mut File, i32> {
        let id = *self.names.get(path).ok_or(libc::ENOENT)?;
        Ok(&mut self.files[id])
    }

    /// open(O_CREAT [| O_TRUNC]): a new name is on disk at once, empty; an
    /// O_TRUNC of an existing file is buffered like any truncate.
    pub fn create(&mut self, path: &str, trunc: bool) {
        if let Ok(f) = self.file(path) {
            if trunc && !f.live.is_empty() {
                f.live.clear();
                f.clean = false;
            }
            return;
        }
        self.names.insert(path.to_owned(), self.files.len());
        self.touched.insert(path.to_owned());
        self.files.push(File {
            live: Vec::new(),
            durable: Vec::new(),
            clean: true,
        });
    }

    pub fn write(&mut self, path: &str, offset: u64, bytes: &[u8]) -> Result<(), i32> {
        let f = self.file(path)?;
        if bytes.is_empty() {
            return Ok(());
        }
        let offset = offset as usize;
        let end = offset + bytes.len();
        if f.live.len() < end {
            f.live.resize(end, 0);
        }
        f.live[offset..end].copy_from_slice(bytes);
        f.clean = false;
        Ok(())
    }

    pub fn truncate(&mut self, path: &str, len: u64) -> Result<(), i32> {
        let f = self.file(path)?;
        if f.live.len() as u64 != len {
            f.live.resize(len as usize, 0);
            f.clean = false;
        }
        Ok(())
    }

    pub fn fsync(&mut self, path: &str) -> Result<(), i32> {
        let f = self.file(path)?;
        f.durable = f.live.clone();
        f.clean = true;
        Ok(())
    }

    /// In the layer's model names are durable already; POSIX makes the
    /// directory's entries durable here.
    pub fn fsyncdir(&mut self, dir: &str) {
        self.touched.retain(|n| dir_of(n) != dir);
    }

    pub fn unlink(&mut self, path: &str) -> Result<(), i32> {
        self.names.remove(path).ok_or(libc::ENOENT)?;
        self.touched.insert(path.to_owned());
        Ok(())
    }

    /// rename(2): the file (with its buffered bytes) takes the new name and
    /// whatever had it is gone; renaming a name onto itself does nothing.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), i32> {
        let id = *self.names.get(from).ok_or(libc::ENOENT)?;
        if from != to {
            self.names.remove(from);
            self.names.insert(to.to_owned(), id);
            self.touched.insert(from.to_owned());
            self.touched.insert(to.to_owned());
        }
        Ok(())
    }

    /// What the program reads at `path`.
    pub fn live(&self, path: &str) -> Option<&[u8]> {
        self.names
            .get(path)
            .map(|&id| self.files[id].live.as_slice())
    }

    /// The layer's model of what a cut leaves.
    pub fn durable(&self) -> Durable {
        self.names
            .iter()
            .map(|(n, &id)| (n.clone(), self.files[id].durable.clone()))
            .collect()
    }

    /// What POSIX promises survives a cut: names unchanged since their
    /// directory's fsyncdir, holding files unmodified since their fsync.
    pub fn promised(&self) -> Durable {
        self.names
            .iter()
            .filter(|(n, _)| !self.touched.contains(*n))
            .filter(|&(_, &id)| self.files[id].clean)
            .map(|(n, &id)| (n.clone(), self.files[id].durable.clone()))
            .collect()
    }

    /// After a cut and a remount: what the program sees is what survived.
    pub fn cut_and_remount(&mut self) {
        for f in &mut self.files {
            f.live = f.durable.clone();
            f.clean = true;
        }
        self.touched.clear();
    }

    /// After an orderly stop: everything was written back.
    pub fn stop_and_remount(&mut self) {
        for f in &mut self.files {
            f.durable = f.live.clone();
            f.clean = true;
        }
        self.touched.clear();
    }
}
