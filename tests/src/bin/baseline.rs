//! The transport's own limit: a minimal tonic server for
//! `exportcontrol.classifier.v1.ClassifierService/ClassifyItem` that answers
//! every request with one canned `ClassifyItemResponse` (the other methods
//! answer UNIMPLEMENTED). The response is captured once at start from a
//! running classifier-svc for the benchmark payload, so it has the same
//! fields and the same encoded size as the real answer; only the work of
//! classifying is missing. It serves `grpc.health.v1` so that it is started
//! and awaited like the services.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use exportcontrol_proto::classifier::v1 as pb;
use exportcontrol_proto::classifier::v1::classifier_service_client::ClassifierServiceClient;
use exportcontrol_proto::classifier::v1::classifier_service_server::ClassifierServiceServer;
use prost::Message;
use system_tests::classify_item_only::ClassifyItemOnly;
use system_tests::CLASSIFIER_SERVICE;
use tonic::{Request, Response};
use tonic_health::ServingStatus;

#[path = "../load/payload.rs"]
mod payload;

use payload::Payload;

/// Minimal unary gRPC server answering ClassifyItem with a canned response.
#[derive(Debug, Parser)]
#[command(name = "baseline")]
struct Cli {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:50061")]
    listen: SocketAddr,
    /// classifier-svc to capture the canned response from (one ClassifyItem call at start).
    #[arg(long, conflicts_with = "response_file")]
    capture_from: Option<String>,
    /// A file holding an encoded ClassifyItemResponse to answer with instead.
    #[arg(long)]
    response_file: Option<PathBuf>,
    /// The request whose answer is captured.
    #[arg(long, value_enum, default_value = "h200-cn")]
    payload: Payload,
    /// Also write the captured response (encoded) to this file.
    #[arg(long)]
    save_response: Option<PathBuf>,
    /// HTTP/2 streams a client may open at once on one connection (as the services).
    #[arg(long, default_value_t = 512)]
    max_concurrent_streams: u32,
}

async fn capture(url: &str, payload: Payload) -> Result<pb::ClassifyItemResponse, String> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|e| format!("{url}: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let mut request = Request::new(payload.classify_request());
    request.set_timeout(Duration::from_secs(5));
    ClassifierServiceClient::new(channel)
        .classify_item(request)
        .await
        .map(Response::into_inner)
        .map_err(|status| {
            format!(
                "ClassifyItem at {url}: {:?} {}",
                status.code(),
                status.message()
            )
        })
}

async fn run(cli: Cli) -> Result<(), String> {
    let response = match (&cli.capture_from, &cli.response_file) {
        (Some(url), _) => capture(url, cli.payload).await?,
        (None, Some(path)) => {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            pb::ClassifyItemResponse::decode(bytes.as_slice())
                .map_err(|e| format!("{}: not a ClassifyItemResponse: {e}", path.display()))?
        }
        (None, None) => return Err("give --capture-from URL or --response-file FILE".to_owned()),
    };
    if let Some(path) = &cli.save_response {
        std::fs::write(path, response.encode_to_vec())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    eprintln!(
        "baseline: answering ClassifyItem with a canned response of {} bytes on {}",
        response.encoded_len(),
        cli.listen
    );
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("bind {}: {e}", cli.listen))?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let (health, health_service) = tonic_health::server::health_reporter();
    let canned = ClassifierServiceServer::new(ClassifyItemOnly {
        answer: move |_| std::future::ready(Ok(Response::new(response.clone()))),
        unimplemented: "the baseline answers ClassifyItem only",
    });
    health
        .set_service_status(CLASSIFIER_SERVICE, ServingStatus::Serving)
        .await;
    tonic::transport::Server::builder()
        .max_concurrent_streams(cli.max_concurrent_streams)
        .add_service(health_service)
        .add_service(canned)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("serve: {e}"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("baseline: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
