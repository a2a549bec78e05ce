//! One licence job in a transaction: an issue with its decision, or a
//! change decided on the rows it locked.

use super::*;

/// Runs one job inside the open transaction `conn`; writes nothing when
/// the outcome is not `Committed`. The caller commits (or rolls back).
pub(crate) async fn run_job<DB: Dialect>(
    conn: &mut DB::Connection,
    job: &LicenseJob,
) -> Result<LicenseOutcome, JobError> {
    let request = match job {
        LicenseJob::Issue(job) => &job.request,
        LicenseJob::Change { request, .. } => request,
    };
    if let Some(request) = request {
        let mut q =
            Sql::<DB>::new("SELECT fingerprint, response FROM requests WHERE request_id = ");
        q.push_text(request.request_id.clone());
        if let Some(r) = DB::fetch_optional(&mut *conn, &q).await.map_err(db::<DB>)? {
            let fingerprint = r.text(0).map_err(JobError::Failed)?;
            let response = r.text(1).map_err(JobError::Failed)?;
            return match crate::store::batch::replay(request, &fingerprint, &response) {
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
        let mut q = Sql::<DB>::new(INSERT_REQUESTS);
        q.push_values([request_row(
            request.request_id.clone(),
            application,
            request.fingerprint.clone(),
            response.unwrap_or_else(|| request.response.clone()),
            at,
        )]);
        DB::execute(&mut *conn, &q).await.map_err(db::<DB>)?;
    }
    Ok(outcome)
}

/// The chain head of an application, locked, with its version and
/// creation time; None when it does not exist.
async fn locked_application<DB: Dialect>(
    conn: &mut DB::Connection,
    application_id: &str,
) -> Result<Option<(i64, ChainHead, i64)>, JobError> {
    let mut q = Sql::<DB>::new(
        "SELECT version, chain_length, chain_head, created_at FROM applications WHERE id = ",
    );
    q.push_text(application_id);
    q.push(DB::FOR_UPDATE);
    let Some(r) = DB::fetch_optional(&mut *conn, &q).await.map_err(db::<DB>)? else {
        return Ok(None);
    };
    let head = chain_head_from(&r, 1).map_err(JobError::Failed)?;
    let version = r.int(0).map_err(JobError::Failed)?;
    let created_at = r.int(3).map_err(JobError::Failed)?;
    Ok(Some((version, head, created_at)))
}

/// Appends `events` to the chain after `head`; the head they lead to,
/// which the caller writes where the chain's head is kept.
async fn append<DB: Dialect>(
    conn: &mut DB::Connection,
    application_id: &str,
    head: &ChainHead,
    events: &[NewEvent],
) -> Result<ChainHead, JobError> {
    if events.is_empty() {
        return Ok(head.clone());
    }
    let (links, new_head) = extend_chain(application_id, head, events);
    let mut q = Sql::<DB>::new(INSERT_EVENTS);
    q.push_values(
        events
            .iter()
            .zip(links)
            .map(|(event, (sequence, previous, hash))| {
                event_row(application_id.to_owned(), sequence, event, previous, hash)
            }),
    );
    DB::execute(&mut *conn, &q).await.map_err(db::<DB>)?;
    Ok(new_head)
}

pub(super) async fn issue<DB: Dialect>(
    conn: &mut DB::Connection,
    expected_version: i64,
    row: &ApplicationRow,
    events: &[NewEvent],
    license: &LicenseRow,
) -> Result<(), JobError> {
    let Some((version, head, created_at)) = locked_application::<DB>(conn, &row.id).await? else {
        return Err(JobError::Failed(StoreError::NotFound(row.id.clone())));
    };
    if version != expected_version {
        return Err(JobError::Failed(StoreError::VersionConflict {
            id: row.id.clone(),
            expected: expected_version,
            current: version,
        }));
    }
    let head = append::<DB>(conn, &row.id, &head, events).await?;
    let agencies =
        crate::store::batch::agencies_json(&row.awaiting_agencies).map_err(JobError::Failed)?;
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
    q.push(", chain_length = ");
    q.push_int(head.length);
    q.push(", chain_head = ");
    q.push_text(head.hash.clone());
    q.push(" WHERE id = ");
    q.push_text(row.id.clone());
    q.push(" AND version = ");
    q.push_int(expected_version);
    let done = DB::execute(&mut *conn, &q).await.map_err(db::<DB>)?;
    expect_rows::<DB>(&done, 1, || {
        internal(format!("update of {} changed no row", row.id))
    })?;
    let mut q = Sql::<DB>::new("DELETE FROM application_awaiting WHERE application_id = ");
    q.push_text(row.id.clone());
    DB::execute(&mut *conn, &q).await.map_err(db::<DB>)?;
    for agency in distinct(&row.awaiting_agencies) {
        let mut q = Sql::<DB>::new(
            "INSERT INTO application_awaiting (agency, created_at, application_id) VALUES ",
        );
        q.push_values([[
            Bind::Text(agency.clone()),
            Bind::Int(created_at),
            Bind::Text(row.id.clone()),
        ]]);
        DB::execute(&mut *conn, &q).await.map_err(db::<DB>)?;
    }
    let mut q = Sql::<DB>::new(format!(
        "INSERT INTO licenses ({LICENSE_COLUMNS}, {HEAD_COLUMNS}) VALUES "
    ));
    q.push_values([license_row(license, &head)]);
    DB::execute(&mut *conn, &q).await.map_err(db::<DB>)?;
    Ok(())
}

pub(super) async fn change<DB: Dialect>(
    conn: &mut DB::Connection,
    license_id: &str,
    counter_keys: &[String],
    decide: &Decide,
) -> Result<(LicenseOutcome, i64, Option<String>), JobError> {
    let mut q = Sql::<DB>::new(format!(
        "SELECT {LICENSE_COLUMNS}, {HEAD_COLUMNS} FROM licenses WHERE id = "
    ));
    q.push_text(license_id);
    q.push(DB::FOR_UPDATE);
    let Some(r) = DB::fetch_optional(&mut *conn, &q).await.map_err(db::<DB>)? else {
        return Err(JobError::Failed(StoreError::NotFound(
            license_id.to_owned(),
        )));
    };
    let row = license_from(&r).map_err(JobError::Failed)?;
    let head = head_from(&r).map_err(JobError::Failed)?;
    let mut keys = counter_keys.to_vec();
    keys.sort();
    keys.dedup();
    let counters = super::batch::locked_counters::<DB>(&mut *conn, &keys).await?;
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
    let head = append::<DB>(conn, &view.row.application_id, &head, &write.events).await?;
    let mut q = Sql::<DB>::new("UPDATE licenses SET version = ");
    q.push_int(write.row.version);
    q.push(", chain_length = ");
    q.push_int(head.length);
    q.push(", chain_head = ");
    q.push_text(head.hash);
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
    let done = DB::execute(&mut *conn, &q).await.map_err(db::<DB>)?;
    expect_rows::<DB>(&done, 1, || moved(format!("licence {license_id} moved")))?;
    for shipment in &write.shipments {
        let mut q = Sql::<DB>::new(insert_shipments());
        q.push_values([shipment_row(shipment)]);
        DB::execute(&mut *conn, &q).await.map_err(db::<DB>)?;
    }
    for (key, delta) in &write.counters {
        if !keys.contains(key) {
            return Err(internal(format!("counter {key} was not locked")));
        }
        let mut q = Sql::<DB>::new("UPDATE license_counters SET value = value + ");
        q.push_int(*delta);
        q.push(" WHERE counter = ");
        q.push_text(key.clone());
        DB::execute(&mut *conn, &q).await.map_err(db::<DB>)?;
    }
    Ok((
        LicenseOutcome::Committed,
        write.row.updated_at,
        write.response,
    ))
}

/// Runs one job in its own transaction, again while it conflicts (a few
/// times, then `Unavailable`).
pub(crate) async fn run_alone<DB: Dialect>(
    conn: &mut DB::Connection,
    begin: &'static str,
    job: &LicenseJob,
) -> Result<LicenseOutcome, StoreError> {
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
