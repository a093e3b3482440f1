//! Sealed backup files: the standard `age` format (so `age -d -i key.txt`
//! opens them), holding a one-line JSON header and then the payload (a signer
//! snapshot as JSON). Written atomically, mode 0600, never over an existing
//! file; older backups pruned to the newest N.
//!
//! `sealed` is the format, `files` the directory of backup files, `payload`
//! what a snapshot backup holds, `sink` the directory as the strategy
//! engine's sink.

mod files;
mod payload;
mod sealed;
mod sink;

pub use files::{create, file_name, list, now_ms, open_file, retain, write_new};
pub use payload::{open_snapshot, open_snapshot_file, snapshot_payload, Contents};
pub use sealed::{
    open, parse_recipient, read_identities, seal, BackupHeader, BackupInfo, OpenKey, Opened,
    SealKey, FORMAT_VERSION,
};
pub use sink::DirSink;

#[cfg(test)]
mod tests;
