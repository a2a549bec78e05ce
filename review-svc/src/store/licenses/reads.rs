//! Reads of licences, shipments and counters, for both dialects.

use super::*;
use crate::store::sql::read_all;

/// The reads of licences and shipments over a pool of either dialect.
pub(crate) struct LicenseReads<DB: Database> {
    pool: sqlx::Pool<DB>,
}

impl<DB: Dialect> LicenseReads<DB> {
    pub(crate) fn new(pool: sqlx::Pool<DB>) -> Self {
        Self { pool }
    }

    async fn licenses(&self, q: Sql<DB>) -> Result<Vec<LicenseRow>, StoreError> {
        let rows = read_all(&self.pool, &q).await?;
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
        q.push_equal_filters(&[
            ("holder", &filter.holder),
            ("state", &filter.state),
            ("destination", &filter.destination),
            ("end_user", &filter.end_user),
        ]);
        if let Some(before) = filter.expires_before {
            q.push(" AND expires_at < ");
            q.push_int(before);
        }
        if let Some(cursor) = after {
            push_after(&mut q, "issued_at", "<", cursor);
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
        q.push_equal_filters(&[
            ("license_id", &filter.license_id),
            ("holder", &filter.holder),
            ("kind", &filter.kind),
        ]);
        if let Some(from) = filter.from {
            q.push(" AND shipped_at >= ");
            q.push_int(from);
        }
        if let Some(to) = filter.to {
            q.push(" AND shipped_at < ");
            q.push_int(to);
        }
        if let Some(cursor) = after {
            push_after(&mut q, "shipped_at", ">", cursor);
        }
        q.push(" ORDER BY shipped_at, id LIMIT ");
        q.push_int(i64::from(limit));
        let rows = read_all(&self.pool, &q).await?;
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
        let mut q = Sql::<DB>::new("SELECT counter, value FROM license_counters WHERE counter IN ");
        super::batch::push_list(&mut q, keys);
        for r in read_all(&self.pool, &q).await? {
            out.insert(r.text(0)?, r.int(1)?);
        }
        Ok(out)
    }
}

/// ` AND (at OP t OR (at = t AND id OP i))`: the rows that come after
/// `cursor` (t, i) in the order of (`at`, id), `op` being `<` where that
/// order is descending and `>` where it is ascending.
fn push_after<DB: Dialect>(q: &mut Sql<DB>, at: &str, op: &str, cursor: &KeyCursor) {
    q.push(&format!(" AND ({at} {op} "))
        .push_int(cursor.at)
        .push(&format!(" OR ({at} = "))
        .push_int(cursor.at)
        .push(&format!(" AND id {op} "))
        .push_text(cursor.id.clone())
        .push("))");
}
