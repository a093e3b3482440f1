//! Recovery library for Validating Lightning Signer state.
//!
//! This crate never depends on Docker or on the harness: operators run it on
//! their own machines. Modules are nouns, one concern each.

pub mod backup;
pub mod datadir;
pub mod error;
pub mod seed;

pub use datadir::{Network, VlsdDatadir};
pub use error::RecoveryError;
pub use seed::Seed;
