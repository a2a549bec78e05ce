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
use test_support::postgres::Schema;
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
    Postgres(Schema),
}

impl TestDb {
    /// None when PostgreSQL is asked for but not configured (the test is skipped).
    async fn create(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(TestDb::Sqlite {
                dir: tempfile::tempdir().expect("temporary directory"),
            }),
            Backend::Postgres => {
                let test = std::thread::current()
                    .name()
                    .unwrap_or("postgres test")
                    .to_owned();
                let url = test_support::postgres::database_url(&test)?;
                Some(TestDb::Postgres(Schema::create(&url, "grpc").await))
            }
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
            backend: self.backend,
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

/// Both services on a fresh SQLite file, review-svc looking for the
/// classifier at `url` (where none is started).
async fn spawn_with_classifier_at(url: String) -> Harness {
    Setup::new(Backend::Sqlite)
        .classifier_url(url)
        .spawn()
        .await
        .expect("SQLite is always available")
}

/// A running pair. Fields drop in order: the servers before the database.
struct Harness {
    backend: Backend,
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
        self.stop_review().await;
        self.start_review_again().await;
    }

    /// Shuts review-svc down gracefully.
    async fn stop_review(&mut self) {
        let review = self.review.take().expect("review-svc is running");
        review.shutdown().await.expect("graceful shutdown");
    }

    /// Starts review-svc again on the same database, classifier and clock.
    async fn start_review_again(&mut self) {
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
        audit_key_file: None,
        max_watches_per_principal: review_svc::DEFAULT_MAX_WATCHES_PER_PRINCIPAL,
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
/// `async fn name(h: Harness)` of the module it is called in: the test
/// starts both services on its backend and hands them over, or does
/// nothing when the backend is not available.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(h) = crate::Setup::new(crate::Backend::Sqlite).spawn().await {
                        super::$name(h).await
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(h) = crate::Setup::new(crate::Backend::Postgres).spawn().await {
                        super::$name(h).await
                    }
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
    a_watch_sees_what_another_process_writes,
    a_request_for_information_stops_the_clocks_until_answered,
    an_unanswered_request_returns_the_application_without_action,
    a_hold_moves_the_referral_to_the_president,
    a_holds_own_deadline_makes_the_application_overdue,
);

#[path = "grpc/deadlines.rs"]
mod deadlines;
#[path = "grpc/helpers.rs"]
mod helpers;
#[path = "grpc/holds.rs"]
mod holds;
#[path = "grpc/idempotency.rs"]
mod idempotency;
#[path = "grpc/invalid_input.rs"]
mod invalid_input;
#[path = "grpc/licenses.rs"]
mod licenses;
#[path = "grpc/paging.rs"]
mod paging;
#[path = "grpc/permissions.rs"]
mod permissions;
use deadlines::*;
use helpers::*;
use holds::*;
use idempotency::*;
use paging::*;

// ---------------------------------------------------------------------------
// 11. Limits (in modules of their own)
// ---------------------------------------------------------------------------

#[path = "grpc/limits.rs"]
mod limits;
#[path = "grpc/names.rs"]
mod names;

#[path = "grpc/audit.rs"]
mod audit;
#[path = "grpc/malformed.rs"]
mod malformed;
#[path = "grpc/reload.rs"]
mod reload;

#[path = "grpc/answer_dictionary.rs"]
mod answer_dictionary;

// ---------------------------------------------------------------------------
// 12. The console's port: gRPC, gRPC-Web and the pages
// ---------------------------------------------------------------------------

#[path = "grpc/console.rs"]
mod console;
