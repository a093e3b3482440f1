//! The operations the FUSE callbacks perform, one method of [`Inner`] each,
//! as plain functions of the shared state: the callbacks in `fs.rs` only
//! lock, call and reply, so tests drive exactly this logic without a mount.
//! Errors are errno values, as the kernel gets them.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fuser::{FileAttr, FileType};

use super::{errno, Inner};

impl Inner {
    pub(crate) fn lookup(&mut self, parent: u64, name: &OsStr) -> Result<FileAttr, i32> {
        let rel = self.child(parent, name)?;
        self.attr(&rel)
    }

    pub(crate) fn getattr(&mut self, ino: u64) -> Result<FileAttr, i32> {
        let rel = self.rel(ino)?;
        self.attr(&rel)
    }

    /// chmod and truncate; a new size is buffered like a write.
    pub(crate) fn setattr(
        &mut self,
        ino: u64,
        mode: Option<u32>,
        size: Option<u64>,
    ) -> Result<FileAttr, i32> {
        let rel = self.rel(ino)?;
        if let Some(mode) = mode {
            fs::set_permissions(self.full(&rel), fs::Permissions::from_mode(mode))
                .map_err(errno)?;
        }
        if let Some(len) = size {
            self.buffered(ino)?.set_len(len);
        }
        self.attr(&rel)
    }

    pub(crate) fn readlink(&self, ino: u64) -> Result<PathBuf, i32> {
        let rel = self.rel(ino)?;
        fs::read_link(self.full(&rel)).map_err(errno)
    }

    pub(crate) fn mkdir(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
    ) -> Result<FileAttr, i32> {
        let rel = self.child(parent, name)?;
        fs::create_dir(self.full(&rel)).map_err(errno)?;
        fs::set_permissions(self.full(&rel), fs::Permissions::from_mode(mode & !umask))
            .map_err(errno)?;
        self.attr(&rel)
    }

    /// unlink and rmdir: the name goes at once (metadata is not buffered).
    fn remove(
        &mut self,
        parent: u64,
        name: &OsStr,
        op: impl Fn(&Path) -> std::io::Result<()>,
    ) -> Result<(), i32> {
        let rel = self.child(parent, name)?;
        op(&self.full(&rel)).map_err(errno)?;
        self.forget_path(&rel);
        Ok(())
    }

    pub(crate) fn unlink(&mut self, parent: u64, name: &OsStr) -> Result<(), i32> {
        self.remove(parent, name, |p| fs::remove_file(p))
    }

    pub(crate) fn rmdir(&mut self, parent: u64, name: &OsStr) -> Result<(), i32> {
        self.remove(parent, name, |p| fs::remove_dir(p))
    }

    pub(crate) fn symlink(
        &mut self,
        parent: u64,
        link_name: &OsStr,
        target: &Path,
    ) -> Result<FileAttr, i32> {
        let rel = self.child(parent, link_name)?;
        std::os::unix::fs::symlink(target, self.full(&rel)).map_err(errno)?;
        self.attr(&rel)
    }

    /// The name moves at once; buffered data moves with the inode.
    pub(crate) fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
    ) -> Result<(), i32> {
        if flags != 0 {
            // RENAME_EXCHANGE / RENAME_NOREPLACE: not needed by our components.
            return Err(libc::EINVAL);
        }
        let from = self.child(parent, name)?;
        let to = self.child(newparent, newname)?;
        fs::rename(self.full(&from), self.full(&to)).map_err(errno)?;
        self.rename_paths(&from, &to);
        Ok(())
    }

    pub(crate) fn open(&self, ino: u64) -> Result<(), i32> {
        let rel = self.rel(ino)?;
        if self.full(&rel).exists() {
            Ok(())
        } else {
            Err(libc::ENOENT)
        }
    }

    /// What the program reads: the buffer if the file has one, else the disk.
    pub(crate) fn read(&self, ino: u64, offset: u64, size: u32) -> Result<Cow<'_, [u8]>, i32> {
        if let Some(b) = self.files.get(&ino) {
            return Ok(Cow::Borrowed(b.read(offset, size)));
        }
        let rel = self.rel(ino)?;
        let f = File::open(self.full(&rel)).map_err(errno)?;
        let mut buf = vec![0u8; size as usize];
        let mut got = 0;
        while got < buf.len() {
            match f.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(errno(e)),
            }
        }
        buf.truncate(got);
        Ok(Cow::Owned(buf))
    }

    /// Buffered: nothing reaches the disk until `fsync`.
    pub(crate) fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> Result<u32, i32> {
        self.buffered(ino)?.write(offset, data);
        Ok(data.len() as u32)
    }

    /// fsync and fdatasync: the file's buffered contents and length go to disk.
    pub(crate) fn fsync(&mut self, ino: u64) -> Result<(), i32> {
        self.persist(ino)
    }

    /// Names are on the disk already; this only syncs the lower directory.
    pub(crate) fn fsyncdir(&self, ino: u64) -> Result<(), i32> {
        let rel = self.rel(ino)?;
        File::open(self.full(&rel))
            .and_then(|d| d.sync_all())
            .map_err(errno)
    }

    /// `.`, `..` and the directory's entries in a stable (sorted) order, so
    /// readdir offsets mean the same thing across calls.
    pub(crate) fn readdir(&mut self, ino: u64) -> Result<Vec<(u64, FileType, OsString)>, i32> {
        let rel = self.rel(ino)?;
        let mut names: Vec<OsString> = fs::read_dir(self.full(&rel))
            .map_err(errno)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        let mut entries = vec![
            (ino, FileType::Directory, OsString::from(".")),
            (ino, FileType::Directory, OsString::from("..")),
        ];
        for n in names {
            let child = rel.join(&n);
            if let Ok(a) = self.attr(&child) {
                entries.push((a.ino, a.kind, n));
            }
        }
        Ok(entries)
    }

    /// The name is created on the disk at once; O_TRUNC is buffered.
    pub(crate) fn create(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
    ) -> Result<FileAttr, i32> {
        let rel = self.child(parent, name)?;
        let mut opts = File::options();
        opts.write(true).create(true);
        if flags & libc::O_EXCL != 0 {
            opts.create_new(true);
        }
        let f = opts.open(self.full(&rel)).map_err(errno)?;
        f.set_permissions(fs::Permissions::from_mode(mode & !umask & 0o7777))
            .map_err(errno)?;
        if flags & libc::O_TRUNC != 0 {
            let ino = self.ino_for(&rel);
            self.buffered(ino)?.set_len(0);
        }
        self.attr(&rel)
    }
}
