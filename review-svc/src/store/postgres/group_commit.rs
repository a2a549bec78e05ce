//! The PostgreSQL store's writer tasks: queued writes committed together
//! (group commit), decided by the shared batch planner and written in one
//! statement of `UNNEST` multi-row parts. See the parent module for how a
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
use super::super::impl_store::Write;
use super::super::reads::{app_state_from, request_from, APP_STATE_COLUMNS, REQUEST_COLUMNS};
use super::super::sql::{out_of_reach, Dialect};
use super::super::{ApplicationRow, StoreError, WriteOutcome};
use super::{counted_writes, PostgresStore, BATCH_BEGIN};

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
        other => out_of_reach(other),
    };
    BatchFailed {
        error: Postgres::map_err(error),
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
                    let (row, events, request, expected_version) = op.parts();
                    let write = Write {
                        expected_version,
                        row,
                        events,
                        request,
                    };
                    one_by_one.push(direct.write_direct(write).await);
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
/// outcome in one statement (see [`Combined`]). A write racing from elsewhere
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

/// A batch's writes as one statement ([`counted_writes`]), their rows bound
/// as `UNNEST` arrays, so the batch's writes cost one round trip to the
/// database (and one statement for the server to run) instead of one each.
///
/// The parts run against the same snapshot, in no set order: they must not
/// touch the same rows (a batch never inserts and deletes one awaited
/// agency: [`plan`] keeps only the difference), and the foreign keys are
/// checked at the end of the statement, when every part has run.
#[derive(Default)]
struct Combined {
    arguments: PgArguments,
    bound: usize,
    /// (what, the data-modifying statement, rows it must change)
    parts: Vec<(&'static str, String, usize)>,
}

impl Combined {
    /// Binds one column of rows as an array: its placeholder, cast to `sql_type[]`.
    fn array<'q, T>(&mut self, values: Vec<T>, sql_type: &str) -> Result<String, StoreError>
    where
        Vec<T>: sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
        T: 'q,
    {
        use sqlx::Arguments;
        // PgArguments owns what it encodes: the borrow ends here.
        self.arguments
            .add(values)
            .map_err(|e| StoreError::Internal(format!("binding a batch column: {e}")))?;
        self.bound += 1;
        Ok(format!("${}::{sql_type}[]", self.bound))
    }

    fn texts<'a, R>(
        &mut self,
        rows: &'a [R],
        column: impl Fn(&'a R) -> &'a str,
    ) -> Result<String, StoreError> {
        self.array(rows.iter().map(column).collect::<Vec<_>>(), "text")
    }

    fn ints<R>(&mut self, rows: &[R], column: impl Fn(&R) -> i64) -> Result<String, StoreError> {
        self.array(rows.iter().map(column).collect::<Vec<_>>(), "bigint")
    }

    fn optional_ints<R>(
        &mut self,
        rows: &[R],
        column: impl Fn(&R) -> Option<i64>,
    ) -> Result<String, StoreError> {
        self.array(rows.iter().map(column).collect::<Vec<_>>(), "bigint")
    }

    fn part(&mut self, what: &'static str, sql: String, expected: usize) {
        self.parts.push((what, sql, expected));
    }

    /// Runs the parts and checks that each changed the rows it should.
    async fn execute(self, conn: &mut PgConnection) -> Result<(), BatchFailed> {
        use sqlx::Row;
        if self.parts.is_empty() {
            return Ok(());
        }
        let writes: Vec<&str> = self.parts.iter().map(|(_, sql, _)| sql.as_str()).collect();
        let sql = counted_writes(&writes);
        let row = sqlx::query_with(&sql, self.arguments)
            .fetch_one(&mut *conn)
            .await
            .map_err(failed)?;
        for (i, (what, _, expected)) in self.parts.iter().enumerate() {
            let changed: i64 = row.try_get(i).map_err(failed)?;
            if changed != *expected as i64 {
                return Err(StoreError::Internal(format!(
                    "{what}: {changed} rows changed, expected {expected}"
                ))
                .into());
            }
        }
        Ok(())
    }

    /// The application rows as the table `v`, for an INSERT or an UPDATE
    /// (`expected` is the stored version an update replaces; 0 for inserts).
    fn applications(
        &mut self,
        rows: &[(&ApplicationRow, &ChainHead, i64)],
    ) -> Result<String, StoreError> {
        let agencies = (rows.iter())
            .map(|(row, _, _)| agencies_json(&row.awaiting_agencies))
            .collect::<Result<Vec<_>, _>>()?;
        let columns = [
            self.texts(rows, |(row, _, _)| &row.id)?,
            self.ints(rows, |(_, _, expected)| *expected)?,
            self.ints(rows, |(row, _, _)| row.version)?,
            self.texts(rows, |(row, _, _)| &row.applicant)?,
            self.texts(rows, |(row, _, _)| &row.state)?,
            self.texts(rows, |(row, _, _)| &row.level)?,
            self.texts(rows, |(row, _, _)| &row.destination)?,
            self.array(agencies, "text")?,
            self.optional_ints(rows, |(row, _, _)| row.next_due_at)?,
            self.optional_ints(rows, |(row, _, _)| row.overdue_at)?,
            self.ints(rows, |(row, _, _)| row.created_at)?,
            self.ints(rows, |(row, _, _)| row.updated_at)?,
            self.texts(rows, |(row, _, _)| &row.snapshot)?,
            self.ints(rows, |(_, head, _)| head.length)?,
            self.texts(rows, |(_, head, _)| &head.hash)?,
        ];
        Ok(format!(
            "UNNEST({}) AS v(id, expected, version, applicant, state, level, destination, \
             awaiting_agencies, next_due_at, overdue_at, created_at, updated_at, snapshot, \
             chain_length, chain_head)",
            columns.join(", ")
        ))
    }

    /// Awaited agencies as the table `g(agency, created_at, id)`.
    fn awaiting(&mut self, rows: &[(&String, i64, &String)]) -> Result<String, StoreError> {
        Ok(format!(
            "UNNEST({}, {}, {}) AS g(agency, created_at, id)",
            self.texts(rows, |(agency, _, _)| agency)?,
            self.ints(rows, |(_, created_at, _)| *created_at)?,
            self.texts(rows, |(_, _, id)| id)?,
        ))
    }
}

async fn write_batch(
    conn: &mut PgConnection,
    plan: &Plan<'_>,
    writes: &BatchWrites,
) -> Result<(), BatchFailed> {
    let mut batch = Combined::default();
    if !plan.inserts.is_empty() {
        let rows: Vec<_> = (plan.inserts.iter())
            .map(|(row, head)| (*row, *head, 0))
            .collect();
        let v = batch.applications(&rows)?;
        batch.part(
            "insert applications",
            format!(
                "INSERT INTO applications (id, version, applicant, state, level, destination, \
                 awaiting_agencies, next_due_at, overdue_at, created_at, updated_at, snapshot, \
                 chain_length, chain_head) \
                 SELECT id, version, applicant, state, level, destination, awaiting_agencies, \
                 next_due_at, overdue_at, created_at, updated_at, snapshot, chain_length, \
                 chain_head FROM {v}"
            ),
            rows.len(),
        );
    }
    if !plan.updates.is_empty() {
        let v = batch.applications(&plan.updates)?;
        batch.part(
            "update applications",
            format!(
                "UPDATE applications a SET version = v.version, applicant = v.applicant, \
                 state = v.state, level = v.level, destination = v.destination, \
                 awaiting_agencies = v.awaiting_agencies, next_due_at = v.next_due_at, \
                 overdue_at = v.overdue_at, updated_at = v.updated_at, snapshot = v.snapshot, \
                 chain_length = v.chain_length, chain_head = v.chain_head \
                 FROM {v} WHERE a.id = v.id AND a.version = v.expected"
            ),
            plan.updates.len(),
        );
    }
    if !plan.awaiting_gone.is_empty() {
        let g = batch.awaiting(&plan.awaiting_gone)?;
        batch.part(
            "delete awaited agencies",
            format!(
                "DELETE FROM application_awaiting w USING {g} \
                 WHERE w.agency = g.agency AND w.created_at = g.created_at \
                 AND w.application_id = g.id"
            ),
            plan.awaiting_gone.len(),
        );
    }
    if !plan.awaiting_new.is_empty() {
        let g = batch.awaiting(&plan.awaiting_new)?;
        batch.part(
            "insert awaited agencies",
            format!(
                "INSERT INTO application_awaiting (agency, created_at, application_id) \
                 SELECT agency, created_at, id FROM {g}"
            ),
            plan.awaiting_new.len(),
        );
    }
    if !writes.requests.is_empty() {
        let r = &writes.requests;
        let columns = [
            batch.texts(r, |(q, _, _)| &q.request_id)?,
            batch.texts(r, |(_, id, _)| id)?,
            batch.texts(r, |(q, _, _)| &q.fingerprint)?,
            batch.texts(r, |(q, _, _)| &q.response)?,
            batch.ints(r, |(_, _, at)| *at)?,
        ];
        batch.part(
            "insert requests",
            format!(
                "INSERT INTO requests (request_id, application_id, fingerprint, response, \
                 recorded_at) SELECT * FROM UNNEST({})",
                columns.join(", ")
            ),
            r.len(),
        );
    }
    if !writes.events.is_empty() {
        let e = &writes.events;
        let columns = [
            batch.texts(e, |x| &x.0)?,
            batch.ints(e, |x| x.1)?,
            batch.texts(e, |x| &x.2.kind)?,
            batch.texts(e, |x| &x.2.actor)?,
            batch.ints(e, |x| x.2.at)?,
            batch.texts(e, |x| &x.2.details)?,
            batch.texts(e, |x| &x.3)?,
            batch.texts(e, |x| &x.4)?,
        ];
        // In the batch's order: `sequence` numbers them as they come.
        batch.part(
            "insert events",
            format!(
                "INSERT INTO events (application_id, application_sequence, kind, actor, at, \
                 details, previous_hash, hash) \
                 SELECT id, seq, kind, actor, at, details, previous_hash, hash \
                 FROM UNNEST({}) WITH ORDINALITY \
                 AS t(id, seq, kind, actor, at, details, previous_hash, hash, n) ORDER BY n",
                columns.join(", ")
            ),
            e.len(),
        );
    }
    batch.execute(conn).await
}
