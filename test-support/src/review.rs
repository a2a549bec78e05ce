//! What the system tests and the load generator do to a running review-svc
//! in more than one call.

use std::time::Duration;

use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use crate::filings::{decision_request, recommendation_request};

/// `message` as sent by the holder of bearer `token`, with `timeout` as its
/// deadline.
pub fn bearer<T>(message: T, token: &str, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse::<MetadataValue<Ascii>>() {
        request.metadata_mut().insert("authorization", value);
    }
    request.set_timeout(timeout);
    request
}

/// Takes `app`, in agency review, to a licence: the four agencies'
/// reviewers recommend approval, then the licensing officer approves. Every
/// call has `timeout`; a refusal is returned with the step it stopped.
pub async fn approve(
    review: &mut ReviewServiceClient<Channel>,
    mut app: pb::Application,
    timeout: Duration,
) -> Result<pb::Application, String> {
    for (agency, token) in [
        (pb::Agency::Commerce, "dev-commerce"),
        (pb::Agency::State, "dev-state"),
        (pb::Agency::Defense, "dev-defense"),
        (pb::Agency::Energy, "dev-energy"),
    ] {
        let request = pb::RecordRecommendationRequest {
            rationale: "no objection".into(),
            ..recommendation_request(&app.name, &app.etag, agency, pb::Recommendation::Approve)
        };
        app = review
            .record_recommendation(bearer(request, token, timeout))
            .await
            .map_err(|s| format!("recommend: {s}"))?
            .into_inner();
    }
    let request = decision_request(&app.name, &app.etag, pb::Outcome::Approve, "approved");
    review
        .decide_application(bearer(request, "dev-officer", timeout))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| format!("decide: {s}"))
}
