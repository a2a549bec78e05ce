//! The gRPC adapter of review-svc: authenticates, validates and converts,
//! calls the ledger, and maps every refusal to a status with details.

mod audit;
pub mod errors;
pub mod limits;
mod validate;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_server::ReviewService;
use futures::Stream;
use prost::Message;
use service_kit::paging;
use service_kit::trace_context::TraceContext;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status};
use tracing::Instrument;

pub use errors::ERRORS;

use crate::auth::Authenticator;
use crate::classifier_client::ClassifierClient;
use crate::classify::{classify_content, Classified};
use crate::clock::Clock;
use crate::convert::{self, resource_name};
use crate::ledger::{Ledger, LedgerError};
use crate::store::{ListCursor, ListFilter};
use crate::watch_gaps::{GapGuard, GAP_GRACE};
use crate::workflow::{self, Actor, Command, Filing, Role};

const DEFAULT_PAGE_SIZE: u32 = 50;
/// A page is built whole in memory (each application with the
/// classifier's answers is several kilobytes in every form it takes on the
/// way out), so the largest page bounds the memory a list call can take.
const MAX_PAGE_SIZE: u32 = 200;
const DEFAULT_EVENTS_PAGE_SIZE: u32 = 100;
const MAX_EVENTS_PAGE_SIZE: u32 = 1000;
/// Applications filed or listed across all applications use this parent.
const ALL_APPLICATIONS: &str = "applications/-";
/// How often a watcher looks for events written by other processes.
const WATCH_POLL: Duration = Duration::from_millis(500);
/// How soon a watcher stopped at a gap in the sequence looks again.
const WATCH_GAP_POLL: Duration = Duration::from_millis(50);

/// Everything a request handler needs.
pub struct Review {
    ledger: Arc<Ledger>,
    auth: Arc<Authenticator>,
    classifier: ClassifierClient,
    clock: Arc<dyn Clock>,
    audit: Arc<crate::audit::Auditor>,
    limits: limits::Limits,
}

impl Review {
    pub fn new(
        ledger: Arc<Ledger>,
        auth: Arc<Authenticator>,
        classifier: ClassifierClient,
        clock: Arc<dyn Clock>,
        audit: Arc<crate::audit::Auditor>,
    ) -> Self {
        Self {
            ledger,
            auth,
            classifier,
            clock,
            audit,
            limits: limits::Limits::new(
                service_kit::server::ServeOptions::default().max_message_bytes,
            ),
        }
    }

    /// Bounds what is stored by what the server may send: the encode limit
    /// of the service (`--max-message-bytes`).
    pub fn with_max_message_bytes(mut self, max_message_bytes: usize) -> Self {
        self.limits = limits::Limits::new(max_message_bytes);
        self
    }

    fn actor<T>(&self, request: &Request<T>) -> Result<Actor, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .map(|value| value.to_str().unwrap_or("invalid"));
        self.auth
            .authenticate(header, self.clock.now())
            .map_err(|error| errors::unauthenticated(&error))
    }

    /// Loads an application the actor may read.
    async fn readable(&self, actor: &Actor, id: &str) -> Result<workflow::Application, Status> {
        let name = resource_name(id);
        let not_yours = || {
            errors::permission_denied(
                "NOT_YOUR_APPLICATION",
                format!("{} may not read {name}", actor.id),
                &actor.id,
            )
        };
        let app = match self.ledger.get(id).await {
            Ok(app) => app,
            // Who may read only some applications learns nothing from the
            // answer: one that does not exist is refused like another's.
            Err(LedgerError::NotFound(_)) if actor.role == Role::Applicant => {
                return Err(not_yours())
            }
            Err(e) => return Err(errors::ledger(e, &name)),
        };
        if !workflow::may_read(actor, &app) {
            return Err(not_yours());
        }
        Ok(app)
    }

    /// A command against an application, from any transition RPC.
    async fn transition<M: prost::Message>(
        &self,
        request: Request<M>,
        method: &'static str,
        name: impl Fn(&M) -> &str,
        etag: impl Fn(&M) -> &str,
        request_id: impl Fn(&M) -> &str,
        command: impl FnOnce(&M) -> Result<Command, Status>,
    ) -> Result<Response<pb::Application>, Status> {
        let actor = self.actor(&request)?;
        let message = request.get_ref();
        let id = validate::application_id(name(message), "name")?;
        let version = validate::etag(etag(message))?;
        let key = validate::request_key(method, &actor.id, request_id(message), message)?;
        let command = command(message)?;
        let application = resource_name(&id);
        let deadline = write_deadline(request.metadata())?;
        let trace = TraceContext::continue_or_start(request.metadata());
        let span = tracing::info_span!(
            "transition",
            method,
            application = %application,
            actor = %actor.id,
            trace_id = %trace.trace_id
        );
        trace.attach(&span);
        async {
            time_left(deadline)?;
            let now = self.clock.now();
            let app = match self
                .ledger
                .command(
                    &id,
                    &actor,
                    Some(version),
                    command.clone(),
                    key.as_ref(),
                    now,
                )
                .await
            {
                Ok(app) => app,
                // Who may act only on its own applications learns nothing
                // from the answer: one that does not exist is refused as
                // another's is.
                Err(LedgerError::NotFound(_)) if actor.role == Role::Applicant => {
                    return Err(self.refusal_for_anothers(&id, &actor, command, now, &application))
                }
                Err(e) => return Err(errors::ledger(e, &application)),
            };
            tracing::info!(
                state = app.state.as_str(),
                version = app.version,
                "transition recorded"
            );
            Ok(Response::new(self.servable(&app)))
        }
        .instrument(span)
        .await
    }
}

/// The caller's deadline, refusing at once (DEADLINE_EXCEEDED, nothing
/// written) a budget too short for a write.
fn write_deadline(metadata: &tonic::metadata::MetadataMap) -> Result<Option<Instant>, Status> {
    let now = Instant::now();
    match service_kit::deadline::grpc_timeout(metadata) {
        Some(budget) if budget < limits::MIN_WRITE_BUDGET => {
            Err(errors::no_time_left(budget, limits::MIN_WRITE_BUDGET))
        }
        budget => Ok(budget.map(|budget| now + budget)),
    }
}

/// Refuses to start a write that the deadline would cut off.
fn time_left(deadline: Option<Instant>) -> Result<(), Status> {
    match deadline {
        Some(deadline) if Instant::now() + limits::MIN_WRITE_BUDGET > deadline => {
            Err(errors::no_time_left(
                deadline.saturating_duration_since(Instant::now()),
                limits::MIN_WRITE_BUDGET,
            ))
        }
        _ => Ok(()),
    }
}

/// Leaves room after the classifier call for the write, so the answer still
/// reaches the caller inside its deadline.
fn classifier_deadline(caller_budget: Option<Duration>) -> Option<Instant> {
    caller_budget.map(|budget| {
        let reserve = (budget / 5).max(Duration::from_millis(20));
        Instant::now() + budget.saturating_sub(reserve)
    })
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::ApplicationEvent, Status>> + Send>>;

#[tonic::async_trait]
impl ReviewService for Review {
    async fn create_application(
        &self,
        request: Request<pb::CreateApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let actor = self.actor(&request)?;
        if !workflow::may_file(&actor) {
            return Err(errors::permission_denied(
                "ROLE_NOT_PERMITTED",
                format!("role {} may not file applications", actor.role.as_str()),
                &actor.id,
            ));
        }
        let budget = service_kit::deadline::grpc_timeout(request.metadata());
        let deadline = write_deadline(request.metadata())?;
        let trace = TraceContext::continue_or_start(request.metadata());
        let message = request.get_ref();
        let key =
            validate::request_key("CreateApplication", &actor.id, &message.request_id, message)?;
        let filed = validate::filing(message.application.as_ref())?.into_domain();
        let id = uuid::Uuid::now_v7().to_string();
        let span = tracing::info_span!(
            "CreateApplication",
            application = %resource_name(&id),
            actor = %actor.id,
            trace_id = %trace.trace_id
        );
        trace.attach(&span);
        async {
            let classification =
                match classify_content(&self.classifier, &filed, classifier_deadline(budget), &trace).await {
                    Classified::Items(items) => Some(items),
                    Classified::Invalid(violations) => return Err(ERRORS.invalid_argument(violations)),
                    Classified::Unavailable(reason) => {
                        tracing::warn!(%reason, "classifier unavailable: accepting the application for later classification");
                        None
                    }
                };
            let filing = Filing {
                id: id.clone(),
                applicant: actor.id.clone(),
                application: filed,
            };
            self.check_filing_size(&filing, classification.as_deref())?;
            time_left(deadline)?;
            let app = self
                .ledger
                .file(filing, classification, key.as_ref(), self.clock.now())
                .await
                .map_err(|e| errors::ledger(e, &resource_name(&id)))?;
            tracing::info!(state = app.state.as_str(), "application filed");
            Ok(Response::new(self.servable(&app)))
        }
        .instrument(span)
        .await
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let actor = self.actor(&request)?;
        let id = validate::application_id(&request.get_ref().name, "name")?;
        let app = self.readable(&actor, &id).await?;
        Ok(Response::new(self.servable(&app)))
    }

    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        let actor = self.actor(&request)?;
        let message = request.get_ref();
        let page_size = validate::page_size(message.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let mut violations = Vec::new();
        let state = optional_enum(message.state, "state", convert::state_from, &mut violations);
        let level = optional_enum(message.level, "level", convert::level_from, &mut violations);
        let agency = optional_enum(
            message.awaiting_agency,
            "awaiting_agency",
            convert::agency_from,
            &mut violations,
        );
        let basic = match pb::ApplicationView::try_from(message.view) {
            Ok(pb::ApplicationView::Basic) => true,
            Ok(pb::ApplicationView::Unspecified | pb::ApplicationView::Full) => false,
            Err(_) => {
                violations.push(service_kit::errors::Violation::new(
                    "view",
                    format!("unknown enum value {}", message.view),
                ));
                false
            }
        };
        let destination = message.destination_country.to_ascii_uppercase();
        if !destination.is_empty()
            && (destination.len() != 2 || !destination.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            violations.push(service_kit::errors::Violation::new(
                "destination_country",
                "expected an ISO 3166-1 alpha-2 code",
            ));
        }
        validate::finish(violations)?;
        let now = self.clock.now();
        let filter = ListFilter {
            applicant: (actor.role == Role::Applicant).then(|| actor.id.clone()),
            state: state.map(|s| s.as_str().to_owned()),
            destination: (!destination.is_empty()).then_some(destination),
            level: level.map(|l| l.as_str().to_owned()),
            awaiting_agency: agency.map(|a| a.as_str().to_owned()),
            overdue_at_or_before: message.overdue.then(|| now.timestamp_millis()),
        };
        // Overdue depends on the time, not on the query, so it is part of
        // the query's identity only as a flag.
        let query = paging::fingerprint(&[
            "applications",
            filter.applicant.as_deref().unwrap_or(""),
            filter.state.as_deref().unwrap_or(""),
            filter.destination.as_deref().unwrap_or(""),
            filter.level.as_deref().unwrap_or(""),
            filter.awaiting_agency.as_deref().unwrap_or(""),
            if message.overdue { "overdue" } else { "" },
        ]);
        let after = if message.page_token.is_empty() {
            None
        } else {
            Some(list_cursor(&message.page_token, &query)?)
        };
        let apps = self
            .ledger
            .list(&filter, after.as_ref(), page_size + 1)
            .await
            .map_err(|e| errors::ledger(e, ALL_APPLICATIONS))?;
        let rendered: Vec<pb::Application> = apps
            .iter()
            .take(page_size as usize)
            .map(|app| {
                let mut rendered = self.servable(app);
                if basic {
                    // AIP-157 BASIC: without the classifier's full answers.
                    for classification in &mut rendered.classifications {
                        classification.result = None;
                    }
                }
                rendered
            })
            .collect();
        // As many as fit in one answer: a shorter page, and the token.
        let fit = limits::fitting(
            rendered.iter().map(Message::encoded_len),
            self.limits.page(),
        );
        let more = apps.len() > fit;
        let next_page_token = match (more, fit.checked_sub(1).map(|i| &apps[i])) {
            (true, Some(last)) => paging::encode(
                &query,
                &format!("{}|{}", last.created_at.timestamp_millis(), last.id),
            ),
            _ => String::new(),
        };
        let mut applications = rendered;
        applications.truncate(fit);
        Ok(Response::new(pb::ListApplicationsResponse {
            applications,
            next_page_token,
        }))
    }

    async fn record_recommendation(
        &self,
        request: Request<pb::RecordRecommendationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(
            request,
            "RecordRecommendation",
            |m| &m.name,
            |m| &m.etag,
            |m| &m.request_id,
            |m| {
                let mut violations = Vec::new();
                let agency =
                    validate::enum_value(m.agency, "agency", convert::agency_from, &mut violations);
                let recommendation = validate::enum_value(
                    m.recommendation,
                    "recommendation",
                    convert::recommendation_from,
                    &mut violations,
                );
                validate::conditions(&m.conditions, "conditions", &mut violations);
                validate::optional_long_text(&m.rationale, "rationale", &mut violations);
                validate::finish(violations)?;
                Ok(Command::RecordRecommendation {
                    agency: agency.unwrap_or(workflow::Agency::Commerce),
                    recommendation: recommendation.unwrap_or(workflow::Recommendation::Approve),
                    conditions: m.conditions.clone(),
                    rationale: m.rationale.clone(),
                })
            },
        )
        .await
    }

    async fn decide_application(
        &self,
        request: Request<pb::DecideApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(
            request,
            "DecideApplication",
            |m| &m.name,
            |m| &m.etag,
            |m| &m.request_id,
            |m| {
                let mut violations = Vec::new();
                let outcome = validate::enum_value(
                    m.outcome,
                    "outcome",
                    convert::outcome_from,
                    &mut violations,
                );
                validate::conditions(&m.conditions, "conditions", &mut violations);
                validate::optional_long_text(&m.rationale, "rationale", &mut violations);
                validate::finish(violations)?;
                Ok(Command::Decide {
                    outcome: outcome.unwrap_or(workflow::Outcome::Deny),
                    conditions: m.conditions.clone(),
                    rationale: m.rationale.clone(),
                })
            },
        )
        .await
    }

    async fn appeal_application(
        &self,
        request: Request<pb::AppealApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(
            request,
            "AppealApplication",
            |m| &m.name,
            |m| &m.etag,
            |m| &m.request_id,
            |m| {
                let mut violations = Vec::new();
                let agency =
                    validate::enum_value(m.agency, "agency", convert::agency_from, &mut violations);
                validate::optional_long_text(&m.rationale, "rationale", &mut violations);
                validate::finish(violations)?;
                Ok(Command::Appeal {
                    agency: agency.unwrap_or(workflow::Agency::Commerce),
                    rationale: m.rationale.clone(),
                })
            },
        )
        .await
    }

    async fn withdraw_application(
        &self,
        request: Request<pb::WithdrawApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(
            request,
            "WithdrawApplication",
            |m| &m.name,
            |m| &m.etag,
            |m| &m.request_id,
            |m| {
                let mut violations = Vec::new();
                validate::optional_long_text(&m.reason, "reason", &mut violations);
                validate::finish(violations)?;
                Ok(Command::Withdraw {
                    reason: m.reason.clone(),
                })
            },
        )
        .await
    }

    async fn list_application_events(
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
        let query = paging::fingerprint(&["events", parent]);
        let after = if message.page_token.is_empty() {
            0
        } else {
            paging::decode(&message.page_token, &query)
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
            (true, Some(last)) => paging::encode(&query, &last.stored.sequence.to_string()),
            _ => String::new(),
        };
        rendered.truncate(fit);
        Ok(Response::new(pb::ListApplicationEventsResponse {
            events: rendered,
            next_page_token,
        }))
    }

    type WatchApplicationsStream = EventStream;

    async fn watch_applications(
        &self,
        request: Request<pb::WatchApplicationsRequest>,
    ) -> Result<Response<Self::WatchApplicationsStream>, Status> {
        let actor = self.actor(&request)?;
        let message = request.into_inner();
        if message.after_sequence < 0 {
            return Err(ERRORS.invalid_field("after_sequence", "must not be negative"));
        }
        let parent = or_all(&message.application).to_owned();
        let scope = self.event_scope(&actor, &parent, "application").await?;
        let (sender, receiver) = mpsc::channel(256);
        let ledger = Arc::clone(&self.ledger);
        let span =
            tracing::info_span!("WatchApplications", actor = %actor.id, application = %parent);
        tokio::spawn(
            async move {
                // Nothing is numbered i64::MAX; the gap check counts one past `after`.
                let mut after = message.after_sequence.min(i64::MAX - 1);
                // Only the whole history is numbered without gaps; the
                // events of one application are interleaved with others'.
                let mut gaps = scope.is_none().then(|| GapGuard::new(GAP_GRACE));
                loop {
                    let written = ledger.written();
                    let events = match ledger.history(scope.as_deref(), after, 256).await {
                        Ok(events) => events,
                        Err(error) => {
                            let _ = sender.send(Err(errors::ledger(error, &parent))).await;
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
                        continue;
                    }
                    // Nothing new, or a gap to wait for: look again after the
                    // next write here, or shortly (writes of other processes).
                    let wait = if ready < events.len() {
                        WATCH_GAP_POLL
                    } else {
                        WATCH_POLL
                    };
                    tokio::select! {
                        _ = written => {}
                        _ = tokio::time::sleep(wait) => {}
                        _ = sender.closed() => return,
                    }
                }
            }
            .instrument(span),
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn verify_audit_trail(
        &self,
        request: Request<pb::VerifyAuditTrailRequest>,
    ) -> Result<Response<pb::VerifyAuditTrailResponse>, Status> {
        let actor = self.actor(&request)?;
        let parent = or_all(&request.get_ref().name);
        let scope = self.event_scope(&actor, parent, "name").await?;
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

    async fn get_audit_checkpoint(
        &self,
        request: Request<pb::GetAuditCheckpointRequest>,
    ) -> Result<Response<pb::AuditCheckpoint>, Status> {
        self.audit_checkpoint(request).await
    }
}

impl Review {
    /// The application as answered. What is filed now always fits; one
    /// recorded before filings were bounded may not: it is sent without the
    /// classifier's full answers (each classification keeps its index) rather
    /// than not at all, so that a
    /// committed write is never answered as a failure.
    fn servable(&self, app: &workflow::Application) -> pb::Application {
        let mut rendered = convert::application(app);
        let size = rendered.encoded_len();
        if size > self.limits.page() {
            tracing::warn!(
                application = %rendered.name,
                size,
                limit = self.limits.page(),
                "application larger than an answer may be: sent without the classifier's answers"
            );
            for classification in &mut rendered.classifications {
                classification.result = None;
            }
        }
        rendered
    }

    /// The refusal `actor` gets for `command` on an application `id` filed
    /// by someone else, whether or not it exists.
    fn refusal_for_anothers(
        &self,
        id: &str,
        actor: &Actor,
        command: Command,
        now: chrono::DateTime<chrono::Utc>,
        application: &str,
    ) -> Status {
        let workflow = self.ledger.workflow();
        let filing = Filing {
            id: id.to_owned(),
            applicant: String::new(),
            application: Default::default(),
        };
        let refusal = workflow::Application::replay(&workflow.file(filing, now))
            .map(|foreign| workflow.handle(&foreign, actor, command, now));
        let refusal = match refusal {
            Some(Err(denied @ workflow::Refusal::PermissionDenied { .. })) => denied,
            _ => workflow::Refusal::PermissionDenied {
                reason: workflow::reason::NOT_YOUR_APPLICATION,
                detail: format!("{} may not act on application {id}", actor.id),
            },
        };
        errors::ledger(LedgerError::Refused(refusal), application)
    }

    /// Renders the application a filing would become, and refuses it if it
    /// or its events could not always be served.
    fn check_filing_size(
        &self,
        filing: &Filing,
        classification: Option<&[workflow::ItemOutcome]>,
    ) -> Result<(), Status> {
        let now = self.clock.now();
        let workflow = self.ledger.workflow();
        let mut events = workflow.file(filing.clone(), now);
        let Some(mut app) = workflow::Application::replay(&events) else {
            return Ok(());
        };
        if let Some(items) = classification {
            if let Ok(more) = workflow.handle(
                &app,
                &Actor::system(),
                Command::RecordClassification {
                    items: items.to_vec(),
                },
                now,
            ) {
                app = more
                    .iter()
                    .fold(app, |app, event| workflow::apply(Some(app), event));
                events.extend(more);
            }
        }
        let served = |kind: &str| {
            events
                .iter()
                .filter(|event| event.kind() == kind)
                .map(|event| convert::event_payload(event).encoded_len())
                .sum::<usize>()
        };
        let pending = match classification {
            None => limits::pending_estimate(&filing.application),
            Some(_) => 0,
        };
        limits::check_filing(
            self.limits,
            &convert::application(&app),
            pending,
            served("ApplicationFiled"),
            served("ItemsClassified"),
        )
    }

    /// `applications/-` (every application: not for applicants) or one the
    /// actor may read. Returns the application id, or None for all.
    async fn event_scope(
        &self,
        actor: &Actor,
        parent: &str,
        field: &str,
    ) -> Result<Option<String>, Status> {
        if parent == ALL_APPLICATIONS {
            if actor.role == Role::Applicant {
                return Err(errors::permission_denied(
                    "NOT_YOUR_APPLICATION",
                    "applicants may only read the history of their own applications; name one",
                    &actor.id,
                ));
            }
            return Ok(None);
        }
        let id = validate::application_id(parent, field)?;
        self.readable(actor, &id).await?;
        Ok(Some(id))
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

fn optional_enum<E: TryFrom<i32>, T>(
    value: i32,
    field: &str,
    convert: impl Fn(E) -> Option<T>,
    violations: &mut Vec<service_kit::errors::Violation>,
) -> Option<T> {
    if value == 0 {
        return None;
    }
    validate::enum_value(value, field, convert, violations)
}

fn list_cursor(token: &str, query: &str) -> Result<ListCursor, Status> {
    paging::decode(token, query)
        .ok()
        .and_then(|cursor| {
            let (created_at, id) = cursor.split_once('|')?;
            Some(ListCursor {
                created_at: created_at.parse().ok()?,
                id: id.to_owned(),
            })
        })
        .ok_or_else(|| page_token_error("ListApplications"))
}

fn page_token_error(method: &str) -> Status {
    ERRORS.status_with_violations(
        Code::InvalidArgument,
        "INVALID_PAGE_TOKEN",
        format!("page_token is not one returned by {method} for the same filters"),
        [("method", method)],
        vec![service_kit::errors::Violation::new(
            "page_token",
            format!("not a token returned by {method} for the same filters"),
        )],
    )
}
