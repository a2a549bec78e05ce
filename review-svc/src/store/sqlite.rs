//! SQLite implementation of [`Store`]: one file in WAL mode, durable
//! (`synchronous=FULL`) before a write is acknowledged.
//!
//! SQLite has a single writer per database, so this store has exactly one
//! write connection, owned by a writer task, and a small pool of read
//! connections (WAL readers never block and are never blocked by the
//! writer). Writes are queued to the writer task, which takes every write
//! waiting in its queue and commits them together in one `BEGIN IMMEDIATE`
//! transaction (group commit: one fsync for many writes). Each write runs
//! inside its own SAVEPOINT, so it keeps its own outcome and idempotency
//! semantics: a write that fails (version conflict, duplicate id) is rolled
//! back to its savepoint without touching the others, and a later write in
//! the same batch sees the earlier ones (a retried request id in the same
//! batch is replayed). Replies are sent only after the COMMIT has returned.
//!
//! `BEGIN IMMEDIATE` takes the write lock at the start, so another process
//! writing the same file waits (busy timeout) instead of failing a lock
//! upgrade half-way through a transaction.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Row, Sqlite};
use tokio::sync::{mpsc, oneshot};

use super::chain::{extend_chain, ChainHead, ChainLink, ChainWalker};
use super::{
    ApplicationRow, ChainReport, IdempotentRequest, ListCursor, ListFilter, NewEvent, Store,
    StoreError, StoredEvent, WriteOutcome,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

const APPLICATION_COLUMNS: &str = "a.id, a.version, a.applicant, a.state, a.level, \
     a.destination, a.awaiting_agencies, a.next_due_at, a.overdue_at, a.created_at, \
     a.updated_at, a.snapshot";

const EVENT_COLUMNS: &str = "sequence, application_id, application_sequence, kind, actor, at, \
     details, previous_hash, hash";

/// Tuning of the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Read connections.
    pub readers: u32,
    /// How long a connection waits for a lock held by another process.
    pub busy_timeout: Duration,
    /// Most writes committed in one transaction.
    pub max_batch: usize,
    /// Writes waiting for the writer before callers wait to enqueue.
    pub queue_depth: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            max_batch: 256,
            queue_depth: 4096,
        }
    }
}

/// The SQLite store. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    path: PathBuf,
    readers: SqlitePool,
    writer: mpsc::Sender<WriteJob>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Extracts the file path from `sqlite://path`, `sqlite:path` or a bare path.
pub fn path_from_url(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let rest = rest.split('?').next().unwrap_or_default();
    if rest.is_empty() || rest.contains(":memory:") || rest.starts_with("file::memory") {
        return Err(StoreError::Internal(format!(
            "unsupported SQLite location {url:?}: give a file path (an in-memory database is not durable)"
        )));
    }
    Ok(PathBuf::from(rest))
}

impl SqliteStore {
    /// Opens (creating the file and its directory if missing) and migrates
    /// the database at `url` (`sqlite://path`, `sqlite:path` or a path).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, SqliteOptions::default()).await
    }

    pub async fn open_with(url: &str, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path_from_url(url)?;
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                tokio::fs::create_dir_all(parent).await.map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
        let connect = connect_options(&path, options.busy_timeout);
        let writer_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(options.busy_timeout + Duration::from_secs(5))
            .connect_with(connect.clone())
            .await
            .map_err(map_err)?;
        MIGRATOR
            .run(&writer_pool)
            .await
            .map_err(|e| StoreError::Internal(format!("migrating {}: {e}", path.display())))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect)
            .await
            .map_err(map_err)?;
        let (tx, rx) = mpsc::channel(options.queue_depth.max(1));
        tokio::spawn(writer_loop(writer_pool, rx, options.max_batch.max(1)));
        Ok(Self {
            path,
            readers,
            writer: tx,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(WriteJob { op, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?
    }
}

fn connect_options(path: &Path, busy_timeout: Duration) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(busy_timeout)
        .foreign_keys(true)
}

/// Maps an sqlx error: lost connections, timeouts, I/O and lock contention
/// are `Unavailable` (worth retrying); everything else is `Internal`.
pub(crate) fn map_err(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => {
            let primary = db
                .code()
                .and_then(|c| i64::from_str(&c).ok())
                .map(|c| c & 0xff);
            match primary {
                // BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN, PROTOCOL
                Some(5 | 6 | 7 | 10 | 13 | 14 | 15) => StoreError::Unavailable(error.to_string()),
                _ => StoreError::Internal(error.to_string()),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
        _ => StoreError::Internal(error.to_string()),
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A copy of an error, to answer every write of a failed batch.
fn copy_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::NotFound(id) => StoreError::NotFound(id.clone()),
        StoreError::VersionConflict {
            id,
            expected,
            current,
        } => StoreError::VersionConflict {
            id: id.clone(),
            expected: *expected,
            current: *current,
        },
        StoreError::AlreadyExists(id) => StoreError::AlreadyExists(id.clone()),
        StoreError::RequestIdReused(id) => StoreError::RequestIdReused(id.clone()),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Internal(m) => StoreError::Internal(m.clone()),
    }
}

// ---------------------------------------------------------------------------
// The writer task.

enum WriteOp {
    Create {
        row: ApplicationRow,
        events: Vec<NewEvent>,
        request: Option<IdempotentRequest>,
    },
    Update {
        expected_version: i64,
        row: ApplicationRow,
        events: Vec<NewEvent>,
        request: Option<IdempotentRequest>,
    },
}

struct WriteJob {
    op: WriteOp,
    reply: oneshot::Sender<Result<WriteOutcome, StoreError>>,
}

async fn writer_loop(pool: SqlitePool, mut queue: mpsc::Receiver<WriteJob>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        let ops: Vec<&WriteOp> = batch.iter().map(|job| &job.op).collect();
        let results = run_batch(&pool, &ops).await;
        for (job, result) in batch.drain(..).zip(results) {
            // The caller may have gone away; the write stands all the same.
            let _ = job.reply.send(result);
        }
    }
    pool.close().await;
}

/// Runs the writes in one transaction, each in its own savepoint, and
/// returns one result per write, final only once the COMMIT succeeded.
async fn run_batch(pool: &SqlitePool, ops: &[&WriteOp]) -> Vec<Result<WriteOutcome, StoreError>> {
    let fail_all = |e: StoreError| ops.iter().map(|_| Err(copy_error(&e))).collect();
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => return fail_all(map_err(e)),
    };
    let mut tx = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => return fail_all(map_err(e)),
    };
    let mut results = Vec::with_capacity(ops.len());
    let mut wrote = false;
    for op in ops {
        if let Err(e) = sqlx::query("SAVEPOINT write").execute(&mut *tx).await {
            return fail_all(map_err(e));
        }
        let result = match op {
            WriteOp::Create {
                row,
                events,
                request,
            } => create_in(&mut tx, row, events, request.as_ref()).await,
            WriteOp::Update {
                expected_version,
                row,
                events,
                request,
            } => update_in(&mut tx, *expected_version, row, events, request.as_ref()).await,
        };
        let end: &[&str] = if matches!(result, Ok(WriteOutcome::Committed)) {
            wrote = true;
            &["RELEASE write"]
        } else {
            &["ROLLBACK TO write", "RELEASE write"]
        };
        for sql in end {
            if let Err(e) = sqlx::query(sql).execute(&mut *tx).await {
                return fail_all(map_err(e));
            }
        }
        results.push(result);
    }
    // A batch that wrote nothing (replays, conflicts) needs no commit.
    let end = if wrote {
        tx.commit().await
    } else {
        tx.rollback().await
    };
    match end {
        Ok(()) => results,
        Err(e) => fail_all(map_err(e)),
    }
}

/// Claims the request id for this write. None: claimed, go on; Some: the
/// id was used before, here is the answer (nothing must be written).
async fn claim_request(
    conn: &mut SqliteConnection,
    application_id: &str,
    request: &IdempotentRequest,
    at: i64,
) -> Result<Option<Result<WriteOutcome, StoreError>>, StoreError> {
    let claimed = sqlx::query(
        "INSERT INTO requests (request_id, application_id, fingerprint, response, recorded_at) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(&request.request_id)
    .bind(application_id)
    .bind(&request.fingerprint)
    .bind(&request.response)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(None);
    }
    let previous = sqlx::query("SELECT fingerprint, response FROM requests WHERE request_id = ?")
        .bind(&request.request_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(Some(match previous {
        Some(r) => {
            let fingerprint: String = r.try_get(0).map_err(map_err)?;
            if fingerprint == request.fingerprint {
                Ok(WriteOutcome::Replayed {
                    response: r.try_get(1).map_err(map_err)?,
                })
            } else {
                Err(StoreError::RequestIdReused(request.request_id.clone()))
            }
        }
        None => Err(StoreError::Internal(format!(
            "request id {} conflicts but cannot be read",
            request.request_id
        ))),
    }))
}

fn agencies_json(agencies: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(agencies).map_err(|e| StoreError::Internal(e.to_string()))
}

async fn insert_awaiting(
    conn: &mut SqliteConnection,
    application_id: &str,
    created_at: i64,
    agencies: &[String],
) -> Result<(), StoreError> {
    for agency in agencies {
        sqlx::query(
            "INSERT INTO application_awaiting (agency, created_at, application_id) \
             VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(agency)
        .bind(created_at)
        .bind(application_id)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

async fn append_events(
    conn: &mut SqliteConnection,
    application_id: &str,
    head: &ChainHead,
    events: &[NewEvent],
) -> Result<ChainHead, StoreError> {
    let (links, new_head) = extend_chain(application_id, head, events);
    for (event, (sequence, previous_hash, hash)) in events.iter().zip(links) {
        sqlx::query(
            "INSERT INTO events (application_id, application_sequence, kind, actor, at, details, \
             previous_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(application_id)
        .bind(sequence)
        .bind(&event.kind)
        .bind(&event.actor)
        .bind(event.at)
        .bind(&event.details)
        .bind(previous_hash)
        .bind(hash)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(new_head)
}

async fn create_in(
    conn: &mut SqliteConnection,
    row: &ApplicationRow,
    events: &[NewEvent],
    request: Option<&IdempotentRequest>,
) -> Result<WriteOutcome, StoreError> {
    if let Some(request) = request {
        if let Some(answer) = claim_request(conn, &row.id, request, row.updated_at).await? {
            return answer;
        }
    }
    let (_, head) = extend_chain(&row.id, &ChainHead::empty(), events);
    let inserted = sqlx::query(
        "INSERT INTO applications (id, version, applicant, state, level, destination, \
         awaiting_agencies, next_due_at, overdue_at, created_at, updated_at, snapshot, \
         chain_length, chain_head) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&row.id)
    .bind(row.version)
    .bind(&row.applicant)
    .bind(&row.state)
    .bind(&row.level)
    .bind(&row.destination)
    .bind(agencies_json(&row.awaiting_agencies)?)
    .bind(row.next_due_at)
    .bind(row.overdue_at)
    .bind(row.created_at)
    .bind(row.updated_at)
    .bind(&row.snapshot)
    .bind(head.length)
    .bind(&head.hash)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists(row.id.clone())),
        Err(e) => return Err(map_err(e)),
    }
    insert_awaiting(conn, &row.id, row.created_at, &row.awaiting_agencies).await?;
    append_events(conn, &row.id, &ChainHead::empty(), events).await?;
    Ok(WriteOutcome::Committed)
}

async fn update_in(
    conn: &mut SqliteConnection,
    expected_version: i64,
    row: &ApplicationRow,
    events: &[NewEvent],
    request: Option<&IdempotentRequest>,
) -> Result<WriteOutcome, StoreError> {
    if let Some(request) = request {
        if let Some(answer) = claim_request(conn, &row.id, request, row.updated_at).await? {
            return answer;
        }
    }
    let current = sqlx::query(
        "SELECT version, chain_length, chain_head, created_at, awaiting_agencies \
         FROM applications WHERE id = ?",
    )
    .bind(&row.id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    let Some(current) = current else {
        return Err(StoreError::NotFound(row.id.clone()));
    };
    let version: i64 = current.try_get(0).map_err(map_err)?;
    if version != expected_version {
        return Err(StoreError::VersionConflict {
            id: row.id.clone(),
            expected: expected_version,
            current: version,
        });
    }
    let head = ChainHead {
        length: current.try_get(1).map_err(map_err)?,
        hash: current.try_get(2).map_err(map_err)?,
    };
    let created_at: i64 = current.try_get(3).map_err(map_err)?;
    let old_agencies: String = current.try_get(4).map_err(map_err)?;
    let new_agencies = agencies_json(&row.awaiting_agencies)?;

    let new_head = append_events(conn, &row.id, &head, events).await?;
    let updated = sqlx::query(
        "UPDATE applications SET version = ?, applicant = ?, state = ?, level = ?, \
         destination = ?, awaiting_agencies = ?, next_due_at = ?, overdue_at = ?, \
         updated_at = ?, snapshot = ?, chain_length = ?, chain_head = ? \
         WHERE id = ? AND version = ?",
    )
    .bind(row.version)
    .bind(&row.applicant)
    .bind(&row.state)
    .bind(&row.level)
    .bind(&row.destination)
    .bind(&new_agencies)
    .bind(row.next_due_at)
    .bind(row.overdue_at)
    .bind(row.updated_at)
    .bind(&row.snapshot)
    .bind(new_head.length)
    .bind(&new_head.hash)
    .bind(&row.id)
    .bind(expected_version)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if updated.rows_affected() != 1 {
        // Cannot happen under the write lock; refuse rather than guess.
        return Err(StoreError::Internal(format!(
            "application {} changed under the write lock",
            row.id
        )));
    }
    if new_agencies != old_agencies {
        sqlx::query("DELETE FROM application_awaiting WHERE application_id = ?")
            .bind(&row.id)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        insert_awaiting(conn, &row.id, created_at, &row.awaiting_agencies).await?;
    }
    Ok(WriteOutcome::Committed)
}

// ---------------------------------------------------------------------------
// Reads.

fn application_from(r: &SqliteRow) -> Result<ApplicationRow, StoreError> {
    let agencies: String = r.try_get(6).map_err(map_err)?;
    Ok(ApplicationRow {
        id: r.try_get(0).map_err(map_err)?,
        version: r.try_get(1).map_err(map_err)?,
        applicant: r.try_get(2).map_err(map_err)?,
        state: r.try_get(3).map_err(map_err)?,
        level: r.try_get(4).map_err(map_err)?,
        destination: r.try_get(5).map_err(map_err)?,
        awaiting_agencies: serde_json::from_str(&agencies).map_err(|e| {
            StoreError::Internal(format!("awaiting_agencies is not a JSON string array: {e}"))
        })?,
        next_due_at: r.try_get(7).map_err(map_err)?,
        overdue_at: r.try_get(8).map_err(map_err)?,
        created_at: r.try_get(9).map_err(map_err)?,
        updated_at: r.try_get(10).map_err(map_err)?,
        snapshot: r.try_get(11).map_err(map_err)?,
    })
}

fn event_from(r: &SqliteRow) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        sequence: r.try_get(0).map_err(map_err)?,
        application_id: r.try_get(1).map_err(map_err)?,
        application_sequence: r.try_get(2).map_err(map_err)?,
        kind: r.try_get(3).map_err(map_err)?,
        actor: r.try_get(4).map_err(map_err)?,
        at: r.try_get(5).map_err(map_err)?,
        details: r.try_get(6).map_err(map_err)?,
        previous_hash: r.try_get(7).map_err(map_err)?,
        hash: r.try_get(8).map_err(map_err)?,
    })
}

/// Builds the `list` query. The keyset predicate and the ORDER BY use the
/// columns of the index that drives the scan: application_awaiting's
/// primary key when filtering by agency, the applications indexes otherwise.
pub(crate) fn build_list_query<'a, DB: sqlx::Database>(
    filter: &'a ListFilter,
    after: Option<&'a ListCursor>,
    limit: u32,
) -> QueryBuilder<'a, DB>
where
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = QueryBuilder::<DB>::new("SELECT ");
    q.push(APPLICATION_COLUMNS);
    let (created, id) = if let Some(agency) = &filter.awaiting_agency {
        q.push(" FROM application_awaiting w JOIN applications a ON a.id = w.application_id WHERE w.agency = ");
        q.push_bind(agency.clone());
        ("w.created_at", "w.application_id")
    } else {
        q.push(" FROM applications a WHERE 1 = 1");
        ("a.created_at", "a.id")
    };
    for (column, value) in [
        ("a.applicant", &filter.applicant),
        ("a.state", &filter.state),
        ("a.destination", &filter.destination),
        ("a.level", &filter.level),
    ] {
        if let Some(value) = value {
            q.push(format!(" AND {column} = "));
            q.push_bind(value.clone());
        }
    }
    if let Some(at) = filter.overdue_at_or_before {
        q.push(" AND a.overdue_at <= ");
        q.push_bind(at);
    }
    if let Some(cursor) = after {
        q.push(format!(" AND ({created}, {id}) < ("));
        q.push_bind(cursor.created_at);
        q.push(", ");
        q.push_bind(cursor.id.clone());
        q.push(")");
    }
    q.push(format!(" ORDER BY {created} DESC, {id} DESC LIMIT "));
    q.push_bind(i64::from(limit));
    q
}

#[async_trait]
impl Store for SqliteStore {
    async fn create(
        &self,
        row: &ApplicationRow,
        events: &[NewEvent],
        request: Option<&IdempotentRequest>,
    ) -> Result<WriteOutcome, StoreError> {
        self.write(WriteOp::Create {
            row: row.clone(),
            events: events.to_vec(),
            request: request.cloned(),
        })
        .await
    }

    async fn update(
        &self,
        expected_version: i64,
        row: &ApplicationRow,
        events: &[NewEvent],
        request: Option<&IdempotentRequest>,
    ) -> Result<WriteOutcome, StoreError> {
        self.write(WriteOp::Update {
            expected_version,
            row: row.clone(),
            events: events.to_vec(),
            request: request.cloned(),
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<ApplicationRow>, StoreError> {
        let sql = format!("SELECT {APPLICATION_COLUMNS} FROM applications a WHERE a.id = ?");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.readers)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(application_from)
            .transpose()
    }

    async fn list(
        &self,
        filter: &ListFilter,
        after: Option<&ListCursor>,
        limit: u32,
    ) -> Result<Vec<ApplicationRow>, StoreError> {
        let mut q = build_list_query::<Sqlite>(filter, after, limit);
        q.build()
            .fetch_all(&self.readers)
            .await
            .map_err(map_err)?
            .iter()
            .map(application_from)
            .collect()
    }

    async fn events(
        &self,
        application_id: Option<&str>,
        after_sequence: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = match application_id {
            Some(id) => {
                let sql = format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE application_id = ? AND sequence > ? \
                     ORDER BY sequence LIMIT ?"
                );
                sqlx::query(&sql)
                    .bind(id)
                    .bind(after_sequence)
                    .bind(i64::from(limit))
                    .fetch_all(&self.readers)
                    .await
            }
            None => {
                let sql = format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?"
                );
                sqlx::query(&sql)
                    .bind(after_sequence)
                    .bind(i64::from(limit))
                    .fetch_all(&self.readers)
                    .await
            }
        }
        .map_err(map_err)?;
        rows.iter().map(event_from).collect()
    }

    async fn due(&self, now: i64, limit: u32) -> Result<Vec<ApplicationRow>, StoreError> {
        let sql = format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications a \
             WHERE a.next_due_at IS NOT NULL AND a.next_due_at <= ? \
             ORDER BY a.next_due_at, a.id LIMIT ?"
        );
        sqlx::query(&sql)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await
            .map_err(map_err)?
            .iter()
            .map(application_from)
            .collect()
    }

    async fn find_request(&self, request_id: &str) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT fingerprint, response FROM requests WHERE request_id = ?")
            .bind(request_id)
            .fetch_optional(&self.readers)
            .await
            .map_err(map_err)?;
        row.map(|r| Ok((r.try_get(0).map_err(map_err)?, r.try_get(1).map_err(map_err)?)))
            .transpose()
    }

    async fn verify_chain(&self, application_id: Option<&str>) -> Result<ChainReport, StoreError> {
        let mut conn = self.readers.acquire().await.map_err(map_err)?;
        // One read transaction: a consistent snapshot of rows and events.
        let mut tx = conn.begin().await.map_err(map_err)?;
        if let Some(id) = application_id {
            let exists = sqlx::query("SELECT 1 FROM applications WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            if exists.is_none() {
                return Err(StoreError::NotFound(id.to_owned()));
            }
        }
        let filter = if application_id.is_some() {
            "WHERE e.application_id = ?"
        } else {
            ""
        };
        let sql = format!(
            "SELECT e.application_id, e.application_sequence, e.kind, e.actor, e.at, e.details, \
             e.previous_hash, e.hash, a.chain_length, a.chain_head \
             FROM events e LEFT JOIN applications a ON a.id = e.application_id {filter} \
             ORDER BY e.application_id, e.application_sequence"
        );
        let mut walker = ChainWalker::new();
        let mut head: Option<ChainHead> = None;
        {
            let mut query = sqlx::query(&sql);
            if let Some(id) = application_id {
                query = query.bind(id);
            }
            let mut rows = query.fetch(&mut *tx);
            while let Some(r) = rows.try_next().await.map_err(map_err)? {
                let app: &str = r.try_get(0).map_err(map_err)?;
                if walker.current_application() != Some(app) {
                    walker.end_application(head.as_ref());
                    let length: Option<i64> = r.try_get(8).map_err(map_err)?;
                    let hash: Option<String> = r.try_get(9).map_err(map_err)?;
                    head = length
                        .zip(hash)
                        .map(|(length, hash)| ChainHead { length, hash });
                }
                walker.push(&ChainLink {
                    application_id: app,
                    application_sequence: r.try_get(1).map_err(map_err)?,
                    kind: r.try_get(2).map_err(map_err)?,
                    actor: r.try_get(3).map_err(map_err)?,
                    at: r.try_get(4).map_err(map_err)?,
                    details: r.try_get(5).map_err(map_err)?,
                    previous_hash: r.try_get(6).map_err(map_err)?,
                    hash: r.try_get(7).map_err(map_err)?,
                });
            }
        }
        walker.end_application(head.as_ref());
        let filter = if application_id.is_some() {
            "AND a.id = ?"
        } else {
            ""
        };
        let sql = format!(
            "SELECT a.id, a.chain_length, a.chain_head FROM applications a \
             WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.application_id = a.id) {filter} \
             ORDER BY a.id"
        );
        let mut query = sqlx::query(&sql);
        if let Some(id) = application_id {
            query = query.bind(id);
        }
        let mut rows = query.fetch(&mut *tx);
        while let Some(r) = rows.try_next().await.map_err(map_err)? {
            let id: &str = r.try_get(0).map_err(map_err)?;
            let head = ChainHead {
                length: r.try_get(1).map_err(map_err)?,
                hash: r.try_get(2).map_err(map_err)?,
            };
            walker.application_without_events(id, &head);
        }
        drop(rows);
        tx.rollback().await.map_err(map_err)?;
        Ok(walker.finish())
    }
}
