//! Where the harness keeps things on the host: the build cache (outside any
//! clone, so CI and repeated runs stay warm) and per-run artifact directories.

use std::path::{Path, PathBuf};

/// `$VLS_CHAOS_CACHE`, else `$XDG_CACHE_HOME/vls-chaos`, else `~/.cache/vls-chaos`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("VLS_CHAOS_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("vls-chaos");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache").join("vls-chaos");
    }
    std::env::temp_dir().join("vls-chaos-cache")
}

/// The cargo target directory this workspace uses: `$CARGO_TARGET_DIR` or
/// `<workspace root>/target`.
pub fn target_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(p);
    }
    workspace_root().join("target")
}

/// `<target>/vls-chaos/runs`: one subdirectory per run id.
pub fn runs_dir() -> PathBuf {
    target_dir().join("vls-chaos").join("runs")
}

/// The nearest ancestor of the current directory whose Cargo.toml declares a
/// `[workspace]`, falling back to this crate's workspace at build time.
pub fn workspace_root() -> PathBuf {
    if let Ok(cwd) = std::env::current_dir() {
        if let Some(root) = find_workspace_root(&cwd) {
            return root;
        }
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR"));
    built.parent().unwrap_or(built).to_path_buf()
}

fn find_workspace_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).ok()?;
        text.lines()
            .any(|l| l.trim() == "[workspace]")
            .then(|| dir.to_path_buf())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_workspace_root_from_a_member() {
        let member = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = find_workspace_root(member).expect("workspace root above harness/");
        assert!(root.join("harness").is_dir());
    }
}
