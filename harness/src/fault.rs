//! Faults the runner applies to a component's container. Each is one Docker
//! operation, and each that can be undone names its heal.

use serde::{Deserialize, Serialize};

use crate::container::Container;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// SIGKILL: no flush, no cleanup; volumes keep what reached them.
    Kill,
    /// SIGTERM, SIGKILL after the component's grace period.
    Stop,
    /// Start a stopped or killed container again, same volumes.
    Start,
    /// SIGTERM with grace, then start.
    Restart,
    /// Freeze every process of the container.
    Pause,
    Unpause,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::Kill,
        Fault::Stop,
        Fault::Start,
        Fault::Restart,
        Fault::Pause,
        Fault::Unpause,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Stop => "stop",
            Fault::Start => "start",
            Fault::Restart => "restart",
            Fault::Pause => "pause",
            Fault::Unpause => "unpause",
        }
    }

    /// The fault that undoes this one, if any.
    pub fn heal(self) -> Option<Fault> {
        match self {
            Fault::Kill | Fault::Stop => Some(Fault::Start),
            Fault::Pause => Some(Fault::Unpause),
            Fault::Start | Fault::Restart | Fault::Unpause => None,
        }
    }

    /// True when the component runs afterwards and must be waited on before use.
    pub fn brings_up(self) -> bool {
        matches!(self, Fault::Start | Fault::Restart)
    }

    pub async fn apply(self, target: &Container) -> Result<()> {
        tracing::info!(component = %target.name(), fault = self.as_str(), "applying fault");
        match self {
            Fault::Kill => target.kill().await,
            Fault::Stop => target.stop().await,
            Fault::Start => target.start().await,
            Fault::Restart => target.restart().await,
            Fault::Pause => target.pause().await,
            Fault::Unpause => target.unpause().await,
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heals_are_inverse_operations() {
        assert_eq!(Fault::Kill.heal(), Some(Fault::Start));
        assert_eq!(Fault::Pause.heal(), Some(Fault::Unpause));
        assert_eq!(Fault::Restart.heal(), None);
        for f in Fault::ALL {
            let text = format!("\"{}\"", f.as_str());
            let back: Fault = serde_json::from_str(&text).expect("round trip");
            assert_eq!(back, f);
        }
    }
}
