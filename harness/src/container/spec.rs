//! What a component's container is made of, built up by the components and
//! changed by the scenario's overrides before it is created.

use std::time::Duration;

/// What to run. Defaults work; every `with_*` consumes and returns the spec.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) cmd: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    /// (volume key, path in container): the cluster makes one named volume per key.
    pub(crate) volumes: Vec<(String, String)>,
    /// Volume keys backed by a tmpfs of this many MiB instead of the disk.
    pub(crate) tmpfs_mb: Vec<(String, u32)>,
    pub(crate) cap_add: Vec<String>,
    pub(crate) stop_grace: Duration,
    /// (path, contents, mode) copied in before the first start.
    pub(crate) files: Vec<(String, Vec<u8>, u32)>,
    /// Replaces the image's entrypoint.
    pub(crate) entrypoint: Option<Vec<String>>,
    /// Host device nodes passed through (e.g. `/dev/fuse`).
    pub(crate) devices: Vec<String>,
    /// Docker starts it again when its program exits with an error.
    pub(crate) restart_on_failure: bool,
    /// (host directory, path in container) bind mounts.
    pub(crate) binds: Vec<(String, String)>,
}

impl ContainerSpec {
    /// `name` is the container's hostname and network alias inside the run.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        ContainerSpec {
            name: name.into(),
            image: image.into(),
            cmd: Vec::new(),
            env: Vec::new(),
            volumes: Vec::new(),
            tmpfs_mb: Vec::new(),
            cap_add: Vec::new(),
            stop_grace: Duration::from_secs(10),
            files: Vec::new(),
            entrypoint: None,
            devices: Vec::new(),
            restart_on_failure: false,
            binds: Vec::new(),
        }
    }

    /// A host directory mounted in the container: how the host reaches a
    /// unix socket the component serves (Core Lightning's JSON-RPC).
    pub fn with_bind(mut self, host: impl Into<String>, path: impl Into<String>) -> Self {
        self.binds.push((host.into(), path.into()));
        self
    }

    /// A file placed in the container before it starts (for secrets: they
    /// stay out of the command line, the environment and `docker inspect`).
    pub fn with_file(
        mut self,
        path: impl Into<String>,
        contents: impl Into<Vec<u8>>,
        mode: u32,
    ) -> Self {
        self.files.push((path.into(), contents.into(), mode));
        self
    }

    pub fn with_cmd<I, S>(mut self, cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cmd = cmd.into_iter().map(Into::into).collect();
        self
    }

    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Mounts the run's named volume `key` (created on first use) at `path`.
    pub fn with_volume(mut self, key: impl Into<String>, path: impl Into<String>) -> Self {
        self.volumes.push((key.into(), path.into()));
        self
    }

    /// Backs the volume mounted at `path` by a tmpfs of `size_mb` MiB, so a
    /// disk-full fault can fill it. Its content lives only while the
    /// container runs: Docker mounts such a volume on start, unmounts on stop.
    pub fn with_tmpfs_at(mut self, path: &str, size_mb: u32) -> Self {
        if let Some((key, _)) = self.volumes.iter().find(|(_, p)| p == path) {
            self.tmpfs_mb.push((key.clone(), size_mb));
        }
        self
    }

    /// The volume path of the datadir, when the component has one.
    pub fn volume_paths(&self) -> impl Iterator<Item = &str> {
        self.volumes.iter().map(|(_, p)| p.as_str())
    }

    pub fn with_entrypoint<I, S>(mut self, entrypoint: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entrypoint = Some(entrypoint.into_iter().map(Into::into).collect());
        self
    }

    pub fn with_device(mut self, path: impl Into<String>) -> Self {
        self.devices.push(path.into());
        self
    }

    /// Run it supervised: Docker starts it again when it exits with an
    /// error, as systemd's `Restart=on-failure` would (not after the
    /// harness's own kill or stop).
    pub fn with_restart_on_failure(mut self) -> Self {
        self.restart_on_failure = true;
        self
    }

    /// Moves the volume mounted at `from` to `to` (the power-cut layer
    /// mounts its view at `from`).
    pub(crate) fn remount_volume(mut self, from: &str, to: &str) -> Self {
        for (_, p) in self.volumes.iter_mut() {
            if p == from {
                *p = to.to_string();
            }
        }
        self
    }

    pub fn with_cap_add(mut self, cap: impl Into<String>) -> Self {
        self.cap_add.push(cap.into());
        self
    }

    /// Time between SIGTERM and SIGKILL on `stop`.
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    /// The host bind mounts in Docker's `host:path` form.
    pub(crate) fn host_binds(&self) -> impl Iterator<Item = String> + '_ {
        self.binds
            .iter()
            .map(|(host, path)| format!("{host}:{path}"))
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}
