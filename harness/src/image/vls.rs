//! The VLS binaries the images carry, installed from crates.io with
//! `cargo install` into the cache: vlsd as released (the vlsd image) and
//! VLS's `developer` builds of vlsd and remote_hsmd_socket (the Core
//! Lightning image).

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
    features: Option<&'static str>,
    /// Only this binary of the crate.
    bin: Option<&'static str>,
}

impl ImageBuilder {
    /// Where the vlsd of the vlsd image is installed: the release as
    /// operators run it.
    pub(super) fn vlsd_root(&self) -> PathBuf {
        self.cache_dir.join(format!("vlsd-{VLSD_VERSION}"))
    }

    /// Where the vlsd and remote_hsmd_socket of the Core Lightning image
    /// are installed: VLS's `developer` build. Core Lightning runs with
    /// `--developer` here (so it polls bitcoind every second, not every
    /// 30), and then its first request to the signer is `hsmd_dev_preinit`,
    /// which only that build knows. It stays out of the vlsd image: it does
    /// not behave as the release does (docs/findings.md, "vlsd panics when
    /// its disk is full", reproduces only with the release).
    pub(super) fn developer_root(&self) -> PathBuf {
        self.cache_dir
            .join(format!("vlsd-{VLSD_VERSION}-developer"))
    }

    pub(super) fn vlsd_binary(&self) -> PathBuf {
        self.vlsd_root().join("bin").join("vlsd")
    }

    pub(super) fn developer_vlsd_binary(&self) -> PathBuf {
        self.developer_root().join("bin").join("vlsd")
    }

    pub(super) fn hsmd_binary(&self) -> PathBuf {
        self.developer_root().join("bin").join("remote_hsmd_socket")
    }

    /// Every VLS binary the images carry, with how it is installed.
    pub(super) fn vls_installs(&self) -> [VlsInstall; 3] {
        [
            VlsInstall {
                binary: self.vlsd_binary(),
                root: self.vlsd_root(),
                krate: "vlsd",
                features: None,
                bin: None,
            },
            VlsInstall {
                binary: self.developer_vlsd_binary(),
                root: self.developer_root(),
                krate: "vlsd",
                features: Some("vls-protocol-signer/developer"),
                bin: None,
            },
            VlsInstall {
                binary: self.hsmd_binary(),
                root: self.developer_root(),
                krate: "vls-proxy",
                features: Some("developer"),
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
            features,
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
            if let Some(features) = features {
                cmd.args(["--features", features]);
            }
            if let Some(bin) = bin {
                cmd.args(["--bin", bin]);
            }
            let what = format!(
                "{} {VLSD_VERSION}{} (cargo install)",
                bin.unwrap_or(krate),
                if features.is_some() {
                    ", developer"
                } else {
                    ""
                }
            );
            run_with_progress(cmd, &what, Some(estimate)).await?;
        }
        Ok(())
    }
}
