//! Sequences of operations through the layer's own logic (the `Inner`
//! methods the FUSE callbacks call), each ending in a power cut: the agent
//! dies with what it holds and only the lower directory is left.
//!
//! Semantics for names, as the layer implements them (see `fs.rs`): create,
//! rename and unlink reach the lower directory when the call returns, so
//! they survive a cut with or without fsyncdir, and fsyncdir adds nothing.
//! That is a filesystem that journals metadata in order (ext4 `data=ordered`
//! in practice), which POSIX allows; it is kinder than POSIX's minimum and
//! than LazyFS, which may drop a name whose directory was not fsynced. So
//! this layer finds lost *data* (a missing fsync) but never a missing
//! fsyncdir. File bytes and lengths are durable only as of the file's last
//! fsync, and belong to the file, not its name.

mod layer;
mod model;
mod prop;

use layer::{assert_bytes, assert_files, files, Layer};

use crate::pages::PAGE;

const P: usize = PAGE as usize;

/// Distinct bytes, so a byte at the wrong offset shows.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

// --- write and fsync -------------------------------------------------------

#[test]
fn write_without_fsync_is_lost_to_a_cut() {
    let mut l = Layer::over(&[], &[("f", b"old contents")]);
    l.write("f", 0, b"NEW");
    assert_bytes(&l.read("f").unwrap(), b"NEW contents");
    assert_files(&l.on_disk(), &files(&[("f", b"old contents")]));
    assert_files(&l.cut(), &files(&[("f", b"old contents")]));
}

#[test]
fn new_file_written_without_fsync_survives_empty() {
    // The name is on disk at create; the bytes never were.
    let mut l = Layer::empty();
    l.create("n");
    l.write("n", 0, b"never synced");
    assert_files(&l.cut(), &files(&[("n", b"")]));
}

#[test]
fn write_then_fsync_survives_a_cut() {
    let mut l = Layer::over(&[], &[("f", b"old contents")]);
    l.write("f", 0, b"NEW");
    l.write("f", 12, b", and more");
    l.fsync("f");
    assert_files(&l.cut(), &files(&[("f", b"NEW contents, and more")]));
}

#[test]
fn writes_after_an_fsync_are_lost_and_the_fsynced_state_kept() {
    let mut l = Layer::over(&[], &[("f", &[1u8; 3 * P])]);
    let first = pattern(10, 2 * P);
    l.write("f", (P / 2) as u64, &first);
    l.fsync("f");
    // Rewrite across the same pages (and one more), then cut.
    l.write("f", (P - 7) as u64, &pattern(99, 2 * P + 100));
    l.truncate("f", 5);
    let mut want = vec![1u8; 3 * P];
    want[P / 2..P / 2 + 2 * P].copy_from_slice(&first);
    assert_files(&l.cut(), &files(&[("f", &want)]));
}

#[test]
fn fsync_of_one_file_leaves_the_others_unsynced() {
    let mut l = Layer::over(&[], &[("a", b"a0"), ("b", b"b0")]);
    l.write("a", 0, b"a1");
    l.write("b", 0, b"b1");
    l.fsync("a");
    assert_files(&l.cut(), &files(&[("a", b"a1"), ("b", b"b0")]));
}

#[test]
fn fsync_of_a_file_never_written_is_harmless() {
    let mut l = Layer::over(&[], &[("f", b"same")]);
    l.fsync("f");
    l.create("g");
    l.fsync("g");
    assert_files(&l.cut(), &files(&[("f", b"same"), ("g", b"")]));
}

// --- create, fsync, fsyncdir -------------------------------------------------

#[test]
fn create_write_fsync_without_fsyncdir_keeps_the_name() {
    // POSIX (and LazyFS) may lose the name "n" here, since its directory
    // was never fsynced; this layer writes names through at create, so the
    // name survives, with the fsynced bytes.
    let mut l = Layer::empty();
    l.create("n");
    l.write("n", 0, b"synced");
    l.fsync("n");
    assert_files(&l.cut(), &files(&[("n", b"synced")]));
}

#[test]
fn create_write_fsync_and_fsyncdir_keeps_name_and_bytes() {
    let mut l = Layer::empty();
    l.mkdir("d");
    l.create("d/n");
    l.write("d/n", 0, b"synced");
    l.fsync("d/n");
    l.fsyncdir("d");
    assert_files(&l.cut(), &files(&[("d/n", b"synced")]));
}

#[test]
fn fsyncdir_does_not_make_file_bytes_durable() {
    let mut l = Layer::empty();
    l.create("n");
    l.write("n", 0, b"unsynced");
    l.fsyncdir("");
    assert_files(&l.cut(), &files(&[("n", b"")]));
}

#[test]
fn create_with_o_trunc_of_a_durable_file_is_buffered() {
    let mut l = Layer::over(&[], &[("f", b"version one"), ("g", b"version one")]);
    l.create_flags("f", libc::O_TRUNC).unwrap();
    assert_bytes(&l.read("f").unwrap(), b"");
    l.write("f", 0, b"v2");
    l.create_flags("g", libc::O_TRUNC).unwrap();
    l.write("g", 0, b"v2");
    l.fsync("g");
    assert_files(&l.cut(), &files(&[("f", b"version one"), ("g", b"v2")]));
}

#[test]
fn create_with_o_excl_of_an_existing_name_fails() {
    let mut l = Layer::over(&[], &[("f", b"x")]);
    assert_eq!(l.create_flags("f", libc::O_EXCL), Err(libc::EEXIST));
    assert_files(&l.cut(), &files(&[("f", b"x")]));
}

// --- rename: the atomic-write pattern ----------------------------------------

/// final holds v1 durably; v2 is written to tmp and renamed over it.
fn atomic_write(fsync_tmp: bool, fsyncdir: bool) -> layer::Durable {
    let mut l = Layer::over(&["d"], &[("d/final", b"version one")]);
    l.create("d/final.tmp");
    l.write("d/final.tmp", 0, b"version two!");
    if fsync_tmp {
        l.fsync("d/final.tmp");
    }
    l.rename("d/final.tmp", "d/final");
    assert_bytes(&l.read("d/final").unwrap(), b"version two!");
    assert_eq!(l.read("d/final.tmp"), None);
    if fsyncdir {
        l.fsyncdir("d");
    }
    l.cut()
}

#[test]
fn atomic_write_with_fsync_and_fsyncdir_survives() {
    assert_files(
        &atomic_write(true, true),
        &files(&[("d/final", b"version two!")]),
    );
}

#[test]
fn atomic_write_with_fsync_without_fsyncdir_survives_here() {
    // POSIX allows either version one or version two here (LazyFS may keep
    // version one); this layer has renamed on disk already: version two.
    assert_files(
        &atomic_write(true, false),
        &files(&[("d/final", b"version two!")]),
    );
}

#[test]
fn atomic_write_without_fsync_is_torn_even_with_fsyncdir() {
    // The rename is durable but the bytes never were: the new name holds
    // the empty file tmp was created as, and version one is gone.
    assert_files(&atomic_write(false, true), &files(&[("d/final", b"")]));
    assert_files(&atomic_write(false, false), &files(&[("d/final", b"")]));
}

#[test]
fn fsync_through_the_descriptor_after_the_rename_counts() {
    // A program may fsync its open descriptor after renaming: the buffered
    // bytes follow the inode to its new name.
    let mut l = Layer::over(&[], &[("final", b"version one")]);
    let fd = l.create("final.tmp");
    l.write_ino(fd, 0, b"version two!").unwrap();
    l.rename("final.tmp", "final");
    l.fsync_ino(fd).unwrap();
    assert_files(&l.cut(), &files(&[("final", b"version two!")]));
}

#[test]
fn rename_over_a_file_with_unsynced_writes_drops_them() {
    let mut l = Layer::over(&[], &[("final", b"v1"), ("tmp", b"v2")]);
    l.write("final", 0, b"unsynced, replaced");
    l.rename("tmp", "final");
    assert_bytes(&l.read("final").unwrap(), b"v2");
    // An fsync of the new "final" must not write the replaced file's bytes.
    l.fsync("final");
    assert_files(&l.cut(), &files(&[("final", b"v2")]));
}

#[test]
fn renamed_directory_carries_its_buffered_files() {
    let mut l = Layer::empty();
    l.mkdir("d");
    let fd = l.create("d/f");
    l.write_ino(fd, 0, b"inside").unwrap();
    l.rename("d", "e");
    assert_bytes(&l.read("e/f").unwrap(), b"inside");
    l.fsync("e/f");
    assert_files(&l.cut(), &files(&[("e/f", b"inside")]));
}

#[test]
fn rename_onto_itself_keeps_the_buffered_writes() {
    // rename(2) of a name onto itself does nothing (POSIX); the program
    // must still see its writes, and fsync must still make them durable.
    let mut l = Layer::over(&[], &[("f", b"old")]);
    let fd = l.ino("f").unwrap();
    l.write_ino(fd, 0, b"new").unwrap();
    l.rename("f", "f");
    // The program's own writes must not vanish.
    assert_bytes(&l.read("f").unwrap(), b"new");
    assert_eq!(l.fsync_ino(fd), Ok(()), "fsync of the open descriptor");
    assert_files(&l.cut(), &files(&[("f", b"new")]));
}

// --- truncate ----------------------------------------------------------------

#[test]
fn shrink_without_fsync_is_lost() {
    let old = pattern(3, 2 * P + 10);
    let mut l = Layer::over(&[], &[("f", &old)]);
    l.truncate("f", 100);
    assert_bytes(&l.read("f").unwrap(), &old[..100]);
    assert_files(&l.cut(), &files(&[("f", &old)]));
}

#[test]
fn shrink_with_fsync_survives() {
    let old = pattern(3, 2 * P + 10);
    let mut l = Layer::over(&[], &[("f", &old)]);
    l.truncate("f", (P + 1) as u64);
    l.fsync("f");
    assert_files(&l.cut(), &files(&[("f", &old[..P + 1])]));
}

#[test]
fn grow_without_fsync_is_lost() {
    let mut l = Layer::over(&[], &[("f", b"short")]);
    l.truncate("f", 3 * PAGE);
    assert_files(&l.cut(), &files(&[("f", b"short")]));
}

#[test]
fn grow_with_fsync_zero_fills() {
    let mut l = Layer::over(&[], &[("f", b"short")]);
    l.truncate("f", 3 * PAGE);
    l.fsync("f");
    let mut want = b"short".to_vec();
    want.resize(3 * P, 0);
    assert_files(&l.cut(), &files(&[("f", &want)]));
}

#[test]
fn shrink_then_grow_then_fsync_zeroes_what_the_shrink_cut_off() {
    // The program sees zeros past 100 after the shrink and the grow; what
    // the fsync makes durable must be what it saw.
    let old = vec![7u8; 3 * P];
    let mut l = Layer::over(&[], &[("f", &old)]);
    l.truncate("f", 100);
    l.truncate("f", 3 * PAGE);
    let mut want = vec![7u8; 100];
    want.resize(3 * P, 0);
    assert_bytes(&l.read("f").unwrap(), &want);
    l.fsync("f");
    // No stale bytes from before the shrink may come back.
    assert_files(&l.cut(), &files(&[("f", &want)]));
}

#[test]
fn shrink_then_write_past_the_end_then_fsync_zeroes_the_gap() {
    let old = vec![7u8; 3 * P];
    let mut l = Layer::over(&[], &[("f", &old)]);
    l.truncate("f", 100);
    l.write("f", (2 * P + 5) as u64, b"x");
    let mut want = vec![7u8; 100];
    want.resize(2 * P + 5, 0);
    want.push(b'x');
    assert_bytes(&l.read("f").unwrap(), &want);
    l.fsync("f");
    // No stale bytes from before the shrink may come back.
    assert_files(&l.cut(), &files(&[("f", &want)]));
}

#[test]
fn o_trunc_then_preallocate_then_fsync_zeroes_the_old_contents() {
    // open(O_TRUNC), ftruncate to preallocate, write part of it, fsync: the
    // parts never written read as zeros and must be zeros on disk too.
    let mut l = Layer::over(&[], &[("f", &vec![7u8; 2 * P])]);
    l.create_flags("f", libc::O_TRUNC).unwrap();
    l.truncate("f", (2 * P) as u64);
    l.write("f", P as u64, b"header");
    let mut want = vec![0u8; 2 * P];
    want[P..P + 6].copy_from_slice(b"header");
    assert_bytes(&l.read("f").unwrap(), &want);
    l.fsync("f");
    // No stale bytes from before the O_TRUNC may come back.
    assert_files(&l.cut(), &files(&[("f", &want)]));
}

// --- overlapping writes across pages -----------------------------------------

#[test]
fn overlapping_writes_across_page_boundaries_persist_exactly() {
    let mut l = Layer::over(&[], &[("f", &pattern(200, P + 17))]);
    let mut want = pattern(200, P + 17);
    let writes: [(usize, usize, u8); 6] = [
        (P - 3, 6, 1),         // straddles pages 0|1
        (P - 1, 2 * P + 2, 2), // 0|1|2|3, past the end
        (2 * P - 2, 4, 3),     // inside the last write, 1|2
        (0, 1, 4),             // first byte
        (3 * P + 1, 1, 5),     // the last byte
        (P + 10, P - 10, 6),   // exactly to the 1|2 boundary
    ];
    for (off, len, seed) in writes {
        let bytes = pattern(seed, len);
        l.write("f", off as u64, &bytes);
        if want.len() < off + len {
            want.resize(off + len, 0);
        }
        want[off..off + len].copy_from_slice(&bytes);
        assert_bytes(&l.read("f").unwrap(), &want);
    }
    l.fsync("f");
    assert_files(&l.cut(), &files(&[("f", &want)]));
}

#[test]
fn second_fsync_writes_only_what_changed_and_keeps_the_rest() {
    // After a first fsync some pages are clean; a second round touches
    // others. Both fsyncs together must give exactly the program's view.
    let mut l = Layer::over(&[], &[("f", &vec![9u8; 4 * P])]);
    let mut want = vec![9u8; 4 * P];
    for (off, seed) in [(P - 2, 1u8), (3 * P + 100, 2)] {
        let bytes = pattern(seed, 4);
        l.write("f", off as u64, &bytes);
        want[off..off + 4].copy_from_slice(&bytes);
    }
    l.fsync("f");
    let bytes = pattern(3, P);
    l.write("f", (2 * P - 50) as u64, &bytes);
    want[2 * P - 50..3 * P - 50].copy_from_slice(&bytes);
    l.fsync("f");
    let lost = pattern(4, 3 * P);
    l.write("f", 10, &lost);
    assert_files(&l.cut(), &files(&[("f", &want)]));
}

// --- unlink ------------------------------------------------------------------

#[test]
fn unlink_of_a_durable_file_without_fsyncdir_is_durable_here() {
    // POSIX (and LazyFS) may bring "f" back; this layer removed it on disk.
    let mut l = Layer::over(&[], &[("f", b"durable"), ("g", b"kept")]);
    l.unlink("f");
    assert_eq!(l.read("f"), None);
    assert_files(&l.cut(), &files(&[("g", b"kept")]));
}

#[test]
fn unlink_drops_unsynced_writes_and_a_new_file_of_that_name_starts_empty() {
    let mut l = Layer::over(&[], &[("f", b"durable")]);
    l.write("f", 0, b"unsynced");
    l.unlink("f");
    l.create("f");
    assert_bytes(&l.read("f").unwrap(), b"");
    l.write("f", 0, b"second");
    assert_files(&l.cut(), &files(&[("f", b"")]));
}

#[test]
fn unlinked_name_is_gone_for_every_operation() {
    let mut l = Layer::over(&[], &[("f", b"durable")]);
    l.unlink("f");
    assert_eq!(l.try_write("f", 0, b"x"), Err(libc::ENOENT));
    assert_eq!(l.try_fsync("f"), Err(libc::ENOENT));
    assert_eq!(l.try_truncate("f", 0), Err(libc::ENOENT));
    assert_eq!(l.try_unlink("f"), Err(libc::ENOENT));
    assert_eq!(l.try_rename("f", "g"), Err(libc::ENOENT));
    assert_files(&l.cut(), &files(&[]));
}

// --- the orderly end -----------------------------------------------------------

#[test]
fn a_stop_writes_everything_back() {
    let mut l = Layer::over(&[], &[("f", b"old"), ("g", &vec![5u8; 2 * P])]);
    l.write("f", 3, b" and new");
    l.truncate("g", 10);
    l.create("h");
    l.write("h", P as u64, b"late");
    l.stop_and_remount();
    let mut h = vec![0u8; P];
    h.extend_from_slice(b"late");
    let want = files(&[("f", b"old and new"), ("g", &[5u8; 10]), ("h", &h)]);
    assert_files(&l.on_disk(), &want);
    assert_files(&l.cut(), &want);
}

#[test]
fn a_remounted_layer_reads_what_survived() {
    let mut l = Layer::over(&[], &[("f", b"old")]);
    l.write("f", 0, b"NEW");
    l.cut_and_remount();
    assert_bytes(&l.read("f").unwrap(), b"old");
    l.write("f", 3, b"er");
    l.fsync("f");
    assert_files(&l.cut(), &files(&[("f", b"older")]));
}
