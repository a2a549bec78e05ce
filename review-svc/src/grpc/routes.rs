//! One server, two services: `ReviewService` and `LicenseService` behind
//! one tower service (the server kit serves one), routed by the path's
//! service name. The server's name (health, error domain) is the review
//! service's.

use std::convert::Infallible;
use std::task::{Context, Poll};

use exportcontrol_proto::review::v1::license_service_server::SERVICE_NAME as LICENSES;
use futures::future::Either;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;

#[derive(Clone)]
pub struct Routes<R, L> {
    review: R,
    licenses: L,
}

impl<R, L> Routes<R, L> {
    pub fn new(review: R, licenses: L) -> Self {
        Self { review, licenses }
    }
}

impl<R: NamedService, L> NamedService for Routes<R, L> {
    const NAME: &'static str = R::NAME;
}

fn is_licenses(path: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|p| p.strip_prefix(LICENSES))
        .is_some_and(|rest| rest.starts_with('/'))
}

impl<R, L> tower::Service<http::Request<Body>> for Routes<R, L>
where
    R: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    L: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Either<R::Future, L::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both generated servers are always ready.
        match (self.review.poll_ready(cx), self.licenses.poll_ready(cx)) {
            (Poll::Ready(Ok(())), Poll::Ready(Ok(()))) => Poll::Ready(Ok(())),
            _ => Poll::Pending,
        }
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if is_licenses(request.uri().path()) {
            Either::Right(self.licenses.call(request))
        } else {
            Either::Left(self.review.call(request))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn routes_by_service_name() {
        assert!(super::is_licenses(
            "/exportcontrol.review.v1.LicenseService/GetLicense"
        ));
        assert!(!super::is_licenses(
            "/exportcontrol.review.v1.ReviewService/GetApplication"
        ));
        assert!(!super::is_licenses(
            "/exportcontrol.review.v1.LicenseServiceX/GetLicense"
        ));
    }
}
