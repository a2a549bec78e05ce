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
    /// SQL that lets a licensed application's row move its chain head.
    fn lift_licensed_chain_guard_sql(&self) -> &'static str;
    /// Runs `ops` as one batch (one transaction), as the writer tasks do.
    async fn run_batch(
        &self,
        ops: &[&WriteOp],
    ) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError>;
    /// [`writes::joint_writes`] on a connection beside the store's own.
    async fn joint_writes(&self) -> [Option<&'static str>; 2];
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
        let conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| e.to_string())?;
        execute_once(conn, sql).await.map(|r| r.rows_affected())
    }

    fn lift_append_only_sql(&self) -> &'static str {
        "DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete"
    }

    fn lift_licensed_chain_guard_sql(&self) -> &'static str {
        "DROP TRIGGER applications_licensed_chain_stays"
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

    async fn joint_writes(&self) -> [Option<&'static str>; 2] {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&self.path);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("connect");
        writes::joint_writes::<sqlx::Sqlite>(&mut conn).await
    }
}

/// Runs `sql` on `conn`, a connection beside the store's own, and closes it
/// whatever the outcome.
async fn execute_once<C>(
    mut conn: C,
    sql: &str,
) -> Result<<C::Database as sqlx::Database>::QueryResult, String>
where
    C: Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    let done = sqlx::Executor::execute(&mut conn, sql)
        .await
        .map_err(|e| e.to_string());
    let _ = conn.close().await;
    done
}

struct PostgresBackend {
    /// Dropped (and with it the schema) with the backend, even when the case panicked.
    _schema: test_support::postgres::Schema,
    options: sqlx::postgres::PgConnectOptions,
    store_options: PostgresOptions,
    store: Arc<dyn Store>,
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
    let url = test_support::postgres::database_url(case)?;
    let schema = test_support::postgres::Schema::create(&url, "t").await;
    let options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .expect("valid URL")
        .options([("search_path", schema.name())]);
    let store = PostgresStore::connect_with(options.clone(), store_options.clone())
        .await
        .expect("open PostgreSQL store");
    Some(PostgresBackend {
        _schema: schema,
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
        let conn = sqlx::PgConnection::connect_with(&self.options)
            .await
            .map_err(|e| e.to_string())?;
        execute_once(conn, sql).await.map(|r| r.rows_affected())
    }

    fn lift_append_only_sql(&self) -> &'static str {
        "ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete"
    }

    fn lift_licensed_chain_guard_sql(&self) -> &'static str {
        "ALTER TABLE applications DISABLE TRIGGER applications_licensed_chain_stays"
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

    async fn joint_writes(&self) -> [Option<&'static str>; 2] {
        let mut conn = sqlx::PgConnection::connect_with(&self.options)
            .await
            .expect("connect");
        writes::joint_writes::<sqlx::Postgres>(&mut conn).await
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
            events_of_kinds_picks_by_kind,
            service_keys_are_decided_once,
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
            joint_writes_count_each,
            checkpoint_detects_consistent_rewrite,
            licenses_are_issued_with_the_decision,
            a_license_carries_its_chain_head_on,
            license_changes_are_decided_under_lock,
            racing_license_changes_never_overdraw,
            batched_changes_share_counters_and_replays,
            old_end_user_counters_are_moved_on_open,
            counters_raised,
            end_user_keys_moved,
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

/// Creates `row` with its filing event (`CREATED` at its creation time).
async fn create_filed(
    store: &dyn Store,
    row: &ApplicationRow,
    request: Option<&IdempotentRequest>,
) -> Result<WriteOutcome, StoreError> {
    store
        .create(row, &[ev("CREATED", row.created_at)], request)
        .await
}

/// What a replay of `request` answers: its first response.
fn replay_of(request: &IdempotentRequest) -> WriteOutcome {
    WriteOutcome::Replayed {
        response: request.response.clone(),
    }
}

/// The stored version of application `id`, None when there is none.
async fn version_of(store: &dyn Store, id: &str) -> Option<i64> {
    store.get(id).await.expect("get").map(|r| r.version)
}

/// `count` writers at once, the `i`th running what `writer` makes of `i`
/// and of one of `stores`, taken in turn (writers spread over the stores
/// on one database).
fn spawn_writers<T, Fut>(
    stores: &[Arc<dyn Store>],
    count: i64,
    writer: impl Fn(Arc<dyn Store>, i64) -> Fut,
) -> Vec<tokio::task::JoinHandle<T>>
where
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    (0..count)
        .map(|i| tokio::spawn(writer(stores[i as usize % stores.len()].clone(), i)))
        .collect()
}

/// Lists the applications awaiting `agency`.
fn awaiting(agency: &str) -> ListFilter {
    ListFilter {
        awaiting_agency: Some(agency.into()),
        ..Default::default()
    }
}

/// Waits for writers that all sent the same `request`: exactly one
/// committed, every other was answered the first response.
async fn one_commit_then_replays(
    writers: Vec<tokio::task::JoinHandle<Result<WriteOutcome, StoreError>>>,
    request: &IdempotentRequest,
) {
    let mut committed = 0;
    for writer in writers {
        match writer.await.expect("writer") {
            Ok(WriteOutcome::Committed) => committed += 1,
            Ok(WriteOutcome::Replayed { response }) => assert_eq!(response, request.response),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(committed, 1);
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

/// The sequence at which the verification of `id`'s chain finds its
/// first break, if anywhere.
async fn break_at(store: &dyn Store, id: &str) -> Option<i64> {
    let report = store.verify_chain(Some(id)).await.expect("verify_chain");
    report.first_break.map(|(_, sequence, _)| sequence)
}

async fn assert_chain_intact(store: &dyn Store) {
    let report = store.verify_chain(None).await.expect("verify_chain");
    assert_eq!(report.first_break, None, "{report:?}");
}

/// A filter with the fields `edit` sets.
fn only(edit: impl FnOnce(&mut ListFilter)) -> ListFilter {
    let mut filter = ListFilter::default();
    edit(&mut filter);
    filter
}

mod bench;
mod concurrency;
mod history;
mod licenses;
mod reads;
mod writes;

use concurrency::*;
use history::*;
use licenses::*;
use reads::*;
use writes::*;
