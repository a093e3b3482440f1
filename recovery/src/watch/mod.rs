//! Seeing a recovery through: at each new block, scan, plan again, sign and
//! broadcast what became ready, re-broadcast what is not confirmed yet,
//! re-sign at a higher fee rate what is close to its deadline, and note what
//! confirmed, and who took it. It ends when every output the plan claims is
//! spent.
//!
//! The watcher holds no chain state of its own beyond what it sent: every
//! step starts from the chain (a scan) and the signer state (a plan), so a
//! crash of the tool loses nothing; a new run picks up where the chain is.

mod config;
mod cpfp;
mod event;
mod record;
mod send;
mod settle;
mod summary;
mod watcher;

pub use config::{next_rate, WatchConfig};
pub use event::Event;
pub use record::{Sent, Settled};
pub use summary::{ChannelSummary, Summary};
pub use watcher::{BeforeForceClose, Step, Watcher};
