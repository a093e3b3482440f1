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
        // Re-read the file every second, not once per process.
        ("FAKETIME_CACHE_DURATION".to_string(), "1".to_string()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".to_string(), "1".to_string()),
    ]
}

/// libfaketime's relative form: `+N` / `-N` seconds.
pub(crate) fn offset_spec(offset_secs: i64) -> String {
    format!("{offset_secs:+}\n")
}

pub(super) async fn set_offset(container: &Container, offset_secs: i64) -> Result<()> {
    container
        .write_file(FAKETIME_FILE, offset_spec(offset_secs).into_bytes())
        .await
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
