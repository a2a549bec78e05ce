//! In-process integration tests of review-svc over gRPC: a real
//! classifier-svc and a real review-svc on ephemeral ports of 127.0.0.1, a
//! real tonic client over TCP, a fake clock for the deadlines, and a
//! throw-away database: a SQLite file in a temporary directory, or, for the
//! tests that run on both backends, a PostgreSQL schema of its own when
//! `REVIEW_TEST_DATABASE_URL` is set (the PostgreSQL variants report
//! themselves skipped otherwise).
//!
//! Layout: the harness (clock, database, servers), helpers (requests,
//! fixtures, error checks), then the tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use exportcontrol_proto::classifier::v1 as cpb;
use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use review_svc::auth::Authenticator;
use review_svc::classifier_client::{ClassifierClient, RetryPolicy};
use review_svc::clock::Clock;
use review_svc::{ReviewServer, ReviewSettings};
use service_kit::server::{RunningServer, ServeOptions};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

type Client = ReviewServiceClient<Channel>;

/// The error domain of every review-svc error.
const DOMAIN: &str = "review.exportcontrol";
/// How often the fake-clock deadlines are looked at.
const SWEEP_INTERVAL: Duration = Duration::from_millis(20);
/// How often applications accepted while the classifier was down are retried.
const CLASSIFICATION_RETRY_INTERVAL: Duration = Duration::from_millis(50);
/// Deadline of every unary call, and patience of every wait.
const PATIENCE: Duration = Duration::from_secs(10);

/// A clock the tests move by hand; deadlines pass without sleeping.
#[derive(Clone)]
struct FakeClock(Arc<Mutex<DateTime<Utc>>>);

impl FakeClock {
    fn starting_at(start: &str) -> Self {
        Self(Arc::new(Mutex::new(
            start.parse().expect("an RFC 3339 time"),
        )))
    }

    fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A database that lives as long as the test (and across restarts).
enum TestDb {
    Sqlite { dir: tempfile::TempDir },
    Postgres(PgSchema),
}

impl TestDb {
    /// None when PostgreSQL is asked for but not configured (the test is skipped).
    async fn create(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(TestDb::Sqlite {
                dir: tempfile::tempdir().expect("temporary directory"),
            }),
            Backend::Postgres => match std::env::var("REVIEW_TEST_DATABASE_URL") {
                Ok(url) if !url.trim().is_empty() => {
                    Some(TestDb::Postgres(PgSchema::create(url).await))
                }
                _ => {
                    if std::env::var("REVIEW_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                        panic!("REVIEW_REQUIRE_POSTGRES=1 but REVIEW_TEST_DATABASE_URL is not set");
                    }
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "{}: skipped: REVIEW_TEST_DATABASE_URL not set",
                        std::thread::current().name().unwrap_or("postgres test")
                    );
                    None
                }
            },
        }
    }

    fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir } => {
                format!("sqlite://{}", dir.path().join("review.db").display())
            }
            TestDb::Postgres(schema) => schema.url(),
        }
    }
}

/// A PostgreSQL schema of its own, as the store's own suite isolates its
/// cases: created empty, named in the connection's `search_path` (sqlx reads
/// `options[search_path]` from the URL), dropped at the end.
struct PgSchema {
    admin_url: String,
    schema: String,
}

impl PgSchema {
    async fn create(admin_url: String) -> Self {
        use sqlx::Connection;
        let schema = format!("grpc_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to REVIEW_TEST_DATABASE_URL");
        sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("create the test schema");
        let _ = admin.close().await;
        Self { admin_url, schema }
    }

    fn url(&self) -> String {
        let separator = if self.admin_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}options[search_path]={}",
            self.admin_url, self.schema
        )
    }
}

impl Drop for PgSchema {
    /// Drops the schema even when the test panicked (on a thread of its own:
    /// the test's runtime may be the one being dropped).
    fn drop(&mut self) {
        let url = self.admin_url.clone();
        let schema = self.schema.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {dropped:?}", self.schema);
        }
    }
}

/// How to start the pair.
struct Setup {
    backend: Backend,
    /// A tokens file (TOML); the development tokens when None.
    tokens: Option<String>,
    /// Where review-svc looks for the classifier; a classifier is started
    /// on an ephemeral port when None.
    classifier_url: Option<String>,
}

impl Setup {
    fn new(backend: Backend) -> Self {
        Self {
            backend,
            tokens: None,
            classifier_url: None,
        }
    }

    fn tokens(mut self, toml: String) -> Self {
        self.tokens = Some(toml);
        self
    }

    fn classifier_url(mut self, url: String) -> Self {
        self.classifier_url = Some(url);
        self
    }

    /// Starts both services; None when the backend is not available.
    async fn spawn(self) -> Option<Harness> {
        let db = TestDb::create(self.backend).await?;
        let (classifier, classifier_url) = match self.classifier_url {
            Some(url) => (None, url),
            None => {
                let server = start_classifier("127.0.0.1:0".parse().unwrap()).await;
                let url = format!("http://{}", server.local_addr);
                (Some(server), url)
            }
        };
        let clock = FakeClock::starting_at("2026-03-02T09:00:00Z");
        let review = start_review(&db.url(), &classifier_url, self.tokens.as_deref(), &clock).await;
        let client = connect(review.server.local_addr).await;
        Some(Harness {
            client,
            clock,
            review: Some(review),
            classifier,
            classifier_url,
            tokens: self.tokens,
            db,
        })
    }
}

/// Both services with the development tokens on a fresh SQLite file.
async fn spawn() -> Harness {
    Setup::new(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite is always available")
}

/// A running pair. Fields drop in order: the servers before the database.
struct Harness {
    client: Client,
    clock: FakeClock,
    review: Option<ReviewServer>,
    classifier: Option<RunningServer>,
    classifier_url: String,
    tokens: Option<String>,
    db: TestDb,
}

impl Harness {
    /// Shuts review-svc down gracefully and starts a new one on the same
    /// database, classifier and clock.
    async fn restart_review(&mut self) {
        let review = self.review.take().expect("review-svc is running");
        review.shutdown().await.expect("graceful shutdown");
        let review = start_review(
            &self.db.url(),
            &self.classifier_url,
            self.tokens.as_deref(),
            &self.clock,
        )
        .await;
        self.client = connect(review.server.local_addr).await;
        self.review = Some(review);
    }

    /// Starts a classifier on `addr` (the one review-svc was pointed at).
    async fn start_classifier_at(&mut self, addr: SocketAddr) {
        self.classifier = Some(start_classifier(addr).await);
    }
}

async fn start_classifier(addr: SocketAddr) -> RunningServer {
    let listener = TcpListener::bind(addr).await.expect("bind the classifier");
    classifier_svc::serve(listener, ServeOptions::default())
        .await
        .expect("classifier-svc starts")
}

async fn start_review(
    database_url: &str,
    classifier_url: &str,
    tokens: Option<&str>,
    clock: &FakeClock,
) -> ReviewServer {
    let authenticator = match tokens {
        Some(toml) => Authenticator::from_toml(toml).expect("a valid tokens file"),
        None => Authenticator::development().0,
    };
    let classifier = ClassifierClient::connect_lazy(classifier_url, None, RetryPolicy::default())
        .expect("a valid classifier URL");
    let settings = ReviewSettings {
        database_url: database_url.to_owned(),
        classifier,
        authenticator,
        day_length: days(1),
        sweep_interval: SWEEP_INTERVAL,
        classification_retry_interval: CLASSIFICATION_RETRY_INTERVAL,
        clock: Arc::new(clock.clone()),
    };
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind review-svc");
    review_svc::serve(listener, settings, ServeOptions::default())
        .await
        .expect("review-svc starts")
}

async fn connect(addr: SocketAddr) -> Client {
    ReviewServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to review-svc")
}

/// A port on which nothing listens (bound, then released).
fn unused_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local address")
}

/// Generates a `sqlite` and a `postgres` test for each named
/// `async fn name(backend: Backend)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}

on_both_backends!(
    create_is_idempotent_by_request_id,
    transitions_are_idempotent_by_request_id,
    concurrent_transitions_with_one_etag_let_exactly_one_through,
    silent_agencies_are_deemed_not_to_object_at_the_deadline,
    appeal_window_expiry_makes_the_decision_final,
    acep_votes_are_tallied_at_the_deadline,
    overall_deadline_refers_to_the_president,
    overdue_filter_finds_a_passed_operating_committee_deadline,
    restart_on_the_same_database_keeps_everything,
    list_applications_pages_newest_first_and_refuses_foreign_tokens,
    list_application_events_pages_oldest_first_and_refuses_foreign_tokens,
    watch_sends_history_then_live_events_in_sequence_order,
);

// ---------------------------------------------------------------------------
// Helpers: requests
// ---------------------------------------------------------------------------

const APPLICANT: &str = "dev-applicant";
const OTHER_APPLICANT: &str = "dev-applicant-2";
const AUDITOR: &str = "dev-auditor";
const OFFICER: &str = "dev-officer";
const OC_CHAIR: &str = "dev-oc-chair";
const PRESIDENT: &str = "dev-president";

/// The agency reviewers and their agencies.
const REVIEWERS: [(&str, pb::Agency); 4] = [
    ("dev-commerce", pb::Agency::Commerce),
    ("dev-state", pb::Agency::State),
    ("dev-defense", pb::Agency::Defense),
    ("dev-energy", pb::Agency::Energy),
];

fn with_authorization<T>(message: T, authorization: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(value) = authorization {
        request.metadata_mut().insert(
            "authorization",
            value.parse().expect("an ASCII header value"),
        );
    }
    request.set_timeout(PATIENCE);
    request
}

fn authed<T>(message: T, token: &str) -> Request<T> {
    with_authorization(message, Some(&format!("Bearer {token}")))
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn route(destination: &str) -> cpb::Transaction {
    cpb::Transaction {
        destination_country: destination.into(),
        end_user_headquarters_country: destination.into(),
        ultimate_parent_headquarters_country: destination.into(),
        export_type: cpb::ExportType::ExportFromUs as i32,
        is_informed_notice_received: false,
        ..Default::default()
    }
}

fn catalog_item(chip: &str, quantity: u64) -> pb::LineItem {
    pb::LineItem {
        item: Some(pb::line_item::Item::CatalogChip(chip.into())),
        quantity,
        unit_value_usd_cents: 3_000_000,
    }
}

/// A valid filing: `quantity` H200s to a customer in `destination`.
fn h200_to(destination: &str, quantity: u64) -> pb::CreateApplicationRequest {
    pb::CreateApplicationRequest {
        application: Some(pb::Application {
            items: vec![catalog_item("H200", quantity)],
            transaction: Some(pb::ExportTransaction {
                route: Some(route(destination)),
                end_user_name: "Example Cloud Co.".into(),
                end_use_statement: "Commercial cloud inference".into(),
            }),
            ..Default::default()
        }),
        request_id: new_request_id(),
    }
}

/// A valid filing changed by `edit`.
fn filing_with(edit: impl FnOnce(&mut pb::Application)) -> pb::CreateApplicationRequest {
    let mut request = h200_to("CN", 10);
    edit(request.application.as_mut().expect("an application"));
    request
}

fn recommendation_request(
    app: &pb::Application,
    agency: pb::Agency,
    recommendation: pb::Recommendation,
) -> pb::RecordRecommendationRequest {
    let conditions = if recommendation == pb::Recommendation::ApproveWithConditions {
        vec!["No transfer to military end users".to_owned()]
    } else {
        Vec::new()
    };
    pb::RecordRecommendationRequest {
        name: app.name.clone(),
        etag: app.etag.clone(),
        request_id: new_request_id(),
        agency: agency as i32,
        recommendation: recommendation as i32,
        conditions,
        rationale: format!("{} position", agency.as_str_name()),
    }
}

fn decision_request(app: &pb::Application, outcome: pb::Outcome) -> pb::DecideApplicationRequest {
    let conditions = if outcome == pb::Outcome::ApproveWithConditions {
        vec!["Quarterly end-use reports".to_owned()]
    } else {
        Vec::new()
    };
    pb::DecideApplicationRequest {
        name: app.name.clone(),
        etag: app.etag.clone(),
        request_id: new_request_id(),
        outcome: outcome as i32,
        conditions,
        rationale: "decided on the full record".into(),
    }
}

fn appeal_request(app: &pb::Application, agency: pb::Agency) -> pb::AppealApplicationRequest {
    pb::AppealApplicationRequest {
        name: app.name.clone(),
        etag: app.etag.clone(),
        request_id: new_request_id(),
        agency: agency as i32,
        rationale: "the decision puts national security at risk".into(),
    }
}

fn withdraw_request(app: &pb::Application) -> pb::WithdrawApplicationRequest {
    pb::WithdrawApplicationRequest {
        name: app.name.clone(),
        etag: app.etag.clone(),
        request_id: new_request_id(),
        reason: "the customer cancelled the order".into(),
    }
}

fn state_of(app: &pb::Application) -> pb::State {
    pb::State::try_from(app.state).expect("a known state")
}

// ---------------------------------------------------------------------------
// Helpers: calls and fixtures
// ---------------------------------------------------------------------------

async fn create(
    client: &mut Client,
    token: &str,
    request: pb::CreateApplicationRequest,
) -> pb::Application {
    client
        .create_application(authed(request, token))
        .await
        .unwrap_or_else(|status| panic!("{token} files: {}", describe(&status)))
        .into_inner()
}

async fn get(client: &mut Client, name: &str) -> pb::Application {
    client
        .get_application(authed(
            pb::GetApplicationRequest { name: name.into() },
            AUDITOR,
        ))
        .await
        .unwrap_or_else(|status| panic!("get {name}: {}", describe(&status)))
        .into_inner()
}

async fn recommend(
    client: &mut Client,
    app: &pb::Application,
    token: &str,
    agency: pb::Agency,
    recommendation: pb::Recommendation,
) -> pb::Application {
    client
        .record_recommendation(authed(
            recommendation_request(app, agency, recommendation),
            token,
        ))
        .await
        .unwrap_or_else(|status| panic!("{token} recommends: {}", describe(&status)))
        .into_inner()
}

async fn decide(
    client: &mut Client,
    app: &pb::Application,
    token: &str,
    outcome: pb::Outcome,
) -> pb::Application {
    client
        .decide_application(authed(decision_request(app, outcome), token))
        .await
        .unwrap_or_else(|status| panic!("{token} decides: {}", describe(&status)))
        .into_inner()
}

async fn appeal(
    client: &mut Client,
    app: &pb::Application,
    token: &str,
    agency: pb::Agency,
) -> pb::Application {
    client
        .appeal_application(authed(appeal_request(app, agency), token))
        .await
        .unwrap_or_else(|status| panic!("{token} appeals: {}", describe(&status)))
        .into_inner()
}

/// Every application `token` may list with `filter`, following the pages.
async fn list_all(
    client: &mut Client,
    token: &str,
    filter: pb::ListApplicationsRequest,
) -> Vec<pb::Application> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListApplicationsRequest {
            page_size: 1000,
            page_token,
            ..filter.clone()
        };
        let page = client
            .list_applications(authed(request, token))
            .await
            .unwrap_or_else(|status| panic!("list: {}", describe(&status)))
            .into_inner();
        all.extend(page.applications);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

/// The whole audit trail of `parent` (`applications/-` for all), oldest first.
async fn all_events(client: &mut Client, parent: &str) -> Vec<pb::ApplicationEvent> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListApplicationEventsRequest {
            parent: parent.into(),
            page_size: 1000,
            page_token,
        };
        let page = client
            .list_application_events(authed(request, AUDITOR))
            .await
            .unwrap_or_else(|status| panic!("events of {parent}: {}", describe(&status)))
            .into_inner();
        all.extend(page.events);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

fn count_of(events: &[pb::ApplicationEvent], kind: &str) -> usize {
    events.iter().filter(|e| e.r#type == kind).count()
}

async fn verify_all(client: &mut Client) -> pb::VerifyAuditTrailResponse {
    client
        .verify_audit_trail(authed(
            pb::VerifyAuditTrailRequest {
                name: "applications/-".into(),
            },
            AUDITOR,
        ))
        .await
        .unwrap_or_else(|status| panic!("verify: {}", describe(&status)))
        .into_inner()
}

/// Polls the application until `done` holds (the sweeper and the
/// classification worker act in the background).
async fn wait_for(
    client: &mut Client,
    name: &str,
    what: &str,
    done: impl Fn(&pb::Application) -> bool,
) -> pb::Application {
    let start = Instant::now();
    loop {
        let app = get(client, name).await;
        if done(&app) {
            return app;
        }
        if start.elapsed() > PATIENCE {
            panic!("{name}: still not {what} after {PATIENCE:?}: {app:#?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Several sweeps' worth of waiting, to show that nothing happens.
async fn let_the_sweeper_run() {
    tokio::time::sleep(SWEEP_INTERVAL * 8).await;
}

/// Filed by dev-applicant, classified and referred to the four agencies.
async fn filed(client: &mut Client) -> pb::Application {
    let app = create(client, APPLICANT, h200_to("CN", 5_000)).await;
    assert_eq!(state_of(&app), pb::State::AgencyReview, "{app:#?}");
    app
}

/// All four agencies approve: the licensing officer decides.
async fn agencies_agree(client: &mut Client) -> pb::Application {
    let mut app = filed(client).await;
    for (token, agency) in REVIEWERS {
        app = recommend(client, &app, token, agency, pb::Recommendation::Approve).await;
    }
    assert_eq!(state_of(&app), pb::State::AwaitingLicensingDecision);
    app
}

/// State denies, the others approve: the Operating Committee decides.
async fn agencies_disagree(client: &mut Client) -> pb::Application {
    let mut app = filed(client).await;
    for (token, agency) in REVIEWERS {
        let recommendation = if agency == pb::Agency::State {
            pb::Recommendation::Deny
        } else {
            pb::Recommendation::Approve
        };
        app = recommend(client, &app, token, agency, recommendation).await;
    }
    assert_eq!(state_of(&app), pb::State::OperatingCommitteeReview);
    app
}

/// The OC chair approves against State's denial: State may appeal.
async fn oc_approved(client: &mut Client) -> pb::Application {
    let app = agencies_disagree(client).await;
    let app = decide(client, &app, OC_CHAIR, pb::Outcome::Approve).await;
    assert_eq!(state_of(&app), pb::State::AppealWindow);
    app
}

// ---------------------------------------------------------------------------
// Helpers: errors
// ---------------------------------------------------------------------------

fn describe(status: &Status) -> String {
    let info = status.get_details_error_info();
    let fields = violation_fields(status);
    format!(
        "{:?} {} [{}] fields {fields:?}: {}",
        status.code(),
        info.as_ref()
            .map_or("<no ErrorInfo>", |i| i.reason.as_str()),
        info.as_ref().map_or("", |i| i.domain.as_str()),
        status.message()
    )
}

fn violation_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Asserts a refusal with `code` and an `ErrorInfo` of our domain with `reason`.
fn expect_refusal<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    reason: &str,
) -> Status {
    let status = match result {
        Ok(value) => panic!("expected {code:?} {reason}, got {value:#?}"),
        Err(status) => status,
    };
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(
        (status.code(), info.reason.as_str(), info.domain.as_str()),
        (code, reason, DOMAIN),
        "{}",
        describe(&status)
    );
    status
}

/// Asserts INVALID_ARGUMENT naming exactly `field`.
fn expect_invalid_field<T: std::fmt::Debug>(
    result: Result<T, Status>,
    reason: &str,
    field: &str,
) -> Status {
    let status = expect_refusal(result, Code::InvalidArgument, reason);
    assert_eq!(
        violation_fields(&status),
        vec![field.to_owned()],
        "{}",
        describe(&status)
    );
    status
}

/// Any RPC of the service, for the tables.
#[derive(Debug, Clone)]
enum Call {
    Create(Box<pb::CreateApplicationRequest>),
    Get(pb::GetApplicationRequest),
    List(pb::ListApplicationsRequest),
    Recommend(pb::RecordRecommendationRequest),
    Decide(pb::DecideApplicationRequest),
    Appeal(pb::AppealApplicationRequest),
    Withdraw(pb::WithdrawApplicationRequest),
    Events(pb::ListApplicationEventsRequest),
    Watch(pb::WatchApplicationsRequest),
    Verify(pb::VerifyAuditTrailRequest),
}

impl Call {
    fn create(request: pb::CreateApplicationRequest) -> Call {
        Call::Create(Box::new(request))
    }
}

/// Sends `call` with the raw `authorization` header; a watch succeeds when
/// its first event arrives.
async fn invoke(
    client: &mut Client,
    authorization: Option<&str>,
    call: Call,
) -> Result<(), Status> {
    match call {
        Call::Create(m) => client
            .create_application(with_authorization(*m, authorization))
            .await
            .map(drop),
        Call::Get(m) => client
            .get_application(with_authorization(m, authorization))
            .await
            .map(drop),
        Call::List(m) => client
            .list_applications(with_authorization(m, authorization))
            .await
            .map(drop),
        Call::Recommend(m) => client
            .record_recommendation(with_authorization(m, authorization))
            .await
            .map(drop),
        Call::Decide(m) => client
            .decide_application(with_authorization(m, authorization))
            .await
            .map(drop),
        Call::Appeal(m) => client
            .appeal_application(with_authorization(m, authorization))
            .await
            .map(drop),
        Call::Withdraw(m) => client
            .withdraw_application(with_authorization(m, authorization))
            .await
            .map(drop),
        Call::Events(m) => client
            .list_application_events(with_authorization(m, authorization))
            .await
            .map(drop),
        Call::Verify(m) => client
            .verify_audit_trail(with_authorization(m, authorization))
            .await
            .map(drop),
        Call::Watch(m) => {
            let mut stream = client
                .watch_applications(with_authorization(m, authorization))
                .await?
                .into_inner();
            match tokio::time::timeout(PATIENCE, stream.message()).await {
                Err(_) => Err(Status::deadline_exceeded("no event within the patience")),
                Ok(Err(status)) => Err(status),
                Ok(Ok(None)) => Err(Status::internal("the stream ended without an event")),
                Ok(Ok(Some(_))) => Ok(()),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 1. Idempotency
// ---------------------------------------------------------------------------

async fn create_is_idempotent_by_request_id(backend: Backend) {
    let Some(mut h) = Setup::new(backend).spawn().await else {
        return;
    };
    let request = h200_to("CN", 5_000);
    let first = create(&mut h.client, APPLICANT, request.clone()).await;
    let again = create(&mut h.client, APPLICANT, request.clone()).await;
    assert_eq!((&again.name, &again.etag), (&first.name, &first.etag));
    assert_eq!(again, first, "a retry returns the first answer");
    // Also once the application has moved on (rebuilt from the history).
    let moved_on = recommend(
        &mut h.client,
        &first,
        "dev-state",
        pb::Agency::State,
        pb::Recommendation::Approve,
    )
    .await;
    assert_ne!(moved_on.etag, first.etag);
    assert_eq!(
        create(&mut h.client, APPLICANT, request.clone()).await,
        first
    );

    let listed = list_all(&mut h.client, AUDITOR, Default::default()).await;
    assert_eq!(
        listed.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        [first.name.as_str()]
    );
    let events = all_events(&mut h.client, "applications/-").await;
    assert_eq!(count_of(&events, "ApplicationFiled"), 1, "{events:#?}");

    // The same id with other content: refused, nothing written.
    let mut other = h200_to("CN", 6_000);
    other.request_id = request.request_id.clone();
    let status = expect_invalid_field(
        h.client.create_application(authed(other, APPLICANT)).await,
        "REQUEST_ID_REUSED",
        "request_id",
    );
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.metadata.get("request_id"), Some(&request.request_id));
    assert_eq!(
        list_all(&mut h.client, AUDITOR, Default::default())
            .await
            .len(),
        1
    );
    assert_eq!(all_events(&mut h.client, "applications/-").await, events);

    // Concurrent retries of one request: one application, one answer.
    let request = h200_to("DE", 10);
    let calls = (0..4).map(|_| {
        let mut client = h.client.clone();
        let request = request.clone();
        async move { create(&mut client, APPLICANT, request).await }
    });
    let answers = futures::future::join_all(calls).await;
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:#?}");
    assert_eq!(state_of(&answers[0]), pb::State::NoLicenseRequired);
    assert_eq!(
        list_all(&mut h.client, AUDITOR, Default::default())
            .await
            .len(),
        2
    );
    let events = all_events(&mut h.client, "applications/-").await;
    assert_eq!(count_of(&events, "ApplicationFiled"), 2, "{events:#?}");
}

async fn transitions_are_idempotent_by_request_id(backend: Backend) {
    let Some(mut h) = Setup::new(backend).spawn().await else {
        return;
    };
    let app = filed(&mut h.client).await;
    let request = recommendation_request(&app, pb::Agency::State, pb::Recommendation::Deny);
    let first = h
        .client
        .record_recommendation(authed(request.clone(), "dev-state"))
        .await
        .expect("first recommendation")
        .into_inner();
    assert_ne!(first.etag, app.etag);
    // The retry carries the old etag: it is answered from the record, not refused as stale.
    let retried = h
        .client
        .record_recommendation(authed(request.clone(), "dev-state"))
        .await
        .expect("retried recommendation")
        .into_inner();
    assert_eq!(retried, first);
    let events = all_events(&mut h.client, &app.name).await;
    assert_eq!(
        count_of(&events, "RecommendationRecorded"),
        1,
        "{events:#?}"
    );
    assert_eq!(get(&mut h.client, &app.name).await, first);

    // The same id with another rationale, or for another RPC: refused, nothing written.
    let changed = pb::RecordRecommendationRequest {
        rationale: "another basis".into(),
        etag: first.etag.clone(),
        ..request.clone()
    };
    expect_invalid_field(
        h.client
            .record_recommendation(authed(changed, "dev-state"))
            .await,
        "REQUEST_ID_REUSED",
        "request_id",
    );
    let withdraw = pb::WithdrawApplicationRequest {
        request_id: request.request_id.clone(),
        ..withdraw_request(&first)
    };
    expect_invalid_field(
        h.client
            .withdraw_application(authed(withdraw, APPLICANT))
            .await,
        "REQUEST_ID_REUSED",
        "request_id",
    );
    assert_eq!(all_events(&mut h.client, &app.name).await, events);
    assert_eq!(get(&mut h.client, &app.name).await, first);

    // Once the application has moved on, a retry still gets the first
    // answer (rebuilt from the history).
    let later = recommend(
        &mut h.client,
        &first,
        "dev-energy",
        pb::Agency::Energy,
        pb::Recommendation::Approve,
    )
    .await;
    assert_ne!(later.etag, first.etag);
    let retried = h
        .client
        .record_recommendation(authed(request.clone(), "dev-state"))
        .await
        .expect("retried after a later change")
        .into_inner();
    assert_eq!(retried, first);
    assert_eq!(get(&mut h.client, &app.name).await, later);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_answers_only_the_principal_that_sent_it() {
    let mut h = spawn().await;
    // Another applicant replaying a filing's request id (and content) gets
    // neither the application nor a second one.
    let request = h200_to("CN", 5_000);
    let theirs = create(&mut h.client, APPLICANT, request.clone()).await;
    expect_invalid_field(
        h.client
            .create_application(authed(request, OTHER_APPLICANT))
            .await,
        "REQUEST_ID_REUSED",
        "request_id",
    );
    assert!(list_all(&mut h.client, OTHER_APPLICANT, Default::default())
        .await
        .is_empty());
    // Nor does a replay of a transition answer a principal that may not read it.
    let recommendation =
        recommendation_request(&theirs, pb::Agency::State, pb::Recommendation::Deny);
    h.client
        .record_recommendation(authed(recommendation.clone(), "dev-state"))
        .await
        .expect("State recommends");
    expect_invalid_field(
        h.client
            .record_recommendation(authed(recommendation, OTHER_APPLICANT))
            .await,
        "REQUEST_ID_REUSED",
        "request_id",
    );
    let events = all_events(&mut h.client, &theirs.name).await;
    assert_eq!(count_of(&events, "RecommendationRecorded"), 1);
}

// ---------------------------------------------------------------------------
// 2. Etags
// ---------------------------------------------------------------------------

async fn concurrent_transitions_with_one_etag_let_exactly_one_through(backend: Backend) {
    let Some(mut h) = Setup::new(backend).spawn().await else {
        return;
    };
    for round in 0..6 {
        let app = filed(&mut h.client).await;
        let mut commerce = h.client.clone();
        let mut state = h.client.clone();
        let by_commerce =
            recommendation_request(&app, pb::Agency::Commerce, pb::Recommendation::Approve);
        let by_state = recommendation_request(&app, pb::Agency::State, pb::Recommendation::Deny);
        let (a, b) = tokio::join!(
            commerce.record_recommendation(authed(by_commerce, "dev-commerce")),
            state.record_recommendation(authed(by_state, "dev-state")),
        );
        let (winner, loser) = match (a, b) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won.into_inner(), lost),
            (a, b) => panic!("round {round}: expected exactly one success, got {a:?} and {b:?}"),
        };
        let status = expect_refusal(Err::<(), _>(loser), Code::Aborted, "ETAG_MISMATCH");
        let info = status.get_details_error_info().unwrap();
        assert_eq!(
            info.metadata.get("current_etag"),
            Some(&winner.etag),
            "round {round}"
        );
        assert_eq!(
            info.metadata.get("application"),
            Some(&app.name),
            "round {round}"
        );
        let stored = get(&mut h.client, &app.name).await;
        assert_eq!(stored, winner, "round {round}");
        assert_eq!(stored.recommendations.len(), 1, "round {round}");
        let events = all_events(&mut h.client, &app.name).await;
        assert_eq!(
            count_of(&events, "RecommendationRecorded"),
            1,
            "round {round}"
        );
    }

    // A stale but well-formed etag is ABORTED; a malformed one is invalid.
    let app = filed(&mut h.client).await;
    let moved = recommend(
        &mut h.client,
        &app,
        "dev-commerce",
        pb::Agency::Commerce,
        pb::Recommendation::Approve,
    )
    .await;
    let stale = recommendation_request(&app, pb::Agency::State, pb::Recommendation::Approve);
    let status = expect_refusal(
        h.client
            .record_recommendation(authed(stale, "dev-state"))
            .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    assert_eq!(
        status
            .get_details_error_info()
            .unwrap()
            .metadata
            .get("current_etag"),
        Some(&moved.etag)
    );
    for malformed in ["banana", "v0", "v-3", "7", "W/\"v2\""] {
        let request = pb::RecordRecommendationRequest {
            etag: malformed.into(),
            ..recommendation_request(&moved, pb::Agency::State, pb::Recommendation::Approve)
        };
        expect_invalid_field(
            h.client
                .record_recommendation(authed(request, "dev-state"))
                .await,
            "INVALID_ARGUMENT",
            "etag",
        );
    }
    assert_eq!(get(&mut h.client, &app.name).await, moved);
}

// ---------------------------------------------------------------------------
// 3. Authentication and permissions
// ---------------------------------------------------------------------------

/// Who calls, as the README's permission table distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    NoToken,
    UnknownToken,
    MalformedHeader,
    /// dev-applicant, which filed the fixtures.
    Owner,
    /// dev-applicant-2.
    OtherApplicant,
    Reviewer(pb::Agency),
    Officer,
    OcChair,
    Acep(pb::Agency),
    Earb(pb::Agency),
    President,
    Auditor,
}

impl Who {
    /// The agency the caller names when it acts for its own (State when it has none).
    fn own_agency(self) -> pb::Agency {
        match self {
            Who::Reviewer(a) | Who::Acep(a) | Who::Earb(a) => a,
            _ => pb::Agency::State,
        }
    }
}

struct Principal {
    label: String,
    authorization: Option<String>,
    who: Who,
}

fn principals() -> Vec<Principal> {
    let principal = |label: &str, authorization: Option<&str>, who| Principal {
        label: label.to_owned(),
        authorization: authorization.map(str::to_owned),
        who,
    };
    let mut all = vec![
        principal("no token", None, Who::NoToken),
        principal(
            "unknown token",
            Some("Bearer no-such-token"),
            Who::UnknownToken,
        ),
        principal(
            "malformed header",
            Some("Token dev-applicant"),
            Who::MalformedHeader,
        ),
    ];
    let mut token =
        |token: &str, who| all.push(principal(token, Some(&format!("Bearer {token}")), who));
    token("dev-applicant", Who::Owner);
    token("dev-applicant-2", Who::OtherApplicant);
    for (name, agency) in [
        ("commerce", pb::Agency::Commerce),
        ("state", pb::Agency::State),
        ("defense", pb::Agency::Defense),
        ("energy", pb::Agency::Energy),
    ] {
        token(&format!("dev-{name}"), Who::Reviewer(agency));
        token(&format!("dev-acep-{name}"), Who::Acep(agency));
        token(&format!("dev-earb-{name}"), Who::Earb(agency));
    }
    token("dev-officer", Who::Officer);
    token("dev-oc-chair", Who::OcChair);
    token("dev-president", Who::President);
    token("dev-auditor", Who::Auditor);
    all
}

/// One row of the matrix: an RPC against an application in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    Create,
    Get,
    List,
    EventsOfOne,
    EventsOfAll,
    WatchOne,
    WatchAll,
    VerifyOne,
    VerifyAll,
    /// At agency review, each caller for its own agency.
    RecommendOwnAgency,
    /// At agency review, each caller for State.
    RecommendForState,
    /// Awaiting the licensing officer.
    DecideLicensing,
    /// At the Operating Committee.
    DecideOperatingCommittee,
    /// In the window after the OC decision State dissents from, for State.
    AppealForState,
    /// The same window, each caller for its own agency.
    AppealOwnAgency,
    Withdraw,
}

impl Row {
    const ALL: [Row; 16] = [
        Row::Create,
        Row::Get,
        Row::List,
        Row::EventsOfOne,
        Row::EventsOfAll,
        Row::WatchOne,
        Row::WatchAll,
        Row::VerifyOne,
        Row::VerifyAll,
        Row::RecommendOwnAgency,
        Row::RecommendForState,
        Row::DecideLicensing,
        Row::DecideOperatingCommittee,
        Row::AppealForState,
        Row::AppealOwnAgency,
        Row::Withdraw,
    ];

    fn mutates(self) -> bool {
        matches!(
            self,
            Row::RecommendOwnAgency
                | Row::RecommendForState
                | Row::DecideLicensing
                | Row::DecideOperatingCommittee
                | Row::AppealForState
                | Row::AppealOwnAgency
                | Row::Withdraw
        )
    }

    async fn fixture(self, client: &mut Client) -> pb::Application {
        match self {
            Row::DecideLicensing => agencies_agree(client).await,
            Row::DecideOperatingCommittee => agencies_disagree(client).await,
            Row::AppealForState | Row::AppealOwnAgency => oc_approved(client).await,
            _ => filed(client).await,
        }
    }

    fn call(self, app: &pb::Application, who: Who) -> Call {
        let name = app.name.clone();
        match self {
            Row::Create => Call::create(h200_to("CN", 10)),
            Row::Get => Call::Get(pb::GetApplicationRequest { name }),
            Row::List => Call::List(Default::default()),
            Row::EventsOfOne => Call::Events(pb::ListApplicationEventsRequest {
                parent: name,
                ..Default::default()
            }),
            Row::EventsOfAll => Call::Events(pb::ListApplicationEventsRequest {
                parent: "applications/-".into(),
                ..Default::default()
            }),
            Row::WatchOne => Call::Watch(pb::WatchApplicationsRequest {
                after_sequence: 0,
                application: name,
            }),
            Row::WatchAll => Call::Watch(Default::default()),
            Row::VerifyOne => Call::Verify(pb::VerifyAuditTrailRequest { name }),
            Row::VerifyAll => Call::Verify(pb::VerifyAuditTrailRequest {
                name: "applications/-".into(),
            }),
            Row::RecommendOwnAgency => Call::Recommend(recommendation_request(
                app,
                who.own_agency(),
                pb::Recommendation::Approve,
            )),
            Row::RecommendForState => Call::Recommend(recommendation_request(
                app,
                pb::Agency::State,
                pb::Recommendation::Deny,
            )),
            Row::DecideLicensing | Row::DecideOperatingCommittee => {
                Call::Decide(decision_request(app, pb::Outcome::Approve))
            }
            Row::AppealForState => Call::Appeal(appeal_request(app, pb::Agency::State)),
            Row::AppealOwnAgency => Call::Appeal(appeal_request(app, who.own_agency())),
            Row::Withdraw => Call::Withdraw(withdraw_request(app)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    Refused(Code, &'static str),
}

/// The README's permission table (and the workflow's order of checks:
/// authentication, role, agency or ownership, then the level).
fn expected(row: Row, who: Who) -> Expect {
    use pb::Agency::State;
    let unauthenticated = |reason| Expect::Refused(Code::Unauthenticated, reason);
    let denied = |reason| Expect::Refused(Code::PermissionDenied, reason);
    let role = denied("ROLE_NOT_PERMITTED");
    let wrong_agency = denied("WRONG_AGENCY");
    let not_yours = denied("NOT_YOUR_APPLICATION");
    let not_at_level = Expect::Refused(Code::FailedPrecondition, "NOT_AT_YOUR_LEVEL");
    let applicant = matches!(who, Who::Owner | Who::OtherApplicant);
    match who {
        Who::NoToken => return unauthenticated("MISSING_TOKEN"),
        Who::UnknownToken => return unauthenticated("UNKNOWN_TOKEN"),
        Who::MalformedHeader => return unauthenticated("MALFORMED_TOKEN"),
        _ => {}
    }
    match row {
        Row::Create if applicant => Expect::Ok,
        Row::Create => role,
        Row::List => Expect::Ok,
        Row::Get | Row::EventsOfOne | Row::WatchOne | Row::VerifyOne
            if who == Who::OtherApplicant =>
        {
            not_yours
        }
        Row::Get | Row::EventsOfOne | Row::WatchOne | Row::VerifyOne => Expect::Ok,
        Row::EventsOfAll | Row::WatchAll | Row::VerifyAll if applicant => not_yours,
        Row::EventsOfAll | Row::WatchAll | Row::VerifyAll => Expect::Ok,
        Row::RecommendOwnAgency => match who {
            Who::Reviewer(_) => Expect::Ok,
            Who::Acep(_) | Who::Earb(_) => not_at_level,
            _ => role,
        },
        Row::RecommendForState => match who {
            Who::Reviewer(State) => Expect::Ok,
            Who::Acep(State) | Who::Earb(State) => not_at_level,
            Who::Reviewer(_) | Who::Acep(_) | Who::Earb(_) => wrong_agency,
            _ => role,
        },
        Row::DecideLicensing => match who {
            Who::Officer => Expect::Ok,
            Who::OcChair | Who::President => not_at_level,
            _ => role,
        },
        Row::DecideOperatingCommittee => match who {
            Who::OcChair => Expect::Ok,
            Who::Officer | Who::President => not_at_level,
            _ => role,
        },
        Row::AppealForState => match who {
            Who::Reviewer(State) => Expect::Ok,
            Who::Acep(State) | Who::Earb(State) => not_at_level,
            Who::Reviewer(_) | Who::Acep(_) | Who::Earb(_) => wrong_agency,
            _ => role,
        },
        Row::AppealOwnAgency => match who {
            Who::Reviewer(State) => Expect::Ok,
            Who::Reviewer(_) => Expect::Refused(Code::FailedPrecondition, "NOT_DISSENTING"),
            Who::Acep(_) | Who::Earb(_) => not_at_level,
            _ => role,
        },
        Row::Withdraw => match who {
            Who::Owner => Expect::Ok,
            Who::OtherApplicant => not_yours,
            _ => role,
        },
    }
}

/// What is wrong with `result`, if anything.
fn mismatch(result: &Result<(), Status>, expect: Expect) -> Option<String> {
    match (result, expect) {
        (Ok(()), Expect::Ok) => None,
        (Ok(()), Expect::Refused(code, reason)) => {
            Some(format!("succeeded; expected {code:?} {reason}"))
        }
        (Err(status), Expect::Ok) => Some(format!("expected success, got {}", describe(status))),
        (Err(status), Expect::Refused(code, reason)) => {
            let info = status.get_details_error_info();
            let got = info
                .as_ref()
                .map(|i| (i.reason.as_str(), i.domain.as_str()));
            (status.code() != code || got != Some((reason, DOMAIN)))
                .then(|| format!("expected {code:?} {reason}, got {}", describe(status)))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix_follows_the_readme() {
    let mut h = spawn().await;
    let principals = principals();
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in Row::ALL {
        let shared = row.fixture(&mut h.client).await;
        for principal in &principals {
            let expect = expected(row, principal.who);
            // A call expected to change the application gets one of its own.
            let app = if expect == Expect::Ok && row.mutates() {
                row.fixture(&mut h.client).await
            } else {
                shared.clone()
            };
            let result = invoke(
                &mut h.client,
                principal.authorization.as_deref(),
                row.call(&app, principal.who),
            )
            .await;
            if let Some(problem) = mismatch(&result, expect) {
                failures.push(format!("{row:?} by {}: {problem}", principal.label));
            }
            checked += 1;
        }
        if row.mutates() {
            let after = get(&mut h.client, &shared.name).await;
            if after != shared {
                failures.push(format!("{row:?}: a refused call changed the application"));
            }
        }
    }
    assert_eq!(checked, Row::ALL.len() * 21);
    assert!(
        failures.is_empty(),
        "{} of {checked} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_revoked_tokens_are_refused() {
    let token_sha256 = review_svc::auth::token_sha256;
    let tokens = format!(
        r#"
[[principal]]
id = "alice"
role = "APPLICANT"
token_sha256 = "{}"
expires_at = "2026-03-03T09:00:00Z"

[[principal]]
id = "bob"
role = "AGENCY_REVIEWER"
agency = "STATE"
token_sha256 = "{}"
expires_at = "2020-01-01T00:00:00Z"

[[principal]]
id = "carol"
role = "AUDITOR"
token_sha256 = "{}"
revoked = true
"#,
        token_sha256("alice-secret"),
        token_sha256("bob-secret"),
        token_sha256("carol-secret"),
    );
    let mut h = Setup::new(Backend::Sqlite)
        .tokens(tokens)
        .spawn()
        .await
        .unwrap();
    let list = |token: &str| authed(pb::ListApplicationsRequest::default(), token);
    let app = create(&mut h.client, "alice-secret", h200_to("CN", 10)).await;
    assert_eq!(app.applicant, "alice");
    h.client
        .list_applications(list("alice-secret"))
        .await
        .expect("alice's token is valid");
    let status = expect_refusal(
        h.client.list_applications(list("bob-secret")).await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
    assert!(!status.message().contains("bob-secret"), "{status:?}");
    expect_refusal(
        h.client.list_applications(list("carol-secret")).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    expect_refusal(
        h.client.list_applications(list("dev-auditor")).await,
        Code::Unauthenticated,
        "UNKNOWN_TOKEN",
    );
    // The service's clock decides expiry: a day later alice's token has expired.
    h.clock.advance(days(1));
    expect_refusal(
        h.client.list_applications(list("alice-secret")).await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
    let withdraw = withdraw_request(&app);
    expect_refusal(
        h.client
            .withdraw_application(authed(withdraw, "alice-secret"))
            .await,
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applicant_cannot_read_list_or_withdraw_another_applicants_application() {
    let mut h = spawn().await;
    let theirs = filed(&mut h.client).await;
    let mine = create(&mut h.client, OTHER_APPLICANT, h200_to("SA", 10)).await;
    let get_as = |name: &str| {
        authed(
            pb::GetApplicationRequest { name: name.into() },
            OTHER_APPLICANT,
        )
    };

    expect_refusal(
        h.client.get_application(get_as(&theirs.name)).await,
        Code::PermissionDenied,
        "NOT_YOUR_APPLICATION",
    );
    h.client
        .get_application(get_as(&mine.name))
        .await
        .expect("its own application");
    let listed = list_all(&mut h.client, OTHER_APPLICANT, Default::default()).await;
    assert_eq!(
        listed.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        [mine.name.as_str()]
    );
    let listed = list_all(&mut h.client, APPLICANT, Default::default()).await;
    assert_eq!(
        listed.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        [theirs.name.as_str()]
    );
    let events = pb::ListApplicationEventsRequest {
        parent: theirs.name.clone(),
        ..Default::default()
    };
    expect_refusal(
        h.client
            .list_application_events(authed(events, OTHER_APPLICANT))
            .await,
        Code::PermissionDenied,
        "NOT_YOUR_APPLICATION",
    );
    expect_refusal(
        h.client
            .withdraw_application(authed(withdraw_request(&theirs), OTHER_APPLICANT))
            .await,
        Code::PermissionDenied,
        "NOT_YOUR_APPLICATION",
    );
    assert_eq!(get(&mut h.client, &theirs.name).await, theirs);
    // Its owner may.
    let withdrawn = h
        .client
        .withdraw_application(authed(withdraw_request(&theirs), APPLICANT))
        .await
        .expect("the owner withdraws")
        .into_inner();
    assert_eq!(state_of(&withdrawn), pb::State::Withdrawn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_applications_are_not_found_and_output_fields_are_ignored() {
    let mut h = spawn().await;
    let missing = "applications/01234567-89ab-7def-8123-456789abcdef";
    let status = expect_refusal(
        h.client
            .get_application(authed(
                pb::GetApplicationRequest {
                    name: missing.into(),
                },
                AUDITOR,
            ))
            .await,
        Code::NotFound,
        "APPLICATION_NOT_FOUND",
    );
    assert_eq!(
        status
            .get_details_error_info()
            .unwrap()
            .metadata
            .get("application")
            .map(String::as_str),
        Some(missing)
    );
    let ghost = pb::Application {
        name: missing.into(),
        etag: "v3".into(),
        ..Default::default()
    };
    expect_refusal(
        h.client
            .record_recommendation(authed(
                recommendation_request(&ghost, pb::Agency::State, pb::Recommendation::Approve),
                "dev-state",
            ))
            .await,
        Code::NotFound,
        "APPLICATION_NOT_FOUND",
    );
    // Filed in the caller's own name, whatever the output-only fields say.
    let forged = filing_with(|a| {
        a.name = missing.into();
        a.applicant = "exporter-2".into();
        a.state = pb::State::Decided as i32;
        a.etag = "v99".into();
    });
    let app = create(&mut h.client, APPLICANT, forged).await;
    assert_ne!(app.name, missing);
    assert_eq!(
        (app.applicant.as_str(), state_of(&app), app.etag.as_str()),
        ("exporter-1", pb::State::AgencyReview, "v3")
    );
    assert!(list_all(&mut h.client, OTHER_APPLICANT, Default::default())
        .await
        .is_empty());
}

// ---------------------------------------------------------------------------
// 4. Deadlines (fake clock)
// ---------------------------------------------------------------------------

async fn silent_agencies_are_deemed_not_to_object_at_the_deadline(backend: Backend) {
    let Some(mut h) = Setup::new(backend).spawn().await else {
        return;
    };
    // Two of four speak (and disagree); on another application nobody does.
    let mut split = filed(&mut h.client).await;
    split = recommend(
        &mut h.client,
        &split,
        "dev-commerce",
        pb::Agency::Commerce,
        pb::Recommendation::Approve,
    )
    .await;
    split = recommend(
        &mut h.client,
        &split,
        "dev-state",
        pb::Agency::State,
        pb::Recommendation::Deny,
    )
    .await;
    let silent = filed(&mut h.client).await;

    h.clock.advance(days(30) - chrono::Duration::seconds(1));
    let_the_sweeper_run().await;
    assert_eq!(
        get(&mut h.client, &split.name).await,
        split,
        "nothing happens before the deadline"
    );
    assert_eq!(get(&mut h.client, &silent.name).await, silent);

    h.clock.advance(chrono::Duration::seconds(1));
    let split = wait_for(&mut h.client, &split.name, "escalated", |a| {
        state_of(a) == pb::State::OperatingCommitteeReview
    })
    .await;
    let deemed: Vec<_> = split
        .recommendations
        .iter()
        .filter(|r| r.recommendation == pb::Recommendation::DeemedNoObjection as i32)
        .collect();
    assert_eq!(
        deemed
            .iter()
            .map(|r| (r.agency, r.recorded_by.as_str(), r.level))
            .collect::<Vec<_>>(),
        [
            (
                pb::Agency::Defense as i32,
                "system",
                pb::ReviewLevel::Agency as i32
            ),
            (
                pb::Agency::Energy as i32,
                "system",
                pb::ReviewLevel::Agency as i32
            ),
        ],
        "{split:#?}"
    );
    let events = all_events(&mut h.client, &split.name).await;
    let tail: Vec<_> = events
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|e| (e.r#type.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        tail,
        [
            ("DeemedNoObjection", "system"),
            ("DeemedNoObjection", "system"),
            ("EscalatedToOperatingCommittee", "system"),
        ]
    );

    // Nobody objected: the agencies agree, the licensing officer decides.
    let silent = wait_for(
        &mut h.client,
        &silent.name,
        "referred to the officer",
        |a| state_of(a) == pb::State::AwaitingLicensingDecision,
    )
    .await;
    assert_eq!(silent.recommendations.len(), 4);
    assert!(silent
        .recommendations
        .iter()
        .all(|r| r.recorded_by == "system"
            && r.recommendation == pb::Recommendation::DeemedNoObjection as i32));
    assert!(silent.agency_due.iter().all(|d| d.answered));
    let decided = decide(&mut h.client, &silent, OFFICER, pb::Outcome::Approve).await;
    assert_eq!(state_of(&decided), pb::State::Decided);
    assert!(decided.decision.unwrap().r#final);
}

async fn appeal_window_expiry_makes_the_decision_final(backend: Backend) {
    let Some(mut h) = Setup::new(backend).spawn().await else {
        return;
    };
    let app = oc_approved(&mut h.client).await;
    let step_due = app.step_due_time.expect("the window's end");
    let decided_at = app.decision.as_ref().unwrap().decide_time.unwrap();
    assert_eq!(step_due.seconds - decided_at.seconds, 5 * 86_400);

    h.clock.advance(days(5) - chrono::Duration::seconds(1));
    let_the_sweeper_run().await;
    assert_eq!(
        get(&mut h.client, &app.name).await,
        app,
        "the window is still open"
    );

    h.clock.advance(chrono::Duration::seconds(1));
    let app = wait_for(&mut h.client, &app.name, "decided", |a| {
        state_of(a) == pb::State::Decided
    })
    .await;
    let decision = app.decision.clone().unwrap();
    assert!(decision.r#final);
    assert_eq!(decision.outcome, pb::Outcome::Approve as i32);
    assert_eq!(decision.level, pb::ReviewLevel::OperatingCommittee as i32);
    let events = all_events(&mut h.client, &app.name).await;
    let last = events.last().unwrap();
    assert_eq!(
        (last.r#type.as_str(), last.actor.as_str()),
        ("DecisionFinal", "system")
    );
    expect_refusal(
        h.client
            .appeal_application(authed(appeal_request(&app, pb::Agency::State), "dev-state"))
            .await,
        Code::FailedPrecondition,
        "APPEAL_WINDOW_CLOSED",
    );
}

async fn acep_votes_are_tallied_at_the_deadline(backend: Backend) {
    let Some(mut h) = Setup::new(backend).spawn().await else {
        return;
    };
    let app = oc_approved(&mut h.client).await;
    let app = appeal(&mut h.client, &app, "dev-state", pb::Agency::State).await;
    assert_eq!(state_of(&app), pb::State::AcepReview);
    // One vote of four is cast: to deny.
    let app = recommend(
        &mut h.client,
        &app,
        "dev-acep-state",
        pb::Agency::State,
        pb::Recommendation::Deny,
    )
    .await;
    h.clock.advance(days(11));
    let app = wait_for(&mut h.client, &app.name, "tallied", |a| {
        state_of(a) == pb::State::AppealWindow
    })
    .await;
    let decision = app.decision.clone().unwrap();
    assert_eq!(
        (
            decision.outcome,
            decision.level,
            decision.decided_by.as_str(),
            decision.r#final
        ),
        (
            pb::Outcome::Deny as i32,
            pb::ReviewLevel::Acep as i32,
            "system",
            false
        ),
        "{app:#?}"
    );
    let events = all_events(&mut h.client, &app.name).await;
    let tail: Vec<_> = events
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(|e| e.r#type.as_str())
        .collect();
    assert_eq!(tail, ["VotesTallied", "Decided"]);
}

async fn overall_deadline_refers_to_the_president(backend: Backend) {
    let Some(mut h) = Setup::new(backend).spawn().await else {
        return;
    };
    let app = agencies_disagree(&mut h.client).await;
    // The OC clock (day 44) only makes the application overdue.
    h.clock.advance(days(90) - chrono::Duration::seconds(1));
    let_the_sweeper_run().await;
    assert_eq!(get(&mut h.client, &app.name).await, app);

    h.clock.advance(chrono::Duration::seconds(1));
    let app = wait_for(&mut h.client, &app.name, "with the President", |a| {
        state_of(a) == pb::State::PresidentialReview
    })
    .await;
    assert_eq!(app.level, pb::ReviewLevel::President as i32);
    let events = all_events(&mut h.client, &app.name).await;
    let last = events.last().unwrap();
    assert_eq!(
        (last.r#type.as_str(), last.actor.as_str()),
        ("ReferredToPresident", "system")
    );
    // The OC chair no longer decides; the President does, finally.
    expect_refusal(
        h.client
            .decide_application(authed(
                decision_request(&app, pb::Outcome::Approve),
                OC_CHAIR,
            ))
            .await,
        Code::FailedPrecondition,
        "NOT_AT_YOUR_LEVEL",
    );
    let decided = decide(&mut h.client, &app, PRESIDENT, pb::Outcome::Deny).await;
    assert_eq!(state_of(&decided), pb::State::Decided);
    let decision = decided.decision.unwrap();
    assert_eq!(
        (decision.decided_by.as_str(), decision.r#final),
        ("president", true)
    );
}

async fn overdue_filter_finds_a_passed_operating_committee_deadline(backend: Backend) {
    let Some(mut h) = Setup::new(backend).spawn().await else {
        return;
    };
    let overdue = pb::ListApplicationsRequest {
        overdue: true,
        ..Default::default()
    };
    let at_oc = agencies_disagree(&mut h.client).await;
    let oc_due = at_oc.step_due_time.unwrap();
    let filed_at = at_oc.create_time.unwrap();
    assert_eq!(
        oc_due.seconds - filed_at.seconds,
        44 * 86_400,
        "agency deadline + 14 days"
    );
    assert!(list_all(&mut h.client, OFFICER, overdue.clone())
        .await
        .is_empty());

    h.clock.advance(days(44));
    let fresh = filed(&mut h.client).await;
    let listed = list_all(&mut h.client, OFFICER, overdue.clone()).await;
    assert_eq!(
        listed.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        [at_oc.name.as_str()]
    );
    assert_eq!(state_of(&listed[0]), pb::State::OperatingCommitteeReview);
    let everything = list_all(&mut h.client, OFFICER, Default::default()).await;
    assert_eq!(
        everything
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        [fresh.name.as_str(), at_oc.name.as_str()]
    );
    // Combined with another filter.
    let by_state = pb::ListApplicationsRequest {
        state: pb::State::AgencyReview as i32,
        ..overdue
    };
    assert!(list_all(&mut h.client, OFFICER, by_state).await.is_empty());
}

// ---------------------------------------------------------------------------
// 5, 6. The classifier: down, hanging, refusing
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classifier_down_then_up_classifies_in_the_background() {
    let addr = unused_port();
    let mut h = Setup::new(Backend::Sqlite)
        .classifier_url(format!("http://{addr}"))
        .spawn()
        .await
        .unwrap();
    assert!(h.classifier.is_none(), "nothing listens on {addr} yet");
    let mut request = authed(h200_to("CN", 5_000), APPLICANT);
    request.set_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let app = h
        .client
        .create_application(request)
        .await
        .expect("accepted while the classifier is down")
        .into_inner();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(state_of(&app), pb::State::ClassificationPending);
    assert!(app.classifications.is_empty());

    h.start_classifier_at(addr).await;
    let app = wait_for(&mut h.client, &app.name, "classified", |a| {
        state_of(a) != pb::State::ClassificationPending
    })
    .await;
    assert_eq!(state_of(&app), pb::State::AgencyReview, "{app:#?}");
    let paragraph = app.classifications[0]
        .result
        .as_ref()
        .and_then(|r| r.classification.as_ref())
        .map(|c| c.paragraph.clone());
    assert_eq!(paragraph.as_deref(), Some("3A090.a.1"));
    let events = all_events(&mut h.client, &app.name).await;
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.r#type.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ApplicationFiled", "exporter-1"),
            ("ItemsClassified", "system"),
            ("ReferredToAgencies", "system"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_classifier_does_not_outlive_the_callers_deadline() {
    // Accepts connections (the kernel does) but never answers.
    let black_hole = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", black_hole.local_addr().unwrap());
    let mut h = Setup::new(Backend::Sqlite)
        .classifier_url(url)
        .spawn()
        .await
        .unwrap();
    let mut request = authed(h200_to("CN", 5_000), APPLICANT);
    request.set_timeout(Duration::from_secs(1));
    let started = Instant::now();
    // Past its deadline the server would have answered CANCELLED.
    let app = h
        .client
        .create_application(request)
        .await
        .expect("accepted within the deadline")
        .into_inner();
    assert!(
        started.elapsed() < Duration::from_millis(1_200),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(state_of(&app), pb::State::ClassificationPending);
    drop(black_hole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classifier_refusals_name_the_fields_of_the_filing() {
    let mut h = spawn().await;
    let nan_spec = pb::LineItem {
        item: Some(pb::line_item::Item::Spec(cpb::ChipSpec {
            name: "my-accelerator".into(),
            kind: cpb::ItemKind::IntegratedCircuit as i32,
            market: cpb::Market::Datacenter as i32,
            rates: vec![cpb::ProcessingRate {
                bit_length: 8,
                dense_tops: f64::NAN,
                format: "INT8".into(),
            }],
            dies: vec![cpb::Die {
                area_mm2: 600.0,
                non_planar: true,
                ..Default::default()
            }],
            ..Default::default()
        })),
        quantity: 10,
        unit_value_usd_cents: 100,
    };
    let cases = [
        (
            filing_with(|a| a.items = vec![nan_spec.clone()]),
            "application.items[0].spec.rates[0].dense_tops",
        ),
        (
            filing_with(|a| a.items = vec![catalog_item("NO-SUCH-CHIP", 1)]),
            "application.items[0].catalog_chip",
        ),
        (
            filing_with(|a| {
                let route = a.transaction.as_mut().unwrap().route.as_mut().unwrap();
                route.destination_country = "XX".into();
            }),
            "application.transaction.route.destination_country",
        ),
    ];
    for (request, field) in cases {
        expect_invalid_field(
            h.client
                .create_application(authed(request, APPLICANT))
                .await,
            "INVALID_ARGUMENT",
            field,
        );
    }
    assert!(list_all(&mut h.client, AUDITOR, Default::default())
        .await
        .is_empty());
    assert!(all_events(&mut h.client, "applications/-").await.is_empty());
}

// ---------------------------------------------------------------------------
// 7. Restart
// ---------------------------------------------------------------------------

async fn restart_on_the_same_database_keeps_everything(backend: Backend) {
    let Some(mut h) = Setup::new(backend).spawn().await else {
        return;
    };
    let mut names = Vec::new();
    for i in 0..10 {
        let app = filed(&mut h.client).await;
        let app = match i {
            0 => {
                recommend(
                    &mut h.client,
                    &app,
                    "dev-commerce",
                    pb::Agency::Commerce,
                    pb::Recommendation::Approve,
                )
                .await
            }
            1 => agencies_agree(&mut h.client).await,
            2 => {
                let app = agencies_agree(&mut h.client).await;
                decide(
                    &mut h.client,
                    &app,
                    OFFICER,
                    pb::Outcome::ApproveWithConditions,
                )
                .await
            }
            3 => h
                .client
                .withdraw_application(authed(withdraw_request(&app), APPLICANT))
                .await
                .unwrap()
                .into_inner(),
            4 => agencies_disagree(&mut h.client).await,
            5 => oc_approved(&mut h.client).await,
            _ => app,
        };
        names.push(app.name);
        h.clock.advance(chrono::Duration::seconds(1));
    }
    let before_apps = {
        let mut apps = Vec::new();
        for name in &names {
            apps.push(get(&mut h.client, name).await);
        }
        apps
    };
    let before_list = list_all(&mut h.client, AUDITOR, Default::default()).await;
    let before_events = all_events(&mut h.client, "applications/-").await;
    let before_verify = verify_all(&mut h.client).await;
    assert!(before_verify.intact, "{before_verify:?}");

    h.restart_review().await;

    for (name, before) in names.iter().zip(&before_apps) {
        assert_eq!(
            &get(&mut h.client, name).await,
            before,
            "{name} after the restart"
        );
    }
    assert_eq!(
        list_all(&mut h.client, AUDITOR, Default::default()).await,
        before_list
    );
    assert_eq!(
        all_events(&mut h.client, "applications/-").await,
        before_events
    );
    let verify = verify_all(&mut h.client).await;
    assert_eq!(verify, before_verify);
    assert_eq!(verify.applications_checked, before_list.len() as i64);
    assert_eq!(verify.events_checked, before_events.len() as i64);

    // Etags and request ids survive: a transition with an etag read before the
    // restart goes through, and a retried request is still recognised.
    let first = &before_apps[0];
    let state_request =
        recommendation_request(first, pb::Agency::State, pb::Recommendation::Approve);
    let moved = h
        .client
        .record_recommendation(authed(state_request.clone(), "dev-state"))
        .await
        .expect("etag from before the restart")
        .into_inner();
    h.restart_review().await;
    let retried = h
        .client
        .record_recommendation(authed(state_request, "dev-state"))
        .await
        .expect("retry after another restart")
        .into_inner();
    assert_eq!(retried, moved);
    assert!(verify_all(&mut h.client).await.intact);
}

// ---------------------------------------------------------------------------
// 8. Pagination
// ---------------------------------------------------------------------------

/// `token` with one character in the middle changed.
fn tampered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

async fn list_applications_pages_newest_first_and_refuses_foreign_tokens(backend: Backend) {
    let Some(mut h) = Setup::new(backend).spawn().await else {
        return;
    };
    let mut created = Vec::new();
    for i in 0..25 {
        let destination = if i % 2 == 0 { "CN" } else { "SA" };
        created.push(
            create(&mut h.client, APPLICANT, h200_to(destination, 10))
                .await
                .name,
        );
        h.clock.advance(chrono::Duration::seconds(1));
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut tokens = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListApplicationsRequest {
            page_size: 7,
            page_token: page_token.clone(),
            ..Default::default()
        };
        let page = h
            .client
            .list_applications(authed(request, AUDITOR))
            .await
            .expect("a page")
            .into_inner();
        sizes.push(page.applications.len());
        seen.extend(page.applications.into_iter().map(|a| a.name));
        if page.next_page_token.is_empty() {
            break;
        }
        tokens.push(page.next_page_token.clone());
        page_token = page.next_page_token;
    }
    assert_eq!(sizes, [7, 7, 7, 4]);
    assert_eq!(seen, newest_first);

    // The page size may change between pages; the filters may not.
    let request = pb::ListApplicationsRequest {
        page_size: 100,
        page_token: tokens[0].clone(),
        ..Default::default()
    };
    let rest = h
        .client
        .list_applications(authed(request, AUDITOR))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.applications.len(), 18);
    let invalid =
        |page_token: &str, filter: pb::ListApplicationsRequest| pb::ListApplicationsRequest {
            page_size: 7,
            page_token: page_token.to_owned(),
            ..filter
        };
    let other_filters = [
        pb::ListApplicationsRequest {
            destination_country: "CN".into(),
            ..Default::default()
        },
        pb::ListApplicationsRequest {
            state: pb::State::AgencyReview as i32,
            ..Default::default()
        },
        pb::ListApplicationsRequest {
            overdue: true,
            ..Default::default()
        },
    ];
    let mut refused = vec![
        (invalid(&tampered(&tokens[0]), Default::default()), AUDITOR),
        (invalid("not a token", Default::default()), AUDITOR),
        // The applicant's own listing is another query.
        (invalid(&tokens[0], Default::default()), APPLICANT),
    ];
    for filter in other_filters {
        refused.push((invalid(&tokens[0], filter), AUDITOR));
    }
    for (request, token) in refused {
        let status = expect_invalid_field(
            h.client
                .list_applications(authed(request.clone(), token))
                .await,
            "INVALID_PAGE_TOKEN",
            "page_token",
        );
        assert_eq!(
            status
                .get_details_error_info()
                .unwrap()
                .metadata
                .get("method")
                .map(String::as_str),
            Some("ListApplications"),
            "{request:?}"
        );
    }

    // A filtered listing pages within its filter.
    let mut chinese = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListApplicationsRequest {
            page_size: 4,
            page_token,
            destination_country: "cn".into(),
            ..Default::default()
        };
        let page = h
            .client
            .list_applications(authed(request, APPLICANT))
            .await
            .unwrap()
            .into_inner();
        chinese.extend(page.applications.into_iter().map(|a| a.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let to_china: Vec<String> = newest_first
        .iter()
        .filter(|n| created.iter().position(|c| c == *n).unwrap() % 2 == 0)
        .cloned()
        .collect();
    assert_eq!(chinese, to_china);
}

async fn list_application_events_pages_oldest_first_and_refuses_foreign_tokens(backend: Backend) {
    let Some(mut h) = Setup::new(backend).spawn().await else {
        return;
    };
    let mut names = Vec::new();
    for _ in 0..25 {
        names.push(filed(&mut h.client).await.name);
    }
    let everything = all_events(&mut h.client, "applications/-").await;
    assert_eq!(everything.len(), 75, "filed, classified, referred");

    let mut seen = Vec::new();
    let mut tokens = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListApplicationEventsRequest {
            parent: "applications/-".into(),
            page_size: 7,
            page_token: page_token.clone(),
        };
        let page = h
            .client
            .list_application_events(authed(request, AUDITOR))
            .await
            .unwrap()
            .into_inner();
        assert!(page.events.len() <= 7);
        seen.extend(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        tokens.push(page.next_page_token.clone());
        page_token = page.next_page_token;
    }
    assert_eq!(tokens.len(), 10, "75 events in pages of 7");
    assert_eq!(seen, everything);
    assert!(seen.windows(2).all(|w| w[0].sequence < w[1].sequence));

    // One application's trail, in pages of 2.
    let mut one = Vec::new();
    let mut page_token = String::new();
    let mut one_token = String::new();
    loop {
        let request = pb::ListApplicationEventsRequest {
            parent: names[3].clone(),
            page_size: 2,
            page_token,
        };
        let page = h
            .client
            .list_application_events(authed(request, APPLICANT))
            .await
            .unwrap()
            .into_inner();
        one.extend(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        one_token = page.next_page_token.clone();
        page_token = page.next_page_token;
    }
    assert_eq!(
        one.iter()
            .map(|e| e.application_sequence)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(one.iter().all(|e| e.application == names[3]));

    let refused = [
        (names[0].clone(), tampered(&tokens[0])),
        ("applications/-".to_owned(), tampered(&tokens[4])),
        ("applications/-".to_owned(), one_token.clone()),
        (names[4].clone(), one_token),
        (names[0].clone(), tokens[0].clone()),
    ];
    for (parent, page_token) in refused {
        let request = pb::ListApplicationEventsRequest {
            parent,
            page_size: 7,
            page_token,
        };
        let status = expect_invalid_field(
            h.client
                .list_application_events(authed(request, AUDITOR))
                .await,
            "INVALID_PAGE_TOKEN",
            "page_token",
        );
        assert_eq!(
            status
                .get_details_error_info()
                .unwrap()
                .metadata
                .get("method")
                .map(String::as_str),
            Some("ListApplicationEvents")
        );
    }
}

// ---------------------------------------------------------------------------
// 9. Watching
// ---------------------------------------------------------------------------

async fn next_event(stream: &mut tonic::Streaming<pb::ApplicationEvent>) -> pb::ApplicationEvent {
    tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("an event within the patience")
        .expect("no stream error")
        .expect("the stream goes on")
}

async fn watch_sends_history_then_live_events_in_sequence_order(backend: Backend) {
    let Some(mut h) = Setup::new(backend).spawn().await else {
        return;
    };
    filed(&mut h.client).await;
    agencies_disagree(&mut h.client).await;
    let history = all_events(&mut h.client, "applications/-").await;

    let watch = |after_sequence, application: &str| {
        let mut request = Request::new(pb::WatchApplicationsRequest {
            after_sequence,
            application: application.to_owned(),
        });
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {AUDITOR}").parse().unwrap(),
        );
        request
    };
    let mut all = h
        .client
        .watch_applications(watch(0, ""))
        .await
        .expect("watch")
        .into_inner();
    let mut received = Vec::new();
    for _ in 0..history.len() {
        received.push(next_event(&mut all).await);
    }
    assert_eq!(received, history);

    // Live: one application filed, then a burst of concurrent ones.
    let live = filed(&mut h.client).await;
    let mut only_live = h
        .client
        .watch_applications(watch(0, &live.name))
        .await
        .expect("watch one")
        .into_inner();
    let burst = (0..8).map(|_| {
        let mut client = h.client.clone();
        async move { filed(&mut client).await }
    });
    futures::future::join_all(burst).await;
    let after = all_events(&mut h.client, "applications/-").await;
    assert_eq!(after.len(), history.len() + 9 * 3);
    for _ in history.len()..after.len() {
        received.push(next_event(&mut all).await);
    }
    assert_eq!(received, after, "every event once, in sequence order");
    assert!(received.windows(2).all(|w| w[0].sequence < w[1].sequence));

    let mine: Vec<_> = after
        .iter()
        .filter(|e| e.application == live.name)
        .cloned()
        .collect();
    let mut watched = Vec::new();
    for _ in 0..mine.len() {
        watched.push(next_event(&mut only_live).await);
    }
    assert_eq!(watched, mine);

    // From a later sequence, only what follows it.
    let from = history.last().unwrap().sequence;
    let mut later = h
        .client
        .watch_applications(watch(from, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut later).await, after[history.len()]);
}

// ---------------------------------------------------------------------------
// 10. Invalid input
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_names_the_field_and_writes_nothing() {
    let mut h = spawn().await;
    let app = filed(&mut h.client).await;
    let events_before = all_events(&mut h.client, "applications/-").await;
    let recommendation =
        || recommendation_request(&app, pb::Agency::Commerce, pb::Recommendation::Approve);
    let decision = || decision_request(&app, pb::Outcome::Approve);
    let long = |n: usize| "x".repeat(n);
    let transaction = |edit: fn(&mut pb::ExportTransaction)| {
        filing_with(move |a| edit(a.transaction.as_mut().expect("a transaction")))
    };

    let rows: Vec<(&str, Call, &str)> = vec![
        (
            "no application",
            Call::create(pb::CreateApplicationRequest {
                application: None,
                request_id: String::new(),
            }),
            "application",
        ),
        (
            "no items",
            Call::create(filing_with(|a| a.items.clear())),
            "application.items",
        ),
        (
            "too many items",
            Call::create(filing_with(|a| {
                a.items = vec![catalog_item("H200", 1); 101]
            })),
            "application.items",
        ),
        (
            "item without chip",
            Call::create(filing_with(|a| a.items[0].item = None)),
            "application.items[0].item",
        ),
        (
            "quantity 0",
            Call::create(filing_with(|a| a.items[0].quantity = 0)),
            "application.items[0].quantity",
        ),
        (
            "huge quantity",
            Call::create(filing_with(|a| a.items[0].quantity = u64::MAX)),
            "application.items[0].quantity",
        ),
        (
            "empty catalogue name",
            Call::create(filing_with(|a| {
                a.items[0].item = Some(pb::line_item::Item::CatalogChip(String::new()))
            })),
            "application.items[0].catalog_chip",
        ),
        (
            "no transaction",
            Call::create(filing_with(|a| a.transaction = None)),
            "application.transaction",
        ),
        (
            "no route",
            Call::create(transaction(|t| t.route = None)),
            "application.transaction.route",
        ),
        (
            "end user name over 200",
            Call::create(transaction(|t| t.end_user_name = "x".repeat(201))),
            "application.transaction.end_user_name",
        ),
        (
            "blank end use statement",
            Call::create(transaction(|t| t.end_use_statement = "  ".into())),
            "application.transaction.end_use_statement",
        ),
        (
            "three-letter destination",
            Call::create(transaction(|t| {
                t.route.as_mut().unwrap().destination_country = "CHN".into()
            })),
            "application.transaction.route.destination_country",
        ),
        (
            "unknown export type",
            Call::create(transaction(|t| t.route.as_mut().unwrap().export_type = 99)),
            "application.transaction.route.export_type",
        ),
        (
            "request id not a UUID",
            Call::create(pb::CreateApplicationRequest {
                request_id: "retry-1".into(),
                ..h200_to("CN", 1)
            }),
            "request_id",
        ),
        (
            "unknown agency",
            Call::Recommend(pb::RecordRecommendationRequest {
                agency: 99,
                ..recommendation()
            }),
            "agency",
        ),
        (
            "unknown recommendation",
            Call::Recommend(pb::RecordRecommendationRequest {
                recommendation: 99,
                ..recommendation()
            }),
            "recommendation",
        ),
        (
            "rationale over 4000",
            Call::Recommend(pb::RecordRecommendationRequest {
                rationale: long(4_001),
                ..recommendation()
            }),
            "rationale",
        ),
        (
            "empty etag",
            Call::Recommend(pb::RecordRecommendationRequest {
                etag: String::new(),
                ..recommendation()
            }),
            "etag",
        ),
        (
            "transition request id not a UUID",
            Call::Recommend(pb::RecordRecommendationRequest {
                request_id: "again".into(),
                ..recommendation()
            }),
            "request_id",
        ),
        (
            "empty name",
            Call::Recommend(pb::RecordRecommendationRequest {
                name: String::new(),
                ..recommendation()
            }),
            "name",
        ),
        (
            "unknown outcome",
            Call::Decide(pb::DecideApplicationRequest {
                outcome: 99,
                ..decision()
            }),
            "outcome",
        ),
        (
            "malformed etag",
            Call::Decide(pb::DecideApplicationRequest {
                etag: "latest".into(),
                ..decision()
            }),
            "etag",
        ),
        (
            "too many conditions",
            Call::Decide(pb::DecideApplicationRequest {
                conditions: vec!["c".into(); 51],
                ..decision()
            }),
            "conditions",
        ),
        (
            "appeal for an unknown agency",
            Call::Appeal(pb::AppealApplicationRequest {
                agency: 99,
                ..appeal_request(&app, pb::Agency::State)
            }),
            "agency",
        ),
        (
            "withdrawal reason over 4000",
            Call::Withdraw(pb::WithdrawApplicationRequest {
                reason: long(4_001),
                ..withdraw_request(&app)
            }),
            "reason",
        ),
        (
            "name without id",
            Call::Get(pb::GetApplicationRequest {
                name: "applications/".into(),
            }),
            "name",
        ),
        (
            "foreign collection",
            Call::Get(pb::GetApplicationRequest {
                name: "foo/1".into(),
            }),
            "name",
        ),
        (
            "id of 200 characters",
            Call::Get(pb::GetApplicationRequest {
                name: format!("applications/{}", long(200)),
            }),
            "name",
        ),
        (
            "id with a slash",
            Call::Get(pb::GetApplicationRequest {
                name: format!("{}/x", app.name),
            }),
            "name",
        ),
        (
            "unknown state filter",
            Call::List(pb::ListApplicationsRequest {
                state: 99,
                ..Default::default()
            }),
            "state",
        ),
        (
            "unknown level filter",
            Call::List(pb::ListApplicationsRequest {
                level: 99,
                ..Default::default()
            }),
            "level",
        ),
        (
            "unknown agency filter",
            Call::List(pb::ListApplicationsRequest {
                awaiting_agency: 99,
                ..Default::default()
            }),
            "awaiting_agency",
        ),
        (
            "negative page size",
            Call::List(pb::ListApplicationsRequest {
                page_size: -1,
                ..Default::default()
            }),
            "page_size",
        ),
        (
            "bad destination filter",
            Call::List(pb::ListApplicationsRequest {
                destination_country: "C1".into(),
                ..Default::default()
            }),
            "destination_country",
        ),
        (
            "negative events page size",
            Call::Events(pb::ListApplicationEventsRequest {
                parent: app.name.clone(),
                page_size: -7,
                page_token: String::new(),
            }),
            "page_size",
        ),
        (
            "bad events parent",
            Call::Events(pb::ListApplicationEventsRequest {
                parent: "applications".into(),
                ..Default::default()
            }),
            "parent",
        ),
        (
            "negative watch sequence",
            Call::Watch(pb::WatchApplicationsRequest {
                after_sequence: -1,
                application: String::new(),
            }),
            "after_sequence",
        ),
        (
            "bad watch filter",
            Call::Watch(pb::WatchApplicationsRequest {
                after_sequence: 0,
                application: "foo/1".into(),
            }),
            "application",
        ),
        (
            "bad verify name",
            Call::Verify(pb::VerifyAuditTrailRequest {
                name: "applications/../x".into(),
            }),
            "name",
        ),
    ];
    assert!(rows.len() >= 25);
    let mut failures = Vec::new();
    for (label, call, field) in rows {
        // Applicants file and withdraw; the auditor reads; each transition by the role that makes it.
        let token = match &call {
            Call::Create(_) | Call::Withdraw(_) => APPLICANT,
            Call::Recommend(_) => "dev-commerce",
            Call::Decide(_) => OFFICER,
            Call::Appeal(_) => "dev-state",
            _ => AUDITOR,
        };
        let result = invoke(&mut h.client, Some(&format!("Bearer {token}")), call).await;
        let problem = match &result {
            Ok(()) => Some("succeeded".to_owned()),
            Err(status) => {
                let info = status.get_details_error_info();
                let fields = violation_fields(status);
                let fine = status.code() == Code::InvalidArgument
                    && info
                        .as_ref()
                        .is_some_and(|i| i.reason == "INVALID_ARGUMENT" && i.domain == DOMAIN)
                    && fields == [field];
                (!fine).then(|| describe(status))
            }
        };
        if let Some(problem) = problem {
            failures.push(format!(
                "{label}: expected INVALID_ARGUMENT on {field:?}, got {problem}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // What only the workflow can judge: refused with its own reasons, by field.
    let meaning: Vec<(&str, Call, &str, &str)> = vec![
        (
            "blank rationale",
            Call::Recommend(pb::RecordRecommendationRequest {
                rationale: "   ".into(),
                ..recommendation()
            }),
            "RATIONALE_REQUIRED",
            "rationale",
        ),
        (
            "conditions missing",
            Call::Recommend(pb::RecordRecommendationRequest {
                recommendation: pb::Recommendation::ApproveWithConditions as i32,
                conditions: Vec::new(),
                ..recommendation()
            }),
            "CONDITIONS_REQUIRED",
            "conditions",
        ),
        (
            "deemed no objection by hand",
            Call::Recommend(pb::RecordRecommendationRequest {
                recommendation: pb::Recommendation::DeemedNoObjection as i32,
                ..recommendation()
            }),
            "INVALID_ARGUMENT",
            "recommendation",
        ),
        (
            "conditions with a plain approval",
            Call::Recommend(pb::RecordRecommendationRequest {
                conditions: vec!["a condition".into()],
                ..recommendation()
            }),
            "INVALID_ARGUMENT",
            "recommendation",
        ),
        (
            "unspecified recommendation",
            Call::Recommend(pb::RecordRecommendationRequest {
                recommendation: 0,
                ..recommendation()
            }),
            "INVALID_ARGUMENT",
            "recommendation",
        ),
    ];
    for (label, call, reason, field) in meaning {
        let result = invoke(&mut h.client, Some("Bearer dev-commerce"), call).await;
        let problem = match &result {
            Ok(()) => Some("succeeded".to_owned()),
            Err(status) => {
                let info = status.get_details_error_info();
                let fine = status.code() == Code::InvalidArgument
                    && info
                        .as_ref()
                        .is_some_and(|i| i.reason == reason && i.domain == DOMAIN)
                    && violation_fields(status) == [field];
                (!fine).then(|| describe(status))
            }
        };
        if let Some(problem) = problem {
            failures.push(format!(
                "{label}: expected {reason} on {field:?}, got {problem}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let listed = list_all(&mut h.client, AUDITOR, Default::default()).await;
    assert_eq!(listed, vec![app.clone()], "nothing was written");
    assert_eq!(
        all_events(&mut h.client, "applications/-").await,
        events_before
    );
}
