//! The licence writers' batches: a batch of changes decided against one
//! read of its rows and written with multi-row statements, or job by job.

use super::*;

/// The outcome of an issue as the application writes answer it.
pub(crate) fn issue_outcome(outcome: LicenseOutcome) -> Result<WriteOutcome, StoreError> {
    match outcome {
        LicenseOutcome::Committed => Ok(WriteOutcome::Committed),
        LicenseOutcome::Replayed { response } => Ok(WriteOutcome::Replayed { response }),
        LicenseOutcome::Declined => Err(StoreError::Internal("an issue declined".into())),
    }
}

/// A licence job queued for a writer task, with where its outcome goes.
pub(crate) struct QueuedJob {
    pub(crate) job: LicenseJob,
    pub(crate) reply: tokio::sync::oneshot::Sender<Result<LicenseOutcome, StoreError>>,
}

/// Whether a job that failed with `error` wrote nothing before failing
/// (it was refused on what it read), so the batch around it may go on.
pub(crate) fn refused_before_writing(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::NotFound(_)
            | StoreError::VersionConflict { .. }
            | StoreError::RequestIdReused(_)
    )
}

/// Runs the jobs a licence writer took from its queue, in transactions
/// opened with `begin`: together as [`run_batch`] does, or, where that
/// fails, one by one; and answers each.
pub(crate) async fn run_and_answer<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    begin: &'static str,
    batch: &mut Vec<QueuedJob>,
) {
    let results = match pool.acquire().await {
        Ok(mut conn) => run_batch::<DB>(&mut conn, begin, batch).await,
        Err(_) => None,
    };
    let results = match results {
        Some(results) => results,
        None => run_each::<DB>(pool, begin, batch).await,
    };
    for (queued, result) in batch.drain(..).zip(results) {
        // The caller may have gone away; the outcome stands all the same.
        let _ = queued.reply.send(result);
    }
}

/// Runs the jobs of a batch one after the other in one transaction (each
/// sees the writes of those before it) and answers them once it has
/// committed; `None` when it failed and the jobs must run one by one.
async fn run_batch<DB: Dialect>(
    conn: &mut DB::Connection,
    begin: &'static str,
    batch: &[QueuedJob],
) -> Option<Vec<Result<LicenseOutcome, StoreError>>> {
    let mut tx = conn.begin_with(begin).await.ok()?;
    if batch
        .iter()
        .all(|queued| matches!(queued.job, LicenseJob::Change { .. }))
    {
        let Ok(results) = run_changes::<DB>(&mut tx, batch).await else {
            let _ = tx.rollback().await;
            return None;
        };
        return finish_batch(tx, results).await;
    }
    let mut results = Vec::with_capacity(batch.len());
    for queued in batch {
        match run_job::<DB>(&mut tx, &queued.job).await {
            Ok(outcome) => results.push(Ok(outcome)),
            Err(JobError::Failed(e)) if refused_before_writing(&e) => results.push(Err(e)),
            Err(_) => {
                let _ = tx.rollback().await;
                return None;
            }
        }
    }
    finish_batch(tx, results).await
}

/// Commits a batch that committed a job (else rolls it back: nothing was
/// written) and gives its results; `None` when that fails.
async fn finish_batch<DB: Dialect>(
    tx: sqlx::Transaction<'_, DB>,
    results: Vec<Result<LicenseOutcome, StoreError>>,
) -> Option<Vec<Result<LicenseOutcome, StoreError>>> {
    if results
        .iter()
        .any(|r| matches!(r, Ok(LicenseOutcome::Committed)))
    {
        tx.commit().await.ok()?;
    } else {
        tx.rollback().await.ok()?;
    }
    Some(results)
}

/// Rows per multi-row statement of a batch of changes: far below the
/// bound-parameter limits of both dialects.
pub(super) const CHANGE_ROWS_PER_STATEMENT: usize = 100;

/// `?, ?, ...` (in the dialect's placeholders) of `values` inside `( )`.
pub(super) fn push_list<DB: Dialect>(q: &mut Sql<DB>, values: &[String]) {
    q.push("(");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push_text(value.clone());
    }
    q.push(")");
}

/// Runs a batch of changes (no issue among them) inside the open
/// transaction `conn`, with a few multi-row statements instead of a dozen
/// per job: the licences (with their chains' heads) and counters of the
/// whole batch are locked and read at once (licences, then counters, each
/// in key order: the order of a job run on its own, so writers of two
/// processes cannot deadlock on it), then the request ids (after the
/// locks, so a concurrent job on these rows has committed its record).
/// Each job is then decided in order against that state as changed by the
/// jobs before it (the same decision closure, so two jobs on one licence
/// or one counter see each other's effect), and what was decided is
/// written at the end. The caller commits; `Err` rolls the whole batch
/// back (the caller then runs each job on its own).
pub(crate) async fn run_changes<DB: Dialect>(
    conn: &mut DB::Connection,
    batch: &[QueuedJob],
) -> Result<Vec<Result<LicenseOutcome, StoreError>>, JobError> {
    let mut license_ids = Vec::new();
    let mut counter_keys = Vec::new();
    let mut request_ids = Vec::new();
    for queued in batch {
        let LicenseJob::Change {
            license_id,
            counter_keys: keys,
            request,
            ..
        } = &queued.job
        else {
            return Err(internal("an issue in a batch of changes"));
        };
        license_ids.push(license_id.clone());
        counter_keys.extend(keys.iter().cloned());
        if let Some(request) = request {
            request_ids.push(request.request_id.clone());
        }
    }
    for ids in [&mut license_ids, &mut counter_keys, &mut request_ids] {
        ids.sort();
        ids.dedup();
    }

    let mut licenses: HashMap<String, LicenseRow> = HashMap::new();
    // The chains' heads, by application (the licence's id).
    let mut heads: HashMap<String, ChainHead> = HashMap::new();
    let select = format!("SELECT {LICENSE_COLUMNS}, {HEAD_COLUMNS} FROM licenses");
    for r in locked_rows::<DB>(&mut *conn, &select, "id", &license_ids).await? {
        let row = license_from(&r).map_err(JobError::Failed)?;
        heads.insert(
            row.application_id.clone(),
            head_from(&r).map_err(JobError::Failed)?,
        );
        licenses.insert(row.id.clone(), row);
    }
    let mut counters = locked_counters::<DB>(&mut *conn, &counter_keys).await?;
    let mut requests: HashMap<String, (String, String)> = HashMap::new();
    for chunk in request_ids.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut q = Sql::<DB>::new(format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE request_id IN "
        ));
        push_list(&mut q, chunk);
        for r in DB::fetch_all(&mut *conn, &q).await.map_err(db::<DB>)? {
            request_from(&r, &mut requests).map_err(JobError::Failed)?;
        }
    }

    // What the batch read, to compare-and-set against when writing.
    let read_versions: HashMap<String, i64> = licenses
        .iter()
        .map(|(id, row)| (id.clone(), row.version))
        .collect();
    let read_states: HashMap<String, String> = licenses
        .iter()
        .map(|(id, row)| (id.clone(), row.state.clone()))
        .collect();
    let read_counters = counters.clone();

    let mut results = Vec::with_capacity(batch.len());
    // The rows to insert, in order.
    let mut events = Vec::new();
    let mut shipments = Vec::new();
    let mut records = Vec::new();
    let mut changed: Vec<String> = Vec::new();
    for queued in batch {
        let LicenseJob::Change {
            license_id,
            counter_keys: keys,
            request,
            decide,
        } = &queued.job
        else {
            return Err(internal("an issue in a batch of changes"));
        };
        if let Some(request) = request {
            if let Some((fingerprint, response)) = requests.get(&request.request_id) {
                results.push(
                    match crate::store::batch::replay(request, fingerprint, response) {
                        Ok(WriteOutcome::Replayed { response }) => {
                            Ok(LicenseOutcome::Replayed { response })
                        }
                        Ok(WriteOutcome::Committed) => Ok(LicenseOutcome::Committed),
                        Err(e) => Err(e),
                    },
                );
                continue;
            }
        }
        let Some(current) = licenses.get(license_id) else {
            results.push(Err(StoreError::NotFound(license_id.clone())));
            continue;
        };
        let application_id = current.application_id.clone();
        let Some(head) = heads.get(&application_id) else {
            return Err(internal(format!("licence {license_id} has no chain head")));
        };
        let view = LicenseView {
            row: current.clone(),
            counters: keys
                .iter()
                .map(|key| (key.clone(), counters.get(key).copied().unwrap_or(0)))
                .collect(),
        };
        let Some(write) = decide(&view) else {
            results.push(Ok(LicenseOutcome::Declined));
            continue;
        };
        if write.row.id != view.row.id || write.row.version <= view.row.version {
            return Err(internal(format!(
                "change of licence {license_id} to version {} does not move past {}",
                write.row.version, view.row.version
            )));
        }
        if let Some((key, _)) = write.counters.iter().find(|(key, _)| !keys.contains(key)) {
            return Err(internal(format!("counter {key} was not locked")));
        }
        if !write.events.is_empty() {
            let (links, new_head) = extend_chain(&application_id, head, &write.events);
            for (event, (sequence, previous, hash)) in write.events.iter().zip(links) {
                events.push(event_row(
                    application_id.clone(),
                    sequence,
                    event,
                    previous,
                    hash,
                ));
            }
            heads.insert(application_id, new_head);
        }
        for (key, delta) in &write.counters {
            // The rules refuse a change past 64 bits; this keeps a broken
            // rule from wrapping a total in the batch's view.
            let total = counters.entry(key.clone()).or_insert(0);
            *total = total
                .checked_add(*delta)
                .ok_or_else(|| internal(format!("counter {key} would pass 64 bits")))?;
        }
        shipments.extend(write.shipments.iter().map(shipment_row));
        if let Some(request) = request {
            let response = write
                .response
                .clone()
                .unwrap_or_else(|| request.response.clone());
            requests.insert(
                request.request_id.clone(),
                (request.fingerprint.clone(), response.clone()),
            );
            records.push(request_row(
                request.request_id.clone(),
                license_id.clone(),
                request.fingerprint.clone(),
                response,
                write.row.updated_at,
            ));
        }
        if !changed.contains(license_id) {
            changed.push(license_id.clone());
        }
        licenses.insert(license_id.clone(), write.row);
        results.push(Ok(LicenseOutcome::Committed));
    }
    if changed.is_empty() {
        return Ok(results);
    }

    // What the batch decided, written in one statement (see `Parts`).
    let mut writes = Parts::<DB, Mismatch>::new();
    add_inserts(&mut writes, INSERT_EVENTS, events);
    for chunk in changed.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let rows: Vec<&LicenseRow> = chunk.iter().map(|id| &licenses[id]).collect();
        let q = writes.part(rows.len(), Mismatch::LicenseMoved);
        q.push("UPDATE licenses SET version = CASE id");
        for row in &rows {
            q.push_when(row.id.clone(), Bind::Int(row.version));
        }
        // A shipment seldom changes a licence's state: the column is set
        // only for the rows whose state moved, so that SQLite, which
        // rewrites an index whose column is assigned, leaves the state
        // index alone when none did.
        let moved_state: Vec<&&LicenseRow> = rows
            .iter()
            .filter(|row| read_states.get(&row.id) != Some(&row.state))
            .collect();
        if !moved_state.is_empty() {
            q.push(" END, state = CASE id");
            for row in &moved_state {
                q.push_when(row.id.clone(), Bind::Text(row.state.clone()));
            }
            q.push(" ELSE state");
        }
        q.push(" END, updated_at = CASE id");
        for row in &rows {
            q.push_when(row.id.clone(), Bind::Int(row.updated_at));
        }
        // Every change moves the version, and the chain's head with it
        // when it records events: the version's compare-and-set covers both.
        q.push(" END, chain_length = CASE id");
        for row in &rows {
            q.push_when(row.id.clone(), Bind::Int(heads[&row.application_id].length));
        }
        q.push(" END, chain_head = CASE id");
        for row in &rows {
            q.push_when(
                row.id.clone(),
                Bind::Text(heads[&row.application_id].hash.clone()),
            );
        }
        q.push(" END, snapshot = CASE id");
        for row in &rows {
            q.push_when(row.id.clone(), Bind::Text(row.snapshot.clone()));
        }
        q.push(" END WHERE ");
        push_unchanged(
            q,
            "version",
            rows.iter().map(|row| (&row.id, read_versions[&row.id])),
        );
    }
    add_inserts(&mut writes, &insert_shipments(), shipments);
    let mut grown: Vec<(&String, i64)> = counters
        .iter()
        .map(|(key, value)| (key, value - read_counters.get(key).copied().unwrap_or(0)))
        .filter(|(_, delta)| *delta != 0)
        .collect();
    grown.sort();
    for chunk in grown.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let q = writes.part(chunk.len(), Mismatch::CounterMissing);
        q.push("UPDATE license_counters SET value = value + CASE counter");
        for (key, delta) in chunk {
            q.push_when((*key).clone(), Bind::Int(*delta));
        }
        q.push(" END WHERE counter IN ");
        let keys: Vec<String> = chunk.iter().map(|(key, _)| (*key).clone()).collect();
        push_list(q, &keys);
    }
    add_inserts(&mut writes, INSERT_REQUESTS, records);
    match writes.run(&mut *conn).await.map_err(db::<DB>)? {
        None => Ok(results),
        Some(Mismatch::LicenseMoved) => Err(moved("a licence moved under a batch of changes")),
        Some(Mismatch::CounterMissing) => {
            Err(internal("a counter of a batch of changes is missing"))
        }
        Some(Mismatch::Inserted) => Err(internal("a batch of licence changes lost an insert")),
    }
}

/// Which of a batch's writes changed another number of rows than it named.
enum Mismatch {
    LicenseMoved,
    CounterMissing,
    Inserted,
}

/// Adds the inserts of `rows` with `insert` (`INSERT INTO … VALUES `), one
/// multi-row part per [`CHANGE_ROWS_PER_STATEMENT`] rows.
fn add_inserts<DB: Dialect, const N: usize>(
    writes: &mut Parts<DB, Mismatch>,
    insert: &str,
    rows: Vec<[Bind; N]>,
) {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<[Bind; N]> = rows.by_ref().take(CHANGE_ROWS_PER_STATEMENT).collect();
        writes
            .part(chunk.len(), Mismatch::Inserted)
            .push(insert)
            .push_values(chunk);
    }
}

/// The counters `keys` (sorted, distinct), locked, with their values.
/// Counters exist before they are locked, so that two first shipments
/// against one cap wait for each other: those not found are created at 0
/// and then locked. Nearly always every counter exists, and one locking
/// read is all it takes (an insert that does nothing still looks each key
/// up, and a batch spread over many licences names many counters).
pub(super) async fn locked_counters<DB: Dialect>(
    conn: &mut DB::Connection,
    keys: &[String],
) -> Result<HashMap<String, i64>, JobError> {
    let mut counters = HashMap::new();
    read_locked_counters::<DB>(&mut *conn, keys, &mut counters).await?;
    let missing: Vec<String> = keys
        .iter()
        .filter(|key| !counters.contains_key(*key))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(counters);
    }
    // A row this transaction inserts is its own until it commits: what
    // the insert returns needs no second read. Only the counters another
    // transaction created meanwhile (the insert did nothing) are read.
    let at_zero: Vec<(String, i64)> = missing.iter().map(|key| (key.clone(), 0)).collect();
    let created =
        insert_counters::<DB>(&mut *conn, &at_zero, "DO NOTHING RETURNING counter, value")
            .await
            .map_err(db::<DB>)?;
    put_counters::<DB>(created, &mut counters)?;
    let created_elsewhere: Vec<String> = missing
        .into_iter()
        .filter(|key| !counters.contains_key(key))
        .collect();
    read_locked_counters::<DB>(&mut *conn, &created_elsewhere, &mut counters).await?;
    Ok(counters)
}

/// Inserts the counters `rows` (name, value), a statement per
/// [`CHANGE_ROWS_PER_STATEMENT`] rows, each ending `ON CONFLICT (counter)`
/// and then `on_conflict`; the rows a `RETURNING` clause there names.
pub(super) async fn insert_counters<DB: Dialect>(
    conn: &mut DB::Connection,
    rows: &[(String, i64)],
    on_conflict: &str,
) -> Result<Vec<DB::Row>, sqlx::Error> {
    let mut returned = Vec::new();
    for chunk in rows.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut q = Sql::<DB>::new("INSERT INTO license_counters (counter, value) VALUES ");
        q.push_values(
            chunk
                .iter()
                .map(|(key, value)| [Bind::Text(key.clone()), Bind::Int(*value)]),
        );
        q.push(" ON CONFLICT (counter) ").push(on_conflict);
        returned.extend(DB::fetch_all(&mut *conn, &q).await?);
    }
    Ok(returned)
}

/// Reads the counters `keys` locked (in key order) into `into`.
async fn read_locked_counters<DB: Dialect>(
    conn: &mut DB::Connection,
    keys: &[String],
    into: &mut HashMap<String, i64>,
) -> Result<(), JobError> {
    let select = "SELECT counter, value FROM license_counters";
    put_counters::<DB>(
        locked_rows::<DB>(conn, select, "counter", keys).await?,
        into,
    )
}

/// Rows of (counter, value) into `into`.
fn put_counters<DB: Dialect>(
    rows: Vec<DB::Row>,
    into: &mut HashMap<String, i64>,
) -> Result<(), JobError> {
    for r in rows {
        into.insert(
            r.text(0).map_err(JobError::Failed)?,
            r.int(1).map_err(JobError::Failed)?,
        );
    }
    Ok(())
}

/// The rows of `select` (`SELECT … FROM table`) whose `key` is one of
/// `keys` (sorted, distinct), locked in key order: transactions that lock
/// rows in the same order wait for each other instead of deadlocking.
pub(super) async fn locked_rows<DB: Dialect>(
    conn: &mut DB::Connection,
    select: &str,
    key: &str,
    keys: &[String],
) -> Result<Vec<DB::Row>, JobError> {
    let mut rows = Vec::new();
    for chunk in keys.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut q = Sql::<DB>::new(format!("{select} WHERE {key} IN "));
        push_list(&mut q, chunk);
        q.push(&format!(" ORDER BY {key}"));
        q.push(DB::FOR_UPDATE);
        rows.extend(DB::fetch_all(&mut *conn, &q).await.map_err(db::<DB>)?);
    }
    Ok(rows)
}

/// Runs each job of a batch in its own transaction (after a failed batch).
async fn run_each<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    begin: &'static str,
    batch: &[QueuedJob],
) -> Vec<Result<LicenseOutcome, StoreError>> {
    let mut alone = Vec::with_capacity(batch.len());
    for queued in batch {
        alone.push(match pool.acquire().await {
            Ok(mut conn) => run_alone::<DB>(&mut conn, begin, &queued.job).await,
            Err(e) => Err(DB::map_err(e)),
        });
    }
    alone
}
