//! Images built locally, with no registry: a Debian trixie rootfs made by
//! `mmdebstrap` and loaded with `docker import`, and component images `FROM`
//! it that add binaries built on the host.
//!
//! Every tag is a content hash of the recipe and its inputs, so an image is
//! built only when its tag is missing, and a changed recipe gets a new tag.
//! Builds take a file lock in the cache directory so parallel tests and runs
//! on one machine build each image once.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, ListImagesOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::docker::{label_filter, LABEL_PROJECT};
use crate::error::{HarnessError, Result};
use crate::paths;
use crate::progress::Step;

/// Debian release of the base image; bitcoin-knots comes from its backports.
pub const DEBIAN_SUITE: &str = "trixie";
/// The vlsd release the signer image runs.
pub const VLSD_VERSION: &str = "1.0.0-rc.1";

const BASE_PACKAGES: &str = include_str!("../../docker/base/packages");
const VLSD_DOCKERFILE: &str = include_str!("../../docker/vlsd/Dockerfile");
const LNNODE_DOCKERFILE: &str = include_str!("../../docker/lnnode/Dockerfile");
/// Bumped when the way the rootfs is made changes in a way the package list does not show.
const BASE_RECIPE_VERSION: &str = "base-recipe-1";

/// The tags of every image a run needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    pub base: String,
    pub vlsd: String,
    pub lnnode: String,
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
}

impl Default for ImageBuilder {
    fn default() -> Self {
        ImageBuilder {
            cache_dir: paths::cache_dir(),
            mirror: std::env::var("VLS_CHAOS_DEBIAN_MIRROR").ok(),
        }
    }
}

impl ImageBuilder {
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = dir.into();
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

    fn vlsd_binary(&self) -> PathBuf {
        self.cache_dir
            .join(format!("vlsd-{VLSD_VERSION}"))
            .join("bin")
            .join("vlsd")
    }

    /// Makes sure every image exists, building the missing ones, and returns their tags.
    pub async fn ensure(&self, docker: &Docker) -> Result<(Images, Vec<ImageOutcome>)> {
        std::fs::create_dir_all(&self.cache_dir).map_err(HarnessError::io(&self.cache_dir))?;
        let _lock = BuildLock::acquire(&self.cache_dir.join("build.lock")).await?;
        let mut outcomes = Vec::new();

        let base = self.base_tag();
        let started = std::time::Instant::now();
        let built = if image_exists(docker, &base).await? {
            false
        } else {
            self.build_base(docker, &base).await?;
            true
        };
        outcomes.push(ImageOutcome {
            name: "base",
            tag: base.clone(),
            built,
            took: started.elapsed(),
        });

        let started = std::time::Instant::now();
        let binary = self.vlsd_binary();
        if !binary.is_file() {
            self.build_vlsd_binary().await?;
        }
        // Built with lnnode in one cargo call; both component images carry it.
        let (lnnode_bin, agent) = self.workspace_binaries().await?;
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

        let images = Images { base, vlsd, lnnode };
        tag_current(docker, &images).await?;
        Ok((images, outcomes))
    }

    async fn build_base(&self, docker: &Docker, tag: &str) -> Result<()> {
        let rootfs_dir = self.cache_dir.join("rootfs");
        std::fs::create_dir_all(&rootfs_dir).map_err(HarnessError::io(&rootfs_dir))?;
        let tarball = rootfs_dir.join(format!("{}.tar", tag.replace(['/', ':'], "-")));
        if !tarball.is_file() {
            require_tool("mmdebstrap", "mmdebstrap").await?;
            let mirror = match &self.mirror {
                Some(m) => m.clone(),
                None => host_debian_mirror()?,
            };
            let partial = tarball.with_extension("tar.partial");
            let mut cmd = tokio::process::Command::new("mmdebstrap");
            cmd.arg("--variant=essential")
                .arg(format!("--include={}", package_list().join(",")));
            for excluded in ["man", "doc", "locale", "info"] {
                cmd.arg(format!("--dpkgopt=path-exclude=/usr/share/{excluded}/*"));
            }
            cmd.arg("--format=tar")
                .arg(DEBIAN_SUITE)
                .arg(&partial)
                .arg(format!("deb {mirror} {DEBIAN_SUITE} main"))
                .arg(format!("deb {mirror} {DEBIAN_SUITE}-backports main"));
            run_with_progress(cmd, &format!("base rootfs ({DEBIAN_SUITE}, mmdebstrap)")).await?;
            std::fs::rename(&partial, &tarball).map_err(HarnessError::io(&tarball))?;
        }
        let step = Step::begin(format!("import {tag}"));
        let (repo, version) = tag.split_once(':').unwrap_or((tag, "latest"));
        let opts = CreateImageOptionsBuilder::new()
            .from_src("-")
            .repo(repo)
            .tag(version)
            .changes(vec![
                format!("LABEL {LABEL_PROJECT}=1"),
                format!("LABEL {LABEL_PROJECT}.component=base"),
                "ENV LANG=C.UTF-8".to_string(),
                "CMD [\"/bin/bash\"]".to_string(),
            ])
            .build();
        let file = tokio::fs::File::open(&tarball)
            .await
            .map_err(HarnessError::io(&tarball))?;
        let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(file));
        let mut stream = docker.create_image(Some(opts), Some(body), None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(HarnessError::docker(format!("import {tag}")))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message).or(info.error) {
                return Err(HarnessError::CommandFailed {
                    what: format!("docker import {tag}"),
                    status: "engine error".to_string(),
                    tail: err,
                });
            }
        }
        step.finish("imported");
        Ok(())
    }

    async fn build_vlsd_binary(&self) -> Result<()> {
        require_tool("protoc", "protobuf-compiler").await?;
        let root = self.cache_dir.join(format!("vlsd-{VLSD_VERSION}"));
        let mut cmd = tokio::process::Command::new("cargo");
        cmd.args(["install", "vlsd", "--version"])
            .arg(format!("={VLSD_VERSION}"))
            .arg("--locked")
            .arg("--root")
            .arg(&root)
            .arg("--target-dir")
            .arg(self.cache_dir.join("cargo-target-vlsd"))
            // The workspace's CARGO_TARGET_DIR must not redirect this build.
            .env_remove("CARGO_TARGET_DIR");
        run_with_progress(
            cmd,
            &format!("vlsd {VLSD_VERSION} (cargo install, ~7 min on 2 cores when cold)"),
        )
        .await
    }

    /// The lnnode and agent binaries: `$VLS_CHAOS_LNNODE_BIN` and
    /// `$VLS_CHAOS_AGENT_BIN` if set, else built from this workspace
    /// (`cargo build --release`, incremental, so a no-op when nothing
    /// changed), so the images always match the source.
    async fn workspace_binaries(&self) -> Result<(PathBuf, PathBuf)> {
        let lnnode = std::env::var_os("VLS_CHAOS_LNNODE_BIN").map(PathBuf::from);
        let agent = std::env::var_os("VLS_CHAOS_AGENT_BIN").map(PathBuf::from);
        let mut packages = Vec::new();
        if lnnode.is_none() {
            packages.extend(["-p", "lnnode"]);
        }
        if agent.is_none() {
            packages.extend(["-p", "vls-chaos-agent"]);
        }
        if !packages.is_empty() {
            self.cargo_build_release(&packages).await?;
        }
        Ok((
            lnnode.unwrap_or_else(|| release_binary("lnnode")),
            agent.unwrap_or_else(|| release_binary(AGENT)),
        ))
    }

    async fn cargo_build_release(&self, packages: &[&str]) -> Result<()> {
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
        tags
    }
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
    for tag in [&images.base, &images.vlsd, &images.lnnode] {
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
    BASE_PACKAGES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
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

/// A tar build context: the Dockerfile plus host files under given names.
fn dockerfile_context(dockerfile: &str, files: &[(&str, &Path)]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    // Docker 20.10 rejects GNU sparse entries (type S), which tar emits by default.
    builder.sparse(false);
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .map_err(HarnessError::io("Dockerfile"))?;
    for (name, path) in files {
        let mut f = std::fs::File::open(path).map_err(HarnessError::io(*path))?;
        builder
            .append_file(name, &mut f)
            .map_err(HarnessError::io(*path))?;
    }
    builder
        .into_inner()
        .map_err(HarnessError::io("build context"))
}

async fn build_from_context(
    docker: &Docker,
    tag: &str,
    base: &str,
    context: Vec<u8>,
    label: &str,
) -> Result<()> {
    let step = Step::begin(format!("{label} {tag}"));
    let opts = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .pull("")
        .buildargs(&HashMap::from([("BASE", base)]))
        .labels(&HashMap::from([(LABEL_PROJECT, "1")]))
        .build();
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(context.into())));
    let mut tail: VecDeque<String> = VecDeque::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(HarnessError::docker(format!("build {tag}")))?;
        if let Some(line) = info
            .stream
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            step.note(line);
            push_tail(&mut tail, line);
        }
        if let Some(err) = info.error_detail.and_then(|d| d.message).or(info.error) {
            push_tail(&mut tail, &err);
            return Err(HarnessError::CommandFailed {
                what: format!("docker build {tag}"),
                status: "engine error".to_string(),
                tail: Vec::from(tail).join("\n"),
            });
        }
    }
    step.finish("built");
    Ok(())
}

fn push_tail(tail: &mut VecDeque<String>, line: &str) {
    if tail.len() == 30 {
        tail.pop_front();
    }
    tail.push_back(line.to_string());
}

/// Runs a long host command, streaming its output into the progress line and
/// keeping the last lines for the error.
async fn run_with_progress(mut cmd: tokio::process::Command, label: &str) -> Result<()> {
    let step = Step::begin(label);
    let program = format!("{:?}", cmd.as_std().get_program());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(HarnessError::io(program.trim_matches('"')))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for reader in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut tail = VecDeque::new();
    while let Some(line) = rx.recv().await {
        step.note(&line);
        push_tail(&mut tail, &line);
    }
    let status = child
        .wait()
        .await
        .map_err(HarnessError::io(program.trim_matches('"')))?;
    if !status.success() {
        step.finish("FAILED");
        return Err(HarnessError::CommandFailed {
            what: label.to_string(),
            status: status.to_string(),
            tail: Vec::from(tail).join("\n"),
        });
    }
    step.finish("done");
    Ok(())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Installs `package` with apt when `tool` is missing and we are root;
/// otherwise says exactly which command to run.
async fn require_tool(tool: &str, package: &str) -> Result<()> {
    if on_path(tool) {
        return Ok(());
    }
    if !is_root() || !on_path("apt-get") {
        return Err(HarnessError::ToolMissing {
            tool: tool.to_string(),
            install: format!("sudo apt-get update && sudo apt-get install -y {package}"),
        });
    }
    let mut update = tokio::process::Command::new("apt-get");
    update.args(["update", "-q"]);
    run_with_progress(update, "apt-get update").await?;
    let mut install = tokio::process::Command::new("apt-get");
    install
        .args(["install", "-y", "-q", package])
        .env("DEBIAN_FRONTEND", "noninteractive");
    run_with_progress(install, &format!("apt-get install {package}")).await
}

/// The Debian archive the host's apt uses, so the rootfs comes from the same
/// place (and through the same proxies) as the host's own packages.
pub fn host_debian_mirror() -> Result<String> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut extra: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        extra.sort();
        files.extend(extra);
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let name = f.to_string_lossy();
        let found = if name.ends_with(".sources") {
            mirror_from_deb822(&text)
        } else if name.ends_with(".list") {
            mirror_from_one_line(&text)
        } else {
            None
        };
        if let Some(m) = found {
            return Ok(m);
        }
    }
    Err(HarnessError::ToolMissing {
        tool: "a Debian archive mirror".to_string(),
        install:
            "set VLS_CHAOS_DEBIAN_MIRROR to a Debian archive URL (the host's apt sources name none)"
                .to_string(),
    })
}

fn is_debian_archive(uri: &str) -> bool {
    uri.trim_end_matches('/').ends_with("/debian")
}

fn mirror_from_deb822(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("URIs:"))
        .flat_map(str::split_whitespace)
        .find(|u| is_debian_archive(u))
        .map(|u| u.trim_end_matches('/').to_string())
}

fn mirror_from_one_line(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut words = l.split_whitespace().peekable();
        if words.next()? != "deb" {
            return None;
        }
        if words.peek()?.starts_with('[') {
            for w in words.by_ref() {
                if w.ends_with(']') {
                    break;
                }
            }
        }
        let uri = words.next()?;
        is_debian_archive(uri).then(|| uri.trim_end_matches('/').to_string())
    })
}

/// An exclusive `flock` on a file in the cache, held until dropped.
struct BuildLock(std::fs::File);

impl BuildLock {
    async fn acquire(path: &Path) -> Result<BuildLock> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(HarnessError::io(&path))?;
            file.lock().map_err(HarnessError::io(&path))?;
            Ok(BuildLock(file))
        })
        .await
        .map_err(|e| HarnessError::component("image build lock", e.to_string()))?
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_from_deb822_skips_security_and_others() {
        let text = "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: x\n\nTypes: deb\nURIs: http://mirror.example/debian/\nSuites: y\n";
        assert_eq!(
            mirror_from_deb822(text).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            mirror_from_deb822("URIs: https://other.example/apt\n"),
            None
        );
    }

    #[test]
    fn mirror_from_one_line_handles_options() {
        let text = "# comment\ndeb-src http://a.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://b.example/debian bookworm main\n";
        assert_eq!(
            mirror_from_one_line(text).as_deref(),
            Some("http://b.example/debian")
        );
    }

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
