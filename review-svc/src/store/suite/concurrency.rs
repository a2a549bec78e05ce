//! Cases of the store suite: concurrent writers, in one process and two.

use super::*;

pub(super) async fn concurrent_conflicting_updates_one_winner(b: &dyn Backend) {
    let stores = [b.store(), b.another_store().await];
    let first = stores[0].clone();
    let base = app("race", 1);
    create_filed(&*first, &base, None).await.expect("create");
    let tasks = spawn_writers(&stores, 16, |store, i| {
        let row = next(&base, &format!("S{i}"));
        async move {
            store
                .update(
                    1,
                    &row,
                    &[ev(&format!("U{i}"), 2)],
                    Some(&req(&format!("race-{i}"), "f")),
                )
                .await
        }
    });
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(WriteOutcome::Committed) => winners += 1,
            Err(StoreError::VersionConflict {
                current: 2,
                expected: 1,
                ..
            }) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(winners, 1);
    let row = first.get("race").await.expect("get").expect("row");
    assert_eq!(row.version, 2);
    assert_eq!(event_count(&*first, Some("race")).await, 2);
    assert_chain_intact(&*stores[1]).await;
}

pub(super) async fn concurrent_same_request_updates(b: &dyn Backend) {
    let stores = [b.store(), b.another_store().await];
    let first = stores[0].clone();
    let base = app("retry", 1);
    create_filed(&*first, &base, None).await.expect("create");
    let request = req("same-update", "f");
    let row = next(&base, "S");
    let tasks = spawn_writers(&stores, 8, |store, _| {
        let (row, request) = (row.clone(), request.clone());
        async move { store.update(1, &row, &[ev("U", 2)], Some(&request)).await }
    });
    one_commit_then_replays(tasks, &request).await;
    assert_eq!(event_count(&*first, Some("retry")).await, 2);
}

pub(super) async fn concurrent_same_request_creates_one_row(b: &dyn Backend) {
    let stores = [b.store(), b.another_store().await];
    let first = stores[0].clone();
    let request = req("same-create", "f");
    let tasks = spawn_writers(&stores, 16, |store, i| {
        let request = request.clone();
        // Half reuse one application id, half mint their own, as a service might.
        let id = if i % 4 < 2 {
            "same".to_owned()
        } else {
            format!("minted-{i}")
        };
        async move { create_filed(&*store, &app(&id, 1), Some(&request)).await }
    });
    one_commit_then_replays(tasks, &request).await;
    assert_eq!(all_ids(&*first, &ListFilter::default()).await.len(), 1);
    assert_eq!(event_count(&*first, None).await, 1);
    assert_chain_intact(&*first).await;
}

pub(super) async fn concurrent_distinct_creates(b: &dyn Backend) {
    let store = b.store();
    let tasks = spawn_writers(std::slice::from_ref(&store), 64, |store, i| async move {
        let row = ApplicationRow {
            awaiting_agencies: vec!["STATE".into()],
            ..app(&format!("m{i:03}"), i)
        };
        let events = [ev("CREATED", i), ev("REFERRED", i)];
        let request = req(&format!("m-{i}"), "f");
        let outcome = store.create(&row, &events, Some(&request)).await?;
        // A duplicate of the same request, racing in the same batch or the next.
        let replay = store.create(&row, &events, Some(&request)).await?;
        Ok::<_, StoreError>((outcome, replay))
    });
    for task in tasks {
        let (outcome, replay) = task.await.expect("task").expect("create");
        assert_eq!(outcome, WriteOutcome::Committed);
        assert!(matches!(replay, WriteOutcome::Replayed { .. }));
    }
    assert_eq!(all_ids(&*store, &awaiting("STATE")).await.len(), 64);
    assert_eq!(event_count(&*store, None).await, 128);
    assert_chain_intact(&*store).await;
}

pub(super) async fn concurrent_creates_then_updates(b: &dyn Backend) {
    let store = b.store();
    let tasks = spawn_writers(std::slice::from_ref(&store), 32, |store, i| async move {
        let v1 = ApplicationRow {
            awaiting_agencies: vec!["STATE".into()],
            ..app(&format!("cu{i:02}"), 1_000 + i / 4)
        };
        store.create(&v1, &[ev("CREATED", 1)], None).await?;
        let v2 = ApplicationRow {
            awaiting_agencies: vec!["ENERGY".into()],
            ..next(&v1, "AGENCY_REVIEW")
        };
        let events = [ev("A", 2), ev("B", 2)];
        let request = req(&format!("cu-a-{i}"), "f");
        store.update(1, &v2, &events, Some(&request)).await?;
        let v3 = ApplicationRow {
            awaiting_agencies: vec!["STATE".into(), "DEFENSE".into()],
            ..next(&v2, "ESCALATED")
        };
        store.update(2, &v3, &[ev("C", 3)], None).await?;
        // A late retry of the first update.
        let retry = store.update(1, &v2, &events, Some(&request)).await?;
        Ok::<_, StoreError>((v3, retry))
    });
    for task in tasks {
        let (v3, retry) = task.await.expect("task").expect("writes");
        assert!(matches!(retry, WriteOutcome::Replayed { .. }), "{retry:?}");
        let stored = store.get(&v3.id).await.expect("get").expect("row");
        assert_eq!(stored, v3);
        assert_eq!(event_count(&*store, Some(&v3.id)).await, 4);
    }
    assert_eq!(all_ids(&*store, &awaiting("STATE")).await.len(), 32);
    assert_eq!(all_ids(&*store, &awaiting("DEFENSE")).await.len(), 32);
    assert!(all_ids(&*store, &awaiting("ENERGY")).await.is_empty());
    assert_chain_intact(&*store).await;
}
