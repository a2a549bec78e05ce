//! The review console's address: one port serves gRPC over HTTP/2 (as
//! before), gRPC-Web over HTTP/1.1 (what a browser speaks to a plain-text
//! address), and the console's pages; without the console the port speaks
//! HTTP/2 only, as it always did.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use review_svc::auth::Authenticator;
use review_svc::classifier_client::{ClassifierClient, RetryPolicy};
use review_svc::console::Console;
use review_svc::{ReviewServer, ReviewSettings};
use service_kit::server::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start(with_console: bool) -> (ReviewServer, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let (authenticator, principals) = Authenticator::development();
    // Nothing here needs the classifier.
    let classifier =
        ClassifierClient::connect_lazy("http://127.0.0.1:9", None, RetryPolicy::default()).unwrap();
    let clock: Arc<dyn review_svc::clock::Clock> = Arc::new(review_svc::clock::SystemClock);
    let settings = ReviewSettings {
        database_url: format!("sqlite://{}", data.path().join("review.db").display()),
        classifier,
        authenticator: authenticator.clone(),
        day_length: chrono::Duration::days(1),
        sweep_interval: Duration::from_millis(100),
        classification_retry_interval: Duration::from_millis(100),
        clock: Arc::clone(&clock),
        audit_key_file: None,
        max_watches_per_principal: review_svc::DEFAULT_MAX_WATCHES_PER_PRINCIPAL,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = if with_console {
        let console = Console::new(authenticator, clock).with_dev_principals(&principals);
        review_svc::serve_with_console(listener, settings, ServeOptions::default(), console)
            .await
            .unwrap()
    } else {
        review_svc::serve(listener, settings, ServeOptions::default())
            .await
            .unwrap()
    };
    (server, data)
}

/// One HTTP/1.1 request on a fresh connection; the whole answer as text.
async fn http1(addr: SocketAddr, head: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// A gRPC-Web frame around `ListApplicationsRequest { page_size: 1 }`.
fn list_frame() -> Vec<u8> {
    let message = [0x08, 0x01];
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    frame
}

fn grpc_web(token: Option<&str>) -> String {
    let mut head = "POST /exportcontrol.review.v1.ReviewService/ListApplications HTTP/1.1\r\n\
         Content-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1"
        .to_owned();
    if let Some(token) = token {
        head.push_str(&format!("\r\nAuthorization: Bearer {token}"));
    }
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_port_serves_grpc_grpc_web_and_the_console() {
    let (server, _data) = start(true).await;
    let addr = server.server.local_addr;

    let page = http1(addr, "GET /console/ HTTP/1.1", b"").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.to_lowercase().contains("content-security-policy"),
        "{page}"
    );
    let root = http1(addr, "GET / HTTP/1.1", b"").await;
    assert!(root.starts_with("HTTP/1.1 308"), "{root}");

    let dev = http1(addr, "GET /console/dev-principals.json HTTP/1.1", b"").await;
    assert!(dev.contains("\"dev-oc-chair\""), "{dev}");
    let session = http1(
        addr,
        "GET /console/session HTTP/1.1\r\nAuthorization: Bearer dev-state",
        b"",
    )
    .await;
    assert!(
        session.contains("\"AGENCY_REVIEWER\"") && session.contains("\"STATE\""),
        "{session}"
    );

    // gRPC-Web over HTTP/1.1: the answer's trailers travel in the body.
    let listed = http1(addr, &grpc_web(Some("dev-auditor")), &list_frame()).await;
    assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    assert!(listed.contains("grpc-status:0"), "{listed}");
    // A refusal keeps its status and reason.
    let refused = http1(addr, &grpc_web(None), &list_frame()).await;
    assert!(refused.contains("grpc-status: 16"), "{refused}");

    // Plain gRPC on the same port, as every other client.
    let mut client = ReviewServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut request = tonic::Request::new(pb::ListApplicationsRequest::default());
    request
        .metadata_mut()
        .insert("authorization", "Bearer dev-auditor".parse().unwrap());
    client.list_applications(request).await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_console_the_port_speaks_http2_only() {
    let (server, _data) = start(false).await;
    let addr = server.server.local_addr;
    let page = http1(addr, "GET /console/ HTTP/1.1", b"").await;
    assert!(!page.starts_with("HTTP/1.1 200"), "{page}");
    let listed = http1(addr, &grpc_web(Some("dev-auditor")), &list_frame()).await;
    assert!(!listed.contains("grpc-status:0"), "{listed}");
    server.shutdown().await.unwrap();
}
