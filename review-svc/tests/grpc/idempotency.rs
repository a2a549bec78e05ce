use super::*;

// ---------------------------------------------------------------------------
// 1. Idempotency
// ---------------------------------------------------------------------------

pub(crate) async fn create_is_idempotent_by_request_id(mut h: Harness) {
    let request = h200_to("CN", 5_000);
    let first = create(&mut h.client, APPLICANT, request.clone()).await;
    let again = create(&mut h.client, APPLICANT, request.clone()).await;
    assert_eq!((&again.name, &again.etag), (&first.name, &first.etag));
    assert_eq!(again, first, "a retry returns the first answer");
    // Also once the application has moved on (rebuilt from the history).
    let moved_on = agency_approves(&mut h.client, &first, pb::Agency::State).await;
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
    assert_eq!(info.metadata.get("requestId"), Some(&request.request_id));
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

pub(crate) async fn transitions_are_idempotent_by_request_id(mut h: Harness) {
    let app = filed(&mut h.client).await;
    let request = recommendation_request(&app, pb::Agency::State, pb::Recommendation::Deny);
    let first = act(&mut h.client, "dev-state", Call::Recommend(request.clone())).await;
    assert_ne!(first.etag, app.etag);
    // The retry carries the old etag: it is answered from the record, not refused as stale.
    let retried = act(&mut h.client, "dev-state", Call::Recommend(request.clone())).await;
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
    let later = agency_approves(&mut h.client, &first, pb::Agency::Energy).await;
    assert_ne!(later.etag, first.etag);
    let retried = act(&mut h.client, "dev-state", Call::Recommend(request.clone())).await;
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

pub(crate) async fn concurrent_transitions_with_one_etag_let_exactly_one_through(mut h: Harness) {
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
            info.metadata.get("currentEtag"),
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
    let moved = agency_approves(&mut h.client, &app, pb::Agency::Commerce).await;
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
            .get("currentEtag"),
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
            "INVALID_ETAG",
            "etag",
        );
    }
    assert_eq!(get(&mut h.client, &app.name).await, moved);
}
