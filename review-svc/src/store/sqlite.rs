//! SQLite implementation of [`Store`]: one file in WAL mode, durable
//! (`synchronous=FULL`) before a write is acknowledged.
//!
//! SQLite has a single writer per database, so this store has exactly one
//! write connection, owned by a writer task, and a small pool of read
//! connections (WAL readers never block and are never blocked by the
//! writer). Writes are queued to the writer task, which takes every write
//! waiting in its queue and commits them together in one `BEGIN IMMEDIATE`
//! transaction (group commit: one fsync for many writes, no waiting for a
//! batch to fill). Each write keeps its own outcome and idempotency
//! semantics: the batch reads the state its writes depend on, decides each
//! write in order against that state as changed by the earlier writes of
//! the batch (a repeated request id is replayed, a second update from the
//! same version conflicts), and only the writes that go through are
//! written, with a few multi-row statements. Replies are sent only after
//! the COMMIT has returned. If the batch fails, each write is retried on
//! its own, so one bad write cannot fail its neighbours.
//!
//! `BEGIN IMMEDIATE` takes the write lock at the start, so another process
//! writing the same file waits (busy timeout) instead of failing a lock
//! upgrade half-way through a transaction, and nothing can change between
//! a batch's reads and its writes.
//!
//! The batch planning (`decide`, `plan`) is shared with the PostgreSQL
//! store's writer tasks, as is the `list` query builder.

use std::collections::{HashMap, HashSet};
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
    ApplicationRow, Census, ChainReport, IdempotentRequest, ListCursor, ListFilter, NewEvent,
    Store, StoreError, StoredEvent, WriteOutcome,
};

mod checkpointer;

use checkpointer::Checkpointer;

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
    /// How often, at most, the writer copies the write-ahead log into the
    /// database file, between batches (see `checkpointer`).
    pub checkpoint_interval: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            max_batch: 256,
            queue_depth: 4096,
            checkpoint_interval: Duration::from_millis(100),
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
        // A connection to a local file does not go stale: no ping (a round
        // trip to the connection's thread) before every use.
        let writer_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(options.busy_timeout + Duration::from_secs(5))
            // The writer checkpoints between batches, not inside commits.
            .connect_with(connect.clone().pragma("wal_autocheckpoint", "0"))
            .await
            .map_err(map_err)?;
        MIGRATOR
            .run(&writer_pool)
            .await
            .map_err(|e| StoreError::Internal(format!("migrating {}: {e}", path.display())))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect)
            .await
            .map_err(map_err)?;
        let (tx, rx) = mpsc::channel(options.queue_depth.max(1));
        tokio::spawn(writer_loop(
            writer_pool,
            rx,
            options.max_batch.max(1),
            Checkpointer::new(options.checkpoint_interval),
        ));
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
pub(crate) fn copy_error(error: &StoreError) -> StoreError {
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

/// A queued write.
pub(crate) enum WriteOp {
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

pub(crate) struct WriteJob {
    pub(crate) op: WriteOp,
    pub(crate) reply: oneshot::Sender<Result<WriteOutcome, StoreError>>,
}

async fn writer_loop(
    pool: SqlitePool,
    mut queue: mpsc::Receiver<WriteJob>,
    max_batch: usize,
    mut checkpointer: Checkpointer,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        let ops: Vec<&WriteOp> = batch.iter().map(|job| &job.op).collect();
        let mut results = run_batch(&pool, &ops).await;
        let retry_alone = matches!(&results, Err(e) if !matches!(e, StoreError::Unavailable(_)));
        if retry_alone && ops.len() > 1 {
            // Isolate the failure: each write on its own. (Not when the
            // database is busy or out of reach: each would only wait again.)
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
        checkpointer.after_batch(&pool).await;
    }
    pool.close().await;
}

/// An update must move the version forward.
pub(crate) fn check_new_version(
    expected_version: i64,
    row: &ApplicationRow,
) -> Result<(), StoreError> {
    if row.version > expected_version {
        Ok(())
    } else {
        Err(StoreError::Internal(format!(
            "update of {} to version {} does not move past version {expected_version}",
            row.id, row.version
        )))
    }
}

/// What the batch knows of an application: as stored, then as changed by
/// the batch's earlier writes.
pub(crate) struct AppState {
    /// Version in the database (None: inserted by this batch).
    stored_version: Option<i64>,
    /// Agencies in application_awaiting before the batch.
    stored_agencies: Vec<String>,
    /// Set by the create, never changed (application_awaiting copies it).
    created_at: i64,
    version: i64,
    head: ChainHead,
    /// The row to write, if the batch changed it.
    row: Option<ApplicationRow>,
}

impl AppState {
    /// An application as read from the database at the start of a batch.
    pub(crate) fn stored(
        version: i64,
        agencies: Vec<String>,
        created_at: i64,
        head: ChainHead,
    ) -> Self {
        Self {
            stored_version: Some(version),
            stored_agencies: agencies,
            created_at,
            version,
            head,
            row: None,
        }
    }
}

/// The writes of a batch, gathered while deciding and then written with a
/// few multi-row statements.
#[derive(Default)]
pub(crate) struct BatchWrites {
    /// Applications touched by the batch, in first-touch order.
    order: Vec<String>,
    /// (request, application id, recorded_at)
    pub(crate) requests: Vec<(IdempotentRequest, String, i64)>,
    /// (application id, application_sequence, event, previous_hash, hash)
    pub(crate) events: Vec<(String, i64, NewEvent, String, String)>,
}

impl BatchWrites {
    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty() && self.requests.is_empty() && self.events.is_empty()
    }
}

/// The row changes of a batch, ready to write.
pub(crate) struct Plan<'a> {
    pub(crate) inserts: Vec<(&'a ApplicationRow, &'a ChainHead)>,
    /// (new row, new chain head, version in the database)
    pub(crate) updates: Vec<(&'a ApplicationRow, &'a ChainHead, i64)>,
    /// (agency, created_at, application id)
    pub(crate) awaiting_gone: Vec<(&'a String, i64, &'a String)>,
    pub(crate) awaiting_new: Vec<(&'a String, i64, &'a String)>,
}

/// What the batch's decisions change in applications and application_awaiting.
pub(crate) fn plan<'a>(apps: &'a HashMap<String, AppState>, writes: &'a BatchWrites) -> Plan<'a> {
    let mut plan = Plan {
        inserts: Vec::new(),
        updates: Vec::new(),
        awaiting_gone: Vec::new(),
        awaiting_new: Vec::new(),
    };
    for id in &writes.order {
        let Some(state) = apps.get(id) else { continue };
        let Some(row) = &state.row else { continue };
        match state.stored_version {
            None => plan.inserts.push((row, &state.head)),
            Some(stored) => plan.updates.push((row, &state.head, stored)),
        }
        let now = distinct(&row.awaiting_agencies);
        let before = distinct(&state.stored_agencies);
        for agency in &before {
            if !now.contains(agency) {
                plan.awaiting_gone.push((*agency, state.created_at, id));
            }
        }
        for agency in &now {
            if !before.contains(agency) {
                plan.awaiting_new.push((*agency, state.created_at, id));
            }
        }
    }
    plan
}

/// Rows per multi-row statement: far below SQLite's 32766 bound parameters.
const ROWS_PER_STATEMENT: usize = 200;

/// Runs the writes in one transaction and returns one result per write,
/// valid only once the COMMIT succeeded (which this function awaits).
///
/// The batch reads what its writes depend on (the request ids, and the
/// versions and chain heads of the applications) in two queries, decides
/// every write in order against that state as changed by the writes before
/// it (so a write sees the earlier ones of its batch: a repeated request id
/// is replayed, a second update of the same version conflicts), then writes
/// the outcome with a handful of multi-row statements. The transaction
/// holds the database's write lock from its start, so nothing changes
/// between the reads and the writes; a database error fails the whole
/// batch, which the caller then retries write by write.
pub(crate) async fn run_batch(
    pool: &SqlitePool,
    ops: &[&WriteOp],
) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError> {
    let mut conn = pool.acquire().await.map_err(map_err)?;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;

    let (request_ids, app_ids) = keys_of(ops);
    let mut requests = load_requests(&mut tx, &request_ids).await?;
    let mut apps = load_apps(&mut tx, &app_ids).await?;

    let mut writes = BatchWrites::default();
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        results.push(decide(op, &mut requests, &mut apps, &mut writes));
    }
    if writes.is_empty() {
        // Replays and refusals only: nothing to commit.
        tx.rollback().await.map_err(map_err)?;
        return Ok(results);
    }
    write_batch(&mut tx, &apps, &writes).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(results)
}

pub(crate) fn keys_of(ops: &[&WriteOp]) -> (Vec<String>, Vec<String>) {
    let mut request_ids = Vec::new();
    let mut app_ids = Vec::new();
    for op in ops {
        let (row, request) = match op {
            WriteOp::Create { row, request, .. } | WriteOp::Update { row, request, .. } => {
                (row, request)
            }
        };
        if let Some(request) = request {
            request_ids.push(request.request_id.clone());
        }
        app_ids.push(row.id.clone());
    }
    for ids in [&mut request_ids, &mut app_ids] {
        ids.sort();
        ids.dedup();
    }
    (request_ids, app_ids)
}

async fn load_requests(
    conn: &mut SqliteConnection,
    ids: &[String],
) -> Result<HashMap<String, (String, String)>, StoreError> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT request_id, fingerprint, response FROM requests WHERE request_id IN (",
        );
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.clone());
        }
        q.push(")");
        for r in q.build().fetch_all(&mut *conn).await.map_err(map_err)? {
            found.insert(
                r.try_get(0).map_err(map_err)?,
                (
                    r.try_get(1).map_err(map_err)?,
                    r.try_get(2).map_err(map_err)?,
                ),
            );
        }
    }
    Ok(found)
}

async fn load_apps(
    conn: &mut SqliteConnection,
    ids: &[String],
) -> Result<HashMap<String, AppState>, StoreError> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT id, version, chain_length, chain_head, awaiting_agencies, created_at \
             FROM applications WHERE id IN (",
        );
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.clone());
        }
        q.push(")");
        for r in q.build().fetch_all(&mut *conn).await.map_err(map_err)? {
            let id: String = r.try_get(0).map_err(map_err)?;
            let version: i64 = r.try_get(1).map_err(map_err)?;
            let agencies: String = r.try_get(4).map_err(map_err)?;
            let agencies = serde_json::from_str(&agencies)
                .map_err(|e| StoreError::Internal(format!("awaiting_agencies of {id}: {e}")))?;
            let head = ChainHead {
                length: r.try_get(2).map_err(map_err)?,
                hash: r.try_get(3).map_err(map_err)?,
            };
            let state = AppState::stored(version, agencies, r.try_get(5).map_err(map_err)?, head);
            found.insert(id, state);
        }
    }
    Ok(found)
}

/// Decides one write against the batch's state and records its writes.
pub(crate) fn decide(
    op: &WriteOp,
    requests: &mut HashMap<String, (String, String)>,
    apps: &mut HashMap<String, AppState>,
    writes: &mut BatchWrites,
) -> Result<WriteOutcome, StoreError> {
    let (row, events, request, expected) = match op {
        WriteOp::Create {
            row,
            events,
            request,
        } => (row, events, request.as_ref(), None),
        WriteOp::Update {
            expected_version,
            row,
            events,
            request,
        } => (row, events, request.as_ref(), Some(*expected_version)),
    };
    // The request id first: a retry of a write that went through carries
    // the old version and must be answered as before.
    if let Some(request) = request {
        if let Some((fingerprint, response)) = requests.get(&request.request_id) {
            return if *fingerprint == request.fingerprint {
                Ok(WriteOutcome::Replayed {
                    response: response.clone(),
                })
            } else {
                Err(StoreError::RequestIdReused(request.request_id.clone()))
            };
        }
    }
    let head = match (expected, apps.get_mut(&row.id)) {
        (None, Some(_)) => return Err(StoreError::AlreadyExists(row.id.clone())),
        (None, None) => {
            let (_, head) = extend_chain(&row.id, &ChainHead::empty(), events);
            apps.insert(
                row.id.clone(),
                AppState {
                    stored_version: None,
                    stored_agencies: Vec::new(),
                    created_at: row.created_at,
                    version: row.version,
                    head,
                    row: Some(row.clone()),
                },
            );
            writes.order.push(row.id.clone());
            ChainHead::empty()
        }
        (Some(_), None) => return Err(StoreError::NotFound(row.id.clone())),
        (Some(expected), Some(state)) => {
            if state.version != expected {
                return Err(StoreError::VersionConflict {
                    id: row.id.clone(),
                    expected,
                    current: state.version,
                });
            }
            let previous = state.head.clone();
            let (_, head) = extend_chain(&row.id, &previous, events);
            // created_at is set once, by the create.
            let stored = ApplicationRow {
                created_at: state.created_at,
                ..row.clone()
            };
            if state.row.is_none() {
                writes.order.push(row.id.clone());
            }
            state.version = row.version;
            state.head = head;
            state.row = Some(stored);
            previous
        }
    };
    let (links, _) = extend_chain(&row.id, &head, events);
    for (event, (sequence, previous_hash, hash)) in events.iter().zip(links) {
        writes
            .events
            .push((row.id.clone(), sequence, event.clone(), previous_hash, hash));
    }
    if let Some(request) = request {
        requests.insert(
            request.request_id.clone(),
            (request.fingerprint.clone(), request.response.clone()),
        );
        writes
            .requests
            .push((request.clone(), row.id.clone(), row.updated_at));
    }
    Ok(WriteOutcome::Committed)
}

pub(crate) fn agencies_json(agencies: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(agencies).map_err(|e| StoreError::Internal(e.to_string()))
}

/// `agencies` without repetitions, in order.
pub(crate) fn distinct(agencies: &[String]) -> Vec<&String> {
    let mut seen = HashSet::new();
    agencies.iter().filter(|a| seen.insert(*a)).collect()
}

/// Executes `statement` and checks that it changed `expected` rows.
async fn execute_exact(
    conn: &mut SqliteConnection,
    mut statement: QueryBuilder<'_, Sqlite>,
    expected: usize,
    what: &str,
) -> Result<(), StoreError> {
    let done = statement
        .build()
        .persistent(false)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    if done.rows_affected() != expected as u64 {
        return Err(StoreError::Internal(format!(
            "{what}: {} rows changed, expected {expected}",
            done.rows_affected()
        )));
    }
    Ok(())
}

async fn write_batch(
    conn: &mut SqliteConnection,
    apps: &HashMap<String, AppState>,
    writes: &BatchWrites,
) -> Result<(), StoreError> {
    let Plan {
        inserts,
        updates,
        awaiting_gone,
        awaiting_new,
    } = plan(apps, writes);

    for chunk in inserts.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO applications (id, version, applicant, state, level, destination, \
             awaiting_agencies, next_due_at, overdue_at, created_at, updated_at, snapshot, \
             chain_length, chain_head) ",
        );
        let mut json = Vec::with_capacity(chunk.len());
        for (row, _) in chunk {
            json.push(agencies_json(&row.awaiting_agencies)?);
        }
        q.push_values(chunk.iter().zip(json), |mut b, ((row, head), json)| {
            b.push_bind(row.id.clone())
                .push_bind(row.version)
                .push_bind(row.applicant.clone())
                .push_bind(row.state.clone())
                .push_bind(row.level.clone())
                .push_bind(row.destination.clone())
                .push_bind(json)
                .push_bind(row.next_due_at)
                .push_bind(row.overdue_at)
                .push_bind(row.created_at)
                .push_bind(row.updated_at)
                .push_bind(row.snapshot.clone())
                .push_bind(head.length)
                .push_bind(head.hash.clone());
        });
        execute_exact(conn, q, chunk.len(), "insert applications").await?;
    }

    for chunk in updates.chunks(ROWS_PER_STATEMENT) {
        let mut json = Vec::with_capacity(chunk.len());
        for (row, _, _) in chunk {
            json.push(agencies_json(&row.awaiting_agencies)?);
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "WITH v (id, expected, version, applicant, state, level, destination, \
             awaiting_agencies, next_due_at, overdue_at, updated_at, snapshot, chain_length, \
             chain_head) AS (",
        );
        q.push_values(
            chunk.iter().zip(json),
            |mut b, ((row, head, stored), json)| {
                b.push_bind(row.id.clone())
                    .push_bind(*stored)
                    .push_bind(row.version)
                    .push_bind(row.applicant.clone())
                    .push_bind(row.state.clone())
                    .push_bind(row.level.clone())
                    .push_bind(row.destination.clone())
                    .push_bind(json)
                    .push_bind(row.next_due_at)
                    .push_bind(row.overdue_at)
                    .push_bind(row.updated_at)
                    .push_bind(row.snapshot.clone())
                    .push_bind(head.length)
                    .push_bind(head.hash.clone());
            },
        );
        q.push(
            ") UPDATE applications SET version = v.version, applicant = v.applicant, \
             state = v.state, level = v.level, destination = v.destination, \
             awaiting_agencies = v.awaiting_agencies, next_due_at = v.next_due_at, \
             overdue_at = v.overdue_at, updated_at = v.updated_at, snapshot = v.snapshot, \
             chain_length = v.chain_length, chain_head = v.chain_head \
             FROM v WHERE applications.id = v.id AND applications.version = v.expected",
        );
        execute_exact(conn, q, chunk.len(), "update applications").await?;
    }

    for chunk in awaiting_gone.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "DELETE FROM application_awaiting WHERE (agency, created_at, application_id) IN (",
        );
        q.push_values(chunk, |mut b, (agency, created_at, id)| {
            b.push_bind((*agency).clone())
                .push_bind(*created_at)
                .push_bind((*id).clone());
        });
        q.push(")");
        execute_exact(conn, q, chunk.len(), "delete awaited agencies").await?;
    }

    for chunk in awaiting_new.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO application_awaiting (agency, created_at, application_id) ",
        );
        q.push_values(chunk, |mut b, (agency, created_at, id)| {
            b.push_bind((*agency).clone())
                .push_bind(*created_at)
                .push_bind((*id).clone());
        });
        execute_exact(conn, q, chunk.len(), "insert awaited agencies").await?;
    }

    for chunk in writes.requests.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO requests (request_id, application_id, fingerprint, response, \
             recorded_at) ",
        );
        q.push_values(chunk, |mut b, (request, id, at)| {
            b.push_bind(request.request_id.clone())
                .push_bind(id.clone())
                .push_bind(request.fingerprint.clone())
                .push_bind(request.response.clone())
                .push_bind(*at);
        });
        execute_exact(conn, q, chunk.len(), "insert requests").await?;
    }

    for chunk in writes.events.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (application_id, application_sequence, kind, actor, at, \
             details, previous_hash, hash) ",
        );
        q.push_values(
            chunk,
            |mut b, (id, sequence, event, previous_hash, hash)| {
                b.push_bind(id.clone())
                    .push_bind(*sequence)
                    .push_bind(event.kind.clone())
                    .push_bind(event.actor.clone())
                    .push_bind(event.at)
                    .push_bind(event.details.clone())
                    .push_bind(previous_hash.clone())
                    .push_bind(hash.clone());
            },
        );
        execute_exact(conn, q, chunk.len(), "insert events").await?;
    }
    Ok(())
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
/// primary key when filtering by agency, the applications indexes
/// otherwise. The page's ids are chosen first and the rows read after, so
/// that a sort (e.g. of the overdue rows, found through their own index)
/// carries keys rather than whole rows.
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
    q.push(" FROM applications a WHERE a.id IN (");
    let (created, id) = if let Some(agency) = &filter.awaiting_agency {
        q.push(
            "SELECT w.application_id FROM application_awaiting w \
             JOIN applications k ON k.id = w.application_id WHERE w.agency = ",
        );
        q.push_bind(agency.clone());
        ("w.created_at", "w.application_id")
    } else {
        q.push("SELECT k.id FROM applications k WHERE 1 = 1");
        ("k.created_at", "k.id")
    };
    for (column, value) in [
        ("k.applicant", &filter.applicant),
        ("k.state", &filter.state),
        ("k.destination", &filter.destination),
        ("k.level", &filter.level),
    ] {
        if let Some(value) = value {
            q.push(format!(" AND {column} = "));
            q.push_bind(value.clone());
        }
    }
    if let Some(at) = filter.overdue_at_or_before {
        q.push(" AND k.overdue_at <= ");
        q.push_bind(at);
    }
    if let Some(cursor) = after {
        q.push(format!(" AND ({created}, {id}) < ("));
        q.push_bind(cursor.created_at);
        q.push(", ");
        q.push_bind(cursor.id.clone());
        q.push(")");
    }
    // Overdue rows are the old ones: a newest-first walk of a created_at
    // index would pass every recent row before finding them. With the
    // overdue filter, sort on an expression instead, so that the rows are
    // found through the (covering) overdue index and then sorted.
    let sort_created = if filter.overdue_at_or_before.is_some() && created == "k.created_at" {
        "k.created_at + 0"
    } else {
        created
    };
    q.push(format!(" ORDER BY {sort_created} DESC, {id} DESC LIMIT "));
    q.push_bind(i64::from(limit));
    q.push(") ORDER BY a.created_at DESC, a.id DESC");
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
        check_new_version(expected_version, row)?;
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
        let rows =
            sqlx::query("SELECT state, level, COUNT(*) FROM applications GROUP BY state, level")
                .fetch_all(&self.readers)
                .await
                .map_err(map_err)?;
        let by_state_and_level = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(map_err)?,
                    r.try_get(1).map_err(map_err)?,
                    r.try_get(2).map_err(map_err)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let overdue: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM applications WHERE overdue_at <= ?")
                .bind(now)
                .fetch_one(&self.readers)
                .await
                .map_err(map_err)?;
        Ok(Census {
            by_state_and_level,
            overdue,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        assert_eq!(
            path_from_url("sqlite:///var/lib/review/db.sqlite").ok(),
            Some(PathBuf::from("/var/lib/review/db.sqlite"))
        );
        assert_eq!(
            path_from_url("sqlite://data/review.db?mode=rwc").ok(),
            Some(PathBuf::from("data/review.db"))
        );
        assert_eq!(
            path_from_url("sqlite:review.db").ok(),
            Some(PathBuf::from("review.db"))
        );
        assert_eq!(
            path_from_url("./review.db").ok(),
            Some(PathBuf::from("./review.db"))
        );
        assert!(path_from_url("sqlite::memory:").is_err());
        assert!(path_from_url("sqlite://").is_err());
    }

    /// Files `count` applications of about 40 KB each (well past SQLite's
    /// own checkpoint threshold of 1,000 pages).
    async fn fill(store: &SqliteStore, count: usize) {
        for i in 0..count {
            let mut row = crate::store::suite::app(&format!("a{i}"), i as i64);
            row.snapshot = format!("{{\"padding\":\"{}\"}}", "x".repeat(40_000));
            let events = [crate::store::suite::ev("ApplicationFiled", i as i64)];
            store.create(&row, &events, None).await.expect("create");
        }
    }

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    #[tokio::test]
    async fn commits_leave_checkpoints_to_the_checkpointer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let open = |name: &str, interval: Duration| {
            let path = dir.path().join(name);
            let options = SqliteOptions {
                checkpoint_interval: interval,
                ..SqliteOptions::default()
            };
            async move {
                let url = format!("sqlite://{}", path.display());
                let store = SqliteStore::open_with(&url, options).await.expect("open");
                (store, path)
            }
        };

        // Checkpoints at most every hour: the commits alone must not copy
        // anything into the database file.
        let (store, path) = open("idle.db", Duration::from_secs(3600)).await;
        let before = file_len(&path);
        fill(&store, 150).await;
        assert_eq!(file_len(&path), before, "a commit checkpointed");
        assert!(
            file_len(&path.with_extension("db-wal")) > 4_000_000,
            "the log holds the writes"
        );

        // A running checkpointer copies them in while the store is open.
        let (store, path) = open("busy.db", Duration::from_millis(20)).await;
        fill(&store, 150).await;
        for _ in 0..500 {
            if file_len(&path) > 4_000_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            file_len(&path) > 4_000_000,
            "the checkpointer copied the log"
        );
        let last = store.get("a149").await.expect("read");
        assert_eq!(last.map(|row| row.id), Some("a149".to_owned()));
    }
}
