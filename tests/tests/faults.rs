//! Faults around review-svc, with the services as processes:
//!
//! - the classifier slow, failing with INTERNAL, or UNAVAILABLE (a fake
//!   classifier served by the test): applications are still accepted within
//!   the caller's deadline, and classified once the real classifier-svc
//!   listens on the same address;
//! - bearer tokens and their digests never reach the logs, even at debug
//!   and trace level;
//! - an event altered in the SQLite file behind the service's back is
//!   reported by VerifyAuditTrail, naming the application and sequence.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use exportcontrol_proto::classifier::v1 as cpb;
use exportcontrol_proto::classifier::v1::classifier_service_server::ClassifierServiceServer;
use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use sha2::{Digest, Sha256};
use system_tests::classify_item_only::ClassifyItemOnly;
use system_tests::{
    all_events, authed, free_port, get_application, h200_to_china, recommendation_request, report,
    start_classifier, verify_audit_trail, ServiceProcess, REVIEW_SERVICE,
};
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

type Client = ReviewServiceClient<Channel>;

/// Takes the test-only `REVIEW_*` settings out of this process's
/// environment, once: the services inherit it, and review-svc refuses to
/// start beside an unknown `REVIEW_*` variable.
fn hermetic_env() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        std::env::remove_var("REVIEW_TEST_DATABASE_URL");
        std::env::remove_var("REVIEW_REQUIRE_POSTGRES");
    });
}

/// review-svc on SQLite in `data`, sweeping every 50 ms, with the
/// development tokens unless `extra` names a tokens file.
async fn start_review(
    data: &Path,
    classifier_url: &str,
    mut extra: Vec<String>,
    envs: Vec<(String, String)>,
    log: &str,
) -> ServiceProcess {
    hermetic_env();
    extra.splice(0..0, ["--sweep-interval-ms".to_owned(), "50".to_owned()]);
    system_tests::start_review(data, log, classifier_url, extra, envs).await
}

fn state(app: &pb::Application) -> pb::State {
    pb::State::try_from(app.state).unwrap_or_default()
}

async fn get(client: &mut Client, name: &str, token: &str) -> pb::Application {
    get_application(client, name, token).await
}

// ---------------------------------------------------------------------------
// 2. The classifier down, slow or failing
// ---------------------------------------------------------------------------

/// How the fake classifier misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Fault {
    /// ClassifyItem sleeps 5 s.
    Slow = 0,
    /// ClassifyItem answers INTERNAL at once.
    Internal = 1,
    /// ClassifyItem answers UNAVAILABLE at once (review-svc retries it).
    Unavailable = 2,
}

/// A classifier that never classifies.
#[derive(Clone)]
struct FakeClassifier {
    fault: Arc<AtomicU8>,
    /// Calls per fault.
    calls: Arc<[AtomicU64; 3]>,
    /// Wakes the sleeping calls when the fake is taken down.
    stopping: watch::Receiver<bool>,
}

impl FakeClassifier {
    async fn classify_item(&self) -> Result<Response<cpb::ClassifyItemResponse>, Status> {
        let fault = self.fault.load(Relaxed);
        self.calls[fault as usize].fetch_add(1, Relaxed);
        match fault {
            0 => {
                let mut stopping = self.stopping.clone();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = stopping.wait_for(|stop| *stop) => {}
                }
                Err(Status::unavailable("fake classifier: too slow"))
            }
            1 => Err(Status::internal("fake classifier: internal error")),
            _ => Err(Status::unavailable("fake classifier: unavailable")),
        }
    }
}

/// The caller's deadline for CreateApplication.
const CALLER_DEADLINE: Duration = Duration::from_secs(1);
/// Scheduling noise allowed on top of it (two cores, other tests running).
const SLACK: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_failing_classifier_delays_classification_not_filing() {
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopping) = watch::channel(false);
    let fake = FakeClassifier {
        fault: Arc::new(AtomicU8::new(Fault::Slow as u8)),
        calls: Arc::new(Default::default()),
        stopping,
    };
    let mut stopped = stop.subscribe();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ClassifierServiceServer::new(ClassifyItemOnly {
                answer: {
                    let fake = fake.clone();
                    move |_| {
                        let fake = fake.clone();
                        async move { fake.classify_item().await }
                    }
                },
                unimplemented: "fake classifier",
            }))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                },
            ),
    );
    let review = start_review(
        data.path(),
        &format!("http://{addr}"),
        Vec::new(),
        Vec::new(),
        "review.log",
    )
    .await;
    let mut client = Client::connect(review.url()).await.unwrap();

    const PER_FAULT: usize = 3;
    let mut pending = Vec::new();
    let mut slowest = Vec::new();
    for fault in [Fault::Slow, Fault::Internal, Fault::Unavailable] {
        fake.fault.store(fault as u8, Relaxed);
        let filings = (0..PER_FAULT).map(|i| {
            let mut client = client.clone();
            async move {
                let mut request = authed(h200_to_china(i as u64 + 1), "dev-applicant");
                request.set_timeout(CALLER_DEADLINE);
                let sent = Instant::now();
                let answer = tokio::time::timeout(
                    Duration::from_secs(10),
                    client.create_application(request),
                )
                .await;
                (sent.elapsed(), answer)
            }
        });
        let mut worst = Duration::ZERO;
        for (elapsed, answer) in futures::future::join_all(filings).await {
            let app = answer
                .unwrap_or_else(|_| panic!("{fault:?}: no answer after 10 s"))
                .unwrap_or_else(|status| panic!("{fault:?}: CreateApplication refused: {status:?}"))
                .into_inner();
            assert_eq!(
                state(&app),
                pb::State::ClassificationPending,
                "{fault:?}: {app:?}"
            );
            assert!(
                elapsed < CALLER_DEADLINE + SLACK,
                "{fault:?}: answered after {elapsed:?}, the caller's deadline was {CALLER_DEADLINE:?}"
            );
            worst = worst.max(elapsed);
            pending.push(app.name);
        }
        // Reads do not depend on the classifier at all.
        let read = Instant::now();
        get(&mut client, pending.last().unwrap(), "dev-applicant").await;
        assert!(
            read.elapsed() < Duration::from_millis(500),
            "{fault:?}: GetApplication took {:?}",
            read.elapsed()
        );
        slowest.push((fault, worst));
    }
    let calls: Vec<u64> = fake.calls.iter().map(|c| c.load(Relaxed)).collect();
    assert!(
        calls[Fault::Unavailable as usize] > PER_FAULT as u64,
        "UNAVAILABLE is retried: {calls:?} calls"
    );

    // Take the fake down (its sleeping calls end at once) and start the
    // real classifier on the same address.
    stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("fake classifier stops")
        .unwrap()
        .unwrap();
    let classifier = start_classifier(addr, data.path()).await;
    let came_back = Instant::now();
    let wait_until = came_back + Duration::from_secs(20);
    for name in &pending {
        loop {
            let app = get(&mut client, name, "dev-applicant").await;
            if state(&app) == pb::State::AgencyReview {
                assert_eq!(app.classifications.len(), 1, "{app:?}");
                let result = app.classifications[0].result.as_ref().unwrap();
                assert_eq!(
                    result.classification.as_ref().unwrap().paragraph,
                    "3A090.a.1"
                );
                break;
            }
            assert_eq!(state(&app), pb::State::ClassificationPending, "{app:?}");
            assert!(
                Instant::now() < wait_until,
                "{name} not classified 20 s after the classifier came back"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let history = all_events(&client, name, "dev-auditor").await;
        let classified = history
            .iter()
            .filter(|e| e.r#type == "ItemsClassified")
            .count();
        assert_eq!(classified, 1, "{name}: {history:#?}");
    }
    let verified = verify_audit_trail(&mut client, "applications/-", "dev-auditor").await;
    assert!(verified.intact, "{verified:?}");
    drop(classifier);
    report(format!(
        "classifier faults: {} applications filed with a {CALLER_DEADLINE:?} deadline, slowest answer per fault {:?}, \
         all CLASSIFICATION_PENDING; fake classifier calls (slow, INTERNAL, UNAVAILABLE) = {calls:?}; \
         all classified {:.2} s after the real classifier-svc took the address; {:.1} s",
        pending.len(),
        slowest,
        came_back.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64(),
    ));
}

// ---------------------------------------------------------------------------
// 6. Secrets never logged
// ---------------------------------------------------------------------------

fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn secret(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::new_v4().simple())
}

/// Sends `authorization: <header>` (verbatim) with a GetApplication.
async fn with_header(
    client: &mut Client,
    name: &str,
    header: &str,
) -> Result<pb::Application, Status> {
    let mut request = Request::new(pb::GetApplicationRequest {
        name: name.to_owned(),
    });
    request
        .metadata_mut()
        .insert("authorization", header.parse().unwrap());
    client
        .get_application(request)
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_their_digests_never_reach_the_logs() {
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let classifier = start_classifier(free_port().unwrap(), data.path()).await;
    let applicant = secret("applicant");
    let auditor = secret("auditor");
    let reviewer = secret("reviewer");
    let revoked = secret("revoked");
    let expired = secret("expired");
    let wrong = secret("wrong");
    let tokens_file = data.path().join("tokens.toml");
    let principals = [
        ("exporter-a", "APPLICANT", None, &applicant, ""),
        ("auditor-a", "AUDITOR", None, &auditor, ""),
        ("state-a", "AGENCY_REVIEWER", Some("STATE"), &reviewer, ""),
        (
            "exporter-revoked",
            "APPLICANT",
            None,
            &revoked,
            "revoked = true\n",
        ),
        (
            "exporter-expired",
            "APPLICANT",
            None,
            &expired,
            "expires_at = \"2020-01-01T00:00:00Z\"\n",
        ),
    ];
    let mut toml = String::new();
    for (id, role, agency, token, extra) in principals {
        toml.push_str(&format!(
            "[[principal]]\nid = \"{id}\"\nrole = \"{role}\"\n"
        ));
        if let Some(agency) = agency {
            toml.push_str(&format!("agency = \"{agency}\"\n"));
        }
        toml.push_str(&format!(
            "token_sha256 = \"{}\"\n{extra}\n",
            sha256_hex(token)
        ));
    }
    std::fs::write(&tokens_file, toml).unwrap();

    let mut calls = 0;
    let mut refused = 0;
    let mut log_bytes = 0;
    // Text at debug (the --log-level asked for), then JSON at trace.
    for (format, level) in [("text", "debug"), ("json", "trace")] {
        let dir = data.path().join(format);
        std::fs::create_dir_all(&dir).unwrap();
        let log = format!("review-{format}.log");
        let review = start_review(
            &dir,
            &classifier.url(),
            vec![
                "--tokens-file".into(),
                tokens_file.display().to_string(),
                "--log-level".into(),
                level.into(),
                "--log-format".into(),
                format.into(),
            ],
            // An inherited RUST_LOG would override --log-level.
            vec![("RUST_LOG".into(), level.into())],
            &log,
        )
        .await;
        let mut client = Client::connect(review.url()).await.unwrap();

        // Valid tokens.
        let app = client
            .create_application(authed(h200_to_china(7), &applicant))
            .await
            .unwrap()
            .into_inner();
        get(&mut client, &app.name, &applicant).await;
        get(&mut client, &app.name, &auditor).await;
        all_events(&client, &app.name, &auditor).await;
        verify_audit_trail(&mut client, &app.name, &auditor).await;
        client
            .list_applications(authed(pb::ListApplicationsRequest::default(), &applicant))
            .await
            .unwrap();
        let recommended = client
            .record_recommendation(authed(
                pb::RecordRecommendationRequest {
                    rationale: "diversion risk".into(),
                    ..recommendation_request(
                        &app.name,
                        &app.etag,
                        pb::Agency::State,
                        pb::Recommendation::Deny,
                    )
                },
                &reviewer,
            ))
            .await
            .unwrap()
            .into_inner();
        calls += 7;

        // Valid token, wrong role: PERMISSION_DENIED.
        let denied = client
            .record_recommendation(authed(
                pb::RecordRecommendationRequest {
                    name: app.name.clone(),
                    etag: recommended.etag.clone(),
                    request_id: String::new(),
                    agency: pb::Agency::Energy as i32,
                    recommendation: pb::Recommendation::Approve as i32,
                    conditions: Vec::new(),
                    rationale: "approve".into(),
                },
                &applicant,
            ))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
        calls += 1;
        refused += 1;

        // Wrong, revoked, expired and malformed credentials: UNAUTHENTICATED.
        let headers = [
            format!("Bearer {wrong}"),
            format!("Bearer {revoked}"),
            format!("Bearer {expired}"),
            format!("Bearer {}", &applicant[..applicant.len() - 1]),
            format!("Bearer {applicant}x"),
            format!("Bearer {}", sha256_hex(&applicant)),
            format!("Basic {applicant}"),
            format!("bearer{applicant}"),
            applicant.clone(),
            format!("Bearer {applicant} {auditor}"),
            format!("Bearer\t{wrong}"),
            format!("Token {wrong}"),
            "Bearer ".to_owned(),
        ];
        for (i, header) in headers.iter().enumerate() {
            let status = with_header(&mut client, &app.name, header)
                .await
                .expect_err(&format!("bad credential #{i} was accepted"));
            assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
            assert!(
                !status.message().contains(&wrong) && !status.message().contains(&applicant),
                "{status:?}"
            );
            calls += 1;
            refused += 1;
        }
        // A header that is not valid text (bytes above 0x7f).
        let mut request = Request::new(pb::GetApplicationRequest {
            name: app.name.clone(),
        });
        request.metadata_mut().insert(
            "authorization",
            tonic::metadata::MetadataValue::try_from(format!("Bearer {wrong}\u{e9}").as_bytes())
                .unwrap(),
        );
        let status = client.get_application(request).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        calls += 1;
        refused += 1;
        drop(client);
        drop(review);

        let text = std::fs::read_to_string(dir.join(&log)).unwrap();
        let debug_marker = if format == "json" {
            "\"level\":\"TRACE\""
        } else {
            "DEBUG"
        };
        assert!(
            text.contains(debug_marker),
            "{log} was not written at {level} level:\n{text}"
        );
        // The calls were logged, by principal: only the secrets are missing.
        assert!(
            text.contains("exporter-a"),
            "{log} does not mention the caller at all"
        );
        log_bytes += text.len();
        let logs = [
            (log.clone(), text),
            (
                "classifier.log".to_owned(),
                std::fs::read_to_string(data.path().join("classifier.log")).unwrap(),
            ),
        ];
        for (label, token) in [
            ("applicant", &applicant),
            ("auditor", &auditor),
            ("reviewer", &reviewer),
            ("revoked", &revoked),
            ("expired", &expired),
            ("wrong", &wrong),
        ] {
            let random_part = token.rsplit('-').next().unwrap();
            let digest = sha256_hex(token);
            for (file, text) in &logs {
                for (what, needle) in [
                    ("token", token.as_str()),
                    ("token's random part", random_part),
                    ("token digest", digest.as_str()),
                    ("token digest (upper case)", &digest.to_uppercase()),
                    ("token digest prefix", &digest[..16]),
                ] {
                    assert!(
                        !text.contains(needle),
                        "{file} contains the {label} {what} ({needle})"
                    );
                }
            }
        }
    }
    drop(classifier);
    report(format!(
        "secrets: 2 runs (text/debug, json/trace), {calls} calls ({refused} refused: wrong, revoked, expired, truncated, \
         extended, digest-as-token, wrong scheme, malformed, wrong role), 6 tokens x 5 forms searched in {log_bytes} bytes \
         of review-svc logs and the classifier log: none found; {:.1} s",
        started.elapsed().as_secs_f64()
    ));
}

// ---------------------------------------------------------------------------
// 7. Tampering with the SQLite file is reported by VerifyAuditTrail
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_altered_in_the_database_file_breaks_the_audit_trail() {
    use sqlx::{Connection, Executor};
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let classifier = start_classifier(free_port().unwrap(), data.path()).await;
    let mut review = start_review(
        data.path(),
        &classifier.url(),
        Vec::new(),
        Vec::new(),
        "review.log",
    )
    .await;
    let mut client = Client::connect(review.url()).await.unwrap();
    let mut apps = Vec::new();
    for quantity in [10, 20, 30] {
        apps.push(
            client
                .create_application(authed(h200_to_china(quantity), "dev-applicant"))
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let target = client
        .record_recommendation(authed(
            pb::RecordRecommendationRequest {
                rationale: "diversion risk".into(),
                ..recommendation_request(
                    &apps[1].name,
                    &apps[1].etag,
                    pb::Agency::State,
                    pb::Recommendation::Deny,
                )
            },
            "dev-state",
        ))
        .await
        .unwrap()
        .into_inner();
    let before = verify_audit_trail(&mut client, "applications/-", "dev-auditor").await;
    assert!(before.intact, "{before:?}");
    let history = all_events(&client, &target.name, "dev-auditor").await;
    let altered = history
        .iter()
        .find(|e| e.r#type == "RecommendationRecorded")
        .expect("the recommendation's event");
    assert_eq!(rationale(altered), "diversion risk");
    drop(client);
    review
        .terminate(Duration::from_secs(10))
        .await
        .expect("review-svc stops");

    // Someone with access to the file rewrites the rationale, getting past
    // the append-only trigger and putting it back afterwards.
    let db = data.path().join("review.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&db);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let trigger: String = sqlx::query_scalar(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'events_no_update'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the append-only trigger exists");
    let refused = sqlx::query("UPDATE events SET details = details WHERE sequence = ?")
        .bind(altered.sequence)
        .execute(&mut conn)
        .await;
    assert!(refused.is_err(), "the trigger lets events be updated");
    conn.execute("DROP TRIGGER events_no_update").await.unwrap();
    let id = target.name.trim_start_matches("applications/");
    let changed = sqlx::query(
        "UPDATE events SET details = replace(details, 'diversion risk', 'no concerns') \
         WHERE application_id = ? AND application_sequence = ?",
    )
    .bind(id)
    .bind(altered.application_sequence)
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    conn.execute(trigger.as_str()).await.unwrap();
    conn.close().await.unwrap();

    review
        .restart(REVIEW_SERVICE)
        .await
        .expect("review-svc restarts");
    let mut client = Client::connect(review.url()).await.unwrap();
    let all = verify_audit_trail(&mut client, "applications/-", "dev-auditor").await;
    assert!(!all.intact, "{all:?}");
    assert_eq!(all.first_break_application, target.name, "{all:?}");
    assert_eq!(
        all.first_break_application_sequence, altered.application_sequence,
        "{all:?}"
    );
    assert!(!all.detail.is_empty(), "{all:?}");
    let one = verify_audit_trail(&mut client, &target.name, "dev-auditor").await;
    assert!(!one.intact, "{one:?}");
    assert_eq!(
        one.first_break_application_sequence, altered.application_sequence,
        "{one:?}"
    );
    for other in [&apps[0], &apps[2]] {
        let fine = verify_audit_trail(&mut client, &other.name, "dev-auditor").await;
        assert!(fine.intact, "{}: {fine:?}", other.name);
    }
    // The history as served shows the altered text: only the chain tells.
    let served = all_events(&client, &target.name, "dev-auditor").await;
    assert!(served.iter().any(|e| rationale(e).contains("no concerns")));
    drop(classifier);
    report(format!(
        "tamper: {} applications / {} events intact before; event {} of {} altered in the SQLite file; \
         VerifyAuditTrail: intact={} naming {} sequence {} ({}); the other {} applications still intact; {:.1} s",
        before.applications_checked,
        before.events_checked,
        altered.application_sequence,
        target.name,
        all.intact,
        all.first_break_application,
        all.first_break_application_sequence,
        all.detail,
        apps.len() - 1,
        started.elapsed().as_secs_f64()
    ));
}

/// The rationale of a recorded recommendation ("" for other events).
fn rationale(event: &pb::ApplicationEvent) -> String {
    match event.payload.as_ref() {
        Some(pb::application_event::Payload::RecommendationRecorded(r)) => r
            .recommendation
            .as_ref()
            .map(|r| r.rationale.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}
