//! Integration tests for classifier-svc: each test starts the real server
//! (classifier, health and reflection) on `127.0.0.1:0` and talks to it with
//! a real tonic client over TCP, the way a caller or grpcurl would.

use std::collections::HashSet;
use std::time::Duration;

use exportcontrol_proto::classifier::v1 as pb;
use pb::classifier_service_client::ClassifierServiceClient;
use prost::Message;
use service_kit::server::{RunningServer, ServeOptions};
use tokio::net::TcpListener;
use tokio::time::timeout;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_types::StatusExt;

const SERVICE: &str = "exportcontrol.classifier.v1.ClassifierService";
const ERROR_DOMAIN: &str = "classifier.exportcontrol";
const BAD_REQUEST_URL: &str = "type.googleapis.com/google.rpc.BadRequest";
const ERROR_INFO_URL: &str = "type.googleapis.com/google.rpc.ErrorInfo";
/// Upper bound for any one call or shutdown, so a hang fails instead of stalling.
const LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// The real server on an ephemeral port and a client connected to it.
struct TestServer {
    server: RunningServer,
    channel: Channel,
}

async fn spawn() -> TestServer {
    spawn_with(ServeOptions::default()).await
}

async fn spawn_with(options: ServeOptions) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let server = classifier_svc::serve(listener, options)
        .await
        .expect("server starts");
    let channel = connect(&server).await.expect("client connects");
    TestServer { server, channel }
}

async fn connect(server: &RunningServer) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("http://{}", server.local_addr))
        .expect("valid address")
        .connect_timeout(LIMIT)
        .timeout(LIMIT)
        .connect()
        .await
}

impl TestServer {
    fn client(&self) -> ClassifierServiceClient<Channel> {
        ClassifierServiceClient::new(self.channel.clone())
    }

    fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel.clone())
    }

    async fn health_status(&self, service: &str) -> ServingStatus {
        let response = self
            .health()
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|status| panic!("health check {service:?}: {status:?}"));
        ServingStatus::try_from(response.into_inner().status).expect("known serving status")
    }

    async fn stop(self) {
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

fn catalogue(
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

fn with_spec(
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

fn shipment(destination: &str, export_type: pb::ExportType) -> pb::Transaction {
    pb::Transaction {
        destination_country: destination.to_owned(),
        export_type: export_type as i32,
        ..Default::default()
    }
}

/// An export from the United States.
fn export_to(destination: &str) -> pb::Transaction {
    shipment(destination, pb::ExportType::ExportFromUs)
}

/// An export from the United States with both headquarters known.
fn export_with_hq(destination: &str, end_user_hq: &str, parent_hq: &str) -> pb::Transaction {
    pb::Transaction {
        end_user_headquarters_country: end_user_hq.to_owned(),
        ultimate_parent_headquarters_country: parent_hq.to_owned(),
        ..export_to(destination)
    }
}

fn rate(bit_length: u32, dense_tops: f64) -> pb::ProcessingRate {
    pb::ProcessingRate {
        bit_length,
        dense_tops,
        format: String::new(),
    }
}

fn logic_die(area_mm2: f64) -> pb::Die {
    pb::Die {
        area_mm2,
        non_planar: true,
        ..Default::default()
    }
}

/// An IC with the given TPP (as 8-bit dense TOPS) and, when given, the
/// performance density (through the die area).
fn ic(tpp: f64, pd: Option<f64>, market: pb::Market) -> pb::ChipSpec {
    pb::ChipSpec {
        name: format!("test IC, TPP {tpp}"),
        kind: pb::ItemKind::IntegratedCircuit as i32,
        rates: vec![rate(8, tpp / 8.0)],
        dies: pd.map(|pd| vec![logic_die(tpp / pd)]).unwrap_or_default(),
        market: market as i32,
        ..Default::default()
    }
}

fn datacenter(tpp: f64, pd: Option<f64>) -> pb::ChipSpec {
    ic(tpp, pd, pb::Market::Datacenter)
}

/// An H100-class 3A090.a.1 part (TPP 15,831.2 on 814 mm2).
fn a1_part() -> pb::ChipSpec {
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

fn classification(response: &pb::ClassifyItemResponse) -> &pb::Classification {
    response
        .classification
        .as_ref()
        .expect("classification is set")
}

fn licence(response: &pb::ClassifyItemResponse) -> &pb::LicenseDetermination {
    response
        .license
        .as_ref()
        .expect("licence determination is set")
}

fn control_status(response: &pb::ClassifyItemResponse) -> pb::ControlStatus {
    pb::ControlStatus::try_from(classification(response).status).expect("known control status")
}

fn review_policy(response: &pb::ClassifyItemResponse) -> pb::ReviewPolicy {
    pb::ReviewPolicy::try_from(licence(response).review_policy).expect("known review policy")
}

fn licence_status(response: &pb::ClassifyItemResponse) -> pb::LicenseStatus {
    pb::LicenseStatus::try_from(licence(response).status).expect("known licence status")
}

fn assert_cited(findings: &[pb::Finding], what: &str) {
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

fn assert_every_finding_cited(response: &pb::ClassifyItemResponse) {
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

fn assert_decision_id(response: &pb::ClassifyItemResponse) {
    uuid::Uuid::parse_str(&response.decision_id)
        .unwrap_or_else(|e| panic!("decision_id {:?} is not a UUID: {e}", response.decision_id));
}

/// What an error says, read from its details only (never from its message).
#[derive(Debug)]
struct Refusal {
    code: Code,
    reason: String,
    domain: String,
    fields: Vec<String>,
}

impl Refusal {
    /// From a unary call's status (details in `grpc-status-details-bin`).
    fn of_status(status: &Status) -> Self {
        let details = status.get_error_details();
        let info = details.error_info();
        Refusal {
            code: status.code(),
            reason: info.map(|i| i.reason.clone()).unwrap_or_default(),
            domain: info.map(|i| i.domain.clone()).unwrap_or_default(),
            fields: details
                .bad_request()
                .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
                .unwrap_or_default(),
        }
    }

    /// From the `google.rpc.Status` a stream carries inline, decoding its
    /// `Any` details with prost.
    fn of_rpc_status(status: &tonic_types::pb::Status) -> Self {
        let mut refusal = Refusal {
            code: Code::from_i32(status.code),
            reason: String::new(),
            domain: String::new(),
            fields: Vec::new(),
        };
        for any in &status.details {
            match any.type_url.as_str() {
                ERROR_INFO_URL => {
                    let info = tonic_types::pb::ErrorInfo::decode(any.value.as_slice())
                        .expect("ErrorInfo decodes");
                    refusal.reason = info.reason;
                    refusal.domain = info.domain;
                }
                BAD_REQUEST_URL => {
                    let bad = tonic_types::pb::BadRequest::decode(any.value.as_slice())
                        .expect("BadRequest decodes");
                    refusal.fields = bad.field_violations.into_iter().map(|v| v.field).collect();
                }
                other => panic!("unexpected detail type {other}"),
            }
        }
        refusal
    }

    fn assert_names(&self, code: Code, field: &str, context: &str) {
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

fn is_upper_snake(reason: &str) -> bool {
    reason.starts_with(|c: char| c.is_ascii_uppercase())
        && reason
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

// ---------------------------------------------------------------------------
// 1. The headline: the H200 to China
// ---------------------------------------------------------------------------

#[tokio::test]
async fn h200_to_china_under_the_january_2026_overlay() {
    let app = spawn().await;
    let mut client = app.client();

    let response = client
        .classify_item(catalogue("H200", Some(export_to("CN")), "2026-02-01"))
        .await
        .expect("classified")
        .into_inner();
    let c = classification(&response);
    assert_eq!(control_status(&response), pb::ControlStatus::Controlled);
    assert_eq!(c.eccn, "3A090.a");
    assert_eq!(c.paragraph, "3A090.a.1");
    assert!(
        c.paragraphs_met.iter().any(|p| p == "3A090.a.1"),
        "{:?}",
        c.paragraphs_met
    );
    assert!((c.tpp - 15_832.0).abs() <= 1.0, "tpp {}", c.tpp);
    assert_eq!(c.tpp_bit_length, 8);
    let pd = c.performance_density.expect("performance density known");
    assert!((pd - 19.4).abs() <= 0.1, "performance density {pd}");
    assert!(!c.tpp_by_precision.is_empty());

    let l = licence(&response);
    assert!(l.license_required);
    assert_eq!(licence_status(&response), pb::LicenseStatus::Required);
    assert_eq!(review_policy(&response), pb::ReviewPolicy::CaseByCase);
    assert!(
        !l.conditions.is_empty(),
        "the overlay comes with conditions"
    );
    assert_eq!(l.normalized_destination, "CN");
    assert_eq!(response.rule_set, "V2026a");
    assert_eq!(response.as_of, "2026-02-01");
    assert!(!response.item_name.is_empty());
    assert!(
        !response.not_evaluated.is_empty(),
        "answers list what was not screened"
    );
    assert_eq!(response.index, 0);
    assert!(response.error.is_none());
    assert_decision_id(&response);
    assert_every_finding_cited(&response);

    // A second identical request is a new decision.
    let again = client
        .classify_item(catalogue("H200", Some(export_to("CN")), "2026-02-01"))
        .await
        .expect("classified")
        .into_inner();
    assert_ne!(again.decision_id, response.decision_id);

    // Before the overlay: the rule set of that date, presumption of denial.
    let mid_2025 = client
        .classify_item(catalogue("H200", Some(export_to("CN")), "2025-06-01"))
        .await
        .expect("classified")
        .into_inner();
    assert_eq!(mid_2025.rule_set, "V2025b");
    assert_eq!(classification(&mid_2025).paragraph, "3A090.a.1");
    assert!(licence(&mid_2025).license_required);
    assert_eq!(
        review_policy(&mid_2025),
        pb::ReviewPolicy::PresumptionOfDenial
    );
    assert_every_finding_cited(&mid_2025);

    // A reexport stays at denial under the overlay.
    let reexport = client
        .classify_item(catalogue(
            "H200",
            Some(shipment("CN", pb::ExportType::Reexport)),
            "2026-02-01",
        ))
        .await
        .expect("classified")
        .into_inner();
    assert_eq!(reexport.rule_set, "V2026a");
    assert!(licence(&reexport).license_required);
    assert_eq!(
        review_policy(&reexport),
        pb::ReviewPolicy::PresumptionOfDenial
    );
    assert_every_finding_cited(&reexport);

    // Hong Kong is China.
    let hong_kong = client
        .classify_item(catalogue("H200", Some(export_to("HK")), "2026-02-01"))
        .await
        .expect("classified")
        .into_inner();
    assert_eq!(licence(&hong_kong).normalized_destination, "CN");
    assert!(licence(&hong_kong).license_required);
    assert_eq!(review_policy(&hong_kong), pb::ReviewPolicy::CaseByCase);
    assert_eq!(licence(&hong_kong).conditions, l.conditions);

    // Without a transaction only the classification is answered.
    let bare = client
        .classify_item(catalogue("chips/h200", None, "2026-02-01"))
        .await
        .expect("classified")
        .into_inner();
    assert!(bare.license.is_none());
    assert_eq!(classification(&bare).paragraph, "3A090.a.1");

    app.stop().await;
}

// ---------------------------------------------------------------------------
// 2. Reference section 8 scenarios, with specifications over the wire
// ---------------------------------------------------------------------------

struct Scenario {
    /// Row of the reference's section 8 table (with a variant note).
    label: &'static str,
    spec: pb::ChipSpec,
    transaction: Option<pb::Transaction>,
    as_of: &'static str,
    status: pb::ControlStatus,
    /// Expected most specific paragraph ("" = none).
    paragraph: &'static str,
    /// Expected licence status and review policy when a transaction is given.
    licence: Option<(pb::LicenseStatus, pb::ReviewPolicy)>,
}

fn scenarios() -> Vec<Scenario> {
    use pb::ControlStatus::{Controlled, Indeterminate, NotControlled};
    use pb::LicenseStatus::{NotRequired, Required};
    use pb::ReviewPolicy::{NotApplicable, PresumptionOfApproval, PresumptionOfDenial};
    let a100_class = || pb::ChipSpec {
        interconnect_bandwidth_gb_s: 400.0,
        ..datacenter(4992.0, Some(6.04))
    };
    vec![
        Scenario {
            label: "1",
            spec: pb::ChipSpec {
                rates: vec![pb::ProcessingRate {
                    format: "INT8".to_owned(),
                    ..rate(8, 600.0)
                }],
                ..datacenter(4800.0, None)
            },
            transaction: None,
            as_of: "2024-01-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: None,
        },
        Scenario {
            label: "4",
            spec: ic(4700.0, Some(7.7), pb::Market::NonDatacenter),
            transaction: None,
            as_of: "2026-02-01",
            status: NotControlled,
            paragraph: "",
            licence: None,
        },
        Scenario {
            label: "5",
            spec: ic(5285.0, None, pb::Market::NonDatacenter),
            transaction: None,
            as_of: "2026-02-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: None,
        },
        Scenario {
            label: "6",
            spec: datacenter(2600.0, Some(3.0)),
            transaction: None,
            as_of: "2026-02-01",
            status: Controlled,
            paragraph: "3A090.b.1",
            licence: None,
        },
        Scenario {
            label: "9",
            spec: datacenter(2000.0, None),
            transaction: None,
            as_of: "2026-02-01",
            status: Indeterminate,
            paragraph: "",
            licence: None,
        },
        Scenario {
            label: "10",
            spec: a100_class(),
            transaction: None,
            as_of: "2023-06-01",
            status: NotControlled,
            paragraph: "",
            licence: None,
        },
        Scenario {
            label: "11",
            spec: a100_class(),
            transaction: None,
            as_of: "2024-01-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: None,
        },
        Scenario {
            label: "16",
            spec: pb::ChipSpec {
                dram_bandwidth_gb_s: 8000.0,
                us_commercially_available_2026_01_15: Some(true),
                ..datacenter(36_000.0, Some(36_000.0 / 1600.0))
            },
            transaction: Some(export_with_hq("CN", "CN", "CN")),
            as_of: "2026-02-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: Some((Required, PresumptionOfDenial)),
        },
        Scenario {
            label: "17",
            spec: a1_part(),
            transaction: Some(export_with_hq("DE", "DE", "DE")),
            as_of: "2026-02-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: Some((NotRequired, NotApplicable)),
        },
        Scenario {
            label: "18",
            spec: a1_part(),
            transaction: Some(export_with_hq("DE", "DE", "CN")),
            as_of: "2026-02-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: Some((Required, PresumptionOfDenial)),
        },
        Scenario {
            label: "19",
            spec: a1_part(),
            transaction: Some(export_with_hq("SA", "SA", "SA")),
            as_of: "2026-02-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: Some((Required, PresumptionOfApproval)),
        },
        Scenario {
            label: "20",
            spec: a1_part(),
            transaction: Some(export_with_hq("IL", "IL", "IL")),
            as_of: "2026-02-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: Some((NotRequired, NotApplicable)),
        },
        // Section 5.2: the HQ rule needs both headquarters; unknown is not "no".
        Scenario {
            label: "17, headquarters unknown",
            spec: a1_part(),
            transaction: Some(export_to("DE")),
            as_of: "2026-02-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: Some((
                pb::LicenseStatus::Indeterminate,
                pb::ReviewPolicy::Indeterminate,
            )),
        },
        Scenario {
            label: "19, headquarters unknown",
            spec: a1_part(),
            transaction: Some(export_to("SA")),
            as_of: "2026-02-01",
            status: Controlled,
            paragraph: "3A090.a.1",
            licence: Some((Required, pb::ReviewPolicy::Indeterminate)),
        },
    ]
}

#[tokio::test]
async fn reference_scenarios_over_the_wire() {
    let app = spawn().await;
    let mut client = app.client();
    for s in scenarios() {
        let context = format!("scenario {}", s.label);
        let response = client
            .classify_item(with_spec(s.spec, s.transaction, s.as_of))
            .await
            .unwrap_or_else(|status| panic!("{context}: {status:?}"))
            .into_inner();
        let c = classification(&response);
        assert_eq!(control_status(&response), s.status, "{context}: {c:#?}");
        assert_eq!(c.paragraph, s.paragraph, "{context}");
        assert_eq!(response.as_of, s.as_of, "{context}");
        assert_every_finding_cited(&response);
        match s.licence {
            None => assert!(response.license.is_none(), "{context}"),
            Some((status, policy)) => {
                assert_eq!(licence_status(&response), status, "{context}");
                assert_eq!(review_policy(&response), policy, "{context}");
                let required = status == pb::LicenseStatus::Required;
                assert_eq!(licence(&response).license_required, required, "{context}");
            }
        }
        match s.label {
            "1" => assert_eq!(c.tpp, 4800.0, "{context}: `>=` at exactly 4800"),
            "5" => assert!(
                ["NAC", "ACA"]
                    .iter()
                    .all(|e| c.eligible_license_exceptions.iter().any(|x| x == e)),
                "{context}: {:?}",
                c.eligible_license_exceptions
            ),
            "9" => {
                assert!(c.performance_density.is_none(), "{context}");
                assert!(!c.open_tests.is_empty(), "{context}: names the open test");
            }
            "11" => assert_eq!(c.eccn, "3A090.a", "{context}"),
            _ => {}
        }
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------
// 3. Streaming bulk screening
// ---------------------------------------------------------------------------

/// (position, expected code, expected field) of the invalid items.
const STREAM_INVALID: [(usize, Code, &str); 3] = [
    (37, Code::InvalidArgument, "spec.rates[0].dense_tops"),
    (
        101,
        Code::InvalidArgument,
        "transaction.destination_country",
    ),
    (150, Code::NotFound, "catalog_chip"),
];

fn stream_request(position: usize) -> pb::ClassifyItemRequest {
    match position {
        37 => with_spec(datacenter(f64::NAN, None), None, "2026-02-01"),
        101 => catalogue("H200", Some(export_to("XX")), "2026-02-01"),
        150 => catalogue("no such chip", None, "2026-02-01"),
        p if p.is_multiple_of(2) => catalogue("H200", Some(export_to("CN")), "2026-02-01"),
        p => with_spec(
            datacenter(1000.0 + p as f64 * 40.0, Some(4.0)),
            Some(export_with_hq("DE", "DE", "DE")),
            "2026-02-01",
        ),
    }
}

#[tokio::test]
async fn classify_items_answers_every_request_in_order() {
    const COUNT: usize = 200;
    let app = spawn().await;
    let requests: Vec<_> = (0..COUNT).map(stream_request).collect();
    let mut responses = app
        .client()
        .classify_items(tokio_stream::iter(requests))
        .await
        .expect("stream accepted")
        .into_inner();

    let mut decision_ids = HashSet::new();
    let mut position = 0;
    while let Some(response) = timeout(LIMIT, responses.message())
        .await
        .expect("next response in time")
        .expect("the stream does not fail")
    {
        assert_eq!(response.index, position as u64, "responses come in order");
        match STREAM_INVALID.iter().find(|(p, _, _)| *p == position) {
            Some((_, code, field)) => {
                let error = response.error.as_ref().expect("invalid item has an error");
                Refusal::of_rpc_status(error).assert_names(
                    *code,
                    field,
                    &format!("item {position}"),
                );
                assert!(!error.message.is_empty());
                assert!(response.classification.is_none(), "item {position}");
                assert!(response.decision_id.is_empty(), "item {position}");
            }
            None => {
                assert!(
                    response.error.is_none(),
                    "item {position}: {:?}",
                    response.error
                );
                assert_decision_id(&response);
                assert!(
                    decision_ids.insert(response.decision_id.clone()),
                    "unique ids"
                );
                let expected = if position.is_multiple_of(2) {
                    pb::ReviewPolicy::CaseByCase
                } else {
                    pb::ReviewPolicy::NotApplicable
                };
                assert_eq!(review_policy(&response), expected, "item {position}");
            }
        }
        position += 1;
    }
    assert_eq!(position, COUNT, "exactly one response per request");
    assert_eq!(decision_ids.len(), COUNT - STREAM_INVALID.len());
    app.stop().await;
}

#[tokio::test]
async fn classify_items_answers_before_the_client_half_closes() {
    let app = spawn().await;
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let mut responses = app
        .client()
        .classify_items(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .expect("stream accepted")
        .into_inner();
    for index in 0..3u64 {
        sender
            .send(catalogue("H20", Some(export_to("CN")), "2026-02-01"))
            .await
            .expect("stream open");
        let response = timeout(LIMIT, responses.message())
            .await
            .expect("answered while the stream is open")
            .expect("no error")
            .expect("a response");
        assert_eq!(response.index, index);
        assert_eq!(control_status(&response), pb::ControlStatus::NotControlled);
    }
    drop(sender);
    let end = timeout(LIMIT, responses.message())
        .await
        .expect("ends in time");
    assert!(matches!(end, Ok(None)), "clean end: {end:?}");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// 4. Bad input, table-driven
// ---------------------------------------------------------------------------

enum Call {
    Classify(Box<pb::ClassifyItemRequest>),
    GetChip(&'static str),
    ListChips(pb::ListChipsRequest),
}

struct BadInput {
    name: &'static str,
    call: Call,
    code: Code,
    field: &'static str,
}

/// A valid request (a spec and a transaction) changed by `edit`.
fn classify_edited(edit: impl FnOnce(&mut pb::ClassifyItemRequest)) -> Call {
    let mut request = with_spec(
        pb::ChipSpec {
            rates: vec![rate(8, 600.0), rate(16, 300.0)],
            dies: vec![logic_die(800.0)],
            ..datacenter(4800.0, None)
        },
        Some(export_with_hq("CN", "CN", "CN")),
        "2026-02-01",
    );
    edit(&mut request);
    Call::Classify(Box::new(request))
}

fn spec_of(request: &mut pb::ClassifyItemRequest) -> &mut pb::ChipSpec {
    match request.item.as_mut() {
        Some(pb::classify_item_request::Item::Spec(spec)) => spec,
        _ => unreachable!("the base request has a spec"),
    }
}

fn tx_of(request: &mut pb::ClassifyItemRequest) -> &mut pb::Transaction {
    request
        .transaction
        .as_mut()
        .expect("the base request has a transaction")
}

fn edit_spec(edit: impl FnOnce(&mut pb::ChipSpec)) -> Call {
    classify_edited(|r| edit(spec_of(r)))
}

fn edit_tx(edit: impl FnOnce(&mut pb::Transaction)) -> Call {
    classify_edited(|r| edit(tx_of(r)))
}

fn as_of(date: &'static str) -> Call {
    classify_edited(|r| r.as_of = date.to_owned())
}

#[rustfmt::skip]
fn bad_inputs(token: &str, nvidia_token: &str) -> Vec<BadInput> {
    use Code::{InvalidArgument as Invalid, NotFound};
    let row = |code, field, name, call| BadInput { name, call, code, field };
    let dense_tops = "spec.rates[0].dense_tops";
    let destination = "transaction.destination_country";
    let end_user = "transaction.end_user_headquarters_country";
    let parent = "transaction.ultimate_parent_headquarters_country";
    let list = |page_size: i32, page_token: &str, vendor: &str| {
        Call::ListChips(pb::ListChipsRequest {
            page_size,
            page_token: page_token.to_owned(),
            vendor: vendor.to_owned(),
        })
    };
    let assembly_of = |ic| {
        edit_spec(move |s| {
            s.kind = pb::ItemKind::ComputerOrAssembly as i32;
            s.contained_ics = vec![pb::ContainedIntegratedCircuit { ic, count: 8 }];
        })
    };
    let unknown_chip = || Some(pb::classify_item_request::Item::CatalogChip("H9000".into()));
    let mut tampered = token.to_owned().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii token");

    vec![
        // ClassifyItem: the item and its numbers.
        row(Invalid, "item", "missing item", classify_edited(|r| r.item = None)),
        row(Invalid, dense_tops, "NaN dense_tops", edit_spec(|s| s.rates[0].dense_tops = f64::NAN)),
        row(Invalid, dense_tops, "+inf dense_tops", edit_spec(|s| s.rates[0].dense_tops = f64::INFINITY)),
        row(Invalid, dense_tops, "-inf dense_tops", edit_spec(|s| s.rates[0].dense_tops = f64::NEG_INFINITY)),
        row(Invalid, dense_tops, "negative dense_tops", edit_spec(|s| s.rates[0].dense_tops = -600.0)),
        row(Invalid, dense_tops, "zero dense_tops", edit_spec(|s| s.rates[0].dense_tops = 0.0)),
        row(Invalid, "spec.rates[1].dense_tops", "TPP overflows", edit_spec(|s| s.rates[1].dense_tops = f64::MAX)),
        row(Invalid, "spec.rates[0].bit_length", "bit_length 0", edit_spec(|s| s.rates[0].bit_length = 0)),
        row(Invalid, "spec.rates[1].bit_length", "bit_length 65", edit_spec(|s| s.rates[1].bit_length = 65)),
        row(Invalid, "spec.rates", "no rates", edit_spec(|s| s.rates.clear())),
        row(Invalid, "spec.dies[0].area_mm2", "negative die area", edit_spec(|s| s.dies[0].area_mm2 = -1.0)),
        row(Invalid, "spec.dies[0].area_mm2", "NaN die area", edit_spec(|s| s.dies[0].area_mm2 = f64::NAN)),
        row(Invalid, "spec.dram_bandwidth_gb_s", "negative DRAM bandwidth", edit_spec(|s| s.dram_bandwidth_gb_s = -1.0)),
        row(Invalid, "spec.kind", "unknown ItemKind", edit_spec(|s| s.kind = 99)),
        row(Invalid, "spec.market", "unknown Market", edit_spec(|s| s.market = 99)),
        row(Invalid, "spec.contained_ics[0]", "contained IC without an IC", assembly_of(None)),
        row(Invalid, "spec.name", "name over 200 bytes", edit_spec(|s| s.name = "n".repeat(201))),
        row(Invalid, "spec.rates[1].format", "format over 200 bytes", edit_spec(|s| s.rates[1].format = "F".repeat(201))),
        row(Invalid, "spec.rates", "65 rates", edit_spec(|s| s.rates = vec![rate(8, 1.0); 65])),
        row(NotFound, "catalog_chip", "unknown catalogue chip", classify_edited(|r| r.item = unknown_chip())),
        row(NotFound, "spec.contained_ics[0].catalog_chip", "unknown contained chip",
            assembly_of(Some(pb::contained_integrated_circuit::Ic::CatalogChip("H9000".into())))),
        // ClassifyItem: the transaction.
        row(Invalid, "transaction.export_type", "unknown ExportType", edit_tx(|t| t.export_type = 99)),
        row(Invalid, "transaction.export_type", "missing ExportType", edit_tx(|t| t.export_type = 0)),
        row(Invalid, destination, "destination XX", edit_tx(|t| t.destination_country = "XX".into())),
        row(Invalid, destination, "destination C", edit_tx(|t| t.destination_country = "C".into())),
        row(Invalid, destination, "destination CHN", edit_tx(|t| t.destination_country = "CHN".into())),
        row(Invalid, destination, "destination empty", edit_tx(|t| t.destination_country.clear())),
        row(Invalid, end_user, "end-user HQ XX", edit_tx(|t| t.end_user_headquarters_country = "XX".into())),
        row(Invalid, end_user, "end-user HQ C", edit_tx(|t| t.end_user_headquarters_country = "C".into())),
        row(Invalid, end_user, "end-user HQ CHN", edit_tx(|t| t.end_user_headquarters_country = "CHN".into())),
        row(Invalid, parent, "parent HQ XX", edit_tx(|t| t.ultimate_parent_headquarters_country = "XX".into())),
        row(Invalid, parent, "parent HQ C", edit_tx(|t| t.ultimate_parent_headquarters_country = "C".into())),
        row(Invalid, parent, "parent HQ CHN", edit_tx(|t| t.ultimate_parent_headquarters_country = "CHN".into())),
        // ClassifyItem: the date.
        row(Invalid, "as_of", "as_of month 13", as_of("2026-13-01")),
        row(Invalid, "as_of", "as_of US style", as_of("01/02/2026")),
        row(Invalid, "as_of", "as_of unpadded", as_of("2026-2-1")),
        row(Invalid, "as_of", "as_of 30 February", as_of("2026-02-30")),
        // GetChip.
        row(Invalid, "name", "GetChip empty name", Call::GetChip("")),
        row(NotFound, "name", "GetChip unknown name", Call::GetChip("chips/h9000")),
        // ListChips.
        row(Invalid, "page_size", "negative page_size", list(-1, "", "")),
        row(Invalid, "page_token", "tampered token", list(7, &tampered, "")),
        row(Invalid, "page_token", "garbage token", list(7, "not a token", "")),
        row(Invalid, "page_token", "token of another vendor", list(5, nvidia_token, "AMD")),
        row(Invalid, "page_token", "filtered token, no filter", list(5, nvidia_token, "")),
        row(Invalid, "page_token", "unfiltered token, filter", list(5, token, "nvidia")),
    ]
}

async fn call(client: &mut ClassifierServiceClient<Channel>, call: Call) -> Result<(), Status> {
    match call {
        Call::Classify(request) => client.classify_item(*request).await.map(drop),
        Call::GetChip(name) => client
            .get_chip(pb::GetChipRequest {
                name: name.to_owned(),
            })
            .await
            .map(drop),
        Call::ListChips(request) => client.list_chips(request).await.map(drop),
    }
}

async fn first_page_token(client: &mut ClassifierServiceClient<Channel>, vendor: &str) -> String {
    let page = client
        .list_chips(pb::ListChipsRequest {
            page_size: 5,
            page_token: String::new(),
            vendor: vendor.to_owned(),
        })
        .await
        .expect("first page")
        .into_inner();
    assert!(
        !page.next_page_token.is_empty(),
        "{vendor:?} has a second page"
    );
    page.next_page_token
}

#[tokio::test]
async fn bad_input_is_refused_with_field_violations() {
    let app = spawn().await;
    let mut client = app.client();
    let token = first_page_token(&mut client, "").await;
    let nvidia_token = first_page_token(&mut client, "NVIDIA").await;
    let rows = bad_inputs(&token, &nvidia_token);
    assert!(rows.len() >= 25);
    for row in rows {
        let status = match timeout(LIMIT, call(&mut client, row.call)).await {
            Ok(Ok(())) => panic!("{}: accepted", row.name),
            Ok(Err(status)) => status,
            Err(_) => panic!("{}: no answer in time", row.name),
        };
        assert!(!status.message().is_empty(), "{}: message", row.name);
        Refusal::of_status(&status).assert_names(row.code, row.field, row.name);
    }
    assert_eq!(app.health_status("").await, ServingStatus::Serving);
    assert_eq!(app.health_status(SERVICE).await, ServingStatus::Serving);
    app.stop().await;
}

#[tokio::test]
async fn every_violation_of_a_request_is_reported() {
    let app = spawn().await;
    let request = pb::ClassifyItemRequest {
        item: Some(pb::classify_item_request::Item::Spec(pb::ChipSpec {
            kind: 99,
            ..datacenter(4800.0, None)
        })),
        transaction: Some(pb::Transaction {
            destination_country: "XX".into(),
            end_user_headquarters_country: "CHN".into(),
            export_type: 0,
            ..Default::default()
        }),
        as_of: "2026-2-1".into(),
        ..Default::default()
    };
    let status = app
        .client()
        .classify_item(request)
        .await
        .expect_err("refused");
    let refusal = Refusal::of_status(&status);
    for field in [
        "spec.kind",
        "transaction.destination_country",
        "transaction.end_user_headquarters_country",
        "transaction.export_type",
        "as_of",
    ] {
        refusal.assert_names(Code::InvalidArgument, field, "combined");
    }
    // Problems of different kinds: the reason says so, and names none of them.
    assert_eq!(refusal.reason, "INVALID_FIELDS");
    app.stop().await;
}

#[tokio::test]
async fn accepted_spellings() {
    let app = spawn().await;
    let mut client = app.client();
    // Lower-case country codes are normalised; empty HQ means unknown.
    let lower = client
        .classify_item(catalogue("h200", Some(export_to("hk")), "2026-02-01"))
        .await
        .expect("lower-case codes accepted")
        .into_inner();
    assert_eq!(licence(&lower).normalized_destination, "CN");
    // An empty as_of means today.
    let today = client
        .classify_item(catalogue("H200", None, ""))
        .await
        .expect("today")
        .into_inner();
    let date = chrono::NaiveDate::parse_from_str(&today.as_of, "%Y-%m-%d").expect("a date");
    let now = chrono::Utc::now().date_naive();
    assert!((now - date).num_days().abs() <= 1, "{date} vs {now}");
    // Before the first rule set nothing is in force.
    let early = client
        .classify_item(catalogue("H200", None, "2021-01-01"))
        .await
        .expect("early date")
        .into_inner();
    assert_eq!(control_status(&early), pb::ControlStatus::NotInForce);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// 5. Catalogue and rule sets
// ---------------------------------------------------------------------------

async fn list_all(
    client: &mut ClassifierServiceClient<Channel>,
    vendor: &str,
    page_size: i32,
) -> (Vec<pb::Chip>, usize) {
    let mut chips = Vec::new();
    let mut token = String::new();
    let mut total = None;
    for _ in 0..1000 {
        let page = client
            .list_chips(pb::ListChipsRequest {
                page_size,
                page_token: token.clone(),
                vendor: vendor.to_owned(),
            })
            .await
            .expect("page")
            .into_inner();
        let expected_max = match page_size {
            0 => 50,
            n => n.min(100) as usize,
        };
        assert!(
            page.chips.len() <= expected_max,
            "page of {}",
            page.chips.len()
        );
        let size = usize::try_from(page.total_size).expect("non-negative total");
        assert_eq!(*total.get_or_insert(size), size, "total_size is stable");
        chips.extend(page.chips);
        if page.next_page_token.is_empty() {
            return (chips, size);
        }
        token = page.next_page_token;
    }
    panic!("pagination does not end");
}

#[tokio::test]
async fn list_chips_pages_through_the_whole_catalogue() {
    let app = spawn().await;
    let mut client = app.client();

    let (chips, total) = list_all(&mut client, "", 7).await;
    assert!(total >= 30, "catalogue has {total} chips");
    assert_eq!(chips.len(), total, "no gaps");
    let names: HashSet<_> = chips.iter().map(|c| c.name.clone()).collect();
    assert_eq!(names.len(), total, "no duplicates");
    for chip in &chips {
        assert!(chip.name.starts_with("chips/"), "{}", chip.name);
        assert!(!chip.display_name.is_empty() && !chip.vendor.is_empty());
        assert!(!chip.sources.is_empty(), "{} cites sources", chip.name);
        assert!(chip.spec.is_some());
    }
    // One big page (clamped to the maximum) gives the same order.
    let (all_at_once, _) = list_all(&mut client, "", 1000).await;
    let order = |chips: &[pb::Chip]| chips.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    assert_eq!(order(&all_at_once), order(&chips));
    // page_size 0 means the default.
    let (default_pages, _) = list_all(&mut client, "", 0).await;
    assert_eq!(order(&default_pages), order(&chips));

    // The vendor filter ignores case.
    let (nvidia, nvidia_total) = list_all(&mut client, "nvidia", 7).await;
    assert_eq!(nvidia.len(), nvidia_total);
    assert!(nvidia_total > 7 && nvidia_total < total);
    assert!(nvidia.iter().all(|c| c.vendor == "NVIDIA"));
    assert_eq!(
        nvidia_total,
        chips.iter().filter(|c| c.vendor == "NVIDIA").count()
    );
    let (amd, _) = list_all(&mut client, "AmD", 3).await;
    assert!(!amd.is_empty() && amd.iter().all(|c| c.vendor == "AMD"));
    let (none, none_total) = list_all(&mut client, "no such vendor", 7).await;
    assert!(none.is_empty());
    assert_eq!(none_total, 0);

    // GetChip by resource name, plain name and any case.
    for name in ["chips/h200", "H200", "h200", "NVIDIA H200"] {
        let chip = client
            .get_chip(pb::GetChipRequest {
                name: name.to_owned(),
            })
            .await
            .unwrap_or_else(|s| panic!("{name}: {s:?}"))
            .into_inner();
        assert_eq!(chip.name, "chips/h200", "{name}");
        assert_eq!(chip.vendor, "NVIDIA");
        let spec = chip.spec.expect("spec");
        assert!(!spec.rates.is_empty());
        assert_eq!(spec.us_commercially_available_2026_01_15, Some(true));
    }
    app.stop().await;
}

#[tokio::test]
async fn catalogue_specs_round_trip_through_classify() {
    // A spec read from GetChip classifies exactly as the catalogue name does.
    let app = spawn().await;
    let mut client = app.client();
    let chip = client
        .get_chip(pb::GetChipRequest {
            name: "chips/h200".into(),
        })
        .await
        .expect("chip")
        .into_inner();
    let by_name = client
        .classify_item(catalogue("H200", Some(export_to("CN")), "2026-02-01"))
        .await
        .expect("by name")
        .into_inner();
    let by_spec = client
        .classify_item(with_spec(
            chip.spec.expect("spec"),
            Some(export_to("CN")),
            "2026-02-01",
        ))
        .await
        .expect("by spec")
        .into_inner();
    assert_eq!(by_spec.classification, by_name.classification);
    assert_eq!(by_spec.license, by_name.license);
    assert_eq!(by_spec.rule_set, by_name.rule_set);
    app.stop().await;
}

#[tokio::test]
async fn list_rule_sets_in_date_order_with_citations() {
    let app = spawn().await;
    let response = app
        .client()
        .list_rule_sets(pb::ListRuleSetsRequest {})
        .await
        .expect("rule sets")
        .into_inner();
    let sets = &response.rule_sets;
    let ids: Vec<_> = sets.iter().map(|s| s.id.as_str()).collect();
    for id in ["V2022", "V2023", "V2024b", "V2025b", "V2026a"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert_eq!(ids.first(), Some(&"V2022"));
    let dates: Vec<_> = sets
        .iter()
        .map(|s| {
            chrono::NaiveDate::parse_from_str(&s.effective_date, "%Y-%m-%d").expect("YYYY-MM-DD")
        })
        .collect();
    assert!(
        dates.windows(2).all(|w| w[0] < w[1]),
        "date order: {dates:?}"
    );
    for set in sets {
        assert!(!set.citations.is_empty(), "{} has citations", set.id);
        assert!(!set.summary.is_empty(), "{} has a summary", set.id);
        assert_ne!(set.source, pb::SourceTag::Unspecified as i32, "{}", set.id);
    }
    assert!(!response.country_group_snapshots.is_empty());

    // The rule set a classification reports is the one in force on its date.
    let mut client = app.client();
    for as_of in [
        "2022-10-07",
        "2023-11-16",
        "2023-11-17",
        "2025-06-01",
        "2026-01-14",
        "2026-01-15",
    ] {
        let date = chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d").expect("date");
        let expected = sets
            .iter()
            .zip(&dates)
            .filter(|(_, effective)| **effective <= date)
            .map(|(s, _)| s.id.clone())
            .next_back()
            .expect("a rule set in force");
        let response = client
            .classify_item(catalogue("H100 SXM", None, as_of))
            .await
            .expect("classified")
            .into_inner();
        assert_eq!(response.rule_set, expected, "as of {as_of}");
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------
// 6. Health and graceful shutdown
// ---------------------------------------------------------------------------

/// Long enough for the checks below to land inside it on a busy machine.
const GRACE: Duration = Duration::from_millis(500);

#[tokio::test]
async fn health_reports_not_serving_during_the_grace_period() {
    let app = spawn_with(ServeOptions {
        shutdown_grace: GRACE,
        ..ServeOptions::default()
    })
    .await;
    assert_eq!(app.health_status("").await, ServingStatus::Serving);
    assert_eq!(app.health_status(SERVICE).await, ServingStatus::Serving);
    let unknown = app
        .health()
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(unknown.code(), Code::NotFound);

    let TestServer { server, channel } = app;
    let addr = server.local_addr;
    let started = std::time::Instant::now();
    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut health = HealthClient::new(channel.clone());
    for service in ["", SERVICE] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("still answering during the grace period")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::NotServing as i32, "{service:?}");
    }
    // Lame duck: requests are still answered while load balancers move away.
    ClassifierServiceClient::new(channel.clone())
        .classify_item(catalogue("H200", None, "2026-02-01"))
        .await
        .expect("answered during the grace period");
    drop(health);
    drop(channel);

    timeout(LIMIT, shutdown)
        .await
        .expect("server stops in time")
        .expect("shutdown task")
        .expect("clean shutdown");
    assert!(started.elapsed() >= GRACE, "the grace period was kept");

    // Stopped: a new connection is refused.
    let refused = Endpoint::from_shared(format!("http://{addr}"))
        .expect("valid address")
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await;
    assert!(refused.is_err(), "server still accepting after shutdown");
}

#[tokio::test]
async fn shutdown_completes_while_a_client_stays_connected() {
    let app = spawn().await;
    app.client()
        .classify_item(catalogue("H200", None, "2026-02-01"))
        .await
        .expect("answered");
    let TestServer { server, channel } = app;
    // The client keeps its connection open: the server must still stop.
    timeout(LIMIT, server.shutdown())
        .await
        .expect("server stops in time with a client connected")
        .expect("clean shutdown");
    let after = ClassifierServiceClient::new(channel)
        .classify_item(catalogue("H200", None, "2026-02-01"))
        .await
        .expect_err("no answer after shutdown");
    assert_eq!(after.code(), Code::Unavailable, "{after:?}");
}

// ---------------------------------------------------------------------------
// 7. Reflection (what grpcurl needs without proto files)
// ---------------------------------------------------------------------------

mod reflection {
    use super::*;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha;

    async fn try_ask(
        channel: &Channel,
        request: MessageRequest,
    ) -> Result<MessageResponse, Status> {
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

    #[tokio::test]
    async fn v1_lists_services_and_resolves_error_details() {
        let app = spawn().await;
        let services = match ask(&app.channel, MessageRequest::ListServices(String::new())).await {
            MessageResponse::ListServicesResponse(list) => list
                .service
                .into_iter()
                .map(|s| s.name)
                .collect::<HashSet<_>>(),
            other => panic!("expected a service list, got {other:?}"),
        };
        for service in [
            SERVICE,
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
        ] {
            assert!(services.contains(service), "{service} in {services:?}");
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
        let response = responses
            .message()
            .await
            .expect("answer")
            .expect("one response");
        let services = match response.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => list
                .service
                .into_iter()
                .map(|s| s.name)
                .collect::<HashSet<_>>(),
            other => panic!("expected a service list, got {other:?}"),
        };
        for service in [
            SERVICE,
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        ] {
            assert!(services.contains(service), "{service} in {services:?}");
        }
        app.stop().await;
    }
}

// ---------------------------------------------------------------------------
// 8. Message size limit
// ---------------------------------------------------------------------------

const SMALL_LIMIT: usize = 64 * 1024;

fn small_limit() -> ServeOptions {
    ServeOptions {
        max_message_bytes: SMALL_LIMIT,
        ..ServeOptions::default()
    }
}

fn oversized_request() -> pb::ClassifyItemRequest {
    let request = with_spec(
        pb::ChipSpec {
            name: "x".repeat(100 * 1024),
            ..a1_part()
        },
        None,
        "2026-02-01",
    );
    assert!(request.encoded_len() > SMALL_LIMIT);
    request
}

#[tokio::test]
async fn messages_over_the_limit_are_refused_by_the_transport() {
    let app = spawn_with(small_limit()).await;
    let mut client = app.client();

    // tonic refuses an oversized message while decoding it: OUT_OF_RANGE.
    let status = client
        .classify_item(oversized_request())
        .await
        .expect_err("oversized request refused");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().contains("message length too large"),
        "{status:?}"
    );
    let info = status.get_error_details().error_info().cloned();
    assert_eq!(
        info.map(|i| (i.reason, i.metadata["limitBytes"].clone())),
        Some(("MESSAGE_TOO_LARGE".to_owned(), SMALL_LIMIT.to_string())),
        "{status:?}"
    );

    // In a stream the items before it are answered, then the stream fails.
    let mut responses = client
        .classify_items(tokio_stream::iter(vec![
            catalogue("H200", None, "2026-02-01"),
            oversized_request(),
            catalogue("H200", None, "2026-02-01"),
        ]))
        .await
        .expect("stream accepted")
        .into_inner();
    let first = responses
        .message()
        .await
        .expect("first item answered")
        .expect("a response");
    assert_eq!(first.index, 0);
    assert!(first.error.is_none());
    let failed = responses
        .message()
        .await
        .expect_err("the stream fails at the oversized item");
    assert_eq!(failed.code(), Code::OutOfRange, "{failed:?}");
    assert_eq!(
        failed
            .get_error_details()
            .error_info()
            .map(|i| i.reason.as_str()),
        Some("MESSAGE_TOO_LARGE"),
        "{failed:?}"
    );

    // The server is fine afterwards.
    client
        .classify_item(catalogue("H200", None, "2026-02-01"))
        .await
        .expect("still answering");
    assert_eq!(app.health_status("").await, ServingStatus::Serving);
    app.stop().await;
}

/// A request under the transport limit whose strings are long.
struct LongString {
    what: &'static str,
    request: pb::ClassifyItemRequest,
    /// None: answered; Some: refused with this code, naming this field.
    refusal: Option<(Code, &'static str)>,
}

fn long_strings(long: &str) -> Vec<LongString> {
    let spec_request = |spec: pb::ChipSpec| with_spec(spec, Some(export_to("CN")), "2026-02-01");
    vec![
        LongString {
            what: "rate format (echoed in the answer)",
            request: spec_request(pb::ChipSpec {
                rates: vec![pb::ProcessingRate {
                    format: long.to_owned(),
                    ..rate(8, 1978.9)
                }],
                ..a1_part()
            }),
            refusal: Some((Code::InvalidArgument, "spec.rates[0].format")),
        },
        LongString {
            what: "market justification (logged, so bounded)",
            request: spec_request(pb::ChipSpec {
                market_justification: long.to_owned(),
                ..a1_part()
            }),
            refusal: Some((Code::InvalidArgument, "spec.market_justification")),
        },
        LongString {
            what: "die label (bounded like every name)",
            request: spec_request(pb::ChipSpec {
                dies: vec![pb::Die {
                    label: long.to_owned(),
                    ..logic_die(814.0)
                }],
                ..a1_part()
            }),
            refusal: Some((Code::InvalidArgument, "spec.dies[0].label")),
        },
        LongString {
            what: "unknown catalogue name (echoed truncated)",
            request: catalogue(long, None, "2026-02-01"),
            refusal: Some((Code::NotFound, "catalog_chip")),
        },
    ]
}

#[tokio::test]
async fn long_strings_under_the_transport_limit_get_a_proper_answer() {
    // Under the byte limit a request gets an answer or a refusal naming the
    // field, never a transport error while the reply is encoded.
    let app = spawn_with(small_limit()).await;
    let mut client = app.client();
    let long = "y".repeat(40 * 1024);
    for case in long_strings(&long) {
        assert!(case.request.encoded_len() < SMALL_LIMIT, "{}", case.what);
        let answer = client.classify_item(case.request).await;
        match (answer, case.refusal) {
            (Ok(response), None) => {
                assert!(response.get_ref().classification.is_some(), "{}", case.what);
                assert!(
                    response.get_ref().encoded_len() < SMALL_LIMIT,
                    "{}",
                    case.what
                );
            }
            (Err(status), Some((code, field))) => {
                assert!(
                    status.message().len() < 1024,
                    "{}: message echoes the input",
                    case.what
                );
                Refusal::of_status(&status).assert_names(code, field, case.what);
            }
            (answer, _) => panic!("{}: {answer:?}", case.what),
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn long_unknown_chip_names_are_not_echoed_in_full() {
    // The error must fit in the trailers: a megabyte name under the default
    // 4 MiB limit still gets NOT_FOUND with its details.
    let app = spawn().await;
    let mut client = app.client();
    let long = "z".repeat(1024 * 1024);
    let status = client
        .get_chip(pb::GetChipRequest { name: long.clone() })
        .await
        .expect_err("unknown chip");
    Refusal::of_status(&status).assert_names(Code::NotFound, "name", "GetChip");
    assert!(
        status.message().len() < 1024,
        "message echoes the whole name"
    );
    let status = client
        .classify_item(catalogue(&long, None, "2026-02-01"))
        .await
        .expect_err("unknown chip");
    Refusal::of_status(&status).assert_names(Code::NotFound, "catalog_chip", "ClassifyItem");
    assert!(
        status.message().len() < 1024,
        "message echoes the whole name"
    );
    app.stop().await;
}
