//! The reads of both stores, written once: every query is built with
//! [`Sql`] (which writes `?` or `$n` placeholders for the dialect), and the
//! few places where the dialects differ (placeholders, a planner hint, how
//! a read transaction takes its snapshot, which errors are worth retrying)
//! are the [`Dialect`] trait's.
//!
//! (sqlx's `QueryBuilder` does not serve here: in code generic over the
//! database its arguments must outlive the builder that lends them.)
//!
//! The chain verification reads the events here and hands them to the one
//! [`ChainWalker`]; the audit checkpoints read the global order here and
//! fold it with [`AuditDigest`].

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;

use futures::future::{self, BoxFuture};
use futures::stream::{BoxStream, Stream};
use futures::{FutureExt, TryStreamExt};
use sqlx::error::DatabaseError;
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{
    ColumnIndex, Connection, Database, Decode, Either, Encode, Executor, IntoArguments, Pool, Row,
    Type,
};

use super::batch::AppState;
use super::chain::{AuditDigest, ChainHead, ChainLink, ChainWalker};
use super::licenses::LicenseReads;
use super::{ApplicationRow, Census, ChainReport, ListCursor, ListFilter, StoreError, StoredEvent};

/// What differs between SQLite and PostgreSQL in the shared reads.
///
/// `DB: Dialect` is all a function generic over the database needs: how a
/// statement runs comes with [`Run`] and how a row is read with
/// [`Columns`], a supertrait and an associated-type bound, which Rust
/// implies wherever `Dialect` holds (it would not imply the where-clauses
/// that sqlx's generic API asks for; those are stated once, on `Run`'s
/// impl).
pub(crate) trait Dialect: Run + Database<Row: Columns> {
    /// The global sequence as compared when reading the events of one
    /// application.
    const SEQUENCE_OF_ONE_APPLICATION: &'static str;
    /// Opens the read transaction of a verification: one consistent
    /// snapshot of the rows and the events.
    const BEGIN_SNAPSHOT: &'static str;
    /// Whether an error the database itself reported is worth retrying
    /// (contention, resources, a connection it dropped).
    fn worth_retrying(error: &dyn DatabaseError) -> bool;
    /// Maps a database error: `Unavailable` when worth retrying (the
    /// database out of reach, or [`Dialect::worth_retrying`]); everything
    /// else is `Internal`.
    fn map_err(error: sqlx::Error) -> StoreError {
        let unavailable = match &error {
            sqlx::Error::Database(db) => Self::worth_retrying(db.as_ref()),
            other => out_of_reach(other),
        };
        if unavailable {
            StoreError::Unavailable(error.to_string())
        } else {
            StoreError::Internal(error.to_string())
        }
    }
    /// The placeholder of the `n`th bound value (from 1).
    fn placeholder(n: usize) -> String;
    /// Appended to a SELECT whose rows the transaction must hold until it
    /// ends ("" where the transaction holds the whole database).
    const FOR_UPDATE: &'static str;
    /// Rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;
    /// The writes of a [`Parts`] as one statement whose one row holds the
    /// count of rows each changed, in order; `Err` gives them back to be
    /// run one by one.
    fn join_parts(parts: Vec<Sql<Self>>) -> Result<Sql<Self>, Vec<Sql<Self>>>;
}

/// Whether `error` says the database could not be reached (a lost
/// connection, I/O, TLS, the pool timed out or closed), whatever the
/// dialect.
pub(crate) fn out_of_reach(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

/// A value bound to a placeholder.
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// SQL text with its bound values, in the dialect's placeholders.
pub(crate) struct Sql<DB> {
    text: String,
    binds: Vec<Bind>,
    /// Placeholders bound before this text's (in a joint statement).
    first: usize,
    dialect: PhantomData<DB>,
}

/// One result of a statement: rows changed (`Left`) or a row read.
pub(crate) type Step<DB> = Either<<DB as Database>::QueryResult, <DB as Database>::Row>;

/// How a [`Sql`] statement runs on a connection of the database.
///
/// The two methods each driver implements for sqlx's `Executor` are
/// required here, and the one impl below gives them to every database
/// that meets the bounds of sqlx's generic API (both dialects do); the
/// others are put together from them as `Executor`'s own defaults put
/// them together, without boxing each step again. A statement stays
/// persistent (prepared once per connection and cached).
pub(crate) trait Run: Database {
    /// Every result of the statement, as it comes.
    fn fetch_many<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c Sql<Self>,
    ) -> BoxStream<'c, Result<Step<Self>, sqlx::Error>>;

    /// The first row, if any.
    fn fetch_optional<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c Sql<Self>,
    ) -> BoxFuture<'c, Result<Option<Self::Row>, sqlx::Error>>;

    /// The rows the statement changed.
    fn execute<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c Sql<Self>,
    ) -> impl Future<Output = Result<Self::QueryResult, sqlx::Error>> + Send + 'c {
        Self::fetch_many(conn, sql)
            .try_filter_map(|step| future::ready(Ok(step.left())))
            .try_collect()
    }

    /// The rows read, as they come.
    fn fetch<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c Sql<Self>,
    ) -> impl Stream<Item = Result<Self::Row, sqlx::Error>> + Send + Unpin + 'c {
        Self::fetch_many(conn, sql).try_filter_map(|step| future::ready(Ok(step.right())))
    }

    fn fetch_all<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c Sql<Self>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'c {
        Self::fetch(conn, sql).try_collect()
    }

    /// The first row; `RowNotFound` when there is none.
    fn fetch_one<'c>(
        conn: &'c mut Self::Connection,
        sql: &'c Sql<Self>,
    ) -> impl Future<Output = Result<Self::Row, sqlx::Error>> + Send + 'c {
        Self::fetch_optional(conn, sql).map(|row| row?.ok_or(sqlx::Error::RowNotFound))
    }
}

impl<DB> Run for DB
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> DB::Arguments<'a>: IntoArguments<'a, DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
{
    fn fetch_many<'c>(
        conn: &'c mut DB::Connection,
        sql: &'c Sql<DB>,
    ) -> BoxStream<'c, Result<Step<DB>, sqlx::Error>> {
        conn.fetch_many(sql.query())
    }

    fn fetch_optional<'c>(
        conn: &'c mut DB::Connection,
        sql: &'c Sql<DB>,
    ) -> BoxFuture<'c, Result<Option<DB::Row>, sqlx::Error>> {
        conn.fetch_optional(sql.query())
    }
}

impl<DB: Dialect> Sql<DB> {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            binds: Vec::new(),
            first: 0,
            dialect: PhantomData,
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        self.text
            .push_str(&DB::placeholder(self.first + self.binds.len()));
        self
    }

    pub(crate) fn push_text(&mut self, value: impl Into<String>) -> &mut Self {
        self.bind(Bind::Text(value.into()))
    }

    pub(crate) fn push_int(&mut self, value: i64) -> &mut Self {
        self.bind(Bind::Int(value))
    }

    /// ` AND column = value` for each `(column, value)` whose value is set.
    pub(crate) fn push_equal_filters(&mut self, filters: &[(&str, &Option<String>)]) -> &mut Self {
        for (column, value) in filters {
            if let Some(value) = value {
                self.push(&format!(" AND {column} = "))
                    .push_text(value.clone());
            }
        }
        self
    }

    /// `(a, b, …), (c, d, …)`: the rows of a VALUES list.
    pub(crate) fn push_values<const N: usize>(
        &mut self,
        rows: impl IntoIterator<Item = [Bind; N]>,
    ) -> &mut Self {
        for (i, row) in rows.into_iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            for (j, value) in row.into_iter().enumerate() {
                if j > 0 {
                    self.push(", ");
                }
                self.bind(value);
            }
            self.push(")");
        }
        self
    }

    /// `parts` as one statement: their values one after the other (their
    /// placeholders numbered on, see [`Parts::part`]), and the text
    /// `statement` makes of their texts.
    pub(crate) fn joined(
        parts: Vec<Sql<DB>>,
        statement: impl FnOnce(Vec<String>) -> String,
    ) -> Self {
        let mut joint = Sql::new("");
        let mut texts = Vec::with_capacity(parts.len());
        for part in parts {
            texts.push(part.text);
            joint.binds.extend(part.binds);
        }
        joint.text = statement(texts);
        joint
    }

    /// One arm of a `CASE key` expression in a multi-row UPDATE:
    /// ` WHEN key THEN value`.
    pub(crate) fn push_when(&mut self, key: impl Into<String>, value: Bind) -> &mut Self {
        self.push(" WHEN ")
            .push_text(key)
            .push(" THEN ")
            .bind(value)
    }
}

/// A batch's writes, each with the number of rows it must change: sent
/// as one statement where the dialect joins them (PostgreSQL: one round
/// trip instead of one a write), else one by one. (SQLite's writer is in
/// process, with no round trip to save, and caches each statement's
/// parse: a joint text differs with every mix of sizes and was parsed
/// anew, which measured slower.)
pub(crate) struct Parts<DB, Tag> {
    parts: Vec<Sql<DB>>,
    expected: Vec<(u64, Tag)>,
}

impl<DB: Dialect, Tag> Parts<DB, Tag> {
    pub(crate) fn new() -> Self {
        Self {
            parts: Vec::new(),
            expected: Vec::new(),
        }
    }

    /// Starts a write (an INSERT, UPDATE or DELETE, without RETURNING)
    /// that must change `rows` rows, told apart by `tag`; its text and
    /// values are pushed onto the builder returned.
    pub(crate) fn part(&mut self, rows: usize, tag: Tag) -> &mut Sql<DB> {
        // Placeholders go on from the writes before, for a joint statement.
        let first = self.parts.iter().map(|part| part.binds.len()).sum();
        self.expected.push((rows as u64, tag));
        self.parts.push(Sql {
            first,
            ..Sql::new("")
        });
        let last = self.parts.len() - 1;
        &mut self.parts[last]
    }

    /// Runs the writes on `conn`. `Ok(Some(tag))` names the first that
    /// changed another number of rows than it should have.
    pub(crate) async fn run(self, conn: &mut DB::Connection) -> Result<Option<Tag>, sqlx::Error> {
        let count = self.expected.len();
        if count == 0 {
            return Ok(None);
        }
        let counts = match DB::join_parts(self.parts) {
            Ok(joint) => {
                let row = DB::fetch_one(conn, &joint).await?;
                (0..count)
                    .map(|i| row.int(i).ok().and_then(|n| u64::try_from(n).ok()))
                    .collect::<Option<Vec<u64>>>()
                    .ok_or_else(|| sqlx::Error::Protocol("a joint write's counts".into()))?
            }
            Err(parts) => {
                let mut counts = Vec::with_capacity(count);
                for (part, (rows, _)) in parts.iter().zip(&self.expected) {
                    let changed = DB::rows_affected(&DB::execute(&mut *conn, part).await?);
                    counts.push(changed);
                    if changed != *rows {
                        break;
                    }
                }
                counts
            }
        };
        Ok(self
            .expected
            .into_iter()
            .zip(counts)
            .find(|((rows, _), changed)| rows != changed)
            .map(|((_, tag), _)| tag))
    }
}

impl<DB: Database> Sql<DB> {
    /// The statement with its values bound, for [`Run`].
    fn query(&self) -> Query<'_, DB, DB::Arguments<'_>>
    where
        for<'a> String: Encode<'a, DB> + Type<DB>,
        for<'a> i64: Encode<'a, DB> + Type<DB>,
    {
        let mut query = sqlx::query(&self.text);
        for value in &self.binds {
            query = match value {
                Bind::Text(text) => query.bind(text.clone()),
                Bind::Int(int) => query.bind(*int),
            };
        }
        query
    }
}

/// Prepared statements each connection keeps. A batch writes each kind of
/// row with one multi-row statement whose text depends on the batch's size:
/// with sqlx's default of 100, batches of new sizes evicted one another's
/// statements, and most were parsed again (on PostgreSQL also prepared, in
/// a round trip) for every batch.
pub(crate) const STATEMENT_CACHE_CAPACITY: usize = 1024;

pub(crate) const APPLICATION_COLUMNS: &str = "a.id, a.version, a.applicant, a.state, a.level, \
     a.destination, a.awaiting_agencies, a.next_due_at, a.overdue_at, a.created_at, \
     a.updated_at, a.snapshot";

const EVENT_COLUMNS: &str = "sequence, application_id, application_sequence, kind, actor, at, \
     details, previous_hash, hash";

/// The columns a batch reads to decide its writes (see [`app_state_from`]).
pub(crate) const APP_STATE_COLUMNS: &str =
    "id, version, chain_length, chain_head, awaiting_agencies, created_at";

/// The rows of `q`, read on a connection of `pool`.
pub(crate) async fn read_all<DB: Dialect>(
    pool: &Pool<DB>,
    q: &Sql<DB>,
) -> Result<Vec<DB::Row>, StoreError> {
    let mut conn = pool.acquire().await.map_err(DB::map_err)?;
    DB::fetch_all(&mut conn, q).await.map_err(DB::map_err)
}

/// The store's reads over a pool of either dialect.
#[derive(Debug)]
pub(crate) struct Reads<DB: Database> {
    pub(crate) pool: Pool<DB>,
}

impl<DB: Database> Clone for Reads<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

fn decode_agencies(id: &str, json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Internal(format!("awaiting_agencies of {id}: {e}")))
}

/// A result row of either dialect, read by column position (from 0), a
/// read failure mapped as the dialect maps database errors.
pub(crate) trait Columns {
    /// A text column, borrowed from the row.
    fn str(&self, index: usize) -> Result<&str, StoreError>;
    fn int(&self, index: usize) -> Result<i64, StoreError>;
    /// An integer column that may be NULL.
    fn optional_int(&self, index: usize) -> Result<Option<i64>, StoreError>;
    /// A text column, copied out of the row (as both drivers decode a
    /// `String`).
    fn text(&self, index: usize) -> Result<String, StoreError> {
        self.str(index).map(str::to_owned)
    }
}

impl<R> Columns for R
where
    R: Row,
    R::Database: Dialect,
    usize: ColumnIndex<R>,
    for<'a> &'a str: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> i64: Decode<'a, R::Database> + Type<R::Database>,
{
    fn str(&self, index: usize) -> Result<&str, StoreError> {
        self.try_get(index)
            .map_err(<R::Database as Dialect>::map_err)
    }
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        self.try_get(index)
            .map_err(<R::Database as Dialect>::map_err)
    }
    fn optional_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        self.try_get(index)
            .map_err(<R::Database as Dialect>::map_err)
    }
}

/// The chain head an application row keeps in two adjacent columns:
/// `length` at `first`, the hash after it.
pub(crate) fn chain_head_from(r: &impl Columns, first: usize) -> Result<ChainHead, StoreError> {
    Ok(ChainHead {
        length: r.int(first)?,
        hash: r.text(first + 1)?,
    })
}

/// One application from the columns of [`APPLICATION_COLUMNS`].
fn application_from(r: &impl Columns) -> Result<ApplicationRow, StoreError> {
    let id = r.text(0)?;
    let agencies = r.text(6)?;
    Ok(ApplicationRow {
        awaiting_agencies: decode_agencies(&id, &agencies)?,
        id,
        version: r.int(1)?,
        applicant: r.text(2)?,
        state: r.text(3)?,
        level: r.text(4)?,
        destination: r.text(5)?,
        next_due_at: r.optional_int(7)?,
        overdue_at: r.optional_int(8)?,
        created_at: r.int(9)?,
        updated_at: r.int(10)?,
        snapshot: r.text(11)?,
    })
}

fn event_from(r: &impl Columns) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        sequence: r.int(0)?,
        application_id: r.text(1)?,
        application_sequence: r.int(2)?,
        kind: r.text(3)?,
        actor: r.text(4)?,
        at: r.int(5)?,
        details: r.text(6)?,
        previous_hash: r.text(7)?,
        hash: r.text(8)?,
    })
}

/// What a batch knows of a stored application, from the columns of
/// [`APP_STATE_COLUMNS`], into `found`.
pub(crate) fn app_state_from(
    r: &impl Columns,
    found: &mut HashMap<String, AppState>,
) -> Result<(), StoreError> {
    let id = r.text(0)?;
    let agencies = r.text(4)?;
    let head = chain_head_from(r, 2)?;
    let state = AppState::stored(r.int(1)?, decode_agencies(&id, &agencies)?, r.int(5)?, head);
    found.insert(id, state);
    Ok(())
}

/// The columns a batch reads of its request ids (see [`request_from`]).
pub(crate) const REQUEST_COLUMNS: &str = "request_id, fingerprint, response";

/// A recorded request, from the columns of [`REQUEST_COLUMNS`], into `found`.
pub(crate) fn request_from(
    r: &impl Columns,
    found: &mut HashMap<String, (String, String)>,
) -> Result<(), StoreError> {
    found.insert(r.text(0)?, (r.text(1)?, r.text(2)?));
    Ok(())
}

/// Builds the `list` query. The keyset predicate and the ORDER BY use the
/// columns of the index that drives the scan: application_awaiting's
/// primary key when filtering by agency, the applications indexes
/// otherwise. The page's ids are chosen first and the rows read after, so
/// that a sort (e.g. of the overdue rows, found through their own index)
/// carries keys rather than whole rows.
fn build_list_query<DB: Dialect>(
    filter: &ListFilter,
    after: Option<&ListCursor>,
    limit: u32,
) -> Sql<DB> {
    let mut q = Sql::<DB>::new("SELECT ");
    q.push(APPLICATION_COLUMNS);
    q.push(" FROM applications a WHERE a.id IN (");
    let (created, id) = if let Some(agency) = &filter.awaiting_agency {
        q.push(
            "SELECT w.application_id FROM application_awaiting w \
             JOIN applications k ON k.id = w.application_id WHERE w.agency = ",
        );
        q.push_text(agency.clone());
        ("w.created_at", "w.application_id")
    } else {
        q.push("SELECT k.id FROM applications k WHERE 1 = 1");
        ("k.created_at", "k.id")
    };
    q.push_equal_filters(&[
        ("k.applicant", &filter.applicant),
        ("k.state", &filter.state),
        ("k.destination", &filter.destination),
        ("k.level", &filter.level),
    ]);
    if let Some(at) = filter.overdue_at_or_before {
        q.push(" AND k.overdue_at <= ");
        q.push_int(at);
    }
    if let Some(cursor) = after {
        q.push(&format!(" AND ({created}, {id}) < ("));
        q.push_int(cursor.created_at);
        q.push(", ");
        q.push_text(cursor.id.clone());
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
    q.push(&format!(" ORDER BY {sort_created} DESC, {id} DESC LIMIT "));
    q.push_int(i64::from(limit));
    q.push(") ORDER BY a.created_at DESC, a.id DESC");
    q
}

impl<DB: Dialect> Reads<DB> {
    pub(crate) fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }

    /// A connection of the pool, for the statements of one read.
    async fn conn(&self) -> Result<PoolConnection<DB>, StoreError> {
        self.pool.acquire().await.map_err(DB::map_err)
    }

    /// The reads of licences and shipments, over the same pool.
    pub(crate) fn licenses(&self) -> LicenseReads<DB> {
        LicenseReads::new(self.pool.clone())
    }

    async fn rows(&self, q: Sql<DB>) -> Result<Vec<ApplicationRow>, StoreError> {
        let rows = read_all(&self.pool, &q).await?;
        rows.iter().map(application_from).collect()
    }

    pub(crate) async fn get(&self, id: &str) -> Result<Option<ApplicationRow>, StoreError> {
        let mut q = Sql::<DB>::new(format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications a WHERE a.id = "
        ));
        q.push_text(id);
        Ok(self.rows(q).await?.pop())
    }

    pub(crate) async fn list(
        &self,
        filter: &ListFilter,
        after: Option<&ListCursor>,
        limit: u32,
    ) -> Result<Vec<ApplicationRow>, StoreError> {
        self.rows(build_list_query(filter, after, limit)).await
    }

    pub(crate) async fn due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<ApplicationRow>, StoreError> {
        let mut q = Sql::<DB>::new(format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications a \
             WHERE a.next_due_at IS NOT NULL AND a.next_due_at <= "
        ));
        q.push_int(now);
        q.push(" ORDER BY a.next_due_at, a.id LIMIT ");
        q.push_int(i64::from(limit));
        self.rows(q).await
    }

    pub(crate) async fn events(
        &self,
        application_id: Option<&str>,
        after_sequence: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut q = Sql::<DB>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE "));
        match application_id {
            Some(id) => {
                q.push("application_id = ");
                q.push_text(id);
                q.push(&format!(" AND {} > ", DB::SEQUENCE_OF_ONE_APPLICATION));
                q.push_int(after_sequence);
                q.push(" ORDER BY application_sequence LIMIT ");
            }
            None => {
                q.push("sequence > ");
                q.push_int(after_sequence);
                q.push(" ORDER BY sequence LIMIT ");
            }
        }
        q.push_int(i64::from(limit));
        let rows = read_all(&self.pool, &q).await?;
        rows.iter().map(event_from).collect()
    }

    pub(crate) async fn events_of_kinds(
        &self,
        application_ids: &[&str],
        kinds: &[&str],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if application_ids.is_empty() || kinds.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Sql::<DB>::new(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE application_id IN ("
        ));
        for (i, id) in application_ids.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_text(*id);
        }
        q.push(") AND kind IN (");
        for (i, kind) in kinds.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_text(*kind);
        }
        q.push(") ORDER BY application_id, application_sequence");
        let rows = read_all(&self.pool, &q).await?;
        rows.iter().map(event_from).collect()
    }

    pub(crate) async fn census(&self, now: i64) -> Result<Census, StoreError> {
        let q =
            Sql::<DB>::new("SELECT state, level, COUNT(*) FROM applications GROUP BY state, level");
        let by_state_and_level = read_all(&self.pool, &q)
            .await?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut q = Sql::<DB>::new("SELECT COUNT(*) FROM applications WHERE overdue_at <= ");
        q.push_int(now);
        let mut conn = self.conn().await?;
        let overdue = DB::fetch_one(&mut conn, &q).await.map_err(DB::map_err)?;
        Ok(Census {
            by_state_and_level,
            overdue: overdue.int(0)?,
        })
    }

    pub(crate) async fn find_request(
        &self,
        request_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let mut q =
            Sql::<DB>::new("SELECT fingerprint, response FROM requests WHERE request_id = ");
        q.push_text(request_id);
        let mut conn = self.conn().await?;
        let row = DB::fetch_optional(&mut conn, &q)
            .await
            .map_err(DB::map_err)?;
        row.map(|r| Ok((r.text(0)?, r.text(1)?))).transpose()
    }

    /// Recomputes the chains of one application or of all, in one read
    /// transaction (a consistent snapshot of rows and events).
    pub(crate) async fn verify_chain(
        &self,
        application_id: Option<&str>,
    ) -> Result<ChainReport, StoreError> {
        let e = DB::map_err;
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with(DB::BEGIN_SNAPSHOT).await.map_err(e)?;
        if let Some(id) = application_id {
            let mut q = Sql::<DB>::new("SELECT 1 FROM applications WHERE id = ");
            q.push_text(id);
            if DB::fetch_optional(&mut tx, &q).await.map_err(e)?.is_none() {
                return Err(StoreError::NotFound(id.to_owned()));
            }
        }
        let mut walker = ChainWalker::new();
        let mut q = Sql::<DB>::new(
            "SELECT e.application_id, e.application_sequence, e.kind, e.actor, e.at, e.details, \
             e.previous_hash, e.hash, a.chain_length, a.chain_head \
             FROM events e LEFT JOIN applications a ON a.id = e.application_id",
        );
        if let Some(id) = application_id {
            q.push(" WHERE e.application_id = ");
            q.push_text(id);
        }
        q.push(" ORDER BY e.application_id, e.application_sequence");
        {
            let mut head: Option<ChainHead> = None;
            let mut rows = DB::fetch(&mut tx, &q);
            while let Some(r) = rows.try_next().await.map_err(e)? {
                let app = r.str(0)?;
                if walker.current_application() != Some(app) {
                    walker.end_application(head.as_ref());
                    // Both NULL where the application is missing (both
                    // columns are NOT NULL).
                    head = match r.optional_int(8)? {
                        Some(length) => Some(ChainHead {
                            length,
                            hash: r.text(9)?,
                        }),
                        None => None,
                    };
                }
                walker.push(&ChainLink {
                    application_id: app,
                    application_sequence: r.int(1)?,
                    kind: r.str(2)?,
                    actor: r.str(3)?,
                    at: r.int(4)?,
                    details: r.str(5)?,
                    previous_hash: r.str(6)?,
                    hash: r.str(7)?,
                });
            }
            drop(rows);
            walker.end_application(head.as_ref());
        }
        let mut q = Sql::<DB>::new(
            "SELECT a.id, a.chain_length, a.chain_head FROM applications a \
             WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.application_id = a.id)",
        );
        if let Some(id) = application_id {
            q.push(" AND a.id = ");
            q.push_text(id);
        }
        q.push(" ORDER BY a.id");
        {
            let mut rows = DB::fetch(&mut tx, &q);
            while let Some(r) = rows.try_next().await.map_err(e)? {
                walker.application_without_events(r.str(0)?, &chain_head_from(&r, 1)?);
            }
        }
        tx.rollback().await.map_err(e)?;
        Ok(walker.finish())
    }

    /// Folds into `digest` the stored hashes of the events with
    /// `digest.sequence < sequence <= up_to`, in the global order.
    pub(crate) async fn audit_fold(
        &self,
        mut digest: AuditDigest,
        up_to: i64,
    ) -> Result<AuditDigest, StoreError> {
        let e = DB::map_err;
        let mut q = Sql::<DB>::new("SELECT sequence, hash FROM events WHERE sequence > ");
        q.push_int(digest.sequence);
        q.push(" AND sequence <= ");
        q.push_int(up_to);
        q.push(" ORDER BY sequence");
        let mut conn = self.conn().await?;
        let mut rows = DB::fetch(&mut conn, &q);
        while let Some(r) = rows.try_next().await.map_err(e)? {
            digest.push(r.int(0)?, r.str(1)?);
        }
        digest.sequence = digest.sequence.max(up_to);
        Ok(digest)
    }

    pub(crate) async fn service_key(
        &self,
        purpose: &str,
        fresh_hex: &str,
    ) -> Result<String, StoreError> {
        let e = DB::map_err;
        let mut insert = Sql::<DB>::new("INSERT INTO service_keys (purpose, key_hex) VALUES (");
        insert.push_text(purpose);
        insert.push(", ");
        insert.push_text(fresh_hex);
        insert.push(") ON CONFLICT (purpose) DO NOTHING");
        let mut conn = self.conn().await?;
        DB::execute(&mut conn, &insert).await.map_err(e)?;
        let mut select = Sql::<DB>::new("SELECT key_hex FROM service_keys WHERE purpose = ");
        select.push_text(purpose);
        DB::fetch_one(&mut conn, &select).await.map_err(e)?.text(0)
    }

    /// The greatest sequence stored (0 when there is no event).
    pub(crate) async fn max_sequence(&self) -> Result<i64, StoreError> {
        let q = Sql::<DB>::new("SELECT COALESCE(MAX(sequence), 0) FROM events");
        let mut conn = self.conn().await?;
        DB::fetch_one(&mut conn, &q)
            .await
            .map_err(DB::map_err)?
            .int(0)
    }
}
