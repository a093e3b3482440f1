//! A pass-through FUSE filesystem over a lower directory that keeps file
//! data in memory until the program fsyncs it.
//!
//! The model, stated so scenario authors know what a power cut takes:
//! - file contents and lengths reach the lower directory only on `fsync`
//!   (or `fdatasync`) of that file, or when the wrapped program exits by
//!   itself or is stopped (as a kernel writes back its page cache);
//! - names (create, mkdir, unlink, rename, rmdir) reach the lower directory
//!   at once, as on a filesystem that journals metadata in order. So a file
//!   written and renamed without fsync survives a power cut with its old
//!   (often empty) contents: the classic torn "atomic" write.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    FileAttr, FileType, Filesystem, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow,
};

use crate::crash_point::CrashPoints;
use crate::pages::BufferedFile;

mod ops;

const TTL: Duration = Duration::from_secs(1);

/// State shared between the FUSE thread and the supervisor that flushes on exit.
#[derive(Debug)]
pub struct Inner {
    lower: PathBuf,
    paths: HashMap<u64, PathBuf>,
    inos: HashMap<PathBuf, u64>,
    next_ino: u64,
    files: HashMap<u64, BufferedFile>,
}

impl Inner {
    pub fn new(lower: PathBuf) -> Self {
        let mut inner = Inner {
            lower,
            paths: HashMap::new(),
            inos: HashMap::new(),
            next_ino: 2,
            files: HashMap::new(),
        };
        inner.paths.insert(fuser::FUSE_ROOT_ID, PathBuf::new());
        inner.inos.insert(PathBuf::new(), fuser::FUSE_ROOT_ID);
        inner
    }

    fn full(&self, rel: &Path) -> PathBuf {
        self.lower.join(rel)
    }

    fn rel(&self, ino: u64) -> Result<PathBuf, i32> {
        self.paths.get(&ino).cloned().ok_or(libc::ENOENT)
    }

    fn child(&self, parent: u64, name: &OsStr) -> Result<PathBuf, i32> {
        Ok(self.rel(parent)?.join(name))
    }

    fn ino_for(&mut self, rel: &Path) -> u64 {
        if let Some(&ino) = self.inos.get(rel) {
            return ino;
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.paths.insert(ino, rel.to_path_buf());
        self.inos.insert(rel.to_path_buf(), ino);
        ino
    }

    fn forget_path(&mut self, rel: &Path) {
        if let Some(ino) = self.inos.remove(rel) {
            self.paths.remove(&ino);
            self.files.remove(&ino);
        }
    }

    fn attr(&mut self, rel: &Path) -> Result<FileAttr, i32> {
        let meta = fs::symlink_metadata(self.full(rel)).map_err(errno)?;
        let ino = self.ino_for(rel);
        let size = self
            .files
            .get(&ino)
            .map(BufferedFile::len)
            .unwrap_or(meta.len());
        let kind = if meta.is_dir() {
            FileType::Directory
        } else if meta.file_type().is_symlink() {
            FileType::Symlink
        } else {
            FileType::RegularFile
        };
        let time = |secs: i64, nsec: i64| {
            UNIX_EPOCH + Duration::new(secs.max(0) as u64, nsec.clamp(0, 999_999_999) as u32)
        };
        Ok(FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: time(meta.atime(), meta.atime_nsec()),
            mtime: time(meta.mtime(), meta.mtime_nsec()),
            ctime: time(meta.ctime(), meta.ctime_nsec()),
            crtime: time(meta.ctime(), meta.ctime_nsec()),
            kind,
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev() as u32,
            blksize: 4096,
            flags: 0,
        })
    }

    fn open_lower(&self, rel: &Path) -> Result<File, i32> {
        File::options()
            .read(true)
            .write(true)
            .open(self.full(rel))
            .map_err(errno)
    }

    fn is_dirty(&mut self, ino: u64) -> bool {
        self.files.get(&ino).is_some_and(BufferedFile::is_dirty)
    }

    fn buffered(&mut self, ino: u64) -> Result<&mut BufferedFile, i32> {
        if !self.files.contains_key(&ino) {
            let rel = self.rel(ino)?;
            let f = self.open_lower(&rel)?;
            let b = BufferedFile::load(&f).map_err(errno)?;
            self.files.insert(ino, b);
        }
        self.files.get_mut(&ino).ok_or(libc::EIO)
    }

    fn persist(&mut self, ino: u64) -> Result<(), i32> {
        let rel = self.rel(ino)?;
        let dirty = self.files.get(&ino).is_some_and(BufferedFile::is_dirty);
        if dirty {
            let f = self.open_lower(&rel)?;
            if let Some(b) = self.files.get_mut(&ino) {
                b.persist(&f).map_err(errno)?;
            }
        }
        Ok(())
    }

    /// Writes every buffered file back: the orderly-shutdown path.
    pub fn persist_all(&mut self) -> Vec<(PathBuf, std::io::Error)> {
        let inos: Vec<u64> = self.files.keys().copied().collect();
        let mut failed = Vec::new();
        for ino in inos {
            if let Err(code) = self.persist(ino) {
                let path = self.paths.get(&ino).cloned().unwrap_or_default();
                failed.push((path, std::io::Error::from_raw_os_error(code)));
            }
        }
        failed
    }

    fn rename_paths(&mut self, from: &Path, to: &Path) {
        if from == to {
            return;
        }
        self.forget_path(to);
        let moved: Vec<(PathBuf, u64)> = self
            .inos
            .iter()
            .filter(|(p, _)| p.starts_with(from))
            .map(|(p, &i)| (p.clone(), i))
            .collect();
        for (old, ino) in moved {
            let suffix = old
                .strip_prefix(from)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let new = if suffix.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(suffix)
            };
            self.inos.remove(&old);
            self.inos.insert(new.clone(), ino);
            self.paths.insert(ino, new);
        }
    }
}

fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// The FUSE side: every call locks the shared state (the kernel sends one
/// request at a time per session, so the lock is never contended for long).
/// A crash point holds its fsync without the lock, so a process crash
/// meanwhile can still write everything back.
pub struct BufferFs {
    inner: Arc<Mutex<Inner>>,
    points: CrashPoints,
}

impl BufferFs {
    pub fn new(inner: Arc<Mutex<Inner>>, points: CrashPoints) -> Self {
        BufferFs { inner, points }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock already aborted a request; the state
        // itself is still consistent enough to flush on exit.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn reply_empty(reply: ReplyEmpty, result: Result<(), i32>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

fn reply_entry(reply: ReplyEntry, result: Result<FileAttr, i32>) {
    match result {
        Ok(a) => reply.entry(&TTL, &a, 0),
        Err(e) => reply.error(e),
    }
}

fn reply_attr(reply: ReplyAttr, result: Result<FileAttr, i32>) {
    match result {
        Ok(a) => reply.attr(&TTL, &a),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for BufferFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        reply_entry(reply, self.inner().lookup(parent, name));
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        reply_attr(reply, self.inner().getattr(ino));
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        reply_attr(reply, self.inner().setattr(ino, mode, size));
    }

    fn readlink(&mut self, _req: &Request<'_>, ino: u64, reply: ReplyData) {
        match self.inner().readlink(ino) {
            Ok(t) => reply.data(t.as_os_str().as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        reply_entry(reply, self.inner().mkdir(parent, name, mode, umask));
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.inner().unlink(parent, name));
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.inner().rmdir(parent, name));
    }

    fn symlink(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        reply_entry(reply, self.inner().symlink(parent, link_name, target));
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let result = self.inner().rename(parent, name, newparent, newname, flags);
        reply_empty(reply, result);
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        match self.inner().open(ino) {
            Ok(()) => reply.opened(0, 0),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        match self.inner().read(ino, offset.max(0) as u64, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        match self.inner().write(ino, offset.max(0) as u64, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lo: u64, reply: ReplyEmpty) {
        // close() does not make data durable; only fsync does.
        reply.ok();
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _ds: bool, reply: ReplyEmpty) {
        let held = {
            let mut inner = self.inner();
            inner.rel(ino).map(|rel| (rel, inner.is_dirty(ino)))
        };
        if let Ok((rel, dirty)) = held {
            self.points.before_fsync(&rel, dirty);
        }
        reply_empty(reply, self.inner().fsync(ino));
    }

    fn opendir(&mut self, _req: &Request<'_>, _ino: u64, _flags: i32, reply: ReplyOpen) {
        reply.opened(0, 0);
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        match self.inner().readdir(ino) {
            Ok(entries) => {
                for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize)
                {
                    if reply.add(ino, (i + 1) as i64, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _ds: bool, reply: ReplyEmpty) {
        reply_empty(reply, self.inner().fsyncdir(ino));
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        match self.inner().create(parent, name, mode, umask, flags) {
            Ok(a) => reply.created(&TTL, &a, 0, 0, 0),
            Err(e) => reply.error(e),
        }
    }

    fn destroy(&mut self) {
        for (path, e) in self.inner().persist_all() {
            eprintln!(
                "vls-chaos-agent: writing back {} on unmount: {e}",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests;
