use super::*;

// ---------------------------------------------------------------------------
// 5. Holds and requests for information (15 CFR 750.4(b), (d)(1); fake clock)
// ---------------------------------------------------------------------------

fn seconds_between(
    later: Option<prost_types::Timestamp>,
    earlier: Option<prost_types::Timestamp>,
) -> i64 {
    later.expect("a time").seconds - earlier.expect("a time").seconds
}

const DAY: i64 = 86_400;

/// State asks on day 9 and the applicant answers on day 18: the agencies'
/// 30 days, the step deadline and the 90 days all move by the 9 days the
/// clock stood still, so nobody is deemed not to object on day 30, and on
/// day 39 the silent agencies are.
pub(crate) async fn a_request_for_information_stops_the_clocks_until_answered(mut h: Harness) {
    let filed = filed(&mut h.client).await;
    assert_eq!(
        seconds_between(filed.information_request_due_time, filed.create_time),
        10 * DAY
    );
    h.clock.advance(days(9));
    let asked = ask_information(&mut h.client, "dev-state", &filed, pb::Agency::State).await;
    assert_eq!(state_of(&asked), pb::State::AgencyReview, "the state stays");
    let hold = &asked.holds[0];
    assert_eq!(
        (hold.id, hold.kind, hold.agency, hold.placed_by.as_str()),
        (
            1,
            pb::HoldKind::MissingInformation as i32,
            pb::Agency::State as i32,
            "state-reviewer"
        )
    );
    assert_eq!(seconds_between(hold.due_time, hold.place_time), 10 * DAY);
    assert!(
        hold.citation.contains("interpretation"),
        "{}",
        hold.citation
    );
    assert_eq!(asked.clock_stop_time, hold.place_time);

    h.clock.advance(days(9));
    let_the_sweeper_run().await;
    let waiting = get(&mut h.client, &asked.name).await;
    assert_eq!(waiting.etag, asked.etag, "nothing happens while on hold");
    assert_eq!(
        waiting.clock_stopped_duration.unwrap().seconds,
        9 * DAY,
        "the time stopped so far is shown"
    );

    let answered = answer_information(&mut h.client, &waiting).await;
    let hold = &answered.holds[0];
    assert!(hold.release_time.is_some());
    assert_eq!(hold.documents, ["EUS-2026-0117"]);
    assert_eq!(hold.release_note, "six named enterprise customers");
    assert_eq!(answered.clock_stop_time, None);
    assert_eq!(answered.clock_stopped_duration.unwrap().seconds, 9 * DAY);
    let moved = |after: Option<prost_types::Timestamp>, before: Option<prost_types::Timestamp>| {
        seconds_between(after, before)
    };
    assert_eq!(moved(answered.step_due_time, filed.step_due_time), 9 * DAY);
    assert_eq!(
        moved(answered.overall_due_time, filed.overall_due_time),
        9 * DAY
    );
    assert_eq!(
        moved(
            answered.agency_due[0].due_time,
            filed.agency_due[0].due_time
        ),
        9 * DAY
    );

    // Day 30: the original deadline passes without consequence.
    h.clock.advance(days(12));
    let_the_sweeper_run().await;
    assert_eq!(get(&mut h.client, &answered.name).await.etag, answered.etag);
    // Day 39: the moved deadline.
    h.clock.advance(days(9));
    let after = wait_for_state(
        &mut h.client,
        &answered.name,
        pb::State::AwaitingLicensingDecision,
    )
    .await;
    let events = all_events(&mut h.client, &after.name).await;
    assert_eq!(count_of(&events, "InformationRequested"), 1);
    assert_eq!(count_of(&events, "InformationProvided"), 1);
    assert_eq!(count_of(&events, "DeemedNoObjection"), 4);
    assert!(verify_all(&mut h.client).await.intact);
}

pub(crate) async fn an_unanswered_request_returns_the_application_without_action(mut h: Harness) {
    let asked = information_requested(&mut h.client).await;
    just_before(&h.clock, days(10)).await;
    assert_eq!(get(&mut h.client, &asked.name).await.etag, asked.etag);
    let returned = at_the_deadline(&mut h, &asked.name, pb::State::ReturnedWithoutAction).await;
    assert!(returned.decision.is_none(), "not a denial");
    assert!(
        returned.state_reason.contains("returned without action"),
        "{}",
        returned.state_reason
    );
    assert_eq!(returned.holds[0].released_by, "system");
    let events = all_events(&mut h.client, &returned.name).await;
    assert_eq!(
        last_events(&events, 1),
        [("ReturnedWithoutAction", "system")]
    );
    expect_refusal(
        h.client
            .provide_information(authed(information_answer(&returned), APPLICANT))
            .await,
        Code::FailedPrecondition,
        "APPLICATION_CLOSED",
    );
}

/// A 20-day hold agreed with the applicant moves the referral to the
/// President from day 90 to day 110.
pub(crate) async fn a_hold_moves_the_referral_to_the_president(mut h: Harness) {
    let app = filed(&mut h.client).await;
    h.clock.advance(days(1));
    let held = place_hold(&mut h.client, &app, pb::HoldKind::ApplicantAgreedDelay).await;
    assert_eq!(held.holds[0].due_time, None, "no deadline of its own");
    h.clock.advance(days(20));
    let released = release_hold(&mut h.client, &held, 1).await;
    assert_eq!(
        seconds_between(released.overall_due_time, app.overall_due_time),
        20 * DAY
    );
    // Day 50: the agencies' moved deadline; day 110 - 1 s: not yet referred.
    h.clock.advance(days(89) - chrono::Duration::seconds(1));
    let waiting = wait_for_state(
        &mut h.client,
        &app.name,
        pb::State::AwaitingLicensingDecision,
    )
    .await;
    let_the_sweeper_run().await;
    assert_eq!(get(&mut h.client, &app.name).await.etag, waiting.etag);
    let referred = at_the_deadline(&mut h, &app.name, pb::State::PresidentialReview).await;
    assert_eq!(referred.clock_stopped_duration.unwrap().seconds, 20 * DAY);
}

/// A pre-licence check is to be requested within 5 days: after that the
/// hold, and the application, are overdue, though the review's clocks
/// stand still.
pub(crate) async fn a_holds_own_deadline_makes_the_application_overdue(mut h: Harness) {
    let held = on_hold(&mut h.client).await;
    let overdue = pb::ListApplicationsRequest {
        overdue: true,
        ..Default::default()
    };
    assert_eq!(
        seconds_between(held.holds[0].due_time, held.holds[0].place_time),
        5 * DAY
    );
    assert!(held.holds[0].citation.contains("750.4(b)(2)"));
    h.clock.advance(days(5) - chrono::Duration::seconds(1));
    assert!(list_all(&mut h.client, OFFICER, overdue.clone())
        .await
        .is_empty());
    assert!(!get(&mut h.client, &held.name).await.holds[0].overdue);
    h.clock.advance(chrono::Duration::seconds(1));
    let listed = list_all(&mut h.client, OFFICER, overdue).await;
    assert_eq!(
        listed.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        [held.name.as_str()]
    );
    let now = get(&mut h.client, &held.name).await;
    assert!(now.holds[0].overdue);
    assert_eq!(now.etag, held.etag, "overdue is shown, not recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_after_ten_days_of_running_clock_is_refused() {
    let mut h = spawn().await;
    let app = filed(&mut h.client).await;
    // Three days on hold extend the 10 days to day 13.
    h.clock.advance(days(5));
    let held = place_hold(&mut h.client, &app, pb::HoldKind::ForeignConsultation).await;
    h.clock.advance(days(3));
    let released = release_hold(&mut h.client, &held, 1).await;
    assert_eq!(
        seconds_between(
            released.information_request_due_time,
            app.information_request_due_time
        ),
        3 * DAY
    );
    h.clock.advance(days(4));
    let asked = ask_information(&mut h.client, "dev-defense", &released, pb::Agency::Defense).await;
    let answered = answer_information(&mut h.client, &asked).await;
    h.clock.advance(days(1));
    let status = expect_refusal(
        h.client
            .request_information(authed(
                information_request(&answered, pb::Agency::State),
                "dev-state",
            ))
            .await,
        Code::FailedPrecondition,
        "INFORMATION_REQUEST_TOO_LATE",
    );
    assert!(
        status.message().contains("750.4(d)(1)"),
        "{}",
        status.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_refusals_say_why() {
    let mut h = spawn().await;
    let held = on_hold(&mut h.client).await;
    let cases = [
        (
            Call::PlaceHold(hold_request(&held, pb::HoldKind::PreLicenseCheck)),
            Code::FailedPrecondition,
            "HOLD_ALREADY_OPEN",
        ),
        (
            Call::PlaceHold(hold_request(&held, pb::HoldKind::MissingInformation)),
            Code::InvalidArgument,
            "INVALID_FIELD",
        ),
        (
            Call::PlaceHold(pb::PlaceHoldRequest {
                reason: " ".into(),
                ..hold_request(&held, pb::HoldKind::CongressionalNotification)
            }),
            Code::InvalidArgument,
            "MISSING_FIELD",
        ),
        (
            Call::ReleaseHold(release_request(&held, 7)),
            Code::FailedPrecondition,
            "HOLD_NOT_OPEN",
        ),
        (
            Call::ReleaseHold(release_request(&held, 0)),
            Code::InvalidArgument,
            "MISSING_FIELD",
        ),
    ];
    for (call, code, reason) in cases {
        let label = format!("{call:?}");
        let result = invoke(&mut h.client, Some(&format!("Bearer {OFFICER}")), call).await;
        let status = result.expect_err(&label);
        let info = status.get_details_error_info();
        assert_eq!(
            (status.code(), info.map(|i| i.reason)),
            (code, Some(reason.to_owned())),
            "{label}: {}",
            describe(&status)
        );
    }
    let status = expect_refusal(
        h.client
            .provide_information(authed(information_answer(&held), APPLICANT))
            .await,
        Code::FailedPrecondition,
        "NO_OPEN_REQUEST",
    );
    assert!(status.message().contains("request"), "{}", status.message());
    assert_eq!(
        get(&mut h.client, &held.name).await,
        held,
        "nothing was written"
    );
}

/// BIS's third first action beside referral and holds: the licensing
/// officer returns the application without action (748.6(c)), with a
/// reason, while it is undecided; the event names the officer and hold 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_licensing_officer_returns_an_application_without_action() {
    let mut h = spawn().await;
    let app = filed(&mut h.client).await;
    let blank = h
        .client
        .return_application(authed(return_request(&app, " "), OFFICER))
        .await;
    let status = expect_refusal(blank, Code::InvalidArgument, "MISSING_FIELD");
    assert_eq!(violation_fields(&status), ["reason"]);
    let returned = act(
        &mut h.client,
        OFFICER,
        Call::Return(return_request(
            &app,
            "the end-use statement names no end user",
        )),
    )
    .await;
    assert_eq!(state_of(&returned), pb::State::ReturnedWithoutAction);
    assert!(returned.decision.is_none() && returned.license.is_empty());
    assert!(
        returned
            .state_reason
            .ends_with("748.6(c)): the end-use statement names no end user"),
        "{}",
        returned.state_reason
    );
    let events = all_events(&mut h.client, &returned.name).await;
    assert_eq!(
        last_events(&events, 1),
        [("ReturnedWithoutAction", "licensing-officer")]
    );
    match &events.last().unwrap().payload {
        Some(pb::application_event::Payload::ReturnedWithoutAction(e)) => {
            assert_eq!(e.hold_id, 0)
        }
        other => panic!("{other:?}"),
    }

    // Once the agencies disagree, the committees decide: not returnable.
    let disputed = agencies_disagree(&mut h.client).await;
    expect_refusal(
        h.client
            .return_application(authed(return_request(&disputed, "late"), OFFICER))
            .await,
        Code::FailedPrecondition,
        "NOT_RETURNABLE",
    );
}
