//! vlsd, the remote signer. It dials its node (`--connect`); the harness
//! calls its admin RPC. Its datadir is a named volume that outlives restarts.

use std::time::Duration;

use vls_recovery::{Network, Seed, VlsdDatadir};

use super::ready::wait_ready;
use crate::contained::DATADIR;
use crate::container::{Container, ContainerSpec};
use crate::error::{HarnessError, Result};
use crate::resources::Resources;

/// Port on which a node hosts the signer service that vlsd dials.
pub const NODE_SIGNER_PORT: u16 = 7701;
/// vlsd's admin JSON-RPC (allowlist, node state), which the harness calls.
pub const VLSD_RPC_PORT: u16 = 8011;
const RPC_USER: &str = "chaos";
/// One readiness probe of the admin RPC: a loopback call that vlsd answers
/// at once when it is up; the probe is repeated until the ready timeout.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one admin call may take.
const ADMIN_CALL: Duration = Duration::from_secs(30);
/// How long a supervised vlsd may take to answer again after a restart:
/// Docker's restart back-off plus vlsd's start.
const ADMIN_BACK_WITHIN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct SignerBuilder {
    image: String,
    node: String,
    connect: String,
    ready_timeout: Duration,
    env: Vec<(String, String)>,
    extra_args: Vec<String>,
}

impl SignerBuilder {
    /// More vlsd arguments after the defaults (policy filters, velocity controls, ...).
    pub fn with_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The URL vlsd dials; by default `http://<node>:7701`.
    pub fn with_connect(mut self, url: impl Into<String>) -> Self {
        self.connect = url.into();
        self
    }

    pub fn with_ready_timeout(mut self, t: Duration) -> Self {
        self.ready_timeout = t;
        self
    }

    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub async fn start(self, res: &Resources) -> Result<Signer> {
        let s = self.create(res).await?;
        s.wait_ready().await?;
        Ok(s)
    }

    /// Starts the container without waiting; call [`Signer::wait_ready`] before use.
    pub async fn create(self, res: &Resources) -> Result<Signer> {
        let name = format!("vlsd-{}", self.node);
        let mut pw = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut pw);
        let rpc_password = hex::encode(pw);
        let rpc_port = VLSD_RPC_PORT.to_string();
        let mut cmd: Vec<String> = [
            "--network",
            "regtest",
            "--datadir",
            DATADIR,
            "--connect",
            self.connect.as_str(),
            "--rpc-server-address",
            "0.0.0.0",
            "--rpc-server-port",
            rpc_port.as_str(),
            "--rpc-user",
            RPC_USER,
            "--rpc-pass",
            rpc_password.as_str(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        cmd.extend(self.extra_args.iter().cloned());
        let mut spec = ContainerSpec::new(&name, &self.image)
            .with_cmd(cmd)
            .with_volume(format!("{name}-data"), DATADIR)
            // Plain log text in files; vlsd's tracing honours NO_COLOR.
            .with_env("NO_COLOR", "1")
            .with_cap_add("NET_ADMIN")
            .with_stop_grace(Duration::from_secs(10));
        for (k, v) in &self.env {
            spec = spec.with_env(k, v);
        }
        let container = res.start(spec).await?;
        let signer = Signer {
            container,
            node: self.node,
            connect: self.connect,
            datadir: VlsdDatadir::new(DATADIR, Network::Regtest),
            ready_timeout: self.ready_timeout,
            rpc_password,
        };
        Ok(signer)
    }
}

#[derive(Debug)]
pub struct Signer {
    container: Container,
    node: String,
    connect: String,
    datadir: VlsdDatadir,
    ready_timeout: Duration,
    rpc_password: String,
}

impl Signer {
    pub fn builder(image: &str, node: &str) -> SignerBuilder {
        SignerBuilder {
            image: image.to_string(),
            node: node.to_string(),
            connect: format!("http://{node}:{NODE_SIGNER_PORT}"),
            ready_timeout: Duration::from_secs(30),
            env: Vec::new(),
            extra_args: Vec::new(),
        }
    }

    pub fn container(&self) -> &Container {
        &self.container
    }

    /// The node this signer signs for.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn connect_url(&self) -> &str {
        &self.connect
    }

    /// Paths inside the container.
    pub fn datadir(&self) -> &VlsdDatadir {
        &self.datadir
    }

    fn seed_path(&self) -> String {
        self.datadir.seed_path().to_string_lossy().into_owned()
    }

    /// fsyncs the seed file (coreutils `sync FILE`), so a power cut cannot
    /// take it: vlsd writes it without fsync.
    pub async fn sync_seed(&self) -> Result<()> {
        let path = self.seed_path();
        self.container
            .exec(&["sync", &path])
            .await?
            .ok(self.container.name(), &format!("sync {path}"))?;
        Ok(())
    }

    /// Ready = running with its seed on the volume and its admin RPC
    /// answering, which vlsd serves only once it has loaded that seed: a
    /// vlsd that cannot start (a damaged seed or state) is never ready.
    /// (Serving signing requests needs a node; that readiness is the node's.)
    pub async fn wait_ready(&self) -> Result<()> {
        let what = format!(
            "{}: running with {} written and its admin RPC answering",
            self.container.name(),
            self.seed_path()
        );
        wait_ready(&self.container, &what, self.ready_timeout, || async {
            match self.container.file_exists(&self.seed_path()).await {
                Ok(true) => {}
                Ok(false) => return Err("seed file not written yet".to_string()),
                Err(e) => return Err(e.to_string()),
            }
            self.rpc("version", serde_json::json!([]), READY_PROBE_TIMEOUT)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await
    }

    /// Adds an allowlist entry (an address, `payee:<node id>`, ...) through
    /// vlsd's admin RPC, as an operator would. vlsd persists it.
    /// A vlsd its supervisor has just restarted (a panic when its node
    /// died) answers again a moment later, maybe at another address, so
    /// an unanswered call is tried again until [`ADMIN_BACK_WITHIN`].
    pub async fn allowlist_add(&self, entry: &str) -> Result<()> {
        crate::wait::until_or_never(
            &format!(
                "{}: admin RPC allowlist_add answered",
                self.container.name()
            ),
            ADMIN_BACK_WITHIN,
            || async {
                match self
                    .rpc("allowlist_add", serde_json::json!([entry]), ADMIN_CALL)
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(HarnessError::Rpc { reason, .. }) if reason.contains("sending request") => {
                        Err(crate::wait::NotYet::Pending(reason))
                    }
                    Err(e) => Err(crate::wait::NotYet::Never(e.to_string())),
                }
            },
        )
        .await?;
        tracing::info!(component = %self.container.name(), entry, "allowlisted");
        Ok(())
    }

    /// One call of vlsd's admin JSON-RPC. Its address is looked up again
    /// after a call that reached nobody: Docker may have restarted it
    /// elsewhere on the network.
    async fn rpc(
        &self,
        method: &str,
        params: serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value> {
        let address = self.container.address(VLSD_RPC_PORT).await?;
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let rpc_err = |reason: String| HarnessError::Rpc {
            component: self.container.name().to_string(),
            method: method.to_string(),
            reason,
        };
        let resp: serde_json::Value = reqwest::Client::new()
            .post(format!("http://{address}"))
            .basic_auth(RPC_USER, Some(&self.rpc_password))
            .json(&body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() || e.is_request() || e.is_timeout() {
                    self.container.forget_address();
                }
                rpc_err(e.to_string())
            })?
            .json()
            .await
            .map_err(|e| rpc_err(e.to_string()))?;
        if let Some(err) = resp.get("error") {
            return Err(rpc_err(err.to_string()));
        }
        Ok(resp)
    }

    /// The node seed as stored on the volume. Never log it; compare or fingerprint.
    pub async fn seed(&self) -> Result<Seed> {
        let path = self.seed_path();
        let bytes = zeroize::Zeroizing::new(self.container.read_file(&path).await?);
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            HarnessError::component(self.container.name(), format!("{path}: not UTF-8 hex"))
        })?;
        Seed::from_hex(text, &format!("{}:{path}", self.container.name()))
            .map_err(|e| HarnessError::component(self.container.name(), e.to_string()))
    }
}
