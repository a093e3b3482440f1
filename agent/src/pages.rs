//! The contents of one file as the running program sees it: what is on the
//! lower disk plus every write since the last fsync. Only `persist` moves
//! bytes to the disk, so whatever is still here when the process dies is
//! lost, as a page cache is on power loss.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The unit of dirty tracking: a write marks every page it touches.
pub(crate) const PAGE: u64 = 4096;

#[derive(Debug)]
pub struct BufferedFile {
    data: Vec<u8>,
    /// Pages written since the last persist.
    dirty: BTreeSet<u64>,
    /// The length on disk changed (truncate, extend) since the last persist.
    resized: bool,
    /// The shortest the file has been since the last persist: the disk
    /// still holds its old bytes past this point.
    shortest: u64,
}

impl BufferedFile {
    /// Loads the durable contents; called on the first write to a file.
    pub fn load(lower: &File) -> io::Result<Self> {
        let len = lower.metadata()?.len();
        let mut data = vec![0u8; len as usize];
        lower.read_exact_at(&mut data, 0)?;
        Ok(BufferedFile {
            data,
            dirty: BTreeSet::new(),
            resized: false,
            shortest: len,
        })
    }

    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    pub fn is_dirty(&self) -> bool {
        self.resized || !self.dirty.is_empty()
    }

    pub fn read(&self, offset: u64, size: u32) -> &[u8] {
        let start = (offset as usize).min(self.data.len());
        let end = start.saturating_add(size as usize).min(self.data.len());
        &self.data[start..end]
    }

    pub fn write(&mut self, offset: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let end = offset as usize + bytes.len();
        if end > self.data.len() {
            self.data.resize(end, 0);
            self.resized = true;
        }
        self.data[offset as usize..end].copy_from_slice(bytes);
        for page in offset / PAGE..=(end as u64 - 1) / PAGE {
            self.dirty.insert(page);
        }
    }

    pub fn set_len(&mut self, len: u64) {
        if len != self.len() {
            self.data.resize(len as usize, 0);
            self.resized = true;
            self.dirty.retain(|p| p * PAGE < len);
            self.shortest = self.shortest.min(len);
        }
    }

    /// Writes the dirty pages and the length to `lower` and fsyncs it.
    pub fn persist(&mut self, lower: &File) -> io::Result<()> {
        if self.resized {
            // Cut first, so what a shrink dropped reads back as zeros.
            lower.set_len(self.shortest)?;
            lower.set_len(self.len())?;
        }
        for &page in &self.dirty {
            let start = page * PAGE;
            let end = (start + PAGE).min(self.len());
            if start < end {
                lower.write_all_at(&self.data[start as usize..end as usize], start)?;
            }
        }
        lower.sync_all()?;
        self.dirty.clear();
        self.resized = false;
        self.shortest = self.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lower_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(bytes).unwrap();
        let f = File::options()
            .read(true)
            .write(true)
            .open(tmp.path())
            .unwrap();
        (tmp, f)
    }

    #[test]
    fn writes_stay_in_memory_until_persist() {
        let (tmp, f) = lower_with(b"hello world");
        let mut b = BufferedFile::load(&f).unwrap();
        b.write(6, b"there, friend");
        assert_eq!(b.read(0, 100), b"hello there, friend");
        assert_eq!(std::fs::read(tmp.path()).unwrap(), b"hello world");
        b.persist(&f).unwrap();
        assert_eq!(std::fs::read(tmp.path()).unwrap(), b"hello there, friend");
        assert!(!b.is_dirty());
    }

    #[test]
    fn truncate_is_buffered_too() {
        let (tmp, f) = lower_with(&[7u8; 10_000]);
        let mut b = BufferedFile::load(&f).unwrap();
        b.write(9_000, b"x");
        b.set_len(100);
        assert_eq!(b.len(), 100);
        assert_eq!(std::fs::metadata(tmp.path()).unwrap().len(), 10_000);
        b.persist(&f).unwrap();
        assert_eq!(std::fs::read(tmp.path()).unwrap(), vec![7u8; 100]);
    }

    #[test]
    fn writes_past_the_end_zero_fill_the_gap() {
        let (tmp, f) = lower_with(b"ab");
        let mut b = BufferedFile::load(&f).unwrap();
        b.write(PAGE * 2 + 1, b"z");
        b.persist(&f).unwrap();
        let on_disk = std::fs::read(tmp.path()).unwrap();
        assert_eq!(on_disk.len() as u64, PAGE * 2 + 2);
        assert_eq!(&on_disk[..2], b"ab");
        assert!(on_disk[2..on_disk.len() - 1].iter().all(|&b| b == 0));
        assert_eq!(on_disk.last(), Some(&b'z'));
    }

    #[test]
    fn reads_past_the_end_are_short() {
        let (_tmp, f) = lower_with(b"abc");
        let b = BufferedFile::load(&f).unwrap();
        assert_eq!(b.read(2, 10), b"c");
        assert_eq!(b.read(10, 10), b"");
    }
}
