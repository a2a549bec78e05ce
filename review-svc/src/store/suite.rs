//! The store test-suite: every case runs against SQLite and PostgreSQL,
//! one `#[tokio::test]` per case and backend (`store::suite::sqlite::*`,
//! `store::suite::postgres::*`).
//!
//! PostgreSQL cases run when `REVIEW_TEST_DATABASE_URL` is set; each uses a
//! schema of its own (`t_<random>`, dropped at the end). Without the
//! variable each case writes "skipped: REVIEW_TEST_DATABASE_URL not set"
//! straight to the terminal (not captured by the test harness), and with
//! `REVIEW_REQUIRE_POSTGRES=1` the missing variable fails the cases instead.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::Connection;

use super::batch::WriteOp;
use super::postgres::{PostgresOptions, PostgresStore};
use super::sqlite::SqliteStore;
use super::{
    ApplicationRow, IdempotentRequest, ListCursor, ListFilter, NewEvent, Store, StoreError,
    WriteOutcome,
};

/// A database to run a case on.
#[async_trait]
pub(crate) trait Backend: Send + Sync {
    fn store(&self) -> Arc<dyn Store>;
    /// A second, independent store (own pools) on the same database, as
    /// another process would have.
    async fn another_store(&self) -> Arc<dyn Store>;
    /// Runs SQL directly on the database, outside the store.
    async fn execute(&self, sql: &str) -> Result<u64, String>;
    /// SQL that lifts the append-only guard on `events`.
    fn lift_append_only_sql(&self) -> &'static str;
    /// Runs `ops` as one batch (one transaction), as the writer tasks do.
    async fn run_batch(
        &self,
        ops: &[&WriteOp],
    ) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError>;
}

// ---------------------------------------------------------------------------
// Backends.

struct SqliteBackend {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: Arc<dyn Store>,
}

pub(crate) async fn sqlite_backend(_case: &str) -> Option<Box<dyn Backend>> {
    let dir = tempfile::tempdir().expect("temporary directory");
    // A directory that does not exist yet: the store creates it.
    let path = dir.path().join("data").join("review.db");
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::open(&url).await.expect("open SQLite store");
    Some(Box::new(SqliteBackend {
        _dir: dir,
        path,
        store: Arc::new(store),
    }))
}

#[async_trait]
impl Backend for SqliteBackend {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn another_store(&self) -> Arc<dyn Store> {
        Arc::new(
            SqliteStore::open(&self.path.display().to_string())
                .await
                .expect("open second SQLite store"),
        )
    }

    async fn execute(&self, sql: &str) -> Result<u64, String> {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&self.path);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| e.to_string())?;
        let done = sqlx::Executor::execute(&mut conn, sql)
            .await
            .map_err(|e| e.to_string());
        let _ = conn.close().await;
        done.map(|r| r.rows_affected())
    }

    fn lift_append_only_sql(&self) -> &'static str {
        "DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete"
    }

    async fn run_batch(
        &self,
        ops: &[&WriteOp],
    ) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError> {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&self.path)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("pool");
        let results = super::sqlite::run_batch(&pool, ops).await;
        pool.close().await;
        results
    }
}

struct PostgresBackend {
    url: String,
    schema: String,
    options: sqlx::postgres::PgConnectOptions,
    store_options: PostgresOptions,
    store: Arc<dyn Store>,
}

fn skip_postgres<T>(case: &str) -> Option<T> {
    if std::env::var("REVIEW_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!("REVIEW_REQUIRE_POSTGRES=1 but REVIEW_TEST_DATABASE_URL is not set");
    }
    // Straight to the terminal: the harness captures only print!/eprint!.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "{case}: skipped: REVIEW_TEST_DATABASE_URL not set"
    );
    None
}

pub(crate) async fn postgres_backend(case: &str) -> Option<Box<dyn Backend>> {
    postgres_backend_with(case, test_options(true)).await
}

/// Writes without the batching writer tasks: one statement per call.
pub(crate) async fn postgres_unbatched_backend(case: &str) -> Option<Box<dyn Backend>> {
    postgres_backend_with(case, test_options(false)).await
}

fn test_options(batched: bool) -> PostgresOptions {
    PostgresOptions {
        max_connections: 4,
        batch_writers: if batched { 2 } else { 0 },
        ..PostgresOptions::default()
    }
}

async fn postgres_backend_with(
    case: &str,
    store_options: PostgresOptions,
) -> Option<Box<dyn Backend>> {
    let backend = postgres_schema_backend(case, store_options).await?;
    Some(Box::new(backend))
}

/// A PostgreSQL store in a schema of its own (dropped with the backend).
async fn postgres_schema_backend(
    case: &str,
    store_options: PostgresOptions,
) -> Option<PostgresBackend> {
    let url = match std::env::var("REVIEW_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => return skip_postgres(case),
    };
    let schema = format!("t_{:016x}", rand::random::<u64>());
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect to REVIEW_TEST_DATABASE_URL");
    sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("create test schema");
    let _ = admin.close().await;
    let options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .expect("valid URL")
        .options([("search_path", schema.as_str())]);
    let store = PostgresStore::connect_with(options.clone(), store_options.clone())
        .await
        .expect("open PostgreSQL store");
    Some(PostgresBackend {
        url,
        schema,
        options,
        store_options,
        store: Arc::new(store),
    })
}

/// Statements are planned for their parameters, never from a cached
/// generic plan (see `PostgresStore::connect_with`).
#[tokio::test]
async fn postgres_statements_are_planned_for_their_parameters() {
    let Some(backend) = postgres_schema_backend("plan_cache_mode", test_options(true)).await else {
        return;
    };
    let store = PostgresStore::connect_with(backend.options.clone(), test_options(true))
        .await
        .expect("open PostgreSQL store");
    let mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
        .fetch_one(store.pool())
        .await
        .expect("show");
    assert_eq!(mode, "force_custom_plan");
}

impl Drop for PostgresBackend {
    /// Drops the schema even when the case panicked.
    fn drop(&mut self) {
        let url = self.url.clone();
        let schema = self.schema.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "could not drop test schema {}: {dropped:?}",
                self.schema
            );
        }
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn another_store(&self) -> Arc<dyn Store> {
        Arc::new(
            PostgresStore::connect_with(self.options.clone(), self.store_options.clone())
                .await
                .expect("open second PostgreSQL store"),
        )
    }

    async fn execute(&self, sql: &str) -> Result<u64, String> {
        let mut conn = sqlx::PgConnection::connect_with(&self.options)
            .await
            .map_err(|e| e.to_string())?;
        let done = sqlx::Executor::execute(&mut conn, sql)
            .await
            .map_err(|e| e.to_string());
        let _ = conn.close().await;
        done.map(|r| r.rows_affected())
    }

    fn lift_append_only_sql(&self) -> &'static str {
        "ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete"
    }

    async fn run_batch(
        &self,
        ops: &[&WriteOp],
    ) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError> {
        let store = PostgresStore::connect_with(self.options.clone(), test_options(false))
            .await
            .expect("store");
        super::postgres::run_batch(store.pool(), ops)
            .await
            .map_err(|failed| failed.error)
    }
}

// ---------------------------------------------------------------------------
// The cases, generated for each backend.

macro_rules! store_suite {
    ($setup:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let name = concat!(module_path!(), "::", stringify!($case));
                let Some(backend) = $setup(name).await else {
                    return;
                };
                super::$case(&*backend).await;
            }
        )*
    };
}

macro_rules! all_cases {
    ($setup:path) => {
        store_suite!($setup;
            create_get_round_trip,
            create_duplicate_id_refused,
            create_replay_is_idempotent,
            request_id_reuse_refused,
            update_and_version_conflict,
            update_replay_after_success,
            list_filters,
            list_keyset_pagination,
            events_order_and_filter,
            due_in_deadline_order,
            verify_intact_chain,
            verify_reports_tampering,
            concurrent_conflicting_updates_one_winner,
            concurrent_same_request_updates,
            concurrent_same_request_creates_one_row,
            concurrent_distinct_creates,
            concurrent_creates_then_updates,
            versions_come_from_the_rows,
            census_counts,
            find_request_returns_first_answer,
            one_batch_mixes_writes,
            checkpoint_detects_consistent_rewrite,
        );
    };
}

mod sqlite {
    all_cases!(super::sqlite_backend);
}

mod postgres {
    all_cases!(super::postgres_backend);
}

mod postgres_unbatched {
    all_cases!(super::postgres_unbatched_backend);
}

// ---------------------------------------------------------------------------
// Helpers.

pub(crate) fn app(id: &str, created_at: i64) -> ApplicationRow {
    ApplicationRow {
        id: id.to_owned(),
        version: 1,
        applicant: "acme".to_owned(),
        state: "SUBMITTED".to_owned(),
        level: String::new(),
        destination: "DE".to_owned(),
        awaiting_agencies: Vec::new(),
        next_due_at: None,
        overdue_at: None,
        created_at,
        updated_at: created_at,
        snapshot: format!("{{\"name\":\"applications/{id}\"}}"),
    }
}

pub(crate) fn ev(kind: &str, at: i64) -> NewEvent {
    NewEvent {
        kind: kind.to_owned(),
        actor: "user:alice".to_owned(),
        at,
        details: format!("{{\"kind\":\"{kind}\",\"at\":{at}}}"),
    }
}

fn req(id: &str, fingerprint: &str) -> IdempotentRequest {
    IdempotentRequest {
        request_id: id.to_owned(),
        fingerprint: fingerprint.to_owned(),
        response: format!("response to {id}/{fingerprint}"),
    }
}

/// The row after an update from `row`.
fn next(row: &ApplicationRow, state: &str) -> ApplicationRow {
    ApplicationRow {
        version: row.version + 1,
        state: state.to_owned(),
        updated_at: row.updated_at + 1,
        snapshot: format!("{{\"state\":\"{state}\"}}"),
        ..row.clone()
    }
}

async fn all_ids(store: &dyn Store, filter: &ListFilter) -> Vec<String> {
    store
        .list(filter, None, 10_000)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect()
}

async fn event_count(store: &dyn Store, application_id: Option<&str>) -> usize {
    store
        .events(application_id, 0, 100_000)
        .await
        .expect("events")
        .len()
}

async fn assert_chain_intact(store: &dyn Store) {
    let report = store.verify_chain(None).await.expect("verify_chain");
    assert_eq!(report.first_break, None, "{report:?}");
}

// ---------------------------------------------------------------------------
// Cases.

async fn create_get_round_trip(b: &dyn Backend) {
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
    assert_eq!(
        store.get("a2").await.expect("get").map(|r| r.version),
        Some(1)
    );
    assert_eq!(event_count(&*store, Some("a1")).await, 2);
    assert_eq!(event_count(&*store, Some("a2")).await, 0);
    assert_chain_intact(&*store).await;
}

async fn create_duplicate_id_refused(b: &dyn Backend) {
    let store = b.store();
    store
        .create(&app("dup", 1), &[ev("CREATED", 1)], None)
        .await
        .expect("create");
    let again = store
        .create(&app("dup", 2), &[ev("CREATED", 2)], None)
        .await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists(ref id)) if id == "dup"),
        "{again:?}"
    );
    // With a fresh request id: still refused, and the request id is not consumed.
    let again = store
        .create(
            &app("dup", 2),
            &[ev("CREATED", 2)],
            Some(&req("r-dup", "f1")),
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists(_))),
        "{again:?}"
    );
    let other = store
        .create(
            &app("dup2", 2),
            &[ev("CREATED", 2)],
            Some(&req("r-dup", "f2")),
        )
        .await
        .expect("request id still free");
    assert_eq!(other, WriteOutcome::Committed);
    assert_eq!(event_count(&*store, Some("dup")).await, 1);
    assert_eq!(
        store.get("dup").await.expect("get").map(|r| r.created_at),
        Some(1)
    );
}

async fn create_replay_is_idempotent(b: &dyn Backend) {
    let store = b.store();
    let request = req("r1", "fp1");
    let first = store
        .create(&app("c1", 10), &[ev("CREATED", 10)], Some(&request))
        .await
        .expect("create");
    assert_eq!(first, WriteOutcome::Committed);
    // The same call again.
    let replay = store
        .create(&app("c1", 10), &[ev("CREATED", 10)], Some(&request))
        .await
        .expect("replay");
    assert_eq!(
        replay,
        WriteOutcome::Replayed {
            response: request.response.clone()
        }
    );
    // A retry for which the service minted another id: still the first answer.
    let replay = store
        .create(&app("c1-other", 11), &[ev("CREATED", 11)], Some(&request))
        .await
        .expect("replay");
    assert_eq!(
        replay,
        WriteOutcome::Replayed {
            response: request.response.clone()
        }
    );
    assert_eq!(
        all_ids(&*store, &ListFilter::default()).await,
        vec!["c1".to_owned()]
    );
    assert_eq!(event_count(&*store, None).await, 1);
}

async fn request_id_reuse_refused(b: &dyn Backend) {
    let store = b.store();
    let row = app("u1", 10);
    store
        .create(&row, &[ev("CREATED", 10)], Some(&req("r1", "fp1")))
        .await
        .expect("create");
    let reused = store
        .create(
            &app("u2", 11),
            &[ev("CREATED", 11)],
            Some(&req("r1", "other")),
        )
        .await;
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
    assert_eq!(
        store.get("u1").await.expect("get").map(|r| r.version),
        Some(1)
    );
    assert_eq!(event_count(&*store, None).await, 1);
}

async fn update_and_version_conflict(b: &dyn Backend) {
    let store = b.store();
    let v1 = app("v", 10);
    store
        .create(&v1, &[ev("CREATED", 10)], None)
        .await
        .expect("create");
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

async fn update_replay_after_success(b: &dyn Backend) {
    let store = b.store();
    let v1 = app("w", 10);
    store
        .create(&v1, &[ev("CREATED", 10)], None)
        .await
        .expect("create");
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
    assert_eq!(
        retry,
        WriteOutcome::Replayed {
            response: request.response.clone()
        }
    );
    let other = store
        .update(1, &v2, &[ev("REFERRED", 11)], Some(&req("u-r1", "changed")))
        .await;
    assert!(
        matches!(other, Err(StoreError::RequestIdReused(_))),
        "{other:?}"
    );
    assert_eq!(
        store.get("w").await.expect("get").map(|r| r.version),
        Some(2)
    );
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

/// A filter with the fields `edit` sets.
fn only(edit: impl FnOnce(&mut ListFilter)) -> ListFilter {
    let mut filter = ListFilter::default();
    edit(&mut filter);
    filter
}

async fn list_filters(b: &dyn Backend) {
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

async fn list_keyset_pagination(b: &dyn Backend) {
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

async fn events_order_and_filter(b: &dyn Backend) {
    let store = b.store();
    let mut x = app("ex", 1);
    let mut y = app("ey", 2);
    store
        .create(&x, &[ev("CREATED", 1)], None)
        .await
        .expect("create");
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
        let expected: Vec<&super::StoredEvent> =
            all.iter().filter(|e| e.application_id == id).collect();
        assert_eq!(mine.iter().collect::<Vec<_>>(), expected);
        for (i, e) in mine.iter().enumerate() {
            assert_eq!(e.application_sequence, i as i64 + 1);
            let previous = if i == 0 {
                super::chain::GENESIS_HASH.to_owned()
            } else {
                mine[i - 1].hash.clone()
            };
            assert_eq!(e.previous_hash, previous);
            assert_eq!(
                e.hash,
                super::chain::event_hash(
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

async fn due_in_deadline_order(b: &dyn Backend) {
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
        store
            .create(&row, &[ev("CREATED", 1)], None)
            .await
            .expect("create");
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

async fn verify_intact_chain(b: &dyn Backend) {
    let store = b.store();
    let mut row = app("k1", 1);
    store
        .create(&row, &[ev("CREATED", 1), ev("NOTE", 1)], None)
        .await
        .expect("create");
    for i in 0..4 {
        let n = next(&row, "S");
        store
            .update(row.version, &n, &[ev("STEP", 2 + i)], None)
            .await
            .expect("update");
        row = n;
    }
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

async fn verify_reports_tampering(b: &dyn Backend) {
    let store = b.store();
    let mut row = app("t1", 1);
    store
        .create(&row, &[ev("CREATED", 1)], None)
        .await
        .expect("create");
    for i in 0..3 {
        let n = next(&row, "S");
        store
            .update(row.version, &n, &[ev("STEP", 2 + i)], None)
            .await
            .expect("update");
        row = n;
    }
    store
        .create(&app("t0", 1), &[ev("CREATED", 1)], None)
        .await
        .expect("create");
    store
        .create(&app("t2", 1), &[ev("CREATED", 1)], None)
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
    let one = store.verify_chain(Some("t1")).await.expect("verify");
    assert_eq!(
        one.first_break.map(|b| (b.0, b.1)),
        Some(("t1".to_owned(), 3))
    );
    let other = store.verify_chain(Some("t2")).await.expect("verify");
    assert_eq!(other.first_break, None);

    // A relinked chain (hash recomputed for the forged content) still breaks at the next link.
    let forged = super::chain::event_hash(
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
    let report = store.verify_chain(Some("t1")).await.expect("verify");
    assert_eq!(report.first_break.map(|b| b.1), Some(4));

    // Removing the newest event is caught by the chain head on the row.
    b.execute("DELETE FROM events WHERE application_id = 't2'")
        .await
        .expect("delete");
    let report = store.verify_chain(Some("t2")).await.expect("verify");
    assert_eq!(
        report.first_break.map(|b| (b.0, b.1)),
        Some(("t2".to_owned(), 1))
    );
}

async fn concurrent_conflicting_updates_one_winner(b: &dyn Backend) {
    let first = b.store();
    let second = b.another_store().await;
    let base = app("race", 1);
    first
        .create(&base, &[ev("CREATED", 1)], None)
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let row = next(&base, &format!("S{i}"));
        tasks.push(tokio::spawn(async move {
            store
                .update(
                    1,
                    &row,
                    &[ev(&format!("U{i}"), 2)],
                    Some(&req(&format!("race-{i}"), "f")),
                )
                .await
        }));
    }
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
    assert_chain_intact(&*second).await;
}

async fn concurrent_same_request_updates(b: &dyn Backend) {
    let first = b.store();
    let second = b.another_store().await;
    let base = app("retry", 1);
    first
        .create(&base, &[ev("CREATED", 1)], None)
        .await
        .expect("create");
    let request = req("same-update", "f");
    let row = next(&base, "S");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (row, request) = (row.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            store.update(1, &row, &[ev("U", 2)], Some(&request)).await
        }));
    }
    let mut committed = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(WriteOutcome::Committed) => committed += 1,
            Ok(WriteOutcome::Replayed { response }) => assert_eq!(response, request.response),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(committed, 1);
    assert_eq!(event_count(&*first, Some("retry")).await, 2);
}

async fn concurrent_same_request_creates_one_row(b: &dyn Backend) {
    let first = b.store();
    let second = b.another_store().await;
    let request = req("same-create", "f");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let request = request.clone();
        // Half reuse one application id, half mint their own, as a service might.
        let id = if i % 4 < 2 {
            "same".to_owned()
        } else {
            format!("minted-{i}")
        };
        tasks.push(tokio::spawn(async move {
            store
                .create(&app(&id, 1), &[ev("CREATED", 1)], Some(&request))
                .await
        }));
    }
    let mut committed = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(WriteOutcome::Committed) => committed += 1,
            Ok(WriteOutcome::Replayed { response }) => assert_eq!(response, request.response),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(committed, 1);
    assert_eq!(all_ids(&*first, &ListFilter::default()).await.len(), 1);
    assert_eq!(event_count(&*first, None).await, 1);
    assert_chain_intact(&*first).await;
}

async fn concurrent_distinct_creates(b: &dyn Backend) {
    let store = b.store();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let row = ApplicationRow {
                awaiting_agencies: vec!["STATE".into()],
                ..app(&format!("m{i:03}"), i)
            };
            let outcome = store
                .create(
                    &row,
                    &[ev("CREATED", i), ev("REFERRED", i)],
                    Some(&req(&format!("m-{i}"), "f")),
                )
                .await?;
            // A duplicate of the same request, racing in the same batch or the next.
            let replay = store
                .create(
                    &row,
                    &[ev("CREATED", i), ev("REFERRED", i)],
                    Some(&req(&format!("m-{i}"), "f")),
                )
                .await?;
            Ok::<_, StoreError>((outcome, replay))
        }));
    }
    for task in tasks {
        let (outcome, replay) = task.await.expect("task").expect("create");
        assert_eq!(outcome, WriteOutcome::Committed);
        assert!(matches!(replay, WriteOutcome::Replayed { .. }));
    }
    let awaiting = ListFilter {
        awaiting_agency: Some("STATE".into()),
        ..Default::default()
    };
    assert_eq!(all_ids(&*store, &awaiting).await.len(), 64);
    assert_eq!(event_count(&*store, None).await, 128);
    assert_chain_intact(&*store).await;
}

// ---------------------------------------------------------------------------
// Throughput and query-latency measurement (not run by default):
//   cargo test --release -p review-svc --lib store::suite::bench -- --ignored --nocapture
// REVIEW_BENCH_APPLICATIONS (default 20000) rows are created by
// REVIEW_BENCH_CLIENTS (default 32) concurrent clients.

mod bench {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    const AGENCIES: [&str; 5] = ["STATE", "DEFENSE", "ENERGY", "COMMERCE", "INTELLIGENCE"];
    const STATES: [&str; 6] = [
        "SUBMITTED",
        "AGENCY_REVIEW",
        "ESCALATED",
        "DECIDED",
        "RETURNED",
        "WITHDRAWN",
    ];
    const LEVELS: [&str; 5] = ["", "OPERATING_COMMITTEE", "ACEP", "EARB", "PRESIDENT"];

    fn env(name: &str, default: usize) -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    fn row(i: usize) -> ApplicationRow {
        let n = i as i64;
        let agencies = AGENCIES
            .iter()
            .enumerate()
            .filter(|(k, _)| (i >> k) & 1 == 1)
            .map(|(_, a)| (*a).to_owned())
            .collect();
        ApplicationRow {
            id: format!("bench-{i:08}"),
            version: 1,
            applicant: format!("applicant-{}", i % 1_000),
            state: STATES[i % STATES.len()].to_owned(),
            level: LEVELS[i % LEVELS.len()].to_owned(),
            destination: format!("C{}", i % 40),
            awaiting_agencies: agencies,
            next_due_at: (!i.is_multiple_of(3)).then_some(2_000_000 + (n * 7_919) % 1_000_000),
            overdue_at: i
                .is_multiple_of(4)
                .then_some(3_000_000 + (n * 104_729) % 1_000_000),
            // Ten rows per millisecond: plenty of ties.
            created_at: 1_000_000 + n / 10,
            updated_at: 1_000_000 + n / 10,
            snapshot: format!(
                "{{\"name\":\"applications/bench-{i:08}\",\"pad\":\"{}\"}}",
                "x".repeat(1_000)
            ),
        }
    }

    fn events(i: usize) -> Vec<NewEvent> {
        let at = 1_000_000 + i as i64;
        vec![
            NewEvent {
                kind: "CREATED".into(),
                actor: "user:bench".into(),
                at,
                details: format!(
                    "{{\"items\":[{{\"eccn\":\"3A090.a\",\"n\":{i}}}],\"pad\":\"{}\"}}",
                    "y".repeat(200)
                ),
            },
            NewEvent {
                kind: "CLASSIFIED".into(),
                actor: "system".into(),
                at,
                details: "{\"licence_required\":true}".into(),
            },
        ]
    }

    fn percentile(sorted: &[Duration], p: f64) -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let k = ((sorted.len() - 1) as f64 * p).round() as usize;
        sorted[k]
    }

    type WriteFn = fn(
        Arc<dyn Store>,
        usize,
    ) -> futures::future::BoxFuture<'static, Result<WriteOutcome, StoreError>>;

    async fn run_writes(
        store: Arc<dyn Store>,
        clients: usize,
        total: usize,
        label: &str,
        op: WriteFn,
    ) {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (store, next) = (store.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let t = Instant::now();
                    let outcome = op(store.clone(), i).await.expect("write");
                    assert_eq!(outcome, WriteOutcome::Committed);
                    latencies.push(t.elapsed());
                }
                latencies
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.expect("client"));
        }
        let elapsed = started.elapsed();
        latencies.sort();
        println!(
            "{label}: {total} in {:.2}s = {:.0}/s with {clients} clients; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64(),
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            percentile(&latencies, 1.0).as_secs_f64() * 1e3,
        );
    }

    async fn time<'a, T, Fut>(label: &str, f: impl Fn() -> Fut)
    where
        Fut: std::future::Future<Output = Result<T, StoreError>> + 'a,
    {
        let mut runs = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            f().await.expect(label);
            runs.push(t.elapsed());
        }
        runs.sort();
        println!(
            "  {label}: {:.2} ms (min {:.2})",
            runs[3].as_secs_f64() * 1e3,
            runs[0].as_secs_f64() * 1e3
        );
    }

    async fn run(backend: Box<dyn Backend>, name: &str) {
        let clients = env("REVIEW_BENCH_CLIENTS", 32);
        let total = env("REVIEW_BENCH_APPLICATIONS", 20_000);
        let store = backend.store();
        println!("== {name}");
        run_writes(store.clone(), clients, total, "create", |store, i| {
            Box::pin(async move {
                let request = req(&format!("bench-create-{i}"), "f");
                store.create(&row(i), &events(i), Some(&request)).await
            })
        })
        .await;
        run_writes(store.clone(), clients, total / 2, "update", |store, i| {
            Box::pin(async move {
                let old = row(i);
                let new = ApplicationRow {
                    state: "AGENCY_REVIEW".into(),
                    awaiting_agencies: vec!["STATE".into()],
                    ..next(&old, "AGENCY_REVIEW")
                };
                let request = req(&format!("bench-update-{i}"), "f");
                let event = [ev("REFERRED", old.updated_at + 1)];
                store.update(1, &new, &event, Some(&request)).await
            })
        })
        .await;

        println!("queries at {total} applications (first page of 50; median of 7 runs):");
        let s = &*store;
        let middle = row(total / 2);
        let cursor = ListCursor {
            created_at: middle.created_at,
            id: middle.id.clone(),
        };
        let filters = [
            ("list", ListFilter::default()),
            (
                "list applicant",
                only(|f| f.applicant = Some("applicant-7".into())),
            ),
            ("list state", only(|f| f.state = Some("RETURNED".into()))),
            (
                "list destination",
                only(|f| f.destination = Some("C3".into())),
            ),
            ("list level", only(|f| f.level = Some("EARB".into()))),
            (
                "list awaiting",
                only(|f| f.awaiting_agency = Some("INTELLIGENCE".into())),
            ),
            (
                "list overdue (10% of the overdue-capable rows)",
                only(|f| f.overdue_at_or_before = Some(3_100_000)),
            ),
            (
                "list overdue (all of them)",
                only(|f| f.overdue_at_or_before = Some(9_000_000)),
            ),
        ];
        for (label, filter) in &filters {
            time(label, || s.list(filter, None, 50)).await;
            let label = format!("{label}, page in the middle");
            time(&label, || s.list(filter, Some(&cursor), 50)).await;
        }
        time("due (100)", || s.due(2_500_000, 100)).await;
        time("events of one application", || {
            s.events(Some(&middle.id), 0, 100)
        })
        .await;
        time("events page (global)", || {
            s.events(None, (total as i64) * 2, 100)
        })
        .await;
        time("verify one application", || {
            s.verify_chain(Some("bench-00000042"))
        })
        .await;
        time("census", || s.census(3_100_000)).await;
        let t = Instant::now();
        let report = s.verify_chain(None).await.expect("verify");
        println!("  verify all: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(report.first_break, None);
        println!(
            "  verified {} applications, {} events",
            report.applications_checked, report.events_checked
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "benchmark"]
    async fn bench_sqlite() {
        let backend = sqlite_backend("bench").await.expect("backend");
        run(backend, "sqlite").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "benchmark"]
    async fn bench_postgres() {
        let options = PostgresOptions {
            max_connections: env("REVIEW_BENCH_PG_POOL", 5) as u32,
            batch_writers: env("REVIEW_BENCH_PG_WRITERS", 2),
            ..PostgresOptions::default()
        };
        let Some(backend) = postgres_backend_with("bench", options).await else {
            return;
        };
        run(backend, "postgres").await;
    }
}

async fn concurrent_creates_then_updates(b: &dyn Backend) {
    let store = b.store();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let v1 = ApplicationRow {
                awaiting_agencies: vec!["STATE".into()],
                ..app(&format!("cu{i:02}"), 1_000 + i / 4)
            };
            store.create(&v1, &[ev("CREATED", 1)], None).await?;
            let v2 = ApplicationRow {
                awaiting_agencies: vec!["ENERGY".into()],
                ..next(&v1, "AGENCY_REVIEW")
            };
            store
                .update(
                    1,
                    &v2,
                    &[ev("A", 2), ev("B", 2)],
                    Some(&req(&format!("cu-a-{i}"), "f")),
                )
                .await?;
            let v3 = ApplicationRow {
                awaiting_agencies: vec!["STATE".into(), "DEFENSE".into()],
                ..next(&v2, "ESCALATED")
            };
            store.update(2, &v3, &[ev("C", 3)], None).await?;
            // A late retry of the first update.
            let retry = store
                .update(
                    1,
                    &v2,
                    &[ev("A", 2), ev("B", 2)],
                    Some(&req(&format!("cu-a-{i}"), "f")),
                )
                .await?;
            Ok::<_, StoreError>((v3, retry))
        }));
    }
    for task in tasks {
        let (v3, retry) = task.await.expect("task").expect("writes");
        assert!(matches!(retry, WriteOutcome::Replayed { .. }), "{retry:?}");
        let stored = store.get(&v3.id).await.expect("get").expect("row");
        assert_eq!(stored, v3);
        assert_eq!(event_count(&*store, Some(&v3.id)).await, 4);
    }
    let awaiting = |agency: &str| ListFilter {
        awaiting_agency: Some(agency.into()),
        ..Default::default()
    };
    assert_eq!(all_ids(&*store, &awaiting("STATE")).await.len(), 32);
    assert_eq!(all_ids(&*store, &awaiting("DEFENSE")).await.len(), 32);
    assert!(all_ids(&*store, &awaiting("ENERGY")).await.is_empty());
    assert_chain_intact(&*store).await;
}

async fn versions_come_from_the_rows(b: &dyn Backend) {
    let store = b.store();
    let v3 = ApplicationRow {
        version: 3,
        ..app("vv", 1)
    };
    store
        .create(&v3, &[ev("CREATED", 1)], None)
        .await
        .expect("create");
    assert_eq!(
        store.get("vv").await.expect("get").map(|r| r.version),
        Some(3)
    );
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

async fn census_counts(b: &dyn Backend) {
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
        store
            .create(&row, &[ev("CREATED", 1)], None)
            .await
            .expect("create");
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

async fn find_request_returns_first_answer(b: &dyn Backend) {
    let store = b.store();
    let request = req("fr-1", "fp");
    store
        .create(&app("fr", 1), &[ev("CREATED", 1)], Some(&request))
        .await
        .expect("create");
    assert_eq!(
        store.find_request("fr-1").await.expect("find"),
        Some(("fp".to_owned(), request.response.clone()))
    );
    assert_eq!(store.find_request("unknown").await.expect("find"), None);
}

async fn one_batch_mixes_writes(b: &dyn Backend) {
    let store = b.store();
    store
        .create(
            &app("other", 1),
            &[ev("CREATED", 1)],
            Some(&req("taken", "fp-x")),
        )
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
    let awaiting = |agency: &str| ListFilter {
        awaiting_agency: Some(agency.into()),
        ..Default::default()
    };
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

/// A history rewritten consistently inside the database (an event's
/// content, the hashes of its chain from there on and the row's head)
/// passes the chain verification, but not a signed checkpoint taken before.
async fn checkpoint_detects_consistent_rewrite(b: &dyn Backend) {
    use crate::audit::{AuditError, Auditor};
    let store = b.store();
    let mut row = app("r1", 1);
    store
        .create(&row, &[ev("CREATED", 1)], None)
        .await
        .expect("create");
    for i in 0..3 {
        let n = next(&row, "S");
        store
            .update(row.version, &n, &[ev("STEP", 2 + i)], None)
            .await
            .expect("update");
        row = n;
    }
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
        let hash = super::chain::event_hash(
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
