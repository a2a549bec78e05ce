//! Crash safety and shared storage, with the services as processes:
//!
//! - review-svc is killed with SIGKILL at random points while clients keep
//!   sending idempotent CreateApplication and RecordRecommendation calls,
//!   each retried with its own request_id until acknowledged; afterwards
//!   every acknowledged change is in the history exactly once and the hash
//!   chain is intact. On SQLite, and on PostgreSQL when
//!   `REVIEW_TEST_DATABASE_URL` is set (a schema of its own per run).
//! - Two review-svc processes on one PostgreSQL database: conflicting
//!   transitions sent through both at once (exactly one wins per etag), and
//!   both sweepers racing over deadlines that pass during the test (each
//!   deadline's consequence recorded once).
//!
//! Set `CRASH_SEED` to replay a run's random choices (pauses before each kill,
//! mix of recommendations; the timing itself is the machine's); every test
//! prints its seed and a summary line.

#[path = "../common/mod.rs"]
mod common;
mod sigkill;
mod two_processes;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Resends;
use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use system_tests::{
    all_events, authed, decision_request, every_page, free_port, get_application, h200_to_china,
    recommendation_request, reconnecting_channel as channel, report, sqlite_url, start_classifier,
    verify_audit_trail, ServiceProcess, REVIEW_SERVICE,
};
use test_support::postgres::{database_url, Schema};
use tonic::transport::Channel;
use tonic::{Code, Status};

type Client = ReviewServiceClient<Channel>;

/// SIGKILLs of review-svc per crash run.
const KILLS: usize = 20;
/// Concurrent clients, each filing applications one after the other.
const WORKERS: usize = 3;
/// Bound of a whole crash run, per backend.
const RUN_BUDGET: Duration = Duration::from_secs(55);

const AGENCIES: [(pb::Agency, &str); 4] = [
    (pb::Agency::Commerce, "dev-commerce"),
    (pb::Agency::State, "dev-state"),
    (pb::Agency::Defense, "dev-defense"),
    (pb::Agency::Energy, "dev-energy"),
];

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

fn seed() -> u64 {
    match std::env::var("CRASH_SEED") {
        Ok(value) => value.trim().parse().expect("CRASH_SEED is a u64"),
        Err(_) => rand::random(),
    }
}

/// review-svc on `database_url`, with `day_seconds` to a day and a sweep
/// every `sweep_ms`.
async fn start_review(
    data: &Path,
    log: &str,
    classifier_url: &str,
    database_url: &str,
    day_seconds: &str,
    sweep_ms: &str,
) -> ServiceProcess {
    test_support::postgres::read_settings();
    system_tests::start_review(
        data,
        log,
        classifier_url,
        vec![
            "--database-url".into(),
            database_url.to_owned(),
            "--day-length-seconds".into(),
            day_seconds.to_owned(),
            "--sweep-interval-ms".into(),
            sweep_ms.to_owned(),
        ],
        Vec::new(),
    )
    .await
}

/// Two review-svcs on one database, sweeping every 10 ms: `review-a{suffix}`
/// and `review-b{suffix}`, each with a log of that name.
async fn start_two(
    data: &Path,
    suffix: &str,
    classifier_url: &str,
    database_url: &str,
    day_seconds: &str,
) -> (ServiceProcess, ServiceProcess) {
    let mut started = Vec::new();
    for instance in ["a", "b"] {
        let log = format!("review-{instance}{suffix}.log");
        started
            .push(start_review(data, &log, classifier_url, database_url, day_seconds, "10").await);
    }
    let b = started.pop().expect("b");
    let a = started.pop().expect("a");
    (a, b)
}

fn state(app: &pb::Application) -> pb::State {
    pb::State::try_from(app.state).unwrap_or_default()
}

fn version(app: &pb::Application) -> i64 {
    test_support::etag_version(&app.etag)
}

#[derive(Default)]
struct Counters {
    resends: Resends,
    creates: AtomicU64,
    recommendations: AtomicU64,
    aborted: AtomicU64,
    resent_with_new_etag: AtomicU64,
    aborted_but_visible: AtomicU64,
}

async fn get(
    channel: &Channel,
    name: &str,
    counters: &Counters,
    deadline: Instant,
) -> pb::Application {
    counters
        .resends
        .until_answered("GetApplication", deadline, || {
            let mut client = Client::new(channel.clone());
            let request = pb::GetApplicationRequest {
                name: name.to_owned(),
            };
            async move {
                client
                    .get_application(authed(request, "dev-officer"))
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
        .unwrap_or_else(|status| panic!("GetApplication {name}: {status:?}"))
}

fn has_recommendation(app: &pb::Application, agency: pb::Agency, rationale: &str) -> bool {
    app.recommendations.iter().any(|r| {
        r.agency == agency as i32
            && r.level == pb::ReviewLevel::Agency as i32
            && r.rationale == rationale
    })
}

/// What a client was told was recorded.
struct Acknowledged {
    name: String,
    /// (agency, recommendation, rationale) per agency.
    recommendations: Vec<(pb::Agency, pb::Recommendation, String)>,
}

/// Files one application and records the four agencies' recommendations,
/// sent at once with the etag each last saw; every call is retried with
/// its request_id until acknowledged.
async fn file_and_recommend(
    channel: Channel,
    rng: &mut StdRng,
    counters: Arc<Counters>,
    deadline: Instant,
) -> Acknowledged {
    let request = h200_to_china(rng.random_range(1..10_000));
    let request_id = request.request_id.clone();
    let mut app = counters
        .resends
        .until_answered("CreateApplication", deadline, || {
            let mut client = Client::new(channel.clone());
            let request = request.clone();
            async move {
                client
                    .create_application(authed(request, "dev-applicant"))
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
        .unwrap_or_else(|status| panic!("CreateApplication {request_id}: {status:?}"));
    counters.creates.fetch_add(1, Relaxed);
    // The classifier stays up; should a call to it have failed, the
    // background worker classifies the application shortly.
    while state(&app) == pb::State::ClassificationPending {
        assert!(Instant::now() < deadline, "{} never classified", app.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
        app = get(&channel, &app.name, &counters, deadline).await;
    }
    assert_eq!(state(&app), pb::State::AgencyReview, "{app:?}");

    let choices: Vec<pb::Recommendation> = AGENCIES
        .iter()
        .map(|_| match rng.random_range(0..3) {
            0 => pb::Recommendation::Approve,
            1 => pb::Recommendation::ApproveWithConditions,
            _ => pb::Recommendation::Deny,
        })
        .collect();
    let recommendations = AGENCIES
        .iter()
        .zip(choices)
        .map(|(&(agency, token), recommendation)| {
            let channel = channel.clone();
            let counters = Arc::clone(&counters);
            let app = app.clone();
            async move {
                let rationale = recommend_until_acknowledged(
                    &channel,
                    &app,
                    agency,
                    token,
                    recommendation,
                    &counters,
                    deadline,
                )
                .await;
                (agency, recommendation, rationale)
            }
        });
    let recommendations = futures::future::join_all(recommendations).await;
    Acknowledged {
        name: app.name,
        recommendations,
    }
}

/// One agency's recommendation, until acknowledged. A retry after a
/// transport failure is the same request (same request_id and etag: if the
/// first attempt committed, the answer is its replay). Only when the answer
/// is ABORTED, and a fresh read does not show the recommendation, is it
/// sent again with the new etag (still the same request_id).
async fn recommend_until_acknowledged(
    channel: &Channel,
    app: &pb::Application,
    agency: pb::Agency,
    token: &str,
    recommendation: pb::Recommendation,
    counters: &Counters,
    deadline: Instant,
) -> String {
    let request_id = uuid::Uuid::new_v4().to_string();
    let rationale = format!("{} position (request {request_id})", agency.as_str_name());
    let conditions = if recommendation == pb::Recommendation::ApproveWithConditions {
        vec!["No transfer to military end users".to_owned()]
    } else {
        Vec::new()
    };
    let mut etag = app.etag.clone();
    loop {
        let request = pb::RecordRecommendationRequest {
            name: app.name.clone(),
            etag: etag.clone(),
            request_id: request_id.clone(),
            agency: agency as i32,
            recommendation: recommendation as i32,
            conditions: conditions.clone(),
            rationale: rationale.clone(),
        };
        let answer = counters
            .resends
            .until_answered("RecordRecommendation", deadline, || {
                let mut client = Client::new(channel.clone());
                let request = request.clone();
                async move {
                    client
                        .record_recommendation(authed(request, token))
                        .await
                        .map(|r| r.into_inner())
                }
            })
            .await;
        match answer {
            Ok(updated) => {
                assert!(
                    has_recommendation(&updated, agency, &rationale),
                    "acknowledged, but the answer lacks the recommendation: {updated:?}"
                );
                counters.recommendations.fetch_add(1, Relaxed);
                return rationale;
            }
            Err(status) if status.code() == Code::Aborted => {
                counters.aborted.fetch_add(1, Relaxed);
                let current = get(channel, &app.name, counters, deadline).await;
                if has_recommendation(&current, agency, &rationale) {
                    // A retry of a committed request is answered with its
                    // replay, never ABORTED: count it (asserted zero later).
                    counters.aborted_but_visible.fetch_add(1, Relaxed);
                    return rationale;
                }
                counters.resent_with_new_etag.fetch_add(1, Relaxed);
                etag = current.etag;
            }
            Err(status) => panic!("{} {}: {status:?}", app.name, agency.as_str_name()),
        }
    }
}

/// The level and agency an event is about, as names ("AGENCY", "STATE");
/// empty where it names none.
fn level_and_agency(event: &pb::ApplicationEvent) -> (String, String) {
    use pb::application_event::Payload;
    let (level, agency) = match event.payload.as_ref() {
        Some(Payload::DeemedNoObjection(d)) => (d.level, d.agency),
        Some(Payload::RecommendationRecorded(r)) => {
            let r = r.recommendation.clone().unwrap_or_default();
            (r.level, r.agency)
        }
        Some(Payload::DecisionFinal(d)) => (d.level, 0),
        Some(Payload::VotesTallied(v)) => (v.level, 0),
        Some(_) => (0, 0),
        None => panic!("an event without its content: {event:?}"),
    };
    let level = pb::ReviewLevel::try_from(level).unwrap_or_default();
    let agency = pb::Agency::try_from(agency).unwrap_or_default();
    (
        level
            .as_str_name()
            .trim_start_matches("REVIEW_LEVEL_")
            .into(),
        agency.as_str_name().trim_start_matches("AGENCY_").into(),
    )
}

fn count(events: &[pb::ApplicationEvent], kind: &str) -> usize {
    events.iter().filter(|e| e.r#type == kind).count()
}

/// The chain of one application is contiguous and its etag counts its events.
fn check_sequence(app: &pb::Application, events: &[pb::ApplicationEvent]) {
    for (i, event) in events.iter().enumerate() {
        assert_eq!(
            event.application_sequence,
            i as i64 + 1,
            "{}: gap or duplicate in the history",
            app.name
        );
    }
    assert_eq!(
        version(app),
        events.len() as i64,
        "{}: etag {} but {} events",
        app.name,
        app.etag,
        events.len()
    );
}

fn panics_in(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("panicked"))
        .map(str::to_owned)
        .collect()
}
