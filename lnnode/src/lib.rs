#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//! lnnode: an LDK Lightning node that signs through vlsd (as VLS's lnrod does)
//! or with local keys (counterparties), driven by the harness over a typed
//! JSON admin API.

pub mod admin;
pub mod api_error;
pub mod bitcoind;
pub mod broadcaster;
pub mod chain;
pub mod cheat;
pub mod claims;
pub mod clock;
pub mod config;
pub mod control;
pub mod event;
pub mod event_log;
pub mod fee;
pub mod frontend;
pub mod ldk;
pub mod logger;
pub mod monitors;
pub mod node;
pub mod persist;
pub mod signer;
pub mod startup;
pub mod sync;
