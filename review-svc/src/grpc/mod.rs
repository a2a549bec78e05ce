//! The gRPC adapter of review-svc: authenticates, validates and converts,
//! calls the ledger, and maps every refusal to a status with details.

mod audit;
pub mod errors;
mod filing;
mod history;
pub mod keys;
pub mod licenses;
pub mod limits;
mod reads;
pub(crate) mod transitions;
mod validate;

use std::pin::Pin;
use std::sync::Arc;

use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_server::ReviewService;
use futures::Stream;
use service_kit::quota::Quota;
use tonic::{Code, Request, Response, Status};

pub use errors::ERRORS;
pub use keys::Keys;

use crate::auth::Authenticator;
use crate::classifier_client::ClassifierClient;
use crate::clock::Clock;
use crate::convert::resource_name;
use crate::ledger::{Ledger, LedgerError};
use crate::workflow::{self, Actor, ListScope};

/// Every application, as a parent or name.
const ALL_APPLICATIONS: &str = "applications/-";

/// Who sends `request`: the actor the auth interceptor put there, or else
/// the one its authorization header names.
fn actor_of<T>(
    request: &Request<T>,
    auth: &Authenticator,
    clock: &dyn Clock,
) -> Result<Actor, Status> {
    if let Some(actor) = request.extensions().get::<Actor>() {
        return Ok(actor.clone()); // authenticated by auth::AuthInterceptor
    }
    let header = request
        .metadata()
        .get("authorization")
        .map(|value| value.to_str().unwrap_or("invalid"));
    auth.authenticate(header, clock.now())
        .map_err(|error| errors::unauthenticated(&error))
}

/// Everything a request handler needs.
pub struct Review {
    ledger: Arc<Ledger>,
    auth: Arc<Authenticator>,
    classifier: ClassifierClient,
    clock: Arc<dyn Clock>,
    audit: Arc<crate::audit::Auditor>,
    keys: Keys,
    limits: limits::Limits,
    /// The watches each principal holds open.
    watches: Arc<Quota<String>>,
}

impl Review {
    pub fn new(
        ledger: Arc<Ledger>,
        auth: Arc<Authenticator>,
        classifier: ClassifierClient,
        clock: Arc<dyn Clock>,
        audit: Arc<crate::audit::Auditor>,
        keys: Keys,
    ) -> Self {
        Self {
            ledger,
            auth,
            classifier,
            clock,
            audit,
            keys,
            limits: limits::Limits::new(
                service_kit::server::ServeOptions::default().max_message_bytes,
            ),
            watches: Quota::new(crate::DEFAULT_MAX_WATCHES_PER_PRINCIPAL),
        }
    }

    /// Bounds the watches one principal may hold open (0: no bound).
    pub fn with_max_watches_per_principal(mut self, max: usize) -> Self {
        self.watches = Quota::new(max);
        self
    }

    /// Bounds what is stored by what the server may send: the encode limit
    /// of the service (`--max-message-bytes`).
    pub fn with_max_message_bytes(mut self, max_message_bytes: usize) -> Self {
        self.limits = limits::Limits::new(max_message_bytes);
        self
    }

    fn actor<T>(&self, request: &Request<T>) -> Result<Actor, Status> {
        actor_of(request, &self.auth, self.clock.as_ref())
    }

    /// Loads an application the actor may read.
    async fn readable(&self, actor: &Actor, id: &str) -> Result<workflow::Application, Status> {
        let app = match self.ledger.get(id).await {
            Ok(app) => app,
            // Who may read only some applications learns nothing from the
            // answer: one that does not exist is refused like another's.
            Err(LedgerError::NotFound(_)) if workflow::list_scope(actor) != ListScope::All => {
                return Err(not_yours(actor, id))
            }
            Err(e) => return Err(errors::ledger(e, &resource_name(id))),
        };
        may_read_history(actor, Some(&app))?;
        Ok(app)
    }
}

/// Whether `actor` may read `application` and its history (None: the
/// history of every application).
fn may_read_history(
    actor: &Actor,
    application: Option<&workflow::Application>,
) -> Result<(), Status> {
    match application {
        None => workflow::check_read_all_history(actor)
            .map_err(|refusal| errors::not_permitted(refusal, &actor.id)),
        Some(app) if workflow::may_read(actor, app) => Ok(()),
        Some(app) => Err(not_yours(actor, &app.id)),
    }
}

fn not_yours(actor: &Actor, id: &str) -> Status {
    errors::permission_denied(
        "NOT_YOUR_APPLICATION",
        format!("{} may not read {}", actor.id, resource_name(id)),
        &actor.id,
    )
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::ApplicationEvent, Status>> + Send>>;

#[tonic::async_trait]
impl ReviewService for Review {
    async fn create_application(
        &self,
        request: Request<pb::CreateApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.create(request).await
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.get(request).await
    }

    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        self.list(request).await
    }

    async fn record_recommendation(
        &self,
        request: Request<pb::RecordRecommendationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(request).await
    }

    async fn decide_application(
        &self,
        request: Request<pb::DecideApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(request).await
    }

    async fn appeal_application(
        &self,
        request: Request<pb::AppealApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(request).await
    }

    async fn withdraw_application(
        &self,
        request: Request<pb::WithdrawApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(request).await
    }

    async fn return_application(
        &self,
        request: Request<pb::ReturnApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(request).await
    }

    async fn request_information(
        &self,
        request: Request<pb::RequestInformationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(request).await
    }

    async fn provide_information(
        &self,
        request: Request<pb::ProvideInformationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(request).await
    }

    async fn place_hold(
        &self,
        request: Request<pb::PlaceHoldRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(request).await
    }

    async fn release_hold(
        &self,
        request: Request<pb::ReleaseHoldRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        self.transition(request).await
    }

    async fn list_application_events(
        &self,
        request: Request<pb::ListApplicationEventsRequest>,
    ) -> Result<Response<pb::ListApplicationEventsResponse>, Status> {
        self.list_events(request).await
    }

    type WatchApplicationsStream = EventStream;

    async fn watch_applications(
        &self,
        request: Request<pb::WatchApplicationsRequest>,
    ) -> Result<Response<Self::WatchApplicationsStream>, Status> {
        self.watch(request).await
    }

    async fn verify_audit_trail(
        &self,
        request: Request<pb::VerifyAuditTrailRequest>,
    ) -> Result<Response<pb::VerifyAuditTrailResponse>, Status> {
        self.verify(request).await
    }

    async fn get_audit_checkpoint(
        &self,
        request: Request<pb::GetAuditCheckpointRequest>,
    ) -> Result<Response<pb::AuditCheckpoint>, Status> {
        self.audit_checkpoint(request).await
    }
}

impl Review {}

pub(super) fn page_token_error(method: &str) -> Status {
    ERRORS.field_status(
        Code::InvalidArgument,
        "INVALID_PAGE_TOKEN",
        format!("page_token is not one returned by {method} for the same filters"),
        [("method", method)],
        "page_token",
        format!("not a token returned by {method} for the same filters"),
    )
}
