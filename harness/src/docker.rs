//! Connecting to the Docker engine, and the labels every resource carries.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;

use crate::error::{HarnessError, Result};

/// Every image, container, network and volume we create carries `vls-chaos=1`.
pub const LABEL_PROJECT: &str = "vls-chaos";
/// Resources of one run also carry `vls-chaos.run=<run id>`.
pub const LABEL_RUN: &str = "vls-chaos.run";
/// `<pid>:<process start time>` of the process that owns a run, so `gc` can
/// tell a live run from an orphan even when PIDs are reused.
pub const LABEL_OWNER: &str = "vls-chaos.owner";

/// Where the engine is expected: `$DOCKER_HOST` or the default unix socket.
pub fn endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

/// Connects to `$DOCKER_HOST` (unix or tcp) or the default socket and
/// negotiates the API version down to what the engine speaks (20.10 speaks 1.41).
pub async fn connect() -> Result<Docker> {
    let at = endpoint();
    let unreachable = |reason: String| HarnessError::DockerUnreachable {
        reason: format!("{at}: {reason}"),
    };
    let docker = Docker::connect_with_defaults()
        .map_err(|e| unreachable(e.to_string()))?
        .with_timeout(Duration::from_secs(600));
    let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
        .await
        .map_err(|_| unreachable("no answer within 10s".to_string()))?
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::time::timeout(Duration::from_secs(10), docker.ping())
        .await
        .map_err(|_| unreachable("ping got no answer within 10s".to_string()))?
        .map_err(|e| unreachable(e.to_string()))?;
    Ok(docker)
}

/// Labels for a resource that belongs to run `run_id`.
pub fn run_labels(run_id: &str, owner: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_PROJECT.to_string(), "1".to_string()),
        (LABEL_RUN.to_string(), run_id.to_string()),
        (LABEL_OWNER.to_string(), owner.to_string()),
    ])
}

/// Docker `filters` selecting resources with `label` (either `key` or `key=value`).
pub fn label_filter(label: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![label.to_string()])])
}
