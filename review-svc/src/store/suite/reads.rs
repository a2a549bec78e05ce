//! Cases of the store suite: list filters and pages, events, due rows, census.

use super::*;

type ListSpec = (
    &'static str,
    i64,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    Option<i64>,
);

pub(super) async fn list_filters(b: &dyn Backend) {
    let store = b.store();
    #[rustfmt::skip]
    let specs: [ListSpec; 8] = [
        // (id, created_at, applicant, state, destination, level, awaiting, overdue_at)
        ("l1", 100, "acme", "SUBMITTED", "DE", "", &[], None),
        ("l2", 200, "acme", "AGENCY_REVIEW", "CN", "", &["STATE", "ENERGY"], Some(500)),
        ("l3", 300, "zeta", "AGENCY_REVIEW", "CN", "", &["STATE"], Some(900)),
        ("l4", 300, "zeta", "ESCALATED", "AE", "OPERATING_COMMITTEE", &["DEFENSE"], Some(400)),
        ("l5", 400, "acme", "ESCALATED", "AE", "ACEP", &["ENERGY", "DEFENSE"], None),
        ("l6", 500, "beta", "DECIDED", "DE", "EARB", &[], Some(100)),
        ("l7", 500, "beta", "AGENCY_REVIEW", "CN", "", &["STATE", "COMMERCE"], Some(1_000)),
        ("l8", 600, "acme", "SUBMITTED", "DE", "", &[], None),
    ];
    for (id, created, applicant, state, dest, level, agencies, overdue) in specs {
        let row = ApplicationRow {
            applicant: applicant.into(),
            state: state.into(),
            destination: dest.into(),
            level: level.into(),
            awaiting_agencies: agencies.iter().map(|a| (*a).to_owned()).collect(),
            overdue_at: overdue,
            ..app(id, created)
        };
        store
            .create(&row, &[ev("CREATED", created)], None)
            .await
            .expect("create");
    }
    let check = |filter: ListFilter, expected: &'static [&'static str]| {
        let store = store.clone();
        async move {
            assert_eq!(all_ids(&*store, &filter).await, expected, "{filter:?}");
        }
    };
    let newest_first = &["l8", "l7", "l6", "l5", "l4", "l3", "l2", "l1"];
    check(ListFilter::default(), newest_first).await;
    check(
        only(|f| f.applicant = Some("acme".into())),
        &["l8", "l5", "l2", "l1"],
    )
    .await;
    check(
        only(|f| f.state = Some("AGENCY_REVIEW".into())),
        &["l7", "l3", "l2"],
    )
    .await;
    check(only(|f| f.destination = Some("AE".into())), &["l5", "l4"]).await;
    check(
        only(|f| f.level = Some("OPERATING_COMMITTEE".into())),
        &["l4"],
    )
    .await;
    check(
        only(|f| f.level = Some(String::new())),
        &["l8", "l7", "l3", "l2", "l1"],
    )
    .await;
    check(
        only(|f| f.awaiting_agency = Some("STATE".into())),
        &["l7", "l3", "l2"],
    )
    .await;
    check(
        only(|f| f.awaiting_agency = Some("DEFENSE".into())),
        &["l5", "l4"],
    )
    .await;
    check(
        only(|f| f.overdue_at_or_before = Some(500)),
        &["l6", "l4", "l2"],
    )
    .await;
    check(only(|f| f.applicant = Some("nobody".into())), &[]).await;
    let everything = only(|f| {
        f.applicant = Some("acme".into());
        f.state = Some("AGENCY_REVIEW".into());
        f.destination = Some("CN".into());
        f.level = Some(String::new());
        f.awaiting_agency = Some("ENERGY".into());
        f.overdue_at_or_before = Some(500);
    });
    check(everything, &["l2"]).await;

    // The agency index follows updates.
    let l2 = store.get("l2").await.expect("get").expect("l2");
    let l2v2 = ApplicationRow {
        awaiting_agencies: vec!["ENERGY".into(), "COMMERCE".into()],
        ..next(&l2, "AGENCY_REVIEW")
    };
    store
        .update(1, &l2v2, &[ev("RECOMMENDED", 700)], None)
        .await
        .expect("update");
    check(
        only(|f| f.awaiting_agency = Some("STATE".into())),
        &["l7", "l3"],
    )
    .await;
    check(
        only(|f| f.awaiting_agency = Some("COMMERCE".into())),
        &["l7", "l2"],
    )
    .await;
    let l2v3 = ApplicationRow {
        awaiting_agencies: Vec::new(),
        ..next(&l2v2, "DECIDED")
    };
    store
        .update(2, &l2v3, &[ev("DECIDED", 800)], None)
        .await
        .expect("update");
    check(only(|f| f.awaiting_agency = Some("ENERGY".into())), &["l5"]).await;
    // created_at does not change on update: still in its place.
    check(only(|f| f.state = Some("DECIDED".into())), &["l6", "l2"]).await;
}

pub(super) async fn list_keyset_pagination(b: &dyn Backend) {
    let store = b.store();
    // 30 rows over 4 distinct creation times: many ties on created_at.
    for i in 0..30 {
        let row = ApplicationRow {
            state: if i % 3 == 0 { "A" } else { "B" }.into(),
            awaiting_agencies: if i % 2 == 0 {
                vec!["STATE".into()]
            } else {
                Vec::new()
            },
            ..app(&format!("p{i:02}"), 1_000 + i64::from(i % 4))
        };
        store
            .create(&row, &[ev("CREATED", 1)], None)
            .await
            .expect("create");
    }
    for filter in [
        ListFilter::default(),
        ListFilter {
            state: Some("B".into()),
            ..Default::default()
        },
        ListFilter {
            awaiting_agency: Some("STATE".into()),
            ..Default::default()
        },
    ] {
        let everything = store.list(&filter, None, 1_000).await.expect("list");
        // Newest first, ties broken by id descending.
        let keys: Vec<(i64, String)> = everything
            .iter()
            .map(|r| (r.created_at, r.id.clone()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(keys, sorted, "{filter:?}");
        for page_size in [1u32, 4, 7] {
            let mut seen = Vec::new();
            let mut cursor: Option<ListCursor> = None;
            loop {
                let page = store
                    .list(&filter, cursor.as_ref(), page_size)
                    .await
                    .expect("page");
                assert!(page.len() <= page_size as usize);
                let Some(last) = page.last() else { break };
                cursor = Some(ListCursor {
                    created_at: last.created_at,
                    id: last.id.clone(),
                });
                seen.extend(page.into_iter().map(|r| r.id));
            }
            let unique: HashSet<&String> = seen.iter().collect();
            assert_eq!(
                unique.len(),
                seen.len(),
                "duplicates: {filter:?} {page_size}"
            );
            assert_eq!(
                seen,
                everything.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
                "{filter:?} page size {page_size}"
            );
        }
    }
    assert!(store
        .list(&ListFilter::default(), None, 0)
        .await
        .expect("list")
        .is_empty());
}

pub(super) async fn events_order_and_filter(b: &dyn Backend) {
    let store = b.store();
    let mut x = app("ex", 1);
    let mut y = app("ey", 2);
    create_filed(&*store, &x, None).await.expect("create");
    store
        .create(&y, &[ev("CREATED", 2), ev("NOTE", 2)], None)
        .await
        .expect("create");
    for round in 0..3 {
        let nx = next(&x, "S");
        store
            .update(x.version, &nx, &[ev("X", 10 + round)], None)
            .await
            .expect("update");
        x = nx;
        let ny = next(&y, "S");
        store
            .update(
                y.version,
                &ny,
                &[ev("Y", 10 + round), ev("Y2", 10 + round)],
                None,
            )
            .await
            .expect("update");
        y = ny;
    }
    let all = store.events(None, 0, 1_000).await.expect("events");
    assert_eq!(all.len(), 1 + 2 + 3 + 6);
    assert!(all.windows(2).all(|w| w[0].sequence < w[1].sequence));
    for id in ["ex", "ey"] {
        let mine = store.events(Some(id), 0, 1_000).await.expect("events");
        assert!(mine.iter().all(|e| e.application_id == id));
        let expected: Vec<&crate::store::StoredEvent> =
            all.iter().filter(|e| e.application_id == id).collect();
        assert_eq!(mine.iter().collect::<Vec<_>>(), expected);
        for (i, e) in mine.iter().enumerate() {
            assert_eq!(e.application_sequence, i as i64 + 1);
            let previous = if i == 0 {
                crate::store::chain::GENESIS_HASH.to_owned()
            } else {
                mine[i - 1].hash.clone()
            };
            assert_eq!(e.previous_hash, previous);
            assert_eq!(
                e.hash,
                crate::store::chain::event_hash(
                    &e.previous_hash,
                    &e.application_id,
                    e.application_sequence,
                    &e.kind,
                    &e.actor,
                    e.at,
                    &e.details
                )
            );
        }
    }
    let y_events = store.events(Some("ey"), 0, 1_000).await.expect("events");
    assert_eq!(y_events[1].kind, "NOTE");
    assert_eq!(y_events[1].details, ev("NOTE", 2).details);
    // Paging by sequence.
    let first = store.events(None, 0, 5).await.expect("events");
    let rest = store
        .events(None, first.last().expect("some").sequence, 1_000)
        .await
        .expect("events");
    assert_eq!(first.len(), 5);
    assert_eq!([first, rest].concat(), all);
    let after = store
        .events(Some("ex"), y_events[0].sequence, 2)
        .await
        .expect("events");
    assert_eq!(after.len(), 2);
    assert!(after
        .iter()
        .all(|e| e.application_id == "ex" && e.sequence > y_events[0].sequence));
}

pub(super) async fn due_in_deadline_order(b: &dyn Backend) {
    let store = b.store();
    for (id, due) in [
        ("d1", Some(300)),
        ("d2", Some(100)),
        ("d3", None),
        ("d4", Some(200)),
        ("d5", Some(100)),
        ("d6", Some(900)),
    ] {
        let row = ApplicationRow {
            next_due_at: due,
            ..app(id, 1)
        };
        create_filed(&*store, &row, None).await.expect("create");
    }
    let ids = |rows: Vec<ApplicationRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.due(300, 100).await.expect("due")),
        ["d2", "d5", "d4", "d1"]
    );
    assert_eq!(ids(store.due(300, 2).await.expect("due")), ["d2", "d5"]);
    assert!(store.due(99, 100).await.expect("due").is_empty());
    // Clearing the deadline takes the row off the queue.
    let d2 = store.get("d2").await.expect("get").expect("d2");
    let cleared = ApplicationRow {
        next_due_at: None,
        ..next(&d2, "DONE")
    };
    store
        .update(1, &cleared, &[ev("SWEPT", 2)], None)
        .await
        .expect("update");
    assert_eq!(
        ids(store.due(1_000, 100).await.expect("due")),
        ["d5", "d4", "d1", "d6"]
    );
}

pub(super) async fn census_counts(b: &dyn Backend) {
    let store = b.store();
    for (id, state, level, overdue) in [
        ("n1", "AGENCY_REVIEW", "", Some(100)),
        ("n2", "AGENCY_REVIEW", "", None),
        ("n3", "ESCALATED", "ACEP", Some(300)),
        ("n4", "ESCALATED", "EARB", Some(50)),
        ("n5", "DECIDED", "", None),
    ] {
        let row = ApplicationRow {
            state: state.into(),
            level: level.into(),
            overdue_at: overdue,
            ..app(id, 1)
        };
        create_filed(&*store, &row, None).await.expect("create");
    }
    let mut census = store.census(100).await.expect("census");
    census.by_state_and_level.sort();
    assert_eq!(
        census.by_state_and_level,
        vec![
            ("AGENCY_REVIEW".to_owned(), String::new(), 2),
            ("DECIDED".to_owned(), String::new(), 1),
            ("ESCALATED".to_owned(), "ACEP".to_owned(), 1),
            ("ESCALATED".to_owned(), "EARB".to_owned(), 1),
        ]
    );
    assert_eq!(census.overdue, 2);
    assert_eq!(store.census(1_000).await.expect("census").overdue, 3);
    assert_eq!(store.census(0).await.expect("census").overdue, 0);
}
