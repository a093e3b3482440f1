//! Recovery library for Validating Lightning Signer state.
//!
//! This crate never depends on Docker or on the harness: operators run it on
//! their own machines. Modules are nouns, one concern each.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod archive;
pub mod backup;
pub mod chain;
pub mod closed;
pub mod datadir;
pub mod diff;
pub mod error;
pub mod fate;
pub mod feewallet;
pub mod offline;
pub mod plan;
pub mod preimage;
pub mod restore;
pub mod scb;
pub mod seed;
pub mod snapshot;
pub mod store;
pub mod sweep;
pub mod testbed;
pub mod watch;

pub use datadir::{Network, VlsdDatadir};
pub use error::RecoveryError;
pub use seed::Seed;
pub use snapshot::Snapshot;
