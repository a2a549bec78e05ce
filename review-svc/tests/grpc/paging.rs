use super::*;
use test_support::paging::{every_page, next_tokens, pages};

// ---------------------------------------------------------------------------
// 8. Pagination
// ---------------------------------------------------------------------------

/// `token` with one character in the middle changed.
pub(crate) fn tampered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

pub(crate) async fn list_applications_pages_newest_first_and_refuses_foreign_tokens(
    mut h: Harness,
) {
    let mut created = Vec::new();
    for i in 0..25 {
        let destination = if i % 2 == 0 { "CN" } else { "SA" };
        created.push(
            create(&mut h.client, APPLICANT, h200_to(destination, 10))
                .await
                .name,
        );
        h.clock.advance(chrono::Duration::seconds(1));
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let request = pb::ListApplicationsRequest {
        page_size: 7,
        ..Default::default()
    };
    let listed = pages(&h.client, request, |page| authed(page, AUDITOR)).await;
    let sizes: Vec<_> = listed.iter().map(|page| page.applications.len()).collect();
    assert_eq!(sizes, [7, 7, 7, 4]);
    let tokens = next_tokens::<pb::ListApplicationsRequest>(&listed);
    let seen: Vec<_> = listed
        .into_iter()
        .flat_map(|page| page.applications)
        .map(|a| a.name)
        .collect();
    assert_eq!(seen, newest_first);

    // The page size may change between pages; the filters may not.
    let request = pb::ListApplicationsRequest {
        page_size: 100,
        page_token: tokens[0].clone(),
        ..Default::default()
    };
    let rest = h
        .client
        .list_applications(authed(request, AUDITOR))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.applications.len(), 18);
    let invalid =
        |page_token: &str, filter: pb::ListApplicationsRequest| pb::ListApplicationsRequest {
            page_size: 7,
            page_token: page_token.to_owned(),
            ..filter
        };
    let other_filters = [
        pb::ListApplicationsRequest {
            destination_country: "CN".into(),
            ..Default::default()
        },
        pb::ListApplicationsRequest {
            state: pb::State::AgencyReview as i32,
            ..Default::default()
        },
        pb::ListApplicationsRequest {
            overdue: true,
            ..Default::default()
        },
    ];
    let mut refused = vec![
        (invalid(&tampered(&tokens[0]), Default::default()), AUDITOR),
        (invalid("not a token", Default::default()), AUDITOR),
        // The applicant's own listing is another query.
        (invalid(&tokens[0], Default::default()), APPLICANT),
    ];
    for filter in other_filters {
        refused.push((invalid(&tokens[0], filter), AUDITOR));
    }
    for (request, token) in refused {
        expect_invalid_page_token(&h.client, request, token, "ListApplications").await;
    }

    // A filtered listing pages within its filter.
    let request = pb::ListApplicationsRequest {
        page_size: 4,
        destination_country: "cn".into(),
        ..Default::default()
    };
    let chinese: Vec<String> = every_page(&h.client, request, |page| authed(page, APPLICANT))
        .await
        .into_iter()
        .map(|a| a.name)
        .collect();
    let to_china: Vec<String> = newest_first
        .iter()
        .filter(|n| created.iter().position(|c| c == *n).unwrap() % 2 == 0)
        .cloned()
        .collect();
    assert_eq!(chinese, to_china);
}

pub(crate) async fn list_application_events_pages_oldest_first_and_refuses_foreign_tokens(
    mut h: Harness,
) {
    let mut names = Vec::new();
    for _ in 0..25 {
        names.push(filed(&mut h.client).await.name);
    }
    let everything = all_events(&mut h.client, "applications/-").await;
    assert_eq!(everything.len(), 75, "filed, classified, referred");

    let request = pb::ListApplicationEventsRequest {
        parent: "applications/-".into(),
        page_size: 7,
        ..Default::default()
    };
    let listed = pages(&h.client, request, |page| authed(page, AUDITOR)).await;
    assert!(listed.iter().all(|page| page.events.len() <= 7));
    let tokens = next_tokens::<pb::ListApplicationEventsRequest>(&listed);
    let seen: Vec<_> = listed.into_iter().flat_map(|page| page.events).collect();
    assert_eq!(tokens.len(), 10, "75 events in pages of 7");
    assert_eq!(seen, everything);
    assert!(seen.windows(2).all(|w| w[0].sequence < w[1].sequence));

    // One application's trail, in pages of 2.
    let request = pb::ListApplicationEventsRequest {
        parent: names[3].clone(),
        page_size: 2,
        ..Default::default()
    };
    let trail = pages(&h.client, request, |page| authed(page, APPLICANT)).await;
    let one_token = next_tokens::<pb::ListApplicationEventsRequest>(&trail)
        .pop()
        .unwrap_or_default();
    let one: Vec<_> = trail.into_iter().flat_map(|page| page.events).collect();
    assert_eq!(
        one.iter()
            .map(|e| e.application_sequence)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(one.iter().all(|e| e.application == names[3]));

    let refused = [
        (names[0].clone(), tampered(&tokens[0])),
        ("applications/-".to_owned(), tampered(&tokens[4])),
        ("applications/-".to_owned(), one_token.clone()),
        (names[4].clone(), one_token),
        (names[0].clone(), tokens[0].clone()),
    ];
    for (parent, page_token) in refused {
        let request = pb::ListApplicationEventsRequest {
            parent,
            page_size: 7,
            page_token,
        };
        expect_invalid_page_token(&h.client, request, AUDITOR, "ListApplicationEvents").await;
    }
}

// ---------------------------------------------------------------------------
// 9. Watching
// ---------------------------------------------------------------------------

pub(crate) async fn next_event(
    stream: &mut tonic::Streaming<pb::ApplicationEvent>,
) -> pb::ApplicationEvent {
    tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("an event within the patience")
        .expect("no stream error")
        .expect("the stream goes on")
}

pub(crate) async fn watch_sends_history_then_live_events_in_sequence_order(mut h: Harness) {
    filed(&mut h.client).await;
    agencies_disagree(&mut h.client).await;
    let history = all_events(&mut h.client, "applications/-").await;

    let watch = |after_sequence, application: &str| {
        let mut request = Request::new(pb::WatchApplicationsRequest {
            after_sequence,
            application: application.to_owned(),
        });
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {AUDITOR}").parse().unwrap(),
        );
        request
    };
    let mut all = h
        .client
        .watch_applications(watch(0, ""))
        .await
        .expect("watch")
        .into_inner();
    let mut received = Vec::new();
    for _ in 0..history.len() {
        received.push(next_event(&mut all).await);
    }
    assert_eq!(received, history);

    // Live: one application filed, then a burst of concurrent ones.
    let live = filed(&mut h.client).await;
    let mut only_live = h
        .client
        .watch_applications(watch(0, &live.name))
        .await
        .expect("watch one")
        .into_inner();
    let burst = (0..8).map(|_| {
        let mut client = h.client.clone();
        async move { filed(&mut client).await }
    });
    futures::future::join_all(burst).await;
    let after = all_events(&mut h.client, "applications/-").await;
    assert_eq!(after.len(), history.len() + 9 * 3);
    for _ in history.len()..after.len() {
        received.push(next_event(&mut all).await);
    }
    assert_eq!(received, after, "every event once, in sequence order");
    assert!(received.windows(2).all(|w| w[0].sequence < w[1].sequence));

    let mine: Vec<_> = after
        .iter()
        .filter(|e| e.application == live.name)
        .cloned()
        .collect();
    let mut watched = Vec::new();
    for _ in 0..mine.len() {
        watched.push(next_event(&mut only_live).await);
    }
    assert_eq!(watched, mine);

    // From a later sequence, only what follows it.
    let from = history.last().unwrap().sequence;
    let mut later = h
        .client
        .watch_applications(watch(from, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut later).await, after[history.len()]);
}

/// A watch on one review-svc sees what another, sharing its database,
/// writes: the other's writes wake no one here, the history poll does.
pub(crate) async fn a_watch_sees_what_another_process_writes(h: Harness) {
    let other = start_review(&h.db.url(), &h.classifier_url, None, &h.clock).await;
    let mut other_client = connect(other.server.local_addr).await;
    let watch = |application: &str| {
        authed(
            pb::WatchApplicationsRequest {
                after_sequence: 0,
                application: application.to_owned(),
            },
            AUDITOR,
        )
    };
    let mut client = h.client.clone();
    let mut all = client
        .watch_applications(watch(""))
        .await
        .unwrap()
        .into_inner();
    let app = filed(&mut other_client).await;
    let mut one = client
        .watch_applications(watch(&app.name))
        .await
        .unwrap()
        .into_inner();
    let first = all_events(&mut other_client, &app.name).await;
    for event in &first {
        assert_eq!(&next_event(&mut all).await, event);
        assert_eq!(&next_event(&mut one).await, event);
    }
    // Written after both watches caught up: only the poll can tell them.
    agency_approves(&mut other_client, &app, pb::Agency::Commerce).await;
    let after = all_events(&mut other_client, &app.name).await;
    let new = &after[first.len()..];
    assert!(!new.is_empty());
    for event in new {
        assert_eq!(&next_event(&mut all).await, event);
        assert_eq!(&next_event(&mut one).await, event);
    }
    other.shutdown().await.unwrap();
}
