//! Building an image from a Dockerfile and files (a tar context sent to
//! the engine), running host tools with their output shown as progress,
//! and the build lock that makes parallel runs build each image once.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::Stdio;

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::docker::LABEL_PROJECT;
use crate::error::{HarnessError, Result};
use crate::progress::Step;

/// A tar build context: the Dockerfile plus host files under given names.
pub(super) fn dockerfile_context(dockerfile: &str, files: &[(&str, &Path)]) -> Result<Vec<u8>> {
    let entries: Vec<(&str, ContextEntry)> = files
        .iter()
        .map(|(name, path)| (*name, ContextEntry::File(path)))
        .collect();
    context_with(dockerfile, &entries)
}

/// What goes into a build context under a name.
pub(super) enum ContextEntry<'a> {
    File(&'a Path),
    /// A whole directory tree.
    Dir(&'a Path),
}

/// A tar build context: the Dockerfile plus host files and trees.
pub(super) fn context_with(dockerfile: &str, entries: &[(&str, ContextEntry)]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    // Docker 20.10 rejects GNU sparse entries (type S), which tar emits by default.
    builder.sparse(false);
    // A tree's links stay links (CLN installs some).
    builder.follow_symlinks(false);
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .map_err(HarnessError::io("Dockerfile"))?;
    for (name, entry) in entries {
        match entry {
            ContextEntry::File(path) => {
                let mut f = std::fs::File::open(path).map_err(HarnessError::io(*path))?;
                builder
                    .append_file(name, &mut f)
                    .map_err(HarnessError::io(*path))?;
            }
            ContextEntry::Dir(path) => builder
                .append_dir_all(name, path)
                .map_err(HarnessError::io(*path))?,
        }
    }
    builder
        .into_inner()
        .map_err(HarnessError::io("build context"))
}

pub(super) async fn build_from_context(
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

pub(super) fn push_tail(tail: &mut VecDeque<String>, line: &str) {
    if tail.len() == 30 {
        tail.pop_front();
    }
    tail.push_back(line.to_string());
}

/// Runs a long host command, streaming its output into the progress line and
/// keeping the last lines for the error.
pub(super) async fn run_with_progress(
    mut cmd: tokio::process::Command,
    label: &str,
    estimate: Option<std::time::Duration>,
) -> Result<()> {
    let step = match estimate {
        Some(e) => Step::begin_estimated(label, e),
        None => Step::begin(label),
    };
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

/// An exclusive `flock` on a file in the cache, held until dropped.
pub(super) struct BuildLock(std::fs::File);

impl BuildLock {
    pub(super) async fn acquire(path: &Path) -> Result<BuildLock> {
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
