//! Marking the state a force-close was signed from closed, before the
//! force-close is broadcast (by `watch` and by `sweep --broadcast`): a
//! signer started from it again would sign on a closed channel.

use std::path::PathBuf;

use vls_recovery::closed;
use vls_recovery::plan::Action;
use vls_recovery::store::Held;
use vls_recovery::{RecoveryError, Snapshot};

use crate::onchain::{Onchain, Source};

/// The state force-closes are signed from, to be marked closed before one
/// is broadcast. A datadir stays locked while this lives, so no vlsd can
/// start on it meanwhile.
pub(crate) enum Closer {
    Datadir { held: Held, root: PathBuf },
    Backup(PathBuf),
}

impl Closer {
    pub(crate) fn for_source(o: &Onchain) -> Result<Closer, RecoveryError> {
        match &o.source {
            Source::Backup(f) => Ok(Closer::Backup(f.clone())),
            Source::Datadir(d) => {
                let path = d.state_db_path();
                let held = Held::lock(&path)?;
                let now =
                    Snapshot::from_store(&held.read()?, d.network(), &path.display().to_string())?;
                if now != o.snapshot {
                    return Err(RecoveryError::StateInvalid {
                        source_name: path.display().to_string(),
                        key: "(database)".into(),
                        reason: "changed since it was read (did a vlsd run on it?); run again"
                            .into(),
                    });
                }
                Ok(Closer::Datadir {
                    held,
                    root: d.root().to_path_buf(),
                })
            }
        }
    }

    /// Marks `a`'s channel closed; says where.
    pub(crate) fn mark(&mut self, a: &Action) -> Result<String, RecoveryError> {
        let ids = [a.channel_id.clone()];
        match self {
            Closer::Datadir { held, root } => {
                closed::mark_closed(held, &ids)?;
                Ok(format!(
                    "{}: marked closed in {} before its force-close was broadcast",
                    a.channel,
                    root.display()
                ))
            }
            Closer::Backup(f) => {
                let m = closed::mark_backup_closed(f, &ids)?;
                Ok(format!(
                    "{}: force-closed from this backup, recorded in {} (restore refuses it now)",
                    a.channel,
                    m.display()
                ))
            }
        }
    }
}
