//! Licences in the store: issue with the application's update, changes
//! decided under lock, replays, and racing changes that never overdraw a
//! counter (two stores on one database, as two processes).

use std::sync::Arc;

use super::*;
use crate::store::{
    Decide, EndUserRekey, KeyCursor, LicenseFilter, LicenseOutcome, LicenseRow, LicenseWrite,
    ShipmentFilter, ShipmentRow,
};

fn license(id: &str, holder: &str, issued_at: i64) -> LicenseRow {
    LicenseRow {
        id: id.to_owned(),
        application_id: id.to_owned(),
        version: 1,
        holder: holder.to_owned(),
        state: "ACTIVE".to_owned(),
        destination: "CN".to_owned(),
        end_user: "Example Cloud Co.".to_owned(),
        issued_at,
        expires_at: issued_at + 1_000,
        updated_at: issued_at,
        snapshot: "0".to_owned(),
    }
}

/// Files `id` and issues its licence with the decision.
async fn issued(store: &dyn Store, id: &str, holder: &str, at: i64) -> LicenseRow {
    let row = app(id, at);
    store
        .create(&row, &[ev("ApplicationFiled", at)], None)
        .await
        .expect("create");
    let lic = license(id, holder, at + 1);
    let decided = next(&row, "DECIDED");
    let outcome = store
        .issue_license(
            row.version,
            &decided,
            &[ev("Decided", at + 1), ev("LicenseIssued", at + 1)],
            Some(&req(&format!("issue-{id}"), "f")),
            &lic,
        )
        .await
        .expect("issue");
    assert_eq!(outcome, WriteOutcome::Committed);
    lic
}

/// A decision that ships one unit while the counter stays under `cap`;
/// the shipped count is the licence's snapshot.
fn ship_one(cap: i64) -> Decide {
    Arc::new(move |view| {
        let shipped: i64 = view.row.snapshot.parse().ok()?;
        let counted = view.counters.get("units").copied().unwrap_or(0);
        if counted >= cap {
            return None;
        }
        let number = shipped + 1;
        Some(LicenseWrite {
            row: LicenseRow {
                version: view.row.version + 1,
                snapshot: number.to_string(),
                updated_at: view.row.updated_at + 1,
                ..view.row.clone()
            },
            events: vec![ev("ShipmentRecorded", view.row.updated_at + 1)],
            shipments: vec![ShipmentRow {
                id: format!("{}/shipments/{number}", view.row.id),
                license_id: view.row.id.clone(),
                holder: view.row.holder.clone(),
                kind: "EXPORT".to_owned(),
                shipped_at: 1_000 + number,
                recorded_at: 1_000 + number,
                details: format!("{{\"n\":{number}}}"),
            }],
            counters: vec![("units".to_owned(), 1)],
            response: Some(format!("shipment {number}")),
        })
    })
}

pub(crate) async fn licenses_are_issued_with_the_decision(backend: &dyn Backend) {
    let store = backend.store();
    let lic = issued(&*store, "a1", "acme", 10).await;
    assert_eq!(store.get_license("a1").await.unwrap(), Some(lic.clone()));
    assert_eq!(store.get("a1").await.unwrap().unwrap().state, "DECIDED");
    assert_eq!(event_count(&*store, Some("a1")).await, 3);
    // The issue is a compare-and-set on the application's version.
    let stale = store
        .issue_license(
            1,
            &next(&app("a1", 10), "DECIDED"),
            &[ev("Decided", 12)],
            None,
            &license("a1", "acme", 12),
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::VersionConflict { .. })),
        "{stale:?}"
    );
    // A retried issue is answered as before.
    let again = store
        .issue_license(
            1,
            &next(&app("a1", 10), "DECIDED"),
            &[ev("Decided", 12)],
            Some(&req("issue-a1", "f")),
            &license("a1", "acme", 12),
        )
        .await
        .unwrap();
    assert!(matches!(again, WriteOutcome::Replayed { .. }), "{again:?}");
    assert_chain_intact(&*store).await;
}

pub(crate) async fn license_changes_are_decided_under_lock(backend: &dyn Backend) {
    let store = backend.store();
    issued(&*store, "a1", "acme", 10).await;
    issued(&*store, "a2", "other", 20).await;
    let keys = vec!["units".to_owned()];
    let outcome = store
        .change_license("a1", &keys, Some(&req("r1", "f")), ship_one(2))
        .await
        .unwrap();
    assert_eq!(outcome, LicenseOutcome::Committed);
    let outcome = store
        .change_license("a2", &keys, None, ship_one(2))
        .await
        .unwrap();
    assert_eq!(outcome, LicenseOutcome::Committed);
    // The counter is shared by both licences: the cap holds across them.
    let declined = store
        .change_license("a1", &keys, Some(&req("r2", "f")), ship_one(2))
        .await
        .unwrap();
    assert_eq!(declined, LicenseOutcome::Declined);
    assert_eq!(
        store.find_request("r2").await.unwrap(),
        None,
        "a declined change records nothing"
    );
    // A retry is replayed with the decision's answer; another content refused.
    let replay = store
        .change_license("a1", &keys, Some(&req("r1", "f")), ship_one(100))
        .await
        .unwrap();
    assert_eq!(
        replay,
        LicenseOutcome::Replayed {
            response: "shipment 1".into()
        }
    );
    let reused = store
        .change_license("a1", &keys, Some(&req("r1", "g")), ship_one(100))
        .await;
    assert!(
        matches!(reused, Err(StoreError::RequestIdReused(_))),
        "{reused:?}"
    );
    let missing = store
        .change_license("nope", &keys, None, ship_one(100))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );

    let row = store.get_license("a1").await.unwrap().unwrap();
    assert_eq!((row.version, row.snapshot.as_str()), (2, "1"));
    assert_eq!(store.license_counters(&keys).await.unwrap()["units"], 2);
    assert_eq!(event_count(&*store, Some("a1")).await, 4);
    assert_eq!(
        store.get("a1").await.unwrap().unwrap().version,
        2,
        "licence events leave the application's version alone"
    );
    assert_chain_intact(&*store).await;

    // Reads: filters, keyset pages, the sweeper's queue.
    let all = store
        .list_licenses(&LicenseFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        ["a2", "a1"]
    );
    let page = store
        .list_licenses(
            &LicenseFilter::default(),
            Some(&KeyCursor {
                at: all[0].issued_at,
                id: all[0].id.clone(),
            }),
            10,
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    for filter in [
        LicenseFilter {
            holder: Some("other".into()),
            ..LicenseFilter::default()
        },
        LicenseFilter {
            expires_before: Some(1_015),
            ..LicenseFilter::default()
        },
    ] {
        let found = store.list_licenses(&filter, None, 10).await.unwrap();
        assert_eq!(found.len(), 1, "{filter:?}");
    }
    assert_eq!(store.licenses_due(1_011, 10).await.unwrap().len(), 1);
    for filter in [
        ShipmentFilter {
            license_id: Some("a1".into()),
            ..ShipmentFilter::default()
        },
        ShipmentFilter {
            holder: Some("other".into()),
            from: Some(0),
            to: Some(5_000),
            ..ShipmentFilter::default()
        },
    ] {
        let found = store.list_shipments(&filter, None, 10).await.unwrap();
        assert_eq!(found.len(), 1, "{filter:?}");
    }
}

/// Whether `table`'s row `id` records a chain of `length` events.
async fn records_chain_length(backend: &dyn Backend, table: &str, id: &str, length: i64) -> bool {
    // An update that changes nothing, as a probe of the row's columns.
    let probe = format!(
        "UPDATE {table} SET chain_length = chain_length WHERE id = '{id}' AND chain_length = {length}"
    );
    backend.execute(&probe).await == Ok(1)
}

pub(crate) async fn a_license_carries_its_chain_head_on(backend: &dyn Backend) {
    let store = backend.store();
    issued(&*store, "a1", "acme", 10).await;
    issued(&*store, "a2", "acme", 20).await;
    let keys = vec!["units".to_owned()];
    for license in ["a1", "a1", "a2"] {
        let outcome = store
            .change_license(license, &keys, None, ship_one(100))
            .await
            .unwrap();
        assert_eq!(outcome, LicenseOutcome::Committed);
    }
    // Filed, decided and issued: three events on the application row; the
    // licence's row carries the chain on through its two shipments.
    assert!(records_chain_length(backend, "applications", "a1", 3).await);
    assert!(records_chain_length(backend, "licenses", "a1", 5).await);
    assert_chain_intact(&*store).await;

    backend
        .execute(backend.lift_append_only_sql())
        .await
        .expect("lift guard");
    // The newest shipment's event removed: the licence's head catches it.
    backend
        .execute("DELETE FROM events WHERE application_id = 'a1' AND application_sequence = 5")
        .await
        .expect("delete");
    assert_eq!(break_at(&*store, "a1").await, Some(5));
    // The database refuses what an earlier release would write: a
    // licensed application's head moved on its row, a licence naming no
    // head.
    assert!(backend
        .execute("UPDATE applications SET chain_length = 5 WHERE id = 'a2'")
        .await
        .is_err());
    store
        .create(&app("a3", 30), &[ev("ApplicationFiled", 30)], None)
        .await
        .expect("create");
    assert!(backend
        .execute(
            "INSERT INTO licenses (id, application_id, version, holder, state, destination, \
             end_user, issued_at, expires_at, updated_at, snapshot) \
             VALUES ('a3', 'a3', 1, 'acme', 'ACTIVE', 'CN', 'x', 31, 1031, 31, '0')"
        )
        .await
        .is_err());
    // Someone with direct access can lift the guard; the application
    // row's record must still lie on the chain where the issue left it.
    backend
        .execute(backend.lift_licensed_chain_guard_sql())
        .await
        .expect("lift guard");
    assert_eq!(
        backend
            .execute("UPDATE applications SET chain_head = 'forged' WHERE id = 'a2'")
            .await,
        Ok(1)
    );
    assert_eq!(break_at(&*store, "a2").await, Some(3));
    assert_eq!(
        backend
            .execute(
                "UPDATE applications SET chain_length = 9, chain_head = 'forged' WHERE id = 'a2'"
            )
            .await,
        Ok(1)
    );
    assert_eq!(break_at(&*store, "a2").await, Some(5));
}

pub(crate) async fn racing_license_changes_never_overdraw(backend: &dyn Backend) {
    let store = backend.store();
    let other = backend.another_store().await;
    issued(&*store, "a1", "acme", 10).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = if i % 2 == 0 {
            Arc::clone(&store)
        } else {
            Arc::clone(&other)
        };
        tasks.push(tokio::spawn(async move {
            store
                .change_license("a1", &["units".to_owned()], None, ship_one(40))
                .await
        }));
    }
    let mut committed = 0;
    for task in tasks {
        match task.await.unwrap().expect("no error") {
            LicenseOutcome::Committed => committed += 1,
            LicenseOutcome::Declined => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(committed, 40);
    let row = store.get_license("a1").await.unwrap().unwrap();
    assert_eq!(row.snapshot, "40");
    assert_eq!(
        store.license_counters(&["units".to_owned()]).await.unwrap()["units"],
        40
    );
    assert_eq!(event_count(&*store, Some("a1")).await, 3 + 40);
    assert_chain_intact(&*store).await;
}

/// Changes queued together on several licences sharing one counter, with
/// request ids repeated across them (as retries landing in one batch): each
/// request id ships once, the others are replayed with its answer, and the
/// shared counter stops the last ones.
pub(crate) async fn batched_changes_share_counters_and_replays(backend: &dyn Backend) {
    let store = backend.store();
    for id in ["b1", "b2", "b3"] {
        issued(&*store, id, "acme", 10).await;
    }
    let mut tasks = Vec::new();
    for i in 0..90 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let license = ["b1", "b2", "b3"][i % 3];
            let request = req(&format!("r{}", i % 30), "f");
            let outcome = store
                .change_license(license, &["units".to_owned()], Some(&request), ship_one(25))
                .await;
            (i % 30, outcome)
        }));
    }
    let mut committed = HashSet::new();
    let mut declined = 0;
    for task in tasks {
        let (request, outcome) = task.await.unwrap();
        match outcome.expect("no error") {
            LicenseOutcome::Committed => assert!(committed.insert(request), "r{request} twice"),
            LicenseOutcome::Declined => declined += 1,
            LicenseOutcome::Replayed { .. } => {}
        }
    }
    assert_eq!(committed.len(), 25, "{declined} declined");
    assert_eq!(
        store.license_counters(&["units".to_owned()]).await.unwrap()["units"],
        25
    );
    let mut shipped = 0;
    for id in ["b1", "b2", "b3"] {
        let row = store.get_license(id).await.unwrap().unwrap();
        let n: i64 = row.snapshot.parse().unwrap();
        assert_eq!(row.version, 1 + n);
        assert_eq!(event_count(&*store, Some(id)).await, 3 + n as usize);
        shipped += n;
    }
    assert_eq!(shipped, 25);
    for request in &committed {
        assert!(store
            .find_request(&format!("r{request}"))
            .await
            .unwrap()
            .is_some());
    }
    assert_chain_intact(&*store).await;
}

/// What earlier releases stored by end-user name as written, or per end
/// user and product, is moved to one counter per end user when a store
/// opens (added together where two spellings now name one end user, or
/// two products were counted apart), and the licences' column the list
/// filters on to the end user's key. Opening again moves nothing; other
/// counters stay as they were.
pub(crate) async fn old_end_user_counters_are_moved_on_open(backend: &dyn Backend) {
    // As the first release wrote it: the name as filed.
    issued(&*backend.store(), "l1", "acme", 10).await;
    let old = [
        "end-user-units|example cloud co.|H200",
        "end-user-units|example cloud, ltd|H200",
        // As the next one wrote it: the end user's key, per product.
        "end-user|exarnplecloud|NVIDIA H200 SXM 141GB",
        "end-user|exarnplecloud|AMD Instinct MI325X",
    ];
    let new = crate::licensing::rules::counter::end_user_units("Example Cloud");
    backend
        .execute(&format!(
            "INSERT INTO license_counters (counter, value) VALUES \
             ('{}', 350), ('{}', 10), ('{}', 1000), ('{}', 20000), ('{new}', 5), \
             ('exported-tpp|acme|H200', 7)",
            old[0], old[1], old[2], old[3]
        ))
        .await
        .unwrap();
    let mut keys: Vec<String> = old.iter().map(|k| k.to_string()).collect();
    keys.extend([new.clone(), "exported-tpp|acme|H200".to_owned()]);
    for _ in 0..2 {
        let store = backend.another_store().await;
        let counters = store.license_counters(&keys).await.unwrap();
        assert_eq!(counters.get(&new), Some(&21_365), "{counters:?}");
        assert_eq!(counters.get("exported-tpp|acme|H200"), Some(&7));
        assert!(
            old.iter().all(|k| !counters.contains_key(*k)),
            "{counters:?}"
        );
        let filter = LicenseFilter {
            end_user: Some(crate::licensing::rules::counter::end_user_key(
                "Example Cloud",
            )),
            ..LicenseFilter::default()
        };
        let found = store.list_licenses(&filter, None, 10).await.unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].end_user, "exarnplecloud", "m is rn to the eye");
    }
}

/// Raising counters creates what is missing, lifts what is below its
/// value and leaves what is at or above it alone, however often it is
/// asked.
pub(crate) async fn counters_raised(backend: &dyn Backend) {
    let store = backend.store();
    backend
        .execute("INSERT INTO license_counters (counter, value) VALUES ('zero', 0), ('five', 5)")
        .await
        .unwrap();
    let values: Vec<(String, i64)> = [("zero", 1), ("five", 3), ("new", 1)]
        .map(|(key, value)| (key.to_owned(), value))
        .to_vec();
    let keys: Vec<String> = ["zero", "five", "new"].map(String::from).to_vec();
    for _ in 0..2 {
        store.raise_counters(&values).await.unwrap();
        let counters = store.license_counters(&keys).await.unwrap();
        assert_eq!(counters.get("zero"), Some(&1));
        assert_eq!(counters.get("five"), Some(&5));
        assert_eq!(counters.get("new"), Some(&1));
    }
    store
        .raise_counters(&[("five".to_owned(), 1_700_000_000_000)])
        .await
        .unwrap();
    let counters = store.license_counters(&keys).await.unwrap();
    assert_eq!(counters.get("five"), Some(&1_700_000_000_000));

    // Processes raising the same counters at once (each walks the old
    // domestic shipments when it starts), in whatever order they list
    // them: the store locks them in key order, and none deadlocks.
    let other = backend.another_store().await;
    let values: Vec<(String, i64)> = (0..300).map(|i| (format!("walk|{i:03}"), i)).collect();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 {
                Arc::clone(&store)
            } else {
                Arc::clone(&other)
            };
            let mut values = values.clone();
            if i % 4 == 1 {
                values.reverse();
            }
            tokio::spawn(async move { store.raise_counters(&values).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("raised");
    }
}

/// A licence moved to its end user's new key takes the count under the
/// old key with it, once however often it is asked, and leaves alone a
/// row that no longer holds the old key.
pub(crate) async fn end_user_keys_moved(backend: &dyn Backend) {
    let store = backend.store();
    issued(&*store, "a1", "acme", 10).await;
    issued(&*store, "a2", "acme", 20).await;
    for sql in [
        "UPDATE licenses SET end_user = 'old' WHERE id = 'a1'",
        "UPDATE licenses SET end_user = 'kept' WHERE id = 'a2'",
        "INSERT INTO license_counters (counter, value) \
         VALUES ('end-user-cap|old', 70000), ('end-user-cap|new', 5)",
    ] {
        backend.execute(sql).await.unwrap();
    }
    let moves = [
        EndUserRekey {
            license_id: "a1".into(),
            from: "old".into(),
            to: "new".into(),
        },
        EndUserRekey {
            license_id: "a2".into(),
            from: "gone".into(),
            to: "new".into(),
        },
    ];
    assert_eq!(store.move_end_user_keys(&moves).await.unwrap(), 1);
    assert_eq!(store.move_end_user_keys(&moves).await.unwrap(), 0);
    let keys = ["end-user-cap|old", "end-user-cap|new"].map(String::from);
    let counters = store.license_counters(&keys).await.unwrap();
    assert_eq!(counters.get("end-user-cap|new"), Some(&70_005));
    assert_eq!(counters.get("end-user-cap|old"), Some(&70_000));
    let by_key = |key: &str| LicenseFilter {
        end_user: Some(key.to_owned()),
        ..LicenseFilter::default()
    };
    let found = store.list_licenses(&by_key("new"), None, 10).await.unwrap();
    assert_eq!(
        found.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        ["a1"]
    );
    let kept = store
        .list_licenses(&by_key("kept"), None, 10)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
}
