//! Typed handles on the components of a cluster.

mod any_node;
mod bitcoind;
mod cln;
mod events;
mod lnnode;
mod ready;
mod vlsd;

pub use any_node::{AnyNode, PayRequest};
pub use bitcoind::{regtest_subsidy_sat, Bitcoind, BitcoindBuilder, P2P_PORT, RPC_PORT};
pub use cln::{ClnNode, ClnNodeBuilder};
pub use lnnode::{EventCursor, LdkNode, LdkNodeBuilder, ADMIN_PORT, P2P_PORT as LN_P2P_PORT};
pub use vlsd::{Signer, SignerBuilder, NODE_SIGNER_PORT};
