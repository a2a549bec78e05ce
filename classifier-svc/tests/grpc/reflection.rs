//! Reflection: what grpcurl needs without proto files.

use crate::support::*;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1alpha;

async fn try_ask(channel: &Channel, request: MessageRequest) -> Result<MessageResponse, Status> {
    let mut responses = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::once(ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        }))
        .await?
        .into_inner();
    let response = responses.message().await?.expect("one response");
    Ok(response.message_response.expect("message response"))
}

async fn ask(channel: &Channel, request: MessageRequest) -> MessageResponse {
    try_ask(channel, request).await.expect("reflection answer")
}

fn files(response: MessageResponse) -> Vec<prost_types::FileDescriptorProto> {
    match response {
        MessageResponse::FileDescriptorResponse(files) => files
            .file_descriptor_proto
            .iter()
            .map(|bytes| {
                prost_types::FileDescriptorProto::decode(bytes.as_slice())
                    .expect("descriptor decodes")
            })
            .collect(),
        other => panic!("expected file descriptors, got {other:?}"),
    }
}

fn defines(files: &[prost_types::FileDescriptorProto], package: &str, message: &str) -> bool {
    files
        .iter()
        .filter(|f| f.package() == package)
        .any(|f| f.message_type.iter().any(|m| m.name() == message))
}

/// The listed services include ours, health, and reflection at `version`.
fn assert_lists(services: impl Iterator<Item = String>, version: &str) {
    let services = services.collect::<HashSet<_>>();
    let reflection = format!("grpc.reflection.{version}.ServerReflection");
    for service in [SERVICE, "grpc.health.v1.Health", reflection.as_str()] {
        assert!(services.contains(service), "{service} in {services:?}");
    }
}

#[tokio::test]
async fn v1_lists_services_and_resolves_error_details() {
    let app = spawn().await;
    match ask(&app.channel, MessageRequest::ListServices(String::new())).await {
        MessageResponse::ListServicesResponse(list) => {
            assert_lists(list.service.into_iter().map(|s| s.name), "v1")
        }
        other => panic!("expected a service list, got {other:?}"),
    }

    for (symbol, package, message) in [
        ("google.rpc.BadRequest", "google.rpc", "BadRequest"),
        ("google.rpc.ErrorInfo", "google.rpc", "ErrorInfo"),
        ("google.rpc.Status", "google.rpc", "Status"),
    ] {
        let found = files(
            ask(
                &app.channel,
                MessageRequest::FileContainingSymbol(symbol.into()),
            )
            .await,
        );
        assert!(defines(&found, package, message), "{symbol} resolved");
    }
    let service_files = files(
        ask(
            &app.channel,
            MessageRequest::FileContainingSymbol(SERVICE.into()),
        )
        .await,
    );
    let classifier = service_files
        .iter()
        .find(|f| f.package() == "exportcontrol.classifier.v1")
        .expect("the classifier file");
    assert!(classifier
        .service
        .iter()
        .any(|s| s.name() == "ClassifierService"));
    assert!(classifier
        .dependency
        .iter()
        .any(|d| d == "google/rpc/error_details.proto"));

    // tonic-reflection ends the stream with NOT_FOUND for an unknown symbol.
    let unknown = try_ask(
        &app.channel,
        MessageRequest::FileContainingSymbol("no.such.Symbol".into()),
    )
    .await
    .expect_err("unknown symbol");
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    app.stop().await;
}

#[tokio::test]
async fn v1alpha_lists_services() {
    use v1alpha::server_reflection_client::ServerReflectionClient;
    use v1alpha::server_reflection_request::MessageRequest;
    use v1alpha::server_reflection_response::MessageResponse;
    let app = spawn().await;
    let mut responses = ServerReflectionClient::new(app.channel.clone())
        .server_reflection_info(tokio_stream::once(v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }))
        .await
        .expect("reflection stream")
        .into_inner();
    let response = expect_message(&mut responses, "answer").await;
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            assert_lists(list.service.into_iter().map(|s| s.name), "v1alpha")
        }
        other => panic!("expected a service list, got {other:?}"),
    }
    app.stop().await;
}
