//! A run removes every container, network and volume it made, even when the
//! process panics inside the cluster or is interrupted with Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn spawn_child(mode: &str) -> anyhow::Result<(Child, String, impl Iterator<Item = String>)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cluster-child"))
        .arg(mode)
        // The panic is the point of the test; its backtrace is noise.
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("child has no stdout"))?;
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let run_id = lines
        .next()
        .and_then(|l| l.strip_prefix("RUN_ID=").map(str::to_string))
        .ok_or_else(|| anyhow::anyhow!("child did not print its run id"))?;
    Ok((child, run_id, lines))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_inside_a_cluster_leaves_nothing_behind() -> anyhow::Result<()> {
    scenarios::init();
    let (mut child, run_id, lines) = spawn_child("panic")?;
    let seen: Vec<String> = lines.collect();
    let status = child.wait()?;
    assert!(
        seen.iter().any(|l| l == "READY"),
        "child never got its cluster up: {seen:?}"
    );
    assert_eq!(
        status.code(),
        Some(101),
        "a panicking Rust main exits with 101"
    );
    let left = scenarios::leftovers(&run_id).await?;
    assert!(left.is_empty(), "run {run_id} left {left:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_inside_a_cluster_leaves_nothing_behind() -> anyhow::Result<()> {
    scenarios::init();
    let (mut child, run_id, mut lines) = spawn_child("wait")?;
    let ready = lines.next();
    assert_eq!(
        ready.as_deref(),
        Some("READY"),
        "child never got its cluster up"
    );
    assert!(
        !scenarios::leftovers(&run_id).await?.is_empty(),
        "the live run should own resources before the interrupt"
    );
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    assert!(sent.success());
    let status = child.wait()?;
    assert_eq!(
        status.code(),
        Some(130),
        "interrupted child should exit 130"
    );
    let left = scenarios::leftovers(&run_id).await?;
    assert!(left.is_empty(), "run {run_id} left {left:?}");
    Ok(())
}
