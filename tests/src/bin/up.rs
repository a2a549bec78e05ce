//! Starts the whole system for local use: classifier-svc, then review-svc on
//! an embedded SQLite file in ./data with development tokens, both healthy
//! before it says "ready". Ctrl-C (or SIGTERM, or SIGHUP) stops both
//! gracefully.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use system_tests::{binary, ServiceProcess, CLASSIFIER_SERVICE, REVIEW_SERVICE};

/// Starts classifier-svc and review-svc for local use (development tokens).
#[derive(Parser)]
#[command(name = "exportcontrol-up")]
struct Args {
    /// Where classifier-svc listens.
    #[arg(
        long,
        env = "EXPORTCONTROL_CLASSIFIER_LISTEN",
        default_value = "127.0.0.1:50051"
    )]
    classifier_listen: SocketAddr,
    /// Where review-svc listens.
    #[arg(
        long,
        env = "EXPORTCONTROL_REVIEW_LISTEN",
        default_value = "127.0.0.1:50052"
    )]
    review_listen: SocketAddr,
    /// review-svc's data directory (its SQLite file).
    #[arg(long, env = "EXPORTCONTROL_DATA_DIR", default_value = "data")]
    data_dir: String,
}

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
    let Args {
        classifier_listen,
        review_listen,
        data_dir,
    } = Args::parse();
    std::fs::create_dir_all(&data_dir)?;
    // Before anything starts: a signal from here on stops both services,
    // even one sent the moment "ready" is printed.
    let stop = stop_requested()?;
    let mut classifier = ServiceProcess::start(
        &binary("classifier-svc"),
        classifier_listen,
        Vec::new(),
        Vec::new(),
        CLASSIFIER_SERVICE,
        None,
    )
    .await?;
    let mut review = ServiceProcess::start(
        &binary("review-svc"),
        review_listen,
        vec![
            "--dev".to_owned(),
            "--data-dir".to_owned(),
            data_dir.clone(),
            "--classifier-url".to_owned(),
            format!("http://{classifier_listen}"),
        ],
        Vec::new(),
        REVIEW_SERVICE,
        None,
    )
    .await?;
    // buf comes from the project's own npm lock (`npm ci`): `npx buf` on a
    // machine without it would fetch an unrelated package of that name.
    let buf = if std::path::Path::new("node_modules/.bin/buf").exists() {
        "node_modules/.bin/buf".to_owned()
    } else {
        "node_modules/.bin/buf (run `npm ci` once to install it)".to_owned()
    };
    eprintln!(
        "\nready: classifier-svc at {classifier_listen}, review-svc at {review_listen} (SQLite in {data_dir}/review.db).\n\
         Review console: http://{review_listen}/console/ (pick a development principal to sign in).\n\
         Try: {buf} curl --protocol grpc --http2-prior-knowledge http://{classifier_listen} --list-methods\n\
         or:  grpcurl -plaintext -H 'authorization: Bearer dev-auditor' {review_listen} list\n\
         Ctrl-C stops both.\n"
    );
    let signal = stop.await;
    eprintln!("{signal}: stopping review-svc, then classifier-svc");
    let review_clean = review.terminate(Duration::from_secs(10)).await;
    let classifier_clean = classifier.terminate(Duration::from_secs(10)).await;
    review_clean.and(classifier_clean)?;
    eprintln!("stopped");
    Ok(())
}

/// Listens for a request to stop: Ctrl-C in the terminal, SIGTERM (`kill`,
/// a service manager) or SIGHUP (the terminal closed). Left to their default
/// action, the last two ended this process alone and left both services
/// running, holding their ports.
fn stop_requested() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::SignalKind;
    service_kit::server::first_signal(&[
        (SignalKind::interrupt(), "interrupted"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
    ])
}
