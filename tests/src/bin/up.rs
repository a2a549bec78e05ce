//! Starts the whole system for local use: classifier-svc, then review-svc on
//! an embedded SQLite file in ./data with development tokens, both healthy
//! before it says "ready". Ctrl-C stops both gracefully.

use std::time::Duration;

use system_tests::{binary, ServiceProcess, CLASSIFIER_SERVICE, REVIEW_SERVICE};

const CLASSIFIER_ADDR: &str = "127.0.0.1:50051";
const REVIEW_ADDR: &str = "127.0.0.1:50052";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("exportcontrol-up: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = std::env::var("EXPORTCONTROL_DATA_DIR").unwrap_or_else(|_| "data".to_owned());
    std::fs::create_dir_all(&data_dir)?;
    let mut classifier = ServiceProcess::start(
        &binary("classifier-svc"),
        CLASSIFIER_ADDR.parse()?,
        Vec::new(),
        Vec::new(),
        CLASSIFIER_SERVICE,
        None,
    )
    .await?;
    let mut review = ServiceProcess::start(
        &binary("review-svc"),
        REVIEW_ADDR.parse()?,
        vec![
            "--dev".to_owned(),
            "--data-dir".to_owned(),
            data_dir.clone(),
            "--classifier-url".to_owned(),
            format!("http://{CLASSIFIER_ADDR}"),
        ],
        Vec::new(),
        REVIEW_SERVICE,
        None,
    )
    .await?;
    eprintln!(
        "\nready: classifier-svc at {CLASSIFIER_ADDR}, review-svc at {REVIEW_ADDR} (SQLite in {data_dir}/review.db).\n\
         Try: npx buf curl --protocol grpc --http2-prior-knowledge http://{CLASSIFIER_ADDR} --list-methods\n\
         Ctrl-C stops both.\n"
    );
    tokio::signal::ctrl_c().await?;
    eprintln!("stopping: review-svc, then classifier-svc");
    let review_clean = review.terminate(Duration::from_secs(10)).await;
    let classifier_clean = classifier.terminate(Duration::from_secs(10)).await;
    review_clean.and(classifier_clean)?;
    eprintln!("stopped");
    Ok(())
}
