//! Bodies that are not valid protobuf, sent as raw bytes through a real
//! client to real servers: both services answer INVALID_ARGUMENT with an
//! `ErrorInfo` (MALFORMED_MESSAGE) and a `BadRequest`, never INTERNAL; and
//! review-svc authenticates before it decodes, so unauthenticated garbage
//! gets UNAUTHENTICATED.

use std::sync::Arc;

use prost::bytes::{Buf, BufMut};
use review_svc::auth::Authenticator;
use review_svc::classifier_client::{ClassifierClient, RetryPolicy};
use service_kit::server::ServeOptions;
use tokio::net::TcpListener;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Sends bytes as they are; reads nothing back.
#[derive(Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = ();
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = ();
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

async fn send(
    addr: std::net::SocketAddr,
    path: &'static str,
    body: Vec<u8>,
    authorization: Option<&str>,
) -> Status {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(body);
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    grpc.unary(
        request,
        tonic::codegen::http::uri::PathAndQuery::from_static(path),
        Raw,
    )
    .await
    .expect_err("a malformed body is refused")
}

fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![(number << 3) | 2];
    prost::encoding::encode_varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// A ClassifyItemRequest (or CreateApplicationRequest: field 1 either way)
/// whose spec has assemblies `depth` levels deep: ChipSpec.contained_ics
/// (11) holding ContainedIntegratedCircuit.spec (1), two messages a level.
fn nested(depth: usize) -> Vec<u8> {
    let mut spec: Vec<u8> = Vec::new();
    for _ in 0..depth {
        spec = field(11, &field(1, &spec));
    }
    field(1, &spec)
}

/// (what, body): bodies no message decodes from.
fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        // field 1 (a message or string in every request), length 4, 2 bytes.
        ("truncated field", vec![0x0a, 0x04, 0x41, 0x42]),
        ("truncated varint", vec![0x08, 0xff]),
        // field 1 with wire type 7, which does not exist.
        ("invalid wire type", vec![0x0f, 0x00]),
        // field 0
        ("tag zero", vec![0x00, 0x01]),
        ("60 levels of assemblies", nested(60)),
    ]
}

fn assert_malformed(what: &str, status: &Status) {
    assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("{what}: no ErrorInfo"));
    assert_eq!(info.reason, "MALFORMED_MESSAGE", "{what}");
    assert!(details.bad_request().is_some(), "{what}: no BadRequest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_invalid_arguments_and_authentication_comes_first() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let classifier = classifier_svc::serve(listener, ServeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = review_svc::ReviewSettings {
        database_url: format!("sqlite://{}", dir.path().join("review.db").display()),
        classifier: ClassifierClient::connect_lazy(
            &format!("http://{}", classifier.local_addr),
            None,
            RetryPolicy::default(),
        )
        .unwrap(),
        authenticator: Authenticator::development().0,
        day_length: chrono::Duration::days(1),
        sweep_interval: std::time::Duration::from_secs(1),
        classification_retry_interval: std::time::Duration::from_secs(1),
        clock: Arc::new(review_svc::clock::SystemClock),
        audit_key_file: None,
        max_watches_per_principal: review_svc::DEFAULT_MAX_WATCHES_PER_PRINCIPAL,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let review = review_svc::serve(listener, settings, ServeOptions::default())
        .await
        .unwrap();
    let review_addr = review.server.local_addr;

    // Strings that are not UTF-8: ClassifyItemRequest.catalog_chip (2),
    // CreateApplicationRequest.application (1).name (1).
    let status = send(
        classifier.local_addr,
        "/exportcontrol.classifier.v1.ClassifierService/ClassifyItem",
        field(2, &[0xff, 0xfe]),
        None,
    )
    .await;
    assert_malformed("classifier: invalid UTF-8", &status);
    let utf8 = ("invalid UTF-8", field(1, &field(1, &[0xff, 0xfe])));
    for (what, body) in malformed().iter().chain([&utf8]) {
        if what != &"invalid UTF-8" {
            let status = send(
                classifier.local_addr,
                "/exportcontrol.classifier.v1.ClassifierService/ClassifyItem",
                body.clone(),
                None,
            )
            .await;
            assert_malformed(&format!("classifier: {what}"), &status);
        }
        let path = "/exportcontrol.review.v1.ReviewService/CreateApplication";
        let status = send(
            review_addr,
            path,
            body.clone(),
            Some("Bearer dev-applicant"),
        )
        .await;
        assert_malformed(&format!("review: {what}"), &status);
        let status = send(review_addr, path, body.clone(), None).await;
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
        let status = send(
            review_addr,
            path,
            body.clone(),
            Some("Bearer no-such-token"),
        )
        .await;
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
    }
}
