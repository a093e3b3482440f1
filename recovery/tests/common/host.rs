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
            // The project's one installer (see tools/apt-install): as root it
            // installs under the lock every install of ours takes.
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/apt-install");
            let ok = Command::new(script)
                .args([tool, package])
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(ask);
            }
            Ok(())
        })
        .clone()
}
