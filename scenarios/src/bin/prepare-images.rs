//! The test suite's setup (a nextest setup script, see .config/nextest.toml):
//! builds every missing image once (Core Lightning's too), with one progress display, before the
//! first container test starts, and hands the tags to the tests that follow.
//! It is a binary of this package so that nextest's own build makes it.

use harness::{docker, image, ImageBuilder};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    scenarios::init();
    let work = async {
        let docker = docker::connect().await?;
        let (images, outcomes) = ImageBuilder::default()
            .with_cln(true)
            .ensure(&docker)
            .await?;
        for o in &outcomes {
            let what = if o.built { "built" } else { "present" };
            eprintln!(
                "vls-chaos: image {} {what} ({:.1}s)",
                o.tag,
                o.took.as_secs_f64()
            );
        }
        image::hand_to_tests(&images)
    };
    match work.await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vls-chaos: preparing the images failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
