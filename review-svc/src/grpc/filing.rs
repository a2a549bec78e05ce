//! CreateApplication: validate, ask the classifier, bound the record, file.

use std::time::Duration;

use exportcontrol_proto::review::v1 as pb;
use service_kit::trace_context::TraceContext;
use tokio::time::Instant;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::transitions::{time_left, write_deadline};
use super::{errors, limits, validate, Review, ERRORS};
use crate::classify::{classify_content, Classified};
use crate::convert::{self, resource_name};
use crate::ledger::Prepared;
use crate::workflow::{self, Filing};

impl Review {
    pub(super) async fn create(
        &self,
        request: Request<pb::CreateApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let actor = self.actor(&request)?;
        workflow::check_file(&actor).map_err(|r| errors::not_permitted(r, &actor.id))?;
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
            let name = resource_name(&id);
            let pending = if classification.is_none() {
                limits::pending_estimate(&filing.application)
            } else {
                0
            };
            let prepared = self
                .ledger
                .prepare(filing, classification, self.clock.now())
                .map_err(|e| errors::ledger(e, &name))?;
            // Rendered once, with the answers as the bytes they arrived
            // as: measured here, and answered after the write.
            let mut answered = convert::application(&prepared.app, &self.rendering());
            check_filing_size(self.limits, &prepared, &mut answered, pending)?;
            time_left(deadline)?;
            let app = self
                .ledger
                .commit(prepared, key.as_ref())
                .await
                .map_err(|e| errors::ledger(e, &name))?;
            tracing::info!(state = app.state.as_str(), "application filed");
            // A retried request is answered with the application its first
            // call filed (another id), rendered from what is stored.
            let answered = if app.id == id {
                self.servable_rendered(&app, answered)
            } else {
                self.servable(&app)
            };
            Ok(Response::new(answered))
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

/// Refuses a filing whose application, or one of its two large events as
/// served, could not always be sent back; `pending` is what answers still
/// to come are assumed to add.
fn check_filing_size(
    limits: limits::Limits,
    prepared: &Prepared,
    answered: &mut pb::Application,
    pending: usize,
) -> Result<(), Status> {
    let served = |kind: &str| {
        prepared
            .events
            .iter()
            .filter(|event| event.kind() == kind)
            .map(|event| convert::event_payload(event).encoded_len())
            .sum::<usize>()
    };
    let classified = if prepared.events.iter().any(|e| e.kind() == CLASSIFIED) {
        classified_event_len(answered)
    } else {
        0
    };
    limits::check_filing(
        limits,
        answered,
        pending,
        served("ApplicationFiled"),
        classified,
    )
}

const CLASSIFIED: &str = "ItemsClassified";

/// The encoded size of the filing's `ItemsClassified` event as served.
/// The application was made from that event, so its classifications, as
/// rendered, are the event's: measured there (lent to the event and given
/// back) rather than by decoding the classifier's answers once more.
fn classified_event_len(answered: &mut pb::Application) -> usize {
    use pb::application_event::{ItemsClassified, Payload};
    let payload = Payload::ItemsClassified(ItemsClassified {
        classifications: std::mem::take(&mut answered.classifications),
    });
    let len = payload.encoded_len();
    if let Payload::ItemsClassified(event) = payload {
        answered.classifications = event.classifications;
    }
    len
}
