//! The reads of both stores, written once with [`Sql`]: applications,
//! list pages, events, the census and the chains.
//!
//! The chain verification reads the events here and hands them to the one
//! [`ChainWalker`]; the audit checkpoints read the global order here and
//! fold it with [`AuditDigest`].

use std::collections::HashMap;

use futures::TryStreamExt;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Database, Pool};

use super::batch::AppState;
use super::chain::{AuditDigest, ChainHead, ChainLink, ChainWalker};
use super::licenses::LicenseReads;
use super::sql::{read_all, Columns, Dialect, Sql};
use super::{ApplicationRow, Census, ChainReport, ListCursor, ListFilter, StoreError, StoredEvent};

pub(crate) const APPLICATION_COLUMNS: &str = "a.id, a.version, a.applicant, a.state, a.level, \
     a.destination, a.awaiting_agencies, a.next_due_at, a.overdue_at, a.created_at, \
     a.updated_at, a.snapshot";

const EVENT_COLUMNS: &str = "sequence, application_id, application_sequence, kind, actor, at, \
     details, previous_hash, hash";

/// The columns a batch reads to decide its writes (see [`app_state_from`]).
pub(crate) const APP_STATE_COLUMNS: &str =
    "id, version, chain_length, chain_head, awaiting_agencies, created_at";

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
/// The chain head a row (an application's, or its licence's) keeps in two
/// adjacent columns: `length` at `first`, the hash after it.
pub(crate) fn chain_head_from(r: &impl Columns, first: usize) -> Result<ChainHead, StoreError> {
    Ok(ChainHead {
        length: r.int(first)?,
        hash: r.text(first + 1)?,
    })
}

/// [`chain_head_from`] of an outer join's columns: None where they are
/// NULL, the joined row missing (both columns are NOT NULL).
fn joined_chain_head_from(r: &impl Columns, first: usize) -> Result<Option<ChainHead>, StoreError> {
    match r.optional_int(first)? {
        Some(_) => chain_head_from(r, first).map(Some),
        None => Ok(None),
    }
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

    pub(crate) async fn written_after(
        &self,
        after_sequence: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let mut q = Sql::<DB>::new("SELECT sequence, application_id FROM events WHERE sequence > ");
        q.push_int(after_sequence);
        q.push(" ORDER BY sequence LIMIT ");
        q.push_int(i64::from(limit));
        let rows = read_all(&self.pool, &q).await?;
        rows.iter()
            .map(|row| Ok((row.int(0)?, row.text(1)?)))
            .collect()
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
             e.previous_hash, e.hash, a.chain_length, a.chain_head, l.chain_length, l.chain_head \
             FROM events e LEFT JOIN applications a ON a.id = e.application_id \
             LEFT JOIN licenses l ON l.id = e.application_id",
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
                    head = joined_chain_head_from(&r, 8)?;
                    // A licence carries its chain's head on from the issue.
                    if let Some(license_head) = joined_chain_head_from(&r, 10)? {
                        if let Some(at_issue) = head.replace(license_head) {
                            walker.expect_waypoint(at_issue);
                        }
                    }
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
