//! SQLite implementation of [`Store`]: one file in WAL mode, durable
//! (`synchronous=FULL`) before a write is acknowledged.
//!
//! SQLite has a single writer per database, so this store has exactly one
//! write connection, shared by two writer tasks (applications, licences),
//! each on a thread of its own (see `spawn_writer`), and a small pool of read
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
//! The batch planning is shared with the PostgreSQL store's writer tasks
//! (`batch`), and so are the reads (`reads`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::error::DatabaseError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Sqlite};
use tokio::sync::mpsc;

use super::batch::{
    agencies_json, decide_all, keys_of, plan, submit, AppState, BatchWrites, Plan, WriteJob,
    WriteOp,
};
use super::chain::ChainHead;
use super::impl_store::{impl_store, Write};
use super::reads::{app_state_from, request_from, Reads, APP_STATE_COLUMNS, REQUEST_COLUMNS};
use super::sql::{Dialect, Sql, STATEMENT_CACHE_CAPACITY};
use super::{
    ApplicationRow, AuditDigest, Census, ChainReport, IdempotentRequest, ListCursor, ListFilter,
    NewEvent, StoreError, StoredEvent, WriteOutcome,
};

mod checkpointer;

use super::licenses::{self, LicenseJob, QueuedJob};
use super::{EndUserRekey, LicenseOutcome};

use checkpointer::Checkpointer;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

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
    reads: Reads<Sqlite>,
    writer: mpsc::Sender<WriteJob>,
    /// Queue of the licence writer (see `super::licenses`).
    license_writer: mpsc::Sender<QueuedJob>,
    /// The writers' one connection, closed by [`SqliteStore::close`].
    writer_pool: SqlitePool,
    /// Tells the writers to finish what is queued and stop.
    stop: tokio::sync::watch::Sender<bool>,
    /// The writers' threads, joined by [`SqliteStore::close`].
    writer_threads: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
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
    let rest = match url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        Some(rest) => rest,
        // `mysql://…`, or `postgress://…` mistyped, is not a file to create
        // in a directory named `mysql:`: the operator meant another store.
        None => match url.split_once("://") {
            Some((scheme, _)) => {
                return Err(StoreError::Internal(format!(
                    "unsupported database URL scheme {scheme:?}: review-svc stores in SQLite \
                     (sqlite://FILE or a file path) or PostgreSQL (postgres://… or \
                     postgresql://…)"
                )))
            }
            None => url,
        },
    };
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
                    let why = match e.kind() {
                        std::io::ErrorKind::AlreadyExists => "it is a file, not a directory".into(),
                        _ => e.to_string(),
                    };
                    StoreError::Unavailable(format!(
                        "cannot create the directory {} for the database: {why}",
                        parent.display()
                    ))
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
            .connect_with(writer_options(&connect))
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        MIGRATOR
            .run(&writer_pool)
            .await
            .map_err(|e| StoreError::Internal(format!("migrating {}: {e}", path.display())))?;
        licenses::key_end_users::<Sqlite>(&writer_pool, "BEGIN IMMEDIATE").await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect)
            .await
            .map_err(Sqlite::map_err)?;
        let (tx, rx) = mpsc::channel(options.queue_depth.max(1));
        let (license_tx, license_rx) = mpsc::channel(options.queue_depth.max(1));
        let (stop, stopping) = tokio::sync::watch::channel(false);
        // Every licence job of a batch runs in one `BEGIN IMMEDIATE`
        // transaction, decided in order (a batch of changes only is read and
        // written with multi-row statements, see `licenses::run_changes`),
        // and is answered after the COMMIT. A job refused on what it read
        // leaves the batch going; any other failure rolls the batch back and
        // runs each job on its own.
        let licenses = spawn_writer(
            "sqlite-licenses",
            Writer::new(&writer_pool, license_rx, &stopping, &options).run(
                "SQLite licence batch",
                async |pool, batch| {
                    licenses::run_and_answer::<Sqlite>(pool, "BEGIN IMMEDIATE", batch).await
                },
            ),
        )?;
        let applications = spawn_writer(
            "sqlite-writer",
            Writer::new(&writer_pool, rx, &stopping, &options).run("SQLite batch", run_and_answer),
        )?;
        Ok(Self {
            path,
            reads: Reads::new(readers),
            writer: tx,
            license_writer: license_tx,
            writer_pool,
            stop,
            writer_threads: std::sync::Mutex::new(vec![licenses, applications]),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lets the writers commit and answer what is queued, stops them and
    /// closes every connection. The last connection to close copies the
    /// write-ahead log into the database file and removes the log, so that
    /// after a graceful stop the file alone holds every acknowledged write
    /// (a copy of it is a whole backup). Writes after this are refused as
    /// unavailable.
    pub async fn close(&self) {
        let _ = self.stop.send(true);
        let threads = std::mem::take(
            &mut *self
                .writer_threads
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        });
        if joined.await.is_err() {
            tracing::warn!("a SQLite writer thread could not be joined");
        }
        // The log is folded into the file now, while nothing writes. The
        // last connection to close would do it too, but a writer's last
        // connection, handed back as its thread's runtime stops, is closed
        // by sqlx's connection thread in its own time: it could be that
        // last one, after this has returned.
        match checkpointer::truncate(&self.writer_pool).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "readers kept the write-ahead log from being folded into the file on close"
            ),
            Err(error) => tracing::warn!(
                %error,
                "the write-ahead log could not be folded into the file on close"
            ),
        }
        self.writer_pool.close().await;
        self.reads.pool.close().await;
    }

    /// An application write, queued for the writer.
    async fn write(&self, write: Write<'_>) -> Result<WriteOutcome, StoreError> {
        let op = write.queued();
        submit(&self.writer, |reply| WriteJob { op, reply }, "SQLite").await
    }

    async fn license_job(&self, job: LicenseJob) -> Result<LicenseOutcome, StoreError> {
        let with_reply = |reply| QueuedJob { job, reply };
        submit(&self.license_writer, with_reply, "SQLite licence").await
    }
}

/// A writer: the jobs waiting in its queue are taken as one batch and run
/// by the batch runner it is given, and the checkpointer folds the log into
/// the file between batches.
struct Writer<J> {
    pool: SqlitePool,
    queue: Queue<J>,
    max_batch: usize,
    checkpointer: Checkpointer,
}

impl<J> Writer<J> {
    fn new(
        pool: &SqlitePool,
        jobs: mpsc::Receiver<J>,
        stopping: &tokio::sync::watch::Receiver<bool>,
        options: &SqliteOptions,
    ) -> Self {
        Self {
            pool: pool.clone(),
            queue: Queue::new(jobs, stopping.clone()),
            max_batch: options.max_batch.max(1),
            checkpointer: Checkpointer::new(options.checkpoint_interval),
        }
    }

    /// Runs batches until the queue ends; `what` names them in the trace.
    async fn run(
        mut self,
        what: &'static str,
        mut run_batch: impl AsyncFnMut(&SqlitePool, &mut Vec<J>),
    ) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while self.queue.next_batch(&mut batch, self.max_batch).await > 0 {
            let (jobs, started) = (batch.len(), std::time::Instant::now());
            run_batch(&self.pool, &mut batch).await;
            tracing::trace!(jobs, micros = elapsed_micros(started), "{what}");
            self.checkpointer.after_batch(&self.pool).await;
        }
    }
}

/// Microseconds since `started`, for the writers' trace lines: a batch's
/// size and how long it held the writer (run, committed and answered) are
/// what tell whether the writer bounds the rate.
fn elapsed_micros(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// A writer's queue, and the signal to stop taking from it.
struct Queue<J> {
    jobs: mpsc::Receiver<J>,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl<J> Queue<J> {
    fn new(jobs: mpsc::Receiver<J>, stopping: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { jobs, stopping }
    }

    /// The jobs waiting (at most `max`, at least one) into `batch`; 0 once
    /// the store is dropped, or once it is closing and nothing queued is
    /// left: a job queued before the close is still run and answered.
    async fn next_batch(&mut self, batch: &mut Vec<J>, max: usize) -> usize {
        tokio::select! {
            biased;
            taken = self.jobs.recv_many(batch, max) => taken,
            () = stop_signal(&mut self.stopping) => {
                self.jobs.close();
                self.jobs.recv_many(batch, max).await
            }
        }
    }
}

/// Returns once the store is closing, or dropped.
async fn stop_signal(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    // The value's guard is not `Send`: dropped here, not held by the caller.
    let _ = stopping.wait_for(|stop| *stop).await.map(|_| ());
}

/// Runs a writer loop on a thread of its own, with a runtime of its own.
///
/// A batch is a dozen statements, each a round trip to the connection's
/// thread; on the service's runtime the writer then waited for a worker
/// busy with requests after every one of them, and its batches took half
/// as long again. The loop ends, and its thread with it, when the store's
/// queue closes. (PostgreSQL's writers stay on the service's runtime: on a
/// thread of their own, measured the same way, shipments on one licence
/// were slower.)
fn spawn_writer(
    name: &str,
    writer: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Internal(format!("starting the {name} runtime: {e}")))?;
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || runtime.block_on(writer))
        .map_err(|e| StoreError::Internal(format!("starting the {name} thread: {e}")))
}

/// The writer's connection: `connect` with two changes.
fn writer_options(connect: &SqliteConnectOptions) -> SqliteConnectOptions {
    connect
        .clone()
        // The writer checkpoints between batches, not inside commits.
        .pragma("wal_autocheckpoint", "0")
        // A batch's multi-row inserts keep a statement journal (to undo one
        // statement that fails a constraint) that outgrows SQLite's 64 KiB
        // and then spills to a temporary file, created, written and
        // unlinked for nearly every batch. It only ever serves the open
        // transaction: memory is where it belongs. (Readers keep the
        // default, so that a large sort may still spill to disk.)
        .pragma("temp_store", "memory")
}

fn connect_options(path: &Path, busy_timeout: Duration) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(busy_timeout)
        .foreign_keys(true)
        .statement_cache_capacity(STATEMENT_CACHE_CAPACITY)
}

impl Dialect for Sqlite {
    const SEQUENCE_OF_ONE_APPLICATION: &'static str = "sequence";
    // Deferred: a WAL reader's snapshot is fixed by its first read.
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";

    // The primary result code (the low byte): BUSY, LOCKED, NOMEM, IOERR,
    // FULL, CANTOPEN, PROTOCOL.
    fn worth_retrying(error: &dyn DatabaseError) -> bool {
        let primary = error
            .code()
            .and_then(|c| i64::from_str(&c).ok())
            .map(|c| c & 0xff);
        matches!(primary, Some(5 | 6 | 7 | 10 | 13 | 14 | 15))
    }
    fn placeholder(_n: usize) -> String {
        "?".to_owned()
    }
    // BEGIN IMMEDIATE holds the database's write lock.
    const FOR_UPDATE: &'static str = "";
    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
    fn join_parts(parts: Vec<Sql<Self>>) -> Result<Sql<Self>, Vec<Sql<Self>>> {
        Err(parts)
    }
}

/// Runs a batch of application writes together and answers each; where
/// the batch fails on something other than the database's reach, runs
/// each write on its own, so that one bad write fails alone.
async fn run_and_answer(pool: &SqlitePool, batch: &mut Vec<WriteJob>) {
    let ops: Vec<&WriteOp> = batch.iter().map(|job| &job.op).collect();
    let mut results = run_batch(pool, &ops).await;
    let retry_alone = matches!(&results, Err(e) if !matches!(e, StoreError::Unavailable(_)));
    if retry_alone && ops.len() > 1 {
        // Isolate the failure: each write on its own. (Not when the
        // database is busy or out of reach: each would only wait again.)
        let mut one_by_one = Vec::with_capacity(ops.len());
        for op in &ops {
            one_by_one.push(match run_batch(pool, std::slice::from_ref(op)).await {
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
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
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
    let mut conn = pool.acquire().await.map_err(Sqlite::map_err)?;
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(Sqlite::map_err)?;

    let (request_ids, app_ids) = keys_of(ops);
    let mut requests = HashMap::new();
    let select = format!("SELECT {REQUEST_COLUMNS} FROM requests");
    select_in(&mut tx, &select, "request_id", &request_ids, |r| {
        request_from(r, &mut requests)
    })
    .await?;
    let mut apps = HashMap::new();
    let select = format!("SELECT {APP_STATE_COLUMNS} FROM applications");
    select_in(&mut tx, &select, "id", &app_ids, |r| {
        app_state_from(r, &mut apps)
    })
    .await?;

    let (results, writes) = decide_all(ops, requests, &mut apps);
    if writes.is_empty() {
        // Replays and refusals only: nothing to commit.
        tx.rollback().await.map_err(Sqlite::map_err)?;
        return Ok(results);
    }
    write_batch(&mut tx, &apps, &writes).await?;
    tx.commit().await.map_err(Sqlite::map_err)?;
    Ok(results)
}

/// Reads the rows of `select` whose `column` is one of `ids`, a few
/// hundred ids a statement, and hands each to `each`.
async fn select_in(
    conn: &mut SqliteConnection,
    select: &str,
    column: &str,
    ids: &[String],
    mut each: impl FnMut(&SqliteRow) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(format!("{select} WHERE {column} IN ("));
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.clone());
        }
        q.push(")");
        for r in q
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(Sqlite::map_err)?
        {
            each(&r)?;
        }
    }
    Ok(())
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
        .execute(&mut *conn)
        .await
        .map_err(Sqlite::map_err)?;
    if done.rows_affected() != expected as u64 {
        return Err(StoreError::Internal(format!(
            "{what}: {} rows changed, expected {expected}",
            done.rows_affected()
        )));
    }
    Ok(())
}

/// The awaited-agency `rows` as a VALUES list of (agency, the
/// application's creation time, its id).
fn push_awaiting_values(q: &mut QueryBuilder<'_, Sqlite>, rows: &[(&String, i64, &String)]) {
    q.push_values(rows, |mut b, (agency, created_at, id)| {
        b.push_bind((*agency).clone())
            .push_bind(*created_at)
            .push_bind((*id).clone());
    });
}

/// `WITH v (…) AS (VALUES …)`: the batch's application rows as a table
/// that an insert (all but `expected`, the stored version an update
/// replaces) and an update (all but `created_at`) read alike.
fn rows_of_the_batch<'a>(
    rows: impl ExactSizeIterator<Item = (&'a ApplicationRow, &'a ChainHead, i64)>,
) -> Result<QueryBuilder<'static, Sqlite>, StoreError> {
    let mut values = Vec::with_capacity(rows.len());
    for (row, head, expected) in rows {
        values.push((row, head, expected, agencies_json(&row.awaiting_agencies)?));
    }
    let mut q = QueryBuilder::<Sqlite>::new(
        "WITH v (id, expected, version, applicant, state, level, destination, \
         awaiting_agencies, next_due_at, overdue_at, created_at, updated_at, snapshot, \
         chain_length, chain_head) AS (",
    );
    q.push_values(values, |mut b, (row, head, expected, json)| {
        b.push_bind(row.id.clone())
            .push_bind(expected)
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
    q.push(")");
    Ok(q)
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
        let rows = chunk.iter().map(|(row, head)| (*row, *head, 0));
        let mut q = rows_of_the_batch(rows)?;
        q.push(
            " INSERT INTO applications (id, version, applicant, state, level, destination, \
             awaiting_agencies, next_due_at, overdue_at, created_at, updated_at, snapshot, \
             chain_length, chain_head) \
             SELECT id, version, applicant, state, level, destination, awaiting_agencies, \
             next_due_at, overdue_at, created_at, updated_at, snapshot, chain_length, chain_head \
             FROM v",
        );
        execute_exact(conn, q, chunk.len(), "insert applications").await?;
    }

    for chunk in updates.chunks(ROWS_PER_STATEMENT) {
        let rows = chunk
            .iter()
            .map(|(row, head, stored)| (*row, *head, *stored));
        let mut q = rows_of_the_batch(rows)?;
        q.push(
            " UPDATE applications SET version = v.version, applicant = v.applicant, \
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
        push_awaiting_values(&mut q, chunk);
        q.push(")");
        execute_exact(conn, q, chunk.len(), "delete awaited agencies").await?;
    }

    for chunk in awaiting_new.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO application_awaiting (agency, created_at, application_id) ",
        );
        push_awaiting_values(&mut q, chunk);
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

impl_store!(SqliteStore {
    /// One writer: a reader's snapshot holds only committed writes, and
    /// a later write takes a greater sequence.
    async fn audit_horizon(&self) -> Result<i64, StoreError> {
        self.reads.max_sequence().await
    }

    async fn close(&self) {
        SqliteStore::close(self).await
    }

    async fn raise_counters(&self, values: &[(String, i64)]) -> Result<(), StoreError> {
        licenses::raise_counters::<Sqlite>(&self.writer_pool, "BEGIN IMMEDIATE", values).await
    }

    async fn move_end_user_keys(&self, moves: &[EndUserRekey]) -> Result<usize, StoreError> {
        licenses::move_end_user_keys::<Sqlite>(&self.writer_pool, "BEGIN IMMEDIATE", moves).await
    }
});

#[cfg(test)]
mod tests;
