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

mod common;

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

// ---------------------------------------------------------------------------
// 1. SIGKILL at random points
// ---------------------------------------------------------------------------

async fn crash_run(backend: &str, database_url: &str, data: &Path) {
    let seed = seed();
    report(format!(
        "crash[{backend}]: seed {seed} (CRASH_SEED={seed} replays the random pauses and choices)"
    ));
    let started = Instant::now();
    let deadline = started + RUN_BUDGET;
    let classifier = start_classifier(free_port().unwrap(), data).await;
    let mut review = start_review(
        data,
        "review.log",
        &classifier.url(),
        database_url,
        "86400",
        "50",
    )
    .await;
    let channel = channel(&review);
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));

    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let channel = channel.clone();
            let counters = Arc::clone(&counters);
            let stop = Arc::clone(&stop);
            let mut rng = StdRng::seed_from_u64(
                seed ^ (worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                while !stop.load(Relaxed) {
                    acknowledged.push(
                        file_and_recommend(
                            channel.clone(),
                            &mut rng,
                            Arc::clone(&counters),
                            deadline,
                        )
                        .await,
                    );
                }
                acknowledged
            })
        })
        .collect();

    // The killer: random pauses, so kills land before, during and after writes.
    let mut rng = StdRng::seed_from_u64(seed);
    let mut restart_time = Duration::ZERO;
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..600))).await;
        review.kill();
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
        let restarting = Instant::now();
        review.restart(REVIEW_SERVICE).await.unwrap_or_else(|e| {
            panic!(
                "review-svc restarts on the same data: {e}\n{}",
                review.log_tail()
            )
        });
        restart_time += restarting.elapsed();
    }
    stop.store(true, Relaxed);
    let mut acknowledged = Vec::new();
    for worker in workers {
        acknowledged.extend(worker.await.expect("worker finished"));
    }

    // Every acknowledged change exactly once, nothing else.
    let mut client = Client::new(channel.clone());
    let all = pb::ListApplicationsRequest {
        page_size: 1000,
        ..Default::default()
    };
    let stored = every_page(&client, all, "dev-officer").await;
    let stored_names: HashSet<&str> = stored.iter().map(|a| a.name.as_str()).collect();
    let acknowledged_names: HashSet<&str> = acknowledged.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        acknowledged_names.len(),
        acknowledged.len(),
        "two creates were answered with the same application"
    );
    assert_eq!(
        stored.len(),
        stored_names.len(),
        "ListApplications repeats an application"
    );
    assert_eq!(
        stored_names, acknowledged_names,
        "stored applications differ from the acknowledged ones (a retried create filed twice, or one was lost)"
    );
    let mut events_checked = 0;
    for ack in &acknowledged {
        let app = stored.iter().find(|a| a.name == ack.name).unwrap();
        let history = all_events(&client, &ack.name, "dev-auditor").await;
        events_checked += history.len();
        check_sequence(app, &history);
        for kind in ["ApplicationFiled", "ItemsClassified", "ReferredToAgencies"] {
            assert_eq!(
                count(&history, kind),
                1,
                "{}: {kind} not exactly once: {history:#?}",
                ack.name
            );
        }
        assert_eq!(
            count(&history, "RecommendationRecorded"),
            AGENCIES.len(),
            "{}: {history:#?}",
            ack.name
        );
        for (agency, recommendation, rationale) in &ack.recommendations {
            let recorded: Vec<_> = history
                .iter()
                .filter_map(|e| match e.payload.as_ref() {
                    Some(pb::application_event::Payload::RecommendationRecorded(r)) => {
                        r.recommendation.clone()
                    }
                    _ => None,
                })
                .filter(|r| r.rationale == *rationale)
                .collect();
            assert_eq!(
                recorded.len(),
                1,
                "{}: acknowledged {rationale:?} recorded {} times",
                ack.name,
                recorded.len()
            );
            assert_eq!(recorded[0].agency, *agency as i32);
            assert_eq!(recorded[0].recommendation, *recommendation as i32);
        }
        let deny = ack
            .recommendations
            .iter()
            .filter(|(_, r, _)| *r == pb::Recommendation::Deny)
            .count();
        let (expected_state, next) = if deny == 0 || deny == AGENCIES.len() {
            (
                pb::State::AwaitingLicensingDecision,
                "ReferredToLicensingOfficer",
            )
        } else {
            (
                pb::State::OperatingCommitteeReview,
                "EscalatedToOperatingCommittee",
            )
        };
        assert_eq!(state(app), expected_state, "{}", ack.name);
        assert_eq!(count(&history, next), 1, "{}: {history:#?}", ack.name);
        assert_eq!(
            history.len(),
            3 + AGENCIES.len() + 1,
            "{}: unexpected events: {history:#?}",
            ack.name
        );
    }
    let verified = verify_audit_trail(&mut client, "applications/-", "dev-auditor").await;
    assert!(verified.intact, "{verified:?}");
    assert_eq!(
        verified.applications_checked,
        acknowledged.len() as i64,
        "{verified:?}"
    );
    assert_eq!(
        verified.events_checked, events_checked as i64,
        "{verified:?}"
    );
    assert_eq!(
        counters.aborted_but_visible.load(Relaxed),
        0,
        "a retry with the request_id of a committed recommendation was answered ABORTED instead of its replay"
    );
    let panics = panics_in(&data.join("review.log"));
    assert!(panics.is_empty(), "review-svc panicked: {panics:?}");
    let c = &counters;
    report(format!(
        "crash[{backend}]: {KILLS} SIGKILLs (restarts took {:.1} s in all), {} calls sent, {} resent after a failure ({} of them then acknowledged), \
         {} creates and {} recommendations acknowledged, {} ABORTED ({} resent with a fresh etag, {} already visible), \
         {} applications / {} events verified once each, chain intact, {:.1} s",
        restart_time.as_secs_f64(),
        c.resends.attempts.load(Relaxed),
        c.resends.resent_after_failure.load(Relaxed),
        c.resends.acknowledged_after_failure.load(Relaxed),
        c.creates.load(Relaxed),
        c.recommendations.load(Relaxed),
        c.aborted.load(Relaxed),
        c.resent_with_new_etag.load(Relaxed),
        c.aborted_but_visible.load(Relaxed),
        acknowledged.len(),
        events_checked,
        started.elapsed().as_secs_f64(),
    ));
    assert!(
        c.resends.resent_after_failure.load(Relaxed) > 0,
        "no kill hit a call in flight"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the run took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_and_duplicates_nothing_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    crash_run("sqlite", &sqlite_url(data.path()), data.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_and_duplicates_nothing_on_postgres() {
    let Some(admin_url) = database_url("crash[postgres]") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let schema = Schema::create(&admin_url, "crash").await;
    crash_run("postgres", &schema.url(), data.path()).await;
    assert!(
        schema.tables().await > 0,
        "the URL's search_path did not select schema {}",
        schema.name()
    );
}

// ---------------------------------------------------------------------------
// 3. Two review-svc processes on one PostgreSQL database
// ---------------------------------------------------------------------------

/// A recommendation through one of the two processes, once.
async fn recommend_once(
    channel: &Channel,
    name: &str,
    etag: &str,
    agency: pb::Agency,
    token: &str,
    recommendation: pb::Recommendation,
    request_id: &str,
) -> Result<pb::Application, Status> {
    Client::new(channel.clone())
        .record_recommendation(authed(
            pb::RecordRecommendationRequest {
                request_id: request_id.to_owned(),
                ..recommendation_request(name, etag, agency, recommendation)
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn create_through(channel: &Channel) -> pb::Application {
    Client::new(channel.clone())
        .create_application(authed(h200_to_china(10), "dev-applicant"))
        .await
        .unwrap_or_else(|status| panic!("CreateApplication: {status:?}"))
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_never_both_win_and_apply_each_deadline_once() {
    let Some(admin_url) = database_url("two_processes_on_one_postgres") else {
        return;
    };
    let seed = seed();
    report(format!("two-processes: seed {seed}"));
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let schema = Schema::create(&admin_url, "shared").await;
    let url = schema.url();
    let classifier = start_classifier(free_port().unwrap(), data.path()).await;

    // Phase 1: conflicting transitions through both processes. Production
    // clocks, so no deadline interferes with the count of winners.
    const APPS: usize = 8;
    let (a, b) = start_two(data.path(), "", &classifier.url(), &url, "86400").await;
    let through = [channel(&a), channel(&b)];
    let apps: Vec<pb::Application> =
        futures::future::join_all((0..APPS).map(|i| create_through(&through[i % 2]))).await;
    let contests = apps.iter().map(|app| {
        let through = through.clone();
        let app = app.clone();
        async move {
            let mut contenders: Vec<(pb::Agency, &str, String)> = AGENCIES
                .iter()
                .map(|&(agency, token)| (agency, token, uuid::Uuid::new_v4().to_string()))
                .collect();
            let mut etag = app.etag.clone();
            let (mut rounds, mut losers) = (0, 0);
            while !contenders.is_empty() {
                rounds += 1;
                // Every remaining agency at once with the same etag, half
                // through each process.
                let answers = futures::future::join_all(contenders.iter().enumerate().map(
                    |(i, (agency, token, request_id))| {
                        recommend_once(
                            &through[i % 2],
                            &app.name,
                            &etag,
                            *agency,
                            token,
                            pb::Recommendation::Approve,
                            request_id,
                        )
                    },
                ))
                .await;
                let mut winners = Vec::new();
                for (i, answer) in answers.iter().enumerate() {
                    match answer {
                        Ok(updated) => winners.push((i, updated.clone())),
                        Err(status) if status.code() == Code::Aborted => losers += 1,
                        Err(status) => panic!("{}: {status:?}", app.name),
                    }
                }
                assert_eq!(
                    winners.len(),
                    1,
                    "{} at etag {etag}: {} winners: {answers:?}",
                    app.name,
                    winners.len()
                );
                let (winner, updated) = winners.pop().unwrap();
                contenders.remove(winner);
                etag = updated.etag;
            }
            (rounds, losers)
        }
    });
    let outcomes = futures::future::join_all(contests).await;
    let rounds: usize = outcomes.iter().map(|(r, _)| r).sum();
    let losers: usize = outcomes.iter().map(|(_, l)| l).sum();
    drop(a);
    drop(b);

    // Phase 2: 30-day agency deadline in 0.6 s, appeal windows in 0.1 s, the
    // 90-day referral to the President in 1.8 s; both sweep every 10 ms.
    const SWEPT_APPS: usize = 12;
    let (a, b) = start_two(data.path(), "2", &classifier.url(), &url, "0.02").await;
    let through = [channel(&a), channel(&b)];
    let mut rng = StdRng::seed_from_u64(seed);
    // Per application: which agencies answer (the others are deemed), how,
    // and through which process.
    let mut plans: Vec<Vec<(pb::Agency, &str, pb::Recommendation, usize)>> = Vec::new();
    for _ in 0..SWEPT_APPS {
        let mut plan = Vec::new();
        for &(agency, token) in &AGENCIES {
            if rng.random_bool(0.5) {
                let recommendation = if rng.random_bool(0.5) {
                    pb::Recommendation::Approve
                } else {
                    pb::Recommendation::Deny
                };
                plan.push((agency, token, recommendation, rng.random_range(0..2)));
            }
        }
        plans.push(plan);
    }
    let chair_decides: Vec<(bool, usize)> = (0..SWEPT_APPS)
        .map(|_| (rng.random_bool(0.7), rng.random_range(0..2)))
        .collect();
    let refused = AtomicU64::new(0);
    let acted = futures::future::join_all(plans.iter().zip(&chair_decides).enumerate().map(
        |(i, (plan, &(decide, via)))| {
            let through = &through;
            let refused = &refused;
            async move {
                // Filed through either process; acted on at once, racing
                // the 0.6 s agency deadline.
                let app = &create_through(&through[i % 2]).await;
                // Recommendations racing the agency deadline and each other;
                // ABORTED means re-read and try again while it is still open.
                let sends = plan
                    .iter()
                    .map(|&(agency, token, recommendation, via)| async move {
                        let request_id = uuid::Uuid::new_v4().to_string();
                        let mut etag = app.etag.clone();
                        loop {
                            match recommend_once(
                                &through[via],
                                &app.name,
                                &etag,
                                agency,
                                token,
                                recommendation,
                                &request_id,
                            )
                            .await
                            {
                                Ok(_) => return true,
                                Err(status) if status.code() == Code::Aborted => {
                                    let current = get_application(
                                        &mut Client::new(through[via].clone()),
                                        &app.name,
                                        "dev-officer",
                                    )
                                    .await;
                                    if state(&current) != pb::State::AgencyReview {
                                        refused.fetch_add(1, Relaxed);
                                        return false;
                                    }
                                    etag = current.etag;
                                }
                                Err(status) if status.code() == Code::FailedPrecondition => {
                                    refused.fetch_add(1, Relaxed);
                                    return false;
                                }
                                Err(status) => panic!("{}: {status:?}", app.name),
                            }
                        }
                    });
                let sent = futures::future::join_all(sends)
                    .await
                    .into_iter()
                    .filter(|ok| *ok)
                    .count();
                // The OC chair decides escalated applications, racing the appeal
                // window and the overall deadline.
                let mut decided = false;
                if decide {
                    let deadline = Instant::now() + Duration::from_secs(3);
                    while Instant::now() < deadline {
                        let current = get_application(
                            &mut Client::new(through[via].clone()),
                            &app.name,
                            "dev-oc-chair",
                        )
                        .await;
                        match state(&current) {
                            pb::State::AgencyReview => {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                continue;
                            }
                            pb::State::OperatingCommitteeReview => {}
                            _ => break,
                        }
                        let answer = Client::new(through[via].clone())
                            .decide_application(authed(
                                decision_request(
                                    &app.name,
                                    &current.etag,
                                    pb::Outcome::Deny,
                                    "decided on the record",
                                ),
                                "dev-oc-chair",
                            ))
                            .await;
                        match answer {
                            Ok(_) => {
                                decided = true;
                                break;
                            }
                            Err(status)
                                if matches!(
                                    status.code(),
                                    Code::Aborted | Code::FailedPrecondition
                                ) =>
                            {
                                refused.fetch_add(1, Relaxed);
                            }
                            Err(status) => panic!("{}: {status:?}", app.name),
                        }
                    }
                }
                (app.clone(), sent, decided)
            }
        },
    ))
    .await;

    // Quiescence: every application decided (appeal window closed) or with
    // the President (overall deadline).
    let mut client = Client::new(through[0].clone());
    let wait_until = Instant::now() + Duration::from_secs(20);
    let finals = loop {
        let current = futures::future::join_all(acted.iter().map(|(app, _, _)| {
            let mut client = client.clone();
            let name = app.name.clone();
            async move {
                client
                    .get_application(authed(pb::GetApplicationRequest { name }, "dev-officer"))
                    .await
                    .unwrap()
                    .into_inner()
            }
        }))
        .await;
        if current.iter().all(|app| {
            matches!(
                state(app),
                pb::State::Decided | pb::State::PresidentialReview
            )
        }) {
            break current;
        }
        assert!(
            Instant::now() < wait_until,
            "deadlines not applied: {:?}",
            current
                .iter()
                .map(|a| (a.name.clone(), state(a)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Let both sweepers run over the settled applications a while longer.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut deadline_events = BTreeMap::<String, usize>::new();
    for ((app, plan), (_, sent, _)) in finals.iter().zip(&plans).zip(&acted) {
        let history = all_events(&client, &app.name, "dev-auditor").await;
        let app = get_application(&mut client, &app.name, "dev-officer").await;
        check_sequence(&app, &history);
        for kind in ["ApplicationFiled", "ItemsClassified", "ReferredToAgencies"] {
            assert_eq!(
                count(&history, kind),
                1,
                "{}: {kind}: {history:#?}",
                app.name
            );
        }
        // Each deadline's consequence at most once, keyed by what it is about.
        let mut seen = HashSet::new();
        for event in &history {
            let (level, agency) = level_and_agency(event);
            let key = match event.r#type.as_str() {
                "DeemedNoObjection" | "RecommendationRecorded" => format!("{level}/{agency}"),
                "DecisionFinal" | "VotesTallied" => format!("{}/{level}", event.r#type),
                "ReferredToPresident"
                | "EscalatedToOperatingCommittee"
                | "ReferredToLicensingOfficer" => event.r#type.clone(),
                _ => continue,
            };
            assert!(
                seen.insert(key.clone()),
                "{}: {key} twice: {history:#?}",
                app.name
            );
            if event.actor == "system" {
                *deadline_events.entry(event.r#type.clone()).or_default() += 1;
            }
        }
        // Each agency answered exactly once at agency level: by itself or deemed.
        for (agency, _) in AGENCIES {
            let key = format!(
                "AGENCY/{}",
                agency.as_str_name().trim_start_matches("AGENCY_")
            );
            assert!(
                seen.contains(&key),
                "{}: no answer for {key}: {history:#?}",
                app.name
            );
        }
        let recorded = count(&history, "RecommendationRecorded");
        assert_eq!(
            recorded, *sent,
            "{}: {sent} recommendations acknowledged, {recorded} recorded",
            app.name
        );
        assert_eq!(
            count(&history, "DeemedNoObjection"),
            AGENCIES.len() - sent,
            "{}: {history:#?}",
            app.name
        );
        assert!(plan.len() >= *sent);
        match state(&app) {
            pb::State::Decided => assert_eq!(
                count(&history, "DecisionFinal"),
                1,
                "{}: {history:#?}",
                app.name
            ),
            _ => assert_eq!(
                count(&history, "ReferredToPresident"),
                1,
                "{}: {history:#?}",
                app.name
            ),
        }
    }
    for channel in &through {
        let verified = verify_audit_trail(
            &mut Client::new(channel.clone()),
            "applications/-",
            "dev-auditor",
        )
        .await;
        assert!(verified.intact, "{verified:?}");
        assert_eq!(
            verified.applications_checked,
            (APPS + SWEPT_APPS) as i64,
            "{verified:?}"
        );
    }
    for log in [
        "review-a.log",
        "review-b.log",
        "review-a2.log",
        "review-b2.log",
    ] {
        let panics = panics_in(&data.path().join(log));
        assert!(panics.is_empty(), "{log}: {panics:?}");
    }
    assert!(
        schema.tables().await > 0,
        "the URL's search_path did not select schema {}",
        schema.name()
    );
    let decided = finals
        .iter()
        .filter(|a| state(a) == pb::State::Decided)
        .count();
    report(format!(
        "two-processes[postgres]: {APPS} applications x 4 agencies contended in {rounds} rounds through 2 processes: \
         {rounds} winners, {losers} ABORTED losers; {SWEPT_APPS} applications with deadlines racing 2 sweepers: \
         {} recommendations and {} OC decisions accepted, {} refused by a passed deadline or a lost race, \
         deadline events {deadline_events:?} each once; {decided} decided, {} with the President; chain intact; {:.1} s",
        acted.iter().map(|(_, sent, _)| sent).sum::<usize>(),
        acted.iter().filter(|(_, _, decided)| *decided).count(),
        refused.load(Relaxed),
        SWEPT_APPS - decided,
        started.elapsed().as_secs_f64(),
    ));
}
