//! OpenTelemetry export: both services started with `--otlp-endpoint`
//! pointing at a fake OTLP/gRPC collector; one filing must arrive there as
//! one trace, the classifier's span parented on review-svc's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use system_tests::{free_port, h200_to_china, start_classifier_with, start_review};

/// One span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
}

/// Stores every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut stored = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(|attribute| attribute.value.as_ref()?.value.as_ref())
                .map(|value| match value {
                    Value::StringValue(name) => name.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for span in resource_spans
                .scope_spans
                .into_iter()
                .flat_map(|scope| scope.spans)
            {
                stored.push(Received {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn start_collector() -> (Collector, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let collector = Collector::default();
    let service = TraceServiceServer::new(collector.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (collector, url)
}

#[tokio::test]
async fn spans_of_both_services_are_exported_as_one_trace() {
    let (collector, collector_url) = start_collector().await;
    let data = tempfile::tempdir().unwrap();
    // Both without shutdown grace (the harness's default), exporting to the
    // collector.
    let endpoint = vec!["--otlp-endpoint".to_owned(), collector_url.clone()];
    let mut classifier =
        start_classifier_with(free_port().unwrap(), data.path(), endpoint.clone()).await;
    let review_flags = endpoint;
    let mut review = start_review(
        data.path(),
        "review.log",
        &classifier.url(),
        review_flags,
        Vec::new(),
    )
    .await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span_id = "00f067aa0ba902b7";
    let mut client = ReviewServiceClient::connect(review.url()).await.unwrap();
    for traceparent in [Some(format!("00-{trace_id}-{caller_span_id}-01")), None] {
        let mut request = tonic::Request::new(h200_to_china(1));
        request
            .metadata_mut()
            .insert("authorization", "Bearer dev-applicant".parse().unwrap());
        if let Some(traceparent) = traceparent {
            request
                .metadata_mut()
                .insert("traceparent", traceparent.parse().unwrap());
        }
        request.set_timeout(Duration::from_secs(10));
        let app = client
            .create_application(request)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            app.classifications.len(),
            1,
            "classified at filing: {app:?}"
        );
    }
    drop(client);

    // SIGTERM: each flushes its buffered spans before it exits.
    review.terminate(Duration::from_secs(20)).await.unwrap();
    classifier.terminate(Duration::from_secs(20)).await.unwrap();

    let spans = collector.spans.lock().unwrap().clone();
    let find = |service: &str, name: &str, parent: &dyn Fn(&str) -> bool| {
        spans
            .iter()
            .find(|span| {
                span.service == service && span.name == name && parent(&span.parent_span_id)
            })
            .unwrap_or_else(|| panic!("no {service} span {name:?} with that parent: {spans:#?}"))
            .clone()
    };

    // Filed with the caller's traceparent: its trace, under its span.
    let filing = find("review-svc", "CreateApplication", &|parent| {
        parent == caller_span_id
    });
    assert_eq!(filing.trace_id, trace_id, "{spans:#?}");
    let classify = find("classifier-svc", "classify", &|parent| {
        parent == filing.span_id
    });
    assert_eq!(classify.trace_id, trace_id, "{spans:#?}");

    // Filed without one: a new trace, rooted at review-svc, whose id is the
    // one review-svc logged.
    let root = find("review-svc", "CreateApplication", &|parent| {
        parent.is_empty()
    });
    assert_ne!(root.trace_id, trace_id);
    let root_classify = find("classifier-svc", "classify", &|parent| {
        parent == root.span_id
    });
    assert_eq!(root_classify.trace_id, root.trace_id, "{spans:#?}");
    let review_log = std::fs::read_to_string(data.path().join("review.log")).unwrap();
    assert!(review_log.contains(&root.trace_id), "{review_log}");

    for span in &spans {
        assert!(
            span.trace_id == trace_id || span.trace_id == root.trace_id,
            "a span outside the two filings' traces: {spans:#?}"
        );
    }
}
