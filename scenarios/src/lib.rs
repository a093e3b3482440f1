//! Shared fixtures for the container tests in `tests/`: logging, and a
//! Docker-side check that a run left nothing behind.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod lightning;

use std::collections::HashMap;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
};
use harness::docker::LABEL_RUN;

/// Test logging: `RUST_LOG` or info for the harness.
pub fn init() {
    harness::init_tracing("warn,harness=info,scenarios=info");
}

/// Names of every container, network and volume still labelled with `run_id`.
pub async fn leftovers(run_id: &str) -> anyhow::Result<Vec<String>> {
    let docker = harness::docker::connect().await?;
    let filters: HashMap<String, Vec<String>> =
        HashMap::from([("label".to_string(), vec![format!("{LABEL_RUN}={run_id}")])]);
    let mut out = Vec::new();
    for c in docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await?
    {
        out.push(format!(
            "container {}",
            c.names.unwrap_or_default().join(",")
        ));
    }
    for n in docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await?
    {
        out.push(format!("network {}", n.name.unwrap_or_default()));
    }
    for v in docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await?
        .volumes
        .unwrap_or_default()
    {
        out.push(format!("volume {}", v.name));
    }
    Ok(out)
}
