//! Calls to classifier-svc on behalf of a caller: the caller's remaining
//! deadline is passed on, and only UNAVAILABLE is retried, with jittered
//! exponential backoff, never past that deadline.

use std::time::Duration;

use exportcontrol_proto::classifier::v1 as pb;
use exportcontrol_proto::classifier::v1::classifier_service_client::ClassifierServiceClient;
use rand::Rng;
use service_kit::trace_context::TraceContext;
use tokio::time::Instant;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Budget when the caller gave none (background work).
    pub default_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(500),
            default_budget: Duration::from_secs(5),
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
    client: ClassifierServiceClient<Channel>,
    policy: RetryPolicy,
    stats: std::sync::Arc<ClientStats>,
}

impl ClassifierClient {
    /// Connects lazily: the service starts even when the classifier is down.
    pub fn connect_lazy(
        url: &str,
        tls: Option<ClientTlsConfig>,
        policy: RetryPolicy,
    ) -> Result<Self, String> {
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| format!("classifier url {url:?}: {e}"))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if let Some(tls) = tls {
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| format!("classifier TLS: {e}"))?;
        }
        Ok(Self {
            client: ClassifierServiceClient::new(endpoint.connect_lazy()),
            policy,
            stats: Default::default(),
        })
    }

    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// Classifies one item before `deadline` (or the default budget), as
    /// part of the trace `trace` (sent as the call's `traceparent`).
    pub async fn classify(
        &self,
        request: pb::ClassifyItemRequest,
        deadline: Option<Instant>,
        trace: &TraceContext,
    ) -> Result<pb::ClassifyItemResponse, Status> {
        use std::sync::atomic::Ordering::Relaxed;
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.policy.default_budget);
        let mut backoff = self.policy.initial_backoff;
        let mut attempt = 1;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                self.stats.failures.fetch_add(1, Relaxed);
                return Err(Status::deadline_exceeded(
                    "no time left to call the classifier",
                ));
            }
            let mut outgoing = tonic::Request::new(request.clone());
            outgoing.set_timeout(remaining);
            if let Ok(value) = trace.header().parse() {
                outgoing.metadata_mut().insert("traceparent", value);
            }
            let mut client = self.client.clone();
            let result = tokio::time::timeout(remaining, client.classify_item(outgoing)).await;
            let status = match result {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) => status,
                Err(_) => Status::deadline_exceeded("classifier did not answer in time"),
            };
            let retryable =
                status.code() == Code::Unavailable && attempt < self.policy.max_attempts;
            if !retryable {
                self.stats.failures.fetch_add(1, Relaxed);
                return Err(status);
            }
            // Full jitter: a random wait up to the current backoff, so many
            // callers retrying at once spread out.
            let wait = rand::rng().random_range(Duration::ZERO..=backoff);
            if Instant::now() + wait >= deadline {
                self.stats.failures.fetch_add(1, Relaxed);
                return Err(status);
            }
            self.stats.retries.fetch_add(1, Relaxed);
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.policy.max_backoff);
            attempt += 1;
        }
    }
}
