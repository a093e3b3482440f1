//! Faults the runner applies to the components of a run: one enum, each
//! variant naming its target, and an [`Injector`] that applies them, keeps
//! the ones still in force, and heals them.
//!
//! Process faults are Docker operations; network faults are iptables rules
//! inside the target's network namespace; file faults edit a volume through
//! the Docker archive API (which works on stopped containers too); disk full
//! fills a size-limited tmpfs datadir; clock skew rewrites the libfaketime
//! offset file the target was started with.

mod clock;
mod corruption;
mod disk;
mod file;
mod injector;
mod kinds;
mod net;

pub use corruption::{Corruption, CorruptionMode, CorruptionSpec};
pub use disk::FILL_FILE;
pub use injector::Injector;
pub use kinds::{Fault, FaultSpec, LinkDirection};
