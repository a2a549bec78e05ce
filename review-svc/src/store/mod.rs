//! Durable storage of applications and their append-only, hash-chained
//! history. One trait, two implementations (SQLite by default, PostgreSQL),
//! both run through the same test-suite.
//!
//! The store knows nothing of the workflow: it keeps a row per application
//! (the columns the service filters and sweeps on, plus an opaque JSON
//! snapshot) and the events, and it enforces the two invariants that need
//! the database: optimistic concurrency on the row's version, and
//! idempotency of requests by `request_id`, both in the same transaction as
//! the events.
//!
//! What is shared and what is not:
//!
//! - `sql`: how a statement is built, run and read for either database,
//!   over a small `Dialect` trait (placeholders, a planner hint, how a
//!   snapshot is opened, which errors are worth retrying, whether a batch's
//!   writes join into one statement).
//! - `reads`: every read (get, list, events, due, census, requests), the
//!   chain verification and the audit fold, written once with `sql`.
//! - `impl_store`: the `Store` implementation both stores share (these
//!   reads, and the writes handed to each store's own `write` and
//!   `license_job`).
//! - `batch`: the planner of the group-commit writers (what a batch reads,
//!   how each write is decided against the batch's state, what rows change).
//! - `chain`: the event hash, the one chain walk, and the running hash that
//!   audit checkpoints sign (see `crate::audit`).
//! - `sqlite`, `postgres`: opening and migrating, and the writes, which use
//!   each database's own multi-row forms (VALUES lists; UNNEST arrays and
//!   single-statement CTEs) and its own locking.
//! - `licenses`: licences, shipments and cap counters. A licence's events
//!   join the hash chain of the application that issued it (one history,
//!   one verification, one global sequence); every licence change is
//!   decided inside its transaction on the licence and counters as locked
//!   there, so racing shipments (two processes on one PostgreSQL
//!   included) never overdraw. The module's documentation has the design.

use async_trait::async_trait;

/// One application as stored. Times are Unix milliseconds (UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationRow {
    /// The id part of `applications/{id}`.
    pub id: String,
    /// Grows with every update (the service uses the number of events); the etag is derived from it.
    pub version: i64,
    pub applicant: String,
    /// Workflow state name, e.g. "AGENCY_REVIEW".
    pub state: String,
    /// Review level name, e.g. "OPERATING_COMMITTEE", or "" before referral.
    pub level: String,
    /// Normalised destination country code.
    pub destination: String,
    /// Agencies whose recommendation or vote is awaited at the current level, e.g. ["STATE", "ENERGY"].
    pub awaiting_agencies: Vec<String>,
    /// Earliest pending deadline the sweeper must act on; None when nothing is due.
    pub next_due_at: Option<i64>,
    /// Deadline after which the application counts as overdue (for filtering); None when none.
    pub overdue_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The whole application as the service renders it, opaque to the store.
    pub snapshot: String,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: String,
    pub actor: String,
    pub at: i64,
    /// Canonical JSON; exactly these bytes are hashed.
    pub details: String,
}

/// An event as stored, with its place in the global order and in the application's chain.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub sequence: i64,
    pub application_id: String,
    pub application_sequence: i64,
    pub kind: String,
    pub actor: String,
    pub at: i64,
    pub details: String,
    pub previous_hash: String,
    pub hash: String,
}

/// Makes a write idempotent: the first write with `request_id` stores
/// `response`; a later write with the same id writes nothing and gets it back.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotentRequest {
    pub request_id: String,
    /// Digest of the request's content: the same id with other content is refused.
    pub fingerprint: String,
    /// What the service needs to answer a retry as the first call was answered; opaque to the store.
    pub response: String,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// Written now.
    Committed,
    /// The request id was seen before: nothing written; here is the first answer.
    Replayed { response: String },
}

/// Filters of `list`. Empty / None means no filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    pub applicant: Option<String>,
    pub state: Option<String>,
    pub destination: Option<String>,
    pub level: Option<String>,
    pub awaiting_agency: Option<String>,
    /// Only rows with overdue_at <= this time.
    pub overdue_at_or_before: Option<i64>,
}

/// Keyset cursor: rows strictly after this (created_at, id) in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub created_at: i64,
    pub id: String,
}

/// Result of recomputing the hash chains.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChainReport {
    pub applications_checked: i64,
    pub events_checked: i64,
    /// First broken link: (application id, application sequence, what is wrong).
    pub first_break: Option<(String, i64, String)>,
}

/// Counts for the metrics endpoint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Census {
    /// (state, level, count)
    pub by_state_and_level: Vec<(String, String, i64)>,
    pub overdue: i64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("application {0} not found")]
    NotFound(String),
    #[error("application {id} is at version {current}, not {expected}")]
    VersionConflict {
        id: String,
        expected: i64,
        current: i64,
    },
    #[error("application {0} already exists")]
    AlreadyExists(String),
    #[error("request id {0} was already used for a different request")]
    RequestIdReused(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Internal(String),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts a new application (at `row.version`) and its first events atomically.
    async fn create(
        &self,
        row: &ApplicationRow,
        events: &[NewEvent],
        request: Option<&IdempotentRequest>,
    ) -> Result<WriteOutcome, StoreError>;

    /// Replaces the row if the stored version is `expected_version` (the new
    /// row carries a greater version) and appends the events, atomically.
    async fn update(
        &self,
        expected_version: i64,
        row: &ApplicationRow,
        events: &[NewEvent],
        request: Option<&IdempotentRequest>,
    ) -> Result<WriteOutcome, StoreError>;

    async fn get(&self, id: &str) -> Result<Option<ApplicationRow>, StoreError>;

    /// Newest first (created_at desc, id desc), at most `limit` rows after `after`.
    async fn list(
        &self,
        filter: &ListFilter,
        after: Option<&ListCursor>,
        limit: u32,
    ) -> Result<Vec<ApplicationRow>, StoreError>;

    /// Events with sequence > `after_sequence`, oldest first, of one application or all.
    async fn events(
        &self,
        application_id: Option<&str>,
        after_sequence: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The sequence number and application of each event after
    /// `after_sequence`, lowest first: how the history poll learns of
    /// writes by other processes without reading what they wrote.
    async fn written_after(
        &self,
        after_sequence: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError>;

    /// The events of these applications whose kind is one of `kinds`, each
    /// application's oldest first.
    async fn events_of_kinds(
        &self,
        application_ids: &[&str],
        kinds: &[&str],
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Rows whose next_due_at <= now, earliest first.
    async fn due(&self, now: i64, limit: u32) -> Result<Vec<ApplicationRow>, StoreError>;

    /// How many applications are in each (state, level), and how many are overdue at `now`.
    async fn census(&self, now: i64) -> Result<Census, StoreError>;

    /// At a graceful stop, once no request is left: finishes the writes
    /// queued and leaves the database tidy (SQLite: the write-ahead log
    /// copied into the file). Nothing is lost without it, only left in the
    /// log for the next open to find.
    async fn close(&self) {}

    /// The stored (fingerprint, response) of a request id, if it was seen.
    async fn find_request(&self, request_id: &str) -> Result<Option<(String, String)>, StoreError>;

    /// Recomputes the chain of one application or of all.
    async fn verify_chain(&self, application_id: Option<&str>) -> Result<ChainReport, StoreError>;

    /// The greatest sequence up to which the history is settled: every
    /// event with a sequence up to it has committed, and no event committed
    /// later can take one below it (0 when there is no event). An audit
    /// checkpoint covers the history up to such a sequence.
    async fn audit_horizon(&self) -> Result<i64, StoreError>;

    /// Folds into `from` the stored hashes of the events with
    /// `from.sequence < sequence <= up_to`, in the global order; the result
    /// covers the history up to `up_to`.
    async fn audit_fold(&self, from: AuditDigest, up_to: i64) -> Result<AuditDigest, StoreError>;

    /// The key kept for `purpose` (hex), storing `fresh_hex` as that key if
    /// there is none yet: the first process to ask decides it, and every
    /// process on the same database, then and later, gets the same one.
    async fn service_key(&self, purpose: &str, fresh_hex: &str) -> Result<String, StoreError>;

    /// Updates an application as [`Store::update`] does and inserts the
    /// licence its final decision issued, atomically (see [`licenses`]).
    async fn issue_license(
        &self,
        expected_version: i64,
        row: &ApplicationRow,
        events: &[NewEvent],
        request: Option<&IdempotentRequest>,
        license: &LicenseRow,
    ) -> Result<WriteOutcome, StoreError>;

    /// Changes a licence: locks it, its application's chain head and the
    /// counters named, asks `decide` what to write, and writes it, all in
    /// one transaction (see [`licenses`]).
    async fn change_license(
        &self,
        license_id: &str,
        counter_keys: &[String],
        request: Option<&IdempotentRequest>,
        decide: Decide,
    ) -> Result<LicenseOutcome, StoreError>;

    async fn get_license(&self, id: &str) -> Result<Option<LicenseRow>, StoreError>;

    /// Newest first (issued_at desc, id desc), at most `limit` after `after`.
    async fn list_licenses(
        &self,
        filter: &LicenseFilter,
        after: Option<&KeyCursor>,
        limit: u32,
    ) -> Result<Vec<LicenseRow>, StoreError>;

    /// ACTIVE or SUSPENDED licences whose expiry is at or before `now`.
    async fn licenses_due(&self, now: i64, limit: u32) -> Result<Vec<LicenseRow>, StoreError>;

    /// Oldest first (shipped_at, id), at most `limit` after `after`.
    async fn list_shipments(
        &self,
        filter: &ShipmentFilter,
        after: Option<&KeyCursor>,
        limit: u32,
    ) -> Result<Vec<ShipmentRow>, StoreError>;

    /// The current value of each named counter that was ever written.
    async fn license_counters(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, i64>, StoreError>;

    /// Takes each counter (named once) to at least its value (creating
    /// it), in one transaction, locked in key order: what was counted
    /// before stays counted, a higher value stays, and again is the same.
    async fn raise_counters(&self, values: &[(String, i64)]) -> Result<(), StoreError>;

    /// Moves licences whose end user's key changed to the new key, with
    /// the end user's cap counted under the old one (see
    /// [`EndUserRekey`]); returns how many moved.
    async fn move_end_user_keys(&self, moves: &[EndUserRekey]) -> Result<usize, StoreError>;
}

pub use licenses::{
    Decide, EndUserRekey, KeyCursor, LicenseFilter, LicenseOutcome, LicenseRow, LicenseView,
    LicenseWrite, ShipmentFilter, ShipmentRow,
};

pub use chain::AuditDigest;

pub(crate) mod batch;
pub mod chain;
mod impl_store;
pub mod licenses;
pub mod postgres;
mod reads;
mod sql;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod suite;

/// Opens the store named by `url` and applies its migrations: PostgreSQL
/// for `postgres://...` or `postgresql://...`, SQLite for `sqlite://...`,
/// `sqlite:...` or a plain file path.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    use std::sync::Arc;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStore::connect(url).await?))
    } else {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    }
}
