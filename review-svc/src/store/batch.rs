//! The batch planner shared by both writers (group commit): how queued
//! writes are grouped, checked and turned into rows to write.
//!
//! A writer task takes every write waiting in its queue, reads the state
//! those writes depend on (the request ids, and each application's version,
//! chain head and awaited agencies) inside its transaction, and then
//! [`decide_all`] decides each write in order against that state as changed
//! by the earlier writes of the batch: a repeated request id is replayed, a
//! second update from the same version conflicts, a create of an existing
//! id is refused. Only the writes that go through are recorded in
//! [`BatchWrites`]; [`plan`] turns them into the row inserts and
//! compare-and-set updates each dialect writes with a few multi-row
//! statements. Nothing here touches the database.

use std::collections::{HashMap, HashSet};

use tokio::sync::{mpsc, oneshot};

use super::chain::{extend_chain, ChainHead};
use super::{ApplicationRow, IdempotentRequest, NewEvent, StoreError, WriteOutcome};

/// Queues the job `with_reply` makes for a writer task and waits for its
/// outcome, which the task sends only once the batch's COMMIT has returned.
pub(crate) async fn submit<J, T>(
    writer: &mpsc::Sender<J>,
    with_reply: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> J,
    name: &str,
) -> Result<T, StoreError> {
    let stopped = || StoreError::Unavailable(format!("the {name} writer has stopped"));
    let (reply, answer) = oneshot::channel();
    writer
        .send(with_reply(reply))
        .await
        .map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}

/// The answer to a request whose id was recorded before with
/// `fingerprint` and `response`: the first answer again, or a refusal when
/// the id came with other content.
pub(crate) fn replay(
    request: &IdempotentRequest,
    fingerprint: &str,
    response: &str,
) -> Result<WriteOutcome, StoreError> {
    if fingerprint == request.fingerprint {
        Ok(WriteOutcome::Replayed {
            response: response.to_owned(),
        })
    } else {
        Err(StoreError::RequestIdReused(request.request_id.clone()))
    }
}

/// Decides every write of a batch in order (see [`decide`]): one result
/// per write, and what the batch must write.
pub(crate) fn decide_all(
    ops: &[&WriteOp],
    mut requests: HashMap<String, (String, String)>,
    apps: &mut HashMap<String, AppState>,
) -> (Vec<Result<WriteOutcome, StoreError>>, BatchWrites) {
    let mut writes = BatchWrites::default();
    let results = ops
        .iter()
        .map(|op| decide(op, &mut requests, apps, &mut writes))
        .collect();
    (results, writes)
}

/// A queued write.
pub(crate) enum WriteOp {
    Create {
        row: ApplicationRow,
        events: Vec<NewEvent>,
        request: Option<IdempotentRequest>,
    },
    Update {
        expected_version: i64,
        row: ApplicationRow,
        events: Vec<NewEvent>,
        request: Option<IdempotentRequest>,
    },
}

impl WriteOp {
    /// The row, events and request of either kind of write, and the
    /// version an update expects (None for a create).
    pub(crate) fn parts(
        &self,
    ) -> (
        &ApplicationRow,
        &[NewEvent],
        Option<&IdempotentRequest>,
        Option<i64>,
    ) {
        match self {
            WriteOp::Create {
                row,
                events,
                request,
            } => (row, events, request.as_ref(), None),
            WriteOp::Update {
                expected_version,
                row,
                events,
                request,
            } => (row, events, request.as_ref(), Some(*expected_version)),
        }
    }
}

pub(crate) struct WriteJob {
    pub(crate) op: WriteOp,
    pub(crate) reply: oneshot::Sender<Result<WriteOutcome, StoreError>>,
}

/// An update must move the version forward.
pub(crate) fn check_new_version(
    expected_version: i64,
    row: &ApplicationRow,
) -> Result<(), StoreError> {
    if row.version > expected_version {
        Ok(())
    } else {
        Err(StoreError::Internal(format!(
            "update of {} to version {} does not move past version {expected_version}",
            row.id, row.version
        )))
    }
}

/// What the batch knows of an application: as stored, then as changed by
/// the batch's earlier writes.
pub(crate) struct AppState {
    /// Version in the database (None: inserted by this batch).
    stored_version: Option<i64>,
    /// Agencies in application_awaiting before the batch.
    stored_agencies: Vec<String>,
    /// Set by the create, never changed (application_awaiting copies it).
    created_at: i64,
    version: i64,
    head: ChainHead,
    /// The row to write, if the batch changed it.
    row: Option<ApplicationRow>,
}

impl AppState {
    /// An application as read from the database at the start of a batch.
    pub(crate) fn stored(
        version: i64,
        agencies: Vec<String>,
        created_at: i64,
        head: ChainHead,
    ) -> Self {
        Self {
            stored_version: Some(version),
            stored_agencies: agencies,
            created_at,
            version,
            head,
            row: None,
        }
    }
}

/// The writes of a batch, gathered while deciding and then written with a
/// few multi-row statements.
#[derive(Default)]
pub(crate) struct BatchWrites {
    /// Applications touched by the batch, in first-touch order.
    order: Vec<String>,
    /// (request, application id, recorded_at)
    pub(crate) requests: Vec<(IdempotentRequest, String, i64)>,
    /// (application id, application_sequence, event, previous_hash, hash)
    pub(crate) events: Vec<(String, i64, NewEvent, String, String)>,
}

impl BatchWrites {
    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty() && self.requests.is_empty() && self.events.is_empty()
    }
}

/// The row changes of a batch, ready to write.
pub(crate) struct Plan<'a> {
    pub(crate) inserts: Vec<(&'a ApplicationRow, &'a ChainHead)>,
    /// (new row, new chain head, version in the database)
    pub(crate) updates: Vec<(&'a ApplicationRow, &'a ChainHead, i64)>,
    /// (agency, created_at, application id)
    pub(crate) awaiting_gone: Vec<(&'a String, i64, &'a String)>,
    pub(crate) awaiting_new: Vec<(&'a String, i64, &'a String)>,
}

/// What the batch's decisions change in applications and application_awaiting.
pub(crate) fn plan<'a>(apps: &'a HashMap<String, AppState>, writes: &'a BatchWrites) -> Plan<'a> {
    let mut plan = Plan {
        inserts: Vec::new(),
        updates: Vec::new(),
        awaiting_gone: Vec::new(),
        awaiting_new: Vec::new(),
    };
    for id in &writes.order {
        let Some(state) = apps.get(id) else { continue };
        let Some(row) = &state.row else { continue };
        match state.stored_version {
            None => plan.inserts.push((row, &state.head)),
            Some(stored) => plan.updates.push((row, &state.head, stored)),
        }
        let now = distinct(&row.awaiting_agencies);
        let before = distinct(&state.stored_agencies);
        for agency in &before {
            if !now.contains(agency) {
                plan.awaiting_gone.push((*agency, state.created_at, id));
            }
        }
        for agency in &now {
            if !before.contains(agency) {
                plan.awaiting_new.push((*agency, state.created_at, id));
            }
        }
    }
    plan
}

pub(crate) fn keys_of(ops: &[&WriteOp]) -> (Vec<String>, Vec<String>) {
    let mut request_ids = Vec::new();
    let mut app_ids = Vec::new();
    for op in ops {
        let (row, _, request, _) = op.parts();
        if let Some(request) = request {
            request_ids.push(request.request_id.clone());
        }
        app_ids.push(row.id.clone());
    }
    for ids in [&mut request_ids, &mut app_ids] {
        ids.sort();
        ids.dedup();
    }
    (request_ids, app_ids)
}

/// Decides one write against the batch's state and records its writes.
fn decide(
    op: &WriteOp,
    requests: &mut HashMap<String, (String, String)>,
    apps: &mut HashMap<String, AppState>,
    writes: &mut BatchWrites,
) -> Result<WriteOutcome, StoreError> {
    let (row, events, request, expected) = op.parts();
    // The request id first: a retry of a write that went through carries
    // the old version and must be answered as before.
    if let Some(request) = request {
        if let Some((fingerprint, response)) = requests.get(&request.request_id) {
            return replay(request, fingerprint, response);
        }
    }
    // Each event is hashed once: the links written and the new head come
    // from the same pass over the events.
    let links = match (expected, apps.get_mut(&row.id)) {
        (None, Some(_)) => return Err(StoreError::AlreadyExists(row.id.clone())),
        (None, None) => {
            let (links, head) = extend_chain(&row.id, &ChainHead::empty(), events);
            apps.insert(
                row.id.clone(),
                AppState {
                    stored_version: None,
                    stored_agencies: Vec::new(),
                    created_at: row.created_at,
                    version: row.version,
                    head,
                    row: Some(row.clone()),
                },
            );
            writes.order.push(row.id.clone());
            links
        }
        (Some(_), None) => return Err(StoreError::NotFound(row.id.clone())),
        (Some(expected), Some(state)) => {
            if state.version != expected {
                return Err(StoreError::VersionConflict {
                    id: row.id.clone(),
                    expected,
                    current: state.version,
                });
            }
            let (links, head) = extend_chain(&row.id, &state.head, events);
            // created_at is set once, by the create.
            let stored = ApplicationRow {
                created_at: state.created_at,
                ..row.clone()
            };
            if state.row.is_none() {
                writes.order.push(row.id.clone());
            }
            state.version = row.version;
            state.head = head;
            state.row = Some(stored);
            links
        }
    };
    for (event, (sequence, previous_hash, hash)) in events.iter().zip(links) {
        writes
            .events
            .push((row.id.clone(), sequence, event.clone(), previous_hash, hash));
    }
    if let Some(request) = request {
        requests.insert(
            request.request_id.clone(),
            (request.fingerprint.clone(), request.response.clone()),
        );
        writes
            .requests
            .push((request.clone(), row.id.clone(), row.updated_at));
    }
    Ok(WriteOutcome::Committed)
}

pub(crate) fn agencies_json(agencies: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(agencies).map_err(|e| StoreError::Internal(e.to_string()))
}

/// `agencies` without repetitions, in order.
pub(crate) fn distinct(agencies: &[String]) -> Vec<&String> {
    let mut seen = HashSet::new();
    agencies.iter().filter(|a| seen.insert(*a)).collect()
}
