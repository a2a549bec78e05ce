//! What earlier releases stored by end user and product, or under an end
//! user's name as written, moved to the end user's key
//! (`licensing::rules::counter::end_user_key`, one for every spelling of
//! the name) when a store opens:
//!
//! - the end-user counters, which one release keyed by a name that set
//!   aside only case and spacing, and per product
//!   (`end-user-units|example cloud co.|H200`), and the next by the key
//!   and product (`end-user|exarnplecloud|H200`, "m" being "rn" in the
//!   skeleton of look-alike letters); now `end-user-cap|exarnplecloud`,
//!   every product together. Otherwise every end user would start its
//!   cap again from nothing. Counters that now count one end user are
//!   added together.
//! - the licences' `end_user` column, which `ListLicenses` filters on.
//!
//! Each runs in one transaction, the rows locked first, so that a crash
//! leaves them as they were and a second process opening the same
//! database at once finds nothing left to move. The counters go first:
//! their old keys are read with the licences' names as written.

use std::collections::BTreeMap;

use sqlx::{Connection, Pool};

use super::batch::{insert_counters, locked_counters, locked_rows};
use super::JobError;
use crate::licensing::rules::counter;
use crate::store::sql::{Columns, Dialect, Sql};
use crate::store::StoreError;

/// The first release's end-user counters: the name as written, then the product.
const NAMED_PREFIX: &str = "end-user-units|";
/// The next release's: the end user's key, then the product.
const PER_PRODUCT_PREFIX: &str = "end-user|";

/// Moves what an earlier release stored by end-user name as written.
pub(crate) async fn key_end_users<DB: Dialect>(
    pool: &Pool<DB>,
    begin: &'static str,
) -> Result<(), StoreError> {
    rekey_end_user_counters(pool, begin).await?;
    key_license_end_users(pool, begin).await
}

const OLD_COUNTERS: &str = "WHERE counter LIKE 'end-user-units|%' OR counter LIKE 'end-user|%'";

/// Moves the old end-user counters.
async fn rekey_end_user_counters<DB: Dialect>(
    pool: &Pool<DB>,
    begin: &'static str,
) -> Result<(), StoreError> {
    let old_counters =
        format!("SELECT counter, value FROM license_counters {OLD_COUNTERS} ORDER BY counter");
    let mut conn = pool.acquire().await.map_err(DB::map_err)?;
    let any = Sql::<DB>::new(format!("{old_counters} LIMIT 1"));
    if DB::fetch_optional(&mut conn, &any)
        .await
        .map_err(DB::map_err)?
        .is_none()
    {
        return Ok(());
    }
    let mut tx = conn.begin_with(begin).await.map_err(DB::map_err)?;
    let old: Vec<(String, i64)> = DB::fetch_all(
        &mut *tx,
        &Sql::new(format!("{old_counters}{}", DB::FOR_UPDATE)),
    )
    .await
    .map_err(DB::map_err)?
    .iter()
    .map(|row| Ok((row.text(0)?, row.int(1)?)))
    .collect::<Result<_, StoreError>>()?;
    if old.is_empty() {
        return Ok(());
    }
    let end_users: Vec<String> = DB::fetch_all(
        &mut *tx,
        &Sql::new("SELECT DISTINCT end_user FROM licenses"),
    )
    .await
    .map_err(DB::map_err)?
    .iter()
    .map(|row| row.text(0))
    .collect::<Result<_, _>>()?;
    let mut moved: BTreeMap<String, i64> = BTreeMap::new();
    for (key, value) in &old {
        let total = moved.entry(new_key(key, &end_users)).or_insert(0);
        *total = total.saturating_add(*value);
    }
    let delete = Sql::<DB>::new(format!("DELETE FROM license_counters {OLD_COUNTERS}"));
    DB::execute(&mut *tx, &delete).await.map_err(DB::map_err)?;
    add_to_counters::<DB>(&mut tx, &moved).await?;
    tx.commit().await.map_err(DB::map_err)?;
    tracing::info!(
        moved = old.len(),
        into = moved.len(),
        "end-user counters moved to one per end user"
    );
    Ok(())
}

/// Replaces the end-user names of the licence rows by their keys.
async fn key_license_end_users<DB: Dialect>(
    pool: &Pool<DB>,
    begin: &'static str,
) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(DB::map_err)?;
    let unkeyed = |rows: Vec<DB::Row>| -> Result<Vec<String>, StoreError> {
        let names: Vec<String> = rows
            .iter()
            .map(|row| row.text(0))
            .collect::<Result<_, _>>()?;
        Ok(names
            .into_iter()
            .filter(|name| counter::end_user_key(name) != *name)
            .collect())
    };
    let distinct = "SELECT DISTINCT end_user FROM licenses".to_owned();
    let rows = DB::fetch_all(&mut conn, &Sql::new(distinct.clone()))
        .await
        .map_err(DB::map_err)?;
    if unkeyed(rows)?.is_empty() {
        return Ok(());
    }
    let mut tx = conn.begin_with(begin).await.map_err(DB::map_err)?;
    let locked = Sql::<DB>::new(format!(
        "SELECT end_user FROM licenses ORDER BY id{}",
        DB::FOR_UPDATE
    ));
    DB::fetch_all(&mut *tx, &locked)
        .await
        .map_err(DB::map_err)?;
    let rows = DB::fetch_all(&mut *tx, &Sql::new(distinct))
        .await
        .map_err(DB::map_err)?;
    let names = unkeyed(rows)?;
    for name in &names {
        let mut q = Sql::<DB>::new("UPDATE licenses SET end_user = ");
        q.push_text(counter::end_user_key(name));
        q.push(" WHERE end_user = ");
        q.push_text(name.clone());
        DB::execute(&mut *tx, &q).await.map_err(DB::map_err)?;
    }
    tx.commit().await.map_err(DB::map_err)?;
    tracing::info!(names = names.len(), "licences' end users stored by key");
    Ok(())
}

/// Takes each counter to at least its value, creating those that do not
/// exist (for the ledger, which counts what an earlier release recorded
/// without counting it: the invoices of domestic shipments, their latest
/// dates).
pub(crate) async fn raise_counters<DB: Dialect>(
    pool: &Pool<DB>,
    begin: &'static str,
    values: &[(String, i64)],
) -> Result<(), StoreError> {
    // Locked in key order, as every write locks counters: processes
    // raising the same counters at once must not deadlock.
    let mut values = values.to_vec();
    values.sort_unstable();
    let mut conn = pool.acquire().await.map_err(DB::map_err)?;
    let mut tx = conn.begin_with(begin).await.map_err(DB::map_err)?;
    insert_counters::<DB>(
        &mut tx,
        &values,
        "DO UPDATE SET value = CASE WHEN license_counters.value < excluded.value \
         THEN excluded.value ELSE license_counters.value END",
    )
    .await
    .map_err(DB::map_err)?;
    tx.commit().await.map_err(DB::map_err)
}

/// A licence whose end user's key changed with the key's definition
/// (`licensing::rules::counter::end_user_key`): the key its row holds,
/// and the key its end user's name has now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndUserRekey {
    pub license_id: String,
    pub from: String,
    pub to: String,
}

/// Moves licences to their end users' new keys: the row's `end_user`,
/// and the end user's cap counted under the old key added into the new
/// key's. One transaction, the rows and counters locked first, so that a
/// crash leaves them as they were and a second process finds nothing
/// left to move (a row that no longer holds `from` is left alone). The
/// old count stays where it is, for licences that keep the old key; an
/// old key split between new ones adds its count to each: a cap errs on
/// the side of counting. Returns how many licences moved.
pub(crate) async fn move_end_user_keys<DB: Dialect>(
    pool: &Pool<DB>,
    begin: &'static str,
    moves: &[EndUserRekey],
) -> Result<usize, StoreError> {
    if moves.is_empty() {
        return Ok(0);
    }
    let mut conn = pool.acquire().await.map_err(DB::map_err)?;
    let mut tx = conn.begin_with(begin).await.map_err(DB::map_err)?;
    let mut ids: Vec<String> = moves.iter().map(|m| m.license_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let held: BTreeMap<String, String> =
        locked_rows::<DB>(&mut *tx, "SELECT id, end_user FROM licenses", "id", &ids)
            .await
            .map_err(JobError::into_store_error)?
            .iter()
            .map(|row| Ok((row.text(0)?, row.text(1)?)))
            .collect::<Result<_, StoreError>>()?;
    let moving: Vec<&EndUserRekey> = moves
        .iter()
        .filter(|m| held.get(&m.license_id) == Some(&m.from))
        .collect();
    // Each new key takes the count of each old key once, however many
    // licences move between the two.
    let mut pairs: Vec<(String, String)> = moving
        .iter()
        .map(|m| {
            (
                counter::end_user_units(&m.from),
                counter::end_user_units(&m.to),
            )
        })
        .collect();
    pairs.sort();
    pairs.dedup();
    let mut old_keys: Vec<String> = pairs.iter().map(|(from, _)| from.clone()).collect();
    old_keys.dedup();
    let old = locked_counters::<DB>(&mut *tx, &old_keys)
        .await
        .map_err(JobError::into_store_error)?;
    let mut moved: BTreeMap<String, i64> = BTreeMap::new();
    for (from, to) in &pairs {
        let total = moved.entry(to.clone()).or_insert(0);
        *total = total.saturating_add(old.get(from).copied().unwrap_or(0));
    }
    add_to_counters::<DB>(&mut tx, &moved).await?;
    for m in &moving {
        let mut q = Sql::<DB>::new("UPDATE licenses SET end_user = ");
        q.push_text(m.to.clone());
        q.push(" WHERE id = ");
        q.push_text(m.license_id.clone());
        DB::execute(&mut *tx, &q).await.map_err(DB::map_err)?;
    }
    tx.commit().await.map_err(DB::map_err)?;
    Ok(moving.len())
}

/// Adds each amount to its counter (created at 0 where missing), the
/// counters locked in key order first.
async fn add_to_counters<DB: Dialect>(
    tx: &mut DB::Connection,
    amounts: &BTreeMap<String, i64>,
) -> Result<(), StoreError> {
    let keys: Vec<String> = amounts.keys().cloned().collect();
    let current = locked_counters::<DB>(&mut *tx, &keys)
        .await
        .map_err(JobError::into_store_error)?;
    let totals: Vec<(String, i64)> = amounts
        .iter()
        .map(|(key, amount)| {
            let total = amount.saturating_add(current.get(key).copied().unwrap_or(0));
            (key.clone(), total)
        })
        .collect();
    insert_counters::<DB>(tx, &totals, "DO UPDATE SET value = excluded.value")
        .await
        .map_err(DB::map_err)?;
    Ok(())
}

/// Today's key of the old counter `key`.
///
/// In the per-product form the end user's key comes before the first
/// `|` (a key is letters and digits). In the first form the name was
/// lower-cased with single spaces and may hold a `|`, as may the
/// product: the name is the longest one of the licences' end users (as
/// that release wrote it) that the key starts with, else what comes
/// before the last `|`. The new key of that old form is the new key of
/// the name.
fn new_key(key: &str, end_users: &[String]) -> String {
    if let Some(rest) = key.strip_prefix(PER_PRODUCT_PREFIX) {
        let name = rest.split('|').next().unwrap_or(rest);
        return counter::end_user_units(name);
    }
    let rest = key.strip_prefix(NAMED_PREFIX).unwrap_or(key);
    let name = end_users
        .iter()
        .map(|name| old_form(name))
        .filter(|form| {
            rest.len() > form.len()
                && rest.starts_with(form.as_str())
                && rest[form.len()..].starts_with('|')
        })
        .max_by_key(String::len)
        .or_else(|| rest.rsplit_once('|').map(|(name, _)| name.to_owned()))
        .unwrap_or_else(|| rest.to_owned());
    counter::end_user_units(&name)
}

/// How the earlier release wrote an end user's name into its key.
fn old_form(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_key_names_its_end_user() {
        let users = [
            "Example  Cloud Co.".to_owned(),
            "A|B".to_owned(),
            "A".to_owned(),
        ];
        for (old, new) in [
            (
                "end-user-units|example cloud co.|H200",
                "end-user-cap|exarnplecloud",
            ),
            ("end-user-units|a|b|H200", "end-user-cap|ab"),
            ("end-user-units|a|H|200", "end-user-cap|a"),
            ("end-user-units|unlisted ltd|H200", "end-user-cap|unlisted"),
            ("end-user|exarnplecloud|H200", "end-user-cap|exarnplecloud"),
            ("end-user|exarnplecloud|H|200", "end-user-cap|exarnplecloud"),
        ] {
            assert_eq!(new_key(old, &users), new, "{old}");
        }
    }
}
