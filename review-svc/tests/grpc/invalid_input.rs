use super::*;

// ---------------------------------------------------------------------------
// 10. Invalid input
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_names_the_field_and_writes_nothing() {
    let mut h = spawn().await;
    let app = filed(&mut h.client).await;
    let events_before = all_events(&mut h.client, "applications/-").await;
    let recommendation =
        || recommendation_request(&app, pb::Agency::Commerce, pb::Recommendation::Approve);
    let decision = || decision_request(&app, pb::Outcome::Approve);
    let long = |n: usize| "x".repeat(n);
    let transaction = |edit: fn(&mut pb::ExportTransaction)| {
        filing_with(move |a| edit(a.transaction.as_mut().expect("a transaction")))
    };

    let rows: Vec<(&str, Call, &str, &str)> = vec![
        (
            "no application",
            Call::create(pb::CreateApplicationRequest {
                application: None,
                request_id: String::new(),
            }),
            "application",
            "MISSING_FIELD",
        ),
        (
            "no items",
            Call::create(filing_with(|a| a.items.clear())),
            "application.items",
            "MISSING_FIELD",
        ),
        (
            "too many items",
            Call::create(filing_with(|a| {
                a.items = vec![catalog_item("H200", 1); 101]
            })),
            "application.items",
            "TOO_MANY_ENTRIES",
        ),
        (
            "item without chip",
            Call::create(filing_with(|a| a.items[0].item = None)),
            "application.items[0].item",
            "MISSING_FIELD",
        ),
        (
            "quantity 0",
            Call::create(filing_with(|a| a.items[0].quantity = 0)),
            "application.items[0].quantity",
            "OUT_OF_RANGE",
        ),
        (
            "huge quantity",
            Call::create(filing_with(|a| a.items[0].quantity = u64::MAX)),
            "application.items[0].quantity",
            "OUT_OF_RANGE",
        ),
        (
            "empty catalogue name",
            Call::create(filing_with(|a| {
                a.items[0].item = Some(pb::line_item::Item::CatalogChip(String::new()))
            })),
            "application.items[0].catalog_chip",
            "MISSING_FIELD",
        ),
        (
            "unit value 0",
            Call::create(filing_with(|a| a.items[0].unit_value_usd_cents = 0)),
            "application.items[0].unit_value_usd_cents",
            "OUT_OF_RANGE",
        ),
        (
            "unit value 2^64-1",
            Call::create(filing_with(|a| a.items[0].unit_value_usd_cents = u64::MAX)),
            "application.items[0].unit_value_usd_cents",
            "OUT_OF_RANGE",
        ),
        (
            "total value above 2^53 cents",
            Call::create(filing_with(|a| {
                a.items = vec![
                    pb::LineItem {
                        quantity: 1_000_000_000,
                        unit_value_usd_cents: 100_000_000_000,
                        ..catalog_item("H200", 1)
                    };
                    2
                ]
            })),
            "application.items",
            "OUT_OF_RANGE",
        ),
        (
            "catalogue name with a path",
            Call::create(filing_with(|a| {
                a.items[0].item = Some(pb::line_item::Item::CatalogChip("chips/../h200".into()))
            })),
            "application.items[0].catalog_chip",
            "INVALID_CHIP_NAME",
        ),
        (
            "spec name with a bidi override",
            Call::create(filing_with(|a| {
                a.items[0].item = Some(pb::line_item::Item::Spec(cpb::ChipSpec {
                    name: "H2\u{202E}00".into(),
                    ..Default::default()
                }))
            })),
            "application.items[0].spec.name",
            "FORBIDDEN_CHARACTERS",
        ),
        (
            "no transaction",
            Call::create(filing_with(|a| a.transaction = None)),
            "application.transaction",
            "MISSING_FIELD",
        ),
        (
            "no route",
            Call::create(transaction(|t| t.route = None)),
            "application.transaction.route",
            "MISSING_FIELD",
        ),
        (
            "end user name over 200",
            Call::create(transaction(|t| t.end_user_name = "x".repeat(201))),
            "application.transaction.end_user_name",
            "FIELD_TOO_LONG",
        ),
        (
            "end user name with a bidi override",
            Call::create(transaction(|t| {
                t.end_user_name = "Example \u{202E}oC duolC".into()
            })),
            "application.transaction.end_user_name",
            "FORBIDDEN_CHARACTERS",
        ),
        (
            "end user name with a control character",
            Call::create(transaction(|t| {
                t.end_user_name = "Example\u{0}Cloud".into()
            })),
            "application.transaction.end_user_name",
            "FORBIDDEN_CHARACTERS",
        ),
        (
            "end user name with surrounding blanks",
            Call::create(transaction(|t| {
                t.end_user_name = " Example Cloud Co. ".into()
            })),
            "application.transaction.end_user_name",
            "SURROUNDING_WHITE_SPACE",
        ),
        (
            "end use statement with an isolate",
            Call::create(transaction(|t| {
                t.end_use_statement = "inference \u{2066}only".into()
            })),
            "application.transaction.end_use_statement",
            "FORBIDDEN_CHARACTERS",
        ),
        (
            "blank end use statement",
            Call::create(transaction(|t| t.end_use_statement = "  ".into())),
            "application.transaction.end_use_statement",
            "MISSING_FIELD",
        ),
        (
            "three-letter destination",
            Call::create(transaction(|t| {
                t.route.as_mut().unwrap().destination_country = "CHN".into()
            })),
            "application.transaction.route.destination_country",
            "INVALID_COUNTRY_CODE",
        ),
        (
            "another end user in the route",
            Call::create(transaction(|t| {
                t.route.as_mut().unwrap().end_user_name = "G42".into()
            })),
            "application.transaction.route.end_user_name",
            "CONFLICTING_END_USER",
        ),
        (
            "a control character in the route's end user",
            Call::create(transaction(|t| {
                t.route.as_mut().unwrap().end_user_name = "Example\u{7}Cloud".into()
            })),
            "application.transaction.route.end_user_name",
            "FORBIDDEN_CHARACTERS",
        ),
        (
            "unknown end user kind",
            Call::create(transaction(|t| {
                t.route.as_mut().unwrap().end_user_kind = 99
            })),
            "application.transaction.route.end_user_kind",
            "UNKNOWN_ENUM_VALUE",
        ),
        (
            "unknown export type",
            Call::create(transaction(|t| t.route.as_mut().unwrap().export_type = 99)),
            "application.transaction.route.export_type",
            "UNKNOWN_ENUM_VALUE",
        ),
        (
            "request id not a UUID",
            Call::create(pb::CreateApplicationRequest {
                request_id: "retry-1".into(),
                ..h200_to("CN", 1)
            }),
            "request_id",
            "INVALID_REQUEST_ID",
        ),
        (
            "unknown agency",
            Call::Recommend(pb::RecordRecommendationRequest {
                agency: 99,
                ..recommendation()
            }),
            "agency",
            "UNKNOWN_ENUM_VALUE",
        ),
        (
            "unknown recommendation",
            Call::Recommend(pb::RecordRecommendationRequest {
                recommendation: 99,
                ..recommendation()
            }),
            "recommendation",
            "UNKNOWN_ENUM_VALUE",
        ),
        (
            "rationale over 4000",
            Call::Recommend(pb::RecordRecommendationRequest {
                rationale: long(4_001),
                ..recommendation()
            }),
            "rationale",
            "FIELD_TOO_LONG",
        ),
        (
            "rationale with a bidi override",
            Call::Recommend(pb::RecordRecommendationRequest {
                rationale: "approve \u{202E}ynned".into(),
                ..recommendation()
            }),
            "rationale",
            "FORBIDDEN_CHARACTERS",
        ),
        (
            "empty etag",
            Call::Recommend(pb::RecordRecommendationRequest {
                etag: String::new(),
                ..recommendation()
            }),
            "etag",
            "MISSING_FIELD",
        ),
        (
            "transition request id not a UUID",
            Call::Recommend(pb::RecordRecommendationRequest {
                request_id: "again".into(),
                ..recommendation()
            }),
            "request_id",
            "INVALID_REQUEST_ID",
        ),
        (
            "empty name",
            Call::Recommend(pb::RecordRecommendationRequest {
                name: String::new(),
                ..recommendation()
            }),
            "name",
            "INVALID_RESOURCE_NAME",
        ),
        (
            "unknown outcome",
            Call::Decide(pb::DecideApplicationRequest {
                outcome: 99,
                ..decision()
            }),
            "outcome",
            "UNKNOWN_ENUM_VALUE",
        ),
        (
            "malformed etag",
            Call::Decide(pb::DecideApplicationRequest {
                etag: "latest".into(),
                ..decision()
            }),
            "etag",
            "INVALID_ETAG",
        ),
        (
            "too many conditions",
            Call::Decide(pb::DecideApplicationRequest {
                conditions: vec!["c".into(); 51],
                ..decision()
            }),
            "conditions",
            "TOO_MANY_ENTRIES",
        ),
        (
            "conditions over 16 KiB in all",
            Call::Decide(pb::DecideApplicationRequest {
                outcome: pb::Outcome::ApproveWithConditions as i32,
                conditions: vec!["c".repeat(4_000); 5],
                ..decision()
            }),
            "conditions",
            "FIELD_TOO_LONG",
        ),
        (
            "appeal for an unknown agency",
            Call::Appeal(pb::AppealApplicationRequest {
                agency: 99,
                ..appeal_request(&app, pb::Agency::State)
            }),
            "agency",
            "UNKNOWN_ENUM_VALUE",
        ),
        (
            "withdrawal reason over 4000",
            Call::Withdraw(pb::WithdrawApplicationRequest {
                reason: long(4_001),
                ..withdraw_request(&app)
            }),
            "reason",
            "FIELD_TOO_LONG",
        ),
        (
            "name without id",
            Call::Get(pb::GetApplicationRequest {
                name: "applications/".into(),
            }),
            "name",
            "INVALID_RESOURCE_NAME",
        ),
        (
            "foreign collection",
            Call::Get(pb::GetApplicationRequest {
                name: "foo/1".into(),
            }),
            "name",
            "INVALID_RESOURCE_NAME",
        ),
        (
            "id of 200 characters",
            Call::Get(pb::GetApplicationRequest {
                name: format!("applications/{}", long(200)),
            }),
            "name",
            "INVALID_RESOURCE_NAME",
        ),
        (
            "id with a slash",
            Call::Get(pb::GetApplicationRequest {
                name: format!("{}/x", app.name),
            }),
            "name",
            "INVALID_RESOURCE_NAME",
        ),
        (
            "unknown state filter",
            Call::List(pb::ListApplicationsRequest {
                state: 99,
                ..Default::default()
            }),
            "state",
            "UNKNOWN_ENUM_VALUE",
        ),
        (
            "unknown level filter",
            Call::List(pb::ListApplicationsRequest {
                level: 99,
                ..Default::default()
            }),
            "level",
            "UNKNOWN_ENUM_VALUE",
        ),
        (
            "unknown agency filter",
            Call::List(pb::ListApplicationsRequest {
                awaiting_agency: 99,
                ..Default::default()
            }),
            "awaiting_agency",
            "UNKNOWN_ENUM_VALUE",
        ),
        (
            "negative page size",
            Call::List(pb::ListApplicationsRequest {
                page_size: -1,
                ..Default::default()
            }),
            "page_size",
            "OUT_OF_RANGE",
        ),
        (
            "bad destination filter",
            Call::List(pb::ListApplicationsRequest {
                destination_country: "C1".into(),
                ..Default::default()
            }),
            "destination_country",
            "INVALID_COUNTRY_CODE",
        ),
        (
            "negative events page size",
            Call::Events(pb::ListApplicationEventsRequest {
                parent: app.name.clone(),
                page_size: -7,
                page_token: String::new(),
            }),
            "page_size",
            "OUT_OF_RANGE",
        ),
        (
            "bad events parent",
            Call::Events(pb::ListApplicationEventsRequest {
                parent: "applications".into(),
                ..Default::default()
            }),
            "parent",
            "INVALID_RESOURCE_NAME",
        ),
        (
            "negative watch sequence",
            Call::Watch(pb::WatchApplicationsRequest {
                after_sequence: -1,
                application: String::new(),
            }),
            "after_sequence",
            "OUT_OF_RANGE",
        ),
        (
            "bad watch filter",
            Call::Watch(pb::WatchApplicationsRequest {
                after_sequence: 0,
                application: "foo/1".into(),
            }),
            "application",
            "INVALID_RESOURCE_NAME",
        ),
        (
            "bad verify name",
            Call::Verify(pb::VerifyAuditTrailRequest {
                name: "applications/../x".into(),
                ..Default::default()
            }),
            "name",
            "INVALID_RESOURCE_NAME",
        ),
    ];
    assert!(rows.len() >= 25);
    let mut failures = Vec::new();
    for (label, call, field, reason) in rows {
        // Applicants file and withdraw; the auditor reads; each transition by the role that makes it.
        let token = match &call {
            Call::Create(_) | Call::Withdraw(_) => APPLICANT,
            Call::Recommend(_) => "dev-commerce",
            Call::Decide(_) => OFFICER,
            Call::Appeal(_) => "dev-acep-state",
            _ => AUDITOR,
        };
        let result = invoke(&mut h.client, Some(&format!("Bearer {token}")), call).await;
        let problem = match &result {
            Ok(()) => Some("succeeded".to_owned()),
            Err(status) => {
                let info = status.get_details_error_info();
                // The field violation carries the reason too (AIP-193).
                let violations = violation_reasons(status);
                let fine = status.code() == Code::InvalidArgument
                    && info
                        .as_ref()
                        .is_some_and(|i| i.reason == reason && i.domain == DOMAIN)
                    && violations == [(field.to_owned(), reason.to_owned())];
                (!fine).then(|| describe(status))
            }
        };
        if let Some(problem) = problem {
            failures.push(format!(
                "{label}: expected INVALID_ARGUMENT, {reason}, on {field:?}, got {problem}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // What only the workflow can judge: refused with its own reasons, by field.
    let meaning: Vec<(&str, Call, &str, &str)> = vec![
        (
            "blank rationale",
            Call::Recommend(pb::RecordRecommendationRequest {
                rationale: "   ".into(),
                ..recommendation()
            }),
            "RATIONALE_REQUIRED",
            "rationale",
        ),
        (
            "conditions missing",
            Call::Recommend(pb::RecordRecommendationRequest {
                recommendation: pb::Recommendation::ApproveWithConditions as i32,
                conditions: Vec::new(),
                ..recommendation()
            }),
            "CONDITIONS_REQUIRED",
            "conditions",
        ),
        (
            "deemed no objection by hand",
            Call::Recommend(pb::RecordRecommendationRequest {
                recommendation: pb::Recommendation::DeemedNoObjection as i32,
                ..recommendation()
            }),
            "INVALID_FIELD",
            "recommendation",
        ),
        (
            "conditions with a plain approval",
            Call::Recommend(pb::RecordRecommendationRequest {
                conditions: vec!["a condition".into()],
                ..recommendation()
            }),
            "INVALID_FIELD",
            "recommendation",
        ),
        (
            "unspecified recommendation",
            Call::Recommend(pb::RecordRecommendationRequest {
                recommendation: 0,
                ..recommendation()
            }),
            "MISSING_FIELD",
            "recommendation",
        ),
    ];
    for (label, call, reason, field) in meaning {
        let result = invoke(&mut h.client, Some("Bearer dev-commerce"), call).await;
        let problem = match &result {
            Ok(()) => Some("succeeded".to_owned()),
            Err(status) => {
                let info = status.get_details_error_info();
                let fine = status.code() == Code::InvalidArgument
                    && info
                        .as_ref()
                        .is_some_and(|i| i.reason == reason && i.domain == DOMAIN)
                    && violation_fields(status) == [field];
                (!fine).then(|| describe(status))
            }
        };
        if let Some(problem) = problem {
            failures.push(format!(
                "{label}: expected {reason} on {field:?}, got {problem}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let listed = list_all(&mut h.client, AUDITOR, Default::default()).await;
    assert_eq!(listed, vec![app.clone()], "nothing was written");
    assert_eq!(
        all_events(&mut h.client, "applications/-").await,
        events_before
    );

    // The route may name the transaction's end user again, under any
    // spelling of it: the application keeps the transaction's.
    let again = create(
        &mut h.client,
        APPLICANT,
        transaction(|t| t.route.as_mut().unwrap().end_user_name = "EXAMPLE CLOUD CO.,LTD".into()),
    )
    .await;
    let named = again.transaction.expect("a transaction");
    assert_eq!(named.end_user_name, "Example Cloud Co.");
}
