//! The gRPC adapter of review-svc: authenticates, validates and converts,
//! calls the ledger, and maps every refusal to a status with details.

pub mod errors;
mod validate;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_server::ReviewService;
use futures::Stream;
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
}

impl Review {
    pub fn new(
        ledger: Arc<Ledger>,
        auth: Arc<Authenticator>,
        classifier: ClassifierClient,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            ledger,
            auth,
            classifier,
            clock,
        }
    }

    fn actor<T>(&self, request: &Request<T>) -> Result<Actor, Status> {
        if let Some(actor) = request.extensions().get::<Actor>() {
            return Ok(actor.clone()); // authenticated by auth::AuthInterceptor
        }
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
        let app = self
            .ledger
            .get(id)
            .await
            .map_err(|e| errors::ledger(e, &name))?;
        if !workflow::may_read(actor, &app) {
            return Err(errors::permission_denied(
                "NOT_YOUR_APPLICATION",
                format!("{} may not read {name}", actor.id),
                &actor.id,
            ));
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
            let app = self
                .ledger
                .command(
                    &id,
                    &actor,
                    Some(version),
                    command,
                    key.as_ref(),
                    self.clock.now(),
                )
                .await
                .map_err(|e| errors::ledger(e, &application))?;
            tracing::info!(
                state = app.state.as_str(),
                version = app.version,
                "transition recorded"
            );
            Ok(Response::new(convert::application(&app)))
        }
        .instrument(span)
        .await
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
        let trace = TraceContext::continue_or_start(request.metadata());
        let message = request.get_ref();
        let key =
            validate::request_key("CreateApplication", &actor.id, &message.request_id, message)?;
        let content = validate::filing(message.application.as_ref())?;
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
                match classify_content(&self.classifier, &content, classifier_deadline(budget), &trace).await {
                    Classified::Items(items) => Some(items),
                    Classified::Invalid(violations) => return Err(ERRORS.invalid_argument(violations)),
                    Classified::Unavailable(reason) => {
                        tracing::warn!(%reason, "classifier unavailable: accepting the application for later classification");
                        None
                    }
                };
            let destination = content
                .transaction
                .route
                .as_ref()
                .map(|route| route.destination_country.clone())
                .unwrap_or_default();
            let filing = Filing {
                id: id.clone(),
                applicant: actor.id.clone(),
                destination,
                item_count: content.items.len() as u32,
                content: serde_json::to_value(&content)
                    .map_err(|e| {
                        errors::ledger(LedgerError::Internal(e.to_string()), &resource_name(&id))
                    })?
                    .into(),
            };
            let app = self
                .ledger
                .file(filing, classification, key.as_ref(), self.clock.now())
                .await
                .map_err(|e| errors::ledger(e, &resource_name(&id)))?;
            tracing::info!(state = app.state.as_str(), "application filed");
            Ok(Response::new(convert::application(&app)))
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
        Ok(Response::new(convert::application(&app)))
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
        let more = apps.len() > page_size as usize;
        let page = &apps[..apps.len().min(page_size as usize)];
        let next_page_token = match (more, page.last()) {
            (true, Some(last)) => paging::encode(
                &query,
                &format!("{}|{}", last.created_at.timestamp_millis(), last.id),
            ),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListApplicationsResponse {
            applications: page.iter().map(convert::application).collect(),
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
        let scope = self.event_scope(&actor, &message.parent, "parent").await?;
        let query = paging::fingerprint(&["events", &message.parent]);
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
            .store()
            .events(scope.as_deref(), after, page_size + 1)
            .await
            .map_err(|e| errors::ledger(e.into(), &message.parent))?;
        let more = events.len() > page_size as usize;
        let page = &events[..events.len().min(page_size as usize)];
        let next_page_token = match (more, page.last()) {
            (true, Some(last)) => paging::encode(&query, &last.sequence.to_string()),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListApplicationEventsResponse {
            events: page.iter().map(convert::event).collect(),
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
        let parent = if message.application.is_empty() {
            ALL_APPLICATIONS.to_owned()
        } else {
            message.application.clone()
        };
        let scope = self.event_scope(&actor, &parent, "application").await?;
        let (sender, receiver) = mpsc::channel(256);
        let ledger = Arc::clone(&self.ledger);
        let span =
            tracing::info_span!("WatchApplications", actor = %actor.id, application = %parent);
        tokio::spawn(
            async move {
                let mut after = message.after_sequence;
                // Only the whole history is numbered without gaps; the
                // events of one application are interleaved with others'.
                let mut gaps = scope.is_none().then(|| GapGuard::new(GAP_GRACE));
                loop {
                    let written = ledger.written();
                    let events = match ledger.store().events(scope.as_deref(), after, 256).await {
                        Ok(events) => events,
                        Err(error) => {
                            let _ = sender
                                .send(Err(errors::ledger(error.into(), &parent)))
                                .await;
                            return;
                        }
                    };
                    let ready = match gaps.as_mut() {
                        Some(gaps) => gaps.deliverable(
                            after,
                            events.iter().map(|e| e.sequence),
                            tokio::time::Instant::now(),
                        ),
                        None => events.len(),
                    };
                    for event in &events[..ready] {
                        after = event.sequence;
                        if sender.send(Ok(convert::event(event))).await.is_err() {
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
        let name = &request.get_ref().name;
        let parent = if name.is_empty() {
            ALL_APPLICATIONS
        } else {
            name.as_str()
        };
        let scope = self.event_scope(&actor, parent, "name").await?;
        let report = self
            .ledger
            .store()
            .verify_chain(scope.as_deref())
            .await
            .map_err(|e| errors::ledger(e.into(), parent))?;
        let (application, sequence, detail) = match report.first_break {
            Some((id, sequence, detail)) => (resource_name(&id), sequence, detail),
            None => (String::new(), 0, String::new()),
        };
        if !application.is_empty() {
            tracing::error!(%application, sequence, %detail, "audit trail broken");
        }
        Ok(Response::new(pb::VerifyAuditTrailResponse {
            intact: application.is_empty(),
            applications_checked: report.applications_checked,
            events_checked: report.events_checked,
            first_break_application: application,
            first_break_application_sequence: sequence,
            detail,
        }))
    }
}

impl Review {
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
