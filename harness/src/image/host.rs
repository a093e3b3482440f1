//! What image building needs from the host: tools on the PATH (installed
//! through apt when running as root), and the Debian mirror it already uses.

use std::path::PathBuf;

use super::build::run_with_progress;
use crate::error::{HarnessError, Result};

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
pub(super) async fn require_tool(tool: &str, package: &str) -> Result<()> {
    if on_path(tool) {
        return Ok(());
    }
    if !is_root() || !on_path("apt-get") {
        return Err(HarnessError::ToolMissing {
            tool: tool.to_string(),
            install: format!("sudo apt-get update && sudo apt-get install -y {package}"),
        });
    }
    // The project's one installer: it queues behind any other install of
    // ours (parallel tests) and behind dpkg's lock.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/apt-install");
    let mut install = tokio::process::Command::new(script);
    install.args([tool, package]);
    run_with_progress(install, &format!("apt-get install {package}"), None).await
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
}
