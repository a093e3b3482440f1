//! Images built locally, with no registry: a Debian trixie rootfs made by
//! `mmdebstrap` and loaded with `docker import`, and component images `FROM`
//! it that add binaries built on the host.
//!
//! Every tag is a content hash of the recipe and its inputs, so an image is
//! built only when its tag is missing, and a changed recipe gets a new tag.
//! Builds take a file lock in the cache directory so parallel tests and runs
//! on one machine build each image once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptionsBuilder};
use bollard::Docker;
use sha2::{Digest, Sha256};

mod build;
mod cln;
mod handoff;
mod host;
mod rootfs;
mod times;
mod vls;

use build::{build_from_context, dockerfile_context, run_with_progress, BuildLock};
pub use handoff::{hand_to_tests, handed_over, IMAGES_ENV};
pub use host::host_debian_mirror;
use host::require_tool;
use times::BuildTimes;

use crate::docker::{label_filter, LABEL_PROJECT};
use crate::error::{HarnessError, Result};
use crate::paths;

/// Debian release of the base image; bitcoin-knots comes from its backports.
pub const DEBIAN_SUITE: &str = "trixie";
/// The vlsd release the signer image runs.
pub const VLSD_VERSION: &str = "1.0.0-rc.1";

const BASE_PACKAGES: &str = include_str!("../../../docker/base/packages");
const VLSD_DOCKERFILE: &str = include_str!("../../../docker/vlsd/Dockerfile");
const LNNODE_DOCKERFILE: &str = include_str!("../../../docker/lnnode/Dockerfile");
/// Bumped when the way the rootfs is made changes in a way the package list does not show.
const BASE_RECIPE_VERSION: &str = "base-recipe-1";

/// The tags of every image a run needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    pub base: String,
    pub vlsd: String,
    pub lnnode: String,
    /// Core Lightning, built only when asked for ([`ImageBuilder::with_cln`]).
    pub cln: Option<String>,
}

impl Images {
    /// Every tag there is.
    pub fn tags(&self) -> impl Iterator<Item = &String> {
        [&self.base, &self.vlsd, &self.lnnode]
            .into_iter()
            .chain(self.cln.as_ref())
    }
}

/// What `ensure` did for one image.
#[derive(Debug, Clone)]
pub struct ImageOutcome {
    pub name: &'static str,
    pub tag: String,
    pub built: bool,
    pub took: Duration,
}

/// Builds missing images. Working defaults; `with_*` to change them.
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    cache_dir: PathBuf,
    mirror: Option<String>,
    cln: bool,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        ImageBuilder {
            cache_dir: paths::cache_dir(),
            mirror: std::env::var("VLS_CHAOS_DEBIAN_MIRROR").ok(),
            cln: false,
        }
    }
}

impl ImageBuilder {
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = dir.into();
        self
    }

    /// Also the Core Lightning image (its build rootfs and a compile from
    /// source on first use: a few minutes, cached afterwards).
    pub fn with_cln(mut self, on: bool) -> Self {
        self.cln = on;
        self
    }

    /// Debian archive URL for the rootfs; by default the one the host's apt uses.
    pub fn with_mirror(mut self, url: impl Into<String>) -> Self {
        self.mirror = Some(url.into());
        self
    }

    pub fn base_tag(&self) -> String {
        format!(
            "vls-chaos/base:{}",
            short_hash(&[
                BASE_RECIPE_VERSION.as_bytes(),
                DEBIAN_SUITE.as_bytes(),
                BASE_PACKAGES.as_bytes()
            ])
        )
    }

    /// Makes sure every image exists, building the missing ones, and returns their tags.
    /// What does not depend on anything else is built side by side: the
    /// base rootfs (mostly downloads), vlsd (`cargo install`) and the
    /// workspace's lnnode and agent; then the two component images.
    pub async fn ensure(&self, docker: &Docker) -> Result<(Images, Vec<ImageOutcome>)> {
        std::fs::create_dir_all(&self.cache_dir).map_err(HarnessError::io(&self.cache_dir))?;
        let _lock = BuildLock::acquire(&self.cache_dir.join("build.lock")).await?;
        let mut outcomes = Vec::new();
        let mut times = BuildTimes::load(&self.cache_dir);

        let base = self.base_tag();
        let binary = self.vlsd_binary();
        let need_base = !image_exists(docker, &base).await?;
        let need_vlsd = self.vls_installs().iter().any(|i| !i.binary.is_file());
        // Host tools first, one apt at a time (apt holds a lock).
        if need_base && !self.base_tarball(&base).is_file() {
            require_tool("mmdebstrap", "mmdebstrap").await?;
        }
        if need_vlsd {
            require_tool("protoc", "protobuf-compiler").await?;
        }
        if need_base || need_vlsd {
            let longest = [("base", need_base), ("vlsd", need_vlsd), ("lnnode", true)]
                .iter()
                .filter(|(_, needed)| *needed)
                .map(|(n, _)| times.estimate(n))
                .max()
                .unwrap_or_default();
            eprintln!(
                "vls-chaos: first run on this machine: building the images side by side, about {} min (cached afterwards)",
                longest.as_secs().div_ceil(60)
            );
        }
        let started = std::time::Instant::now();
        let (base_built, vlsd_built, workspace) = tokio::join!(
            timed(async {
                if need_base {
                    self.build_base(docker, &base, times.estimate("base"))
                        .await?;
                }
                Ok::<_, HarnessError>(())
            }),
            timed(async {
                if need_vlsd {
                    self.build_vlsd_binary(times.estimate("vlsd")).await?;
                }
                Ok::<_, HarnessError>(())
            }),
            timed(self.workspace_binaries(times.estimate("lnnode"))),
        );
        base_built.0?;
        vlsd_built.0?;
        // Built with lnnode in one cargo call; every component image carries it.
        let WorkspaceBinaries {
            lnnode: lnnode_bin,
            agent,
        } = workspace.0?;
        for (name, needed, took) in [
            ("base", need_base, base_built.1),
            ("vlsd", need_vlsd, vlsd_built.1),
            // An incremental no-op build is no estimate of a cold one.
            ("lnnode", workspace.1 > Duration::from_secs(60), workspace.1),
        ] {
            if needed {
                times.record(name, took);
            }
        }
        outcomes.push(ImageOutcome {
            name: "base",
            tag: base.clone(),
            built: need_base,
            took: base_built.1,
        });
        let outcome = ensure_component(
            docker,
            "vlsd",
            VLSD_DOCKERFILE,
            &base,
            &binary,
            &agent,
            started,
        )
        .await?;
        let vlsd = outcome.tag.clone();
        outcomes.push(outcome);

        let started = std::time::Instant::now();
        let outcome = ensure_component(
            docker,
            "lnnode",
            LNNODE_DOCKERFILE,
            &base,
            &lnnode_bin,
            &agent,
            started,
        )
        .await?;
        let lnnode = outcome.tag.clone();
        outcomes.push(outcome);

        let cln = if self.cln {
            let outcome = self
                .ensure_cln(docker, &base, &agent, times.estimate("cln"))
                .await?;
            if outcome.built && outcome.took > Duration::from_secs(60) {
                times.record("cln", outcome.took);
            }
            let tag = outcome.tag.clone();
            outcomes.push(outcome);
            Some(tag)
        } else {
            None
        };
        let images = Images {
            base,
            vlsd,
            lnnode,
            cln,
        };
        tag_current(docker, &images).await?;
        Ok((images, outcomes))
    }

    fn base_tarball(&self, tag: &str) -> PathBuf {
        self.cache_dir
            .join("rootfs")
            .join(format!("{}.tar", tag.replace(['/', ':'], "-")))
    }

    async fn build_base(&self, docker: &Docker, tag: &str, estimate: Duration) -> Result<()> {
        let tarball = self.base_tarball(tag);
        rootfs::make_rootfs(
            &tarball,
            &package_list(),
            self.mirror.as_deref(),
            &format!("base rootfs ({DEBIAN_SUITE}, mmdebstrap)"),
            estimate,
        )
        .await?;
        rootfs::import_rootfs(docker, &tarball, tag, "base").await
    }

    /// The lnnode and agent binaries, and Core Lightning's hold invoice
    /// plugin: `$VLS_CHAOS_LNNODE_BIN`, `$VLS_CHAOS_AGENT_BIN` and
    /// `$VLS_CHAOS_HOLD_BIN` if set, else built from this workspace
    /// (`cargo build --release`, incremental, so a no-op when nothing
    /// changed), so the images always match the source.
    async fn workspace_binaries(&self, estimate: Duration) -> Result<WorkspaceBinaries> {
        let lnnode = std::env::var_os("VLS_CHAOS_LNNODE_BIN").map(PathBuf::from);
        let agent = std::env::var_os("VLS_CHAOS_AGENT_BIN").map(PathBuf::from);
        let mut packages = Vec::new();
        if lnnode.is_none() {
            packages.extend(["-p", "lnnode"]);
        }
        if agent.is_none() {
            packages.extend(["-p", AGENT]);
        }
        // Always, not only for Core Lightning: features are unified over
        // the packages of one cargo call, so lnnode's binary (and image)
        // would otherwise differ between runs with and without it.
        if std::env::var_os(HOLD_BIN_ENV).is_none() {
            packages.extend(["-p", HOLD_PLUGIN]);
        }
        if !packages.is_empty() {
            self.cargo_build_release(&packages, estimate).await?;
        }
        Ok(WorkspaceBinaries {
            lnnode: lnnode.unwrap_or_else(|| release_binary("lnnode")),
            agent: agent.unwrap_or_else(|| release_binary(AGENT)),
        })
    }

    async fn cargo_build_release(&self, packages: &[&str], estimate: Duration) -> Result<()> {
        let root = paths::workspace_root();
        let mut cmd = tokio::process::Command::new("cargo");
        // Same environment whoever calls us (`cargo test`, `cargo run`, a
        // shell): cargo hands its children CARGO_* variables that some build
        // scripts watch, and a different set would rebuild the whole tree.
        cmd.env_clear();
        for (k, v) in std::env::vars_os() {
            let name = k.to_string_lossy();
            let keep = matches!(
                name.as_ref(),
                "PATH"
                    | "HOME"
                    | "USER"
                    | "CARGO_HOME"
                    | "RUSTUP_HOME"
                    | "RUSTUP_TOOLCHAIN"
                    | "SSL_CERT_FILE"
                    | "SSL_CERT_DIR"
            ) || name.to_ascii_lowercase().ends_with("_proxy")
                || name.starts_with("CARGO_REGISTRIES_")
                || name.starts_with("CARGO_HTTP_")
                || name.starts_with("CARGO_NET_");
            if keep {
                cmd.env(k, v);
            }
        }
        cmd.current_dir(&root)
            .args(["build", "--release", "--locked"])
            .args(packages)
            .env("CARGO_TARGET_DIR", paths::target_dir());
        let names: Vec<&str> = packages.iter().copied().filter(|p| *p != "-p").collect();
        run_with_progress(
            cmd,
            &format!("{} (cargo build --release)", names.join(", ")),
            Some(estimate),
        )
        .await
    }

    /// Every image labelled `vls-chaos=1`, with whether it is one of the current tags.
    pub async fn list(&self, docker: &Docker) -> Result<Vec<ListedImage>> {
        let current = self.current_tags();
        let opts = ListImagesOptionsBuilder::new()
            .filters(&label_filter(&format!("{LABEL_PROJECT}=1")))
            .build();
        let images = docker
            .list_images(Some(opts))
            .await
            .map_err(HarnessError::docker("list images"))?;
        let mut out: Vec<ListedImage> = images
            .into_iter()
            .map(|img| {
                let tags: Vec<String> = img
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect();
                ListedImage {
                    current: tags.iter().any(|t| current.contains(t)),
                    id: img.id,
                    tags,
                    size_bytes: img.size.max(0) as u64,
                    created_unix: img.created,
                }
            })
            .collect();
        out.sort_by(|a, b| a.tags.cmp(&b.tags));
        Ok(out)
    }

    /// Removes labelled images that are not current (all of them with `all`).
    pub async fn prune(&self, docker: &Docker, all: bool) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for img in self.list(docker).await? {
            if img.current && !all {
                continue;
            }
            let opts = RemoveImageOptionsBuilder::new().force(false).build();
            match docker.remove_image(&img.id, Some(opts), None).await {
                Ok(_) => removed.push(img.tags.first().cloned().unwrap_or(img.id)),
                Err(e) if HarnessError::is_not_found(&e) => {}
                Err(e) => {
                    return Err(HarnessError::Docker {
                        op: format!("remove image {}", img.tags.join(", ")),
                        source: e,
                    })
                }
            }
        }
        Ok(removed)
    }

    /// Tags that `ensure` would produce now, as far as they can be known
    /// without building (the vlsd tag needs its binary).
    fn current_tags(&self) -> Vec<String> {
        let base = self.base_tag();
        let mut tags = vec![base.clone()];
        let Ok(agent) = file_hash(&release_binary(AGENT)) else {
            return tags;
        };
        if let Ok(h) = file_hash(&self.vlsd_binary()) {
            tags.push(component_tag("vlsd", VLSD_DOCKERFILE, &base, &[&h, &agent]));
        }
        if let Ok(h) = file_hash(&release_binary("lnnode")) {
            tags.push(component_tag(
                "lnnode",
                LNNODE_DOCKERFILE,
                &base,
                &[&h, &agent],
            ));
        }
        // A machine that never built Core Lightning has no source to hash;
        // its CLN images, if any, are then not current.
        if let Ok(t) = self.cln_tags(&base, &agent) {
            tags.push(t.build_tag);
            tags.push(t.tag);
        }
        tags
    }
}

/// What `fut` gave and how long it took.
async fn timed<T>(fut: impl std::future::Future<Output = T>) -> (T, Duration) {
    let t = std::time::Instant::now();
    let r = fut.await;
    (r, t.elapsed())
}

/// A component image (`FROM` the base, plus its host binary named `name`
/// and the agent), built only when its content-hash tag is missing.
async fn ensure_component(
    docker: &Docker,
    name: &'static str,
    dockerfile: &str,
    base: &str,
    binary: &Path,
    agent: &Path,
    started: std::time::Instant,
) -> Result<ImageOutcome> {
    let hashes = [file_hash(binary)?, file_hash(agent)?];
    let tag = component_tag(name, dockerfile, base, &[&hashes[0], &hashes[1]]);
    let built = if image_exists(docker, &tag).await? {
        false
    } else {
        let context = dockerfile_context(dockerfile, &[(name, binary), (AGENT, agent)])?;
        build_from_context(docker, &tag, base, context, &format!("{name} image")).await?;
        true
    };
    Ok(ImageOutcome {
        name,
        tag,
        built,
        took: started.elapsed(),
    })
}

/// Also tags each image `:current`, the names `compose.yaml` uses.
async fn tag_current(docker: &Docker, images: &Images) -> Result<()> {
    for tag in images.tags() {
        let repo = tag.rsplit_once(':').map(|(r, _)| r).unwrap_or(tag);
        let opts = bollard::query_parameters::TagImageOptionsBuilder::new()
            .repo(repo)
            .tag("current")
            .build();
        docker
            .tag_image(tag, Some(opts))
            .await
            .map_err(|e| HarnessError::Docker {
                op: format!("tag {tag} as {repo}:current"),
                source: e,
            })?;
    }
    Ok(())
}

/// `vls-chaos/<name>:<hash of recipe, base tag and binary hashes>`.
fn component_tag(name: &str, dockerfile: &str, base: &str, binary_hashes: &[&str]) -> String {
    let mut parts = vec![dockerfile.as_bytes(), base.as_bytes()];
    parts.extend(binary_hashes.iter().map(|h| h.as_bytes()));
    format!("vls-chaos/{name}:{}", short_hash(&parts))
}

/// The agent binary's name, in the workspace and in the images.
const AGENT: &str = "vls-chaos-agent";
/// The hold invoice plugin's name, in the workspace and in the CLN image.
const HOLD_PLUGIN: &str = "vls-chaos-hold";
/// A prebuilt hold invoice plugin to use instead of building it.
const HOLD_BIN_ENV: &str = "VLS_CHAOS_HOLD_BIN";

/// The binaries of this workspace the images carry.
struct WorkspaceBinaries {
    lnnode: PathBuf,
    agent: PathBuf,
}

/// The hold invoice plugin: `$VLS_CHAOS_HOLD_BIN`, else this workspace's.
fn hold_binary() -> PathBuf {
    std::env::var_os(HOLD_BIN_ENV).map_or_else(|| release_binary(HOLD_PLUGIN), PathBuf::from)
}

/// Where `cargo build --release` puts a binary of this workspace.
fn release_binary(name: &str) -> PathBuf {
    paths::target_dir().join("release").join(name)
}

#[derive(Debug, Clone)]
pub struct ListedImage {
    pub id: String,
    pub tags: Vec<String>,
    pub size_bytes: u64,
    pub created_unix: i64,
    pub current: bool,
}

fn package_list() -> Vec<&'static str> {
    rootfs::package_list(BASE_PACKAGES)
}

fn short_hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(&h.finalize()[..6])
}

fn file_hash(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(HarnessError::io(path))?;
    let mut h = Sha256::new();
    std::io::copy(&mut file, &mut h).map_err(HarnessError::io(path))?;
    Ok(hex::encode(h.finalize()))
}

async fn image_exists(docker: &Docker, tag: &str) -> Result<bool> {
    match docker.inspect_image(tag).await {
        Ok(_) => Ok(true),
        Err(e) if HarnessError::is_not_found(&e) => Ok(false),
        Err(e) => Err(HarnessError::Docker {
            op: format!("inspect image {tag}"),
            source: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_depend_on_recipe_only() {
        let a = ImageBuilder::default().with_mirror("http://x.example/debian");
        let b = ImageBuilder::default().with_mirror("http://y.example/debian");
        assert_eq!(a.base_tag(), b.base_tag());
        assert!(a.base_tag().starts_with("vls-chaos/base:"));
        assert_ne!(short_hash(&[b"ab", b"c"]), short_hash(&[b"a", b"bc"]));
    }

    #[test]
    fn package_list_has_what_faults_need() {
        let p = package_list();
        for needed in ["bitcoin-knots", "iproute2", "iptables", "faketime"] {
            assert!(p.contains(&needed), "{needed} missing from {p:?}");
        }
    }
}
