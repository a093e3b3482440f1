//! vls-chaos harness: real regtest bitcoind, vlsd and Lightning nodes in
//! Docker containers, with faults injected between scenario steps.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod accounting;
pub mod artifacts;
pub mod checker;
pub mod checkpoint;
pub mod cluster;
pub mod component;
pub mod contained;
pub mod container;
pub mod docker;
pub mod error;
pub mod fault;
pub mod gc;
pub mod image;
pub mod interrupt;
pub mod lightning;
pub mod log;
pub mod node;
pub mod paths;
pub mod progress;
pub mod report;
pub mod resources;
pub mod runner;
pub mod scenario;
pub mod settle;
pub mod sync;
pub mod wait;

pub use cluster::{Cluster, ClusterBuilder, Component};
pub use component::{AnyNode, Bitcoind, ClnNode, LdkNode, Signer};
pub use container::{Container, ContainerSpec};
pub use error::{HarnessError, Result};
pub use fault::Fault;
pub use image::{ImageBuilder, Images};
pub use node::{Node, NodeEvent, SignerChoice};
pub use resources::Resources;
pub use scenario::Scenario;

/// Logs to stderr with timestamps; `RUST_LOG` overrides the default filter.
pub fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
