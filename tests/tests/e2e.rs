//! End-to-end: both services started from their release or debug binaries as
//! processes, on ephemeral ports, with their own data directories, driven
//! through real gRPC clients (tonic, and buf curl through reflection only).

use std::time::Duration;

use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use system_tests::{
    all_events, appeal_request, authed, decision_request, free_port, get_application,
    h200_to_china, recommendation_request, start_both, start_classifier_with, start_review,
    verify_audit_trail, withdrawal_request, ServiceProcess, CLASSIFIER_SERVICE, REVIEW_SERVICE,
};
use tonic::transport::Channel;

struct System {
    classifier: ServiceProcess,
    review: ServiceProcess,
    data: tempfile::TempDir,
}

impl System {
    async fn start(day_seconds: &str) -> System {
        let data = tempfile::tempdir().unwrap();
        let flags = vec![
            "--day-length-seconds".into(),
            day_seconds.into(),
            "--sweep-interval-ms".into(),
            "50".into(),
        ];
        let (classifier, review) = start_both(data.path(), flags).await;
        System {
            classifier,
            review,
            data,
        }
    }

    async fn client(&self) -> ReviewServiceClient<Channel> {
        ReviewServiceClient::connect(self.review.url())
            .await
            .unwrap()
    }
}

fn state(app: &pb::Application) -> pb::State {
    pb::State::try_from(app.state).unwrap()
}

async fn recommend(
    client: &mut ReviewServiceClient<Channel>,
    app: pb::Application,
    token: &str,
    agency: pb::Agency,
    recommendation: pb::Recommendation,
) -> pb::Application {
    client
        .record_recommendation(authed(
            recommendation_request(&app.name, &app.etag, agency, recommendation),
            token,
        ))
        .await
        .unwrap_or_else(|status| panic!("{token} recommends: {status:?}"))
        .into_inner()
}

/// The reviewers of the four agencies at one level (`prefix`: "dev-",
/// "dev-acep-", "dev-earb-") recommend in turn: Commerce, State, Defense,
/// Energy.
async fn recommend_all(
    client: &mut ReviewServiceClient<Channel>,
    mut app: pb::Application,
    prefix: &str,
    votes: [pb::Recommendation; 4],
) -> pb::Application {
    use pb::Agency::*;
    let agencies = [
        ("commerce", Commerce),
        ("state", State),
        ("defense", Defense),
        ("energy", Energy),
    ];
    for ((reviewer, agency), vote) in agencies.into_iter().zip(votes) {
        app = recommend(client, app, &format!("{prefix}{reviewer}"), agency, vote).await;
    }
    app
}

async fn appeal(
    client: &mut ReviewServiceClient<Channel>,
    app: pb::Application,
    token: &str,
    agency: pb::Agency,
) -> pb::Application {
    client
        .appeal_application(authed(
            appeal_request(
                &app.name,
                &app.etag,
                agency,
                "the decision puts national security at risk",
            ),
            token,
        ))
        .await
        .unwrap_or_else(|status| panic!("{token} appeals: {status:?}"))
        .into_inner()
}

async fn decide(
    client: &mut ReviewServiceClient<Channel>,
    app: pb::Application,
    token: &str,
    outcome: pb::Outcome,
    conditions: Vec<String>,
) -> pb::Application {
    client
        .decide_application(authed(
            pb::DecideApplicationRequest {
                conditions,
                ..decision_request(&app.name, &app.etag, outcome, "decided on the full record")
            },
            token,
        ))
        .await
        .unwrap_or_else(|status| panic!("{token} decides: {status:?}"))
        .into_inner()
}

#[tokio::test]
async fn h200_to_china_goes_all_the_way_to_the_president() {
    let system = System::start("86400").await;
    let mut client = system.client().await;
    let app = client
        .create_application(authed(h200_to_china(5_000), "dev-applicant"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&app), pb::State::AgencyReview);
    let result = app.classifications[0].result.as_ref().unwrap();
    assert_eq!(
        result.classification.as_ref().unwrap().paragraph,
        "3A090.a.1"
    );
    assert!(!result.rule_set.is_empty());
    assert_eq!(app.agency_due.len(), 4);

    use pb::Agency::*;
    use pb::Recommendation::*;
    let app = recommend_all(
        &mut client,
        app,
        "dev-",
        [Approve, Deny, Deny, ApproveWithConditions],
    )
    .await;
    assert_eq!(state(&app), pb::State::OperatingCommitteeReview);

    let app = decide(
        &mut client,
        app,
        "dev-oc-chair",
        pb::Outcome::ApproveWithConditions,
        vec!["End-use check".into()],
    )
    .await;
    assert_eq!(state(&app), pb::State::AppealWindow);
    let app = appeal(&mut client, app, "dev-acep-defense", Defense).await;
    assert_eq!(state(&app), pb::State::AcepReview);

    let app = recommend_all(&mut client, app, "dev-acep-", [Approve, Deny, Deny, Deny]).await;
    assert_eq!(state(&app), pb::State::AppealWindow);
    assert_eq!(
        pb::Outcome::try_from(app.decision.as_ref().unwrap().outcome).unwrap(),
        pb::Outcome::Deny
    );

    let app = appeal(&mut client, app, "dev-earb-commerce", Commerce).await;
    assert_eq!(state(&app), pb::State::EarbReview);
    let app = recommend_all(
        &mut client,
        app,
        "dev-earb-",
        [Approve, Deny, Deny, Approve],
    )
    .await;
    // A tie keeps the ACEP decision.
    assert_eq!(
        pb::Outcome::try_from(app.decision.as_ref().unwrap().outcome).unwrap(),
        pb::Outcome::Deny
    );
    let app = appeal(&mut client, app, "dev-earb-commerce", Commerce).await;
    assert_eq!(state(&app), pb::State::PresidentialReview);

    let app = decide(
        &mut client,
        app,
        "dev-president",
        pb::Outcome::ApproveWithConditions,
        vec!["Quarterly reporting".into()],
    )
    .await;
    assert_eq!(state(&app), pb::State::Decided);
    let decision = app.decision.as_ref().unwrap();
    assert!(decision.r#final);
    assert_eq!(decision.decided_by, "president");
    assert_eq!(
        pb::ReviewLevel::try_from(decision.level).unwrap(),
        pb::ReviewLevel::President
    );
    assert_eq!(app.recommendations.len(), 12);

    let verified = verify_audit_trail(&mut client, &app.name, "dev-auditor").await;
    assert!(verified.intact, "{verified:?}");
    assert!(verified.events_checked >= 20, "{verified:?}");
}

#[tokio::test]
async fn an_application_that_needs_no_licence_closes_at_once() {
    let system = System::start("86400").await;
    let mut client = system.client().await;
    let mut request = h200_to_china(10);
    let route = request
        .application
        .as_mut()
        .unwrap()
        .transaction
        .as_mut()
        .unwrap()
        .route
        .as_mut()
        .unwrap();
    route.destination_country = "DE".into();
    route.end_user_headquarters_country = "DE".into();
    route.ultimate_parent_headquarters_country = "DE".into();
    let app = client
        .create_application(authed(request, "dev-applicant"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&app), pb::State::NoLicenseRequired);
    assert!(
        app.state_reason.contains("not required"),
        "{}",
        app.state_reason
    );
}

#[tokio::test]
async fn missing_recommendations_are_deemed_no_objection_at_the_deadline() {
    // A "day" of 20 ms: the 30-day agency deadline passes in 0.6 s.
    let system = System::start("0.02").await;
    let mut client = system.client().await;
    let app = client
        .create_application(authed(h200_to_china(1), "dev-applicant"))
        .await
        .unwrap()
        .into_inner();
    let app = recommend(
        &mut client,
        app,
        "dev-state",
        pb::Agency::State,
        pb::Recommendation::Approve,
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let app = loop {
        let current = get_application(&mut client, &app.name, "dev-officer").await;
        if state(&current) != pb::State::AgencyReview || std::time::Instant::now() > deadline {
            break current;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(state(&app), pb::State::AwaitingLicensingDecision);
    let deemed: Vec<_> = app
        .recommendations
        .iter()
        .filter(|r| r.recommendation == pb::Recommendation::DeemedNoObjection as i32)
        .collect();
    assert_eq!(deemed.len(), 3);
    assert!(deemed.iter().all(|r| r.recorded_by == "system"));
}

#[tokio::test]
async fn the_classifier_killed_mid_run_then_restarted() {
    let mut system = System::start("86400").await;
    let mut client = system.client().await;
    system.classifier.kill();
    let mut request = authed(h200_to_china(3), "dev-applicant");
    request.set_timeout(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let app = client
        .create_application(request)
        .await
        .unwrap()
        .into_inner();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered within the caller's deadline"
    );
    assert_eq!(state(&app), pb::State::ClassificationPending);

    system.classifier.restart(CLASSIFIER_SERVICE).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let current = get_application(&mut client, &app.name, "dev-applicant").await;
        if state(&current) == pb::State::AgencyReview {
            assert_eq!(current.classifications.len(), 1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not classified after the classifier came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn review_svc_killed_with_sigkill_keeps_every_acknowledged_application() {
    let mut system = System::start("86400").await;
    let mut client = system.client().await;
    let mut acknowledged = Vec::new();
    for _ in 0..20 {
        let app = client
            .create_application(authed(h200_to_china(2), "dev-applicant"))
            .await
            .unwrap()
            .into_inner();
        acknowledged.push(app);
    }
    system.review.kill();
    system.review.restart(REVIEW_SERVICE).await.unwrap();
    let mut client = system.client().await;
    for app in &acknowledged {
        let stored = get_application(&mut client, &app.name, "dev-applicant").await;
        assert_eq!(stored.etag, app.etag);
        assert_eq!(stored.state, app.state);
    }
    let verified = client
        .verify_audit_trail(authed(
            pb::VerifyAuditTrailRequest::default(),
            "dev-auditor",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(verified.intact);
    assert_eq!(verified.applications_checked, acknowledged.len() as i64);
}

/// buf curl, a third-party client, with no proto files: reflection only.
fn buf_curl(args: &[&str]) -> std::process::Output {
    let buf = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/buf");
    assert!(
        buf.exists(),
        "buf is installed by `npm ci` (scripts/test does it)"
    );
    std::process::Command::new(buf)
        .arg("curl")
        .args(["--protocol", "grpc", "--http2-prior-knowledge"])
        .args(args)
        .output()
        .expect("buf runs")
}

#[tokio::test]
async fn buf_curl_drives_both_services_through_reflection() {
    let system = System::start("86400").await;
    let classifier = system.classifier.url();
    let review = system.review.url();

    let listed = buf_curl(&[&classifier, "--list-methods"]);
    let methods = String::from_utf8_lossy(&listed.stdout);
    assert!(
        methods.contains("exportcontrol.classifier.v1.ClassifierService/ClassifyItem"),
        "{methods}"
    );

    let classified = buf_curl(&[
        "-d",
        r#"{"catalog_chip":"H200","transaction":{"destination_country":"CN","export_type":"EXPORT_TYPE_EXPORT_FROM_US"},"as_of":"2026-02-01"}"#,
        &format!("{classifier}/exportcontrol.classifier.v1.ClassifierService/ClassifyItem"),
    ]);
    assert!(
        classified.status.success(),
        "{}",
        String::from_utf8_lossy(&classified.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&classified.stdout).unwrap();
    assert_eq!(answer["classification"]["paragraph"], "3A090.a.1");
    assert_eq!(
        answer["license"]["reviewPolicy"],
        "REVIEW_POLICY_CASE_BY_CASE"
    );

    let refused = buf_curl(&[
        "-d",
        r#"{"spec":{"rates":[{"bit_length":8,"dense_tops":600}]},"transaction":{"destination_country":"XX","export_type":"EXPORT_TYPE_EXPORT_FROM_US"}}"#,
        &format!("{classifier}/exportcontrol.classifier.v1.ClassifierService/ClassifyItem"),
    ]);
    assert!(!refused.status.success());
    let error: serde_json::Value = serde_json::from_slice(&refused.stderr).unwrap();
    assert_eq!(error["code"], "invalid_argument");
    let details = error["details"].as_array().unwrap();
    let bad_request = details
        .iter()
        .find(|d| d["type"] == "google.rpc.BadRequest")
        .expect("a BadRequest detail");
    // buf curl prints details it has no compiled-in type for as base64;
    // decoding them gives the field violation.
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(bad_request["value"].as_str().unwrap().trim_end_matches('='))
        .unwrap();
    let decoded =
        <tonic_types::pb::BadRequest as prost::Message>::decode(bytes.as_slice()).unwrap();
    assert_eq!(
        decoded.field_violations[0].field,
        "transaction.destination_country"
    );
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("transaction.destination_country"));

    let created = buf_curl(&[
        "-H",
        "authorization: Bearer dev-applicant",
        "-d",
        r#"{"application":{"items":[{"catalog_chip":"H200","quantity":5000,"unit_value_usd_cents":3000000}],"transaction":{"route":{"destination_country":"CN","end_user_headquarters_country":"CN","ultimate_parent_headquarters_country":"CN","export_type":"EXPORT_TYPE_EXPORT_FROM_US"},"end_user_name":"Example Cloud Co.","end_use_statement":"inference"}}}"#,
        &format!("{review}/exportcontrol.review.v1.ReviewService/CreateApplication"),
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let app: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(app["state"], "STATE_AGENCY_REVIEW");

    let unauthenticated = buf_curl(&[
        "-d",
        r#"{"name":"applications/x"}"#,
        &format!("{review}/exportcontrol.review.v1.ReviewService/GetApplication"),
    ]);
    let error: serde_json::Value = serde_json::from_slice(&unauthenticated.stderr).unwrap();
    assert_eq!(error["code"], "unauthenticated");
    drop(system.data);
}

#[tokio::test]
async fn graceful_shutdown_on_sigterm_and_ctrl_c() {
    let mut system = System::start("86400").await;
    system
        .review
        .terminate(Duration::from_secs(10))
        .await
        .unwrap();
    // Ctrl-C, the moment the service answers: its handler is in place
    // before it serves, so this is a graceful stop (exit 0), not death.
    system
        .classifier
        .interrupt(Duration::from_secs(10))
        .await
        .unwrap();
}

fn scrape(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    // A request split across packets is one request (the hand-written
    // responder this replaced answered 404 to the first piece).
    stream.write_all(b"GET /metr").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    stream
        .write_all(b"ics HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    body
}

#[tokio::test]
async fn both_services_serve_prometheus_metrics() {
    let data = tempfile::tempdir().unwrap();
    let classifier_metrics = free_port().unwrap();
    let review_metrics = free_port().unwrap();
    let metrics = vec!["--metrics-listen".into(), classifier_metrics.to_string()];
    let classifier = start_classifier_with(free_port().unwrap(), data.path(), metrics).await;
    let metrics = vec!["--metrics-listen".into(), review_metrics.to_string()];
    let review = start_review(
        data.path(),
        "review.log",
        &classifier.url(),
        metrics,
        Vec::new(),
    )
    .await;
    let mut client = ReviewServiceClient::connect(review.url()).await.unwrap();
    client
        .create_application(authed(h200_to_china(1), "dev-applicant"))
        .await
        .unwrap();
    let refused = client
        .create_application(authed(h200_to_china(1), "dev-nobody"))
        .await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::Unauthenticated);
    let watch = pb::WatchApplicationsRequest::default();
    let _watching = client
        .watch_applications(authed(watch, "dev-auditor"))
        .await
        .unwrap();

    let text = scrape(classifier_metrics);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(r#"grpc_server_handled_total{method="/exportcontrol.classifier.v1.ClassifierService/ClassifyItem",code="Ok"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"classifier_decisions_total{paragraph="3A090.a.1",review_policy="REVIEW_POLICY_CASE_BY_CASE"}"#), "{text}");
    assert!(
        text.contains("grpc_server_handling_seconds_bucket"),
        "{text}"
    );

    let text = scrape(review_metrics);
    assert!(
        text.contains(r#"grpc_server_handled_total{method="/exportcontrol.review.v1.ReviewService/CreateApplication",code="Unauthenticated"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"review_applications{state="AGENCY_REVIEW",level="AGENCY"} 1"#),
        "{text}"
    );
    assert!(text.contains("review_applications_overdue 0"), "{text}");
    assert!(text.contains("review_watches_open 1"), "{text}");
    assert!(text.contains("review_classifier_retries_total 0"), "{text}");
}

#[tokio::test]
async fn one_trace_id_follows_the_work_from_review_svc_into_the_classifier() {
    let data = tempfile::tempdir().unwrap();
    let debug_json = || {
        vec![
            "--log-format".to_owned(),
            "json".to_owned(),
            "--log-level".to_owned(),
            "debug".to_owned(),
        ]
    };
    let classifier = start_classifier_with(free_port().unwrap(), data.path(), debug_json()).await;
    let review = start_review(
        data.path(),
        "review.log",
        &classifier.url(),
        debug_json(),
        Vec::new(),
    )
    .await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = authed(h200_to_china(1), "dev-applicant");
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    ReviewServiceClient::connect(review.url())
        .await
        .unwrap()
        .create_application(request)
        .await
        .unwrap();
    for log in ["review.log", "classifier.log"] {
        let text = std::fs::read_to_string(data.path().join(log)).unwrap();
        let traced = text
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|entry| entry.to_string().contains(trace_id))
            .count();
        assert!(
            traced > 0,
            "{log} has no entry with trace id {trace_id}:\n{text}"
        );
    }
}

/// A log written to a file (or read by a collector) is plain text: colours
/// are for a person at a terminal, and escape codes in a file get in the
/// way of everyone who greps it.
#[tokio::test]
async fn logs_not_written_to_a_terminal_have_no_colour_codes() {
    let data = tempfile::tempdir().unwrap();
    let (_classifier, review) = start_both(data.path(), Vec::new()).await;
    ReviewServiceClient::connect(review.url())
        .await
        .unwrap()
        .create_application(authed(h200_to_china(1), "dev-applicant"))
        .await
        .unwrap();
    for log in ["review.log", "classifier.log"] {
        let text = std::fs::read_to_string(data.path().join(log)).unwrap();
        assert!(text.contains(" INFO "), "{log} has no INFO line:\n{text}");
        assert!(!text.contains('\u{1b}'), "{log} has escape codes:\n{text}");
    }
    let review_log = std::fs::read_to_string(data.path().join("review.log")).unwrap();
    assert!(review_log.contains("application filed"), "{review_log}");
}

/// `exportcontrol-up` on the two ports, with `data` as its data directory.
fn launcher(ports: [std::net::SocketAddr; 2], data: &std::path::Path) -> tokio::process::Command {
    let mut up = tokio::process::Command::new(system_tests::binary("exportcontrol-up"));
    up.arg("--classifier-listen")
        .arg(ports[0].to_string())
        .arg("--review-listen")
        .arg(ports[1].to_string())
        .arg("--data-dir")
        .arg(data);
    up
}

/// A database URL review-svc cannot serve from stops it at start with the
/// reason: another store's scheme (or PostgreSQL's mistyped) is not a
/// SQLite file to create in a directory named after the scheme, and a
/// PostgreSQL that cannot be reached says why, not only that the pool
/// timed out.
#[tokio::test]
async fn a_database_url_it_cannot_serve_stops_review_svc_with_the_reason() {
    let cases = [
        (
            "mysql://db/review",
            "unsupported database URL scheme \"mysql\"",
        ),
        (
            "postgress://postgres@127.0.0.1/test",
            "unsupported database URL scheme \"postgress\"",
        ),
        ("postgres://postgres@127.0.0.1:1/test", "Connection refused"),
        (
            "sqlite://a-file/review.db",
            "cannot create the directory a-file for the database: it is a file, not a directory",
        ),
        ("sqlite://a-directory", "cannot open a-directory: "),
    ];
    for (url, reason) in cases {
        let cwd = tempfile::tempdir().unwrap();
        std::fs::write(cwd.path().join("a-file"), "").unwrap();
        std::fs::create_dir(cwd.path().join("a-directory")).unwrap();
        let mut review = system_tests::service_command("review-svc");
        review
            .args(["--dev", "--listen", "127.0.0.1:0", "--database-url", url])
            .current_dir(cwd.path());
        let stderr = system_tests::refused_at_start(review).await;
        assert!(stderr.contains(reason), "{url}: {reason} not in\n{stderr}");
        let scheme_dir = cwd
            .path()
            .join(format!("{}:", url.split(':').next().unwrap()));
        assert!(
            !scheme_dir.exists(),
            "{url} created {}",
            scheme_dir.display()
        );
    }
}

/// A port taken stops a service with the address and the flag it came
/// from: metrics and gRPC are two listeners.
#[tokio::test]
async fn a_port_in_use_is_named_with_its_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let free = system_tests::free_port().unwrap().to_string();
    for (name, listen, metrics, flag) in [
        ("classifier-svc", &addr, &free, "--listen"),
        ("review-svc", &free, &addr, "--metrics-listen"),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut service = system_tests::service_command(name);
        service.args(["--listen", listen, "--metrics-listen", metrics]);
        if name == "review-svc" {
            service.arg("--dev").arg("--data-dir").arg(data.path());
        }
        let said = system_tests::refused_at_start(service).await;
        let expected = format!("cannot listen on {addr} ({flag}): ");
        assert!(
            said.contains(&expected),
            "{name}: {expected} not in\n{said}"
        );
    }
}

/// The history written by the first release (`review-svc/tests/fixtures/v1`:
/// events of the first format, snapshots with the whole application) is
/// served as that release served it, verifies byte for byte, and takes new
/// events of the current format on the same chains.
#[tokio::test]
async fn a_database_written_by_the_first_release_is_served_and_verified() {
    use prost::Message;
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../review-svc/tests/fixtures/v1");
    let data = tempfile::tempdir().unwrap();
    std::fs::copy(fixture.join("review.db"), data.path().join("review.db")).unwrap();
    // No sweeps: the fixture's deadlines are real days from when it was
    // written, and reading must not depend on when the test runs.
    let no_sweeps = vec!["--sweep-interval-ms".into(), "86400000".into()];
    let (classifier, review) = start_both(data.path(), no_sweeps).await;
    let mut client = ReviewServiceClient::connect(review.url()).await.unwrap();
    let index = std::fs::read_to_string(fixture.join("index.txt")).unwrap();
    let mut names = std::collections::HashMap::new();
    for line in index.lines().filter(|l| !l.starts_with("verified")) {
        let mut fields = line.split_whitespace();
        let (label, name, count) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap().parse::<usize>().unwrap(),
        );
        names.insert(label.to_owned(), name.to_owned());
        let read = |suffix: &str| std::fs::read(fixture.join(format!("{label}.{suffix}"))).unwrap();
        let then = pb::Application::decode(read("application.pb").as_slice()).unwrap();
        let mut now = get_application(&mut client, name, "dev-auditor").await;
        // Fields added since the first release are set now; the rest is as served then.
        for item in &mut now.classifications {
            assert!(!item.summary.is_empty(), "{label}: {item:?}");
            item.license_required = false;
            item.review_policy.clear();
            item.summary.clear();
        }
        now.etag = then.etag.clone();
        assert_eq!(now, then, "{label}");

        let then = pb::ListApplicationEventsResponse::decode(read("events.pb").as_slice()).unwrap();
        let now = all_events(&client, name, "dev-auditor").await;
        assert_eq!(now.len(), count, "{label}");
        for (now, then) in now.iter().zip(&then.events) {
            assert!(now.payload.is_some(), "{label}: {now:?}");
            let mut envelope = now.clone();
            envelope.payload = None;
            assert_eq!(&envelope, then, "{label}");
        }
    }
    assert_eq!(verify_all_intact(&mut client).await.events_checked, 53);

    // New events of the current format join the old chains.
    let referred = get(&mut client, &names["deemed_then_president"]).await;
    let decided = decide(
        &mut client,
        referred,
        "dev-president",
        pb::Outcome::Deny,
        Vec::new(),
    )
    .await;
    assert_eq!(state(&decided), pb::State::Decided);
    let open = get(&mut client, &names["classified_later"]).await;
    let withdrawn = client
        .withdraw_application(authed(
            withdrawal_request(&open.name, &open.etag, "no longer needed"),
            "dev-applicant-2",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&withdrawn), pb::State::Withdrawn);
    assert_eq!(withdrawn.items, open.items);
    let report = verify_all_intact(&mut client).await;
    assert!(report.intact, "{report:?}");
    assert_eq!(report.events_checked, 53 + 2);
    drop(classifier);
}

async fn get(client: &mut ReviewServiceClient<Channel>, name: &str) -> pb::Application {
    get_application(client, name, "dev-auditor").await
}

/// VerifyAuditTrail of all applications, which must be intact.
async fn verify_all_intact(
    client: &mut ReviewServiceClient<Channel>,
) -> pb::VerifyAuditTrailResponse {
    let report = verify_audit_trail(client, "applications/-", "dev-auditor").await;
    assert!(report.intact, "{report:?}");
    report
}

/// The README's walk-through, run as written (with its buf `call`) against
/// both services: it must reach the President's final decision.
#[tokio::test]
async fn the_readme_walk_through_runs_as_written() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("### A licence application from filing to decision")
        .nth(1)
        .expect("the walk-through section");
    let blocks: Vec<&str> = section
        .split("```sh\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .take(4)
        .collect();
    let buf_call = blocks[0]
        .lines()
        .find(|line| line.starts_with("call() { node_modules/.bin/buf"))
        .expect("the buf call helper");
    let read_back: Vec<&str> = blocks[2]
        .lines()
        .filter(|line| !line.contains("WatchApplications"))
        .collect();
    // The licence and its shipments, with the buf helper.
    let licence: Vec<&str> = blocks[3]
        .lines()
        .filter(|line| !line.starts_with("lcall() { grpcurl"))
        .collect();
    let system = System::start("86400").await;
    let script = format!(
        "set -euo pipefail\nREVIEW={}\n{buf_call}\n{}\njq -e '.state == \"STATE_DECIDED\"' <<<\"$APP\"\n{}\n{}\n",
        system.review.addr,
        blocks[1],
        read_back.join("\n"),
        licence.join("\n")
    );
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("\"intact\": true"), "{stdout}");
    assert!(stdout.contains("STATE_PRESIDENTIAL_REVIEW"), "{stdout}");
    for expected in [
        "\"remainingQuantity\":\"3000\"",
        "\"remainingQuantity\":\"500\"",
        "refused: no test report",
        "refused: beyond what remains",
        "LICENSE_STATE_SUSPENDED",
    ] {
        assert!(stdout.contains(expected), "{expected} not in:\n{stdout}");
    }
}

/// The README's start command (`scripts/start` runs `exportcontrol-up`)
/// stops both services when it is stopped by SIGTERM, as by Ctrl-C, rather
/// than leaving them running on their ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_command_stops_both_services_when_terminated() {
    use tokio::io::AsyncBufReadExt;
    let data = tempfile::tempdir().unwrap();
    let ports = [free_port().unwrap(), free_port().unwrap()];
    let mut up = launcher(ports, data.path())
        // Not the harness's stdout: services left running by a regression
        // would hold it open, and the test run would hang instead of failing.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(up.stderr.take().unwrap()).lines();
    let ready = async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.starts_with("ready") {
                return;
            }
        }
        panic!("exportcontrol-up ended before it was ready");
    };
    tokio::time::timeout(Duration::from_secs(60), ready)
        .await
        .unwrap();
    for port in ports {
        assert!(tokio::net::TcpStream::connect(port).await.is_ok(), "{port}");
    }
    // A second start on the same ports is refused: the first one's
    // services would otherwise answer its health checks, and it would say
    // "ready" for services that failed to bind.
    let other = tempfile::tempdir().unwrap();
    let said = system_tests::refused_at_start(launcher(ports, other.path())).await;
    assert!(!said.lines().any(|l| l.starts_with("ready")), "{said}");
    assert!(said.contains("in use"), "{said}");

    let pid = up.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(killed.unwrap().success());
    let stopped = tokio::time::timeout(Duration::from_secs(30), up.wait())
        .await
        .unwrap()
        .unwrap();
    // Bounded: services a regression left running would hold the pipe open.
    let mut said = Vec::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(5), stderr.next_line()).await
    {
        said.push(line);
    }
    // A launcher killed by the signal's default action has no exit code.
    assert!(stopped.success(), "{stopped:?}\n{}", said.join("\n"));
    for port in ports {
        assert!(
            tokio::net::TcpStream::connect(port).await.is_err(),
            "{port} still open"
        );
    }
}
