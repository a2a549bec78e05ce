//! Names and values a careless or hostile client sends: refused or read
//! one way only, and answers that tell an applicant nothing about
//! applications that are not its own.

use super::*;
use test_support::paging::one_page;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upper_case_id_names_the_same_application() {
    let mut h = spawn().await;
    let app = filed(&mut h.client).await;
    let id = app.name.strip_prefix("applications/").unwrap();
    let upper = format!("applications/{}", id.to_ascii_uppercase());
    assert_eq!(get(&mut h.client, &upper).await, app);
    let withdrawn = act(
        &mut h.client,
        APPLICANT,
        Call::Withdraw(pb::WithdrawApplicationRequest {
            name: upper.clone(),
            ..withdraw_request(&app)
        }),
    )
    .await;
    assert_eq!(withdrawn.name, app.name, "answered by its canonical name");
    let events = all_events(&mut h.client, &upper).await;
    assert_eq!(events.last().unwrap().r#type, "Withdrawn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applicant_cannot_tell_anothers_application_from_a_made_up_one() {
    let mut h = spawn().await;
    let theirs = filed(&mut h.client).await;
    let made_up = pb::Application {
        name: "applications/01234567-89ab-7def-8123-456789abcdef".into(),
        etag: theirs.etag.clone(),
        ..Default::default()
    };
    let answer = |status: Status| {
        let info = status.get_details_error_info().expect("ErrorInfo");
        (status.code(), info.reason)
    };
    let bearer = format!("Bearer {OTHER_APPLICANT}");
    for target in [&theirs, &made_up] {
        let label = if target.name == theirs.name {
            "another's"
        } else {
            "made up"
        };
        for (call, reason) in [
            (
                Call::Get(pb::GetApplicationRequest {
                    name: target.name.clone(),
                }),
                "NOT_YOUR_APPLICATION",
            ),
            (
                Call::Events(pb::ListApplicationEventsRequest {
                    parent: target.name.clone(),
                    ..Default::default()
                }),
                "NOT_YOUR_APPLICATION",
            ),
            (
                Call::Withdraw(withdraw_request(target)),
                "NOT_YOUR_APPLICATION",
            ),
            (
                Call::Recommend(recommendation_request(
                    target,
                    pb::Agency::State,
                    pb::Recommendation::Approve,
                )),
                "ROLE_NOT_PERMITTED",
            ),
        ] {
            let what = format!("{call:?}");
            let got = invoke(&mut h.client, Some(&bearer), call)
                .await
                .expect_err(label);
            assert_eq!(
                answer(got),
                (Code::PermissionDenied, reason.into()),
                "{what} {label}"
            );
        }
    }
    assert_eq!(get(&mut h.client, &theirs.name).await, theirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_trail_is_named_alike_by_every_method() {
    let mut h = spawn().await;
    filed(&mut h.client).await;
    let verified = h
        .client
        .verify_audit_trail(authed(pb::VerifyAuditTrailRequest::default(), AUDITOR))
        .await
        .expect("empty is the whole trail")
        .into_inner();
    assert_eq!(verified, verify_all(&mut h.client).await);
    let request = pb::ListApplicationEventsRequest {
        page_size: 1000,
        ..Default::default()
    };
    let listed = one_page(&h.client, request, |page| authed(page, AUDITOR)).await;
    assert_eq!(
        listed.events,
        all_events(&mut h.client, "applications/-").await
    );
    // And neither is for applicants.
    for parent in ["", "applications/-"] {
        expect_refusal(
            h.client
                .list_application_events(authed(
                    pb::ListApplicationEventsRequest {
                        parent: parent.into(),
                        ..Default::default()
                    },
                    APPLICANT,
                ))
                .await,
            Code::PermissionDenied,
            "NOT_YOUR_APPLICATION",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_names_are_refused_unless_the_classifier_would_read_them_as_written() {
    let mut h = spawn().await;
    for (raw, reason) in [
        ("chips/../h200", "INVALID_CHIP_NAME"),
        (" H200 ", "SURROUNDING_WHITE_SPACE"),
        ("H200\u{202E}", "FORBIDDEN_CHARACTERS"),
        ("chips/h200/x", "INVALID_CHIP_NAME"),
        ("H200\n", "FORBIDDEN_CHARACTERS"),
        ("..", "INVALID_CHIP_NAME"),
    ] {
        let request =
            filing_with(|a| a.items[0].item = Some(pb::line_item::Item::CatalogChip(raw.into())));
        expect_invalid_field(
            h.client
                .create_application(authed(request, APPLICANT))
                .await,
            reason,
            "application.items[0].catalog_chip",
        );
    }
    // The documented forms are accepted and stored as written.
    for good in ["chips/h200", "H200 NVL", "h200"] {
        let request =
            filing_with(|a| a.items[0].item = Some(pb::line_item::Item::CatalogChip(good.into())));
        let app = create(&mut h.client, APPLICANT, request).await;
        assert_eq!(
            app.items[0].item,
            Some(pb::line_item::Item::CatalogChip(good.into()))
        );
    }
}
