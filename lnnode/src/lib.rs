//! lnnode: an LDK Lightning node that signs through vlsd (as VLS's lnrod does)
//! or with local keys (counterparties).
//!
//! Not a node yet: the LDK wiring, admin API and binary arrive with issue 3.
//! This crate holds the command-line contract the harness starts it with.

pub mod config;
