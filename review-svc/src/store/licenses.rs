//! Licences, shipments and cap counters: rows, and the one transaction
//! that changes them, written once for both dialects.
//!
//! # Design
//!
//! - **One history.** A licence's events are appended to the hash chain of
//!   the application that issued it (same `events` table, same global
//!   sequence): `VerifyAuditTrail`, the audit checkpoints and
//!   `WatchApplications` see them with no change. The licence id is the
//!   application id, so each licence has exactly one chain.
//! - **Issued in the decision's write.** [`LicenseJob::Issue`] is the
//!   application update (compare-and-set on the version, events appended,
//!   awaited agencies replaced, request recorded) plus the licence row, in
//!   one transaction.
//! - **Decided under lock.** [`LicenseJob::Change`] reads the licence row,
//!   the chain head of its application and the counters the caller names,
//!   locked (`FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` holds
//!   the whole database), and calls the caller's decision on that state
//!   inside the transaction: what it returns (events, the new licence row,
//!   shipments, counter increments, the request record) is written before
//!   the same commit, or nothing is when it declines. Two processes on one
//!   PostgreSQL serialise on the licence row (and on a counter shared by
//!   several licences), so a licence is never overdrawn and a cap never
//!   exceeded. Locks are taken licence first, then counters in key order;
//!   a deadlock, serialisation failure or unique violation (two first
//!   inserts of a counter or of a request id) rolls back and runs the job
//!   again, decision included.
//! - **Applications stay put.** Licence events leave the application row's
//!   version (and snapshot) alone: the application is closed when its
//!   licence exists, so no workflow write competes for its chain, and its
//!   version keeps counting the workflow's events.
//! - **Group commit.** Each store has a licence writer that takes every
//!   job waiting in its queue and runs them one after the other in one
//!   transaction (`BEGIN IMMEDIATE` on SQLite; on PostgreSQL the row locks
//!   are held to the batch's commit), each seeing the earlier ones' writes,
//!   replying after the COMMIT; if the batch fails (on PostgreSQL, say, a
//!   deadlock with another process's writer) each job runs again on its
//!   own, and again while it conflicts. A batch of changes only (no
//!   issue) is run by [`run_changes`]: its licences, chain heads and
//!   counters are locked and read once, each job decided in order against
//!   the batch's state, and what was decided written with one multi-row
//!   statement a table. Unbatched PostgreSQL stores
//!   (`batch_writers: 0`) run each job in its own transaction.
//! - **What a refusal leaves.** A declined change writes no event, licence,
//!   shipment or request record; the only trace it can leave is a counter
//!   row created at 0 (counters are created before they are locked) when
//!   another job of its batch commits.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{ColumnIndex, Connection, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

use super::batch::distinct;
use super::chain::{extend_chain, ChainHead};
use super::sql::{Dialect, Sql};
use super::{ApplicationRow, IdempotentRequest, NewEvent, StoreError, WriteOutcome};

/// One licence as stored. Times are Unix milliseconds (UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct LicenseRow {
    /// The id part of `licenses/{id}` (the application's id).
    pub id: String,
    pub application_id: String,
    /// Number of the licence's events; the etag is derived from it.
    pub version: i64,
    pub holder: String,
    pub state: String,
    pub destination: String,
    pub end_user: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub updated_at: i64,
    /// The licence as the service renders it, opaque to the store.
    pub snapshot: String,
}

/// One shipment (an export or a domestic shipment) as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipmentRow {
    /// Unique: the licence id and the shipment's number.
    pub id: String,
    pub license_id: String,
    pub holder: String,
    /// "EXPORT" or "DOMESTIC".
    pub kind: String,
    pub shipped_at: i64,
    pub recorded_at: i64,
    /// The shipment as the service renders it, opaque to the store.
    pub details: String,
}

/// Filters of `list_licenses`. None means no filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LicenseFilter {
    pub holder: Option<String>,
    pub state: Option<String>,
    pub destination: Option<String>,
    pub end_user: Option<String>,
    /// Only licences with expires_at < this time.
    pub expires_before: Option<i64>,
}

/// Filters of `list_shipments`. None means no filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShipmentFilter {
    pub license_id: Option<String>,
    pub holder: Option<String>,
    pub kind: Option<String>,
    /// shipped_at >= this.
    pub from: Option<i64>,
    /// shipped_at < this.
    pub to: Option<i64>,
}

/// Keyset cursor: (time, id) of the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCursor {
    pub at: i64,
    pub id: String,
}

/// What a licence change is decided on: the licence row and the counters
/// asked for (0 when never written), as locked by the transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenseView {
    pub row: LicenseRow,
    pub counters: HashMap<String, i64>,
}

/// What a decided change writes.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenseWrite {
    /// The licence after the change (a greater version).
    pub row: LicenseRow,
    pub events: Vec<NewEvent>,
    pub shipments: Vec<ShipmentRow>,
    /// (counter, amount to add): only counters named in the job.
    pub counters: Vec<(String, i64)>,
    /// What the request record keeps as the answer, in place of the
    /// job's (known only once decided).
    pub response: Option<String>,
}

/// The decision of a change, called inside the transaction (possibly more
/// than once, when the transaction is run again): `None` declines and
/// nothing is written.
pub type Decide = Arc<dyn Fn(&LicenseView) -> Option<LicenseWrite> + Send + Sync>;

/// What a licence write did.
#[derive(Debug, Clone, PartialEq)]
pub enum LicenseOutcome {
    Committed,
    /// The decision declined: nothing written.
    Declined,
    /// The request id was seen before: nothing written; the first answer.
    Replayed {
        response: String,
    },
}

/// A licence write, run by [`run_job`].
#[derive(Clone)]
pub(crate) enum LicenseJob {
    Issue(Box<IssueJob>),
    Change {
        license_id: String,
        counter_keys: Vec<String>,
        request: Option<IdempotentRequest>,
        decide: Decide,
    },
}

/// An application update that issues a licence.
#[derive(Clone)]
pub(crate) struct IssueJob {
    pub(crate) expected_version: i64,
    pub(crate) row: ApplicationRow,
    pub(crate) events: Vec<NewEvent>,
    pub(crate) request: Option<IdempotentRequest>,
    pub(crate) license: LicenseRow,
}

/// The columns of [`license_from`].
pub(crate) const LICENSE_COLUMNS: &str = "id, application_id, version, holder, state, \
     destination, end_user, issued_at, expires_at, updated_at, snapshot";

const SHIPMENT_COLUMNS: &str = "id, license_id, holder, kind, shipped_at, recorded_at, details";

pub(crate) fn license_from<R>(r: &R) -> Result<LicenseRow, StoreError>
where
    R: Row,
    R::Database: Dialect,
    usize: ColumnIndex<R>,
    for<'a> String: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> i64: Decode<'a, R::Database> + Type<R::Database>,
{
    let e = <R::Database as Dialect>::map_err;
    Ok(LicenseRow {
        id: r.try_get(0).map_err(e)?,
        application_id: r.try_get(1).map_err(e)?,
        version: r.try_get(2).map_err(e)?,
        holder: r.try_get(3).map_err(e)?,
        state: r.try_get(4).map_err(e)?,
        destination: r.try_get(5).map_err(e)?,
        end_user: r.try_get(6).map_err(e)?,
        issued_at: r.try_get(7).map_err(e)?,
        expires_at: r.try_get(8).map_err(e)?,
        updated_at: r.try_get(9).map_err(e)?,
        snapshot: r.try_get(10).map_err(e)?,
    })
}

fn shipment_from<R>(r: &R) -> Result<ShipmentRow, StoreError>
where
    R: Row,
    R::Database: Dialect,
    usize: ColumnIndex<R>,
    for<'a> String: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> i64: Decode<'a, R::Database> + Type<R::Database>,
{
    let e = <R::Database as Dialect>::map_err;
    Ok(ShipmentRow {
        id: r.try_get(0).map_err(e)?,
        license_id: r.try_get(1).map_err(e)?,
        holder: r.try_get(2).map_err(e)?,
        kind: r.try_get(3).map_err(e)?,
        shipped_at: r.try_get(4).map_err(e)?,
        recorded_at: r.try_get(5).map_err(e)?,
        details: r.try_get(6).map_err(e)?,
    })
}

/// Why a job's transaction failed.
pub(crate) enum JobError {
    /// A deadlock, serialisation failure or unique violation: run it again.
    Conflict(StoreError),
    Failed(StoreError),
}

fn db<DB: Dialect>(error: sqlx::Error) -> JobError {
    let conflict = match &error {
        sqlx::Error::Database(d) => {
            d.is_unique_violation() || d.code().is_some_and(|c| c.starts_with("40"))
        }
        _ => false,
    };
    let mapped = DB::map_err(error);
    if conflict {
        JobError::Conflict(mapped)
    } else {
        JobError::Failed(mapped)
    }
}

fn internal(detail: impl Into<String>) -> JobError {
    JobError::Failed(StoreError::Internal(detail.into()))
}

/// Runs one job inside the open transaction `conn`; writes nothing when
/// the outcome is not `Committed`. The caller commits (or rolls back).
pub(crate) async fn run_job<DB>(
    conn: &mut DB::Connection,
    job: &LicenseJob,
) -> Result<LicenseOutcome, JobError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
{
    let request = match job {
        LicenseJob::Issue(job) => &job.request,
        LicenseJob::Change { request, .. } => request,
    };
    if let Some(request) = request {
        let mut q =
            Sql::<DB>::new("SELECT fingerprint, response FROM requests WHERE request_id = ");
        q.push_text(request.request_id.clone());
        if let Some(r) = q
            .query()
            .fetch_optional(&mut *conn)
            .await
            .map_err(db::<DB>)?
        {
            let fingerprint: String = r.try_get(0).map_err(db::<DB>)?;
            let response: String = r.try_get(1).map_err(db::<DB>)?;
            return match super::batch::replay(request, &fingerprint, &response) {
                Ok(WriteOutcome::Replayed { response }) => {
                    Ok(LicenseOutcome::Replayed { response })
                }
                Ok(WriteOutcome::Committed) => Ok(LicenseOutcome::Committed),
                Err(e) => Err(JobError::Failed(e)),
            };
        }
    }
    let outcome = match job {
        LicenseJob::Issue(job) => {
            issue::<DB>(
                conn,
                job.expected_version,
                &job.row,
                &job.events,
                &job.license,
            )
            .await?;
            (LicenseOutcome::Committed, job.row.updated_at, None)
        }
        LicenseJob::Change {
            license_id,
            counter_keys,
            decide,
            request: _,
        } => change::<DB>(conn, license_id, counter_keys, decide).await?,
    };
    let (outcome, at, response) = outcome;
    if let (LicenseOutcome::Committed, Some(request)) = (&outcome, request) {
        let application = match job {
            LicenseJob::Issue(job) => job.row.id.clone(),
            LicenseJob::Change { license_id, .. } => license_id.clone(),
        };
        let mut q = Sql::<DB>::new(
            "INSERT INTO requests (request_id, application_id, fingerprint, response, recorded_at) VALUES (",
        );
        q.push_text(request.request_id.clone());
        q.push(", ");
        q.push_text(application);
        q.push(", ");
        q.push_text(request.fingerprint.clone());
        q.push(", ");
        q.push_text(response.unwrap_or_else(|| request.response.clone()));
        q.push(", ");
        q.push_int(at);
        q.push(")");
        q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    }
    Ok(outcome)
}

/// The chain head of an application, locked; None when it does not exist.
async fn locked_head<DB>(
    conn: &mut DB::Connection,
    application_id: &str,
) -> Result<Option<(i64, ChainHead, i64)>, JobError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
{
    let mut q = Sql::<DB>::new(
        "SELECT version, chain_length, chain_head, created_at FROM applications WHERE id = ",
    );
    q.push_text(application_id);
    q.push(DB::FOR_UPDATE);
    let Some(r) = q
        .query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(db::<DB>)?
    else {
        return Ok(None);
    };
    let head = ChainHead {
        length: r.try_get(1).map_err(db::<DB>)?,
        hash: r.try_get(2).map_err(db::<DB>)?,
    };
    Ok(Some((
        r.try_get(0).map_err(db::<DB>)?,
        head,
        r.try_get(3).map_err(db::<DB>)?,
    )))
}

/// Appends `events` to the chain after `head` and moves the head.
async fn append<DB>(
    conn: &mut DB::Connection,
    application_id: &str,
    head: &ChainHead,
    events: &[NewEvent],
) -> Result<(), JobError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
{
    if events.is_empty() {
        return Ok(());
    }
    let (links, new_head) = extend_chain(application_id, head, events);
    let mut q = Sql::<DB>::new(
        "INSERT INTO events (application_id, application_sequence, kind, actor, at, details, \
         previous_hash, hash) VALUES ",
    );
    for (i, (event, (sequence, previous, hash))) in events.iter().zip(links).enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push("(");
        q.push_text(application_id);
        q.push(", ");
        q.push_int(sequence);
        q.push(", ");
        q.push_text(event.kind.clone());
        q.push(", ");
        q.push_text(event.actor.clone());
        q.push(", ");
        q.push_int(event.at);
        q.push(", ");
        q.push_text(event.details.clone());
        q.push(", ");
        q.push_text(previous);
        q.push(", ");
        q.push_text(hash);
        q.push(")");
    }
    q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    let mut q = Sql::<DB>::new("UPDATE applications SET chain_length = ");
    q.push_int(new_head.length);
    q.push(", chain_head = ");
    q.push_text(new_head.hash);
    q.push(" WHERE id = ");
    q.push_text(application_id);
    q.push(" AND chain_length = ");
    q.push_int(head.length);
    let done = q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    if DB::rows_affected(&done) != 1 {
        return Err(JobError::Conflict(StoreError::Unavailable(format!(
            "the chain of {application_id} moved"
        ))));
    }
    Ok(())
}

async fn issue<DB>(
    conn: &mut DB::Connection,
    expected_version: i64,
    row: &ApplicationRow,
    events: &[NewEvent],
    license: &LicenseRow,
) -> Result<(), JobError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
{
    let Some((version, head, created_at)) = locked_head::<DB>(conn, &row.id).await? else {
        return Err(JobError::Failed(StoreError::NotFound(row.id.clone())));
    };
    if version != expected_version {
        return Err(JobError::Failed(StoreError::VersionConflict {
            id: row.id.clone(),
            expected: expected_version,
            current: version,
        }));
    }
    append::<DB>(conn, &row.id, &head, events).await?;
    let agencies = super::batch::agencies_json(&row.awaiting_agencies).map_err(JobError::Failed)?;
    let mut q = Sql::<DB>::new("UPDATE applications SET version = ");
    q.push_int(row.version);
    for (column, value) in [
        ("applicant", &row.applicant),
        ("state", &row.state),
        ("level", &row.level),
        ("destination", &row.destination),
        ("awaiting_agencies", &agencies),
        ("snapshot", &row.snapshot),
    ] {
        q.push(&format!(", {column} = "));
        q.push_text(value.clone());
    }
    for (column, value) in [
        ("next_due_at", row.next_due_at),
        ("overdue_at", row.overdue_at),
    ] {
        match value {
            Some(v) => {
                q.push(&format!(", {column} = "));
                q.push_int(v);
            }
            None => {
                q.push(&format!(", {column} = NULL"));
            }
        }
    }
    q.push(", updated_at = ");
    q.push_int(row.updated_at);
    q.push(" WHERE id = ");
    q.push_text(row.id.clone());
    q.push(" AND version = ");
    q.push_int(expected_version);
    let done = q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    if DB::rows_affected(&done) != 1 {
        return Err(internal(format!("update of {} changed no row", row.id)));
    }
    let mut q = Sql::<DB>::new("DELETE FROM application_awaiting WHERE application_id = ");
    q.push_text(row.id.clone());
    q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    for agency in distinct(&row.awaiting_agencies) {
        let mut q = Sql::<DB>::new(
            "INSERT INTO application_awaiting (agency, created_at, application_id) VALUES (",
        );
        q.push_text(agency.clone());
        q.push(", ");
        q.push_int(created_at);
        q.push(", ");
        q.push_text(row.id.clone());
        q.push(")");
        q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    }
    let mut q = Sql::<DB>::new(format!("INSERT INTO licenses ({LICENSE_COLUMNS}) VALUES ("));
    q.push_text(license.id.clone());
    q.push(", ");
    q.push_text(license.application_id.clone());
    q.push(", ");
    q.push_int(license.version);
    for value in [
        &license.holder,
        &license.state,
        &license.destination,
        &license.end_user,
    ] {
        q.push(", ");
        q.push_text(value.clone());
    }
    for value in [license.issued_at, license.expires_at, license.updated_at] {
        q.push(", ");
        q.push_int(value);
    }
    q.push(", ");
    q.push_text(license.snapshot.clone());
    q.push(")");
    q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    Ok(())
}

async fn change<DB>(
    conn: &mut DB::Connection,
    license_id: &str,
    counter_keys: &[String],
    decide: &Decide,
) -> Result<(LicenseOutcome, i64, Option<String>), JobError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
{
    let mut q = Sql::<DB>::new(format!(
        "SELECT {LICENSE_COLUMNS} FROM licenses WHERE id = "
    ));
    q.push_text(license_id);
    q.push(DB::FOR_UPDATE);
    let Some(r) = q
        .query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(db::<DB>)?
    else {
        return Err(JobError::Failed(StoreError::NotFound(
            license_id.to_owned(),
        )));
    };
    let row = license_from(&r).map_err(JobError::Failed)?;
    let Some((_, head, _)) = locked_head::<DB>(conn, &row.application_id).await? else {
        return Err(internal(format!("licence {license_id} has no application")));
    };
    let mut keys = counter_keys.to_vec();
    keys.sort();
    keys.dedup();
    let mut counters = HashMap::new();
    if !keys.is_empty() {
        // Counters exist before they are locked, so that two first
        // shipments against one cap wait for each other.
        let mut q = Sql::<DB>::new("INSERT INTO license_counters (counter, value) VALUES ");
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(");
            q.push_text(key.clone());
            q.push(", 0)");
        }
        q.push(" ON CONFLICT (counter) DO NOTHING");
        q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
        let mut q =
            Sql::<DB>::new("SELECT counter, value FROM license_counters WHERE counter IN (");
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_text(key.clone());
        }
        q.push(") ORDER BY counter");
        q.push(DB::FOR_UPDATE);
        for r in q.query().fetch_all(&mut *conn).await.map_err(db::<DB>)? {
            counters.insert(
                r.try_get::<String, _>(0).map_err(db::<DB>)?,
                r.try_get::<i64, _>(1).map_err(db::<DB>)?,
            );
        }
    }
    let view = LicenseView { row, counters };
    let Some(write) = decide(&view) else {
        return Ok((LicenseOutcome::Declined, 0, None));
    };
    if write.row.id != view.row.id || write.row.version <= view.row.version {
        return Err(internal(format!(
            "change of licence {license_id} to version {} does not move past {}",
            write.row.version, view.row.version
        )));
    }
    append::<DB>(conn, &view.row.application_id, &head, &write.events).await?;
    let mut q = Sql::<DB>::new("UPDATE licenses SET version = ");
    q.push_int(write.row.version);
    q.push(", state = ");
    q.push_text(write.row.state.clone());
    q.push(", updated_at = ");
    q.push_int(write.row.updated_at);
    q.push(", snapshot = ");
    q.push_text(write.row.snapshot.clone());
    q.push(" WHERE id = ");
    q.push_text(license_id);
    q.push(" AND version = ");
    q.push_int(view.row.version);
    let done = q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    if DB::rows_affected(&done) != 1 {
        return Err(JobError::Conflict(StoreError::Unavailable(format!(
            "licence {license_id} moved"
        ))));
    }
    for shipment in &write.shipments {
        let mut q = Sql::<DB>::new(format!(
            "INSERT INTO shipments ({SHIPMENT_COLUMNS}) VALUES ("
        ));
        for value in [
            &shipment.id,
            &shipment.license_id,
            &shipment.holder,
            &shipment.kind,
        ] {
            q.push_text(value.clone());
            q.push(", ");
        }
        q.push_int(shipment.shipped_at);
        q.push(", ");
        q.push_int(shipment.recorded_at);
        q.push(", ");
        q.push_text(shipment.details.clone());
        q.push(")");
        q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    }
    for (key, delta) in &write.counters {
        if !keys.contains(key) {
            return Err(internal(format!("counter {key} was not locked")));
        }
        let mut q = Sql::<DB>::new("UPDATE license_counters SET value = value + ");
        q.push_int(*delta);
        q.push(" WHERE counter = ");
        q.push_text(key.clone());
        q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    }
    Ok((
        LicenseOutcome::Committed,
        write.row.updated_at,
        write.response,
    ))
}

/// Runs one job in its own transaction, again while it conflicts (a few
/// times, then `Unavailable`).
pub(crate) async fn run_alone<DB>(
    conn: &mut DB::Connection,
    begin: &'static str,
    job: &LicenseJob,
) -> Result<LicenseOutcome, StoreError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
{
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let mut tx = conn.begin_with(begin).await.map_err(DB::map_err)?;
        let result = run_job::<DB>(&mut tx, job).await;
        let result = match result {
            Ok(LicenseOutcome::Committed) => match tx.commit().await {
                Ok(()) => return Ok(LicenseOutcome::Committed),
                Err(e) => Err(db::<DB>(e)),
            },
            Ok(other) => {
                tx.rollback().await.map_err(DB::map_err)?;
                return Ok(other);
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        };
        match result {
            Err(JobError::Conflict(e)) if attempt >= 20 => {
                return Err(StoreError::Unavailable(format!(
                    "licence write kept conflicting: {e}"
                )))
            }
            Err(JobError::Conflict(_)) => {
                let pause = rand::random::<u64>() % (u64::from(attempt) * 2 + 1);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            Err(JobError::Failed(e)) => return Err(e),
            Ok(outcome) => return Ok(outcome),
        }
    }
}

/// The reads of licences and shipments over a pool of either dialect.
pub(crate) struct LicenseReads<DB: Database> {
    pool: sqlx::Pool<DB>,
}

impl<DB> LicenseReads<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
{
    pub(crate) fn new(pool: sqlx::Pool<DB>) -> Self {
        Self { pool }
    }

    async fn licenses(&self, q: Sql<DB>) -> Result<Vec<LicenseRow>, StoreError> {
        let rows = q.query().fetch_all(&self.pool).await.map_err(DB::map_err)?;
        rows.iter().map(license_from).collect()
    }

    pub(crate) async fn get(&self, id: &str) -> Result<Option<LicenseRow>, StoreError> {
        let mut q = Sql::<DB>::new(format!(
            "SELECT {LICENSE_COLUMNS} FROM licenses WHERE id = "
        ));
        q.push_text(id);
        Ok(self.licenses(q).await?.pop())
    }

    /// Newest first (issued_at desc, id desc).
    pub(crate) async fn list(
        &self,
        filter: &LicenseFilter,
        after: Option<&KeyCursor>,
        limit: u32,
    ) -> Result<Vec<LicenseRow>, StoreError> {
        let mut q = Sql::<DB>::new(format!(
            "SELECT {LICENSE_COLUMNS} FROM licenses WHERE 1 = 1"
        ));
        for (column, value) in [
            ("holder", &filter.holder),
            ("state", &filter.state),
            ("destination", &filter.destination),
            ("end_user", &filter.end_user),
        ] {
            if let Some(value) = value {
                q.push(&format!(" AND {column} = "));
                q.push_text(value.clone());
            }
        }
        if let Some(before) = filter.expires_before {
            q.push(" AND expires_at < ");
            q.push_int(before);
        }
        if let Some(cursor) = after {
            q.push(" AND (issued_at < ");
            q.push_int(cursor.at);
            q.push(" OR (issued_at = ");
            q.push_int(cursor.at);
            q.push(" AND id < ");
            q.push_text(cursor.id.clone());
            q.push("))");
        }
        q.push(" ORDER BY issued_at DESC, id DESC LIMIT ");
        q.push_int(i64::from(limit));
        self.licenses(q).await
    }

    /// Active or suspended licences whose expiry has passed, earliest first.
    pub(crate) async fn due(&self, now: i64, limit: u32) -> Result<Vec<LicenseRow>, StoreError> {
        let mut q = Sql::<DB>::new(format!(
            "SELECT {LICENSE_COLUMNS} FROM licenses \
             WHERE state IN ('ACTIVE', 'SUSPENDED') AND expires_at <= "
        ));
        q.push_int(now);
        q.push(" ORDER BY expires_at, id LIMIT ");
        q.push_int(i64::from(limit));
        self.licenses(q).await
    }

    /// Oldest first (shipped_at, id).
    pub(crate) async fn shipments(
        &self,
        filter: &ShipmentFilter,
        after: Option<&KeyCursor>,
        limit: u32,
    ) -> Result<Vec<ShipmentRow>, StoreError> {
        let mut q = Sql::<DB>::new(format!(
            "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE 1 = 1"
        ));
        for (column, value) in [
            ("license_id", &filter.license_id),
            ("holder", &filter.holder),
            ("kind", &filter.kind),
        ] {
            if let Some(value) = value {
                q.push(&format!(" AND {column} = "));
                q.push_text(value.clone());
            }
        }
        if let Some(from) = filter.from {
            q.push(" AND shipped_at >= ");
            q.push_int(from);
        }
        if let Some(to) = filter.to {
            q.push(" AND shipped_at < ");
            q.push_int(to);
        }
        if let Some(cursor) = after {
            q.push(" AND (shipped_at > ");
            q.push_int(cursor.at);
            q.push(" OR (shipped_at = ");
            q.push_int(cursor.at);
            q.push(" AND id > ");
            q.push_text(cursor.id.clone());
            q.push("))");
        }
        q.push(" ORDER BY shipped_at, id LIMIT ");
        q.push_int(i64::from(limit));
        let rows = q.query().fetch_all(&self.pool).await.map_err(DB::map_err)?;
        rows.iter().map(shipment_from).collect()
    }

    /// The value of each counter (absent: never written).
    pub(crate) async fn counters(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, i64>, StoreError> {
        let mut out = HashMap::new();
        if keys.is_empty() {
            return Ok(out);
        }
        let mut q =
            Sql::<DB>::new("SELECT counter, value FROM license_counters WHERE counter IN (");
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_text(key.clone());
        }
        q.push(")");
        let e = DB::map_err;
        for r in q.query().fetch_all(&self.pool).await.map_err(e)? {
            out.insert(
                r.try_get::<String, _>(0).map_err(e)?,
                r.try_get::<i64, _>(1).map_err(e)?,
            );
        }
        Ok(out)
    }
}

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

/// Runs the jobs of a batch one after the other in one transaction (each
/// sees the writes of those before it) and answers them once it has
/// committed; `None` when it failed and the jobs must run one by one.
pub(crate) async fn run_batch<DB>(
    conn: &mut DB::Connection,
    begin: &'static str,
    batch: &[QueuedJob],
) -> Option<Vec<Result<LicenseOutcome, StoreError>>>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
{
    let mut tx = conn.begin_with(begin).await.ok()?;
    if batch
        .iter()
        .all(|queued| matches!(queued.job, LicenseJob::Change { .. }))
    {
        let Ok(results) = run_changes::<DB>(&mut tx, batch).await else {
            let _ = tx.rollback().await;
            return None;
        };
        if results
            .iter()
            .any(|r| matches!(r, Ok(LicenseOutcome::Committed)))
        {
            tx.commit().await.ok()?;
        } else {
            tx.rollback().await.ok()?;
        }
        return Some(results);
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
const CHANGE_ROWS_PER_STATEMENT: usize = 100;

/// `?, ?, ...` (in the dialect's placeholders) of `values` inside `( )`.
fn push_list<DB: Dialect>(q: &mut Sql<DB>, values: &[String]) {
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
/// per job: the licences, chain heads and counters of the whole batch are
/// locked and read at once (licences, then applications, then counters,
/// each in key order: the order of a job run on its own, so writers of two
/// processes cannot deadlock on it), then the request ids (after the
/// locks, so a concurrent job on these rows has committed its record).
/// Each job is then decided in order against that state as changed by the
/// jobs before it (the same decision closure, so two jobs on one licence
/// or one counter see each other's effect), and what was decided is
/// written at the end. The caller commits; `Err` rolls the whole batch
/// back (the caller then runs each job on its own).
pub(crate) async fn run_changes<DB>(
    conn: &mut DB::Connection,
    batch: &[QueuedJob],
) -> Result<Vec<Result<LicenseOutcome, StoreError>>, JobError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
{
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
    for chunk in license_ids.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut q = Sql::<DB>::new(format!(
            "SELECT {LICENSE_COLUMNS} FROM licenses WHERE id IN "
        ));
        push_list(&mut q, chunk);
        q.push(" ORDER BY id");
        q.push(DB::FOR_UPDATE);
        for r in q.query().fetch_all(&mut *conn).await.map_err(db::<DB>)? {
            let row = license_from(&r).map_err(JobError::Failed)?;
            licenses.insert(row.id.clone(), row);
        }
    }
    let mut application_ids: Vec<String> = licenses
        .values()
        .map(|row| row.application_id.clone())
        .collect();
    application_ids.sort();
    application_ids.dedup();
    let mut heads: HashMap<String, ChainHead> = HashMap::new();
    for chunk in application_ids.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut q =
            Sql::<DB>::new("SELECT id, chain_length, chain_head FROM applications WHERE id IN ");
        push_list(&mut q, chunk);
        q.push(" ORDER BY id");
        q.push(DB::FOR_UPDATE);
        for r in q.query().fetch_all(&mut *conn).await.map_err(db::<DB>)? {
            heads.insert(
                r.try_get(0).map_err(db::<DB>)?,
                ChainHead {
                    length: r.try_get(1).map_err(db::<DB>)?,
                    hash: r.try_get(2).map_err(db::<DB>)?,
                },
            );
        }
    }
    let mut counters: HashMap<String, i64> = HashMap::new();
    for chunk in counter_keys.chunks(CHANGE_ROWS_PER_STATEMENT) {
        // Counters exist before they are locked, so that two first
        // shipments against one cap wait for each other.
        let mut q = Sql::<DB>::new("INSERT INTO license_counters (counter, value) VALUES ");
        for (i, key) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(");
            q.push_text(key.clone());
            q.push(", 0)");
        }
        q.push(" ON CONFLICT (counter) DO NOTHING");
        q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    }
    for chunk in counter_keys.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut q = Sql::<DB>::new("SELECT counter, value FROM license_counters WHERE counter IN ");
        push_list(&mut q, chunk);
        q.push(" ORDER BY counter");
        q.push(DB::FOR_UPDATE);
        for r in q.query().fetch_all(&mut *conn).await.map_err(db::<DB>)? {
            counters.insert(
                r.try_get::<String, _>(0).map_err(db::<DB>)?,
                r.try_get::<i64, _>(1).map_err(db::<DB>)?,
            );
        }
    }
    let mut requests: HashMap<String, (String, String)> = HashMap::new();
    for chunk in request_ids.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut q = Sql::<DB>::new(
            "SELECT request_id, fingerprint, response FROM requests WHERE request_id IN ",
        );
        push_list(&mut q, chunk);
        for r in q.query().fetch_all(&mut *conn).await.map_err(db::<DB>)? {
            requests.insert(
                r.try_get(0).map_err(db::<DB>)?,
                (
                    r.try_get(1).map_err(db::<DB>)?,
                    r.try_get(2).map_err(db::<DB>)?,
                ),
            );
        }
    }

    // What the batch read, to compare-and-set against when writing.
    let read_versions: HashMap<String, i64> = licenses
        .iter()
        .map(|(id, row)| (id.clone(), row.version))
        .collect();
    let read_lengths: HashMap<String, i64> = heads
        .iter()
        .map(|(id, head)| (id.clone(), head.length))
        .collect();
    let read_counters = counters.clone();

    let mut results = Vec::with_capacity(batch.len());
    // (application id, sequence, event, previous hash, hash), in order.
    let mut events = Vec::new();
    let mut shipments = Vec::new();
    // (request id, licence id, fingerprint, response, at).
    let mut records: Vec<(String, String, String, String, i64)> = Vec::new();
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
                results.push(match super::batch::replay(request, fingerprint, response) {
                    Ok(WriteOutcome::Replayed { response }) => {
                        Ok(LicenseOutcome::Replayed { response })
                    }
                    Ok(WriteOutcome::Committed) => Ok(LicenseOutcome::Committed),
                    Err(e) => Err(e),
                });
                continue;
            }
        }
        let Some(current) = licenses.get(license_id) else {
            results.push(Err(StoreError::NotFound(license_id.clone())));
            continue;
        };
        let application_id = current.application_id.clone();
        let Some(head) = heads.get(&application_id) else {
            return Err(internal(format!("licence {license_id} has no application")));
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
                events.push((
                    application_id.clone(),
                    sequence,
                    event.clone(),
                    previous,
                    hash,
                ));
            }
            heads.insert(application_id, new_head);
        }
        for (key, delta) in &write.counters {
            *counters.entry(key.clone()).or_insert(0) += delta;
        }
        shipments.extend(write.shipments.iter().cloned());
        if let Some(request) = request {
            let response = write
                .response
                .clone()
                .unwrap_or_else(|| request.response.clone());
            requests.insert(
                request.request_id.clone(),
                (request.fingerprint.clone(), response.clone()),
            );
            records.push((
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

    for chunk in events.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut q = Sql::<DB>::new(
            "INSERT INTO events (application_id, application_sequence, kind, actor, at, details, \
             previous_hash, hash) VALUES ",
        );
        for (i, (application_id, sequence, event, previous, hash)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(");
            q.push_text(application_id.clone());
            q.push(", ");
            q.push_int(*sequence);
            q.push(", ");
            q.push_text(event.kind.clone());
            q.push(", ");
            q.push_text(event.actor.clone());
            q.push(", ");
            q.push_int(event.at);
            q.push(", ");
            q.push_text(event.details.clone());
            q.push(", ");
            q.push_text(previous.clone());
            q.push(", ");
            q.push_text(hash.clone());
            q.push(")");
        }
        q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    }
    // The chain heads that moved, each compared with what was read.
    let moved: Vec<(&String, &ChainHead)> = heads
        .iter()
        .filter(|(id, head)| read_lengths.get(*id) != Some(&head.length))
        .collect();
    for chunk in moved.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut q = Sql::<DB>::new("UPDATE applications SET chain_length = CASE id");
        for (id, head) in chunk {
            q.push(" WHEN ");
            q.push_text((*id).clone());
            q.push(" THEN ");
            q.push_int(head.length);
        }
        q.push(" END, chain_head = CASE id");
        for (id, head) in chunk {
            q.push(" WHEN ");
            q.push_text((*id).clone());
            q.push(" THEN ");
            q.push_text(head.hash.clone());
        }
        q.push(" END WHERE ");
        for (i, (id, _)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            q.push("(id = ");
            q.push_text((*id).clone());
            q.push(" AND chain_length = ");
            q.push_int(read_lengths[*id]);
            q.push(")");
        }
        let done = q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
        if DB::rows_affected(&done) != chunk.len() as u64 {
            return Err(JobError::Conflict(StoreError::Unavailable(
                "a chain moved under a batch of licence changes".into(),
            )));
        }
    }
    for chunk in changed.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let rows: Vec<&LicenseRow> = chunk.iter().map(|id| &licenses[id]).collect();
        let mut q = Sql::<DB>::new("UPDATE licenses SET version = CASE id");
        for row in &rows {
            q.push(" WHEN ");
            q.push_text(row.id.clone());
            q.push(" THEN ");
            q.push_int(row.version);
        }
        q.push(" END, state = CASE id");
        for row in &rows {
            q.push(" WHEN ");
            q.push_text(row.id.clone());
            q.push(" THEN ");
            q.push_text(row.state.clone());
        }
        q.push(" END, updated_at = CASE id");
        for row in &rows {
            q.push(" WHEN ");
            q.push_text(row.id.clone());
            q.push(" THEN ");
            q.push_int(row.updated_at);
        }
        q.push(" END, snapshot = CASE id");
        for row in &rows {
            q.push(" WHEN ");
            q.push_text(row.id.clone());
            q.push(" THEN ");
            q.push_text(row.snapshot.clone());
        }
        q.push(" END WHERE ");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            q.push("(id = ");
            q.push_text(row.id.clone());
            q.push(" AND version = ");
            q.push_int(read_versions[&row.id]);
            q.push(")");
        }
        let done = q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
        if DB::rows_affected(&done) != rows.len() as u64 {
            return Err(JobError::Conflict(StoreError::Unavailable(
                "a licence moved under a batch of changes".into(),
            )));
        }
    }
    for chunk in shipments.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut q = Sql::<DB>::new(format!(
            "INSERT INTO shipments ({SHIPMENT_COLUMNS}) VALUES "
        ));
        for (i, shipment) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(");
            for value in [
                &shipment.id,
                &shipment.license_id,
                &shipment.holder,
                &shipment.kind,
            ] {
                q.push_text(value.clone());
                q.push(", ");
            }
            q.push_int(shipment.shipped_at);
            q.push(", ");
            q.push_int(shipment.recorded_at);
            q.push(", ");
            q.push_text(shipment.details.clone());
            q.push(")");
        }
        q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    }
    let mut grown: Vec<(&String, i64)> = counters
        .iter()
        .map(|(key, value)| (key, value - read_counters.get(key).copied().unwrap_or(0)))
        .filter(|(_, delta)| *delta != 0)
        .collect();
    grown.sort();
    for chunk in grown.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut q = Sql::<DB>::new("UPDATE license_counters SET value = value + CASE counter");
        for (key, delta) in chunk {
            q.push(" WHEN ");
            q.push_text((*key).clone());
            q.push(" THEN ");
            q.push_int(*delta);
        }
        q.push(" END WHERE counter IN ");
        let keys: Vec<String> = chunk.iter().map(|(key, _)| (*key).clone()).collect();
        push_list(&mut q, &keys);
        let done = q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
        if DB::rows_affected(&done) != chunk.len() as u64 {
            return Err(internal("a counter of a batch of changes is missing"));
        }
    }
    for chunk in records.chunks(CHANGE_ROWS_PER_STATEMENT) {
        let mut q = Sql::<DB>::new(
            "INSERT INTO requests (request_id, application_id, fingerprint, response, recorded_at) VALUES ",
        );
        for (i, (request_id, license_id, fingerprint, response, at)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(");
            q.push_text(request_id.clone());
            q.push(", ");
            q.push_text(license_id.clone());
            q.push(", ");
            q.push_text(fingerprint.clone());
            q.push(", ");
            q.push_text(response.clone());
            q.push(", ");
            q.push_int(*at);
            q.push(")");
        }
        q.query().execute(&mut *conn).await.map_err(db::<DB>)?;
    }
    Ok(results)
}

/// Runs each job of a batch in its own transaction (after a failed batch).
pub(crate) async fn run_each<DB>(
    pool: &sqlx::Pool<DB>,
    begin: &'static str,
    batch: &[QueuedJob],
) -> Vec<Result<LicenseOutcome, StoreError>>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
{
    let mut alone = Vec::with_capacity(batch.len());
    for queued in batch {
        alone.push(match pool.acquire().await {
            Ok(mut conn) => run_alone::<DB>(&mut conn, begin, &queued.job).await,
            Err(e) => Err(DB::map_err(e)),
        });
    }
    alone
}
