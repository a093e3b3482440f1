//! Clock skew through libfaketime (Debian `faketime`). A component that a
//! scenario skews is started with the library preloaded and reading its
//! offset from a file; the fault rewrites that file. Monotonic clocks stay
//! real so timers and timeouts inside the component keep working.

use crate::container::Container;
use crate::error::Result;

/// The offset file, `+0` at start.
pub const FAKETIME_FILE: &str = "/run/vls-chaos/faketime";

/// Environment that makes a container's processes read their wall clock
/// through libfaketime.
pub fn faketime_env() -> Vec<(String, String)> {
    let triplet = match std::env::consts::ARCH {
        "aarch64" => "aarch64-linux-gnu",
        _ => "x86_64-linux-gnu",
    };
    vec![
        (
            "LD_PRELOAD".to_string(),
            format!("/usr/lib/{triplet}/faketime/libfaketimeMT.so.1"),
        ),
        (
            "FAKETIME_TIMESTAMP_FILE".to_string(),
            FAKETIME_FILE.to_string(),
        ),
        // Read the file at every wall-clock call, so a new offset is in
        // force the moment the fault returns (the default caches it for
        // 10 s; the components ask the time rarely enough not to notice).
        ("FAKETIME_NO_CACHE".to_string(), "1".to_string()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".to_string(), "1".to_string()),
    ]
}

/// libfaketime's relative form: `+N` / `-N` seconds.
pub(crate) fn offset_spec(offset_secs: i64) -> String {
    format!("{offset_secs:+}\n")
}

pub(super) async fn set_offset(container: &Container, offset_secs: i64) -> Result<()> {
    let spec = offset_spec(offset_secs).into_bytes();
    if !container.status().await?.running {
        return container.write_file(FAKETIME_FILE, spec).await;
    }
    // Running processes read the file at any moment: give them the old
    // offset or the new one, never a half-written file.
    let staged = format!("{FAKETIME_FILE}.new");
    container.write_file(&staged, spec).await?;
    container
        .exec(&["mv", "-f", &staged, FAKETIME_FILE])
        .await?
        .ok(container.name(), "setting the clock offset: mv")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_signed_seconds() {
        assert_eq!(offset_spec(3600), "+3600\n");
        assert_eq!(offset_spec(-90), "-90\n");
        assert_eq!(offset_spec(0), "+0\n");
    }
}
