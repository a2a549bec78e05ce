//! Connection limits and refusals, against a real server (health and
//! reflection only) through raw TCP sockets and a real tonic client.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use service_kit::server::{RunningServer, ServeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_types::StatusExt;

const HANDSHAKE: Duration = Duration::from_millis(300);
const IDLE: Duration = Duration::from_millis(1500);
const PER_PEER: usize = 3;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame.
const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

/// A service with no methods: tonic answers UNIMPLEMENTED, without details.
#[derive(Clone)]
struct Nothing;

impl tonic::server::NamedService for Nothing {
    const NAME: &'static str = "test.Nothing";
}

impl tower::Service<http::Request<tonic::body::Body>> for Nothing {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() == "/test.Nothing/FailingStream" {
            // One message, then a failure in the trailers.
            let mut response = http::Response::new(tonic::body::Body::new(FailingStream(0)));
            response.headers_mut().insert(
                "content-type",
                http::HeaderValue::from_static("application/grpc"),
            );
            return std::future::ready(Ok(response));
        }
        std::future::ready(Ok(tonic::Status::unimplemented("nothing here").into_http()))
    }
}

/// An empty message, then trailers with INTERNAL.
struct FailingStream(u8);

impl http_body::Body for FailingStream {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, tonic::Status>>> {
        self.0 += 1;
        std::task::Poll::Ready(match self.0 {
            1 => Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(&[
                0, 0, 0, 0, 0,
            ])))),
            2 => {
                let mut trailers = http::HeaderMap::new();
                tonic::Status::internal("failed after the first message")
                    .add_header(&mut trailers)
                    .unwrap();
                Some(Ok(http_body::Frame::trailers(trailers)))
            }
            _ => None,
        })
    }
}

async fn server() -> RunningServer {
    server_with(ServeOptions::default()).await
}

async fn server_with(options: ServeOptions) -> RunningServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    service_kit::server::spawn(
        listener,
        Nothing,
        &[],
        ServeOptions {
            handshake_timeout: HANDSHAKE,
            idle_timeout: Some(IDLE),
            max_connections_per_peer: PER_PEER,
            ..options
        },
    )
    .await
    .unwrap()
}

/// Reads until the server closes the connection; how long that took.
async fn closed_after(mut socket: TcpStream, patience: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + patience).into(), socket.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

async fn handshaken(addr: SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(PREFACE).await.unwrap();
    socket.write_all(SETTINGS).await.unwrap();
    socket
}

#[tokio::test]
async fn connections_that_never_complete_the_handshake_are_closed() {
    let server = server().await;
    let silent = TcpStream::connect(server.local_addr).await.unwrap();
    let mut preface_only = TcpStream::connect(server.local_addr).await.unwrap();
    preface_only.write_all(PREFACE).await.unwrap();
    for (what, socket) in [("silent", silent), ("preface only", preface_only)] {
        let closed = closed_after(socket, Duration::from_secs(5)).await;
        let closed = closed.unwrap_or_else(|| panic!("{what}: still open after 5 s"));
        assert!(closed < IDLE, "{what}: closed only after {closed:?}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn idle_connections_are_closed_and_busy_ones_are_not() {
    let server = server().await;
    let idle = handshaken(server.local_addr).await;
    let closed = closed_after(idle, Duration::from_secs(6))
        .await
        .expect("an idle connection is closed");
    assert!(closed >= IDLE - Duration::from_millis(100), "{closed:?}");

    // A watch is a request in flight for as long as it lasts.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.local_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut watch = HealthClient::new(channel)
        .watch(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    watch.message().await.unwrap().expect("the current status");
    let next = tokio::time::timeout(IDLE * 2, watch.message()).await;
    assert!(next.is_err(), "the watch ended while in flight: {next:?}");
    drop(watch);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn one_peer_holds_a_bounded_number_of_connections() {
    let server = server().await;
    let mut held = Vec::new();
    for _ in 0..PER_PEER {
        held.push(handshaken(server.local_addr).await);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let extra = handshaken(server.local_addr).await;
    let closed = closed_after(extra, Duration::from_secs(2)).await;
    assert!(
        closed.is_some_and(|c| c < HANDSHAKE),
        "a connection over the bound: {closed:?}"
    );
    held.pop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let admitted = handshaken(server.local_addr).await;
    assert_eq!(
        closed_after(admitted, HANDSHAKE * 2).await,
        None,
        "a slot freed by a closed connection is taken again"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_malformed_grpc_timeout_is_refused_and_refusals_carry_error_info() {
    let server = server().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.local_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    for value in ["10x", "-1S", "123456789S", "S", "1.5S"] {
        let mut request = tonic::Request::new(HealthCheckRequest::default());
        request
            .metadata_mut()
            .insert("grpc-timeout", value.parse().unwrap());
        let status = health.check(request).await.expect_err(value);
        assert_eq!(status.code(), Code::InvalidArgument, "{value}: {status:?}");
        let details = status.get_error_details();
        assert_eq!(
            details.error_info().map(|i| i.reason.as_str()),
            Some("MALFORMED_GRPC_TIMEOUT"),
            "{value}"
        );
        let violations = &details
            .bad_request()
            .expect("a BadRequest")
            .field_violations;
        assert_eq!(violations[0].field, "grpc-timeout");
    }
    let mut request = tonic::Request::new(HealthCheckRequest::default());
    request.set_timeout(Duration::from_secs(5));
    health.check(request).await.expect("a valid grpc-timeout");

    // tonic's own refusal of an unknown method gets an ErrorInfo too.
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<_, tonic_health::pb::HealthCheckResponse, _>(
            tonic::Request::new(HealthCheckRequest::default()),
            tonic::codegen::http::uri::PathAndQuery::from_static("/test.Nothing/Nope"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    let info = status.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.reason, "UNKNOWN_METHOD");
    assert_eq!(info.metadata["method"], "/test.Nothing/Nope");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stream_that_fails_after_its_first_message_counts_as_failed_under_a_bounded_label() {
    let options = ServeOptions::default();
    let metrics = options.metrics.clone();
    let server = server_with(options).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.local_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let mut stream = grpc
        .server_streaming::<_, (), _>(
            tonic::Request::new(()),
            tonic::codegen::http::uri::PathAndQuery::from_static("/test.Nothing/FailingStream"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().expect("the first message");
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    // The refusal layer gave the bare status in the trailers an ErrorInfo.
    assert!(
        status.get_error_details().error_info().is_some(),
        "{status:?}"
    );
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = metrics.render().await;
    for series in [
        r#"grpc_server_handled_total{method="unknown",code="Internal"} 1"#,
        r#"grpc_server_handled_total{method="/grpc.health.v1.Health/Check",code="Ok"} 1"#,
        r#"grpc_server_handling_seconds_count{method="unknown"} 1"#,
    ] {
        assert!(text.contains(series), "{series} in\n{text}");
    }
    assert!(!text.contains("FailingStream"), "{text}");
    server.shutdown().await.unwrap();
}
