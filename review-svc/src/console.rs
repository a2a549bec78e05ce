//! The review console: a page for the people who decide, served at
//! `/console/` on review-svc's own address. The page talks to the same
//! ReviewService as every other client, through gRPC-Web; this module only
//! serves its files (embedded at build time from `console/dist`) and two
//! small documents the page needs that the gRPC contract has no call for:
//!
//! - `/console/session`: who the bearer token in the `authorization` header
//!   belongs to (id, role, agency), so the page can sign in and pick the
//!   inbox; the same authentication as every RPC, and its reasons;
//! - `/console/dev-principals.json`: in development mode only, the fixed
//!   development principals and their (publicly known) tokens to pick from.
//!
//! The console decides nothing: what a role may do is what the service
//! allows. Tokens travel only in the `authorization` header.

use std::sync::Arc;

use http::{header, HeaderValue, Method, Response, StatusCode};
use tonic::body::Body;

use crate::auth::{AuthError, Authenticator};
use crate::clock::Clock;
use crate::workflow::Actor;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// Where the console lives.
pub const PREFIX: &str = "/console/";

/// Shown at `/console/` when the binary was built without the console.
const PLACEHOLDER: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Review console not built</title></head><body>\
<h1>The review console was not built into this binary</h1>\
<p>Build it with <code>npm ci &amp;&amp; npm run build:console</code>, then rebuild review-svc \
(<code>scripts/start</code> and <code>scripts/test</code> do both). gRPC and gRPC-Web are served as usual.</p>\
</body></html>";

/// The restrictions every console response carries: only this origin's
/// scripts, styles and connections; not framed; no referrer.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What the console serves besides its files.
#[derive(Clone)]
pub struct Console {
    authenticator: Authenticator,
    clock: Arc<dyn Clock>,
    /// The development principals as JSON, in development mode only.
    dev_principals: Option<Arc<str>>,
}

impl Console {
    /// A console that signs in against `authenticator`.
    pub fn new(authenticator: Authenticator, clock: Arc<dyn Clock>) -> Self {
        Self {
            authenticator,
            clock,
            dev_principals: None,
        }
    }

    /// Offers these principals (development mode: token and principal) to
    /// pick from at sign-in.
    pub fn with_dev_principals(mut self, principals: &[(&str, Actor)]) -> Self {
        let listed: Vec<serde_json::Value> = principals
            .iter()
            .map(|(token, actor)| {
                serde_json::json!({
                    "token": token,
                    "id": actor.id,
                    "role": actor.role.as_str(),
                    "agency": actor.agency.map(|a| a.as_str()),
                })
            })
            .collect();
        self.dev_principals = Some(serde_json::Value::Array(listed).to_string().into());
        self
    }

    /// Whether the console's own files were built into this binary.
    pub fn built() -> bool {
        assets::BUILT
    }

    /// The page handler for the server: answers `/`, `/console` and
    /// everything below `/console/`; anything else goes on to gRPC.
    pub fn into_pages(self) -> service_kit::server::PageHandler {
        Arc::new(move |request: &http::Request<Body>| self.answer(request))
    }

    fn answer<B>(&self, request: &http::Request<B>) -> Option<Response<Body>> {
        let path = request.uri().path();
        if path == "/" || path == "/console" {
            if request.method() != Method::GET && request.method() != Method::HEAD {
                return None;
            }
            return Some(redirect(PREFIX));
        }
        let rest = path.strip_prefix(PREFIX)?;
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Some(response);
        }
        let response = match rest {
            "session" => self.session(request),
            "dev-principals.json" => match &self.dev_principals {
                Some(json) => json_response(StatusCode::OK, json.as_bytes().to_vec()),
                None => plain(StatusCode::NOT_FOUND, "not in development mode"),
            },
            "" if !assets::BUILT => file("text/html; charset=utf-8", PLACEHOLDER.as_bytes()),
            "" => asset("index.html"),
            other => asset(other),
        };
        Some(finish(response, request.method() == Method::HEAD))
    }

    /// Who the token in the `authorization` header belongs to.
    fn session<B>(&self, request: &http::Request<B>) -> Response<Body> {
        let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
        let first = values.next();
        let result = if values.next().is_some() {
            Err(AuthError::Ambiguous)
        } else {
            let header = first.map(|value| value.to_str().unwrap_or("invalid"));
            self.authenticator.authenticate(header, self.clock.now())
        };
        match result {
            Ok(actor) => json_response(
                StatusCode::OK,
                serde_json::json!({
                    "id": actor.id,
                    "role": actor.role.as_str(),
                    "agency": actor.agency.map(|a| a.as_str()),
                    "checkedAt": self.clock.now().to_rfc3339(),
                })
                .to_string()
                .into_bytes(),
            ),
            Err(error) => json_response(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"reason": error.reason(), "message": error.to_string()})
                    .to_string()
                    .into_bytes(),
            ),
        }
    }
}

fn asset(path: &str) -> Response<Body> {
    match assets::ASSETS
        .iter()
        .find(|(name, _, _)| *name == path && !path.starts_with('.'))
    {
        Some((_, content_type, bytes)) => file(content_type, bytes),
        None => plain(StatusCode::NOT_FOUND, "not found"),
    }
}

fn file(content_type: &'static str, bytes: &'static [u8]) -> Response<Body> {
    let mut response = Response::new(Body::new(http_body_full(bytes.to_vec())));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Small files, rebuilt with the binary: always revalidate.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn json_response(status: StatusCode, bytes: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::new(http_body_full(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::new(http_body_full(text.as_bytes().to_vec())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn redirect(to: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    response
}

/// Headers every console response carries; HEAD gets no body.
fn finish(mut response: Response<Body>, head: bool) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if head {
        *response.body_mut() = Body::empty();
    }
    response
}

fn http_body_full(bytes: Vec<u8>) -> http_body_util::Full<bytes::Bytes> {
    http_body_util::Full::new(bytes::Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console() -> Console {
        let (authenticator, principals) = Authenticator::development();
        Console::new(authenticator, Arc::new(crate::clock::SystemClock))
            .with_dev_principals(&principals)
    }

    fn get(path: &str, authorization: Option<&str>) -> Option<Response<Body>> {
        let mut request = http::Request::get(path);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        console().answer(&request.body(()).unwrap())
    }

    #[test]
    fn grpc_paths_are_not_the_consoles() {
        assert!(get(
            "/exportcontrol.review.v1.ReviewService/GetApplication",
            None
        )
        .is_none());
        assert!(get("/grpc.health.v1.Health/Check", None).is_none());
        assert!(get("/consoles", None).is_none());
    }

    #[test]
    fn the_root_redirects_to_the_console() {
        for path in ["/", "/console"] {
            let response = get(path, None).unwrap();
            assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
            assert_eq!(response.headers()[header::LOCATION], "/console/");
        }
    }

    #[test]
    fn the_index_is_html_with_a_strict_policy() {
        let response = get("/console/", None).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("connect-src 'self'"));
        assert_eq!(
            get("/console/no-such-file.js", None).unwrap().status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn the_session_names_the_principal_or_the_reason() {
        let ok = get("/console/session", Some("Bearer dev-state")).unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        for (authorization, status) in [
            (None, StatusCode::UNAUTHORIZED),
            (Some("Bearer nobody"), StatusCode::UNAUTHORIZED),
        ] {
            assert_eq!(
                get("/console/session", authorization).unwrap().status(),
                status
            );
        }
    }

    #[test]
    fn dev_principals_only_in_development_mode() {
        assert_eq!(
            get("/console/dev-principals.json", None).unwrap().status(),
            StatusCode::OK
        );
        let (authenticator, _) = Authenticator::development();
        let production = Console::new(authenticator, Arc::new(crate::clock::SystemClock));
        let request = http::Request::get("/console/dev-principals.json")
            .body(())
            .unwrap();
        assert_eq!(
            production.answer(&request).unwrap().status(),
            StatusCode::NOT_FOUND
        );
    }
}
