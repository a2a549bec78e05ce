//! The transition RPCs: each request names an application, the etag its
//! caller last saw, an optional request id, and a command.

use exportcontrol_proto::review::v1 as pb;
use service_kit::trace_context::TraceContext;
use tokio::time::Instant;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{errors, limits, validate, Review};
use crate::convert::{self, resource_name};
use crate::ledger::LedgerError;
use crate::workflow::{self, Actor, Command, Filing};

/// A request that moves an application on.
pub(super) trait Transition: prost::Message + Sized {
    /// The RPC's name, for request ids and spans.
    const METHOD: &'static str;
    fn name(&self) -> &str;
    fn etag(&self) -> &str;
    fn request_id(&self) -> &str;
    /// The workflow command, or the fields that are invalid.
    fn command(&self) -> Result<Command, Status>;
}

/// The parts every transition request has under the same names: the RPC,
/// the application, the etag its caller saw, the request id.
macro_rules! addressing {
    ($method:literal) => {
        const METHOD: &'static str = $method;
        fn name(&self) -> &str {
            &self.name
        }
        fn etag(&self) -> &str {
            &self.etag
        }
        fn request_id(&self) -> &str {
            &self.request_id
        }
    };
}

impl Transition for pb::RecordRecommendationRequest {
    addressing!("RecordRecommendation");
    fn command(&self) -> Result<Command, Status> {
        let mut violations = Vec::new();
        let agency =
            validate::enum_value(self.agency, "agency", convert::agency_from, &mut violations);
        let recommendation = validate::enum_value(
            self.recommendation,
            "recommendation",
            convert::recommendation_from,
            &mut violations,
        );
        validate::text_list(&self.conditions, "conditions", &mut violations);
        validate::optional_long_text(&self.rationale, "rationale", &mut violations);
        validate::finish(violations)?;
        Ok(Command::RecordRecommendation {
            agency: agency.unwrap_or(workflow::Agency::Commerce),
            recommendation: recommendation.unwrap_or(workflow::Recommendation::Approve),
            conditions: self.conditions.clone(),
            rationale: self.rationale.clone(),
        })
    }
}

impl Transition for pb::DecideApplicationRequest {
    addressing!("DecideApplication");
    fn command(&self) -> Result<Command, Status> {
        let mut violations = Vec::new();
        let outcome = validate::enum_value(
            self.outcome,
            "outcome",
            convert::outcome_from,
            &mut violations,
        );
        validate::text_list(&self.conditions, "conditions", &mut violations);
        validate::optional_long_text(&self.rationale, "rationale", &mut violations);
        validate::finish(violations)?;
        Ok(Command::Decide {
            outcome: outcome.unwrap_or(workflow::Outcome::Deny),
            conditions: self.conditions.clone(),
            rationale: self.rationale.clone(),
        })
    }
}

impl Transition for pb::AppealApplicationRequest {
    addressing!("AppealApplication");
    fn command(&self) -> Result<Command, Status> {
        let mut violations = Vec::new();
        let agency =
            validate::enum_value(self.agency, "agency", convert::agency_from, &mut violations);
        validate::optional_long_text(&self.rationale, "rationale", &mut violations);
        validate::finish(violations)?;
        Ok(Command::Appeal {
            agency: agency.unwrap_or(workflow::Agency::Commerce),
            rationale: self.rationale.clone(),
        })
    }
}

impl Transition for pb::WithdrawApplicationRequest {
    addressing!("WithdrawApplication");
    fn command(&self) -> Result<Command, Status> {
        let reason = reason_of(&self.reason, validate::optional_long_text)?;
        Ok(Command::Withdraw { reason })
    }
}

impl Transition for pb::ReturnApplicationRequest {
    addressing!("ReturnApplication");
    fn command(&self) -> Result<Command, Status> {
        let reason = reason_of(&self.reason, validate::required_long_text)?;
        Ok(Command::Return { reason })
    }
}

/// A request's `reason`, once `check` found nothing wrong with it.
fn reason_of(
    reason: &str,
    check: fn(&str, &str, &mut Vec<service_kit::errors::Violation>),
) -> Result<String, Status> {
    let mut violations = Vec::new();
    check(reason, "reason", &mut violations);
    validate::finish(violations)?;
    Ok(reason.to_owned())
}

impl Transition for pb::RequestInformationRequest {
    addressing!("RequestInformation");
    fn command(&self) -> Result<Command, Status> {
        let mut violations = Vec::new();
        let agency =
            validate::enum_value(self.agency, "agency", convert::agency_from, &mut violations);
        validate::required_long_text(&self.missing, "missing", &mut violations);
        validate::finish(violations)?;
        Ok(Command::RequestInformation {
            agency: agency.unwrap_or(workflow::Agency::Commerce),
            missing: self.missing.clone(),
        })
    }
}

impl Transition for pb::ProvideInformationRequest {
    addressing!("ProvideInformation");
    fn command(&self) -> Result<Command, Status> {
        let mut violations = Vec::new();
        validate::required_long_text(&self.answer, "answer", &mut violations);
        for (i, document) in self.documents.iter().enumerate() {
            validate::text(
                document,
                &format!("documents[{i}]"),
                validate::MAX_SHORT_TEXT,
                false,
                &mut violations,
            );
        }
        validate::finish(violations)?;
        Ok(Command::ProvideInformation {
            hold: (self.hold_id != 0).then_some(self.hold_id),
            answer: self.answer.clone(),
            documents: self.documents.clone(),
        })
    }
}

impl Transition for pb::PlaceHoldRequest {
    addressing!("PlaceHold");
    fn command(&self) -> Result<Command, Status> {
        let mut violations = Vec::new();
        let kind =
            validate::enum_value(self.kind, "kind", convert::hold_kind_from, &mut violations);
        validate::required_long_text(&self.reason, "reason", &mut violations);
        validate::finish(violations)?;
        Ok(Command::PlaceHold {
            kind: kind.unwrap_or(workflow::HoldKind::ApplicantAgreedDelay),
            reason: self.reason.clone(),
        })
    }
}

impl Transition for pb::ReleaseHoldRequest {
    addressing!("ReleaseHold");
    fn command(&self) -> Result<Command, Status> {
        let mut violations = Vec::new();
        if self.hold_id == 0 {
            violations.push(service_kit::errors::Violation::because(
                validate::reason::MISSING_FIELD,
                "hold_id",
                "required: the id of the hold to release (1, 2, ...)",
            ));
        }
        validate::optional_long_text(&self.note, "note", &mut violations);
        validate::finish(violations)?;
        Ok(Command::ReleaseHold {
            hold: self.hold_id,
            note: self.note.clone(),
        })
    }
}

impl Review {
    /// Any transition RPC: authenticate, validate, run the command
    /// against the version the caller saw, answer the application.
    pub(super) async fn transition<M: Transition>(
        &self,
        request: Request<M>,
    ) -> Result<Response<pb::Application>, Status> {
        let actor = self.actor(&request)?;
        let message = request.get_ref();
        let id = validate::application_id(message.name(), "name")?;
        let version = match validate::etag(message.etag(), |etag| self.keys.version(&id, etag)) {
            Ok(version) => version,
            // An etag this service did not make: where the application does
            // not exist, its absence is the answer, as with any etag (no
            // application is at version 0, so the command finds it absent,
            // or stale should it appear meanwhile); where the caller may
            // not read it, the refusal it gets with any etag, so that the
            // etag does not tell which applications exist.
            Err(invalid) => match self.ledger.get(&id).await {
                Err(LedgerError::NotFound(_)) => 0,
                Ok(app) if !workflow::may_read(&actor, &app) => 0,
                _ => return Err(invalid),
            },
        };
        let key = validate::request_key(M::METHOD, &actor.id, message.request_id(), message)?;
        let command = message.command()?;
        let application = resource_name(&id);
        let deadline = write_deadline(request.metadata())?;
        let trace = TraceContext::continue_or_start(request.metadata());
        let span = tracing::info_span!(
            "transition",
            method = M::METHOD,
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
                Err(LedgerError::NotFound(_))
                    if workflow::list_scope(&actor) != workflow::ListScope::All =>
                {
                    return Err(self.refusal_for_anothers(&id, &actor, command, now, &application))
                }
                Err(LedgerError::EtagMismatch { current }) => {
                    let current = self.keys.etag(&id, current);
                    return Err(errors::etag_mismatch(&application, Some(current)));
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
}

/// The caller's deadline, refusing at once (DEADLINE_EXCEEDED, nothing
/// written) a budget too short for a write.
pub(super) fn write_deadline(
    metadata: &tonic::metadata::MetadataMap,
) -> Result<Option<Instant>, Status> {
    let now = Instant::now();
    match service_kit::deadline::grpc_timeout(metadata) {
        Some(budget) if budget < limits::MIN_WRITE_BUDGET => {
            Err(errors::no_time_left(budget, limits::MIN_WRITE_BUDGET))
        }
        budget => Ok(budget.map(|budget| now + budget)),
    }
}

/// Refuses to start a write that the deadline would cut off.
pub(super) fn time_left(deadline: Option<Instant>) -> Result<(), Status> {
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
