//! The record: loads an application, applies passed deadlines, lets the
//! workflow decide, and stores the new state with its events in one write.
//! No gRPC here: callers bring an authenticated actor and domain commands,
//! and get domain results or a `LedgerError`.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::record::{self, Snapshot};
use crate::store::{
    ApplicationRow, ChainReport, IdempotentRequest, ListCursor, ListFilter, NewEvent, Store,
    StoreError, StoredEvent, WriteOutcome,
};
use crate::workflow::{self, Actor, Application, Command, Event, Filing, ItemOutcome, Workflow};

mod licenses;
mod signals;

pub use licenses::{LicenseAnswer, RecordedShipment};
use signals::Signals;
pub use signals::{HistoryPoll, Subscription};

/// Identifies a retried request: its id and a digest of its content.
#[derive(Debug, Clone)]
pub struct RequestKey {
    pub id: String,
    pub fingerprint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("application {0} not found")]
    NotFound(String),
    #[error("etag mismatch: the application is at version {current}")]
    EtagMismatch { current: i64 },
    #[error("{0}")]
    Refused(workflow::Refusal),
    #[error("{0}")]
    LicenseRefused(crate::licensing::LicenseRefusal),
    #[error("licence {0} not found")]
    LicenseNotFound(String),
    #[error("request id {0} was already used for a different request")]
    RequestIdReused(String),
    #[error("application {0} already exists")]
    AlreadyExists(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for LedgerError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(id) => LedgerError::NotFound(id),
            StoreError::VersionConflict { current, .. } => LedgerError::EtagMismatch { current },
            StoreError::AlreadyExists(id) => LedgerError::AlreadyExists(id),
            StoreError::RequestIdReused(id) => LedgerError::RequestIdReused(id),
            StoreError::Unavailable(detail) => LedgerError::Unavailable(detail),
            StoreError::Internal(detail) => LedgerError::Internal(detail),
        }
    }
}

pub struct Ledger {
    store: Arc<dyn Store>,
    workflow: Workflow,
    /// What licences allow (`licensing.toml`).
    policy: Arc<crate::licensing::Policy>,
    /// The watches of this process, woken after its own writes and, by
    /// the history poll, after those of other processes.
    signals: Arc<Signals>,
}

impl Ledger {
    pub fn new(store: Arc<dyn Store>, workflow: Workflow) -> Self {
        let policy = Arc::new(crate::licensing::Policy::embedded(
            workflow.deadlines().day_length(),
        ));
        Self {
            store,
            workflow,
            policy,
            signals: Arc::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    /// A watch of the writes to `application` (None: to every
    /// application), woken after this process's writes and, once the
    /// history poll has seen them, other processes'.
    pub fn watch(&self, application: Option<&str>) -> Subscription {
        self.signals.subscribe(application)
    }

    /// Watches open in this process now.
    pub fn watches_open(&self) -> usize {
        self.signals.open()
    }

    /// Looks for events written since the last poll, by this process or
    /// another sharing the database, and wakes the watches of what was
    /// written: one read of sequence numbers and applications for all the
    /// watches of this process, instead of one read of the history each.
    /// Reads nothing while nobody watches. A sequence number taken by a write that has
    /// not committed yet (PostgreSQL) is a gap the poll waits at, as the
    /// watchers do, so a write that commits late still wakes them.
    pub async fn poll_history(
        &self,
        poll: &mut HistoryPoll,
        now: tokio::time::Instant,
    ) -> Result<(), LedgerError> {
        if self.signals.open() == 0 {
            poll.forget();
            return Ok(());
        }
        let Some(after) = poll.after() else {
            // Settled: no write still to commit can take a number below it.
            poll.start(self.store.audit_horizon().await?);
            // What was written before this first look, since the watches
            // read the history, is theirs to read now.
            self.signals.wake_all();
            return Ok(());
        };
        let written = self.store.written_after(after, HISTORY_POLL_BATCH).await?;
        let woken = poll.read(&written, now);
        if !woken.is_empty() {
            self.signals.written(woken);
        }
        Ok(())
    }

    /// Files an application, classified already if `classification` is given.
    ///
    /// A retried request is recognised by the store, in the write itself
    /// (a new application has a new id, so nothing else can conflict): no
    /// read before the write, which every filing would pay for the sake of
    /// the rare retry.
    pub async fn file(
        &self,
        filing: Filing,
        classification: Option<Vec<ItemOutcome>>,
        request: Option<&RequestKey>,
        now: DateTime<Utc>,
    ) -> Result<Application, LedgerError> {
        let prepared = self.prepare(filing, classification, now)?;
        self.commit(prepared, request).await
    }

    /// What filing would record, decided and nothing written: the events and
    /// the application they make. A caller that must look at them first (to
    /// bound what is stored) commits them afterwards with [`Ledger::commit`].
    pub fn prepare(
        &self,
        filing: Filing,
        classification: Option<Vec<ItemOutcome>>,
        now: DateTime<Utc>,
    ) -> Result<Prepared, LedgerError> {
        let mut events = self.workflow.file(filing, now);
        let mut app = Application::replay(&events)
            .ok_or_else(|| LedgerError::Internal("filing produced no event".into()))?;
        if let Some(items) = classification {
            let more = self
                .workflow
                .handle(
                    &app,
                    &Actor::system(),
                    Command::RecordClassification { items },
                    now,
                )
                .map_err(LedgerError::Refused)?;
            app = fold_onto(app, &more);
            events.extend(more);
        }
        Ok(Prepared { app, events })
    }

    /// Writes a prepared filing.
    pub async fn commit(
        &self,
        prepared: Prepared,
        request: Option<&RequestKey>,
    ) -> Result<Application, LedgerError> {
        let Prepared { app, events } = prepared;
        let (row, new_events, idempotent) = encode(&app, &events, request)?;
        match self
            .store
            .create(&row, &new_events, idempotent.as_ref())
            .await?
        {
            WriteOutcome::Committed => {
                self.signals.written([app.id.as_str()]);
                Ok(app)
            }
            WriteOutcome::Replayed { response } => self.answer_again(&response).await,
        }
    }

    /// One application with what was filed and what the classifier answered.
    pub async fn get(&self, id: &str) -> Result<Application, LedgerError> {
        let row = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| LedgerError::NotFound(id.to_owned()))?;
        let mut apps = self
            .read(std::slice::from_ref(&row), Documents::Included)
            .await?;
        apps.pop()
            .ok_or_else(|| LedgerError::Internal(format!("row {id} read as nothing")))
    }

    /// The applications stored rows hold, in the rows' order. A snapshot
    /// keeps the workflow's state only; what was filed and the classifier's
    /// answers live in the events that brought them, read here (for all the
    /// rows in one query) when `documents` asks for them. A snapshot of the
    /// first format is rebuilt from the whole history.
    async fn read(
        &self,
        rows: &[ApplicationRow],
        documents: Documents,
    ) -> Result<Vec<Application>, LedgerError> {
        let mut apps = Vec::with_capacity(rows.len());
        let mut need_documents = Vec::new();
        for row in rows {
            match record::decode_snapshot(&row.snapshot)
                .map_err(|e| unreadable(&row.id, "snapshot", e))?
            {
                Snapshot::State(app) => {
                    need_documents.push(row.id.as_str());
                    apps.push(*app);
                }
                Snapshot::Replay => apps.push(self.replay(&row.id, row.version).await?),
            }
        }
        if documents == Documents::Included && !need_documents.is_empty() {
            let stored = self
                .store
                .events_of_kinds(&need_documents, &[FILED, CLASSIFIED])
                .await?;
            // Applications are in the rows' order.
            let index: std::collections::HashMap<&str, usize> = rows
                .iter()
                .enumerate()
                .map(|(i, row)| (row.id.as_str(), i))
                .collect();
            for event in &stored {
                let Some(app) = index
                    .get(event.application_id.as_str())
                    .and_then(|&i| apps.get_mut(i))
                else {
                    continue;
                };
                match decode(event)? {
                    Event::ApplicationFiled { application, .. } => app.filed = application,
                    Event::ItemsClassified { items, .. } => app.classifications = items,
                    _ => {}
                }
            }
        }
        Ok(apps)
    }

    /// The application at `version`, folded from its history.
    async fn replay(&self, id: &str, version: i64) -> Result<Application, LedgerError> {
        let limit = u32::try_from(version)
            .map_err(|_| LedgerError::Internal(format!("version {version} of {id}")))?;
        let stored = self.store.events(Some(id), 0, limit).await?;
        let events = stored.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        Application::replay(&events)
            .filter(|app| app.version == version)
            .ok_or_else(|| {
                LedgerError::Internal(format!("history of {id} does not reach version {version}"))
            })
    }

    /// Runs a command by `actor` against the version the caller saw.
    /// Deadlines that passed are applied first, in the same write.
    pub async fn command(
        &self,
        id: &str,
        actor: &Actor,
        expected_version: Option<i64>,
        command: Command,
        request: Option<&RequestKey>,
        now: DateTime<Utc>,
    ) -> Result<Application, LedgerError> {
        if let Some(replayed) = self.replayed(request).await? {
            return Ok(replayed);
        }
        let current = self.get(id).await?;
        if let Some(expected) = expected_version {
            if expected != current.version {
                // Who may not read the application learns nothing about it,
                // not even its version: it gets the refusal it would get
                // with the right etag.
                if !workflow::may_read(actor, &current) {
                    let refusal = match self.workflow.handle(&current, actor, command, now) {
                        Err(denied @ workflow::Refusal::PermissionDenied { .. }) => denied,
                        _ => workflow::Refusal::PermissionDenied {
                            reason: workflow::reason::NOT_YOUR_APPLICATION,
                            detail: format!("{} may not act on application {id}", actor.id),
                        },
                    };
                    return Err(LedgerError::Refused(refusal));
                }
                return Err(LedgerError::EtagMismatch {
                    current: current.version,
                });
            }
        }
        let mut events = self.workflow.sweep(&current, now);
        let swept = fold_onto(current.clone(), &events);
        let more = self
            .workflow
            .handle(&swept, actor, command, now)
            .map_err(LedgerError::Refused)?;
        events.extend(more);
        self.write(&current, events, request).await
    }

    /// Applies every deadline that has passed for one application; returns
    /// whether anything was written (false when another process did it first).
    pub async fn sweep(&self, app: &Application, now: DateTime<Utc>) -> Result<bool, LedgerError> {
        let events = self.workflow.sweep(app, now);
        if events.is_empty() {
            return Ok(false);
        }
        match self.write(app, events, None).await {
            Ok(_) => Ok(true),
            Err(LedgerError::EtagMismatch { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Applications whose earliest deadline has passed.
    pub async fn due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Application>, LedgerError> {
        let rows = self.store.due(now.timestamp_millis(), limit).await?;
        // Deadlines never need what was filed.
        self.read(&rows, Documents::Left).await
    }

    pub async fn list(
        &self,
        filter: &ListFilter,
        after: Option<&ListCursor>,
        limit: u32,
    ) -> Result<Vec<Application>, LedgerError> {
        let rows = self.store.list(filter, after, limit).await?;
        self.read(&rows, Documents::Included).await
    }

    /// Events after `after_sequence`, oldest first, of one application or
    /// of all, each with what it says. An event that cannot be read is
    /// logged and given without its content: one bad record must not hide
    /// the rest of the history.
    pub async fn history(
        &self,
        application_id: Option<&str>,
        after_sequence: i64,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, LedgerError> {
        let stored = self
            .store
            .events(application_id, after_sequence, limit)
            .await?;
        Ok(stored
            .into_iter()
            .map(|stored| {
                let event = decode(&stored)
                    .inspect_err(|error| tracing::error!(%error, "event unreadable"))
                    .ok();
                HistoryEntry { stored, event }
            })
            .collect())
    }

    /// Recomputes the hash chain of one application or of all.
    pub async fn verify(&self, application_id: Option<&str>) -> Result<ChainReport, LedgerError> {
        Ok(self.store.verify_chain(application_id).await?)
    }

    /// A retry of a request that already succeeded gets the first answer;
    /// the same id with other content is refused.
    async fn replayed(
        &self,
        request: Option<&RequestKey>,
    ) -> Result<Option<Application>, LedgerError> {
        let Some(request) = request else {
            return Ok(None);
        };
        match self.store.find_request(&request.id).await? {
            None => Ok(None),
            Some((fingerprint, response)) if fingerprint == request.fingerprint => {
                self.answer_again(&response).await.map(Some)
            }
            Some(_) => Err(LedgerError::RequestIdReused(request.id.clone())),
        }
    }

    async fn write(
        &self,
        current: &Application,
        mut events: Vec<Event>,
        request: Option<&RequestKey>,
    ) -> Result<Application, LedgerError> {
        let mut app = fold_onto(current.clone(), &events);
        // A final approval issues its licence in the same write.
        let license = self.issue(current, &mut app, &mut events).await?;
        let (row, new_events, idempotent) = encode(&app, &events, request)?;
        let outcome = match &license {
            Some(license) => {
                self.store
                    .issue_license(
                        current.version,
                        &row,
                        &new_events,
                        idempotent.as_ref(),
                        license,
                    )
                    .await?
            }
            None => {
                self.store
                    .update(current.version, &row, &new_events, idempotent.as_ref())
                    .await?
            }
        };
        match outcome {
            WriteOutcome::Committed => {
                self.signals.written([app.id.as_str()]);
                Ok(app)
            }
            WriteOutcome::Replayed { response } => self.answer_again(&response).await,
        }
    }

    /// The application as a request's first write left it, from what its
    /// request record kept.
    async fn answer_again(&self, recorded: &str) -> Result<Application, LedgerError> {
        let answered = serde_json::from_str::<Answered>(recorded)
            .map_err(|e| LedgerError::Internal(format!("request record unreadable: {e}")))?;
        let current = self.get(&answered.application).await?;
        if current.version == answered.version {
            return Ok(current);
        }
        // The application has moved on since: rebuild the version the
        // first call answered from its history.
        self.replay(&answered.application, answered.version).await
    }
}

/// What a request record keeps of the first answer: the application and
/// the version that write produced, not a copy of the rendered
/// application (which would double what every write stores).
#[derive(serde::Serialize, serde::Deserialize)]
struct Answered {
    application: String,
    version: i64,
}

fn fold_onto(app: Application, events: &[Event]) -> Application {
    events
        .iter()
        .fold(app, |app, event| workflow::apply(Some(app), event))
}

type Encoded = (ApplicationRow, Vec<NewEvent>, Option<IdempotentRequest>);

fn encode(
    app: &Application,
    events: &[Event],
    request: Option<&RequestKey>,
) -> Result<Encoded, LedgerError> {
    let snapshot = record::encode_snapshot(app);
    let new_events = events
        .iter()
        .map(|event| NewEvent {
            kind: event.kind().to_owned(),
            actor: event.actor().to_owned(),
            at: event.at().timestamp_millis(),
            details: record::encode_event(event),
        })
        .collect();
    let row = ApplicationRow {
        id: app.id.clone(),
        version: app.version,
        applicant: app.applicant.clone(),
        state: app.state.as_str().to_owned(),
        level: app.level.map(|l| l.as_str().to_owned()).unwrap_or_default(),
        destination: app.destination.clone(),
        awaiting_agencies: app
            .awaiting_agencies()
            .into_iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        next_due_at: app.next_due().map(|t| t.timestamp_millis()),
        overdue_at: app.overdue_since().map(|t| t.timestamp_millis()),
        created_at: app.created_at.timestamp_millis(),
        updated_at: app.updated_at.timestamp_millis(),
        snapshot,
    };
    let idempotent = request
        .map(|request| {
            let answered = Answered {
                application: app.id.clone(),
                version: app.version,
            };
            Ok::<_, LedgerError>(IdempotentRequest {
                request_id: request.id.clone(),
                fingerprint: request.fingerprint.clone(),
                response: serde_json::to_string(&answered)
                    .map_err(|e| LedgerError::Internal(e.to_string()))?,
            })
        })
        .transpose()?;
    Ok((row, new_events, idempotent))
}

/// A filing decided but not yet written (see [`Ledger::prepare`]).
#[derive(Debug)]
pub struct Prepared {
    pub app: Application,
    pub events: Vec<Event>,
}

/// One event of the history: as stored (with its place in the chain and
/// its hashes), and as the workflow reads it.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub stored: StoredEvent,
    /// `None` when the stored bytes could not be read.
    pub event: Option<Event>,
}

/// Whether reading an application takes what was filed and the
/// classifier's answers from its events too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Documents {
    Included,
    Left,
}

/// Sequence numbers one history poll reads at most.
const HISTORY_POLL_BATCH: u32 = 1000;
const FILED: &str = "ApplicationFiled";
const CLASSIFIED: &str = "ItemsClassified";

/// A stored event in the workflow's terms.
pub fn decode(event: &StoredEvent) -> Result<Event, LedgerError> {
    record::decode_event(&event.details).map_err(|e| {
        unreadable(
            &event.application_id,
            &format!("event {}", event.application_sequence),
            e,
        )
    })
}

fn unreadable(id: &str, what: &str, error: record::FormatError) -> LedgerError {
    LedgerError::Internal(format!("{what} of application {id} unreadable: {error}"))
}

/// Unix milliseconds to a time (stored values are always in range).
pub fn from_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or_default()
}
