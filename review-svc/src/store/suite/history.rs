//! Cases of the store suite: chain verification, tampering, audit checkpoints.

use super::*;

/// Files `id` (its first event, then `more`) and updates it `steps` times,
/// one event each.
async fn stepped(store: &dyn Store, id: &str, more: &[NewEvent], steps: i64) {
    let mut row = app(id, 1);
    let first: Vec<NewEvent> = std::iter::once(ev("CREATED", 1))
        .chain(more.iter().cloned())
        .collect();
    store.create(&row, &first, None).await.expect("create");
    for i in 0..steps {
        let n = next(&row, "S");
        store
            .update(row.version, &n, &[ev("STEP", 2 + i)], None)
            .await
            .expect("update");
        row = n;
    }
}

pub(super) async fn events_of_kinds_picks_by_kind(b: &dyn Backend) {
    let store = b.store();
    stepped(&*store, "q1", &[ev("NOTE", 1)], 3).await;
    stepped(&*store, "q2", &[ev("NOTE", 1)], 1).await;
    let picked = store
        .events_of_kinds(&["q1"], &["CREATED", "NOTE"])
        .await
        .expect("events of kinds");
    let seen: Vec<_> = picked
        .iter()
        .map(|e| {
            (
                e.application_id.as_str(),
                e.application_sequence,
                e.kind.as_str(),
            )
        })
        .collect();
    assert_eq!(seen, [("q1", 1, "CREATED"), ("q1", 2, "NOTE")]);
    let both = store
        .events_of_kinds(&["q2", "q1"], &["CREATED"])
        .await
        .expect("events of kinds");
    let seen: Vec<_> = both.iter().map(|e| e.application_id.as_str()).collect();
    assert_eq!(seen, ["q1", "q2"]);
    assert!(store
        .events_of_kinds(&["q1"], &[])
        .await
        .expect("no kinds")
        .is_empty());
    assert!(store
        .events_of_kinds(&["nope"], &["CREATED"])
        .await
        .expect("unknown application")
        .is_empty());
}

pub(super) async fn service_keys_are_decided_once(b: &dyn Backend) {
    let store = b.store();
    let first = store.service_key("api", "aa11").await.expect("key");
    assert_eq!(first, "aa11");
    let again = store.service_key("api", "bb22").await.expect("key");
    assert_eq!(again, "aa11", "a second process gets the first key");
    let other = store.service_key("other", "cc33").await.expect("key");
    assert_eq!(other, "cc33");
}

pub(super) async fn verify_intact_chain(b: &dyn Backend) {
    let store = b.store();
    stepped(&*store, "k1", &[ev("NOTE", 1)], 4).await;
    store
        .create(&app("k2", 2), &[ev("CREATED", 2)], None)
        .await
        .expect("create");
    store
        .create(&app("k3", 3), &[], None)
        .await
        .expect("create");
    let report = store.verify_chain(None).await.expect("verify");
    assert_eq!(report.first_break, None);
    assert_eq!(report.events_checked, 7);
    assert_eq!(report.applications_checked, 3);
    let one = store.verify_chain(Some("k1")).await.expect("verify");
    assert_eq!(one.first_break, None);
    assert_eq!((one.applications_checked, one.events_checked), (1, 6));
    let missing = store.verify_chain(Some("nope")).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

pub(super) async fn verify_reports_tampering(b: &dyn Backend) {
    let store = b.store();
    stepped(&*store, "t1", &[], 3).await;
    create_filed(&*store, &app("t0", 1), None)
        .await
        .expect("create");
    create_filed(&*store, &app("t2", 1), None)
        .await
        .expect("create");

    let tamper = "UPDATE events SET details = '{\"forged\":true}' \
                  WHERE application_id = 't1' AND application_sequence = 3";
    // The database itself refuses to change history...
    assert!(
        b.execute(tamper).await.is_err(),
        "events must be append-only"
    );
    assert_chain_intact(&*store).await;
    // ...but someone with direct access can lift the guard.
    b.execute(b.lift_append_only_sql())
        .await
        .expect("lift guard");
    assert_eq!(b.execute(tamper).await, Ok(1));

    let report = store.verify_chain(None).await.expect("verify");
    let (id, sequence, what) = report.first_break.clone().expect("break reported");
    assert_eq!((id.as_str(), sequence), ("t1", 3), "{what}");
    assert_eq!(report.events_checked, 6);
    assert_eq!(break_at(&*store, "t1").await, Some(3));
    assert_eq!(break_at(&*store, "t2").await, None);

    // A relinked chain (hash recomputed for the forged content) still breaks at the next link.
    let forged = crate::store::chain::event_hash(
        &store.events(Some("t1"), 0, 10).await.expect("events")[1].hash,
        "t1",
        3,
        "STEP",
        "user:alice",
        3,
        "{\"forged\":true}",
    );
    b.execute(&format!(
        "UPDATE events SET hash = '{forged}' WHERE application_id = 't1' AND application_sequence = 3"
    ))
    .await
    .expect("forge hash");
    assert_eq!(break_at(&*store, "t1").await, Some(4));

    // Removing the newest event is caught by the chain head on the row.
    b.execute("DELETE FROM events WHERE application_id = 't2'")
        .await
        .expect("delete");
    assert_eq!(break_at(&*store, "t2").await, Some(1));
}

/// A history rewritten consistently inside the database (an event's
/// content, the hashes of its chain from there on and the row's head)
/// passes the chain verification, but not a signed checkpoint taken before.
pub(super) async fn checkpoint_detects_consistent_rewrite(b: &dyn Backend) {
    use crate::audit::{AuditError, Auditor};
    let store = b.store();
    stepped(&*store, "r1", &[], 3).await;
    store
        .create(&app("r2", 2), &[ev("CREATED", 2)], None)
        .await
        .expect("create");
    let auditor = Auditor::open(store.clone(), None).expect("auditor");
    let checkpoint = auditor.checkpoint(false, 10).await.expect("checkpoint");
    let all = store.events(None, 0, 100).await.expect("events");
    assert_eq!(checkpoint.sequence, all.last().expect("events").sequence);
    assert_eq!(
        auditor.checkpoint(false, 11).await.expect("latest"),
        checkpoint
    );
    assert!(auditor.check(&checkpoint).await.expect("check").matches);
    // Later events are not the checkpoint's business.
    store
        .create(&app("r3", 3), &[ev("CREATED", 3)], None)
        .await
        .expect("create");
    assert!(auditor.check(&checkpoint).await.expect("check").matches);

    b.execute(b.lift_append_only_sql())
        .await
        .expect("lift guard");
    let events = store.events(Some("r1"), 0, 10).await.expect("events");
    let mut previous = events[0].hash.clone();
    for e in &events[1..] {
        let details = if e.application_sequence == 2 {
            "{\"forged\":true}".to_owned()
        } else {
            e.details.clone()
        };
        let hash = crate::store::chain::event_hash(
            &previous,
            "r1",
            e.application_sequence,
            &e.kind,
            &e.actor,
            e.at,
            &details,
        );
        b.execute(&format!(
            "UPDATE events SET details = '{details}', previous_hash = '{previous}', \
             hash = '{hash}' WHERE sequence = {}",
            e.sequence
        ))
        .await
        .expect("rewrite event");
        previous = hash;
    }
    b.execute(&format!(
        "UPDATE applications SET chain_head = '{previous}' WHERE id = 'r1'"
    ))
    .await
    .expect("rewrite head");

    // The chains verify: the rewrite is consistent...
    assert_chain_intact(&*store).await;
    // ...but the history no longer hashes to the checkpoint's digest.
    let check = auditor.check(&checkpoint).await.expect("check");
    assert!(!check.matches, "{check:?}");
    // Nor does the service sign over the rewrite: a new checkpoint
    // extends the last one.
    let fresh = auditor
        .checkpoint(true, 20)
        .await
        .expect("fresh checkpoint");
    assert!(fresh.sequence > checkpoint.sequence);
    assert!(!auditor.check(&fresh).await.expect("check").matches);

    // A digest made to match is not signed; another key's checkpoint is refused.
    let mut forged = checkpoint.clone();
    forged.digest = check.stored_digest.clone();
    assert!(matches!(
        auditor.check(&forged).await,
        Err(AuditError::NotOurs(_))
    ));
    let other = Auditor::open(store.clone(), None).expect("auditor");
    assert!(matches!(
        other.check(&checkpoint).await,
        Err(AuditError::NotOurs(_))
    ));
}
