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

    let rows: Vec<(&str, Call, &str)> = vec![
        (
            "no application",
            Call::create(pb::CreateApplicationRequest {
                application: None,
                request_id: String::new(),
            }),
            "application",
        ),
        (
            "no items",
            Call::create(filing_with(|a| a.items.clear())),
            "application.items",
        ),
        (
            "too many items",
            Call::create(filing_with(|a| {
                a.items = vec![catalog_item("H200", 1); 101]
            })),
            "application.items",
        ),
        (
            "item without chip",
            Call::create(filing_with(|a| a.items[0].item = None)),
            "application.items[0].item",
        ),
        (
            "quantity 0",
            Call::create(filing_with(|a| a.items[0].quantity = 0)),
            "application.items[0].quantity",
        ),
        (
            "huge quantity",
            Call::create(filing_with(|a| a.items[0].quantity = u64::MAX)),
            "application.items[0].quantity",
        ),
        (
            "empty catalogue name",
            Call::create(filing_with(|a| {
                a.items[0].item = Some(pb::line_item::Item::CatalogChip(String::new()))
            })),
            "application.items[0].catalog_chip",
        ),
        (
            "unit value 0",
            Call::create(filing_with(|a| a.items[0].unit_value_usd_cents = 0)),
            "application.items[0].unit_value_usd_cents",
        ),
        (
            "unit value 2^64-1",
            Call::create(filing_with(|a| a.items[0].unit_value_usd_cents = u64::MAX)),
            "application.items[0].unit_value_usd_cents",
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
        ),
        (
            "catalogue name with a path",
            Call::create(filing_with(|a| {
                a.items[0].item = Some(pb::line_item::Item::CatalogChip("chips/../h200".into()))
            })),
            "application.items[0].catalog_chip",
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
        ),
        (
            "no transaction",
            Call::create(filing_with(|a| a.transaction = None)),
            "application.transaction",
        ),
        (
            "no route",
            Call::create(transaction(|t| t.route = None)),
            "application.transaction.route",
        ),
        (
            "end user name over 200",
            Call::create(transaction(|t| t.end_user_name = "x".repeat(201))),
            "application.transaction.end_user_name",
        ),
        (
            "end user name with a bidi override",
            Call::create(transaction(|t| {
                t.end_user_name = "Example \u{202E}oC duolC".into()
            })),
            "application.transaction.end_user_name",
        ),
        (
            "end user name with a control character",
            Call::create(transaction(|t| {
                t.end_user_name = "Example\u{0}Cloud".into()
            })),
            "application.transaction.end_user_name",
        ),
        (
            "end user name with surrounding blanks",
            Call::create(transaction(|t| {
                t.end_user_name = " Example Cloud Co. ".into()
            })),
            "application.transaction.end_user_name",
        ),
        (
            "end use statement with an isolate",
            Call::create(transaction(|t| {
                t.end_use_statement = "inference \u{2066}only".into()
            })),
            "application.transaction.end_use_statement",
        ),
        (
            "blank end use statement",
            Call::create(transaction(|t| t.end_use_statement = "  ".into())),
            "application.transaction.end_use_statement",
        ),
        (
            "three-letter destination",
            Call::create(transaction(|t| {
                t.route.as_mut().unwrap().destination_country = "CHN".into()
            })),
            "application.transaction.route.destination_country",
        ),
        (
            "unknown export type",
            Call::create(transaction(|t| t.route.as_mut().unwrap().export_type = 99)),
            "application.transaction.route.export_type",
        ),
        (
            "request id not a UUID",
            Call::create(pb::CreateApplicationRequest {
                request_id: "retry-1".into(),
                ..h200_to("CN", 1)
            }),
            "request_id",
        ),
        (
            "unknown agency",
            Call::Recommend(pb::RecordRecommendationRequest {
                agency: 99,
                ..recommendation()
            }),
            "agency",
        ),
        (
            "unknown recommendation",
            Call::Recommend(pb::RecordRecommendationRequest {
                recommendation: 99,
                ..recommendation()
            }),
            "recommendation",
        ),
        (
            "rationale over 4000",
            Call::Recommend(pb::RecordRecommendationRequest {
                rationale: long(4_001),
                ..recommendation()
            }),
            "rationale",
        ),
        (
            "rationale with a bidi override",
            Call::Recommend(pb::RecordRecommendationRequest {
                rationale: "approve \u{202E}ynned".into(),
                ..recommendation()
            }),
            "rationale",
        ),
        (
            "empty etag",
            Call::Recommend(pb::RecordRecommendationRequest {
                etag: String::new(),
                ..recommendation()
            }),
            "etag",
        ),
        (
            "transition request id not a UUID",
            Call::Recommend(pb::RecordRecommendationRequest {
                request_id: "again".into(),
                ..recommendation()
            }),
            "request_id",
        ),
        (
            "empty name",
            Call::Recommend(pb::RecordRecommendationRequest {
                name: String::new(),
                ..recommendation()
            }),
            "name",
        ),
        (
            "unknown outcome",
            Call::Decide(pb::DecideApplicationRequest {
                outcome: 99,
                ..decision()
            }),
            "outcome",
        ),
        (
            "malformed etag",
            Call::Decide(pb::DecideApplicationRequest {
                etag: "latest".into(),
                ..decision()
            }),
            "etag",
        ),
        (
            "too many conditions",
            Call::Decide(pb::DecideApplicationRequest {
                conditions: vec!["c".into(); 51],
                ..decision()
            }),
            "conditions",
        ),
        (
            "conditions over 16 KiB in all",
            Call::Decide(pb::DecideApplicationRequest {
                outcome: pb::Outcome::ApproveWithConditions as i32,
                conditions: vec!["c".repeat(4_000); 5],
                ..decision()
            }),
            "conditions",
        ),
        (
            "appeal for an unknown agency",
            Call::Appeal(pb::AppealApplicationRequest {
                agency: 99,
                ..appeal_request(&app, pb::Agency::State)
            }),
            "agency",
        ),
        (
            "withdrawal reason over 4000",
            Call::Withdraw(pb::WithdrawApplicationRequest {
                reason: long(4_001),
                ..withdraw_request(&app)
            }),
            "reason",
        ),
        (
            "name without id",
            Call::Get(pb::GetApplicationRequest {
                name: "applications/".into(),
            }),
            "name",
        ),
        (
            "foreign collection",
            Call::Get(pb::GetApplicationRequest {
                name: "foo/1".into(),
            }),
            "name",
        ),
        (
            "id of 200 characters",
            Call::Get(pb::GetApplicationRequest {
                name: format!("applications/{}", long(200)),
            }),
            "name",
        ),
        (
            "id with a slash",
            Call::Get(pb::GetApplicationRequest {
                name: format!("{}/x", app.name),
            }),
            "name",
        ),
        (
            "unknown state filter",
            Call::List(pb::ListApplicationsRequest {
                state: 99,
                ..Default::default()
            }),
            "state",
        ),
        (
            "unknown level filter",
            Call::List(pb::ListApplicationsRequest {
                level: 99,
                ..Default::default()
            }),
            "level",
        ),
        (
            "unknown agency filter",
            Call::List(pb::ListApplicationsRequest {
                awaiting_agency: 99,
                ..Default::default()
            }),
            "awaiting_agency",
        ),
        (
            "negative page size",
            Call::List(pb::ListApplicationsRequest {
                page_size: -1,
                ..Default::default()
            }),
            "page_size",
        ),
        (
            "bad destination filter",
            Call::List(pb::ListApplicationsRequest {
                destination_country: "C1".into(),
                ..Default::default()
            }),
            "destination_country",
        ),
        (
            "negative events page size",
            Call::Events(pb::ListApplicationEventsRequest {
                parent: app.name.clone(),
                page_size: -7,
                page_token: String::new(),
            }),
            "page_size",
        ),
        (
            "bad events parent",
            Call::Events(pb::ListApplicationEventsRequest {
                parent: "applications".into(),
                ..Default::default()
            }),
            "parent",
        ),
        (
            "negative watch sequence",
            Call::Watch(pb::WatchApplicationsRequest {
                after_sequence: -1,
                application: String::new(),
            }),
            "after_sequence",
        ),
        (
            "bad watch filter",
            Call::Watch(pb::WatchApplicationsRequest {
                after_sequence: 0,
                application: "foo/1".into(),
            }),
            "application",
        ),
        (
            "bad verify name",
            Call::Verify(pb::VerifyAuditTrailRequest {
                name: "applications/../x".into(),
                ..Default::default()
            }),
            "name",
        ),
    ];
    assert!(rows.len() >= 25);
    let mut failures = Vec::new();
    for (label, call, field) in rows {
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
                let fields = violation_fields(status);
                let fine = status.code() == Code::InvalidArgument
                    && info
                        .as_ref()
                        .is_some_and(|i| i.reason == "INVALID_FIELD" && i.domain == DOMAIN)
                    && fields == [field];
                (!fine).then(|| describe(status))
            }
        };
        if let Some(problem) = problem {
            failures.push(format!(
                "{label}: expected INVALID_ARGUMENT on {field:?}, got {problem}"
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
            "INVALID_FIELD",
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
}
