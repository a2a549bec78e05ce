//! PostgreSQL implementation of [`Store`].
//!
//! By default writes go through writer tasks that commit the writes
//! waiting in their queue together (group commit), like the SQLite store:
//! one transaction locks the rows the batch updates (`FOR UPDATE`, in id
//! order), reads the request ids, decides every write in order against
//! that state (the planner SQLite's writer uses too, so a repeated request
//! id in a batch is replayed and a second update from the same version
//! conflicts), and writes the outcome with a few `UNNEST` multi-row
//! statements (`group_commit`). If
//! anything fails — typically a request id or an application id inserted
//! meanwhile by another process — the batch is rolled back and each of its
//! writes runs again on its own, by the direct path below, which handles
//! those races.
//!
//! The direct path (`batch_writers: 0`, and the fallback) makes each write
//! a single SQL statement (data-modifying CTEs), atomic without an explicit
//! transaction:
//!
//! - `create` inserts the row (`ON CONFLICT (id) DO NOTHING`), and, joined
//!   to the inserted row, the awaited agencies, the events and the request
//!   record. The request record is a plain INSERT: if the request id exists
//!   (or a concurrent write with the same id commits first) the unique
//!   violation aborts the whole statement, nothing is written, and the
//!   request is read back to answer `Replayed` or `RequestIdReused`.
//! - `update` reads the chain head (and the version), computes the new
//!   hashes, then runs one statement whose `UPDATE ... WHERE id = $ AND
//!   version = $` is the compare-and-set; the events, the agencies and the
//!   request record are joined to the updated row, so they are written only
//!   if the CAS won. As the version grows with every update, a CAS that wins
//!   also proves the chain head it was computed from is still the head.
//!   When the CAS loses, the request id is looked up before the version, so
//!   a retry of a request that already succeeded is answered `Replayed`.
//!
//! Concurrent writers serialise on the row lock (READ COMMITTED re-checks
//! the WHERE clause after the winner commits) and on the unique index of the
//! request id.
//!
//! Caveat of the global `sequence` (BIGSERIAL): values are taken when rows
//! are inserted, not when they commit, so with concurrent writers a reader
//! of `events(None, after, ..)` can momentarily see sequence N+1 committed
//! before N. Within one application the order is strict (writes to an
//! application serialise on its row).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::error::DatabaseError;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::query::QueryScalar;
use sqlx::{ConnectOptions, Postgres, Row};
use tokio::sync::mpsc;

use super::batch::{agencies_json, replay, submit, WriteJob};
use super::chain::{extend_chain, ChainHead};
use super::impl_store::{impl_store, Write};
use super::reads::{chain_head_from, Reads};
use super::sql::{Dialect, Sql, STATEMENT_CACHE_CAPACITY};
use super::EndUserRekey;
use super::{
    ApplicationRow, AuditDigest, Census, ChainReport, IdempotentRequest, ListCursor, ListFilter,
    NewEvent, StoreError, StoredEvent, WriteOutcome,
};

mod group_commit;

#[cfg(test)]
pub(crate) use group_commit::run_batch;
use group_commit::writer_loop;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Pool settings of the PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections in the pool; default 2 × cores + 1.
    pub max_connections: u32,
    /// How long a call waits for a free connection before `Unavailable`.
    pub acquire_timeout: Duration,
    /// Writer tasks that commit queued writes in batches (group commit);
    /// 0 writes each call in its own statement instead.
    pub batch_writers: usize,
    /// Most writes committed in one transaction by a writer task.
    pub max_batch: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Self {
            max_connections: u32::try_from(2 * cores + 1).unwrap_or(5),
            acquire_timeout: Duration::from_secs(5),
            batch_writers: 2,
            max_batch: 64,
        }
    }
}

/// The PostgreSQL store. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    reads: Reads<Postgres>,
    /// Queue of the writer tasks, when writes are batched.
    writer: Option<mpsc::Sender<WriteJob>>,
    /// Queue of the licence writer, when writes are batched (see
    /// `super::licenses`).
    license_writer: Option<mpsc::Sender<super::licenses::QueuedJob>>,
}

impl PostgresStore {
    /// Connects to `postgres://...` and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("invalid PostgreSQL URL: {e}")))?;
        Self::connect_with(options, PostgresOptions::default()).await
    }

    /// Connects with explicit options (e.g. a `search_path` set with
    /// `PgConnectOptions::options`) and applies the migrations.
    ///
    /// Every statement is planned for its own parameters
    /// (`plan_cache_mode=force_custom_plan`): with the default, after five
    /// executions PostgreSQL may keep a generic plan made while the tables
    /// were empty. Planning these short statements costs little.
    pub async fn connect_with(
        connect: PgConnectOptions,
        options: PostgresOptions,
    ) -> Result<Self, StoreError> {
        let connect = connect
            .options([("plan_cache_mode", "force_custom_plan")])
            .statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        let pool = match PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
        {
            Ok(pool) => pool,
            // The pool retries until its timeout and then says only that it
            // timed out: one connection of our own says why (refused, no
            // such database, authentication failed).
            Err(sqlx::Error::PoolTimedOut) => {
                let why = match connect.connect().await {
                    Ok(_) => "the pool timed out, though a connection succeeded".to_owned(),
                    Err(error) => error.to_string(),
                };
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL at {}:{}: {why}",
                    connect.get_host(),
                    connect.get_port()
                )));
            }
            Err(error) => return Err(Postgres::map_err(error)),
        };
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Internal(format!("migrating PostgreSQL: {e}")))?;
        super::licenses::key_end_users::<Postgres>(&pool, "BEGIN").await?;
        let direct = Self {
            reads: Reads::new(pool.clone()),
            pool,
            writer: None,
            license_writer: None,
        };
        if options.batch_writers == 0 {
            return Ok(direct);
        }
        let (tx, rx) = mpsc::channel(4096);
        let queue = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..options.batch_writers {
            tokio::spawn(writer_loop(
                direct.clone(),
                queue.clone(),
                options.max_batch.max(1),
            ));
        }
        let (license_tx, license_rx) = mpsc::channel(4096);
        tokio::spawn(license_writer_loop(
            direct.pool.clone(),
            license_rx,
            options.max_batch.max(1),
        ));
        Ok(Self {
            writer: Some(tx),
            license_writer: Some(license_tx),
            ..direct
        })
    }

    /// An application write: queued for the writer tasks, or (unbatched)
    /// by the direct path.
    async fn write(&self, write: Write<'_>) -> Result<WriteOutcome, StoreError> {
        let Some(writer) = &self.writer else {
            return self.write_direct(write).await;
        };
        let op = write.queued();
        submit(writer, |reply| WriteJob { op, reply }, "PostgreSQL").await
    }

    /// An application write by the direct path: one statement.
    async fn write_direct(&self, write: Write<'_>) -> Result<WriteOutcome, StoreError> {
        match write.expected_version {
            None => self.create_direct(write).await,
            Some(version) => self.update_direct(version, write).await,
        }
    }

    /// One create as one statement.
    async fn create_direct(&self, write: Write<'_>) -> Result<WriteOutcome, StoreError> {
        let Write {
            row,
            events,
            request,
            ..
        } = write;
        let (columns, head) = event_columns(&row.id, &ChainHead::empty(), events);
        let sql = direct_statement(
            "app AS (\
               INSERT INTO applications (id, version, applicant, state, level, destination, \
               awaiting_agencies, next_due_at, overdue_at, created_at, updated_at, snapshot, \
               chain_length, chain_head) \
               VALUES ($1, $25, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
               ON CONFLICT (id) DO NOTHING RETURNING id), \
             aw AS (INSERT INTO application_awaiting (agency, created_at, application_id) \
               SELECT DISTINCT x, $9::bigint, app.id FROM app, UNNEST($14::text[]) AS x)",
            (15, 10),
            18,
        );
        let written = sqlx::query_scalar::<_, i64>(&sql)
            .bind(&row.id)
            .bind_row(row, agencies_json(&row.awaiting_agencies)?)
            .bind(row.created_at)
            .bind(row.updated_at)
            .bind(&row.snapshot)
            .bind(head.length)
            .bind(&head.hash)
            .bind(&row.awaiting_agencies)
            .bind_request(request)
            .bind_events(columns)
            .bind(row.version)
            .fetch_one(&self.pool)
            .await;
        match written {
            Ok(1) => Ok(WriteOutcome::Committed),
            // The id exists (nothing was written): a replay, or a duplicate.
            Ok(_) => {
                self.explain(request, StoreError::AlreadyExists(row.id.clone()))
                    .await
            }
            // The request id exists: the statement wrote nothing.
            Err(e) if is_unique_violation(&e) => {
                let unexpected = StoreError::Internal(e.to_string());
                self.explain(request, unexpected).await
            }
            Err(e) => Err(Postgres::map_err(e)),
        }
    }

    /// One update: a read of the chain head, then one statement.
    async fn update_direct(
        &self,
        expected_version: i64,
        write: Write<'_>,
    ) -> Result<WriteOutcome, StoreError> {
        let Write {
            row,
            events,
            request,
            ..
        } = write;
        let current = sqlx::query(
            "SELECT version, chain_length, chain_head, awaiting_agencies FROM applications \
             WHERE id = $1",
        )
        .bind(&row.id)
        .fetch_optional(&self.pool)
        .await
        .map_err(Postgres::map_err)?;
        let (head, old_json) = match current {
            Some(current)
                if current.try_get::<i64, _>(0).map_err(Postgres::map_err)? == expected_version =>
            {
                (
                    chain_head_from(&current, 1)?,
                    current.try_get::<String, _>(3).map_err(Postgres::map_err)?,
                )
            }
            _ => {
                return self
                    .explain_update(&row.id, expected_version, request)
                    .await
            }
        };
        let old_agencies: Vec<String> = serde_json::from_str(&old_json)
            .map_err(|e| StoreError::Internal(format!("awaiting_agencies of {}: {e}", row.id)))?;
        let gone: Vec<&String> = old_agencies
            .iter()
            .filter(|a| !row.awaiting_agencies.contains(a))
            .collect();
        let added: Vec<&String> = row
            .awaiting_agencies
            .iter()
            .filter(|a| !old_agencies.contains(a))
            .collect();
        let (columns, new_head) = event_columns(&row.id, &head, events);
        let sql = direct_statement(
            "app AS (\
               UPDATE applications SET version = $3, applicant = $4, state = $5, level = $6, \
               destination = $7, awaiting_agencies = $8, next_due_at = $9, overdue_at = $10, \
               updated_at = $11, snapshot = $12, chain_length = $13, chain_head = $14 \
               WHERE id = $1 AND version = $2 AND chain_length = $26 RETURNING id, created_at), \
             aw_gone AS (DELETE FROM application_awaiting w USING app \
               WHERE w.agency = ANY($15::text[]) AND w.created_at = app.created_at \
               AND w.application_id = app.id), \
             aw_new AS (INSERT INTO application_awaiting (agency, created_at, application_id) \
               SELECT DISTINCT x, app.created_at, app.id FROM app, UNNEST($27::text[]) AS x \
               ON CONFLICT DO NOTHING)",
            (16, 11),
            19,
        );
        let written = sqlx::query_scalar::<_, i64>(&sql)
            .bind(&row.id)
            .bind(expected_version)
            .bind(row.version)
            .bind_row(row, agencies_json(&row.awaiting_agencies)?)
            .bind(row.updated_at)
            .bind(&row.snapshot)
            .bind(new_head.length)
            .bind(&new_head.hash)
            .bind(gone)
            .bind_request(request)
            .bind_events(columns)
            .bind(head.length)
            .bind(added)
            .fetch_one(&self.pool)
            .await;
        match written {
            Ok(1) => Ok(WriteOutcome::Committed),
            Ok(_) => {
                self.explain_update(&row.id, expected_version, request)
                    .await
            }
            Err(e) if is_unique_violation(&e) => {
                self.explain_update(&row.id, expected_version, request)
                    .await
            }
            Err(e) => Err(Postgres::map_err(e)),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Looks the request id up after a write that did not go through.
    /// None: the id was never used.
    async fn answer_for_request(
        &self,
        request: &IdempotentRequest,
    ) -> Result<Option<Result<WriteOutcome, StoreError>>, StoreError> {
        let previous = self.reads.find_request(&request.request_id).await?;
        Ok(previous.map(|(fingerprint, response)| replay(request, &fingerprint, &response)))
    }

    /// Why a write did not go through: the request id first, then `fallback`.
    async fn explain(
        &self,
        request: Option<&IdempotentRequest>,
        fallback: StoreError,
    ) -> Result<WriteOutcome, StoreError> {
        if let Some(request) = request {
            if let Some(answer) = self.answer_for_request(request).await? {
                return answer;
            }
        }
        Err(fallback)
    }

    /// Why an update's compare-and-set matched no row.
    async fn explain_update(
        &self,
        id: &str,
        expected_version: i64,
        request: Option<&IdempotentRequest>,
    ) -> Result<WriteOutcome, StoreError> {
        if let Some(request) = request {
            if let Some(answer) = self.answer_for_request(request).await? {
                return answer;
            }
        }
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM applications WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(Postgres::map_err)?;
        Err(match current {
            None => StoreError::NotFound(id.to_owned()),
            Some(current) => StoreError::VersionConflict {
                id: id.to_owned(),
                expected: expected_version,
                current,
            },
        })
    }
}

impl Dialect for Postgres {
    // `sequence + 0`: the application's few events are read through
    // (application_id, application_sequence); without statistics the
    // planner would otherwise also scan the primary key for
    // `sequence > $2`, i.e. most of the table.
    const SEQUENCE_OF_ONE_APPLICATION: &'static str = "sequence + 0";
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

    // 08 connection exception, 40 transaction rollback (serialisation,
    // deadlock), 53 insufficient resources, 57 operator intervention
    // (shutdown, cancel), 58 system error (I/O).
    fn worth_retrying(error: &dyn DatabaseError) -> bool {
        let code = error.code().unwrap_or_default();
        ["08", "40", "53", "57", "58"]
            .iter()
            .any(|class| code.starts_with(class))
    }
    fn placeholder(n: usize) -> String {
        format!("${n}")
    }
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }
    fn join_parts(parts: Vec<Sql<Self>>) -> Result<Sql<Self>, Vec<Sql<Self>>> {
        Ok(Sql::joined(parts, |texts| counted_writes(&texts)))
    }
}

/// Writes as one statement: each a data-modifying CTE, `WITH p0 AS (…
/// RETURNING 1), p1 AS (…)`, and a closing `SELECT (SELECT count(*) FROM
/// p0), …` whose one row counts the rows each changed, in order. All see
/// the snapshot the statement started with, in no set order, and foreign
/// keys are checked at its end: the writes must not touch the same row.
pub(super) fn counted_writes(writes: &[impl AsRef<str>]) -> String {
    let ctes: Vec<String> = (writes.iter().enumerate())
        .map(|(i, write)| format!("p{i} AS ({} RETURNING 1)", write.as_ref()))
        .collect();
    let counts: Vec<String> = (0..writes.len())
        .map(|i| format!("(SELECT count(*) FROM p{i})"))
        .collect();
    format!("WITH {} SELECT {}", ctes.join(", "), counts.join(", "))
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The new events as the columns bound to UNNEST.
struct EventColumns {
    sequence: Vec<i64>,
    kind: Vec<String>,
    actor: Vec<String>,
    at: Vec<i64>,
    details: Vec<String>,
    previous_hash: Vec<String>,
    hash: Vec<String>,
}

fn event_columns(
    application_id: &str,
    head: &ChainHead,
    events: &[NewEvent],
) -> (EventColumns, ChainHead) {
    let (links, new_head) = extend_chain(application_id, head, events);
    let mut columns = EventColumns {
        sequence: Vec::with_capacity(events.len()),
        kind: Vec::with_capacity(events.len()),
        actor: Vec::with_capacity(events.len()),
        at: Vec::with_capacity(events.len()),
        details: Vec::with_capacity(events.len()),
        previous_hash: Vec::with_capacity(events.len()),
        hash: Vec::with_capacity(events.len()),
    };
    for (event, (sequence, previous_hash, hash)) in events.iter().zip(links) {
        columns.sequence.push(sequence);
        columns.kind.push(event.kind.clone());
        columns.actor.push(event.actor.clone());
        columns.at.push(event.at);
        columns.details.push(event.details.clone());
        columns.previous_hash.push(previous_hash);
        columns.hash.push(hash);
    }
    (columns, new_head)
}

/// The binds the two direct writes share, each for its part of the
/// statement: the `req` CTE's request, then [`insert_events_cte`]'s events.
trait WriteBinds<'q> {
    /// The row's applicant, state, level, destination, awaited agencies
    /// (`agencies`, as JSON), next deadline and overdue time, in that order.
    fn bind_row(self, row: &'q ApplicationRow, agencies: String) -> Self;
    /// The request id, fingerprint and response (each NULL without one).
    fn bind_request(self, request: Option<&'q IdempotentRequest>) -> Self;
    /// The seven arrays, in the order of [`insert_events_cte`]'s placeholders.
    fn bind_events(self, columns: EventColumns) -> Self;
}

impl<'q> WriteBinds<'q> for QueryScalar<'q, Postgres, i64, PgArguments> {
    fn bind_row(self, row: &'q ApplicationRow, agencies: String) -> Self {
        self.bind(&row.applicant)
            .bind(&row.state)
            .bind(&row.level)
            .bind(&row.destination)
            .bind(agencies)
            .bind(row.next_due_at)
            .bind(row.overdue_at)
    }

    fn bind_request(self, request: Option<&'q IdempotentRequest>) -> Self {
        self.bind(request.map(|r| &r.request_id))
            .bind(request.map(|r| &r.fingerprint))
            .bind(request.map(|r| &r.response))
    }

    fn bind_events(self, columns: EventColumns) -> Self {
        self.bind(columns.sequence)
            .bind(columns.kind)
            .bind(columns.actor)
            .bind(columns.at)
            .bind(columns.details)
            .bind(columns.previous_hash)
            .bind(columns.hash)
    }
}

/// The statement of a direct write: the CTEs `app` (the first, `app`,
/// yields the written row's id), then the request record ([`insert_request_cte`]
/// at `request`: its first placeholder and the time's) and the events
/// ([`insert_events_cte`] from `events`) joined to it; it answers how many
/// rows `app` wrote.
fn direct_statement(app: &str, request: (usize, usize), events: usize) -> String {
    let (first, recorded_at) = request;
    format!(
        "WITH {app}, {}, {} SELECT count(*) FROM app",
        insert_request_cte("app", first, recorded_at),
        insert_events_cte("app", events)
    )
}

/// The `req` CTE: records the request bound by [`WriteBinds::bind_request`]
/// at `$first..$first+2` (no row when its id is NULL) against the CTE
/// `source`'s row, at the time `$recorded_at`.
fn insert_request_cte(source: &str, first: usize, recorded_at: usize) -> String {
    let (id, fingerprint, response) = (first, first + 1, first + 2);
    format!(
        "req AS (INSERT INTO requests (request_id, application_id, fingerprint, response, \
           recorded_at) SELECT ${id}, {source}.id, ${fingerprint}, ${response}, \
           ${recorded_at}::bigint FROM {source} \
           WHERE ${id}::text IS NOT NULL)"
    )
}

/// `$1` application id (text), events as arrays in `$first..$first+6`,
/// joined to the CTE `source` (which yields the written row's id).
fn insert_events_cte(source: &str, first: usize) -> String {
    let p = |i: usize| first + i;
    format!(
        "ev AS (INSERT INTO events (application_id, application_sequence, kind, actor, at, \
         details, previous_hash, hash) \
         SELECT {source}.id, t.seq, t.kind, t.actor, t.at, t.details, t.previous_hash, t.hash \
         FROM {source}, UNNEST(${}::bigint[], ${}::text[], ${}::text[], ${}::bigint[], \
         ${}::text[], ${}::text[], ${}::text[]) \
         AS t(seq, kind, actor, at, details, previous_hash, hash) ORDER BY t.seq)",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6)
    )
}

impl PostgresStore {
    /// A licence write: queued for the licence writer, which commits the
    /// jobs waiting together, or (unbatched) in its own transaction, run
    /// again on conflicts.
    async fn license_job(
        &self,
        job: super::licenses::LicenseJob,
    ) -> Result<super::LicenseOutcome, StoreError> {
        if let Some(writer) = &self.license_writer {
            let with_reply = |reply| super::licenses::QueuedJob { job, reply };
            return submit(writer, with_reply, "PostgreSQL licence").await;
        }
        let mut conn = self.pool.acquire().await.map_err(Postgres::map_err)?;
        super::licenses::run_alone::<Postgres>(&mut conn, "BEGIN", &job).await
    }
}

/// How a writer's batch begins. Every read of a batch is a primary-key
/// lookup (`= ANY($1)`, `IN (…)`, `id = … OR id = …`). A table that was
/// never analysed (no autovacuum, or not yet) looks small to the planner,
/// which then scans it whole for a few dozen keys, once per batch: the cost
/// of a write grew with the table. With sequential scans off, a batch's
/// statements (key lookups, and inserts whose best plan does not depend on
/// the values) keep the plan made at their first execution on the
/// connection, instead of being planned again in every batch as the pool's
/// other statements are (`plan_cache_mode`, see
/// `PostgresStore::connect_with`): planned each time, batches of licence
/// changes on one licence spent 29% of PostgreSQL's time in the planner.
pub(super) const BATCH_BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED; \
    SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan";

/// The licence writer of one process: the jobs waiting in its queue run
/// in one transaction (decided in order; a batch of changes only is read
/// and written with multi-row statements, see `licenses::run_changes`),
/// which holds their rows' locks
/// until it commits (another process's writer waits for them); a batch
/// that fails (a deadlock with another process, a unique violation) is
/// rolled back and each job runs on its own, again while it conflicts.
async fn license_writer_loop(
    pool: PgPool,
    mut queue: mpsc::Receiver<super::licenses::QueuedJob>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        super::licenses::run_and_answer::<Postgres>(&pool, BATCH_BEGIN, &mut batch).await;
    }
}

impl_store!(PostgresStore {
    /// A sequence value is taken when an event is inserted, not when it
    /// commits: a transaction still open may hold a value below the
    /// greatest committed one. A SHARE lock on `events` waits for every
    /// transaction that has inserted events to end (and holds new inserts
    /// off for the moment of one read), so that every value up to the
    /// greatest read then is committed or never will be; later inserts
    /// take greater values.
    async fn audit_horizon(&self) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(Postgres::map_err)?;
        sqlx::query("LOCK TABLE events IN SHARE MODE")
            .execute(&mut *tx)
            .await
            .map_err(Postgres::map_err)?;
        let horizon: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(sequence), 0) FROM events")
            .fetch_one(&mut *tx)
            .await
            .map_err(Postgres::map_err)?;
        tx.commit().await.map_err(Postgres::map_err)?;
        Ok(horizon)
    }

    async fn raise_counters(&self, values: &[(String, i64)]) -> Result<(), StoreError> {
        super::licenses::raise_counters::<Postgres>(&self.pool, "BEGIN", values).await
    }

    async fn move_end_user_keys(&self, moves: &[EndUserRekey]) -> Result<usize, StoreError> {
        super::licenses::move_end_user_keys::<Postgres>(&self.pool, "BEGIN", moves).await
    }
});
