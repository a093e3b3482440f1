//! The Core Lightning image: lightningd compiled from a release source
//! tarball in a build container (a Debian rootfs of the base image's release
//! plus the build packages, run with no network), then copied onto the base
//! image with VLS's `remote_hsmd_socket`, the agent and our hold invoice
//! plugin (crate `vls-chaos-hold`).
//!
//! Each stage is keyed by a hash of its inputs and kept in the cache: the
//! build rootfs, the compiled tree (`cln/<key>/cln`) and the image tag, so a
//! warm run only checks that the tag exists.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StartContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::build::{build_from_context, context_with, push_tail, ContextEntry};
use super::rootfs::{import_rootfs, make_rootfs, package_list};
use super::{component_tag, file_hash, image_exists, short_hash, ImageBuilder, ImageOutcome};
use super::{hold_binary, AGENT, DEBIAN_SUITE, HOLD_PLUGIN};
use crate::docker::LABEL_PROJECT;
use crate::error::{HarnessError, Result};
use crate::paths;
use crate::progress::Step;

/// The Core Lightning release source the image is built from: a `.tar.gz`
/// whose top directory is `lightning-vX.Y.Z` (the release's own layout, git
/// submodules included).
pub const CLN_SOURCE_ENV: &str = "VLS_CHAOS_CLN_SOURCE";
/// The release the catalog is written against, looked for beside the
/// workspace (`../shared/vendor/`) when `VLS_CHAOS_CLN_SOURCE` is unset.
pub const CLN_DEFAULT_SOURCE: &str = "lightning-v25.05.1.tar.gz";

const BUILD_PACKAGES: &str = include_str!("../../../docker/cln/build-packages");
const BUILD_SCRIPT: &str = include_str!("../../../docker/cln/build.sh");
const CLN_DOCKERFILE: &str = include_str!("../../../docker/cln/Dockerfile");
const START_SCRIPT: &str = include_str!("../../../docker/cln/start-lightningd");
/// Bumped when the build rootfs is made differently in a way its package list does not show.
const BUILD_RECIPE_VERSION: &str = "cln-build-recipe-1";

/// The source tarball: `$VLS_CHAOS_CLN_SOURCE`, else the shared vendor copy
/// beside the workspace.
pub fn cln_source() -> Result<PathBuf> {
    let path = match std::env::var_os(CLN_SOURCE_ENV) {
        Some(p) => PathBuf::from(p),
        None => paths::workspace_root()
            .join("..")
            .join("shared")
            .join("vendor")
            .join(CLN_DEFAULT_SOURCE),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(HarnessError::ToolMissing {
            tool: format!("the Core Lightning source tarball ({})", path.display()),
            install: format!(
                "set {CLN_SOURCE_ENV} to a Core Lightning release source .tar.gz (see README, \"Core Lightning\")"
            ),
        })
    }
}

/// The tarball's sha256, checked against a `SHA256SUMS` beside it when one
/// lists it (the vendor directory has one).
fn verified_source_hash(path: &Path) -> Result<String> {
    let hash = file_hash(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sums = path.with_file_name("SHA256SUMS");
    if let Ok(text) = std::fs::read_to_string(&sums) {
        let listed = text.lines().find_map(|l| {
            let (sum, file) = l.split_once(char::is_whitespace)?;
            (file.trim().trim_start_matches('*') == name).then(|| sum.to_string())
        });
        if let Some(expected) = listed {
            if expected != hash {
                return Err(HarnessError::component(
                    "cln image",
                    format!(
                        "{}: sha256 is {hash}, but {} says {expected}",
                        path.display(),
                        sums.display()
                    ),
                ));
            }
        }
    }
    Ok(hash)
}

pub(super) struct ClnTags {
    pub build_tag: String,
    pub key: String,
    pub tag: String,
}

impl ImageBuilder {
    fn cln_build_tag(&self) -> String {
        format!(
            "vls-chaos/cln-build:{}",
            short_hash(&[
                BUILD_RECIPE_VERSION.as_bytes(),
                DEBIAN_SUITE.as_bytes(),
                BUILD_PACKAGES.as_bytes()
            ])
        )
    }

    /// The build image's tag, the compiled tree's key and the image's tag,
    /// from the inputs alone.
    pub(super) fn cln_tags(&self, base: &str, agent_hash: &str) -> Result<ClnTags> {
        let source_hash = verified_source_hash(&cln_source()?)?;
        let build_tag = self.cln_build_tag();
        let key = short_hash(&[
            build_tag.as_bytes(),
            BUILD_SCRIPT.as_bytes(),
            source_hash.as_bytes(),
        ]);
        let hashes = [
            key.clone(),
            short_hash(&[START_SCRIPT.as_bytes()]),
            file_hash(&self.hsmd_binary())?,
            agent_hash.to_string(),
            file_hash(&hold_binary())?,
        ];
        let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
        let tag = component_tag("cln", CLN_DOCKERFILE, base, &refs);
        Ok(ClnTags {
            build_tag,
            key,
            tag,
        })
    }

    /// Builds what is missing of the Core Lightning image on `base` and
    /// returns its tag.
    pub(super) async fn ensure_cln(
        &self,
        docker: &Docker,
        base: &str,
        agent: &Path,
        estimate: Duration,
    ) -> Result<ImageOutcome> {
        let started = Instant::now();
        let source = cln_source()?;
        let ClnTags {
            build_tag,
            key,
            tag,
        } = self.cln_tags(base, &file_hash(agent)?)?;
        let tree = self.cache_dir.join("cln").join(&key);
        if image_exists(docker, &tag).await? {
            return Ok(ImageOutcome {
                name: "cln",
                tag,
                built: false,
                took: started.elapsed(),
            });
        }
        if !tree.join("cln").join("bin").join("lightningd").is_file() {
            if !image_exists(docker, &build_tag).await? {
                let tarball = self
                    .cache_dir
                    .join("rootfs")
                    .join(format!("{}.tar", build_tag.replace(['/', ':'], "-")));
                make_rootfs(
                    &tarball,
                    &package_list(BUILD_PACKAGES),
                    self.mirror.as_deref(),
                    &format!("Core Lightning build rootfs ({DEBIAN_SUITE}, mmdebstrap)"),
                    Duration::from_secs(90),
                )
                .await?;
                import_rootfs(docker, &tarball, &build_tag, "cln-build").await?;
            }
            compile(docker, &build_tag, &source, &tree, estimate).await?;
        }
        let start = self.cache_dir.join("cln").join("start-lightningd");
        write_script(&start, START_SCRIPT)?;
        let context = context_with(
            CLN_DOCKERFILE,
            &[
                ("cln", ContextEntry::Dir(&tree.join("cln"))),
                ("start-lightningd", ContextEntry::File(&start)),
                (
                    "remote_hsmd_socket",
                    ContextEntry::File(&self.hsmd_binary()),
                ),
                (AGENT, ContextEntry::File(agent)),
                (HOLD_PLUGIN, ContextEntry::File(&hold_binary())),
            ],
        )?;
        build_from_context(docker, &tag, base, context, "cln image").await?;
        Ok(ImageOutcome {
            name: "cln",
            tag,
            built: true,
            took: started.elapsed(),
        })
    }
}

/// A script for the build context or the build container, executable.
fn write_script(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(HarnessError::io(dir))?;
    }
    std::fs::write(path, text).map_err(HarnessError::io(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(HarnessError::io(path))
}

/// Runs the build script in a container of `build_tag` with no network, as
/// the cache directory's owner, and moves the finished tree to `tree`.
async fn compile(
    docker: &Docker,
    build_tag: &str,
    source: &Path,
    tree: &Path,
    estimate: Duration,
) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let partial = tree.with_extension("partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(HarnessError::io(&partial))?;
    }
    std::fs::create_dir_all(&partial).map_err(HarnessError::io(&partial))?;
    let script = partial.with_extension("build.sh");
    write_script(&script, BUILD_SCRIPT)?;
    let owner = std::fs::metadata(&partial).map_err(HarnessError::io(&partial))?;
    let source = source.canonicalize().map_err(HarnessError::io(source))?;
    let what = format!("compile Core Lightning ({})", source.display());
    let step = Step::begin_estimated(&what, estimate);
    let name = format!("vls-chaos-cln-build-{}", rand::random::<u32>());
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&name).build()),
            ContainerCreateBody {
                image: Some(build_tag.to_string()),
                entrypoint: Some(vec!["sh".to_string(), "/in/build.sh".to_string()]),
                user: Some(format!("{}:{}", owner.uid(), owner.gid())),
                labels: Some([(LABEL_PROJECT.to_string(), "1".to_string())].into()),
                host_config: Some(HostConfig {
                    network_mode: Some("none".to_string()),
                    binds: Some(vec![
                        format!("{}:/in/source.tar.gz:ro", source.display()),
                        format!("{}:/in/build.sh:ro", script.display()),
                        format!("{}:/out", partial.display()),
                    ]),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .map_err(HarnessError::docker(&what))?;
    let result = async {
        let step = &step;
        docker
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
            .map_err(HarnessError::docker(&what))?;
        let mut tail = std::collections::VecDeque::new();
        let mut logs = docker.logs(
            &created.id,
            Some(
                LogsOptionsBuilder::new()
                    .follow(true)
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        );
        while let Some(Ok(chunk)) = logs.next().await {
            for line in String::from_utf8_lossy(&chunk.into_bytes()).lines() {
                step.note(line);
                push_tail(&mut tail, line);
            }
        }
        let mut code = 0;
        let mut waits = docker.wait_container(&created.id, None::<WaitContainerOptions>);
        while let Some(w) = waits.next().await {
            match w {
                Ok(r) => code = r.status_code,
                Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => code = c,
                Err(e) => return Err(HarnessError::docker(&what)(e)),
            }
        }
        if code != 0 {
            return Err(HarnessError::CommandFailed {
                what: what.clone(),
                status: format!("exit code {code}"),
                tail: Vec::from(tail).join("\n"),
            });
        }
        Ok(())
    }
    .await;
    let _ = docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await;
    if let Err(e) = result {
        step.finish("FAILED");
        return Err(e);
    }
    if tree.exists() {
        std::fs::remove_dir_all(tree).map_err(HarnessError::io(tree))?;
    }
    std::fs::rename(&partial, tree).map_err(HarnessError::io(tree))?;
    let version = std::fs::read_to_string(tree.join("version")).unwrap_or_default();
    step.finish(&format!("built {}", version.trim()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn a_source_that_does_not_match_its_checksum_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("lightning-v0.0.1.tar.gz");
        std::fs::write(&src, b"not the release").expect("write");
        let good = hex::encode(Sha256::digest(b"not the release"));
        std::fs::write(
            dir.path().join("SHA256SUMS"),
            format!("{good}  lightning-v0.0.1.tar.gz\n"),
        )
        .expect("write");
        assert_eq!(verified_source_hash(&src).expect("matches"), good);
        std::fs::write(
            dir.path().join("SHA256SUMS"),
            format!("{}  lightning-v0.0.1.tar.gz\n", "0".repeat(64)),
        )
        .expect("write");
        let err = verified_source_hash(&src)
            .expect_err("mismatch")
            .to_string();
        assert!(
            err.contains("lightning-v0.0.1.tar.gz") && err.contains("SHA256SUMS"),
            "{err}"
        );
    }
}
