//! Host tools a test needs (Debian's `age`, to check our backups open with
//! the standard tool): installed through apt when the tests run as root,
//! as the harness installs its image tools; otherwise the test fails with
//! the exact command to run.

use std::process::Command;
use std::sync::OnceLock;

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `Ok` once `tool` is on the PATH (installing Debian's `package` if it
/// must and can), else what to run to get it.
pub fn require_tool(tool: &'static str, package: &'static str) -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    if on_path(tool) {
        return Ok(());
    }
    INSTALLED
        .get_or_init(|| {
            let ask = format!(
                "`{tool}` is not installed; run: sudo apt-get update && sudo apt-get install -y {package}"
            );
            if !is_root() || !on_path("apt-get") {
                return Err(ask);
            }
            for args in [vec!["update", "-q"], vec!["install", "-y", "-q", package]] {
                // Under the lock every apt-get of this project takes (the
                // harness may be installing its image tools at this moment),
                // and waiting for dpkg's own.
                let ok = Command::new("flock")
                    .args(["-w", "600", "/tmp/vls-chaos-apt.lock", "apt-get"])
                    .args(["-o", "DPkg::Lock::Timeout=600"])
                    .args(&args)
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .status()
                    .is_ok_and(|s| s.success());
                if !ok {
                    return Err(format!("`apt-get {}` failed; {ask}", args.join(" ")));
                }
            }
            Ok(())
        })
        .clone()
}
