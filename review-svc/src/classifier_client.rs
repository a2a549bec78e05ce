//! Calls to classifier-svc on behalf of a caller: the caller's remaining
//! deadline is passed on, and only UNAVAILABLE is retried, with jittered
//! exponential backoff (`backon`), never past that deadline, and only while
//! the retry budget (tower's `TpsBudget`: retries at most a fraction of
//! recent calls, plus a small floor) allows, so a dead classifier is not
//! sent several times the load it was failing under.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use exportcontrol_proto::classifier::v1 as pb;
use exportcontrol_proto::classifier::v1::classifier_service_server::SERVICE_NAME;
use exportcontrol_proto::codec::{Arrived, KeepingCodec};
use service_kit::trace_context::TraceContext;
use tokio::time::Instant;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, GrpcMethod, Status};
use tower::retry::budget::{Budget, TpsBudget};

use crate::classify::AnswerSummary;

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Budget when the caller gave none (background work).
    pub default_budget: Duration,
    /// Retries allowed as a fraction of calls over the last ten seconds.
    pub retry_ratio: f32,
    /// Retries allowed per second whatever the traffic (so that a quiet
    /// service still retries a lone call).
    pub min_retries_per_second: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(500),
            default_budget: Duration::from_secs(5),
            retry_ratio: 0.2,
            min_retries_per_second: 2,
        }
    }
}

/// Counts kept for metrics.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub retries: std::sync::atomic::AtomicU64,
    pub failures: std::sync::atomic::AtomicU64,
}

#[derive(Clone)]
pub struct ClassifierClient {
    client: Grpc<Channel>,
    policy: RetryPolicy,
    stats: Arc<ClientStats>,
    budget: Arc<TpsBudget>,
}

impl ClassifierClient {
    /// Connects lazily: the service starts even when the classifier is down.
    pub fn connect_lazy(
        url: &str,
        tls: Option<ClientTlsConfig>,
        policy: RetryPolicy,
    ) -> Result<Self, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("classifier url {url:?}: {e}"))?;
        // Accepted as it is, `127.0.0.1:50051` or `grpc://…` started a
        // service whose every filing stayed CLASSIFICATION_PENDING.
        // Likewise https:// without TLS settings, or TLS settings on an
        // http:// URL: the scheme and the settings must say the same.
        let expected = if tls.is_some() { "https" } else { "http" };
        if uri.scheme_str() != Some(expected)
            || uri.host().is_none()
            || !matches!(uri.path(), "" | "/")
        {
            return Err(format!(
                "classifier url {url:?}: expected {expected}://HOST:PORT, nothing after the \
                 port (https:// goes with --classifier-ca, http:// without)"
            ));
        }
        let mut endpoint = Endpoint::from(uri)
            .connect_timeout(Duration::from_secs(2))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if let Some(tls) = tls {
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| format!("classifier TLS: {e}"))?;
        }
        Ok(Self {
            client: Grpc::new(service_kit::client::connect_lazy(&endpoint)),
            budget: Arc::new(TpsBudget::new(
                Duration::from_secs(10),
                policy.min_retries_per_second,
                policy.retry_ratio,
            )),
            policy,
            stats: Default::default(),
        })
    }

    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// Classifies one item before `deadline` (or the default budget), as
    /// part of the trace `trace` (sent as the call's `traceparent`). The
    /// answer comes as the bytes it arrived as, which the record keeps,
    /// with the little the workflow reads of it.
    pub async fn classify(
        &self,
        request: pb::ClassifyItemRequest,
        deadline: Option<Instant>,
        trace: &TraceContext,
    ) -> Result<Arrived<AnswerSummary>, Status> {
        use std::sync::atomic::Ordering::Relaxed;
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.policy.default_budget);
        self.budget.deposit();
        let attempt = || async {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Status::deadline_exceeded(
                    "no time left to call the classifier",
                ));
            }
            let mut outgoing = tonic::Request::new(request.clone());
            outgoing.set_timeout(remaining);
            trace.inject(outgoing.metadata_mut());
            match tokio::time::timeout(remaining, self.classify_item(outgoing)).await {
                Ok(Ok(response)) => Ok(response.into_inner()),
                Ok(Err(status)) => Err(status),
                Err(_) => Err(Status::deadline_exceeded(
                    "classifier did not answer in time",
                )),
            }
        };
        // Jittered: each wait gets a random share of itself added, so many
        // callers retrying at once spread out.
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.initial_backoff)
            .with_max_delay(self.policy.max_backoff)
            .with_max_times(self.policy.max_attempts.saturating_sub(1) as usize)
            .with_jitter();
        let result = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|status: &Status| status.code() == Code::Unavailable)
            // A wait that would pass the deadline, or a retry the budget
            // does not cover, ends the call with the last status.
            .adjust(|_, wait| {
                let wait = wait?;
                (Instant::now() + wait < deadline && self.budget.withdraw()).then_some(wait)
            })
            .notify(|_, _| {
                self.stats.retries.fetch_add(1, Relaxed);
            })
            .await;
        if result.is_err() {
            self.stats.failures.fetch_add(1, Relaxed);
        }
        result
    }

    /// ClassifierService.ClassifyItem as the generated client calls it, with
    /// a codec that keeps the answer's bytes and reads only its summary.
    async fn classify_item(
        &self,
        mut request: tonic::Request<pb::ClassifyItemRequest>,
    ) -> Result<tonic::Response<Arrived<AnswerSummary>>, Status> {
        let mut client = self.client.clone();
        client
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("classifier channel not ready: {e}")))?;
        request
            .extensions_mut()
            .insert(GrpcMethod::new(SERVICE_NAME, "ClassifyItem"));
        let path = PathAndQuery::from_static(
            "/exportcontrol.classifier.v1.ClassifierService/ClassifyItem",
        );
        client.unary(request, path, KeepingCodec::default()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_classifier_url_names_a_server_over_http() {
        let connect = |url: &str, tls: Option<ClientTlsConfig>| {
            ClassifierClient::connect_lazy(url, tls, RetryPolicy::default())
        };
        for url in ["http://127.0.0.1:50051", "http://classifier:50051/"] {
            assert!(connect(url, None).is_ok(), "{url}");
        }
        for url in [
            "127.0.0.1:50051",
            "grpc://127.0.0.1:50051",
            "http://127.0.0.1:50051/v1",
            "http://",
            "https://c.example:443",
        ] {
            let refused = connect(url, None)
                .err()
                .unwrap_or_else(|| panic!("{url} accepted"));
            assert!(refused.contains("classifier url"), "{refused}");
        }
        let tls = || Some(ClientTlsConfig::new());
        assert!(connect("https://c.example:443", tls()).is_ok());
        assert!(connect("http://c.example:80", tls()).is_err());
    }

    #[tokio::test]
    async fn a_dead_classifier_gets_retries_only_within_the_budget() {
        // Nothing listens there: every attempt is UNAVAILABLE.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..RetryPolicy::default()
        };
        let client =
            ClassifierClient::connect_lazy(&format!("http://127.0.0.1:{port}"), None, policy)
                .unwrap();
        const CALLS: u64 = 200;
        for _ in 0..CALLS {
            let status = client
                .classify(
                    pb::ClassifyItemRequest::default(),
                    Some(Instant::now() + Duration::from_secs(2)),
                    &TraceContext::root(),
                )
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        }
        use std::sync::atomic::Ordering::Relaxed;
        let retries = client.stats().retries.load(Relaxed);
        assert_eq!(client.stats().failures.load(Relaxed), CALLS);
        // Without a budget: 3 retries a call (600). With it: the floor (2 a
        // second over 10 s) and a fifth of the calls.
        assert!(
            (1..=20 + CALLS / 5 + 5).contains(&retries),
            "{retries} retries for {CALLS} calls"
        );
    }
}
