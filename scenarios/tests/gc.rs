//! `harness gc` reaps resources whose owning process is gone and leaves a
//! live run's resources alone.

use std::collections::HashMap;

use bollard::models::{NetworkCreateRequest, VolumeCreateOptions};
use harness::docker::{LABEL_OWNER, LABEL_PROJECT, LABEL_RUN};
use harness::{gc, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_reaps_orphans_and_spares_live_runs() -> anyhow::Result<()> {
    scenarios::init();
    let docker = harness::docker::connect().await?;

    // An orphan: labelled like a run whose process (an impossible PID) is gone.
    let orphan_run = format!("orphan-{}", harness::resources::new_run_id());
    let labels = HashMap::from([
        (LABEL_PROJECT.to_string(), "1".to_string()),
        (LABEL_RUN.to_string(), orphan_run.clone()),
        (LABEL_OWNER.to_string(), "4194304:1".to_string()),
    ]);
    docker
        .create_volume(VolumeCreateOptions {
            name: Some(format!("vls-chaos-{orphan_run}-data")),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await?;
    docker
        .create_network(NetworkCreateRequest {
            name: format!("vls-chaos-{orphan_run}"),
            labels: Some(labels),
            ..Default::default()
        })
        .await?;
    assert_eq!(scenarios::leftovers(&orphan_run).await?.len(), 2);

    let live = Cluster::builder().signer("alice").start().await?;
    let live_before = scenarios::leftovers(live.run_id()).await?;
    assert!(!live_before.is_empty());

    let removed = gc::sweep_orphans(&docker).await?;
    assert!(removed.runs.contains(&orphan_run), "{removed:?}");
    assert!(
        !removed.runs.contains(live.run_id()),
        "gc touched a live run: {removed:?}"
    );
    assert!(scenarios::leftovers(&orphan_run).await?.is_empty());
    assert_eq!(scenarios::leftovers(live.run_id()).await?, live_before);

    live.shutdown().await?;
    Ok(())
}
