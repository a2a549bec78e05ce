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
//! - **The chain's head moves with the licence.** The issue writes the
//!   head of the application's chain (after its events) on the application
//!   row and on the new licence row; from then on every event on that
//!   chain is the licence's, and the licence row alone carries the head
//!   on, rewritten with each change as the row is anyway (compare-and-set
//!   on its version). A shipment then leaves the application row, the
//!   largest it would touch, alone. The audit verification takes the
//!   licence's head for the chain's end, and checks the application row's
//!   against the chain where the issue left it. Triggers keep to it (an
//!   earlier release writing to the same database during an upgrade is
//!   refused instead of forking a chain): a licensed application's row
//!   does not move its head, and a licence names its head.
//! - **Decided under lock.** [`LicenseJob::Change`] reads the licence row
//!   (with its chain head) and the counters the caller names, locked
//!   (`FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` holds
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
//! - **Applications stay put.** Licence events leave the application row
//!   (its version, snapshot and chain head) alone: the application is
//!   closed when its licence exists, so no workflow write competes for its
//!   chain, and its version keeps counting the workflow's events.
//! - **Group commit.** Each store has a licence writer that takes every
//!   job waiting in its queue and runs them one after the other in one
//!   transaction (`BEGIN IMMEDIATE` on SQLite; on PostgreSQL the row locks
//!   are held to the batch's commit), each seeing the earlier ones' writes,
//!   replying after the COMMIT; if the batch fails (on PostgreSQL, say, a
//!   deadlock with another process's writer) each job runs again on its
//!   own, and again while it conflicts. A batch of changes only (no
//!   issue) is run by [`run_changes`]: its licences (with their chain
//!   heads) and counters are locked and read once, each job decided in
//!   order against the batch's state, and what was decided written with
//!   one multi-row statement a table. Unbatched PostgreSQL stores
//!   (`batch_writers: 0`) run each job in its own transaction.
//! - **What a refusal leaves.** A declined change writes no event, licence,
//!   shipment or request record; the only trace it can leave is a counter
//!   row created at 0 (counters are created before they are locked) when
//!   another job of its batch commits.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{Connection, Database};

mod batch;
mod job;
mod reads;
mod rekey;

pub(crate) use batch::{issue_outcome, run_and_answer, QueuedJob};
pub(crate) use job::{run_alone, run_job};
pub(crate) use reads::LicenseReads;
pub use rekey::EndUserRekey;
pub(crate) use rekey::{key_end_users, move_end_user_keys, raise_counters};

use super::batch::distinct;
use super::chain::{extend_chain, ChainHead};
use super::reads::{chain_head_from, request_from, REQUEST_COLUMNS};
use super::sql::{Bind, Columns, Dialect, Parts, Sql};
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
    /// The end user's key (`licensing::rules::counter::end_user_key`), one
    /// for every spelling of its name: what `list_licenses` filters on.
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
    /// An end user's key, as [`LicenseRow::end_user`].
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

/// The chain head a licence row carries, after [`LICENSE_COLUMNS`] in the
/// writers' reads (see [`head_from`]) and in the issue's insert.
const HEAD_COLUMNS: &str = "chain_length, chain_head";

/// The head of a row read as `LICENSE_COLUMNS, HEAD_COLUMNS`.
fn head_from(r: &impl Columns) -> Result<ChainHead, StoreError> {
    chain_head_from(r, 11)
}

/// A new licence's values in the order of `LICENSE_COLUMNS, HEAD_COLUMNS`.
fn license_row(license: &LicenseRow, head: &ChainHead) -> [Bind; 13] {
    [
        Bind::Text(license.id.clone()),
        Bind::Text(license.application_id.clone()),
        Bind::Int(license.version),
        Bind::Text(license.holder.clone()),
        Bind::Text(license.state.clone()),
        Bind::Text(license.destination.clone()),
        Bind::Text(license.end_user.clone()),
        Bind::Int(license.issued_at),
        Bind::Int(license.expires_at),
        Bind::Int(license.updated_at),
        Bind::Text(license.snapshot.clone()),
        Bind::Int(head.length),
        Bind::Text(head.hash.clone()),
    ]
}

pub(super) const SHIPMENT_COLUMNS: &str =
    "id, license_id, holder, kind, shipped_at, recorded_at, details";

pub(crate) fn license_from(r: &impl Columns) -> Result<LicenseRow, StoreError> {
    Ok(LicenseRow {
        id: r.text(0)?,
        application_id: r.text(1)?,
        version: r.int(2)?,
        holder: r.text(3)?,
        state: r.text(4)?,
        destination: r.text(5)?,
        end_user: r.text(6)?,
        issued_at: r.int(7)?,
        expires_at: r.int(8)?,
        updated_at: r.int(9)?,
        snapshot: r.text(10)?,
    })
}

pub(super) fn shipment_from(r: &impl Columns) -> Result<ShipmentRow, StoreError> {
    Ok(ShipmentRow {
        id: r.text(0)?,
        license_id: r.text(1)?,
        holder: r.text(2)?,
        kind: r.text(3)?,
        shipped_at: r.int(4)?,
        recorded_at: r.int(5)?,
        details: r.text(6)?,
    })
}

/// A multi-row insert of requests, its rows made by [`request_row`].
const INSERT_REQUESTS: &str =
    "INSERT INTO requests (request_id, application_id, fingerprint, response, recorded_at) VALUES ";

/// One row of an [`INSERT_REQUESTS`] statement.
fn request_row(
    request_id: String,
    application_id: String,
    fingerprint: String,
    response: String,
    recorded_at: i64,
) -> [Bind; 5] {
    [
        Bind::Text(request_id),
        Bind::Text(application_id),
        Bind::Text(fingerprint),
        Bind::Text(response),
        Bind::Int(recorded_at),
    ]
}

/// A multi-row insert of events, its rows made by [`event_row`].
const INSERT_EVENTS: &str = "INSERT INTO events (application_id, application_sequence, kind, \
     actor, at, details, previous_hash, hash) VALUES ";

/// One row of an [`INSERT_EVENTS`] statement.
fn event_row(
    application_id: String,
    sequence: i64,
    event: &NewEvent,
    previous_hash: String,
    hash: String,
) -> [Bind; 8] {
    [
        Bind::Text(application_id),
        Bind::Int(sequence),
        Bind::Text(event.kind.clone()),
        Bind::Text(event.actor.clone()),
        Bind::Int(event.at),
        Bind::Text(event.details.clone()),
        Bind::Text(previous_hash),
        Bind::Text(hash),
    ]
}

/// A multi-row insert of shipments, its rows made by [`shipment_row`].
fn insert_shipments() -> String {
    format!("INSERT INTO shipments ({SHIPMENT_COLUMNS}) VALUES ")
}

/// One row of an [`insert_shipments`] statement.
fn shipment_row(shipment: &ShipmentRow) -> [Bind; 7] {
    [
        Bind::Text(shipment.id.clone()),
        Bind::Text(shipment.license_id.clone()),
        Bind::Text(shipment.holder.clone()),
        Bind::Text(shipment.kind.clone()),
        Bind::Int(shipment.shipped_at),
        Bind::Int(shipment.recorded_at),
        Bind::Text(shipment.details.clone()),
    ]
}

/// Why a job's transaction failed.
pub(crate) enum JobError {
    /// A deadlock, serialisation failure or unique violation: run it again.
    Conflict(StoreError),
    Failed(StoreError),
}

impl JobError {
    /// The error, for work that is not run again on a conflict.
    pub(super) fn into_store_error(self) -> StoreError {
        match self {
            JobError::Conflict(e) | JobError::Failed(e) => e,
        }
    }
}

pub(super) fn db<DB: Dialect>(error: sqlx::Error) -> JobError {
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

pub(super) fn internal(detail: impl Into<String>) -> JobError {
    JobError::Failed(StoreError::Internal(detail.into()))
}

/// A row the job read has changed since: run the job again.
pub(super) fn moved(detail: impl Into<String>) -> JobError {
    JobError::Conflict(StoreError::Unavailable(detail.into()))
}

/// A write whose WHERE names exactly the rows it must change: any other
/// count of rows affected is `otherwise`.
pub(super) fn expect_rows<DB: Dialect>(
    done: &DB::QueryResult,
    rows: usize,
    otherwise: impl FnOnce() -> JobError,
) -> Result<(), JobError> {
    if DB::rows_affected(done) == rows as u64 {
        Ok(())
    } else {
        Err(otherwise())
    }
}

/// `(id = … AND {column} = …) OR …`: each row by its id and the value of
/// `column` the job read, so that a row changed since matches nothing.
pub(super) fn push_unchanged<'a, DB: Dialect>(
    q: &mut Sql<DB>,
    column: &str,
    rows: impl IntoIterator<Item = (&'a String, i64)>,
) {
    for (i, (id, read)) in rows.into_iter().enumerate() {
        if i > 0 {
            q.push(" OR ");
        }
        q.push("(id = ");
        q.push_text(id.clone());
        q.push(&format!(" AND {column} = "));
        q.push_int(read);
        q.push(")");
    }
}
