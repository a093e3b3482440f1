//! A supervised component (`topology.supervised`) is started again by Docker
//! when its program dies on its own, as under systemd's
//! `Restart=on-failure`, and its log file keeps following it; the harness's
//! own kill is a fault, and Docker leaves the component down.

use std::time::Duration;

use harness::{wait, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_signer_comes_back_after_it_dies_by_itself() -> anyhow::Result<()> {
    scenarios::init();
    let cluster = Cluster::builder()
        .signer("alice")
        .with_supervisor("vlsd-alice")
        .start()
        .await?;
    let c = cluster.signer("alice")?.container();
    assert_eq!(c.status().await?.restarts, 0);

    // vlsd dies by itself (as on a panic): SIGKILL from inside, not from Docker.
    c.exec(&["sh", "-c", "kill -KILL $(pidof vlsd)"])
        .await?
        .ok(c.name(), "kill vlsd from inside")?;
    wait::until(
        "vlsd-alice started again by its supervisor",
        Duration::from_secs(60),
        || async {
            let s = c.status().await.map_err(|e| e.to_string())?;
            if s.running && s.restarts == 1 {
                Ok(())
            } else {
                Err(format!("{} after {} restarts", s.status, s.restarts))
            }
        },
    )
    .await?;
    // The log file follows the restarted process: vlsd logs its start again.
    wait::until(
        "vlsd-alice's second start in its log file",
        Duration::from_secs(30),
        || async {
            let text = std::fs::read_to_string(c.logs().path()).map_err(|e| e.to_string())?;
            let starts = text.matches("ALL POLICY ERRORS ARE ENFORCED").count();
            if starts >= 2 {
                Ok(())
            } else {
                Err(format!("{starts} starts logged"))
            }
        },
    )
    .await?;

    // The harness's kill is a fault: the supervisor does not undo it. Docker
    // restarts a failed container after 100-200 ms here; three seconds
    // without one shows it will not.
    c.kill().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s = c.status().await?;
    assert!(
        !s.running,
        "Docker restarted a container the harness killed: {s:?}"
    );
    assert_eq!(s.restarts, 1);
    cluster.shutdown().await?;
    Ok(())
}
