//! Size and time limits: what is stored can always be served, pages are
//! bounded by their encoded size, and a request with no time left writes
//! nothing.

use prost::Message;

use super::*;
use test_support::filings::assembly;
use test_support::paging::{one_page, pages};

/// The server's encode limit in these tests (the default).
const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// A client that can read answers as large as the server may send.
async fn big_client(h: &Harness) -> Client {
    connect(h.review.as_ref().expect("running").server.local_addr)
        .await
        .max_decoding_message_size(2 * MAX_MESSAGE)
        .max_encoding_message_size(2 * MAX_MESSAGE)
}

fn filing_of(items: Vec<pb::LineItem>) -> pb::CreateApplicationRequest {
    filing_with(|a| a.items = items)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_filing_is_refused_before_anything_is_written() {
    let h = spawn().await;
    let mut client = big_client(&h).await;
    let request = filing_of(vec![assembly(64, 64); 6]);
    let size = request.encoded_len();
    assert!(
        size > 4_000_000 && size < MAX_MESSAGE,
        "under the decode limit: {size}"
    );
    for attempt in ["first", "retry with the same request_id"] {
        let status = expect_invalid_field(
            client
                .create_application(authed(request.clone(), APPLICANT))
                .await,
            "APPLICATION_TOO_LARGE",
            "application",
        );
        let info = status.get_details_error_info().expect("ErrorInfo");
        let limit: usize = info.metadata["limitBytes"].parse().expect("a number");
        assert!(limit < MAX_MESSAGE, "{attempt}: {info:?}");
    }
    assert!(list_all(&mut client, AUDITOR, Default::default())
        .await
        .is_empty());
    assert!(all_events(&mut client, "applications/-").await.is_empty());
    assert!(verify_all(&mut client).await.intact);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_filing_accepted_is_served_by_every_read_and_transition() {
    let h = spawn().await;
    let mut client = big_client(&h).await;
    let request = filing_of(vec![assembly(64, 64); 3]);
    assert!(request.encoded_len() > 2_000_000);
    let app = create(&mut client, APPLICANT, request.clone()).await;
    let again = create(&mut client, APPLICANT, request).await;
    assert_eq!(again.name, app.name, "a retry answers the same");

    assert_eq!(get(&mut client, &app.name).await, app);
    let request = pb::ListApplicationsRequest {
        page_size: 1,
        ..Default::default()
    };
    let listed = one_page(&client, request, |page| authed(page, AUDITOR)).await;
    assert_eq!(listed.applications, vec![app.clone()]);
    let events = all_events(&mut client, "applications/-").await;
    assert!(!events.is_empty());
    let mut watch = client
        .watch_applications(authed(pb::WatchApplicationsRequest::default(), AUDITOR))
        .await
        .expect("watch")
        .into_inner();
    for event in &events {
        assert_eq!(&next_event(&mut watch).await, event);
    }
    let withdrawn = withdraw(&mut client, &app).await;
    assert_eq!(state_of(&withdrawn), pb::State::Withdrawn);
    assert_eq!(get(&mut client, &app.name).await, withdrawn);
    assert!(verify_all(&mut client).await.intact);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_are_bounded_by_their_encoded_size() {
    let h = spawn().await;
    let mut client = big_client(&h).await;
    let mut filed = Vec::new();
    for _ in 0..21 {
        let request = filing_with(|a| a.items = vec![catalog_item("H200", 10); 100]);
        filed.push(create(&mut client, APPLICANT, request).await.name);
    }
    // Each page as large as fits, never above the limit; all of them in the end.
    let request = pb::ListApplicationsRequest {
        page_size: 200,
        destination_country: "CN".into(),
        ..Default::default()
    };
    let answered = pages(&client, request, |page| authed(page, AUDITOR)).await;
    for page in &answered {
        assert!(page.encoded_len() <= MAX_MESSAGE);
        assert!(!page.applications.is_empty());
    }
    let pages = answered.len();
    let mut listed: Vec<_> = answered
        .into_iter()
        .flat_map(|page| page.applications)
        .map(|a| a.name)
        .collect();
    listed.sort();
    filed.sort();
    assert_eq!(listed, filed);
    // The same with the default client's 4 MiB decoding limit.
    let mut plain = connect(h.review.as_ref().unwrap().server.local_addr).await;
    assert_eq!(
        list_all(&mut plain, AUDITOR, Default::default())
            .await
            .len(),
        21
    );
    let events = all_events(&mut plain, "applications/-").await;
    assert_eq!(count_of(&events, "ApplicationFiled"), 21);
    assert!(pages > 1, "21 applications of 100 items take several pages");
}

/// CreateApplication with `timeout` as its raw `grpc-timeout`.
fn with_timeout(
    request: pb::CreateApplicationRequest,
    timeout: &str,
) -> Request<pb::CreateApplicationRequest> {
    let mut request = authed(request, APPLICANT);
    request
        .metadata_mut()
        .insert("grpc-timeout", timeout.parse().expect("ASCII"));
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filing_with_no_time_left_writes_nothing() {
    let mut h = spawn().await;
    for timeout in ["0n", "1n", "1u", "1m", "5m"] {
        for _ in 0..5 {
            let status = h
                .client
                .create_application(with_timeout(h200_to("CN", 1), timeout))
                .await
                .expect_err("no time to write");
            // A deadline already passed on arrival is refused by the server
            // before the handler (reason DEADLINE_EXCEEDED); one too short
            // for a write by the handler (DEADLINE_TOO_SHORT). tonic's own
            // timer may still answer CANCELLED first.
            assert!(
                matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
                "{timeout}: {}",
                describe(&status)
            );
            if status.code() == Code::DeadlineExceeded {
                let info = status.get_details_error_info().expect("ErrorInfo");
                assert!(
                    ["DEADLINE_TOO_SHORT", "DEADLINE_EXCEEDED"].contains(&info.reason.as_str()),
                    "{timeout}: {}",
                    describe(&status)
                );
            }
        }
    }
    let_the_sweeper_run().await;
    assert!(
        list_all(&mut h.client, AUDITOR, Default::default())
            .await
            .is_empty(),
        "nothing was written"
    );
    // The same for a transition.
    let app = filed(&mut h.client).await;
    let mut request = authed(withdraw_request(&app), APPLICANT);
    request
        .metadata_mut()
        .insert("grpc-timeout", "1n".parse().unwrap());
    let status = h
        .client
        .withdraw_application(request)
        .await
        .expect_err("no time");
    assert!(matches!(
        status.code(),
        Code::DeadlineExceeded | Code::Cancelled
    ));
    let_the_sweeper_run().await;
    assert_eq!(get(&mut h.client, &app.name).await, app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_cut_short_is_settled_by_retrying_the_request_id() {
    let mut h = spawn().await;
    let mut outcomes = Vec::new();
    for millis in (10..=120).step_by(5) {
        let request = h200_to("CN", 1);
        let first = h
            .client
            .create_application(with_timeout(request.clone(), &format!("{millis}m")))
            .await;
        let retried = create(&mut h.client, APPLICANT, request).await;
        match first {
            Ok(answer) => assert_eq!(answer.into_inner().name, retried.name),
            Err(status) => assert!(
                matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
                "{millis} ms: {}",
                describe(&status)
            ),
        }
        outcomes.push(retried.name);
    }
    // One application per request id, whatever the first answer was.
    let mut listed: Vec<String> = list_all(&mut h.client, AUDITOR, Default::default())
        .await
        .into_iter()
        .map(|a| a.name)
        .collect();
    listed.sort();
    outcomes.sort();
    assert_eq!(listed, outcomes);
    assert!(verify_all(&mut h.client).await.intact);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basic_list_leaves_out_the_classifiers_answers() {
    let mut h = spawn().await;
    let app = create(
        &mut h.client,
        APPLICANT,
        filing_with(|a| a.items = vec![catalog_item("H200", 10); 100]),
    )
    .await;
    let list = |view: pb::ApplicationView| pb::ListApplicationsRequest {
        view: view as i32,
        ..Default::default()
    };
    let full = list_all(
        &mut h.client,
        AUDITOR,
        list(pb::ApplicationView::Unspecified),
    )
    .await;
    assert_eq!(full, vec![app.clone()], "FULL by default");
    assert_eq!(
        list_all(&mut h.client, AUDITOR, list(pb::ApplicationView::Full)).await,
        full
    );
    let basic = list_all(&mut h.client, AUDITOR, list(pb::ApplicationView::Basic)).await;
    assert_eq!(basic.len(), 1);
    let basic = &basic[0];
    assert_eq!(basic.classifications.len(), 100);
    assert!(basic.classifications.iter().all(|c| c.result.is_none()));
    assert_eq!(
        (&basic.name, &basic.etag, &basic.state_reason),
        (&app.name, &app.etag, &app.state_reason)
    );
    assert!(
        basic.encoded_len() * 5 < app.encoded_len(),
        "{} vs {}",
        basic.encoded_len(),
        app.encoded_len()
    );
    expect_invalid_field(
        h.client
            .list_applications(authed(
                pb::ListApplicationsRequest {
                    view: 9,
                    ..Default::default()
                },
                AUDITOR,
            ))
            .await,
        "UNKNOWN_ENUM_VALUE",
        "view",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_from_before_the_bound_is_still_answered() {
    use review_svc::workflow::{Filing, ItemOutcome};
    let mut h = spawn().await;
    // Recorded straight into the ledger, as an earlier version could: the
    // classifier's answer alone is over the message limit.
    let request = h200_to("CN", 10);
    let application = request.application.unwrap();
    let content = review_svc::convert::FiledContent {
        items: application.items,
        transaction: application.transaction.unwrap(),
    };
    let answer = cpb::ClassifyItemResponse {
        item_name: "H200".into(),
        rule_set: "V2026a".into(),
        warnings: vec!["w".repeat(1_000); 4_500],
        ..Default::default()
    };
    let ledger = &h.review.as_ref().unwrap().ledger;
    let id = uuid::Uuid::now_v7().to_string();
    let recorded = ledger
        .file(
            Filing {
                id: id.clone(),
                applicant: "exporter-1".into(),
                application: content.into_domain(),
            },
            Some(vec![ItemOutcome {
                item_index: 0,
                license_required: true,
                review_policy: "CASE_BY_CASE".into(),
                rule_set: "V2026a".into(),
                decision_id: "d-1".into(),
                summary: "item 0 (H200): 3A090.a.1; licence required".into(),
                answer: review_svc::workflow::Encoded::new(prost::Message::encode_to_vec(&answer)),
            }]),
            None,
            h.clock.now(),
        )
        .await
        .expect("recorded");
    let name = format!("applications/{id}");
    let app = get(&mut h.client, &name).await;
    assert_eq!(test_support::etag_version(&app.etag), recorded.version);
    assert_eq!(app.classifications.len(), 1);
    assert!(app.classifications[0].result.is_none());
    assert_eq!(
        list_all(&mut h.client, AUDITOR, Default::default()).await,
        vec![app.clone()]
    );
    // A transition on it is answered, not reported as a failure.
    let withdrawn = withdraw(&mut h.client, &app).await;
    assert_eq!(state_of(&withdrawn), pb::State::Withdrawn);
    assert_eq!(get(&mut h.client, &name).await, withdrawn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_classifier_down_its_answers_to_come_are_counted_in_the_bound() {
    let mut h = spawn_with_classifier_at(format!("http://{}", unused_port())).await;
    // 100 boards of 64 catalogue chips each: a small request, but the
    // classifier's answers (about 74 KB a board) would make it unservable.
    let board = pb::LineItem {
        item: Some(pb::line_item::Item::Spec(cpb::ChipSpec {
            name: "board".into(),
            kind: cpb::ItemKind::ComputerOrAssembly as i32,
            contained_ics: vec![
                cpb::ContainedIntegratedCircuit {
                    ic: Some(cpb::contained_integrated_circuit::Ic::CatalogChip(
                        "H200".into()
                    )),
                    count: 1,
                };
                64
            ],
            ..Default::default()
        })),
        quantity: 1,
        unit_value_usd_cents: 3_000_000,
    };
    expect_invalid_field(
        h.client
            .create_application(authed(
                filing_with(|a| a.items = vec![board.clone(); 100]),
                APPLICANT,
            ))
            .await,
        "APPLICATION_TOO_LARGE",
        "application",
    );
    // A few are accepted for later classification, as before.
    let app = create(
        &mut h.client,
        APPLICANT,
        filing_with(|a| a.items = vec![board; 3]),
    )
    .await;
    assert_eq!(state_of(&app), pb::State::ClassificationPending);
    assert_eq!(
        list_all(&mut h.client, AUDITOR, Default::default()).await,
        vec![app]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_principal_holds_a_bounded_number_of_watches() {
    let h = spawn().await;
    let max = review_svc::DEFAULT_MAX_WATCHES_PER_PRINCIPAL;
    let watch = |token: &str| authed(pb::WatchApplicationsRequest::default(), token);
    let mut open = Vec::new();
    for _ in 0..max {
        let mut client = h.client.clone();
        open.push(client.watch_applications(watch(AUDITOR)).await.unwrap());
    }
    let mut client = h.client.clone();
    let status = expect_refusal(
        client.watch_applications(watch(AUDITOR)).await,
        Code::ResourceExhausted,
        "TOO_MANY_WATCHES",
    );
    let info = status.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.metadata["maxWatches"], max.to_string());
    assert_eq!(info.metadata["principal"], "auditor");
    // Another principal's watches are counted apart.
    client
        .watch_applications(watch(OFFICER))
        .await
        .expect("the officer may watch");
    // A watch ended gives its place back (once the server sees it end).
    open.pop();
    let started = Instant::now();
    while let Err(status) = client.watch_applications(watch(AUDITOR)).await {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(started.elapsed() < PATIENCE, "the place was not given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
