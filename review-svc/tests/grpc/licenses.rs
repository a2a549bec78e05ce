//! Licences through real clients: issued with the final approval (and
//! only then), every refusal of a shipment with nothing written, the
//! licensing officer's actions, expiry, idempotency, and 64 clients racing
//! for the last units of one licence (one process on SQLite, two processes
//! on one PostgreSQL).

use exportcontrol_proto::review::v1::license_service_client::LicenseServiceClient;
use test_support::filings::{domestic_shipment_request, shipment_request};
use test_support::paging::{one_page, pages};

use super::*;

#[path = "licenses/permissions.rs"]
mod permissions;

pub(crate) type Licenses = LicenseServiceClient<Channel>;

pub(crate) async fn licenses_at(addr: SocketAddr) -> Licenses {
    LicenseServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to review-svc")
}

async fn licenses(h: &Harness) -> Licenses {
    licenses_at(h.review.as_ref().expect("running").server.local_addr).await
}

/// An application of `quantity` H200s to China, approved with conditions
/// by the licensing officer: final, so a licence is issued.
pub(crate) async fn approved(client: &mut Client, quantity: u64) -> pb::Application {
    approved_filing(client, h200_to("CN", quantity)).await
}

/// `filing`, approved with conditions by the licensing officer.
async fn approved_filing(
    client: &mut Client,
    filing: pb::CreateApplicationRequest,
) -> pb::Application {
    let mut app = create(client, APPLICANT, filing).await;
    for (token, agency) in REVIEWERS {
        app = recommend(client, &app, token, agency, pb::Recommendation::Approve).await;
    }
    let app = decide(client, &app, OFFICER, pb::Outcome::ApproveWithConditions).await;
    assert_eq!(state_of(&app), pb::State::Decided);
    app
}

pub(crate) async fn license_of(licenses: &mut Licenses, app: &pb::Application) -> pb::License {
    assert!(!app.license.is_empty(), "no licence named: {app:#?}");
    licenses
        .get_license(authed(
            pb::GetLicenseRequest {
                name: app.license.clone(),
            },
            AUDITOR,
        ))
        .await
        .unwrap_or_else(|s| panic!("get licence: {}", describe(&s)))
        .into_inner()
}

fn ts(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    }
}

/// A shipment of `quantity` units at the unit value filed, with the
/// laboratory's report.
pub(crate) fn shipment(
    license: &pb::License,
    quantity: u64,
    now: DateTime<Utc>,
) -> pb::RecordShipmentRequest {
    shipment_request(&license.name, quantity, ts(now))
}

/// The holder's export of `quantity` units on `license` at `now`, recorded.
async fn exported(
    licenses: &mut Licenses,
    license: &pb::License,
    quantity: u64,
    now: DateTime<Utc>,
) -> pb::RecordShipmentResponse {
    licenses
        .record_shipment(authed(shipment(license, quantity, now), APPLICANT))
        .await
        .unwrap_or_else(|s| panic!("export of {quantity}: {}", describe(&s)))
        .into_inner()
}

/// The holder's export of `quantity` units on `license` at `now`, refused
/// as a precondition failed, for `reason`.
async fn export_refused(
    licenses: &mut Licenses,
    license: &pb::License,
    quantity: u64,
    now: DateTime<Utc>,
    reason: &str,
) -> Status {
    let answer = licenses
        .record_shipment(authed(shipment(license, quantity, now), APPLICANT))
        .await;
    expect_refusal(answer, Code::FailedPrecondition, reason)
}

/// The holder reports `quantity` units shipped to U.S. customers.
pub(crate) async fn domestic(
    licenses: &mut Licenses,
    license: &pb::License,
    quantity: u64,
    now: DateTime<Utc>,
) {
    licenses
        .record_domestic_shipment(authed(
            domestic_shipment_request(&license.name, quantity, quantity * 3_000_000, ts(now)),
            APPLICANT,
        ))
        .await
        .unwrap_or_else(|s| panic!("domestic shipment: {}", describe(&s)));
}

pub(crate) async fn licence_issued_on_approval(mut h: Harness) {
    let mut licenses = licenses(&h).await;
    let app = approved(&mut h.client, 5_000).await;
    let license = license_of(&mut licenses, &app).await;
    assert_eq!(license.name, app.license);
    assert_eq!(license.application, app.name);
    assert_eq!(license.holder, "exporter-1");
    assert_eq!(license.state, pb::LicenseState::Active as i32);
    assert_eq!(license.conditions, vec!["Quarterly end-use reports"]);
    assert_eq!(license.destination_country, "CN");
    assert_eq!(license.end_user_headquarters, vec!["CN"]);
    assert_eq!(license.end_user, "Example Cloud Co.");
    assert_eq!(license.required_attestations, vec!["US_LAB_TEST_REPORT"]);
    let item = &license.items[0];
    assert_eq!(
        (
            item.authorized_quantity,
            item.authorized_value_usd_cents,
            item.shipped_quantity
        ),
        (5_000, 5_000 * 3_000_000, 0)
    );
    assert_eq!(item.product, "NVIDIA H200 SXM 141GB");
    assert!(item.tpp_per_unit > 0, "the classifier's TPP: {item:?}");
    let issued = license.issue_time.unwrap().seconds;
    assert_eq!(license.expire_time.unwrap().seconds - issued, 1461 * 86_400);
    assert_eq!(
        app.decision.as_ref().unwrap().decide_time.unwrap().seconds,
        issued,
        "issued with the decision"
    );
    let events = all_events(&mut h.client, &app.name).await;
    let kinds: Vec<&str> = events
        .iter()
        .rev()
        .take(2)
        .map(|e| e.r#type.as_str())
        .collect();
    assert_eq!(kinds, vec!["LicenseIssued", "Decided"]);
    assert!(matches!(
        events.last().unwrap().payload,
        Some(pb::application_event::Payload::LicenseIssued(_))
    ));
    assert!(verify_all(&mut h.client).await.intact);

    // The holder lists its licence; another applicant sees none.
    let mine = licenses
        .list_licenses(authed(pb::ListLicensesRequest::default(), APPLICANT))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.licenses.len(), 1);
    let theirs = licenses
        .list_licenses(authed(pb::ListLicensesRequest::default(), OTHER_APPLICANT))
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.licenses.is_empty());
}

/// A board of eight H200s, licensed by the board: each unit counts eight
/// H200s toward the end user's cap and eight H200s' TPP toward the
/// aggregate cap, so licensing boards instead of chips multiplies neither;
/// the end user's cap counts every product, so the board's licence and a
/// chips' licence share it; and an invoice is reported once, whatever the
/// product it is reported for.
pub(crate) async fn a_board_counts_its_chips_toward_the_caps(mut h: Harness) {
    let mut licenses = licenses(&h).await;
    let mut filing = h200_to("CN", 10_000);
    let board = cpb::ChipSpec {
        name: "HGX H200 8-GPU".into(),
        kind: cpb::ItemKind::ComputerOrAssembly as i32,
        market: cpb::Market::Datacenter as i32,
        contained_ics: vec![cpb::ContainedIntegratedCircuit {
            ic: Some(cpb::contained_integrated_circuit::Ic::CatalogChip(
                "H200".into(),
            )),
            count: 8,
        }],
        ..Default::default()
    };
    filing.application.as_mut().unwrap().items[0].item = Some(pb::line_item::Item::Spec(board));
    let app = approved_filing(&mut h.client, filing).await;
    let license = license_of(&mut licenses, &app).await;
    let item = &license.items[0];
    assert_eq!(item.ics_per_unit, 8, "{item:?}");
    assert_eq!(
        item.tpp_per_unit, 126_650,
        "eight H200s of 15,831.2: {item:?}"
    );
    let now = h.clock.now();
    domestic(&mut licenses, &license, 20_000, now).await;

    // 9,376 boards are 75,008 H200s: above the 75,000 of one end user.
    let status = export_refused(&mut licenses, &license, 9_376, now, "END_USER_CAP_EXCEEDED").await;
    assert_eq!(
        refusal_metadata(&status, "icsPerUnit").as_deref(),
        Some("8")
    );
    let shipped = exported(&mut licenses, &license, 9_375, now).await;
    assert_eq!(shipped.shipment.unwrap().tpp, 9_375 * 126_650);
    // The end user has its 75,000 of every product: one H200 more on another
    // licence is refused.
    let chips = approved(&mut h.client, 10).await;
    let chips = license_of(&mut licenses, &chips).await;
    domestic(&mut licenses, &chips, 10, now).await;
    export_refused(&mut licenses, &chips, 1, now, "END_USER_CAP_EXCEEDED").await;
    // An invoice reported for the boards is not reported again as chips.
    let invoice = |license: &pb::License| pb::RecordDomesticShipmentRequest {
        reference: "INV-BOARDS-1".into(),
        ..domestic_shipment_request(&license.name, 100, 0, ts(now))
    };
    licenses
        .record_domestic_shipment(authed(invoice(&license), APPLICANT))
        .await
        .unwrap_or_else(|s| panic!("the invoice: {}", describe(&s)));
    expect_refusal(
        licenses
            .record_domestic_shipment(authed(invoice(&chips), APPLICANT))
            .await,
        Code::AlreadyExists,
        "DOMESTIC_SHIPMENT_ALREADY_REPORTED",
    );
}

/// The per-customer cap follows a customer headquartered in China abroad:
/// its licence to Malaysia shares the 75,000 (an approval against the
/// presumption of denial such a filing meets).
pub(crate) async fn the_cap_follows_a_chinese_customer_abroad(mut h: Harness) {
    let mut licenses = licenses(&h).await;
    let mut filing = h200_to("CN", 80_000);
    let route = filing
        .application
        .as_mut()
        .unwrap()
        .transaction
        .as_mut()
        .unwrap();
    route.route.as_mut().unwrap().destination_country = "MY".into();
    let app = approved_filing(&mut h.client, filing).await;
    let license = license_of(&mut licenses, &app).await;
    assert_eq!(
        (
            license.destination_country.as_str(),
            license.end_user_headquarters.clone()
        ),
        ("MY", vec!["CN".to_owned()])
    );
    let now = h.clock.now();
    export_refused(
        &mut licenses,
        &license,
        75_001,
        now,
        "END_USER_CAP_EXCEEDED",
    )
    .await;
}

pub(crate) async fn no_licence_without_a_final_approval(mut h: Harness) {
    let mut licenses = licenses(&h).await;
    // Every agency denies, the officer denies: final.
    let mut denied = filed(&mut h.client).await;
    for (token, agency) in REVIEWERS {
        denied = recommend(
            &mut h.client,
            &denied,
            token,
            agency,
            pb::Recommendation::Deny,
        )
        .await;
    }
    let denied = decide(&mut h.client, &denied, OFFICER, pb::Outcome::Deny).await;
    assert_eq!(state_of(&denied), pb::State::Decided);
    assert_eq!(denied.license, "");
    // Withdrawn.
    let withdrawn = filed(&mut h.client).await;
    let withdrawn = withdraw(&mut h.client, &withdrawn).await;
    assert_eq!(withdrawn.license, "");
    // An appealable approval is not final yet.
    let appealable = oc_approved(&mut h.client).await;
    assert_eq!(appealable.license, "");
    let all = licenses
        .list_licenses(authed(pb::ListLicensesRequest::default(), AUDITOR))
        .await
        .unwrap()
        .into_inner();
    assert!(all.licenses.is_empty(), "{all:#?}");
    // When the appeal window closes, the sweeper's write issues it.
    h.clock.advance(days(5));
    let app = wait_for(&mut h.client, &appealable.name, "licensed", |a| {
        !a.license.is_empty()
    })
    .await;
    let license = license_of(&mut licenses, &app).await;
    assert_eq!(license.state, pb::LicenseState::Active as i32);
    assert!(verify_all(&mut h.client).await.intact);
}

/// Asserts the licence and its history did not move.
async fn unchanged(h: &mut Harness, licenses: &mut Licenses, before: &pb::License, events: usize) {
    let app = get(&mut h.client, &before.application).await;
    let now = license_of(licenses, &app).await;
    assert_eq!(&now, before, "a refusal changed the licence");
    assert_eq!(
        all_events(&mut h.client, &before.application).await.len(),
        events
    );
}

pub(crate) async fn every_refusal_says_why_and_writes_nothing(mut h: Harness) {
    let mut licenses = licenses(&h).await;
    let app = approved(&mut h.client, 80_000).await;
    let license = license_of(&mut licenses, &app).await;
    let now = h.clock.now();
    let mut events = all_events(&mut h.client, &app.name).await.len();

    // No U.S. domestic shipments yet: the 50% aggregate-TPP cap refuses.
    let status = export_refused(
        &mut licenses,
        &license,
        10,
        now,
        "AGGREGATE_TPP_CAP_EXCEEDED",
    )
    .await;
    assert_eq!(
        refusal_metadata(&status, "domesticTpp").as_deref(),
        Some("0")
    );
    unchanged(&mut h, &mut licenses, &license, events).await;

    domestic(&mut licenses, &license, 400_000, now).await;
    events += 1;
    let license = license_of(&mut licenses, &app).await;

    let cases: Vec<(pb::RecordShipmentRequest, &str, Code, &str)> = vec![
        (
            pb::RecordShipmentRequest {
                attestations: vec![],
                ..shipment(&license, 10, now)
            },
            APPLICANT,
            Code::InvalidArgument,
            "ATTESTATION_REQUIRED",
        ),
        (
            pb::RecordShipmentRequest {
                item_index: 3,
                ..shipment(&license, 10, now)
            },
            APPLICANT,
            Code::InvalidArgument,
            "ITEM_NOT_ON_LICENSE",
        ),
        (
            shipment(&license, 0, now),
            APPLICANT,
            Code::InvalidArgument,
            "OUT_OF_RANGE",
        ),
        // An export declares its value, at no charge its market value.
        (
            pb::RecordShipmentRequest {
                value_usd_cents: 0,
                ..shipment(&license, 10, now)
            },
            APPLICANT,
            Code::InvalidArgument,
            "OUT_OF_RANGE",
        ),
        // The EEI filing's ITN, X and 14 digits: not a free text.
        (
            pb::RecordShipmentRequest {
                filing_reference: "EEI filed".into(),
                ..shipment(&license, 10, now)
            },
            APPLICANT,
            Code::InvalidArgument,
            "INVALID_FILING_REFERENCE",
        ),
        (
            pb::RecordShipmentRequest {
                filing_reference: "X2026120600000".into(),
                ..shipment(&license, 10, now)
            },
            APPLICANT,
            Code::InvalidArgument,
            "INVALID_FILING_REFERENCE",
        ),
        (
            pb::RecordShipmentRequest {
                value_usd_cents: 1,
                ..shipment(&license, 80_001, now)
            },
            APPLICANT,
            Code::FailedPrecondition,
            "QUANTITY_EXCEEDS_REMAINING",
        ),
        (
            pb::RecordShipmentRequest {
                value_usd_cents: 10 * 3_000_000 * 80_000,
                ..shipment(&license, 10, now)
            },
            APPLICANT,
            Code::FailedPrecondition,
            "VALUE_EXCEEDS_REMAINING",
        ),
        (
            pb::RecordShipmentRequest {
                export_time: Some(ts(now - days(1))),
                ..shipment(&license, 10, now)
            },
            APPLICANT,
            Code::FailedPrecondition,
            "OUTSIDE_VALIDITY",
        ),
        (
            shipment(&license, 75_001, now),
            APPLICANT,
            Code::FailedPrecondition,
            "END_USER_CAP_EXCEEDED",
        ),
        // A Timestamp's nanos stop at 999,999,999: chrono would take more
        // for a leap second and record a time the holder never sent.
        (
            pb::RecordShipmentRequest {
                export_time: Some(prost_types::Timestamp {
                    seconds: now.timestamp().div_euclid(60) * 60 - 1,
                    nanos: 1_500_000_000,
                }),
                ..shipment(&license, 10, now)
            },
            APPLICANT,
            Code::InvalidArgument,
            "INVALID_TIME",
        ),
        (
            pb::RecordShipmentRequest {
                export_time: Some(ts(now + days(1))),
                ..shipment(&license, 10, now)
            },
            APPLICANT,
            Code::FailedPrecondition,
            "DATED_IN_THE_FUTURE",
        ),
        (
            shipment(&license, 10, now),
            OTHER_APPLICANT,
            Code::PermissionDenied,
            "NOT_YOUR_LICENSE",
        ),
        (
            shipment(&license, 10, now),
            OFFICER,
            Code::PermissionDenied,
            "ROLE_NOT_PERMITTED",
        ),
        (
            shipment(&license, 10, now),
            AUDITOR,
            Code::PermissionDenied,
            "ROLE_NOT_PERMITTED",
        ),
    ];
    for (request, token, code, reason) in cases {
        expect_refusal(
            licenses.record_shipment(authed(request, token)).await,
            code,
            reason,
        );
        unchanged(&mut h, &mut licenses, &license, events).await;
    }

    // The holder's domestic reports have no cap, but their TPP total must
    // stay a 64-bit count: past it, SQLite would store the sum as a float
    // that no longer reads back, and every later shipment would fail.
    let tpp = license.items[0].tpp_per_unit;
    let half_of_the_range = (i64::MAX as u64 / tpp) / 2 + 1;
    let report = |quantity| {
        authed(
            domestic_shipment_request(&license.name, quantity, 1, ts(now)),
            APPLICANT,
        )
    };
    let out_of_range = |answer| {
        expect_refusal(answer, Code::InvalidArgument, "TOTAL_OUT_OF_RANGE");
    };
    out_of_range(
        licenses
            .record_domestic_shipment(report((1 << 53) - 1))
            .await,
    );
    licenses
        .record_domestic_shipment(report(half_of_the_range))
        .await
        .unwrap_or_else(|s| panic!("domestic shipment: {}", describe(&s)));
    events += 1;
    out_of_range(
        licenses
            .record_domestic_shipment(report(half_of_the_range))
            .await,
    );
    // Nor may a domestic shipment not yet made raise the cap ahead of time.
    let ahead = domestic_shipment_request(&license.name, 1_000_000, 1, ts(now + days(30)));
    expect_refusal(
        licenses
            .record_domestic_shipment(authed(ahead, APPLICANT))
            .await,
        Code::FailedPrecondition,
        "DATED_IN_THE_FUTURE",
    );
    // Nor may one invoice be counted twice: reported again under a new
    // request id (in another case), it is refused.
    let first = domestic_shipment_request(&license.name, 100, 1, ts(now));
    licenses
        .record_domestic_shipment(authed(first.clone(), APPLICANT))
        .await
        .unwrap_or_else(|s| panic!("domestic shipment: {}", describe(&s)));
    events += 1;
    let again = pb::RecordDomesticShipmentRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        reference: first.reference.to_lowercase(),
        ..first
    };
    expect_refusal(
        licenses
            .record_domestic_shipment(authed(again, APPLICANT))
            .await,
        Code::AlreadyExists,
        "DOMESTIC_SHIPMENT_ALREADY_REPORTED",
    );
    let license = license_of(&mut licenses, &app).await;
    unchanged(&mut h, &mut licenses, &license, events).await;

    // Two shipments go through and draw down.
    let first = exported(&mut licenses, &license, 1_000, now).await;
    let after = first.license.unwrap();
    assert_eq!(after.items[0].shipped_quantity, 1_000);
    assert_eq!(after.items[0].remaining_quantity, 79_000);
    assert_ne!(after.etag, license.etag);
    let first = first.shipment.unwrap();
    assert_eq!(first.quantity, 1_000);
    events += 1;

    // Nor is one export drawn twice: its filing reported again under a
    // new request id (a retry that lost its first answer) is refused.
    let again = pb::RecordShipmentRequest {
        filing_reference: first.filing_reference.clone(),
        ..shipment(&license, 1_000, now)
    };
    let status = expect_refusal(
        licenses.record_shipment(authed(again, APPLICANT)).await,
        Code::AlreadyExists,
        "EXPORT_ALREADY_REPORTED",
    );
    assert_eq!(
        refusal_metadata(&status, "filingReference").as_deref(),
        Some(first.filing_reference.as_str())
    );
    unchanged(&mut h, &mut licenses, &after, events).await;

    // Suspended: nothing ships; the holder may not reinstate; the officer does.
    let suspended = licenses
        .suspend_license(authed(
            pb::SuspendLicenseRequest {
                name: license.name.clone(),
                etag: after.etag.clone(),
                request_id: new_request_id(),
                reason: "lab certification under review".into(),
            },
            OFFICER,
        ))
        .await
        .unwrap_or_else(|s| panic!("suspend: {}", describe(&s)))
        .into_inner();
    assert_eq!(suspended.state, pb::LicenseState::Suspended as i32);
    let status = export_refused(&mut licenses, &license, 1, now, "LICENSE_NOT_ACTIVE").await;
    assert_eq!(
        refusal_metadata(&status, "state").as_deref(),
        Some("SUSPENDED")
    );
    let reinstate = |token: &str, etag: &str| {
        authed(
            pb::ReinstateLicenseRequest {
                name: license.name.clone(),
                etag: etag.to_owned(),
                request_id: new_request_id(),
                reason: "certification confirmed".into(),
            },
            token,
        )
    };
    expect_refusal(
        licenses.reinstate_license(reinstate(APPLICANT, "")).await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    expect_refusal(
        licenses
            .reinstate_license(reinstate(OFFICER, &after.etag))
            .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    h.clock.advance(days(2));
    licenses
        .reinstate_license(reinstate(OFFICER, &suspended.etag))
        .await
        .unwrap_or_else(|s| panic!("reinstate: {}", describe(&s)));
    // Reinstated, the licence still did not authorize what left while it
    // was suspended.
    let status = export_refused(
        &mut licenses,
        &license,
        1,
        now + days(1),
        "LICENSE_NOT_ACTIVE",
    )
    .await;
    assert!(refusal_metadata(&status, "suspendedUntil").is_some());
    // Revoked for good.
    let revoke = |reason: &str| {
        authed(
            pb::RevokeLicenseRequest {
                name: license.name.clone(),
                etag: String::new(),
                request_id: new_request_id(),
                reason: reason.into(),
            },
            OFFICER,
        )
    };
    expect_refusal(
        licenses.revoke_license(revoke(" ")).await,
        Code::InvalidArgument,
        "REASON_REQUIRED",
    );
    // A reason is free text, 4,000 bytes at most, as everywhere.
    expect_refusal(
        licenses.revoke_license(revoke(&"x".repeat(4_001))).await,
        Code::InvalidArgument,
        "FIELD_TOO_LONG",
    );
    let why = format!("diversion: {}", "x".repeat(3_000));
    let revoked = licenses
        .revoke_license(revoke(&why))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.state, pb::LicenseState::Revoked as i32);
    expect_refusal(
        licenses.reinstate_license(reinstate(OFFICER, "")).await,
        Code::FailedPrecondition,
        "LICENSE_REVOKED",
    );
    // Everything is in the application's chain, and the chain holds.
    let events = all_events(&mut h.client, &app.name).await;
    for (kind, count) in [
        ("DomesticShipmentRecorded", 3),
        ("ShipmentRecorded", 1),
        ("LicenseSuspended", 1),
        ("LicenseReinstated", 1),
        ("LicenseRevoked", 1),
    ] {
        assert_eq!(count_of(&events, kind), count, "{kind}");
    }
    assert!(verify_all(&mut h.client).await.intact);
    // The application itself did not move.
    assert_eq!(get(&mut h.client, &app.name).await.etag, app.etag);
}

pub(crate) async fn shipments_are_idempotent_and_listed(mut h: Harness) {
    let mut licenses = licenses(&h).await;
    let app = approved(&mut h.client, 100).await;
    let license = license_of(&mut licenses, &app).await;
    let now = h.clock.now();
    domestic(&mut licenses, &license, 1_000, now).await;
    // A watcher of the application sees the licence's events live.
    let history = all_events(&mut h.client, &app.name).await;
    let mut watching = h
        .client
        .watch_applications(authed(
            pb::WatchApplicationsRequest {
                after_sequence: history.last().unwrap().sequence,
                application: app.name.clone(),
            },
            AUDITOR,
        ))
        .await
        .expect("watch")
        .into_inner();
    let request = shipment(&license, 10, now);
    let first = licenses
        .record_shipment(authed(request.clone(), APPLICANT))
        .await
        .unwrap()
        .into_inner();
    let again = licenses
        .record_shipment(authed(request.clone(), APPLICANT))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.shipment, again.shipment);
    let live = next_event(&mut watching).await;
    assert_eq!(live.r#type, "ShipmentRecorded");
    match live.payload {
        Some(pb::application_event::Payload::ShipmentRecorded(recorded)) => {
            assert_eq!(recorded.shipment, first.shipment)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        first.license.as_ref().unwrap().items,
        again.license.as_ref().unwrap().items
    );
    expect_refusal(
        licenses
            .record_shipment(authed(
                pb::RecordShipmentRequest {
                    quantity: 11,
                    ..request
                },
                APPLICANT,
            ))
            .await,
        Code::InvalidArgument,
        "REQUEST_ID_REUSED",
    );
    let listed = licenses
        .list_shipments(authed(
            pb::ListShipmentsRequest {
                parent: license.name.clone(),
                ..Default::default()
            },
            APPLICANT,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.shipments.len(),
        2,
        "one export, one domestic shipment"
    );
    let exports = licenses
        .list_shipments(authed(
            pb::ListShipmentsRequest {
                parent: "licenses/-".into(),
                kind: pb::ShipmentKind::Export as i32,
                page_size: 1,
                ..Default::default()
            },
            AUDITOR,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(exports.shipments.len(), 1);
    assert_eq!(exports.shipments[0].quantity, 10);
    expect_refusal(
        licenses
            .list_shipments(authed(
                pb::ListShipmentsRequest {
                    parent: license.name.clone(),
                    ..Default::default()
                },
                OTHER_APPLICANT,
            ))
            .await,
        Code::PermissionDenied,
        "NOT_YOUR_LICENSE",
    );
    // The sweeper records the expiry.
    h.clock.advance(days(1461));
    let start = Instant::now();
    loop {
        let l = license_of(&mut licenses, &app).await;
        if l.state == pb::LicenseState::Expired as i32 {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "not expired: {l:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = all_events(&mut h.client, &app.name).await;
    assert_eq!(count_of(&events, "LicenseExpired"), 1);
    assert_eq!(
        count_of(&events, "ShipmentRecorded"),
        1,
        "the retry shipped once"
    );
}

/// 64 clients race for the 40 units left: exactly 40 ship, 24 are told
/// why not; then 16 race to report one domestic invoice: one is counted.
/// On PostgreSQL, through two review-svc processes on one database.
pub(crate) async fn racing_clients_ship_exactly_what_remains(mut h: Harness) {
    let second = match h.backend {
        Backend::Postgres => {
            Some(start_review(&h.db.url(), &h.classifier_url, None, &h.clock).await)
        }
        Backend::Sqlite => None,
    };
    let mut licenses_a = licenses(&h).await;
    let licenses_b = match &second {
        Some(server) => licenses_at(server.server.local_addr).await,
        None => licenses_a.clone(),
    };
    // Every other client goes through the second process, if any.
    let alternate = {
        let (a, b) = (licenses_a.clone(), licenses_b.clone());
        move |i: usize| {
            if i.is_multiple_of(2) {
                a.clone()
            } else {
                b.clone()
            }
        }
    };
    let app = approved(&mut h.client, 40).await;
    let license = license_of(&mut licenses_a, &app).await;
    let now = h.clock.now();
    domestic(&mut licenses_a, &license, 1_000, now).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let mut client = alternate(i);
        let request = shipment(&license, 1, now);
        tasks.push(tokio::spawn(async move {
            client.record_shipment(authed(request, APPLICANT)).await
        }));
    }
    let (mut shipped, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => shipped += 1,
            Err(status) => {
                let reason = status
                    .get_details_error_info()
                    .map(|i| i.reason)
                    .unwrap_or_default();
                assert!(
                    reason == "QUANTITY_EXCEEDS_REMAINING" || reason == "LICENSE_NOT_ACTIVE",
                    "{}",
                    describe(&status)
                );
                refused += 1;
            }
        }
    }
    assert_eq!((shipped, refused), (40, 24));
    let after = license_of(&mut licenses_a, &app).await;
    assert_eq!(after.items[0].shipped_quantity, 40);
    assert_eq!(after.state, pb::LicenseState::Exhausted as i32);
    let events = all_events(&mut h.client, &app.name).await;
    assert_eq!(count_of(&events, "ShipmentRecorded"), 40);
    assert_eq!(count_of(&events, "LicenseExhausted"), 1);

    // Racing reports of one invoice, on two licences of the product and
    // through both processes, count it once.
    let other = approved(&mut h.client, 40).await;
    let other = license_of(&mut licenses_a, &other).await;
    let invoice = domestic_shipment_request(&license.name, 10, 1, ts(now));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let mut client = alternate(i);
        let on = if i % 4 < 2 { &license } else { &other };
        let request = pb::RecordDomesticShipmentRequest {
            license: on.name.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..invoice.clone()
        };
        tasks.push(tokio::spawn(async move {
            client
                .record_domestic_shipment(authed(request, APPLICANT))
                .await
        }));
    }
    assert_eq!(
        answered(tasks, "DOMESTIC_SHIPMENT_ALREADY_REPORTED").await,
        1
    );

    // Racing reports of one export (its filing, under new request ids),
    // through both processes, draw it once.
    let export = shipment(&other, 1, now);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let mut client = alternate(i);
        let request = pb::RecordShipmentRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            ..export.clone()
        };
        tasks.push(tokio::spawn(async move {
            client.record_shipment(authed(request, APPLICANT)).await
        }));
    }
    assert_eq!(answered(tasks, "EXPORT_ALREADY_REPORTED").await, 1);
    let drawn = license_of(
        &mut licenses_a,
        &get(&mut h.client, &other.application).await,
    )
    .await;
    assert_eq!(drawn.items[0].shipped_quantity, 1);
    assert!(verify_all(&mut h.client).await.intact);
    if let Some(second) = second {
        second.shutdown().await.expect("graceful shutdown");
    }
}

/// How many of `tasks` answered; every other was refused for `reason`.
async fn answered<T: Send + 'static>(
    tasks: Vec<tokio::task::JoinHandle<Result<T, Status>>>,
    reason: &str,
) -> usize {
    let mut answered = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => answered += 1,
            Err(status) => assert_eq!(
                status
                    .get_details_error_info()
                    .map(|i| i.reason)
                    .unwrap_or_default(),
                reason,
                "{}",
                describe(&status)
            ),
        }
    }
    answered
}

/// A list's filters are validated like every stored text: a NUL, which
/// PostgreSQL refuses in a query, answered INTERNAL there before.
pub(crate) async fn list_filters_are_validated(mut h: Harness) {
    let mut licenses = licenses(&h).await;
    let app = approved(&mut h.client, 100).await;
    let license = license_of(&mut licenses, &app).await;
    let filtered = |edit: fn(&mut pb::ListLicensesRequest)| {
        let mut request = pb::ListLicensesRequest::default();
        edit(&mut request);
        authed(request, AUDITOR)
    };
    let refused = |status: Status, field: &str| {
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{}",
            describe(&status)
        );
        let violations = status.get_details_bad_request().expect("BadRequest");
        assert_eq!(violations.field_violations[0].field, field);
    };
    for (edit, field) in [
        (
            (|r: &mut pb::ListLicensesRequest| r.end_user = "Example\0".into())
                as fn(&mut pb::ListLicensesRequest),
            "end_user",
        ),
        (|r| r.holder = "exporter-1\0".into(), "holder"),
        (|r| r.holder = "x".repeat(10_000), "holder"),
        (
            |r| r.destination_country = "C\0".into(),
            "destination_country",
        ),
        (
            |r| r.destination_country = " CN".into(),
            "destination_country",
        ),
    ] {
        refused(
            licenses.list_licenses(filtered(edit)).await.unwrap_err(),
            field,
        );
    }
    let shipments = pb::ListShipmentsRequest {
        parent: "licenses/-".into(),
        holder: "exporter-1\0".into(),
        ..Default::default()
    };
    let status = licenses
        .list_shipments(authed(shipments, AUDITOR))
        .await
        .unwrap_err();
    refused(status, "holder");
    // A range that ends where it starts, or before, is refused, not empty.
    let start = ts(h.clock.now());
    for end in [start, ts(h.clock.now() - days(1))] {
        let shipments = pb::ListShipmentsRequest {
            parent: "licenses/-".into(),
            start_time: Some(start),
            end_time: Some(end),
            ..Default::default()
        };
        let status = licenses
            .list_shipments(authed(shipments, AUDITOR))
            .await
            .unwrap_err();
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "INVALID_TIME_RANGE", "{}", describe(&status));
        refused(status, "end_time");
    }
    let applications = pb::ListApplicationsRequest {
        destination_country: "C\0".into(),
        ..Default::default()
    };
    let status = h
        .client
        .list_applications(authed(applications, AUDITOR))
        .await
        .unwrap_err();
    refused(status, "destination_country");

    // Valid filters, the country in any case and the end user under any
    // spelling of its name (as its cap counts it), find the licence.
    let found = licenses
        .list_licenses(filtered(|r| {
            r.destination_country = "cn".into();
            r.holder = "exporter-1".into();
            r.end_user = "EXAMPLE CLOUD, Co., Ltd.".into();
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.licenses.len(), 1);
    assert_eq!(found.licenses[0].name, license.name);
    assert_eq!(found.licenses[0].end_user, "Example Cloud Co.", "as filed");
    let other = licenses
        .list_licenses(filtered(|r| r.end_user = "Example Compute Co.".into()))
        .await
        .unwrap()
        .into_inner();
    assert!(other.licenses.is_empty(), "{other:#?}");
}

/// The aggregate-TPP cap holds at the export: an export reported late is
/// checked against the domestic shipments made by its date, not those
/// the holder made (and reported) after it.
pub(crate) async fn a_late_export_counts_the_domestic_shipments_made_by_its_date(mut h: Harness) {
    let mut licenses = licenses(&h).await;
    let app = approved(&mut h.client, 1_000).await;
    let license = license_of(&mut licenses, &app).await;
    let issued = h.clock.now();
    h.clock.advance(days(2));
    let (exported_on, now) = (issued + days(1), h.clock.now());
    // 10 H200s at home by the export's day, 1,000 more since.
    domestic(&mut licenses, &license, 10, exported_on).await;
    domestic(&mut licenses, &license, 1_000, now).await;
    let status = export_refused(
        &mut licenses,
        &license,
        6,
        exported_on,
        "AGGREGATE_TPP_CAP_EXCEEDED",
    )
    .await;
    assert_eq!(
        refusal_metadata(&status, "domesticTpp").as_deref(),
        Some("158310"),
        "the 10 H200s shipped by the export date: {status:?}"
    );
    assert!(refusal_metadata(&status, "domesticShippedBefore").is_some());
    // Half of that is five; the same request again ships once.
    let five = shipment(&license, 5, exported_on);
    for _ in 0..2 {
        let shipped = licenses
            .record_shipment(authed(five.clone(), APPLICANT))
            .await
            .unwrap_or_else(|s| panic!("five: {}", describe(&s)))
            .into_inner();
        assert_eq!(shipped.license.unwrap().items[0].shipped_quantity, 5);
    }
    // Exported today, every domestic shipment counts: 505 of 1,010.
    exported(&mut licenses, &license, 500, now).await;
    let status = export_refused(
        &mut licenses,
        &license,
        1,
        now,
        "AGGREGATE_TPP_CAP_EXCEEDED",
    )
    .await;
    assert_eq!(refusal_metadata(&status, "domesticShippedBefore"), None);
}

/// Runs `statements` on the harness's database directly, as an operator
/// (or an earlier release) could have left it.
async fn run_sql(h: &Harness, statements: &[&str]) {
    use sqlx::Connection;
    let url = h.db.url();
    for sql in statements {
        if url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
        } else {
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("open");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
        }
    }
}

/// When the end user's key learns a spelling (the key's version is
/// raised), review-svc moves a licence stored under its old key to the
/// new one as it starts, and the units counted toward the cap with it:
/// the customer's 75,000 does not start again from nothing.
pub(crate) async fn a_licence_stored_under_an_old_key_keeps_its_count(mut h: Harness) {
    let mut licenses = licenses(&h).await;
    let mut filing = h200_to("CN", 80_000);
    let application = filing.application.as_mut().unwrap();
    application.transaction.as_mut().unwrap().end_user_name = "Example Cloud Co.,Ltd".into();
    let app = approved_filing(&mut h.client, filing).await;
    let license = license_of(&mut licenses, &app).await;
    let now = h.clock.now();
    domestic(&mut licenses, &license, 400_000, now).await;
    exported(&mut licenses, &license, 70_000, now).await;
    // As an earlier key would have left it: the row and the count under
    // another key, and no walk of this key's version yet.
    h.stop_review().await;
    let id = license.name.trim_start_matches("licenses/");
    let stale = format!("UPDATE licenses SET end_user = 'stalekey' WHERE id = '{id}'");
    run_sql(
        &h,
        &[
            &stale,
            "UPDATE license_counters SET counter = 'end-user-cap|stalekey' \
             WHERE counter LIKE 'end-user-cap|%'",
            "DELETE FROM license_counters WHERE counter LIKE 'end-user-keys|%'",
        ],
    )
    .await;
    h.start_review_again().await;
    let mut licenses = licenses_at(h.review.as_ref().unwrap().server.local_addr).await;
    export_refused(&mut licenses, &license, 5_001, now, "END_USER_CAP_EXCEEDED").await;
    exported(&mut licenses, &license, 5_000, now).await;
    let found = licenses
        .list_licenses(authed(
            pb::ListLicensesRequest {
                end_user: "EXAMPLE CLOUD CO., LTD.".into(),
                ..Default::default()
            },
            AUDITOR,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.licenses.len(), 1, "{found:#?}");
}

on_both_backends!(
    licence_issued_on_approval,
    a_board_counts_its_chips_toward_the_caps,
    the_cap_follows_a_chinese_customer_abroad,
    a_late_export_counts_the_domestic_shipments_made_by_its_date,
    a_licence_stored_under_an_old_key_keeps_its_count,
    no_licence_without_a_final_approval,
    every_refusal_says_why_and_writes_nothing,
    shipments_are_idempotent_and_listed,
    racing_clients_ship_exactly_what_remains,
    list_filters_are_validated,
);
