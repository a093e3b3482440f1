//! The Docker resources of one run: its network, volumes and labelled
//! containers, created on request and all removed on teardown, on drop, and
//! so on panic and on Ctrl-C (the interrupted future is dropped, see
//! [`crate::interrupt`]). Components create their containers here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    RestartPolicy, RestartPolicyNameEnum, VolumeCreateOptions,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use bollard::Docker;
use rand::RngCore;

use crate::contained::{
    faketime_env, AGENT_BIN, CHILD_PID_FILE, DATADIR, DURABLE_DATADIR, FAKETIME_FILE,
};
use crate::container::{Container, ContainerSpec};
use crate::docker::{self, run_labels};
use crate::error::{HarnessError, Result};
use crate::gc;
use crate::log::LogSink;
use crate::paths;
use crate::sync::lock;

/// A fresh run id: time-ordered, unique across processes.
pub fn new_run_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{secs:x}-{:06x}", rand::rng().next_u32() & 0xff_ffff)
}

/// Changes to one component's container that a scenario asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Preload libfaketime so `clock_skew` can move its wall clock.
    pub faketime: bool,
    /// Datadir on a tmpfs of this many MiB, so `disk_full` can fill it.
    pub disk_mb: Option<u32>,
    /// Datadir behind the write-buffering FUSE layer, so `power_cut` loses
    /// what was not fsynced.
    pub power_cut: bool,
    /// Started again by Docker when it exits with an error (a supervisor).
    pub supervised: bool,
}

/// How often a supervised component is started again before it stays down
/// (a crash loop ends, and the run reports it).
const SUPERVISOR_RETRIES: i64 = 5;

/// The Docker resources of one run. Dropping it removes them.
pub struct Resources {
    overrides: HashMap<String, Overrides>,
    /// An image any helper container can use (the first one started).
    helper_image: Mutex<Option<String>>,
    docker: Docker,
    run_id: String,
    owner: String,
    run_dir: PathBuf,
    network: String,
    keep: bool,
    containers: Mutex<Vec<Container>>,
    torn_down: AtomicBool,
}

impl Resources {
    /// Creates the run's network. Nothing else exists until containers start.
    pub async fn create(docker: Docker, run_id: String) -> Result<Resources> {
        let owner = gc::owner_token();
        let network = format!("vls-chaos-{run_id}");
        let run_dir = paths::runs_dir().join(&run_id);
        std::fs::create_dir_all(run_dir.join("logs")).map_err(HarnessError::io(&run_dir))?;
        let res = Resources {
            overrides: HashMap::new(),
            helper_image: Mutex::new(None),
            docker,
            run_id,
            owner,
            run_dir,
            network,
            keep: std::env::var("HARNESS_KEEP").is_ok_and(|v| v == "1"),
            containers: Mutex::new(Vec::new()),
            torn_down: AtomicBool::new(false),
        };
        res.docker
            .create_network(NetworkCreateRequest {
                name: res.network.clone(),
                driver: Some("bridge".to_string()),
                labels: Some(res.labels()),
                ..Default::default()
            })
            .await
            .map_err(HarnessError::docker(format!(
                "create network {}",
                res.network
            )))?;
        tracing::info!(run = %res.run_id, network = %res.network, "run network created");
        Ok(res)
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    fn labels(&self) -> HashMap<String, String> {
        run_labels(&self.run_id, &self.owner)
    }

    /// Keep containers, network and volumes after the run (for a post-mortem).
    pub fn set_keep(&mut self, keep: bool) {
        self.keep = keep;
    }

    /// Per-component changes a scenario asks for (libfaketime, a small disk),
    /// applied to the component's spec whichever builder made it.
    pub fn set_overrides(&mut self, overrides: HashMap<String, Overrides>) {
        self.overrides = overrides;
    }

    /// Whether `name` runs on the write-buffering layer (a power cut can
    /// lose what it did not fsync).
    pub fn buffers_writes(&self, name: &str) -> bool {
        self.overrides.get(name).is_some_and(|o| o.power_cut)
    }

    /// Removes a file from a container's filesystem or volumes, running or not:
    /// by exec when it runs, else by a one-shot container sharing its volumes.
    pub async fn remove_file(&self, target: &Container, path: &str) -> Result<()> {
        let running = target.status().await?.running;
        let out = if running {
            target.exec(&["rm", "-f", "--", path]).await?
        } else {
            let image = lock(&self.helper_image)
                .clone()
                .ok_or_else(|| HarnessError::component(target.name(), "no helper image known"))?;
            let durable = target.durable_path(path);
            self.run_once(&image, target, &["rm", "-f", "--", &durable])
                .await?
        };
        out.ok(target.name(), &format!("rm {path}"))?;
        Ok(())
    }

    /// Erases everything under `dir` in a stopped container's volumes (its
    /// disk is gone), by a one-shot container sharing them.
    pub async fn erase_dir(&self, target: &Container, dir: &str) -> Result<()> {
        let image = lock(&self.helper_image)
            .clone()
            .ok_or_else(|| HarnessError::component(target.name(), "no helper image known"))?;
        let out = self
            .run_once(&image, target, &["find", dir, "-mindepth", "1", "-delete"])
            .await?;
        out.ok(target.name(), &format!("erase {dir}"))?;
        Ok(())
    }

    /// Starts a long-running container of `image` inside `target`'s network
    /// namespace (with NET_ADMIN), e.g. the packet delayer. Returns its id;
    /// it is removed with the run, or earlier by [`Resources::remove_sidecar`].
    pub async fn start_sidecar(
        &self,
        image: &str,
        target: &Container,
        role: &str,
        cmd: &[&str],
    ) -> Result<String> {
        let name = format!("vls-chaos-{}-{}-{role}", self.run_id, target.name());
        let what = format!("sidecar container {name}");
        // A leftover from before the target restarted sits in a dead namespace.
        let _ = self.remove_sidecar(&name).await;
        let host = HostConfig {
            network_mode: Some(format!("container:{}", target.id())),
            cap_add: Some(vec!["NET_ADMIN".to_string()]),
            ..Default::default()
        };
        let created = self.create_helper(&name, image, cmd, host).await?;
        self.start_helper(&created.id, &what).await?;
        Ok(created.id)
    }

    async fn start_helper(&self, id: &str, what: &str) -> Result<()> {
        self.docker
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(HarnessError::docker(what))
    }

    /// Creates (not starts) a labelled container of `image` running `cmd`
    /// as its entrypoint (component images have their own).
    async fn create_helper(
        &self,
        name: &str,
        image: &str,
        cmd: &[&str],
        host: HostConfig,
    ) -> Result<bollard::models::ContainerCreateResponse> {
        self.docker
            .create_container(
                Some(CreateContainerOptionsBuilder::new().name(name).build()),
                ContainerCreateBody {
                    image: Some(image.to_string()),
                    entrypoint: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    labels: Some(self.labels()),
                    host_config: Some(host),
                    ..Default::default()
                },
            )
            .await
            .map_err(HarnessError::docker(format!("helper container {name}")))
    }

    /// Removes a sidecar (by id or name), running or not.
    pub async fn remove_sidecar(&self, id: &str) -> Result<()> {
        self.docker
            .remove_container(
                id,
                Some(RemoveContainerOptionsBuilder::new().force(true).build()),
            )
            .await
            .map_err(HarnessError::docker(format!("remove sidecar {id}")))
    }

    /// Whether a sidecar is still running (it exits if it cannot bind its queue).
    pub async fn sidecar_running(&self, id: &str) -> Result<bool> {
        let info = self
            .docker
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .map_err(HarnessError::docker(format!("inspect sidecar {id}")))?;
        Ok(info.state.and_then(|s| s.running).unwrap_or(false))
    }

    /// Runs `cmd` to completion in a throwaway container of `image` that
    /// mounts `target`'s volumes, with no network; removes it afterwards.
    async fn run_once(
        &self,
        image: &str,
        target: &Container,
        cmd: &[&str],
    ) -> Result<crate::container::ExecOutput> {
        self.run_once_in(image, target, cmd, "none").await
    }

    /// [`Resources::run_once`] on the run's network, so the program reaches
    /// the other components by name (a tool run against a stopped
    /// component's state, e.g. vlsd's own recovery talking to bitcoind).
    pub async fn run_once_networked(
        &self,
        image: &str,
        target: &Container,
        cmd: &[&str],
    ) -> Result<crate::container::ExecOutput> {
        let network = self.network.clone();
        self.run_once_in(image, target, cmd, &network).await
    }

    async fn run_once_in(
        &self,
        image: &str,
        target: &Container,
        cmd: &[&str],
        network: &str,
    ) -> Result<crate::container::ExecOutput> {
        use bollard::query_parameters::{LogsOptionsBuilder, WaitContainerOptions};
        use futures_util::StreamExt;
        let name = format!(
            "vls-chaos-{}-helper-{}",
            self.run_id,
            rand::rng().next_u32()
        );
        let what = format!("helper container {name}");
        let host = HostConfig {
            volumes_from: Some(vec![target.id().to_string()]),
            network_mode: Some(network.to_string()),
            ..Default::default()
        };
        let created = self.create_helper(&name, image, cmd, host).await?;
        let result = async {
            self.start_helper(&created.id, &what).await?;
            let mut exit_code = 0;
            let mut waits = self
                .docker
                .wait_container(&created.id, None::<WaitContainerOptions>);
            while let Some(w) = waits.next().await {
                match w {
                    Ok(r) => exit_code = r.status_code,
                    Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => {
                        exit_code = code
                    }
                    Err(e) => return Err(HarnessError::docker(&what)(e)),
                }
            }
            let mut logs = self.docker.logs(
                &created.id,
                Some(LogsOptionsBuilder::new().stdout(true).stderr(true).build()),
            );
            let mut stderr = String::new();
            while let Some(Ok(chunk)) = logs.next().await {
                stderr.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
            Ok(crate::container::ExecOutput {
                exit_code,
                stdout: String::new(),
                stderr,
            })
        }
        .await;
        let _ = self
            .docker
            .remove_container(
                &created.id,
                Some(RemoveContainerOptionsBuilder::new().force(true).build()),
            )
            .await;
        result
    }

    /// Wraps the image's entrypoint in `vls-chaos-agent fusebuf`, which
    /// mounts the datadir volume (moved to [`DURABLE_DATADIR`]) at
    /// [`DATADIR`] through a FUSE layer that holds writes until fsync.
    async fn on_power_cut_layer(&self, spec: ContainerSpec) -> Result<ContainerSpec> {
        let entrypoint = match &spec.entrypoint {
            Some(e) => e.clone(),
            None => self
                .docker
                .inspect_image(&spec.image)
                .await
                .map_err(HarnessError::docker(format!(
                    "inspect image {}",
                    spec.image
                )))?
                .config
                .and_then(|c| c.entrypoint)
                .unwrap_or_default(),
        };
        if entrypoint.is_empty() {
            return Err(HarnessError::component(
                &spec.name,
                format!("power_cut: image {} has no entrypoint to wrap", spec.image),
            ));
        }
        let mut wrapped: Vec<String> = [
            AGENT_BIN,
            "fusebuf",
            "--lower",
            DURABLE_DATADIR,
            "--mount",
            DATADIR,
            "--pid-file",
            CHILD_PID_FILE,
            "--",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        wrapped.extend(entrypoint);
        Ok(spec
            .remount_volume(DATADIR, DURABLE_DATADIR)
            .with_entrypoint(wrapped)
            .with_device("/dev/fuse")
            .with_cap_add("SYS_ADMIN"))
    }

    /// Creates the spec's volumes and container on the run network and starts it.
    pub async fn start(&self, spec: ContainerSpec) -> Result<Container> {
        let spec = self.with_overrides(spec).await?;
        lock(&self.helper_image).get_or_insert_with(|| spec.image.clone());
        let docker_name = format!("vls-chaos-{}-{}", self.run_id, spec.name);
        let binds = self.create_volumes(&spec).await?;
        let created = self
            .docker
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::new()
                        .name(&docker_name)
                        .build(),
                ),
                self.container_body(&spec, binds),
            )
            .await
            .map_err(HarnessError::docker(format!(
                "create container {docker_name}"
            )))?;
        let logs = LogSink::create(
            &self.run_dir.join("logs").join(format!("{}.log", spec.name)),
            &created.id,
        )?;
        let mut container = Container::new(
            self.docker.clone(),
            created.id,
            spec.name.clone(),
            docker_name,
            spec.stop_grace,
            logs,
        );
        if spec.volume_paths().any(|p| p == DURABLE_DATADIR) {
            container = container.with_durable_prefix(DATADIR, DURABLE_DATADIR);
        }
        lock(&self.containers).push(container.clone());
        container.upload(&spec.files).await?;
        container.start().await?;
        Ok(container)
    }

    /// The scenario's changes to this component (libfaketime, a small disk,
    /// the power-cut layer, a supervisor), whichever builder made the spec.
    async fn with_overrides(&self, mut spec: ContainerSpec) -> Result<ContainerSpec> {
        let Some(o) = self.overrides.get(&spec.name) else {
            return Ok(spec);
        };
        if o.faketime {
            for (k, v) in faketime_env() {
                spec = spec.with_env(k, v);
            }
            spec = spec.with_file(FAKETIME_FILE, b"+0\n".to_vec(), 0o644);
        }
        if let Some(mb) = o.disk_mb {
            spec = spec.with_tmpfs_at(DATADIR, mb);
        }
        if o.power_cut {
            spec = self.on_power_cut_layer(spec).await?;
        }
        if o.supervised {
            spec = spec.with_restart_on_failure();
        }
        Ok(spec)
    }

    /// Creates the spec's named volumes (a tmpfs where it asks for a size)
    /// and returns their binds, with the spec's host binds.
    async fn create_volumes(&self, spec: &ContainerSpec) -> Result<Vec<String>> {
        let mut binds = Vec::new();
        for (key, path) in &spec.volumes {
            let volume = format!("vls-chaos-{}-{key}", self.run_id);
            let tmpfs = spec.tmpfs_mb.iter().find(|(k, _)| k == key).map(|(_, mb)| {
                HashMap::from([
                    ("type".to_string(), "tmpfs".to_string()),
                    ("device".to_string(), "tmpfs".to_string()),
                    ("o".to_string(), format!("size={mb}m")),
                ])
            });
            self.docker
                .create_volume(VolumeCreateOptions {
                    name: Some(volume.clone()),
                    labels: Some(self.labels()),
                    driver_opts: tmpfs,
                    ..Default::default()
                })
                .await
                .map_err(HarnessError::docker(format!("create volume {volume}")))?;
            binds.push(format!("{volume}:{path}"));
        }
        binds.extend(spec.host_binds());
        Ok(binds)
    }

    /// Docker's form of the spec: on the run network under its own name,
    /// labelled for `harness gc`. Nothing is published: the harness reaches
    /// each component at its address on the run network, which the host
    /// routes to. A published port costs a docker-proxy process and a dozen
    /// iptables runs to set up and remove, per port, per run.
    fn container_body(&self, spec: &ContainerSpec, binds: Vec<String>) -> ContainerCreateBody {
        ContainerCreateBody {
            image: Some(spec.image.clone()),
            hostname: Some(spec.name.clone()),
            cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
            entrypoint: spec.entrypoint.clone(),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(self.labels()),
            stop_timeout: Some(spec.stop_grace.as_secs() as i64),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some(self.network.clone()),
                cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
                devices: (!spec.devices.is_empty()).then(|| {
                    spec.devices
                        .iter()
                        .map(|d| bollard::models::DeviceMapping {
                            path_on_host: Some(d.clone()),
                            path_in_container: Some(d.clone()),
                            cgroup_permissions: Some("rwm".to_string()),
                        })
                        .collect()
                }),
                init: Some(true),
                restart_policy: spec.restart_on_failure.then_some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::ON_FAILURE),
                    maximum_retry_count: Some(SUPERVISOR_RETRIES),
                }),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.network.clone(),
                    EndpointSettings {
                        aliases: Some(vec![spec.name.clone()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        }
    }

    /// Flushes every log and removes everything of this run (unless kept).
    pub async fn teardown(&self) -> Result<()> {
        if self.torn_down.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let containers = lock(&self.containers).clone();
        futures_util::future::join_all(containers.iter().map(|c| c.logs().close(&self.docker)))
            .await;
        if self.keep {
            tracing::warn!(run = %self.run_id, "keeping run resources; remove with `harness gc` once this process exits");
            return Ok(());
        }
        gc::remove_run(&self.docker, &self.run_id).await?;
        tracing::info!(run = %self.run_id, "run resources removed");
        Ok(())
    }
}

impl Drop for Resources {
    fn drop(&mut self) {
        if self.torn_down.load(Ordering::SeqCst) {
            return;
        }
        // Drop cannot await, and may run inside a runtime that is blocked
        // (single-threaded tests, unwinding). Tear down on a thread with its
        // own runtime and Docker connection, and wait for it.
        let run_id = self.run_id.clone();
        let keep = self.keep;
        let containers = lock(&self.containers).clone();
        for c in &containers {
            c.logs().stop_following();
        }
        let joined = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let docker = docker::connect().await.map_err(|e| e.to_string())?;
                for c in &containers {
                    c.logs().close(&docker).await;
                }
                if keep {
                    return Ok(());
                }
                gc::remove_run(&docker, &run_id)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        match joined {
            Ok(Ok(())) => tracing::info!(run = %self.run_id, "run resources removed on drop"),
            Ok(Err(e)) => eprintln!(
                "vls-chaos: run {}: cleanup failed ({e}); run `harness gc`",
                self.run_id
            ),
            Err(_) => eprintln!(
                "vls-chaos: run {}: cleanup thread panicked; run `harness gc`",
                self.run_id
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_docker_name_safe_and_distinct() {
        let a = new_run_id();
        let b = new_run_id();
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() || c == '-'), "{a}");
    }
}
