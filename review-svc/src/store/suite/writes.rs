//! Cases of the store suite: creates, updates, idempotency and batches.

use super::*;
use crate::store::sql::{Bind, Columns, Dialect, Parts, Sql};

pub(super) async fn create_get_round_trip(b: &dyn Backend) {
    let store = b.store();
    let row = ApplicationRow {
        level: "OPERATING_COMMITTEE".into(),
        awaiting_agencies: vec!["STATE".into(), "ENERGY".into()],
        next_due_at: Some(5_000),
        overdue_at: Some(9_000),
        snapshot: "{\"name\":\"applications/a1\",\"note\":\"é \\\" ✓\"}".into(),
        ..app("a1", 1_000)
    };
    let outcome = store
        .create(&row, &[ev("CREATED", 1_000), ev("REFERRED", 1_001)], None)
        .await
        .expect("create");
    assert_eq!(outcome, WriteOutcome::Committed);
    assert_eq!(store.get("a1").await.expect("get"), Some(row.clone()));
    assert_eq!(store.get("missing").await.expect("get"), None);

    // No events at all is allowed, and keeps the chain consistent.
    store
        .create(&app("a2", 1_000), &[], None)
        .await
        .expect("create");
    assert_eq!(version_of(&*store, "a2").await, Some(1));
    assert_eq!(event_count(&*store, Some("a1")).await, 2);
    assert_eq!(event_count(&*store, Some("a2")).await, 0);
    assert_chain_intact(&*store).await;
}

pub(super) async fn create_duplicate_id_refused(b: &dyn Backend) {
    let store = b.store();
    create_filed(&*store, &app("dup", 1), None)
        .await
        .expect("create");
    let again = create_filed(&*store, &app("dup", 2), None).await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists(ref id)) if id == "dup"),
        "{again:?}"
    );
    // With a fresh request id: still refused, and the request id is not consumed.
    let again = create_filed(&*store, &app("dup", 2), Some(&req("r-dup", "f1"))).await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists(_))),
        "{again:?}"
    );
    let other = create_filed(&*store, &app("dup2", 2), Some(&req("r-dup", "f2")))
        .await
        .expect("request id still free");
    assert_eq!(other, WriteOutcome::Committed);
    assert_eq!(event_count(&*store, Some("dup")).await, 1);
    assert_eq!(
        store.get("dup").await.expect("get").map(|r| r.created_at),
        Some(1)
    );
}

pub(super) async fn create_replay_is_idempotent(b: &dyn Backend) {
    let store = b.store();
    let request = req("r1", "fp1");
    let first = create_filed(&*store, &app("c1", 10), Some(&request))
        .await
        .expect("create");
    assert_eq!(first, WriteOutcome::Committed);
    // The same call again.
    let replay = create_filed(&*store, &app("c1", 10), Some(&request))
        .await
        .expect("replay");
    assert_eq!(replay, replay_of(&request));
    // A retry for which the service minted another id: still the first answer.
    let replay = create_filed(&*store, &app("c1-other", 11), Some(&request))
        .await
        .expect("replay");
    assert_eq!(replay, replay_of(&request));
    assert_eq!(
        all_ids(&*store, &ListFilter::default()).await,
        vec!["c1".to_owned()]
    );
    assert_eq!(event_count(&*store, None).await, 1);
}

pub(super) async fn request_id_reuse_refused(b: &dyn Backend) {
    let store = b.store();
    let row = app("u1", 10);
    create_filed(&*store, &row, Some(&req("r1", "fp1")))
        .await
        .expect("create");
    let reused = create_filed(&*store, &app("u2", 11), Some(&req("r1", "other"))).await;
    assert!(
        matches!(reused, Err(StoreError::RequestIdReused(ref id)) if id == "r1"),
        "{reused:?}"
    );
    // Same for an update, whatever the version.
    let reused = store
        .update(
            1,
            &next(&row, "REVIEW"),
            &[ev("X", 12)],
            Some(&req("r1", "other")),
        )
        .await;
    assert!(
        matches!(reused, Err(StoreError::RequestIdReused(_))),
        "{reused:?}"
    );
    assert_eq!(store.get("u2").await.expect("get"), None);
    assert_eq!(version_of(&*store, "u1").await, Some(1));
    assert_eq!(event_count(&*store, None).await, 1);
}

pub(super) async fn update_and_version_conflict(b: &dyn Backend) {
    let store = b.store();
    let v1 = app("v", 10);
    create_filed(&*store, &v1, None).await.expect("create");
    let v2 = ApplicationRow {
        level: "OPERATING_COMMITTEE".into(),
        awaiting_agencies: vec!["DEFENSE".into()],
        next_due_at: Some(99),
        overdue_at: Some(100),
        ..next(&v1, "AGENCY_REVIEW")
    };
    let outcome = store
        .update(1, &v2, &[ev("REFERRED", 11), ev("ESCALATED", 11)], None)
        .await
        .expect("update");
    assert_eq!(outcome, WriteOutcome::Committed);
    assert_eq!(store.get("v").await.expect("get"), Some(v2.clone()));

    let stale = store
        .update(1, &next(&v1, "OTHER"), &[ev("Y", 12)], None)
        .await;
    assert!(
        matches!(stale, Err(StoreError::VersionConflict { ref id, expected: 1, current: 2 }) if id == "v"),
        "{stale:?}"
    );
    let missing = store
        .update(1, &next(&app("nope", 1), "X"), &[], None)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(ref id)) if id == "nope"),
        "{missing:?}"
    );

    // An update without events bumps the version and keeps the chain.
    let v3 = next(&v2, "AGENCY_REVIEW");
    store.update(2, &v3, &[], None).await.expect("update");
    assert_eq!(store.get("v").await.expect("get"), Some(v3));
    assert_eq!(event_count(&*store, Some("v")).await, 3);
    assert_chain_intact(&*store).await;
}

pub(super) async fn update_replay_after_success(b: &dyn Backend) {
    let store = b.store();
    let v1 = app("w", 10);
    create_filed(&*store, &v1, None).await.expect("create");
    let request = req("u-r1", "fp");
    let v2 = next(&v1, "AGENCY_REVIEW");
    let first = store
        .update(1, &v2, &[ev("REFERRED", 11)], Some(&request))
        .await
        .expect("update");
    assert_eq!(first, WriteOutcome::Committed);
    // The retry carries the old version: it must be a replay, not a conflict.
    let retry = store
        .update(1, &v2, &[ev("REFERRED", 11)], Some(&request))
        .await
        .expect("retry");
    assert_eq!(retry, replay_of(&request));
    let other = store
        .update(1, &v2, &[ev("REFERRED", 11)], Some(&req("u-r1", "changed")))
        .await;
    assert!(
        matches!(other, Err(StoreError::RequestIdReused(_))),
        "{other:?}"
    );
    assert_eq!(version_of(&*store, "w").await, Some(2));
    assert_eq!(event_count(&*store, Some("w")).await, 2);
    // A fresh request id at the old version is a conflict.
    let stale = store
        .update(1, &v2, &[ev("REFERRED", 11)], Some(&req("u-r2", "fp")))
        .await;
    assert!(
        matches!(stale, Err(StoreError::VersionConflict { current: 2, .. })),
        "{stale:?}"
    );
    // And the refused request id was not consumed.
    let later = store
        .update(
            2,
            &next(&v2, "DONE"),
            &[ev("DECIDED", 12)],
            Some(&req("u-r2", "fp")),
        )
        .await
        .expect("update");
    assert_eq!(later, WriteOutcome::Committed);
}

pub(super) async fn versions_come_from_the_rows(b: &dyn Backend) {
    let store = b.store();
    let v3 = ApplicationRow {
        version: 3,
        ..app("vv", 1)
    };
    create_filed(&*store, &v3, None).await.expect("create");
    assert_eq!(version_of(&*store, "vv").await, Some(3));
    let v5 = ApplicationRow {
        version: 5,
        ..next(&v3, "S")
    };
    store
        .update(3, &v5, &[ev("S", 2)], None)
        .await
        .expect("update");
    assert_eq!(store.get("vv").await.expect("get"), Some(v5.clone()));
    let stale = store
        .update(
            4,
            &ApplicationRow {
                version: 6,
                ..v5.clone()
            },
            &[],
            None,
        )
        .await;
    assert!(
        matches!(
            stale,
            Err(StoreError::VersionConflict {
                expected: 4,
                current: 5,
                ..
            })
        ),
        "{stale:?}"
    );
    // A version that does not move forward is refused before anything is written.
    let backwards = store.update(5, &v5, &[ev("X", 3)], None).await;
    assert!(
        matches!(backwards, Err(StoreError::Internal(_))),
        "{backwards:?}"
    );
    assert_eq!(event_count(&*store, Some("vv")).await, 2);
}

pub(super) async fn find_request_returns_first_answer(b: &dyn Backend) {
    let store = b.store();
    let request = req("fr-1", "fp");
    create_filed(&*store, &app("fr", 1), Some(&request))
        .await
        .expect("create");
    assert_eq!(
        store.find_request("fr-1").await.expect("find"),
        Some(("fp".to_owned(), request.response.clone()))
    );
    assert_eq!(store.find_request("unknown").await.expect("find"), None);
}

pub(super) async fn one_batch_mixes_writes(b: &dyn Backend) {
    let store = b.store();
    create_filed(&*store, &app("other", 1), Some(&req("taken", "fp-x")))
        .await
        .expect("create");
    let a1 = ApplicationRow {
        awaiting_agencies: vec!["STATE".into(), "ENERGY".into()],
        ..app("ba", 10)
    };
    let a2 = ApplicationRow {
        awaiting_agencies: vec!["ENERGY".into(), "DEFENSE".into()],
        ..next(&a1, "AGENCY_REVIEW")
    };
    let a3 = ApplicationRow {
        awaiting_agencies: vec!["DEFENSE".into()],
        ..next(&a2, "ESCALATED")
    };
    let create = |row: &ApplicationRow, request: Option<IdempotentRequest>| WriteOp::Create {
        row: row.clone(),
        events: vec![ev("CREATED", row.created_at)],
        request,
    };
    let update =
        |expected: i64, row: &ApplicationRow, request: Option<IdempotentRequest>| WriteOp::Update {
            expected_version: expected,
            row: row.clone(),
            events: vec![ev(&row.state, row.updated_at), ev("NOTE", row.updated_at)],
            request,
        };
    let ops = [
        create(&a1, Some(req("b-r1", "f"))),
        create(&a1, Some(req("b-r1", "f"))),
        create(&a1, None),
        update(1, &a2, Some(req("b-r2", "f"))),
        update(1, &next(&a1, "LOST"), Some(req("b-r3", "f"))),
        update(2, &a3, None),
        update(1, &next(&app("missing", 1), "X"), None),
        create(&app("bc", 11), Some(req("b-r2", "changed"))),
        update(1, &a2, Some(req("b-r2", "f"))),
        create(&app("bd", 12), Some(req("taken", "fp-x"))),
        create(&app("be", 12), Some(req("b-r4", "f"))),
    ];
    let refs: Vec<&WriteOp> = ops.iter().collect();
    let results = b.run_batch(&refs).await.expect("batch");
    let summary: Vec<String> = results
        .iter()
        .map(|r| match r {
            Ok(WriteOutcome::Committed) => "committed".to_owned(),
            Ok(WriteOutcome::Replayed { .. }) => "replayed".to_owned(),
            Err(StoreError::AlreadyExists(_)) => "exists".to_owned(),
            Err(StoreError::VersionConflict { current, .. }) => format!("conflict@{current}"),
            Err(StoreError::NotFound(_)) => "not found".to_owned(),
            Err(StoreError::RequestIdReused(_)) => "reused".to_owned(),
            Err(e) => format!("error {e}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "committed",
            "replayed",
            "exists",
            "committed",
            "conflict@2",
            "committed",
            "not found",
            "reused",
            "replayed",
            "replayed",
            "committed"
        ]
    );
    assert_eq!(store.get("ba").await.expect("get"), Some(a3));
    assert_eq!(store.get("bc").await.expect("get"), None);
    assert_eq!(store.get("bd").await.expect("get"), None);
    assert!(store.get("be").await.expect("get").is_some());
    assert_eq!(event_count(&*store, Some("ba")).await, 5);
    assert!(all_ids(&*store, &awaiting("STATE")).await.is_empty());
    assert!(all_ids(&*store, &awaiting("ENERGY")).await.is_empty());
    assert_eq!(all_ids(&*store, &awaiting("DEFENSE")).await, ["ba"]);
    assert_eq!(
        store.find_request("b-r2").await.expect("find").map(|r| r.0),
        Some("f".to_owned())
    );
    assert_eq!(store.find_request("b-r3").await.expect("find"), None);
    assert_chain_intact(&*store).await;
    // A batch of replays and refusals only writes nothing.
    let refs: Vec<&WriteOp> = ops[1..3].iter().collect();
    let again = b.run_batch(&refs).await.expect("batch");
    assert!(matches!(again[0], Ok(WriteOutcome::Replayed { .. })));
    assert!(matches!(again[1], Err(StoreError::AlreadyExists(_))));
}

/// A batch's writes as the licence writer sends them ([`Parts`]: joined
/// into one statement on PostgreSQL, one by one on SQLite) report the rows
/// each changed, and name the first that changed another number.
pub(super) async fn joint_writes_count_each(b: &dyn Backend) {
    assert_eq!(b.joint_writes().await, [None, Some("missing row")]);
}

/// Two batches of writes on a scratch table of two rows: one where every
/// write changes the rows it names, one with an update of a row that is
/// not there; what each run answered.
pub(super) async fn joint_writes<DB: Dialect>(
    conn: &mut DB::Connection,
) -> [Option<&'static str>; 2] {
    for sql in [
        "CREATE TABLE scratch (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)",
        "INSERT INTO scratch (id, v) VALUES (1, 0), (2, 0)",
    ] {
        DB::execute(&mut *conn, &Sql::new(sql)).await.expect(sql);
    }
    let writes = |first_new: i64, with_missing_row: bool| {
        let mut parts = Parts::<DB, &'static str>::new();
        parts
            .part(1, "first row")
            .push("UPDATE scratch SET v = v + ")
            .push_int(1)
            .push(" WHERE id = ")
            .push_int(1);
        parts
            .part(2, "inserts")
            .push("INSERT INTO scratch (id, v) VALUES ")
            .push_values([
                [Bind::Int(first_new), Bind::Int(0)],
                [Bind::Int(first_new + 1), Bind::Int(0)],
            ]);
        if with_missing_row {
            parts
                .part(1, "missing row")
                .push("UPDATE scratch SET v = ")
                .push_int(7)
                .push(" WHERE id = ")
                .push_int(99);
        }
        parts
            .part(1, "second row")
            .push("UPDATE scratch SET v = v + ")
            .push_int(5)
            .push(" WHERE id = ")
            .push_int(2);
        parts
    };
    let agreed = writes(3, false).run(&mut *conn).await.expect("writes");
    let totals = Sql::<DB>::new("SELECT COUNT(*), CAST(SUM(v) AS BIGINT) FROM scratch");
    let row = DB::fetch_one(&mut *conn, &totals).await.expect("totals");
    assert_eq!(
        (row.int(0).expect("count"), row.int(1).expect("sum")),
        (4, 6),
        "every write of the first batch took effect, with its values"
    );
    let short = writes(5, true).run(&mut *conn).await.expect("writes");
    [agreed, short]
}
