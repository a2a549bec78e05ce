//! Helpers: requests, calls and fixtures, error checks.

use super::*;

// ---------------------------------------------------------------------------
// Helpers: requests
// ---------------------------------------------------------------------------

pub(crate) const APPLICANT: &str = "dev-applicant";
pub(crate) const OTHER_APPLICANT: &str = "dev-applicant-2";
pub(crate) const AUDITOR: &str = "dev-auditor";
pub(crate) const OFFICER: &str = "dev-officer";
pub(crate) const OC_CHAIR: &str = "dev-oc-chair";
pub(crate) const PRESIDENT: &str = "dev-president";

/// The agency reviewers and their agencies.
pub(crate) const REVIEWERS: [(&str, pb::Agency); 4] = [
    ("dev-commerce", pb::Agency::Commerce),
    ("dev-state", pb::Agency::State),
    ("dev-defense", pb::Agency::Defense),
    ("dev-energy", pb::Agency::Energy),
];

pub(crate) fn with_authorization<T>(message: T, authorization: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    // Several lines: one header each.
    for value in authorization.into_iter().flat_map(|v| v.split('\n')) {
        request.metadata_mut().append(
            "authorization",
            value.parse().expect("an ASCII header value"),
        );
    }
    request.set_timeout(PATIENCE);
    request
}

pub(crate) fn authed<T>(message: T, token: &str) -> Request<T> {
    with_authorization(message, Some(&format!("Bearer {token}")))
}

pub(crate) fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

use test_support::filings;
pub(crate) use test_support::filings::{accelerator, catalog_item, h200_to};
use test_support::paging::{every_page, Paged};

/// A valid filing changed by `edit`.
pub(crate) fn filing_with(edit: impl FnOnce(&mut pb::Application)) -> pb::CreateApplicationRequest {
    let mut request = h200_to("CN", 10);
    edit(request.application.as_mut().expect("an application"));
    request
}

pub(crate) fn recommendation_request(
    app: &pb::Application,
    agency: pb::Agency,
    recommendation: pb::Recommendation,
) -> pb::RecordRecommendationRequest {
    filings::recommendation_request(&app.name, &app.etag, agency, recommendation)
}

pub(crate) fn decision_request(
    app: &pb::Application,
    outcome: pb::Outcome,
) -> pb::DecideApplicationRequest {
    filings::decision_request(&app.name, &app.etag, outcome, "decided on the full record")
}

pub(crate) fn appeal_request(
    app: &pb::Application,
    agency: pb::Agency,
) -> pb::AppealApplicationRequest {
    filings::appeal_request(
        &app.name,
        &app.etag,
        agency,
        "the decision puts national security at risk",
    )
}

pub(crate) fn withdraw_request(app: &pb::Application) -> pb::WithdrawApplicationRequest {
    filings::withdrawal_request(&app.name, &app.etag, "the customer cancelled the order")
}

pub(crate) fn information_request(
    app: &pb::Application,
    agency: pb::Agency,
) -> pb::RequestInformationRequest {
    pb::RequestInformationRequest {
        name: app.name.clone(),
        etag: app.etag.clone(),
        request_id: new_request_id(),
        agency: agency as i32,
        missing: "the names of the cloud customers".into(),
    }
}

pub(crate) fn information_answer(app: &pb::Application) -> pb::ProvideInformationRequest {
    pb::ProvideInformationRequest {
        name: app.name.clone(),
        etag: app.etag.clone(),
        request_id: new_request_id(),
        hold_id: 0,
        answer: "six named enterprise customers".into(),
        documents: vec!["EUS-2026-0117".into()],
    }
}

pub(crate) fn hold_request(app: &pb::Application, kind: pb::HoldKind) -> pb::PlaceHoldRequest {
    pb::PlaceHoldRequest {
        name: app.name.clone(),
        etag: app.etag.clone(),
        request_id: new_request_id(),
        kind: kind as i32,
        reason: "verify the end user's site".into(),
    }
}

pub(crate) fn release_request(app: &pb::Application, hold_id: u32) -> pb::ReleaseHoldRequest {
    pb::ReleaseHoldRequest {
        name: app.name.clone(),
        etag: app.etag.clone(),
        request_id: new_request_id(),
        hold_id,
        note: "done".into(),
    }
}

pub(crate) fn return_request(app: &pb::Application, reason: &str) -> pb::ReturnApplicationRequest {
    pb::ReturnApplicationRequest {
        name: app.name.clone(),
        etag: app.etag.clone(),
        request_id: new_request_id(),
        reason: reason.into(),
    }
}

pub(crate) fn state_of(app: &pb::Application) -> pb::State {
    pb::State::try_from(app.state).expect("a known state")
}

// ---------------------------------------------------------------------------
// Helpers: calls and fixtures
// ---------------------------------------------------------------------------

pub(crate) async fn create(
    client: &mut Client,
    token: &str,
    request: pb::CreateApplicationRequest,
) -> pb::Application {
    act(client, token, Call::create(request)).await
}

pub(crate) async fn get(client: &mut Client, name: &str) -> pb::Application {
    let request = pb::GetApplicationRequest { name: name.into() };
    act(client, AUDITOR, Call::Get(request)).await
}

pub(crate) async fn recommend(
    client: &mut Client,
    app: &pb::Application,
    token: &str,
    agency: pb::Agency,
    recommendation: pb::Recommendation,
) -> pb::Application {
    let request = recommendation_request(app, agency, recommendation);
    act(client, token, Call::Recommend(request)).await
}

/// The reviewer of `agency` (at agency level) records `recommendation` on
/// `app`.
pub(crate) async fn agency_recommends(
    client: &mut Client,
    app: &pb::Application,
    agency: pb::Agency,
    recommendation: pb::Recommendation,
) -> pb::Application {
    let (token, _) = REVIEWERS
        .into_iter()
        .find(|(_, reviewing)| *reviewing == agency)
        .expect("one of the four reviewing agencies");
    recommend(client, app, token, agency, recommendation).await
}

/// The reviewer of `agency` (at agency level) recommends approving `app`.
pub(crate) async fn agency_approves(
    client: &mut Client,
    app: &pb::Application,
    agency: pb::Agency,
) -> pb::Application {
    agency_recommends(client, app, agency, pb::Recommendation::Approve).await
}

pub(crate) async fn decide(
    client: &mut Client,
    app: &pb::Application,
    token: &str,
    outcome: pb::Outcome,
) -> pb::Application {
    act(client, token, Call::Decide(decision_request(app, outcome))).await
}

pub(crate) async fn appeal(
    client: &mut Client,
    app: &pb::Application,
    token: &str,
    agency: pb::Agency,
) -> pb::Application {
    act(client, token, Call::Appeal(appeal_request(app, agency))).await
}

/// The applicant withdraws `app`.
pub(crate) async fn withdraw(client: &mut Client, app: &pb::Application) -> pb::Application {
    act(client, APPLICANT, Call::Withdraw(withdraw_request(app))).await
}

/// Any call answering the application, which must succeed.
pub(crate) async fn act(client: &mut Client, token: &str, call: Call) -> pb::Application {
    let label = format!("{call:?}");
    let app = match call {
        Call::Create(m) => client.create_application(authed(*m, token)).await,
        Call::Get(m) => client.get_application(authed(m, token)).await,
        Call::Recommend(m) => client.record_recommendation(authed(m, token)).await,
        Call::Decide(m) => client.decide_application(authed(m, token)).await,
        Call::Appeal(m) => client.appeal_application(authed(m, token)).await,
        Call::Withdraw(m) => client.withdraw_application(authed(m, token)).await,
        Call::RequestInformation(m) => client.request_information(authed(m, token)).await,
        Call::ProvideInformation(m) => client.provide_information(authed(m, token)).await,
        Call::PlaceHold(m) => client.place_hold(authed(m, token)).await,
        Call::ReleaseHold(m) => client.release_hold(authed(m, token)).await,
        Call::Return(m) => client.return_application(authed(m, token)).await,
        other => panic!("act is for the calls that answer an application, not {other:?}"),
    };
    app.unwrap_or_else(|status| panic!("{token}: {label}: {}", describe(&status)))
        .into_inner()
}

/// Every application `token` may list with `filter`, following the pages.
pub(crate) async fn list_all(
    client: &mut Client,
    token: &str,
    filter: pb::ListApplicationsRequest,
) -> Vec<pb::Application> {
    let request = pb::ListApplicationsRequest {
        page_size: 1000,
        ..filter
    };
    every_page(client, request, |page| authed(page, token)).await
}

/// The whole audit trail of `parent` (`applications/-` for all), oldest first.
pub(crate) async fn all_events(client: &mut Client, parent: &str) -> Vec<pb::ApplicationEvent> {
    let request = pb::ListApplicationEventsRequest {
        parent: parent.into(),
        page_size: 1000,
        ..Default::default()
    };
    every_page(client, request, |page| authed(page, AUDITOR)).await
}

/// The type and actor of the last `n` of `events`, oldest first.
pub(crate) fn last_events(events: &[pb::ApplicationEvent], n: usize) -> Vec<(&str, &str)> {
    events[events.len().saturating_sub(n)..]
        .iter()
        .map(|e| (e.r#type.as_str(), e.actor.as_str()))
        .collect()
}

pub(crate) fn count_of(events: &[pb::ApplicationEvent], kind: &str) -> usize {
    events.iter().filter(|e| e.r#type == kind).count()
}

pub(crate) async fn verify_all(client: &mut Client) -> pb::VerifyAuditTrailResponse {
    client
        .verify_audit_trail(authed(
            pb::VerifyAuditTrailRequest {
                name: "applications/-".into(),
                ..Default::default()
            },
            AUDITOR,
        ))
        .await
        .unwrap_or_else(|status| panic!("verify: {}", describe(&status)))
        .into_inner()
}

/// Polls the application until `done` holds (the sweeper and the
/// classification worker act in the background).
pub(crate) async fn wait_for(
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

/// Polls the application until it is in `state`.
pub(crate) async fn wait_for_state(
    client: &mut Client,
    name: &str,
    state: pb::State,
) -> pb::Application {
    wait_for(client, name, &format!("{state:?}"), |a| {
        state_of(a) == state
    })
    .await
}

/// Several sweeps' worth of waiting, to show that nothing happens.
pub(crate) async fn let_the_sweeper_run() {
    tokio::time::sleep(SWEEP_INTERVAL * 8).await;
}

/// Moves the fake clock to one second short of `deadline` from now and lets
/// the sweeper run, so that the caller can show that nothing happened yet.
pub(crate) async fn just_before(clock: &FakeClock, deadline: chrono::Duration) {
    clock.advance(deadline - chrono::Duration::seconds(1));
    let_the_sweeper_run().await;
}

/// Moves the fake clock the last second to the deadline and waits for the
/// application to be in `state`.
pub(crate) async fn at_the_deadline(
    h: &mut Harness,
    name: &str,
    state: pb::State,
) -> pb::Application {
    h.clock.advance(chrono::Duration::seconds(1));
    wait_for_state(&mut h.client, name, state).await
}

/// Filed by dev-applicant, classified and referred to the four agencies.
pub(crate) async fn filed(client: &mut Client) -> pb::Application {
    let app = create(client, APPLICANT, h200_to("CN", 5_000)).await;
    assert_eq!(state_of(&app), pb::State::AgencyReview, "{app:#?}");
    app
}

/// All four agencies approve: the licensing officer decides.
pub(crate) async fn agencies_agree(client: &mut Client) -> pb::Application {
    let mut app = filed(client).await;
    for (token, agency) in REVIEWERS {
        app = recommend(client, &app, token, agency, pb::Recommendation::Approve).await;
    }
    assert_eq!(state_of(&app), pb::State::AwaitingLicensingDecision);
    app
}

/// State denies, the others approve: the Operating Committee decides.
pub(crate) async fn agencies_disagree(client: &mut Client) -> pb::Application {
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

/// State asked the applicant for missing information: on hold.
pub(crate) async fn information_requested(client: &mut Client) -> pb::Application {
    let app = filed(client).await;
    ask_information(client, "dev-state", &app, pb::Agency::State).await
}

/// The reviewer `token` asks, for `agency`, for information on `app`.
pub(crate) async fn ask_information(
    client: &mut Client,
    token: &str,
    app: &pb::Application,
    agency: pb::Agency,
) -> pb::Application {
    let request = information_request(app, agency);
    act(client, token, Call::RequestInformation(request)).await
}

/// The applicant answers the open request for information on `app`.
pub(crate) async fn answer_information(
    client: &mut Client,
    app: &pb::Application,
) -> pb::Application {
    act(
        client,
        APPLICANT,
        Call::ProvideInformation(information_answer(app)),
    )
    .await
}

/// The licensing officer placed a pre-licence check (hold 1).
pub(crate) async fn on_hold(client: &mut Client) -> pb::Application {
    let app = filed(client).await;
    place_hold(client, &app, pb::HoldKind::PreLicenseCheck).await
}

/// The licensing officer places a hold of `kind` on `app`.
pub(crate) async fn place_hold(
    client: &mut Client,
    app: &pb::Application,
    kind: pb::HoldKind,
) -> pb::Application {
    act(client, OFFICER, Call::PlaceHold(hold_request(app, kind))).await
}

/// The licensing officer releases hold `id` of `app`.
pub(crate) async fn release_hold(
    client: &mut Client,
    app: &pb::Application,
    id: u32,
) -> pb::Application {
    act(client, OFFICER, Call::ReleaseHold(release_request(app, id))).await
}

/// The OC chair approves against State's denial: State may appeal.
pub(crate) async fn oc_approved(client: &mut Client) -> pb::Application {
    let app = agencies_disagree(client).await;
    let app = decide(client, &app, OC_CHAIR, pb::Outcome::Approve).await;
    assert_eq!(state_of(&app), pb::State::AppealWindow);
    app
}

// ---------------------------------------------------------------------------
// Helpers: errors
// ---------------------------------------------------------------------------

pub(crate) fn describe(status: &Status) -> String {
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

pub(crate) fn violation_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Each field violation's field and reason, in order.
pub(crate) fn violation_reasons(status: &Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| (v.field, v.reason))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts a refusal with `code` and an `ErrorInfo` of our domain with `reason`.
/// One entry of a refusal's `ErrorInfo` metadata.
pub(crate) fn refusal_metadata(status: &Status, key: &str) -> Option<String> {
    status.get_details_error_info()?.metadata.get(key).cloned()
}

pub(crate) fn expect_refusal<T: std::fmt::Debug>(
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
pub(crate) fn expect_invalid_field<T: std::fmt::Debug>(
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

/// Sends the list `request` as `token` and checks that its page token is
/// refused: INVALID_PAGE_TOKEN on `page_token`, and `method`, the method
/// the token was refused for, in the error's metadata.
pub(crate) async fn expect_invalid_page_token<R>(
    client: &R::Client,
    request: R,
    token: &str,
    method: &str,
) where
    R: Paged,
    R::Response: std::fmt::Debug,
{
    let result = R::list(client.clone(), authed(request.clone(), token)).await;
    let status = expect_invalid_field(result, "INVALID_PAGE_TOKEN", "page_token");
    assert_eq!(
        status
            .get_details_error_info()
            .unwrap()
            .metadata
            .get("method")
            .map(String::as_str),
        Some(method),
        "{request:?}"
    );
}

/// Any RPC of the service, for the tables.
#[derive(Debug, Clone)]
pub(crate) enum Call {
    Create(Box<pb::CreateApplicationRequest>),
    Get(pb::GetApplicationRequest),
    List(pb::ListApplicationsRequest),
    Recommend(pb::RecordRecommendationRequest),
    Decide(pb::DecideApplicationRequest),
    Appeal(pb::AppealApplicationRequest),
    Withdraw(pb::WithdrawApplicationRequest),
    RequestInformation(pb::RequestInformationRequest),
    ProvideInformation(pb::ProvideInformationRequest),
    PlaceHold(pb::PlaceHoldRequest),
    ReleaseHold(pb::ReleaseHoldRequest),
    Return(pb::ReturnApplicationRequest),
    Events(pb::ListApplicationEventsRequest),
    Watch(pb::WatchApplicationsRequest),
    Verify(pb::VerifyAuditTrailRequest),
}

impl Call {
    pub(crate) fn create(request: pb::CreateApplicationRequest) -> Call {
        Call::Create(Box::new(request))
    }
}

/// Sends `call` with the raw `authorization` header; a watch succeeds when
/// its first event arrives.
pub(crate) async fn invoke(
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
        Call::RequestInformation(m) => client
            .request_information(with_authorization(m, authorization))
            .await
            .map(drop),
        Call::ProvideInformation(m) => client
            .provide_information(with_authorization(m, authorization))
            .await
            .map(drop),
        Call::PlaceHold(m) => client
            .place_hold(with_authorization(m, authorization))
            .await
            .map(drop),
        Call::ReleaseHold(m) => client
            .release_hold(with_authorization(m, authorization))
            .await
            .map(drop),
        Call::Return(m) => client
            .return_application(with_authorization(m, authorization))
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
