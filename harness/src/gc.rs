//! Removing run resources: all of one run (teardown), or every labelled
//! resource whose owning process is gone (`harness gc`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptions,
};
use bollard::Docker;
use futures_util::future::join_all;

use crate::docker::{label_filter, LABEL_OWNER, LABEL_PROJECT, LABEL_RUN};
use crate::error::{HarnessError, Result};

/// What a sweep removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
    pub runs: BTreeSet<String>,
}

/// `<pid>:<start time in clock ticks>` of this process.
pub fn owner_token() -> String {
    let pid = std::process::id();
    format!("{pid}:{}", start_time(pid).unwrap_or(0))
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22; the command name (field 2) may contain spaces, so count after its ')'.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// True when the process named by an owner token still runs.
pub fn owner_alive(token: &str) -> bool {
    let Some((pid, start)) = token.split_once(':') else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    start_time(pid) == Some(start)
}

/// Removes every container, network and volume labelled with `run_id`.
pub async fn remove_run(docker: &Docker, run_id: &str) -> Result<Removed> {
    remove_matching(docker, &format!("{LABEL_RUN}={run_id}"), |_| true).await
}

/// Removes every `vls-chaos` resource whose owner process is no longer alive.
pub async fn sweep_orphans(docker: &Docker) -> Result<Removed> {
    remove_matching(docker, &format!("{LABEL_PROJECT}=1"), |labels| {
        match labels.get(LABEL_OWNER) {
            Some(owner) => !owner_alive(owner),
            // Images are labelled too but never listed here; a run resource
            // without an owner was made by hand or by an old version: orphan.
            None => labels.contains_key(LABEL_RUN),
        }
    })
    .await
}

async fn remove_matching(
    docker: &Docker,
    label: &str,
    select: impl Fn(&HashMap<String, String>) -> bool,
) -> Result<Removed> {
    let mut removed = Removed::default();
    let filters = label_filter(label);

    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(HarnessError::docker("list containers"))?;
    let chosen: Vec<Labelled> = containers
        .into_iter()
        .filter_map(|c| {
            let labels = c.labels.unwrap_or_default();
            Some((c.id?, labels)).filter(|(_, l)| select(l))
        })
        .collect();
    // One run's containers go one at a time, different runs side by side.
    // Docker 20.10 (the engine here) can deadlock for good when two
    // containers of one network die at once: a dying container's network
    // leave takes the network's lock then the controller's, while the
    // other's endpoint delete takes them the other way round
    // (moby/moby#46661, fixed after 20.10.26). A forced removal returns only
    // once the container is gone, so in sequence no two deaths overlap.
    let outcomes = join_all(by_run(&chosen).into_iter().map(|run| async move {
        let mut removed = Vec::with_capacity(run.len());
        for (id, labels) in run {
            let opts = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            let outcome = gone(
                docker.remove_container(id, Some(opts)).await,
                format!("remove container {id}"),
            );
            removed.push((labels, outcome));
        }
        removed
    }))
    .await;
    for (labels, outcome) in outcomes.into_iter().flatten() {
        removed.containers += outcome?;
        if let Some(run) = labels.get(LABEL_RUN) {
            removed.runs.insert(run.clone());
        }
    }

    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(HarnessError::docker("list networks"))?;
    for n in networks {
        let labels = n.labels.unwrap_or_default();
        if !select(&labels) {
            continue;
        }
        let Some(id) = n.id else { continue };
        removed.networks += gone(
            docker.remove_network(&id).await,
            format!("remove network {id}"),
        )?;
        if let Some(run) = labels.get(LABEL_RUN) {
            removed.runs.insert(run.clone());
        }
    }

    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(HarnessError::docker("list volumes"))?;
    let chosen: Vec<_> = volumes
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter(|v| select(&v.labels))
        .collect();
    let outcomes = join_all(chosen.iter().map(|v| async move {
        gone(
            docker
                .remove_volume(&v.name, None::<RemoveVolumeOptions>)
                .await,
            format!("remove volume {}", v.name),
        )
    }))
    .await;
    for (v, outcome) in chosen.iter().zip(outcomes) {
        removed.volumes += outcome?;
        if let Some(run) = v.labels.get(LABEL_RUN) {
            removed.runs.insert(run.clone());
        }
    }
    Ok(removed)
}

type Labelled = (String, HashMap<String, String>);

/// The containers grouped by their run label, each group in listing order
/// (unlabelled ones together).
fn by_run(containers: &[Labelled]) -> Vec<Vec<&Labelled>> {
    let mut runs: BTreeMap<Option<&String>, Vec<&Labelled>> = BTreeMap::new();
    for entry in containers {
        runs.entry(entry.1.get(LABEL_RUN)).or_default().push(entry);
    }
    runs.into_values().collect()
}

/// 1 if a removal happened, 0 if the object was already gone (a concurrent
/// teardown got there first), the error otherwise.
fn gone(outcome: std::result::Result<(), bollard::errors::Error>, op: String) -> Result<usize> {
    match outcome {
        Ok(()) => Ok(1),
        Err(e) if HarnessError::is_not_found(&e) => Ok(0),
        Err(source) => Err(HarnessError::Docker { op, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_grouped_by_run_in_listing_order() {
        let c = |id: &str, run: Option<&str>| -> Labelled {
            let labels = run
                .map(|r| HashMap::from([(LABEL_RUN.to_string(), r.to_string())]))
                .unwrap_or_default();
            (id.to_string(), labels)
        };
        let listed = [
            c("a1", Some("a")),
            c("b1", Some("b")),
            c("x", None),
            c("a2", Some("a")),
            c("b2", Some("b")),
        ];
        let ids: Vec<Vec<&str>> = by_run(&listed)
            .iter()
            .map(|run| run.iter().map(|(id, _)| id.as_str()).collect())
            .collect();
        assert_eq!(ids, vec![vec!["x"], vec!["a1", "a2"], vec!["b1", "b2"]]);
    }

    #[test]
    fn own_token_is_alive_and_garbage_is_not() {
        assert!(owner_alive(&owner_token()));
        assert!(!owner_alive("not-a-token"));
        assert!(!owner_alive(&format!("{}:1", std::process::id())));
        assert!(!owner_alive("4194304:1"));
    }
}
