//! The history: ListApplicationEvents, WatchApplications, VerifyAuditTrail.

use std::sync::Arc;
use std::time::Duration;

use exportcontrol_proto::review::v1 as pb;
use prost::Message;
use service_kit::paging;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status};
use tracing::Instrument;

use super::{
    audit, errors, limits, may_read_history, page_token_error, validate, EventStream, Review,
    ALL_APPLICATIONS, ERRORS,
};
use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::convert::{self, resource_name};
use crate::ledger::{Ledger, Subscription};
use crate::watch_gaps::{GapGuard, GAP_GRACE, GAP_POLL};
use crate::workflow::{self, Actor};

const DEFAULT_EVENTS_PAGE_SIZE: u32 = 100;
const MAX_EVENTS_PAGE_SIZE: u32 = 1000;
/// How often an idle watch checks that its credentials still hold, to end
/// it when they do not: a watch checks them before every delivery anyway,
/// so this only bounds how long a stream that receives nothing stays open.
const CREDENTIALS_RECHECK: Duration = Duration::from_secs(2);

impl Review {
    pub(super) async fn list_events(
        &self,
        request: Request<pb::ListApplicationEventsRequest>,
    ) -> Result<Response<pb::ListApplicationEventsResponse>, Status> {
        let actor = self.actor(&request)?;
        let message = request.get_ref();
        let page_size = validate::page_size(
            message.page_size,
            DEFAULT_EVENTS_PAGE_SIZE,
            MAX_EVENTS_PAGE_SIZE,
        )?;
        // Empty is the whole trail, as for VerifyAuditTrail and WatchApplications.
        let parent = or_all(&message.parent);
        let scope = self.event_scope(&actor, parent, "parent").await?;
        let scope = scope.map(|app| app.id);
        let query = paging::fingerprint(&["events", parent]);
        let after = if message.page_token.is_empty() {
            0
        } else {
            self.keys
                .pages
                .decode(&message.page_token, &query)
                .ok()
                .and_then(|cursor| cursor.parse::<i64>().ok())
                .ok_or_else(|| page_token_error("ListApplicationEvents"))?
        };
        let events = self
            .ledger
            .history(scope.as_deref(), after, page_size + 1)
            .await
            .map_err(|e| errors::ledger(e, &message.parent))?;
        let mut rendered: Vec<pb::ApplicationEvent> = events
            .iter()
            .take(page_size as usize)
            .map(|entry| convert::event(&entry.stored, entry.event.as_ref()))
            .collect();
        let fit = limits::fitting(
            rendered.iter().map(Message::encoded_len),
            self.limits.page(),
        );
        let more = events.len() > fit;
        let next_page_token = match (more, fit.checked_sub(1).map(|i| &events[i])) {
            (true, Some(last)) => self
                .keys
                .pages
                .encode(&query, &last.stored.sequence.to_string()),
            _ => String::new(),
        };
        rendered.truncate(fit);
        Ok(Response::new(pb::ListApplicationEventsResponse {
            events: rendered,
            next_page_token,
        }))
    }

    pub(super) async fn watch(
        &self,
        request: Request<pb::WatchApplicationsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let actor = self.actor(&request)?;
        let authorization = request
            .metadata()
            .get("authorization")
            .map(|value| value.to_str().unwrap_or("invalid").to_owned());
        let message = request.into_inner();
        if message.after_sequence < 0 {
            return Err(ERRORS.invalid_field(
                super::validate::reason::OUT_OF_RANGE,
                "after_sequence",
                "must not be negative",
            ));
        }
        let parent = or_all(&message.application).to_owned();
        let application = self.event_scope(&actor, &parent, "application").await?;
        let slot = self.watches.take(actor.id.clone()).ok_or_else(|| {
            let max = self.watches.max();
            ERRORS.status(
                Code::ResourceExhausted,
                "TOO_MANY_WATCHES",
                format!(
                    "{} holds {max} watches open already, as many as one principal may; \
                     end one, or follow applications/- in one stream",
                    actor.id
                ),
                [
                    ("principal", actor.id.clone()),
                    ("maxWatches", max.to_string()),
                ],
            )
        })?;
        let scope = application.as_ref().map(|app| app.id.clone());
        let watcher = Watcher {
            authorization,
            actor: actor.clone(),
            application,
            auth: Arc::clone(&self.auth),
            clock: Arc::clone(&self.clock),
        };
        let (sender, receiver) = mpsc::channel(256);
        let ledger = Arc::clone(&self.ledger);
        let span =
            tracing::info_span!("WatchApplications", actor = %actor.id, application = %parent);
        let signal = ledger.watch(scope.as_deref());
        let after = message.after_sequence;
        tokio::spawn(
            async move {
                let watch = Watch {
                    ledger: &ledger,
                    signal: &signal,
                    scope: scope.as_deref(),
                    parent: &parent,
                };
                watch.follow(watcher, after, sender).await;
                drop(slot);
            }
            .instrument(span),
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    pub(super) async fn verify(
        &self,
        request: Request<pb::VerifyAuditTrailRequest>,
    ) -> Result<Response<pb::VerifyAuditTrailResponse>, Status> {
        let actor = self.actor(&request)?;
        let parent = or_all(&request.get_ref().name);
        let scope = self.event_scope(&actor, parent, "name").await?;
        let scope = scope.map(|app| app.id);
        let checkpoint = request.get_ref().checkpoint.as_ref();
        let checkpoint = self.check_checkpoint(&actor, checkpoint).await?;
        let report = self
            .ledger
            .verify(scope.as_deref())
            .await
            .map_err(|e| errors::ledger(e, parent))?;
        let (application, sequence, detail) = match report.first_break {
            Some((id, sequence, detail)) => (resource_name(&id), sequence, detail),
            None => (String::new(), 0, String::new()),
        };
        if !application.is_empty() {
            tracing::error!(%application, sequence, %detail, "audit trail broken");
        }
        let response = pb::VerifyAuditTrailResponse {
            intact: application.is_empty(),
            applications_checked: report.applications_checked,
            events_checked: report.events_checked,
            first_break_application: application,
            first_break_application_sequence: sequence,
            detail,
            checkpoint_sequence: 0,
        };
        Ok(Response::new(audit::with_checkpoint(response, checkpoint)))
    }

    /// `applications/-` (every application: not for applicants) or one the
    /// actor may read. Returns the application, or None for all.
    pub(super) async fn event_scope(
        &self,
        actor: &Actor,
        parent: &str,
        field: &str,
    ) -> Result<Option<workflow::Application>, Status> {
        if parent == ALL_APPLICATIONS {
            may_read_history(actor, None)?;
            return Ok(None);
        }
        let id = validate::application_id(parent, field)?;
        self.readable(actor, &id).await.map(Some)
    }
}

/// The principal a watch delivers to, authenticated again before every
/// delivery. A stream outlives the check made when it opened: a token
/// revoked in the tokens file (and the file re-read), or expired since,
/// must end it as it refuses every new call; a token the file now gives
/// another role keeps its stream only while that role may read what it
/// watches.
struct Watcher {
    authorization: Option<String>,
    actor: Actor,
    /// The application watched (None: every application).
    application: Option<workflow::Application>,
    auth: Arc<Authenticator>,
    clock: Arc<dyn Clock>,
}

impl Watcher {
    fn still_permitted(&mut self) -> Result<(), Status> {
        let actor = self
            .auth
            .authenticate(self.authorization.as_deref(), self.clock.now())
            .map_err(|error| errors::unauthenticated(&error))?;
        if actor != self.actor {
            may_read_history(&actor, self.application.as_ref())?;
            self.actor = actor;
        }
        Ok(())
    }
}

/// An empty parent or name is every application (`applications/-`), alike
/// in ListApplicationEvents, WatchApplications and VerifyAuditTrail.
fn or_all(name: &str) -> &str {
    if name.is_empty() {
        ALL_APPLICATIONS
    } else {
        name
    }
}

/// What one watch reads from, and what wakes it.
struct Watch<'a> {
    ledger: &'a Ledger,
    signal: &'a Subscription,
    /// The application watched (None: every application).
    scope: Option<&'a str>,
    /// Its name, as the request gave it.
    parent: &'a str,
}

impl Watch<'_> {
    /// Sends `watcher` the events after `after`, then every new one as it
    /// is written, until the client goes away or may no longer read them.
    async fn follow(
        &self,
        mut watcher: Watcher,
        after: i64,
        sender: mpsc::Sender<Result<pb::ApplicationEvent, Status>>,
    ) {
        // Nothing is numbered i64::MAX; the gap check counts one past `after`.
        let mut after = after.min(i64::MAX - 1);
        // Only the whole history is numbered without gaps; the events of
        // one application are interleaved with others'.
        let mut gaps = self.scope.is_none().then(|| GapGuard::new(GAP_GRACE));
        // Taken before each read, so that a write committed during the
        // read wakes the next wait.
        let mut written = std::pin::pin!(self.signal.written());
        let (mut read, mut at_gap) = (true, false);
        loop {
            if let Err(status) = watcher.still_permitted() {
                tracing::info!(code = ?status.code(), message = status.message(), "watch ended");
                let _ = sender.send(Err(status)).await;
                return;
            }
            if read {
                let events = match self.ledger.history(self.scope, after, 256).await {
                    Ok(events) => events,
                    Err(error) => {
                        let _ = sender.send(Err(errors::ledger(error, self.parent))).await;
                        return;
                    }
                };
                let ready = match gaps.as_mut() {
                    Some(gaps) => gaps.deliverable(
                        after,
                        events.iter().map(|e| e.stored.sequence),
                        tokio::time::Instant::now(),
                    ),
                    None => events.len(),
                };
                for entry in &events[..ready] {
                    after = entry.stored.sequence;
                    let event = convert::event(&entry.stored, entry.event.as_ref());
                    if sender.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                if ready == events.len() && !events.is_empty() {
                    continue; // a full batch: there may be more
                }
                at_gap = ready < events.len();
            }
            // Read again after the next write to what is watched (this
            // process's, or another's that the history poll saw), or
            // shortly at a gap; in between, only the credentials are
            // checked again, which reads nothing.
            tokio::select! {
                _ = written.as_mut() => {
                    written.set(self.signal.written());
                    read = true;
                }
                _ = tokio::time::sleep(GAP_POLL), if at_gap => read = true,
                _ = tokio::time::sleep(CREDENTIALS_RECHECK), if !at_gap => read = false,
                _ = sender.closed() => return,
            }
        }
    }
}
