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
    ApplicationRow, Census, ChainReport, IdempotentRequest, ListCursor, ListFilter, NewEvent, Store,
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

/// The answer to one write; `Err` of the outer result means the batch
/// cannot go on (I/O, lock, or an unexpected database error).
type JobResult = Result<Result<WriteOutcome, StoreError>, StoreError>;

async fn writer_loop(pool: SqlitePool, mut queue: mpsc::Receiver<WriteJob>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        let ops: Vec<&WriteOp> = batch.iter().map(|job| &job.op).collect();
        let mut results = run_batch(&pool, &ops).await;
        if results.is_err() && ops.len() > 1 {
            // Isolate the failure: each write on its own.
            let mut one_by_one = Vec::with_capacity(ops.len());
            for op in &ops {
                one_by_one.push(match run_batch(&pool, std::slice::from_ref(op)).await {
                    Ok(mut result) => result.pop().unwrap_or_else(|| {
                        Err(StoreError::Internal("write produced no result".into()))
                    }),
                    Err(e) => Err(e),
                });
            }
            results = Ok(one_by_one);
        }
        match results {
            Ok(results) => {
                for (job, result) in batch.drain(..).zip(results) {
                    // The caller may have gone away; the write stands all the same.
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(copy_error(&e)));
                }
            }
        }
    }
    pool.close().await;
}

/// Runs the writes in one transaction and returns one result per write,
/// valid only once the COMMIT succeeded (which this function awaits).
///
/// Every write first reads what it depends on (its request id, the row's
/// existence or version and chain head) and decides; only a write that
/// goes through writes anything, and its writes cannot violate a
/// constraint (the transaction holds the database's write lock from the
/// start). A database error therefore fails the whole batch, which the
/// caller retries write by write.
async fn run_batch(
    pool: &SqlitePool,
    ops: &[&WriteOp],
) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError> {
    let mut conn = pool.acquire().await.map_err(map_err)?;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
    let mut results = Vec::with_capacity(ops.len());
    let mut wrote = false;
    for op in ops {
        let result = match op {
            WriteOp::Create {
                row,
                events,
                request,
            } => create_in(&mut tx, row, events, request.as_ref()).await?,
            WriteOp::Update {
                expected_version,
                row,
                events,
                request,
            } => update_in(&mut tx, *expected_version, row, events, request.as_ref()).await?,
        };
        wrote |= matches!(result, Ok(WriteOutcome::Committed));
        results.push(result);
    }
    // A batch that wrote nothing (replays, conflicts) needs no commit.
    if wrote {
        tx.commit().await.map_err(map_err)?;
    } else {
        tx.rollback().await.map_err(map_err)?;
    }
    Ok(results)
}

/// The answer to a request id seen before, from its stored fingerprint and response.
fn previous_answer(
    request: &IdempotentRequest,
    fingerprint: Option<String>,
    response: Option<String>,
) -> Option<Result<WriteOutcome, StoreError>> {
    let fingerprint = fingerprint?;
    Some(if fingerprint == request.fingerprint {
        Ok(WriteOutcome::Replayed {
            response: response.unwrap_or_default(),
        })
    } else {
        Err(StoreError::RequestIdReused(request.request_id.clone()))
    })
}

fn agencies_json(agencies: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(agencies).map_err(|e| StoreError::Internal(e.to_string()))
}

/// `agencies` without repetitions, in order.
fn distinct(agencies: &[String]) -> Vec<&String> {
    let mut seen = std::collections::HashSet::new();
    agencies.iter().filter(|a| seen.insert(*a)).collect()
}

fn push_request(
    q: &mut QueryBuilder<'_, Sqlite>,
    application_id: &str,
    request: &IdempotentRequest,
    at: i64,
) {
    q.push(
        "INSERT INTO requests (request_id, application_id, fingerprint, response, recorded_at) VALUES (",
    );
    let mut values = q.separated(", ");
    values.push_bind(request.request_id.clone());
    values.push_bind(application_id.to_owned());
    values.push_bind(request.fingerprint.clone());
    values.push_bind(request.response.clone());
    values.push_bind(at);
    q.push(");\n");
}

fn push_awaiting(
    q: &mut QueryBuilder<'_, Sqlite>,
    application_id: &str,
    created_at: i64,
    agencies: &[&String],
) {
    if agencies.is_empty() {
        return;
    }
    q.push("INSERT INTO application_awaiting (agency, created_at, application_id) ");
    q.push_values(agencies, |mut b, agency| {
        b.push_bind((*agency).clone());
        b.push_bind(created_at);
        b.push_bind(application_id.to_owned());
    });
    q.push(";\n");
}

fn push_events(
    q: &mut QueryBuilder<'_, Sqlite>,
    application_id: &str,
    head: &ChainHead,
    events: &[NewEvent],
) -> ChainHead {
    let (links, new_head) = extend_chain(application_id, head, events);
    if events.is_empty() {
        return new_head;
    }
    q.push(
        "INSERT INTO events (application_id, application_sequence, kind, actor, at, details, \
         previous_hash, hash) ",
    );
    q.push_values(
        events.iter().zip(links),
        |mut b, (event, (sequence, previous_hash, hash))| {
            b.push_bind(application_id.to_owned());
            b.push_bind(sequence);
            b.push_bind(event.kind.clone());
            b.push_bind(event.actor.clone());
            b.push_bind(event.at);
            b.push_bind(event.details.clone());
            b.push_bind(previous_hash);
            b.push_bind(hash);
        },
    );
    q.push(";\n");
    new_head
}

async fn create_in(
    conn: &mut SqliteConnection,
    row: &ApplicationRow,
    events: &[NewEvent],
    request: Option<&IdempotentRequest>,
) -> JobResult {
    let probe = sqlx::query(
        "SELECT (SELECT fingerprint FROM requests WHERE request_id = ?1), \
                (SELECT response FROM requests WHERE request_id = ?1), \
                EXISTS (SELECT 1 FROM applications WHERE id = ?2)",
    )
    .bind(request.map(|r| &r.request_id))
    .bind(&row.id)
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    if let Some(request) = request {
        let answer = previous_answer(
            request,
            probe.try_get(0).map_err(map_err)?,
            probe.try_get(1).map_err(map_err)?,
        );
        if let Some(answer) = answer {
            return Ok(answer);
        }
    }
    if probe.try_get::<bool, _>(2).map_err(map_err)? {
        return Ok(Err(StoreError::AlreadyExists(row.id.clone())));
    }

    let (_, head) = extend_chain(&row.id, &ChainHead::empty(), events);
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT INTO applications (id, version, applicant, state, level, destination, \
         awaiting_agencies, next_due_at, overdue_at, created_at, updated_at, snapshot, \
         chain_length, chain_head) VALUES (",
    );
    let mut values = q.separated(", ");
    values.push_bind(row.id.clone());
    values.push_bind(1_i64);
    values.push_bind(row.applicant.clone());
    values.push_bind(row.state.clone());
    values.push_bind(row.level.clone());
    values.push_bind(row.destination.clone());
    values.push_bind(agencies_json(&row.awaiting_agencies)?);
    values.push_bind(row.next_due_at);
    values.push_bind(row.overdue_at);
    values.push_bind(row.created_at);
    values.push_bind(row.updated_at);
    values.push_bind(row.snapshot.clone());
    values.push_bind(head.length);
    values.push_bind(head.hash.clone());
    q.push(");\n");
    if let Some(request) = request {
        push_request(&mut q, &row.id, request, row.updated_at);
    }
    push_awaiting(
        &mut q,
        &row.id,
        row.created_at,
        &distinct(&row.awaiting_agencies),
    );
    push_events(&mut q, &row.id, &ChainHead::empty(), events);
    q.build().execute(&mut *conn).await.map_err(map_err)?;
    Ok(Ok(WriteOutcome::Committed))
}

async fn update_in(
    conn: &mut SqliteConnection,
    expected_version: i64,
    row: &ApplicationRow,
    events: &[NewEvent],
    request: Option<&IdempotentRequest>,
) -> JobResult {
    let probe = sqlx::query(
        "SELECT (SELECT fingerprint FROM requests WHERE request_id = ?1), \
                (SELECT response FROM requests WHERE request_id = ?1), \
                a.version, a.chain_length, a.chain_head, a.created_at, a.awaiting_agencies \
         FROM (SELECT 1) AS one LEFT JOIN applications a ON a.id = ?2",
    )
    .bind(request.map(|r| &r.request_id))
    .bind(&row.id)
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    // The request id first: a retry of a write that went through carries
    // the old version and must be answered as before.
    if let Some(request) = request {
        let answer = previous_answer(
            request,
            probe.try_get(0).map_err(map_err)?,
            probe.try_get(1).map_err(map_err)?,
        );
        if let Some(answer) = answer {
            return Ok(answer);
        }
    }
    let Some(version) = probe.try_get::<Option<i64>, _>(2).map_err(map_err)? else {
        return Ok(Err(StoreError::NotFound(row.id.clone())));
    };
    if version != expected_version {
        return Ok(Err(StoreError::VersionConflict {
            id: row.id.clone(),
            expected: expected_version,
            current: version,
        }));
    }
    let head = ChainHead {
        length: probe.try_get(3).map_err(map_err)?,
        hash: probe.try_get(4).map_err(map_err)?,
    };
    let created_at: i64 = probe.try_get(5).map_err(map_err)?;
    let old_json: String = probe.try_get(6).map_err(map_err)?;
    let old_agencies: Vec<String> = serde_json::from_str(&old_json)
        .map_err(|e| StoreError::Internal(format!("awaiting_agencies of {}: {e}", row.id)))?;

    let mut q = QueryBuilder::<Sqlite>::new("");
    let new_head = push_events(&mut q, &row.id, &head, events);
    q.push("UPDATE applications SET version = ");
    q.push_bind(expected_version + 1);
    for (column, value) in [
        ("applicant", &row.applicant),
        ("state", &row.state),
        ("level", &row.level),
        ("destination", &row.destination),
        ("snapshot", &row.snapshot),
    ] {
        q.push(format!(", {column} = "));
        q.push_bind(value.clone());
    }
    q.push(", awaiting_agencies = ");
    q.push_bind(agencies_json(&row.awaiting_agencies)?);
    q.push(", next_due_at = ");
    q.push_bind(row.next_due_at);
    q.push(", overdue_at = ");
    q.push_bind(row.overdue_at);
    q.push(", updated_at = ");
    q.push_bind(row.updated_at);
    q.push(", chain_length = ");
    q.push_bind(new_head.length);
    q.push(", chain_head = ");
    q.push_bind(new_head.hash);
    q.push(" WHERE id = ");
    q.push_bind(row.id.clone());
    q.push(" AND version = ");
    q.push_bind(expected_version);
    q.push(";\n");
    if let Some(request) = request {
        push_request(&mut q, &row.id, request, row.updated_at);
    }
    let new_agencies = distinct(&row.awaiting_agencies);
    let gone: Vec<&String> = distinct(&old_agencies)
        .into_iter()
        .filter(|a| !new_agencies.contains(a))
        .collect();
    if !gone.is_empty() {
        q.push("DELETE FROM application_awaiting WHERE created_at = ");
        q.push_bind(created_at);
        q.push(" AND application_id = ");
        q.push_bind(row.id.clone());
        q.push(" AND agency IN (");
        let mut list = q.separated(", ");
        for agency in gone {
            list.push_bind(agency.clone());
        }
        q.push(");\n");
    }
    let added: Vec<&String> = new_agencies
        .into_iter()
        .filter(|a| !old_agencies.contains(a))
        .collect();
    push_awaiting(&mut q, &row.id, created_at, &added);
    q.build().execute(&mut *conn).await.map_err(map_err)?;
    Ok(Ok(WriteOutcome::Committed))
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
                     ORDER BY application_sequence LIMIT ?"
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

    async fn census(&self, now: i64) -> Result<Census, StoreError> {
        let rows = sqlx::query("SELECT state, level, COUNT(*) FROM applications GROUP BY state, level")
            .fetch_all(&self.readers)
            .await
            .map_err(map_err)?;
        let by_state_and_level = rows
            .iter()
            .map(|r| Ok((r.try_get(0).map_err(map_err)?, r.try_get(1).map_err(map_err)?, r.try_get(2).map_err(map_err)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let overdue: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM applications WHERE overdue_at <= ?")
            .bind(now)
            .fetch_one(&self.readers)
            .await
            .map_err(map_err)?;
        Ok(Census { by_state_and_level, overdue })
    }

    async fn find_request(&self, request_id: &str) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT fingerprint, response FROM requests WHERE request_id = ?")
            .bind(request_id)
            .fetch_optional(&self.readers)
            .await
            .map_err(map_err)?;
        row.map(|r| {
            Ok((
                r.try_get(0).map_err(map_err)?,
                r.try_get(1).map_err(map_err)?,
            ))
        })
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
