//! The VLS binaries the images carry, installed from crates.io with
//! `cargo install` into the cache, as released: vlsd (the vlsd image, which
//! signs for either node kind) and remote_hsmd_socket (the Core Lightning
//! image).

use std::path::PathBuf;
use std::time::Duration;

use super::build::run_with_progress;
use super::host::require_tool;
use super::{ImageBuilder, VLSD_VERSION};
use crate::error::Result;

/// One `cargo install` of a VLS crate from crates.io.
pub(super) struct VlsInstall {
    /// The binary it leaves, whose presence means done.
    pub binary: PathBuf,
    root: PathBuf,
    krate: &'static str,
    /// Only this binary of the crate.
    bin: Option<&'static str>,
}

impl ImageBuilder {
    /// Where vlsd and remote_hsmd_socket are installed: the releases as
    /// operators run them.
    pub(super) fn vlsd_root(&self) -> PathBuf {
        self.cache_dir.join(format!("vlsd-{VLSD_VERSION}"))
    }

    pub(super) fn vlsd_binary(&self) -> PathBuf {
        self.vlsd_root().join("bin").join("vlsd")
    }

    pub(super) fn hsmd_binary(&self) -> PathBuf {
        self.vlsd_root().join("bin").join("remote_hsmd_socket")
    }

    /// Every VLS binary the images carry, with how it is installed.
    pub(super) fn vls_installs(&self) -> [VlsInstall; 2] {
        [
            VlsInstall {
                binary: self.vlsd_binary(),
                root: self.vlsd_root(),
                krate: "vlsd",
                bin: None,
            },
            VlsInstall {
                binary: self.hsmd_binary(),
                root: self.vlsd_root(),
                krate: "vls-proxy",
                bin: Some("remote_hsmd_socket"),
            },
        ]
    }

    /// The missing VLS binaries ([`ImageBuilder::vls_installs`]): vlsd,
    /// and remote_hsmd_socket (VLS's stand-in for Core Lightning's hsmd,
    /// from `vls-proxy`), one `cargo install` each, sharing a target
    /// directory so each reuses the crates the others built.
    pub(super) async fn build_vlsd_binary(&self, estimate: Duration) -> Result<()> {
        require_tool("protoc", "protobuf-compiler").await?;
        for VlsInstall {
            binary,
            root,
            krate,
            bin,
        } in self.vls_installs()
        {
            if binary.is_file() {
                continue;
            }
            let mut cmd = tokio::process::Command::new("cargo");
            cmd.args(["install", krate, "--version"])
                .arg(format!("={VLSD_VERSION}"))
                .arg("--locked")
                .arg("--root")
                .arg(&root)
                .arg("--target-dir")
                .arg(self.cache_dir.join("cargo-target-vlsd"))
                // The workspace's CARGO_TARGET_DIR must not redirect this build.
                .env_remove("CARGO_TARGET_DIR");
            if let Some(bin) = bin {
                cmd.args(["--bin", bin]);
            }
            let what = format!("{} {VLSD_VERSION} (cargo install)", bin.unwrap_or(krate));
            run_with_progress(cmd, &what, Some(estimate)).await?;
        }
        Ok(())
    }
}
