//! Debian root filesystems made by `mmdebstrap` on the host (the only step
//! with network) and loaded with `docker import`: the base image every
//! component runs on, and the build image Core Lightning compiles in.

use std::path::Path;
use std::time::Duration;

use bollard::query_parameters::CreateImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;

use super::build::run_with_progress;
use super::host::{host_debian_mirror, require_tool};
use super::DEBIAN_SUITE;
use crate::docker::LABEL_PROJECT;
use crate::error::{HarnessError, Result};
use crate::progress::Step;

/// Writes a `DEBIAN_SUITE` rootfs with `packages` (and backports enabled)
/// to `tarball`, unless it is there already.
pub(super) async fn make_rootfs(
    tarball: &Path,
    packages: &[&str],
    mirror: Option<&str>,
    label: &str,
    estimate: Duration,
) -> Result<()> {
    if tarball.is_file() {
        return Ok(());
    }
    if let Some(dir) = tarball.parent() {
        std::fs::create_dir_all(dir).map_err(HarnessError::io(dir))?;
    }
    require_tool("mmdebstrap", "mmdebstrap").await?;
    let mirror = match mirror {
        Some(m) => m.to_string(),
        None => host_debian_mirror()?,
    };
    let partial = tarball.with_extension("tar.partial");
    let mut cmd = tokio::process::Command::new("mmdebstrap");
    cmd.arg("--variant=essential")
        .arg(format!("--include={}", packages.join(",")));
    for excluded in ["man", "doc", "locale", "info"] {
        cmd.arg(format!("--dpkgopt=path-exclude=/usr/share/{excluded}/*"));
    }
    cmd.arg("--format=tar")
        .arg(DEBIAN_SUITE)
        .arg(&partial)
        .arg(format!("deb {mirror} {DEBIAN_SUITE} main"))
        .arg(format!("deb {mirror} {DEBIAN_SUITE}-backports main"));
    run_with_progress(cmd, label, Some(estimate)).await?;
    std::fs::rename(&partial, tarball).map_err(HarnessError::io(tarball))
}

/// Imports a rootfs tarball as image `tag`, labelled as `component`.
pub(super) async fn import_rootfs(
    docker: &Docker,
    tarball: &Path,
    tag: &str,
    component: &str,
) -> Result<()> {
    let step = Step::begin(format!("import {tag}"));
    let (repo, version) = tag.split_once(':').unwrap_or((tag, "latest"));
    let opts = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .changes(vec![
            format!("LABEL {LABEL_PROJECT}=1"),
            format!("LABEL {LABEL_PROJECT}.component={component}"),
            "ENV LANG=C.UTF-8".to_string(),
            "CMD [\"/bin/bash\"]".to_string(),
        ])
        .build();
    let file = tokio::fs::File::open(tarball)
        .await
        .map_err(HarnessError::io(tarball))?;
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

/// The non-comment lines of a package list file.
pub(super) fn package_list(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}
