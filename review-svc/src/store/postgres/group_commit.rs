//! The PostgreSQL store's writer tasks: queued writes committed together
//! (group commit), decided by the shared batch planner and written with a
//! few `UNNEST` multi-row statements. See the parent module for how a
//! failed batch falls back to the direct path.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::postgres::{PgArguments, PgPool};
use sqlx::{Connection, PgConnection, Postgres};
use tokio::sync::mpsc;

use super::super::batch::{
    agencies_json, decide_all, keys_of, plan, BatchWrites, Plan, WriteJob, WriteOp,
};
use super::super::chain::ChainHead;
use super::super::sql::{app_state_from, request_from, APP_STATE_COLUMNS, REQUEST_COLUMNS};
use super::super::{ApplicationRow, StoreError, WriteOutcome};
use super::{map_err, PostgresStore, BATCH_BEGIN};

/// Why a batch failed, and whether its writes should be tried one by one.
pub(crate) struct BatchFailed {
    pub(crate) error: StoreError,
    /// False when the database is out of reach (connection, I/O,
    /// resources, shutdown): trying each write again would only wait longer.
    pub(crate) retry_alone: bool,
}

impl From<StoreError> for BatchFailed {
    fn from(error: StoreError) -> Self {
        Self {
            error,
            retry_alone: true,
        }
    }
}

fn failed(error: sqlx::Error) -> BatchFailed {
    let systemic = match &error {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            ["08", "53", "57", "58"]
                .iter()
                .any(|class| code.starts_with(class))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    };
    BatchFailed {
        error: map_err(error),
        retry_alone: !systemic,
    }
}

pub(super) async fn writer_loop(
    direct: PostgresStore,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<WriteJob>>>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        let received = queue.lock().await.recv_many(&mut batch, max_batch).await;
        if received == 0 {
            break;
        }
        let ops: Vec<&WriteOp> = batch.iter().map(|job| &job.op).collect();
        let results = match run_batch(&direct.pool, &ops).await {
            Ok(results) => results,
            // The database is out of reach: every write of the batch fails.
            Err(BatchFailed {
                error,
                retry_alone: false,
            }) => ops.iter().map(|_| Err(error.clone())).collect(),
            // A conflict with another process, a deadlock: each write again
            // on its own, by the path that handles races.
            Err(_) => {
                let mut one_by_one = Vec::with_capacity(ops.len());
                for op in &ops {
                    let (row, events, request, expected) = op.parts();
                    one_by_one.push(match expected {
                        None => direct.create_direct(row, events, request).await,
                        Some(version) => direct.update_direct(version, row, events, request).await,
                    });
                }
                one_by_one
            }
        };
        for (job, result) in batch.drain(..).zip(results) {
            // The caller may have gone away; the write stands all the same.
            let _ = job.reply.send(result);
        }
    }
}

/// Runs the writes in one transaction and returns one result per write,
/// valid only once the COMMIT succeeded (which this function awaits).
///
/// Locks the rows of the applications the batch updates (in id order, so
/// batches cannot deadlock each other), then reads the request ids (after
/// the locks: a concurrent write of one of these rows has committed its
/// request record by then), decides every write in order against that
/// state as changed by the earlier writes of the batch, and writes the
/// outcome with a few multi-row statements. A write racing from elsewhere
/// (same request id or application id inserted meanwhile) makes a
/// statement fail: the batch is rolled back and the caller runs each write
/// on its own.
pub(crate) async fn run_batch(
    pool: &PgPool,
    ops: &[&WriteOp],
) -> Result<Vec<Result<WriteOutcome, StoreError>>, BatchFailed> {
    let mut conn = pool.acquire().await.map_err(failed)?;
    let mut tx = conn.begin_with(BATCH_BEGIN).await.map_err(failed)?;
    let (request_ids, app_ids) = keys_of(ops);

    let mut apps = HashMap::new();
    let rows = sqlx::query(&format!(
        "SELECT {APP_STATE_COLUMNS} FROM applications WHERE id = ANY($1) ORDER BY id FOR UPDATE"
    ))
    .bind(&app_ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(failed)?;
    for r in rows {
        app_state_from(&r, &mut apps)?;
    }
    let mut requests = HashMap::new();
    let rows = sqlx::query(&format!(
        "SELECT {REQUEST_COLUMNS} FROM requests WHERE request_id = ANY($1)"
    ))
    .bind(&request_ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(failed)?;
    for r in rows {
        request_from(&r, &mut requests)?;
    }

    let (results, writes) = decide_all(ops, requests, &mut apps);
    if writes.is_empty() {
        tx.rollback().await.map_err(failed)?;
        return Ok(results);
    }
    write_batch(&mut tx, &plan(&apps, &writes), &writes).await?;
    tx.commit().await.map_err(failed)?;
    Ok(results)
}

/// Runs `statement` and checks that it changed `expected` rows.
async fn execute_exact<'q>(
    conn: &mut PgConnection,
    statement: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    expected: usize,
    what: &str,
) -> Result<(), BatchFailed> {
    let done = statement.execute(&mut *conn).await.map_err(failed)?;
    if done.rows_affected() != expected as u64 {
        return Err(StoreError::Internal(format!(
            "{what}: {} rows changed, expected {expected}",
            done.rows_affected()
        ))
        .into());
    }
    Ok(())
}

/// The table `v` of a batch's application rows, as [`RowColumns::bind`]
/// binds them: inserts read all but `expected` (the stored version an
/// update replaces), updates all but `created_at`.
macro_rules! row_columns {
    () => {
        "UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], \
         $13::text[], $14::bigint[], $15::text[]) \
         AS v(id, expected, version, applicant, state, level, destination, awaiting_agencies, \
         next_due_at, overdue_at, created_at, updated_at, snapshot, chain_length, chain_head)"
    };
}

/// The rows' columns as arrays for UNNEST, borrowing the batch's text
/// (sqlx copies it once, into the statement's buffer).
#[derive(Default)]
struct RowColumns<'a> {
    id: Vec<&'a str>,
    version: Vec<i64>,
    applicant: Vec<&'a str>,
    state: Vec<&'a str>,
    level: Vec<&'a str>,
    destination: Vec<&'a str>,
    awaiting_agencies: Vec<String>,
    next_due_at: Vec<Option<i64>>,
    overdue_at: Vec<Option<i64>>,
    created_at: Vec<i64>,
    updated_at: Vec<i64>,
    snapshot: Vec<&'a str>,
    chain_length: Vec<i64>,
    chain_head: Vec<&'a str>,
    expected: Vec<i64>,
}

impl<'a> RowColumns<'a> {
    fn push(
        &mut self,
        row: &'a ApplicationRow,
        head: &'a ChainHead,
        expected: i64,
    ) -> Result<(), StoreError> {
        self.id.push(&row.id);
        self.version.push(row.version);
        self.applicant.push(&row.applicant);
        self.state.push(&row.state);
        self.level.push(&row.level);
        self.destination.push(&row.destination);
        self.awaiting_agencies
            .push(agencies_json(&row.awaiting_agencies)?);
        self.next_due_at.push(row.next_due_at);
        self.overdue_at.push(row.overdue_at);
        self.created_at.push(row.created_at);
        self.updated_at.push(row.updated_at);
        self.snapshot.push(&row.snapshot);
        self.chain_length.push(head.length);
        self.chain_head.push(&head.hash);
        self.expected.push(expected);
        Ok(())
    }

    /// `sql`, which reads the rows from [`row_columns!`], with them bound.
    fn bind(self, sql: &'static str) -> sqlx::query::Query<'a, Postgres, PgArguments> {
        sqlx::query(sql)
            .bind(self.id)
            .bind(self.expected)
            .bind(self.version)
            .bind(self.applicant)
            .bind(self.state)
            .bind(self.level)
            .bind(self.destination)
            .bind(self.awaiting_agencies)
            .bind(self.next_due_at)
            .bind(self.overdue_at)
            .bind(self.created_at)
            .bind(self.updated_at)
            .bind(self.snapshot)
            .bind(self.chain_length)
            .bind(self.chain_head)
    }
}

/// `sql` with the awaited-agency `rows` bound as three arrays: `$1` the
/// agencies, `$2` the applications' creation times, `$3` their ids.
fn awaiting_statement<'q>(
    sql: &'q str,
    rows: &'q [(&'q String, i64, &'q String)],
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    sqlx::query(sql)
        .bind(texts(rows, |(agency, _, _)| agency))
        .bind(
            rows.iter()
                .map(|(_, created_at, _)| *created_at)
                .collect::<Vec<_>>(),
        )
        .bind(texts(rows, |(_, _, id)| id))
}

/// One text column of `rows`, borrowed, for an UNNEST array.
fn texts<'a, R>(rows: &'a [R], column: impl Fn(&'a R) -> &'a String) -> Vec<&'a str> {
    rows.iter().map(|row| column(row).as_str()).collect()
}

async fn write_batch(
    conn: &mut PgConnection,
    plan: &Plan<'_>,
    writes: &BatchWrites,
) -> Result<(), BatchFailed> {
    if !plan.inserts.is_empty() {
        let mut c = RowColumns::default();
        for (row, head) in &plan.inserts {
            c.push(row, head, 0)?;
        }
        let statement = c.bind(concat!(
            "INSERT INTO applications (id, version, applicant, state, level, destination, \
             awaiting_agencies, next_due_at, overdue_at, created_at, updated_at, snapshot, \
             chain_length, chain_head) \
             SELECT id, version, applicant, state, level, destination, awaiting_agencies, \
             next_due_at, overdue_at, created_at, updated_at, snapshot, chain_length, chain_head \
             FROM ",
            row_columns!()
        ));
        execute_exact(conn, statement, plan.inserts.len(), "insert applications").await?;
    }
    if !plan.updates.is_empty() {
        let mut c = RowColumns::default();
        for (row, head, stored) in &plan.updates {
            c.push(row, head, *stored)?;
        }
        let statement = c.bind(concat!(
            "UPDATE applications a SET version = v.version, applicant = v.applicant, \
             state = v.state, level = v.level, destination = v.destination, \
             awaiting_agencies = v.awaiting_agencies, next_due_at = v.next_due_at, \
             overdue_at = v.overdue_at, updated_at = v.updated_at, snapshot = v.snapshot, \
             chain_length = v.chain_length, chain_head = v.chain_head \
             FROM ",
            row_columns!(),
            " WHERE a.id = v.id AND a.version = v.expected"
        ));
        execute_exact(conn, statement, plan.updates.len(), "update applications").await?;
    }
    if !plan.awaiting_gone.is_empty() {
        let statement = awaiting_statement(
            "DELETE FROM application_awaiting w \
             USING UNNEST($1::text[], $2::bigint[], $3::text[]) AS g(agency, created_at, id) \
             WHERE w.agency = g.agency AND w.created_at = g.created_at \
             AND w.application_id = g.id",
            &plan.awaiting_gone,
        );
        execute_exact(
            conn,
            statement,
            plan.awaiting_gone.len(),
            "delete awaited agencies",
        )
        .await?;
    }
    if !plan.awaiting_new.is_empty() {
        let statement = awaiting_statement(
            "INSERT INTO application_awaiting (agency, created_at, application_id) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[])",
            &plan.awaiting_new,
        );
        execute_exact(
            conn,
            statement,
            plan.awaiting_new.len(),
            "insert awaited agencies",
        )
        .await?;
    }
    if !writes.requests.is_empty() {
        let r = &writes.requests;
        let statement = sqlx::query(
            "INSERT INTO requests (request_id, application_id, fingerprint, response, \
             recorded_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])",
        )
        .bind(texts(r, |(q, _, _)| &q.request_id))
        .bind(texts(r, |(_, id, _)| id))
        .bind(texts(r, |(q, _, _)| &q.fingerprint))
        .bind(texts(r, |(q, _, _)| &q.response))
        .bind(r.iter().map(|(_, _, at)| *at).collect::<Vec<_>>());
        execute_exact(conn, statement, r.len(), "insert requests").await?;
    }
    if !writes.events.is_empty() {
        let e = &writes.events;
        let statement = sqlx::query(
            "INSERT INTO events (application_id, application_sequence, kind, actor, at, \
             details, previous_hash, hash) \
             SELECT id, seq, kind, actor, at, details, previous_hash, hash \
             FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], \
             $6::text[], $7::text[], $8::text[]) WITH ORDINALITY \
             AS t(id, seq, kind, actor, at, details, previous_hash, hash, n) ORDER BY n",
        )
        .bind(texts(e, |x| &x.0))
        .bind(e.iter().map(|x| x.1).collect::<Vec<_>>())
        .bind(texts(e, |x| &x.2.kind))
        .bind(texts(e, |x| &x.2.actor))
        .bind(e.iter().map(|x| x.2.at).collect::<Vec<_>>())
        .bind(texts(e, |x| &x.2.details))
        .bind(texts(e, |x| &x.3))
        .bind(texts(e, |x| &x.4));
        execute_exact(conn, statement, e.len(), "insert events").await?;
    }
    Ok(())
}
