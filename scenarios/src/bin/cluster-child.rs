//! Test helper: starts a cluster (bitcoind + one vlsd, so there are
//! containers, a network and volumes), prints `RUN_ID=<id>`, then either
//! panics (`panic`) or waits for Ctrl-C (`wait`). The parent test checks that
//! the run left nothing behind either way.

use std::io::Write;

use harness::{interrupt, Cluster, HarnessError};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    scenarios::init();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let run_id = harness::resources::new_run_id();
    println!("RUN_ID={run_id}");
    let _ = std::io::stdout().flush();
    let work = async {
        let cluster = Cluster::builder()
            .bitcoind()
            .signer("alice")
            .with_run_id(run_id.clone())
            .start()
            .await?;
        cluster.bitcoind()?.mine(1).await?;
        println!("READY");
        let _ = std::io::stdout().flush();
        match mode.as_str() {
            "panic" => panic!("deliberate panic inside run {}", cluster.run_id()),
            "wait" => {
                std::future::pending::<()>().await;
                Ok::<(), HarnessError>(())
            }
            other => Err(HarnessError::component(
                "cluster-child",
                format!("unknown mode `{other}` (expected panic or wait)"),
            )),
        }
    };
    match interrupt::until_ctrl_c(work).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(HarnessError::Interrupted) => std::process::ExitCode::from(130),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(3)
        }
    }
}
