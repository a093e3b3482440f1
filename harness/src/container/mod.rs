//! One container of a run: a spec built with `with_*` (testcontainers style)
//! and a cheap-to-clone handle for lifecycle operations, exec and file reads.
//!
//! Handles do not remove their container on drop: the [`Cluster`](crate::Cluster)
//! owns every resource of a run and removes them all together.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, KillContainerOptionsBuilder, LogsOptionsBuilder,
    RestartContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

mod spec;

pub use spec::ContainerSpec;

use crate::error::{HarnessError, Result};
use crate::log::{log_excerpt, LogSink};

/// Docker's view of a container's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub exit_code: Option<i64>,
    /// When it last exited (Docker's RFC 3339 time), if it ever did.
    pub finished_at: Option<String>,
    /// Restarts Docker made under the restart policy (not the harness's own).
    pub restarts: i64,
}

/// Output of a command run inside a container.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    /// The output if the command exited 0; otherwise an error for
    /// `component` saying `what` failed, with the exit code and stderr.
    pub fn ok(self, component: &str, what: &str) -> Result<ExecOutput> {
        if self.exit_code == 0 {
            return Ok(self);
        }
        Err(HarnessError::component(
            component,
            format!("{what} failed ({}): {}", self.exit_code, self.stderr.trim()),
        ))
    }
}

#[derive(Clone)]
pub struct Container {
    docker: Docker,
    id: String,
    name: String,
    docker_name: String,
    stop_grace: Duration,
    logs: LogSink,
    /// Bumped on every (re)start the harness makes: the address may change then.
    generation: Arc<AtomicU64>,
    /// (generation, address on the run network), so that a request to the
    /// component does not cost a Docker inspect.
    ip: Arc<std::sync::Mutex<Option<(u64, String)>>>,
    /// (live prefix, durable prefix) when the datadir sits under the
    /// power-cut layer: the archive API sees only the durable directory.
    durable: Option<(String, String)>,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish()
    }
}

impl Container {
    pub(crate) fn new(
        docker: Docker,
        id: String,
        name: String,
        docker_name: String,
        stop_grace: Duration,
        logs: LogSink,
    ) -> Self {
        Container {
            docker,
            id,
            name,
            docker_name,
            stop_grace,
            logs,
            generation: Arc::new(AtomicU64::new(0)),
            ip: Arc::new(std::sync::Mutex::new(None)),
            durable: None,
        }
    }

    pub(crate) fn with_durable_prefix(mut self, live: &str, durable: &str) -> Self {
        self.durable = Some((live.to_string(), durable.to_string()));
        self
    }

    /// True when the component runs on the power-cut layer.
    pub fn buffers_writes(&self) -> bool {
        self.durable.is_some()
    }

    /// Where `path` (as the component sees it) is stored durably. The same
    /// path unless the component runs on the power-cut layer, whose live
    /// view is a FUSE mount that Docker's archive API cannot see.
    pub fn durable_path(&self, path: &str) -> String {
        match &self.durable {
            Some((live, durable)) if path == live || path.starts_with(&format!("{live}/")) => {
                format!("{durable}{}", &path[live.len()..])
            }
            _ => path.to_string(),
        }
    }

    /// Changes whenever the container is (re)started.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The name inside the run (hostname and network alias), e.g. `bitcoind`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Docker container name, `vls-chaos-<run>-<name>`.
    pub fn docker_name(&self) -> &str {
        &self.docker_name
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn logs(&self) -> &LogSink {
        &self.logs
    }

    pub async fn start(&self) -> Result<()> {
        self.docker
            .start_container(&self.id, None::<StartContainerOptions>)
            .await
            .map_err(HarnessError::docker(format!("start {}", self.docker_name)))?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.logs.follow(&self.docker);
        tracing::info!(component = %self.name, "container started");
        Ok(())
    }

    /// SIGKILL: the process gets no chance to flush or clean up. Returns
    /// once the container has exited, network released: Docker 20.10 can
    /// deadlock when two containers of one network die at the same moment
    /// (moby/moby#46661), so the harness never lets its own kills overlap.
    pub async fn kill(&self) -> Result<()> {
        self.signal("SIGKILL").await?;
        self.wait_exited("exit after SIGKILL").await?;
        tracing::info!(component = %self.name, "container killed (SIGKILL)");
        Ok(())
    }

    /// Waits until Docker reports the container not running. An inspect
    /// takes the container's lock, which Docker holds while it handles the
    /// exit, so a "not running" answer comes after the network is released.
    pub async fn wait_exited(&self, what: &str) -> Result<()> {
        crate::wait::until(
            &format!("{} to {what}", self.name),
            Duration::from_secs(30),
            || async {
                match self.status().await {
                    Ok(s) if !s.running => Ok(()),
                    Ok(_) => Err("still running".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await
    }

    pub async fn signal(&self, signal: &str) -> Result<()> {
        let opts = KillContainerOptionsBuilder::new().signal(signal).build();
        self.docker
            .kill_container(&self.id, Some(opts))
            .await
            .map_err(HarnessError::docker(format!(
                "send {signal} to {}",
                self.docker_name
            )))
    }

    /// SIGTERM, then SIGKILL after the grace period if it has not exited.
    pub async fn stop(&self) -> Result<()> {
        let opts = StopContainerOptionsBuilder::new()
            .t(self.stop_grace.as_secs() as i32)
            .build();
        self.docker
            .stop_container(&self.id, Some(opts))
            .await
            .map_err(HarnessError::docker(format!("stop {}", self.docker_name)))?;
        // Docker answers a stop when the state says stopped, before it has
        // released the network; see `kill`.
        self.wait_exited("exit after SIGTERM").await?;
        tracing::info!(component = %self.name, grace_s = self.stop_grace.as_secs(), "container stopped (SIGTERM)");
        Ok(())
    }

    /// Stop (SIGTERM with grace) if running, then start again with the same volumes.
    pub async fn restart(&self) -> Result<()> {
        let opts = RestartContainerOptionsBuilder::new()
            .t(self.stop_grace.as_secs() as i32)
            .build();
        self.docker
            .restart_container(&self.id, Some(opts))
            .await
            .map_err(HarnessError::docker(format!(
                "restart {}",
                self.docker_name
            )))?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.logs.follow(&self.docker);
        tracing::info!(component = %self.name, "container restarted");
        Ok(())
    }

    /// Freezes every process (cgroup freezer): sockets stay open, nothing answers.
    pub async fn pause(&self) -> Result<()> {
        self.docker
            .pause_container(&self.id)
            .await
            .map_err(HarnessError::docker(format!("pause {}", self.docker_name)))?;
        tracing::info!(component = %self.name, "container paused");
        Ok(())
    }

    pub async fn unpause(&self) -> Result<()> {
        self.docker
            .unpause_container(&self.id)
            .await
            .map_err(HarnessError::docker(format!(
                "unpause {}",
                self.docker_name
            )))?;
        tracing::info!(component = %self.name, "container unpaused");
        Ok(())
    }

    async fn inspect(&self) -> Result<bollard::models::ContainerInspectResponse> {
        self.docker
            .inspect_container(
                &self.id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .map_err(HarnessError::docker(format!(
                "inspect {}",
                self.docker_name
            )))
    }

    pub async fn status(&self) -> Result<ContainerStatus> {
        let info = self.inspect().await?;
        let state = info.state.unwrap_or_default();
        Ok(ContainerStatus {
            status: state
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".to_string()),
            running: state.running.unwrap_or(false),
            paused: state.paused.unwrap_or(false),
            exit_code: state.exit_code,
            finished_at: state.finished_at,
            restarts: info.restart_count.unwrap_or(0),
        })
    }

    /// `ip:port` of `port` at the container's address on the run network,
    /// which the host routes to. Looked up once per start; after Docker
    /// restarted the container on its own (a restart policy), a caller that
    /// could not connect calls [`Container::forget_address`].
    pub async fn address(&self, port: u16) -> Result<String> {
        let generation = self.generation();
        let cached = self.ip.lock().ok().and_then(|slot| {
            slot.as_ref()
                .filter(|(g, _)| *g == generation)
                .map(|(_, ip)| ip.clone())
        });
        let ip = match cached {
            Some(ip) => ip,
            None => {
                let ip = self.ip_address().await?;
                if let Ok(mut slot) = self.ip.lock() {
                    *slot = Some((generation, ip.clone()));
                }
                ip
            }
        };
        Ok(format!("{ip}:{port}"))
    }

    /// Drops the cached address: the next [`Container::address`] asks Docker.
    pub fn forget_address(&self) {
        if let Ok(mut slot) = self.ip.lock() {
            *slot = None;
        }
    }

    /// Runs `cmd` inside the container and collects its output.
    /// Runs `cmd` in the container. When it cannot run because the
    /// container is no longer running, the error says so: how and when the
    /// container exited and the log lines that look like why, not a bare
    /// exec failure.
    pub async fn exec(&self, cmd: &[&str]) -> Result<ExecOutput> {
        let out = self.exec_running(cmd).await;
        if matches!(&out, Ok(o) if o.exit_code == 0) {
            return out;
        }
        match self.not_running().await {
            Some(why) => Err(HarnessError::component(
                &self.name,
                format!("cannot run `{}`: {why}", cmd.join(" ")),
            )),
            None => out,
        }
    }

    /// One iptables change in the container's network namespace (`op` is
    /// `-I`, `-A` or `-D`); the container needs NET_ADMIN.
    pub async fn iptables(&self, op: &str, rule: &[String]) -> Result<()> {
        let mut cmd = vec!["iptables", "-w", op];
        cmd.extend(rule.iter().map(String::as_str));
        self.exec(&cmd)
            .await?
            .ok(&self.name, &format!("`{}`", cmd.join(" ")))?;
        Ok(())
    }

    /// Why the container is not running (status, exit code, when, its last
    /// error lines), or `None` while it runs.
    pub async fn not_running(&self) -> Option<String> {
        let s = self.status().await.ok()?;
        if s.running {
            return None;
        }
        let log = self.log_text().await;
        Some(format!(
            "the container is not running ({}, exit code {}, finished at {}); its log:\n{}",
            s.status,
            s.exit_code.map_or("?".to_string(), |c| c.to_string()),
            s.finished_at.as_deref().unwrap_or("?"),
            log_excerpt(&log, 5, 8)
        ))
    }

    async fn exec_running(&self, cmd: &[&str]) -> Result<ExecOutput> {
        let what = format!("exec `{}` in {}", cmd.join(" "), self.docker_name);
        let created = self
            .docker
            .create_exec(
                &self.id,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(HarnessError::docker(&what))?;
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(HarnessError::docker(&what))?
        {
            while let Some(item) = output.next().await {
                match item.map_err(HarnessError::docker(&what))? {
                    bollard::container::LogOutput::StdErr { message } => {
                        stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
                }
            }
        }
        let inspected = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(HarnessError::docker(&what))?;
        Ok(ExecOutput {
            exit_code: inspected.exit_code.unwrap_or(-1),
            stdout,
            stderr,
        })
    }

    /// Reads one regular file from the container's filesystem (volumes
    /// included). Works on stopped containers too.
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let path = &self.durable_path(path);
        let what = format!("read {path} from {}", self.docker_name);
        let opts = DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let mut stream = self.docker.download_from_container(&self.id, Some(opts));
        let mut tarball = Vec::new();
        while let Some(chunk) = stream.next().await {
            tarball.extend_from_slice(&chunk.map_err(HarnessError::docker(&what))?);
        }
        let mut archive = tar::Archive::new(tarball.as_slice());
        let entries = archive
            .entries()
            .map_err(|e| HarnessError::component(&self.name, format!("{what}: {e}")))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| HarnessError::component(&self.name, format!("{what}: {e}")))?;
            if entry.header().entry_type().is_file() {
                let mut data = Vec::new();
                entry
                    .read_to_end(&mut data)
                    .map_err(|e| HarnessError::component(&self.name, format!("{what}: {e}")))?;
                return Ok(data);
            }
        }
        Err(HarnessError::component(
            &self.name,
            format!("{what}: not a regular file"),
        ))
    }

    /// Copies files into the container (stopped or running).
    pub(crate) async fn upload(&self, files: &[(String, Vec<u8>, u32)]) -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let what = format!("copy files into {}", self.docker_name);
        let mut builder = tar::Builder::new(Vec::new());
        for (path, contents, mode) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(*mode);
            header.set_cksum();
            builder
                .append_data(
                    &mut header,
                    path.trim_start_matches('/'),
                    contents.as_slice(),
                )
                .map_err(|e| HarnessError::component(&self.name, format!("{what}: {e}")))?;
        }
        let tarball = builder
            .into_inner()
            .map_err(|e| HarnessError::component(&self.name, format!("{what}: {e}")))?;
        let opts = bollard::query_parameters::UploadToContainerOptionsBuilder::new()
            .path("/")
            .build();
        self.docker
            .upload_to_container(&self.id, Some(opts), bollard::body_full(tarball.into()))
            .await
            .map_err(HarnessError::docker(&what))
    }

    /// Replaces one file in the container (stopped or running; volumes included).
    pub async fn write_file(&self, path: &str, contents: Vec<u8>) -> Result<()> {
        self.upload(&[(self.durable_path(path), contents, 0o644)])
            .await
    }

    /// The container's address on the run network (changes across restarts).
    pub async fn ip_address(&self) -> Result<String> {
        self.network_value("IP address", |e| e.ip_address).await
    }

    /// The run network's gateway as the container sees it: the address the
    /// harness's own requests arrive from.
    pub async fn gateway_address(&self) -> Result<String> {
        self.network_value("network gateway", |e| e.gateway).await
    }

    async fn network_value(
        &self,
        what: &str,
        pick: fn(bollard::models::EndpointSettings) -> Option<String>,
    ) -> Result<String> {
        let info = self.inspect().await?;
        info.network_settings
            .and_then(|n| n.networks)
            .and_then(|nets| {
                nets.into_values()
                    .find_map(|e| pick(e).filter(|v| !v.is_empty()))
            })
            .ok_or_else(|| {
                HarnessError::component(
                    &self.name,
                    format!("no {what} (is the container running?)"),
                )
            })
    }

    /// Whether `path` exists in the container, without failing when it does not.
    pub async fn file_exists(&self, path: &str) -> Result<bool> {
        match self.read_file(path).await {
            Ok(_) => Ok(true),
            Err(HarnessError::Docker { source, .. }) if HarnessError::is_not_found(&source) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The whole log Docker holds for this container, every start of it.
    pub async fn log_text(&self) -> String {
        let opts = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail("all")
            .build();
        let mut stream = self.docker.logs(&self.id, Some(opts));
        let mut out = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        out.trim_end().to_string()
    }
}
