//! The refusals the server makes before (or instead of) a handler, each
//! with an `ErrorInfo`, and a `RetryInfo` where retrying later helps:
//!
//! - a request beyond the connection's concurrency limit is shed at once:
//!   RESOURCE_EXHAUSTED, reason `TOO_MANY_REQUESTS`, with RetryInfo;
//! - a malformed `grpc-timeout` header: INVALID_ARGUMENT, reason
//!   `MALFORMED_GRPC_TIMEOUT`, a BadRequest naming the header;
//! - a deadline that has passed, on arrival or before the handler answered:
//!   DEADLINE_EXCEEDED, reason `DEADLINE_EXCEEDED`;
//! - any other status without details (tonic's own: an oversized message
//!   is OUT_OF_RANGE, reason `MESSAGE_TOO_LARGE`; an unknown method is
//!   UNIMPLEMENTED, reason `UNKNOWN_METHOD`), in headers or in trailers,
//!   gets an `ErrorInfo` naming the method.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::Frame;
use tonic::body::Body;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::connection::{ConnInfo, InFlight};

/// How long a shed caller is told to wait before retrying.
pub const RETRY_SHED_AFTER: Duration = Duration::from_millis(50);
/// The handler is stopped this much before the caller's deadline, so that
/// the caller gets this layer's DEADLINE_EXCEEDED (with details) rather
/// than tonic's own CANCELLED "Timeout expired" (without).
const AHEAD_OF_TONIC: Duration = Duration::from_millis(2);

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct RefusalLayer {
    domain: &'static str,
    max_message_bytes: usize,
}

impl RefusalLayer {
    /// `domain` names the service in every `ErrorInfo` it adds.
    pub fn new(domain: &'static str, max_message_bytes: usize) -> Self {
        Self {
            domain,
            max_message_bytes,
        }
    }
}

impl<S> tower::Layer<S> for RefusalLayer {
    type Service = Refusals<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Refusals {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Refusals<S> {
    inner: S,
    layer: RefusalLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for Refusals<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let layer = self.layer.clone();
        let method = request.uri().path().to_owned();
        let refuse = move |status: Status| -> Result<http::Response<Body>, S::Error> {
            Ok(status.into_http())
        };
        let timeout = match request.headers().get("grpc-timeout") {
            None => None,
            Some(value) => match value
                .to_str()
                .ok()
                .and_then(crate::deadline::parse_grpc_timeout)
            {
                Some(timeout) => Some(timeout),
                None => {
                    let shown = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    return Box::pin(std::future::ready(refuse(layer.malformed_timeout(&shown))));
                }
            },
        };
        if timeout.is_some_and(|t| t.is_zero()) {
            return Box::pin(std::future::ready(refuse(layer.deadline_exceeded(
                &method,
                "the caller's deadline had passed when the request arrived",
            ))));
        }
        let connection = ConnInfo::of(&request).map(|info| info.state.clone());
        let (permit, in_flight) = match &connection {
            Some(state) => match state.slots.clone().try_acquire_owned() {
                Ok(permit) => (Some(permit), Some(state.request())),
                Err(_) => {
                    return Box::pin(std::future::ready(refuse(
                        layer.shed(&method, state.concurrency),
                    )))
                }
            },
            None => (None, None),
        };
        // The service was polled ready; take it and leave a fresh clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let answer = inner.call(request);
            let response = match timeout {
                Some(timeout) => {
                    let budget = timeout
                        .saturating_sub(AHEAD_OF_TONIC)
                        .max(Duration::from_millis(1));
                    match tokio::time::timeout(budget, answer).await {
                        Ok(result) => result?,
                        Err(_) => {
                            drop(permit);
                            return refuse(layer.deadline_exceeded(
                                &method,
                                "the caller's deadline passed before the answer was ready",
                            ));
                        }
                    }
                }
                None => answer.await?,
            };
            drop(permit);
            Ok(layer.complete(&method, response, in_flight))
        })
    }
}

impl RefusalLayer {
    fn info(
        &self,
        code: Code,
        reason: &str,
        message: impl Into<String>,
        metadata: Vec<(&str, String)>,
    ) -> (Code, String, ErrorDetails) {
        let details = ErrorDetails::with_error_info(
            reason,
            self.domain,
            metadata
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<std::collections::HashMap<_, _>>(),
        );
        (code, message.into(), details)
    }

    fn status((code, message, details): (Code, String, ErrorDetails)) -> Status {
        Status::with_error_details(code, message, details)
    }

    fn shed(&self, method: &str, limit: usize) -> Status {
        let (code, message, mut details) = self.info(
            Code::ResourceExhausted,
            "TOO_MANY_REQUESTS",
            format!("more than {limit} requests at once on this connection: retry shortly, or open another connection"),
            vec![
                ("method", method.to_owned()),
                ("limit", limit.to_string()),
            ],
        );
        details.set_retry_info(Some(RETRY_SHED_AFTER));
        Status::with_error_details(code, message, details)
    }

    fn malformed_timeout(&self, value: &str) -> Status {
        const MALFORMED_GRPC_TIMEOUT: &str = "MALFORMED_GRPC_TIMEOUT";
        let description = "grpc-timeout must be 1 to 8 digits and a unit (H, M, S, m, u or n)";
        let (code, message, mut details) = self.info(
            Code::InvalidArgument,
            MALFORMED_GRPC_TIMEOUT,
            format!("malformed grpc-timeout header {value:?}: {description}"),
            vec![
                ("header", "grpc-timeout".to_owned()),
                ("value", crate::errors::shorten(value)),
            ],
        );
        details.set_bad_request(vec![FieldViolation {
            reason: MALFORMED_GRPC_TIMEOUT.into(),
            ..FieldViolation::new("grpc-timeout", description)
        }]);
        Status::with_error_details(code, message, details)
    }

    fn deadline_exceeded(&self, method: &str, message: &str) -> Status {
        Self::status(self.info(
            Code::DeadlineExceeded,
            "DEADLINE_EXCEEDED",
            message,
            vec![("method", method.to_owned())],
        ))
    }

    /// Details for a status that has none (tonic's own refusals).
    fn details_for(&self, method: &str, status: &Status) -> Status {
        let code = status.code();
        let mut metadata = vec![("method", method.to_owned())];
        let reason = match code {
            Code::OutOfRange if status.message().contains("message length too large") => {
                metadata.push(("limitBytes", self.max_message_bytes.to_string()));
                "MESSAGE_TOO_LARGE"
            }
            Code::Unimplemented => "UNKNOWN_METHOD",
            Code::Cancelled if status.message().contains("Timeout expired") => "DEADLINE_EXCEEDED",
            Code::ResourceExhausted => "TOO_MANY_REQUESTS",
            Code::Unavailable => "UNAVAILABLE",
            _ => "TRANSPORT_ERROR",
        };
        let (code, message, mut details) = self.info(code, reason, status.message(), metadata);
        if matches!(code, Code::ResourceExhausted | Code::Unavailable) {
            details.set_retry_info(Some(RETRY_SHED_AFTER));
        }
        Status::with_error_details(code, message, details)
    }

    /// Adds details to an error in the response headers; wraps the body
    /// to add them to an error in its trailers, and to hold the request in
    /// flight until its last frame.
    fn complete(
        &self,
        method: &str,
        mut response: http::Response<Body>,
        in_flight: Option<InFlight>,
    ) -> http::Response<Body> {
        if let Some(enriched) = self.enrich(method, response.headers()) {
            let _ = enriched.add_header(response.headers_mut());
        }
        let (parts, body) = response.into_parts();
        let body = Body::new(Completing {
            inner: body,
            layer: self.clone(),
            method: method.to_owned(),
            _in_flight: in_flight,
        });
        http::Response::from_parts(parts, body)
    }

    fn enrich(&self, method: &str, headers: &http::HeaderMap) -> Option<Status> {
        if headers.contains_key("grpc-status-details-bin") {
            return None;
        }
        let status = Status::from_header_map(headers)?;
        (status.code() != Code::Ok).then(|| self.details_for(method, &status))
    }
}

/// A response body that adds details to an error in its trailers and keeps
/// its request counted in flight until it ends.
struct Completing {
    inner: Body,
    layer: RefusalLayer,
    method: String,
    _in_flight: Option<InFlight>,
}

impl http_body::Body for Completing {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_trailers() {
                Ok(mut trailers) => {
                    if let Some(enriched) = this.layer.enrich(&this.method, &trailers) {
                        let _ = enriched.add_header(&mut trailers);
                    }
                    Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
