use super::*;

// ---------------------------------------------------------------------------
// 4. Deadlines (fake clock)
// ---------------------------------------------------------------------------

pub(crate) async fn silent_agencies_are_deemed_not_to_object_at_the_deadline(mut h: Harness) {
    // Two of four speak (and disagree); on another application nobody does.
    let mut split = filed(&mut h.client).await;
    for (agency, recommendation) in [
        (pb::Agency::Commerce, pb::Recommendation::Approve),
        (pb::Agency::State, pb::Recommendation::Deny),
    ] {
        split = agency_recommends(&mut h.client, &split, agency, recommendation).await;
    }
    let silent = filed(&mut h.client).await;

    just_before(&h.clock, days(30)).await;
    assert_eq!(
        get(&mut h.client, &split.name).await,
        split,
        "nothing happens before the deadline"
    );
    assert_eq!(get(&mut h.client, &silent.name).await, silent);

    let split = at_the_deadline(&mut h, &split.name, pb::State::OperatingCommitteeReview).await;
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
    assert_eq!(
        last_events(&events, 3),
        [
            ("DeemedNoObjection", "system"),
            ("DeemedNoObjection", "system"),
            ("EscalatedToOperatingCommittee", "system"),
        ]
    );

    // Nobody objected: the agencies agree, the licensing officer decides.
    let silent = wait_for_state(
        &mut h.client,
        &silent.name,
        pb::State::AwaitingLicensingDecision,
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

pub(crate) async fn appeal_window_expiry_makes_the_decision_final(mut h: Harness) {
    let app = oc_approved(&mut h.client).await;
    let step_due = app.step_due_time.expect("the window's end");
    let decided_at = app.decision.as_ref().unwrap().decide_time.unwrap();
    assert_eq!(step_due.seconds - decided_at.seconds, 5 * 86_400);

    just_before(&h.clock, days(5)).await;
    assert_eq!(
        get(&mut h.client, &app.name).await,
        app,
        "the window is still open"
    );

    let app = at_the_deadline(&mut h, &app.name, pb::State::Decided).await;
    let decision = app.decision.clone().unwrap();
    assert!(decision.r#final);
    assert_eq!(decision.outcome, pb::Outcome::Approve as i32);
    assert_eq!(decision.level, pb::ReviewLevel::OperatingCommittee as i32);
    let events = all_events(&mut h.client, &app.name).await;
    // The approval became final, and its licence was issued in the same write.
    assert_eq!(
        last_events(&events, 2),
        [("DecisionFinal", "system"), ("LicenseIssued", "system")]
    );
    assert!(!app.license.is_empty());
    expect_refusal(
        h.client
            .appeal_application(authed(
                appeal_request(&app, pb::Agency::State),
                "dev-acep-state",
            ))
            .await,
        Code::FailedPrecondition,
        "APPEAL_WINDOW_CLOSED",
    );
}

/// Defense agreed to an approval on its condition, not to any approval: an
/// OC approval that leaves the condition out is one Defense may escalate,
/// and the application says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_without_an_agencys_condition_may_be_appealed_by_it() {
    let mut h = spawn().await;
    let mut app = filed(&mut h.client).await;
    for (agency, recommendation) in [
        (pb::Agency::Commerce, pb::Recommendation::Approve),
        (pb::Agency::State, pb::Recommendation::Deny),
        (
            pb::Agency::Defense,
            pb::Recommendation::ApproveWithConditions,
        ),
        (pb::Agency::Energy, pb::Recommendation::Approve),
    ] {
        app = agency_recommends(&mut h.client, &app, agency, recommendation).await;
    }
    let app = decide(&mut h.client, &app, OC_CHAIR, pb::Outcome::Approve).await;
    assert_eq!(
        app.dissenting_agencies,
        [pb::Agency::State as i32, pb::Agency::Defense as i32]
    );
    let app = appeal(&mut h.client, &app, "dev-acep-defense", pb::Agency::Defense).await;
    assert_eq!(state_of(&app), pb::State::AcepReview);
    assert!(app.dissenting_agencies.is_empty(), "no window is open");
}

pub(crate) async fn acep_votes_are_tallied_at_the_deadline(mut h: Harness) {
    let app = oc_approved(&mut h.client).await;
    let app = appeal(&mut h.client, &app, "dev-acep-state", pb::Agency::State).await;
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
    let app = wait_for_state(&mut h.client, &app.name, pb::State::AppealWindow).await;
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

pub(crate) async fn overall_deadline_refers_to_the_president(mut h: Harness) {
    let app = agencies_disagree(&mut h.client).await;
    // The OC clock (day 44) only makes the application overdue.
    just_before(&h.clock, days(90)).await;
    assert_eq!(get(&mut h.client, &app.name).await, app);

    let app = at_the_deadline(&mut h, &app.name, pb::State::PresidentialReview).await;
    assert_eq!(app.level, pb::ReviewLevel::President as i32);
    let events = all_events(&mut h.client, &app.name).await;
    assert_eq!(last_events(&events, 1), [("ReferredToPresident", "system")]);
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

pub(crate) async fn overdue_filter_finds_a_passed_operating_committee_deadline(mut h: Harness) {
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

/// Files an application with a 1 s deadline while no classifier answers:
/// accepted within `within`, pending classification.
async fn file_without_a_classifier(h: &mut Harness, within: Duration) -> pb::Application {
    let mut request = authed(h200_to("CN", 5_000), APPLICANT);
    request.set_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let app = h
        .client
        .create_application(request)
        .await
        .expect("accepted within the deadline while no classifier answers")
        .into_inner();
    assert!(
        started.elapsed() < within,
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(state_of(&app), pb::State::ClassificationPending);
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classifier_down_then_up_classifies_in_the_background() {
    let addr = unused_port();
    let mut h = spawn_with_classifier_at(format!("http://{addr}")).await;
    assert!(h.classifier.is_none(), "nothing listens on {addr} yet");
    let app = file_without_a_classifier(&mut h, Duration::from_secs(1)).await;
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
    let mut h = spawn_with_classifier_at(url).await;
    // Past its deadline the server would have answered CANCELLED.
    file_without_a_classifier(&mut h, Duration::from_millis(1_200)).await;
    drop(black_hole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_does_not_decode_is_the_classifiers_fault_not_the_filings() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(UndecodableClassifier)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let mut h = spawn_with_classifier_at(url).await;
    // Not INVALID_ARGUMENT on the applicant's items: accepted, and
    // classified once the classifier answers properly.
    file_without_a_classifier(&mut h, Duration::from_secs(2)).await;
    server.abort();
}

/// A classifier whose every ClassifyItem answer is three bytes of a
/// broken varint where a `Classification` (field 1) is expected: encoded
/// as a `BytesValue`, whose one field has the same number and wire type.
#[derive(Clone)]
struct UndecodableClassifier;

impl tonic::server::NamedService for UndecodableClassifier {
    const NAME: &'static str =
        exportcontrol_proto::classifier::v1::classifier_service_server::SERVICE_NAME;
}

impl tower::Service<http::Request<tonic::body::Body>> for UndecodableClassifier {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        use exportcontrol_proto::codec::ValidatingCodec;
        Box::pin(async move {
            let codec = ValidatingCodec::<Vec<u8>, cpb::ClassifyItemRequest>::default();
            Ok(tonic::server::Grpc::new(codec)
                .unary(BrokenAnswer, request)
                .await)
        })
    }
}

struct BrokenAnswer;

impl tonic::server::UnaryService<cpb::ClassifyItemRequest> for BrokenAnswer {
    type Response = Vec<u8>;
    type Future = futures::future::Ready<Result<tonic::Response<Vec<u8>>, Status>>;

    fn call(&mut self, _: Request<cpb::ClassifyItemRequest>) -> Self::Future {
        futures::future::ready(Ok(tonic::Response::new(vec![0xff; 3])))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classifier_refusals_name_the_fields_of_the_filing() {
    let mut h = spawn().await;
    let nan_spec = pb::LineItem {
        item: Some(pb::line_item::Item::Spec(accelerator(f64::NAN))),
        quantity: 10,
        unit_value_usd_cents: 100,
    };
    let cases = [
        (
            filing_with(|a| a.items = vec![nan_spec.clone()]),
            "application.items[0].spec.rates[0].dense_tops",
            "INVALID_NUMBER",
        ),
        (
            filing_with(|a| a.items = vec![catalog_item("NO-SUCH-CHIP", 1)]),
            "application.items[0].catalog_chip",
            "CHIP_NOT_FOUND",
        ),
        (
            filing_with(|a| {
                let route = a.transaction.as_mut().unwrap().route.as_mut().unwrap();
                route.destination_country = "XX".into();
            }),
            "application.transaction.route.destination_country",
            "UNKNOWN_COUNTRY_CODE",
        ),
    ];
    for (request, field, reason) in cases {
        expect_invalid_field(
            h.client
                .create_application(authed(request, APPLICANT))
                .await,
            reason,
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

pub(crate) async fn restart_on_the_same_database_keeps_everything(mut h: Harness) {
    let mut names = Vec::new();
    for i in 0..10 {
        let app = filed(&mut h.client).await;
        let app = match i {
            0 => agency_approves(&mut h.client, &app, pb::Agency::Commerce).await,
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
            3 => withdraw(&mut h.client, &app).await,
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
    let moved = act(
        &mut h.client,
        "dev-state",
        Call::Recommend(state_request.clone()),
    )
    .await;
    h.restart_review().await;
    let retried = act(&mut h.client, "dev-state", Call::Recommend(state_request)).await;
    assert_eq!(retried, moved);
    assert!(verify_all(&mut h.client).await.intact);
}

/// After a graceful stop the SQLite file alone holds every acknowledged
/// write: the store's close copies the write-ahead log into it and removes
/// the log, so a copy of the file is a whole backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_leaves_every_write_in_the_sqlite_file() {
    use review_svc::store::{sqlite::SqliteStore, Store};

    let mut h = crate::spawn().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let app = filed(&mut h.client).await;
        ids.push(app.name.trim_start_matches("applications/").to_owned());
    }
    let review = h.review.take().expect("review-svc is running");
    review.shutdown().await.expect("graceful shutdown");

    let crate::TestDb::Sqlite { dir } = &h.db else {
        unreachable!("spawn() runs on SQLite")
    };
    let log = dir.path().join("review.db-wal");
    let log_len = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    assert_eq!(log_len, 0, "{} still holds writes", log.display());

    let copy = tempfile::tempdir().expect("temporary directory");
    let copied = copy.path().join("review.db");
    std::fs::copy(dir.path().join("review.db"), &copied).expect("copy the file alone");
    let store = SqliteStore::open(&format!("sqlite://{}", copied.display()))
        .await
        .expect("the copy opens");
    for id in &ids {
        let row = store.get(id).await.expect("read the copy");
        assert!(row.is_some(), "application {id} is missing from the copy");
    }
    store.close().await;
}
