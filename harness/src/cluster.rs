//! One run's world: the components started on the run's Docker resources
//! ([`Resources`]), found by name. The cluster owns the resources and so
//! removes everything on `shutdown`, on drop, on panic and on Ctrl-C.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::future::try_join_all;

use crate::component::{AnyNode, Bitcoind, ClnNode, LdkNode, Signer};
use crate::contained::DATADIR;
use crate::container::Container;
use crate::docker;
use crate::error::{HarnessError, Result};
use crate::image::{ImageBuilder, Images};
use crate::node::{Node, NodeInfo, NodeKind, SignerChoice};
use crate::resources::{new_run_id, Overrides, Resources};

/// Which components a cluster starts, in order.
#[derive(Debug, Clone, Default)]
pub struct ClusterBuilder {
    bitcoind: bool,
    signers: Vec<String>,
    nodes: Vec<(String, SignerChoice)>,
    images: Option<Images>,
    run_id: Option<String>,
    rpc_timeout: Option<Duration>,
    overrides: HashMap<String, Overrides>,
    defer_restored_validation: Vec<String>,
    kinds: HashMap<String, NodeKind>,
    feerates: HashMap<String, u32>,
}

impl ClusterBuilder {
    pub fn bitcoind(mut self) -> Self {
        self.bitcoind = true;
        self
    }

    /// A vlsd signer for node `node`. Until lnnode exists it dials
    /// `http://<node>:7701` and retries, which is how vlsd waits for its node.
    pub fn signer(mut self, node: impl Into<String>) -> Self {
        self.signers.push(node.into());
        self
    }

    /// A Lightning node (lnnode). With `SignerChoice::Vlsd` it gets its own
    /// vlsd container `vlsd-<name>`; needs `bitcoind()`.
    pub fn node(mut self, name: impl Into<String>, signer: SignerChoice) -> Self {
        self.nodes.push((name.into(), signer));
        self
    }

    /// Node `name` runs `kind` (lnnode unless told).
    pub fn with_kind(mut self, name: impl Into<String>, kind: NodeKind) -> Self {
        self.kinds.insert(name.into(), kind);
        self
    }

    /// Core Lightning node `name` uses `perkw` for every feerate.
    pub fn with_feerate(mut self, name: impl Into<String>, perkw: u32) -> Self {
        self.feerates.insert(name.into(), perkw);
        self
    }

    fn kind_of(&self, name: &str) -> NodeKind {
        self.kinds.get(name).copied().unwrap_or_default()
    }

    /// Starts component `name` (`bitcoind`, `alice`, `vlsd-alice`) with libfaketime preloaded.
    pub fn with_faketime(mut self, name: impl Into<String>) -> Self {
        self.overrides.entry(name.into()).or_default().faketime = true;
        self
    }

    /// Vlsd node `name` lets VLS's client defer holder-commitment validation
    /// after a restart, as upstream does (to reproduce what that leads to).
    pub fn with_deferred_validation(mut self, name: impl Into<String>) -> Self {
        self.defer_restored_validation.push(name.into());
        self
    }

    /// Runs `name` supervised: Docker starts it again when it exits with an
    /// error, as an operator's systemd unit would.
    pub fn with_supervisor(mut self, name: impl Into<String>) -> Self {
        self.overrides.entry(name.into()).or_default().supervised = true;
        self
    }

    /// Runs `name` on the write-buffering layer, so `power_cut` can hit it.
    pub fn with_power_cut(mut self, name: impl Into<String>) -> Self {
        self.overrides.entry(name.into()).or_default().power_cut = true;
        self
    }

    /// Gives component `name` a datadir on a tmpfs of `size_mb` MiB.
    pub fn with_disk_mb(mut self, name: impl Into<String>, size_mb: u32) -> Self {
        self.overrides.entry(name.into()).or_default().disk_mb = Some(size_mb);
        self
    }

    pub fn with_images(mut self, images: Images) -> Self {
        self.images = Some(images);
        self
    }

    pub fn with_run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }

    /// How long one bitcoind RPC may take before it counts as unanswered.
    pub fn with_rpc_timeout(mut self, timeout: Duration) -> Self {
        self.rpc_timeout = Some(timeout);
        self
    }

    /// Builds missing images, then starts every component and waits until
    /// each is ready. Startup phases are timed (see [`Cluster::startup`]).
    pub async fn start(self) -> Result<Cluster> {
        if !self.nodes.is_empty() && !self.bitcoind {
            return Err(HarnessError::component(
                "cluster",
                "Lightning nodes need bitcoind: add .bitcoind() to the builder",
            ));
        }
        let docker = docker::connect().await?;
        let mut startup = Vec::new();
        let t = Instant::now();
        let wants_cln = self
            .nodes
            .iter()
            .any(|(n, _)| self.kind_of(n) == NodeKind::Cln);
        let images = match self.images.clone() {
            Some(i) => i,
            None => {
                // Images handed over without Core Lightning's do not do for a run that needs it.
                let handed = crate::image::handed_over(&docker)
                    .await?
                    .filter(|i| !wants_cln || i.cln.is_some());
                let (images, label) = match handed {
                    Some(i) => (i, "images (from the test setup)"),
                    None => {
                        let (images, outcomes) = ImageBuilder::default()
                            .with_cln(wants_cln)
                            .ensure(&docker)
                            .await?;
                        let built = outcomes.iter().any(|o| o.built);
                        (
                            images,
                            if built {
                                "images (built)"
                            } else {
                                "images (warm)"
                            },
                        )
                    }
                };
                startup.push((label.to_string(), t.elapsed()));
                images
            }
        };
        let t = Instant::now();
        let run_id = self.run_id.clone().unwrap_or_else(new_run_id);
        let mut resources = Resources::create(docker, run_id).await?;
        resources.set_overrides(self.overrides.clone());
        let mut cluster = Cluster {
            resources,
            images,
            bitcoind: None,
            signers: BTreeMap::new(),
            nodes: BTreeMap::new(),
            startup,
        };
        // Start every container first, then wait for each: readiness overlaps.
        self.create_components(&mut cluster).await?;
        cluster
            .startup
            .push(("cluster up".to_string(), t.elapsed()));
        let infos = cluster.wait_all_ready().await?;
        cluster.allowlist_peers(&infos).await?;
        Ok(cluster)
    }

    /// Creates and starts every container, without waiting for readiness:
    /// bitcoind first (nodes are given its credentials), then the rest side
    /// by side, since Docker takes a while to create and start each.
    async fn create_components(&self, cluster: &mut Cluster) -> Result<()> {
        if self.bitcoind {
            let mut b = Bitcoind::builder(&cluster.images.base);
            if let Some(t) = self.rpc_timeout {
                b = b.with_rpc_timeout(t);
            }
            cluster.bitcoind = Some(b.create(&cluster.resources).await?);
        }
        let (res, images) = (&cluster.resources, &cluster.images);
        let signers = try_join_all(self.signers.iter().map(|node| async move {
            let s = Signer::builder(&images.vlsd, node).create(res).await?;
            Ok::<_, HarnessError>((node.clone(), s))
        }));
        let bitcoind = cluster.bitcoind.as_ref();
        let nodes = try_join_all(self.nodes.iter().map(|(name, signer)| async move {
            let bitcoind = bitcoind.ok_or_else(|| {
                HarnessError::component("cluster", "Lightning nodes need bitcoind")
            })?;
            let n = match self.kind_of(name) {
                NodeKind::Lnnode => AnyNode::Ldk(
                    LdkNode::builder(&images.lnnode, name, *signer)
                        .defer_restored_validation(self.defer_restored_validation.contains(name))
                        .create(res, bitcoind)
                        .await?,
                ),
                NodeKind::Cln => {
                    let image = images.cln.as_deref().ok_or_else(|| {
                        HarnessError::component(name, "no Core Lightning image was built")
                    })?;
                    let mut b = ClnNode::builder(image, name, *signer);
                    if let Some(f) = self.feerates.get(name) {
                        b = b.with_feerate(*f);
                    }
                    AnyNode::Cln(b.create(res, bitcoind).await?)
                }
            };
            let s = match signer {
                SignerChoice::Vlsd => Some(Signer::builder(&images.vlsd, name).create(res).await?),
                SignerChoice::Local => None,
            };
            Ok::<_, HarnessError>((name.clone(), n, s))
        }));
        let (signers, nodes) = tokio::try_join!(signers, nodes)?;
        cluster.signers.extend(signers);
        for (name, n, s) in nodes {
            if let Some(s) = s {
                cluster.signers.insert(name.clone(), s);
            }
            cluster.nodes.insert(name, n);
        }
        Ok(())
    }
}

pub struct Cluster {
    resources: Resources,
    images: Images,
    bitcoind: Option<Bitcoind>,
    signers: BTreeMap<String, Signer>,
    nodes: BTreeMap<String, AnyNode>,
    startup: Vec<(String, Duration)>,
}

/// One component of a cluster, whatever its kind: what a lookup by name
/// gives, so every name resolves the same way.
#[derive(Clone, Copy)]
pub enum Component<'a> {
    Bitcoind(&'a Bitcoind),
    Signer(&'a Signer),
    Node(&'a AnyNode),
}

impl<'a> Component<'a> {
    pub fn container(self) -> &'a Container {
        match self {
            Component::Bitcoind(b) => b.container(),
            Component::Signer(s) => s.container(),
            Component::Node(n) => n.container(),
        }
    }

    /// The run name (`bitcoind`, `alice`, `vlsd-alice`).
    pub fn name(self) -> &'a str {
        self.container().name()
    }

    /// Waits until the component is usable again after a (re)start.
    pub async fn wait_ready(self) -> Result<()> {
        match self {
            Component::Bitcoind(b) => b.ready().await,
            Component::Signer(s) => s.wait_ready().await,
            Component::Node(n) => n.wait_ready().await.map(|_| ()),
        }
    }
}

impl Cluster {
    /// Wall time of each startup phase, in order.
    pub fn startup(&self) -> &[(String, Duration)] {
        &self.startup
    }

    /// Waits for every component in start order, timing each kind; returns
    /// each node's info (its sweep address and id) for the allowlists.
    async fn wait_all_ready(&mut self) -> Result<Vec<(String, NodeInfo)>> {
        let mut phases = Vec::new();
        if let Some(b) = &self.bitcoind {
            let t = Instant::now();
            b.ready().await?;
            phases.push((format!("{} ready", b.container().name()), t.elapsed()));
        }
        for s in self.signers.values() {
            let t = Instant::now();
            s.wait_ready().await?;
            phases.push((format!("{} ready", s.container().name()), t.elapsed()));
        }
        let t = Instant::now();
        let mut infos = Vec::new();
        for n in self.nodes.values() {
            infos.push((n.name().to_string(), n.wait_ready().await?));
        }
        if !infos.is_empty() {
            phases.push(("nodes ready".to_string(), t.elapsed()));
        }
        self.startup.extend(phases);
        Ok(infos)
    }

    /// As the operator: each vlsd may sweep to its node's wallet and pay
    /// the other nodes of this cluster; everything else it refuses.
    async fn allowlist_peers(&self, infos: &[(String, NodeInfo)]) -> Result<()> {
        for (name, info) in infos {
            if let Some(s) = self.signers.get(name) {
                s.allowlist_add(&info.sweep_address).await?;
                for (other, other_info) in infos {
                    if other != name {
                        s.allowlist_add(&format!("payee:{}", other_info.node_id))
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every component in start order: bitcoind, the nodes, the signers.
    pub fn each_component(&self) -> impl Iterator<Item = Component<'_>> {
        self.bitcoind
            .iter()
            .map(Component::Bitcoind)
            .chain(self.nodes.values().map(Component::Node))
            .chain(self.signers.values().map(Component::Signer))
    }

    /// A component by its run name (`bitcoind`, `alice`, `vlsd-alice`).
    pub fn component(&self, name: &str) -> Result<Component<'_>> {
        self.each_component()
            .find(|c| c.name() == name)
            .ok_or_else(|| {
                HarnessError::component("cluster", format!("no component named `{name}`"))
            })
    }

    /// Brings a component back to usable after it was (re)started.
    pub async fn wait_ready(&self, name: &str) -> Result<()> {
        self.component(name)?.wait_ready().await
    }

    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    pub fn run_id(&self) -> &str {
        self.resources.run_id()
    }

    pub fn run_dir(&self) -> &Path {
        self.resources.run_dir()
    }

    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    pub fn resources_mut(&mut self) -> &mut Resources {
        &mut self.resources
    }

    pub fn images(&self) -> &Images {
        &self.images
    }

    pub fn bitcoind(&self) -> Result<&Bitcoind> {
        self.bitcoind
            .as_ref()
            .ok_or_else(|| HarnessError::component("cluster", "topology has no bitcoind"))
    }

    pub fn signer(&self, node: &str) -> Result<&Signer> {
        self.signers.get(node).ok_or_else(|| {
            HarnessError::component(
                "cluster",
                format!("topology has no signer for node `{node}`"),
            )
        })
    }

    /// A Lightning node by name.
    pub fn node(&self, name: &str) -> Result<&AnyNode> {
        self.nodes.get(name).ok_or_else(|| {
            HarnessError::component("cluster", format!("topology has no node `{name}`"))
        })
    }

    /// The datadir path inside component `name`'s container.
    /// Under the power-cut layer that is the durable directory, which is
    /// what the disk holds and what Docker's archive API can reach.
    pub fn datadir_of(&self, name: &str) -> Result<String> {
        self.container(name).map(|c| c.durable_path(DATADIR))
    }

    /// Names of every component, in start order.
    pub fn components(&self) -> Vec<String> {
        self.each_component()
            .map(|c| c.name().to_string())
            .collect()
    }

    /// Every Lightning node, by name.
    pub fn nodes(&self) -> impl Iterator<Item = &AnyNode> {
        self.nodes.values()
    }

    /// Every signer, by node name.
    pub fn signers(&self) -> impl Iterator<Item = (&String, &Signer)> {
        self.signers.iter()
    }

    /// The container of a component by its run name (`bitcoind`, `alice`, `vlsd-alice`).
    pub fn container(&self, name: &str) -> Result<&Container> {
        self.component(name).map(Component::container)
    }

    /// Removes everything now and reports failures (drop does the same, silently).
    pub async fn shutdown(self) -> Result<()> {
        self.resources.teardown().await
    }
}
