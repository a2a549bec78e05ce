//! Statements for both stores, written once: every statement is built
//! with [`Sql`] (which writes `?` or `$n` placeholders for the dialect),
//! run through [`Run`] and read through [`Columns`]; the few places where
//! the dialects differ (placeholders, a planner hint, how a read
//! transaction takes its snapshot, which errors are worth retrying, whether
//! a batch's writes join into one statement) are the [`Dialect`] trait's.
//! The reads built with them are in `reads`.
//!
//! (sqlx's `QueryBuilder` does not serve here: in code generic over the
//! database its arguments must outlive the builder that lends them.)

use std::future::Future;
use std::marker::PhantomData;

use futures::future::{self, BoxFuture};
use futures::stream::{BoxStream, Stream};
use futures::{FutureExt, TryStreamExt};
use sqlx::error::DatabaseError;
use sqlx::query::Query;
use sqlx::{
    ColumnIndex, Database, Decode, Either, Encode, Executor, IntoArguments, Pool, Row, Type,
};

use super::StoreError;

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

/// The rows of `q`, read on a connection of `pool`.
pub(crate) async fn read_all<DB: Dialect>(
    pool: &Pool<DB>,
    q: &Sql<DB>,
) -> Result<Vec<DB::Row>, StoreError> {
    let mut conn = pool.acquire().await.map_err(DB::map_err)?;
    DB::fetch_all(&mut conn, q).await.map_err(DB::map_err)
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
