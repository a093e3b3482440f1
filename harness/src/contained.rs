//! What every component container carries, in one place: where its state
//! lives, where the agent and its pid file are, and how libfaketime is wired
//! in. Components lay containers out by these; faults and artifacts reach
//! into them by the same names.

/// Where every component keeps its state: one volume mounted here.
pub const DATADIR: &str = "/data";
/// Where the datadir volume is mounted when the component runs on the
/// power-cut layer, which shows it at [`DATADIR`] with writes buffered.
pub const DURABLE_DATADIR: &str = "/data.durable";
/// The agent binary inside component images.
pub const AGENT_BIN: &str = "/usr/local/bin/vls-chaos-agent";
/// Where the power-cut layer's agent records the pid of the program it runs.
pub const CHILD_PID_FILE: &str = "/run/vls-chaos/child.pid";
/// Where the power-cut layer reads its crash points (`hold`,
/// `release-<id>`; see the agent's `crash_point` module).
pub const CONTROL_DIR: &str = "/run/vls-chaos";
/// libfaketime's offset file, `+0` at start; `clock_skew` rewrites it.
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
