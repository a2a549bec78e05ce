use super::*;

// ---------------------------------------------------------------------------
// 3. Authentication and permissions
// ---------------------------------------------------------------------------

/// Who calls, as the README's permission table distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    NoToken,
    UnknownToken,
    MalformedHeader,
    AmbiguousToken,
    /// dev-applicant, which filed the fixtures.
    Owner,
    /// dev-applicant-2.
    OtherApplicant,
    Reviewer(pb::Agency),
    Officer,
    OcChair,
    Acep(pb::Agency),
    Earb(pb::Agency),
    /// dev-acep-state-acting: an ACEP member for State, not Senate-confirmed.
    AcepActing,
    /// dev-earb-state-deputy: an EARB member for State, not the head.
    EarbDeputy,
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

    fn is_member(self) -> bool {
        matches!(
            self,
            Who::Acep(_) | Who::Earb(_) | Who::AcepActing | Who::EarbDeputy
        )
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
        principal(
            "two authorization headers",
            Some("Bearer dev-applicant\nBearer dev-auditor"),
            Who::AmbiguousToken,
        ),
        principal(
            "two authorization headers, reversed",
            Some("Bearer dev-auditor\nBearer dev-applicant"),
            Who::AmbiguousToken,
        ),
        // RFC 7235: the scheme is case-insensitive.
        principal(
            "upper-case scheme",
            Some("BEARER dev-applicant"),
            Who::Owner,
        ),
        principal(
            "mixed-case scheme",
            Some("BeArEr dev-applicant"),
            Who::Owner,
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
    token("dev-acep-state-acting", Who::AcepActing);
    token("dev-earb-state-deputy", Who::EarbDeputy);
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
    /// At agency review, each caller for its own agency.
    RequestInformationOwnAgency,
    /// At agency review, each caller for State.
    RequestInformationForState,
    /// With State's request open.
    ProvideInformation,
    /// At agency review.
    PlaceHold,
    /// With the officer's hold 1 open.
    ReleaseHold,
    /// At agency review.
    Return,
}

impl Row {
    const ALL: [Row; 22] = [
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
        Row::RequestInformationOwnAgency,
        Row::RequestInformationForState,
        Row::ProvideInformation,
        Row::PlaceHold,
        Row::ReleaseHold,
        Row::Return,
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
                | Row::RequestInformationOwnAgency
                | Row::RequestInformationForState
                | Row::ProvideInformation
                | Row::PlaceHold
                | Row::ReleaseHold
                | Row::Return
        )
    }

    async fn fixture(self, client: &mut Client) -> pb::Application {
        match self {
            Row::DecideLicensing => agencies_agree(client).await,
            Row::DecideOperatingCommittee => agencies_disagree(client).await,
            Row::AppealForState | Row::AppealOwnAgency => oc_approved(client).await,
            Row::ProvideInformation => information_requested(client).await,
            Row::ReleaseHold => on_hold(client).await,
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
            Row::VerifyOne => Call::Verify(pb::VerifyAuditTrailRequest {
                name,
                ..Default::default()
            }),
            Row::VerifyAll => Call::Verify(pb::VerifyAuditTrailRequest {
                name: "applications/-".into(),
                ..Default::default()
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
            Row::RequestInformationOwnAgency => {
                Call::RequestInformation(information_request(app, who.own_agency()))
            }
            Row::RequestInformationForState => {
                Call::RequestInformation(information_request(app, pb::Agency::State))
            }
            Row::ProvideInformation => Call::ProvideInformation(information_answer(app)),
            Row::PlaceHold => {
                Call::PlaceHold(hold_request(app, pb::HoldKind::CongressionalNotification))
            }
            Row::ReleaseHold => Call::ReleaseHold(release_request(app, 1)),
            Row::Return => Call::Return(return_request(app, "incomplete")),
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
        Who::AmbiguousToken => return unauthenticated("AMBIGUOUS_TOKEN"),
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
            _ if who.is_member() => not_at_level,
            _ => role,
        },
        Row::RecommendForState => match who {
            Who::Reviewer(State) => Expect::Ok,
            Who::Reviewer(_) => wrong_agency,
            _ if who.own_agency() == State && who.is_member() => not_at_level,
            _ if who.is_member() => wrong_agency,
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
        // The window after an OC decision: escalated by the dissenting
        // agency's ACEP member, who must be Senate-confirmed.
        Row::AppealForState | Row::AppealOwnAgency if !who.is_member() => role,
        Row::AppealForState | Row::AppealOwnAgency => match who {
            Who::Acep(_) | Who::Earb(_)
                if row == Row::AppealForState && who.own_agency() != State =>
            {
                wrong_agency
            }
            Who::Earb(_) | Who::EarbDeputy => not_at_level,
            Who::AcepActing => denied("SENATE_CONFIRMED_OFFICIAL_REQUIRED"),
            Who::Acep(State) => Expect::Ok,
            _ => Expect::Refused(Code::FailedPrecondition, "NOT_DISSENTING"),
        },
        Row::RequestInformationOwnAgency => match who {
            Who::Reviewer(_) => Expect::Ok,
            _ => role,
        },
        Row::RequestInformationForState => match who {
            Who::Reviewer(State) => Expect::Ok,
            Who::Reviewer(_) => wrong_agency,
            _ => role,
        },
        Row::ProvideInformation => match who {
            Who::Owner => Expect::Ok,
            Who::OtherApplicant => not_yours,
            _ => role,
        },
        Row::PlaceHold | Row::ReleaseHold | Row::Return => match who {
            Who::Officer => Expect::Ok,
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
    assert_eq!(checked, Row::ALL.len() * 27);
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
    // alice follows her application; the stream delivers what is written
    // while her token is valid, then ends with it.
    let watch = pb::WatchApplicationsRequest {
        application: app.name.clone(),
        after_sequence: 0,
    };
    let mut watch = h
        .client
        .watch_applications(authed(watch, "alice-secret"))
        .await
        .expect("alice may follow her application")
        .into_inner();
    let history = h
        .client
        .list_application_events(authed(
            pb::ListApplicationEventsRequest {
                parent: app.name.clone(),
                ..Default::default()
            },
            "alice-secret",
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    for event in &history {
        assert_eq!(&next_event(&mut watch).await, event);
    }

    // The service's clock decides expiry: a day later alice's token has expired.
    h.clock.advance(days(1));
    let ended = tokio::time::timeout(PATIENCE, watch.message())
        .await
        .expect("the watch ends when the token expires");
    expect_refusal(ended.map(|_| ()), Code::Unauthenticated, "TOKEN_EXPIRED");
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
    // A withdrawal with its etag or one made up: the etag does not tell
    // that the application exists.
    let withdrawal = |etag: &str| {
        Call::Withdraw(pb::WithdrawApplicationRequest {
            etag: etag.into(),
            ..withdraw_request(&theirs)
        })
    };
    let bearer = format!("Bearer {OTHER_APPLICANT}");
    for call in [
        Call::Events(events),
        withdrawal(&theirs.etag),
        withdrawal("x"),
    ] {
        expect_refusal(
            invoke(&mut h.client, Some(&bearer), call).await,
            Code::PermissionDenied,
            "NOT_YOUR_APPLICATION",
        );
    }
    assert_eq!(get(&mut h.client, &theirs.name).await, theirs);
    // Its owner may.
    let withdrawn = withdraw(&mut h.client, &theirs).await;
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
        ("exporter-1", pb::State::AgencyReview, app.etag.as_str())
    );
    assert_ne!(app.etag, "v99");
    assert_eq!(test_support::etag_version(&app.etag), 3);
    assert!(list_all(&mut h.client, OTHER_APPLICANT, Default::default())
        .await
        .is_empty());
}
