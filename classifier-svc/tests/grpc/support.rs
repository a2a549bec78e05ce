//! What every test shares: the real server on an ephemeral port with a
//! client, request builders, and checks of answers and refusals.

pub use std::collections::HashSet;
pub use std::time::Duration;

pub use exportcontrol_proto::classifier::v1 as pb;
pub use pb::classifier_service_client::ClassifierServiceClient;
pub use prost::Message;
pub use service_kit::server::{RunningServer, ServeOptions};
pub use tokio::net::TcpListener;
pub use tokio::time::timeout;
pub use tonic::transport::{Channel, Endpoint};
pub use tonic::{Code, Status};
pub use tonic_health::pb::health_check_response::ServingStatus;
pub use tonic_health::pb::health_client::HealthClient;
pub use tonic_health::pb::HealthCheckRequest;
pub use tonic_types::StatusExt;

pub const SERVICE: &str = "exportcontrol.classifier.v1.ClassifierService";
pub const ERROR_DOMAIN: &str = "classifier.exportcontrol";
pub const BAD_REQUEST_URL: &str = "type.googleapis.com/google.rpc.BadRequest";
pub const ERROR_INFO_URL: &str = "type.googleapis.com/google.rpc.ErrorInfo";
/// Upper bound for any one call or shutdown, so a hang fails instead of stalling.
pub const LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// The next message of `stream`, which must come within [`LIMIT`]: `None`
/// once the stream has ended, or the status it failed with.
pub async fn next_message<T>(stream: &mut tonic::Streaming<T>) -> Result<Option<T>, Status> {
    timeout(LIMIT, stream.message())
        .await
        .expect("the stream answers in time")
}

/// The next message of `stream`, which must be one: a failed or ended
/// stream panics, naming `what` was awaited.
pub async fn expect_message<T>(stream: &mut tonic::Streaming<T>, what: &str) -> T {
    next_message(stream)
        .await
        .unwrap_or_else(|status| panic!("{what}: {status:?}"))
        .unwrap_or_else(|| panic!("{what}: the stream ended"))
}

/// The real server on an ephemeral port and a client connected to it.
pub struct TestServer {
    pub server: RunningServer,
    pub channel: Channel,
}

pub async fn spawn() -> TestServer {
    spawn_with(ServeOptions::default()).await
}

pub async fn spawn_with(options: ServeOptions) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let server = classifier_svc::serve(listener, options)
        .await
        .expect("server starts");
    let channel = connect(&server).await.expect("client connects");
    TestServer { server, channel }
}

pub async fn connect(server: &RunningServer) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("http://{}", server.local_addr))
        .expect("valid address")
        .connect_timeout(LIMIT)
        .timeout(LIMIT)
        .connect()
        .await
}

impl TestServer {
    pub fn client(&self) -> ClassifierServiceClient<Channel> {
        ClassifierServiceClient::new(self.channel.clone())
    }

    pub fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel.clone())
    }

    pub async fn health_status(&self, service: &str) -> ServingStatus {
        let response = self
            .health()
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|status| panic!("health check {service:?}: {status:?}"));
        ServingStatus::try_from(response.into_inner().status).expect("known serving status")
    }

    pub async fn stop(self) {
        let TestServer { server, channel } = self;
        drop(channel);
        timeout(LIMIT, server.shutdown())
            .await
            .expect("server stops in time")
            .expect("server stops cleanly");
    }
}

// ---------------------------------------------------------------------------
// Request builders
// ---------------------------------------------------------------------------

/// The H200 from the catalogue, in `transaction` on `as_of`.
pub fn h200(transaction: pb::Transaction, as_of: &str) -> pb::ClassifyItemRequest {
    catalogue("H200", Some(transaction), as_of)
}

/// The headline: the H200 exported to China on 2026-02-01.
pub fn h200_to_china() -> pb::ClassifyItemRequest {
    h200(export_to("CN"), "2026-02-01")
}

pub fn catalogue(
    name: &str,
    transaction: Option<pb::Transaction>,
    as_of: &str,
) -> pb::ClassifyItemRequest {
    pb::ClassifyItemRequest {
        item: Some(pb::classify_item_request::Item::CatalogChip(
            name.to_owned(),
        )),
        transaction,
        as_of: as_of.to_owned(),
        ..Default::default()
    }
}

pub fn with_spec(
    spec: pb::ChipSpec,
    transaction: Option<pb::Transaction>,
    as_of: &str,
) -> pb::ClassifyItemRequest {
    pb::ClassifyItemRequest {
        item: Some(pb::classify_item_request::Item::Spec(spec)),
        transaction,
        as_of: as_of.to_owned(),
        ..Default::default()
    }
}

pub fn shipment(destination: &str, export_type: pb::ExportType) -> pb::Transaction {
    pb::Transaction {
        destination_country: destination.to_owned(),
        export_type: export_type as i32,
        ..Default::default()
    }
}

/// An export from the United States.
pub fn export_to(destination: &str) -> pb::Transaction {
    shipment(destination, pb::ExportType::ExportFromUs)
}

/// An export from the United States with both headquarters known.
pub fn export_with_hq(destination: &str, end_user_hq: &str, parent_hq: &str) -> pb::Transaction {
    pb::Transaction {
        end_user_headquarters_country: end_user_hq.to_owned(),
        ultimate_parent_headquarters_country: parent_hq.to_owned(),
        ..export_to(destination)
    }
}

pub fn rate(bit_length: u32, dense_tops: f64) -> pb::ProcessingRate {
    pb::ProcessingRate {
        bit_length,
        dense_tops,
        format: String::new(),
    }
}

pub fn logic_die(area_mm2: f64) -> pb::Die {
    pb::Die {
        area_mm2,
        non_planar: true,
        ..Default::default()
    }
}

/// An IC with the given TPP (as 8-bit dense TOPS) and, when given, the
/// performance density (through the die area).
pub fn ic(tpp: f64, pd: Option<f64>, market: pb::Market) -> pb::ChipSpec {
    pb::ChipSpec {
        name: format!("test IC, TPP {tpp}"),
        kind: pb::ItemKind::IntegratedCircuit as i32,
        rates: vec![rate(8, tpp / 8.0)],
        dies: pd.map(|pd| vec![logic_die(tpp / pd)]).unwrap_or_default(),
        market: market as i32,
        ..Default::default()
    }
}

pub fn datacenter(tpp: f64, pd: Option<f64>) -> pb::ChipSpec {
    ic(tpp, pd, pb::Market::Datacenter)
}

/// An H100-class 3A090.a.1 part (TPP 15,831.2 on 814 mm2).
pub fn a1_part() -> pb::ChipSpec {
    pb::ChipSpec {
        name: "H100-class".to_owned(),
        rates: vec![rate(8, 1978.9)],
        dies: vec![logic_die(814.0)],
        market: pb::Market::Datacenter as i32,
        dram_bandwidth_gb_s: 3350.0,
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------
// Response checks
// ---------------------------------------------------------------------------

pub fn classification(response: &pb::ClassifyItemResponse) -> &pb::Classification {
    response
        .classification
        .as_ref()
        .expect("classification is set")
}

pub fn licence(response: &pb::ClassifyItemResponse) -> &pb::LicenseDetermination {
    response
        .license
        .as_ref()
        .expect("licence determination is set")
}

pub fn control_status(response: &pb::ClassifyItemResponse) -> pb::ControlStatus {
    pb::ControlStatus::try_from(classification(response).status).expect("known control status")
}

pub fn review_policy(response: &pb::ClassifyItemResponse) -> pb::ReviewPolicy {
    pb::ReviewPolicy::try_from(licence(response).review_policy).expect("known review policy")
}

pub fn licence_status(response: &pb::ClassifyItemResponse) -> pb::LicenseStatus {
    pb::LicenseStatus::try_from(licence(response).status).expect("known licence status")
}

pub fn assert_cited(findings: &[pb::Finding], what: &str) {
    for finding in findings {
        assert!(
            !finding.rule_id.is_empty(),
            "{what}: finding without rule id: {finding:?}"
        );
        assert!(
            !finding.citation.is_empty(),
            "{what}: finding without citation: {finding:?}"
        );
    }
}

pub fn assert_every_finding_cited(response: &pb::ClassifyItemResponse) {
    let c = classification(response);
    assert!(!c.findings.is_empty(), "classification has findings");
    assert_cited(&c.findings, "classification");
    if let Some(l) = &response.license {
        assert!(!l.reasons.is_empty(), "licence has reasons");
        assert_cited(&l.reasons, "licence reasons");
        assert_cited(&l.reported_requirements, "reported requirements");
    }
    assert_cited(&response.information, "information");
}

pub fn assert_decision_id(response: &pb::ClassifyItemResponse) {
    uuid::Uuid::parse_str(&response.decision_id)
        .unwrap_or_else(|e| panic!("decision_id {:?} is not a UUID: {e}", response.decision_id));
}

/// What an error says, read from its details only (never from its message).
#[derive(Debug)]
pub struct Refusal {
    pub code: Code,
    pub reason: String,
    pub domain: String,
    pub metadata: std::collections::HashMap<String, String>,
    pub fields: Vec<String>,
    /// Each field violation's reason, in the order of `fields`.
    pub field_reasons: Vec<String>,
}

impl Refusal {
    /// From a unary call's status (details in `grpc-status-details-bin`).
    pub fn of_status(status: &Status) -> Self {
        let details = status.get_error_details();
        let info = details.error_info();
        Refusal {
            code: status.code(),
            reason: info.map(|i| i.reason.clone()).unwrap_or_default(),
            domain: info.map(|i| i.domain.clone()).unwrap_or_default(),
            metadata: info.map(|i| i.metadata.clone()).unwrap_or_default(),
            fields: details
                .bad_request()
                .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
                .unwrap_or_default(),
            field_reasons: details
                .bad_request()
                .map(|b| {
                    b.field_violations
                        .iter()
                        .map(|v| v.reason.clone())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// From the `google.rpc.Status` a stream carries inline, decoding its
    /// `Any` details with prost.
    pub fn of_rpc_status(status: &tonic_types::pb::Status) -> Self {
        let mut refusal = Refusal {
            code: Code::from_i32(status.code),
            reason: String::new(),
            domain: String::new(),
            metadata: Default::default(),
            fields: Vec::new(),
            field_reasons: Vec::new(),
        };
        for any in &status.details {
            match any.type_url.as_str() {
                ERROR_INFO_URL => {
                    let info = tonic_types::pb::ErrorInfo::decode(any.value.as_slice())
                        .expect("ErrorInfo decodes");
                    refusal.reason = info.reason;
                    refusal.domain = info.domain;
                    refusal.metadata = info.metadata;
                }
                BAD_REQUEST_URL => {
                    let bad = tonic_types::pb::BadRequest::decode(any.value.as_slice())
                        .expect("BadRequest decodes");
                    (refusal.fields, refusal.field_reasons) = bad
                        .field_violations
                        .into_iter()
                        .map(|v| (v.field, v.reason))
                        .unzip();
                }
                other => panic!("unexpected detail type {other}"),
            }
        }
        refusal
    }

    pub fn assert_names(&self, code: Code, field: &str, context: &str) {
        assert_eq!(self.code, code, "{context}: {self:?}");
        assert!(
            self.fields.iter().any(|f| f == field),
            "{context}: no violation for {field:?} in {self:?}"
        );
        assert_eq!(self.domain, ERROR_DOMAIN, "{context}: {self:?}");
        assert!(
            is_upper_snake(&self.reason),
            "{context}: reason {:?}",
            self.reason
        );
    }
}

pub fn is_upper_snake(reason: &str) -> bool {
    reason.starts_with(|c: char| c.is_ascii_uppercase())
        && reason
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

/// ClassifyItem, which must be answered; a refusal fails the test with the
/// request and its status.
pub async fn classified(
    client: &mut ClassifierServiceClient<Channel>,
    request: pb::ClassifyItemRequest,
) -> pb::ClassifyItemResponse {
    let asked = format!("{request:?}");
    client
        .classify_item(request)
        .await
        .unwrap_or_else(|status| panic!("ClassifyItem {asked}: {status:?}"))
        .into_inner()
}

/// ClassifyItem, which must be refused: the refusal's status.
pub async fn refused(
    client: &mut ClassifierServiceClient<Channel>,
    request: pb::ClassifyItemRequest,
) -> Status {
    let asked = format!("{request:?}");
    match client.classify_item(request).await {
        Ok(answer) => panic!("ClassifyItem {asked} answered: {answer:?}"),
        Err(status) => status,
    }
}
