//! Prometheus metrics through `prometheus-client` (the Prometheus project's
//! own Rust client), served by axum on their own port in the OpenMetrics
//! text format. Each server has its own registry (two servers in one test
//! process do not mix their counts).
//!
//! Every RPC is counted by method and status code and timed to its end
//! ([`RpcMetricsLayer`]): `grpc_server_handled_total{method,code}` and
//! `grpc_server_handling_seconds{method}`. The code of a stream is the
//! `grpc-status` of its trailers, so a stream that fails after its first
//! message counts as failed; the time runs to the stream's last frame. The
//! method label is one of the server's methods, or `unknown`, so a caller
//! cannot grow the series without bound.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
pub use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// Latency buckets in seconds: 50 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// The method label of a path the server does not serve.
pub const UNKNOWN_METHOD: &str = "unknown";

type Labels = Vec<(&'static str, String)>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// Renders extra series (gauges read at scrape time) in exposition format
/// (see [`gauge`]).
pub type Collector = Arc<dyn Fn() -> BoxFuture<String> + Send + Sync>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS.iter().copied())
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

/// The metrics of one server.
pub struct Registry {
    registry: Mutex<prometheus_client::registry::Registry>,
    counters: Mutex<HashMap<&'static str, Family<Labels, Counter>>>,
    histograms: Mutex<HashMap<&'static str, Histograms>>,
    handled: Family<RpcLabels, Counter>,
    handling: Family<MethodLabels, Histogram, fn() -> Histogram>,
    methods: RwLock<HashSet<String>>,
    collectors: Mutex<Vec<Collector>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        let mut registry = prometheus_client::registry::Registry::default();
        let handled = Family::<RpcLabels, Counter>::default();
        let handling = Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            histogram as fn() -> Histogram,
        );
        registry.register(
            "grpc_server_handled",
            "RPCs completed, by method and status code (a stream's from its trailers)",
            handled.clone(),
        );
        registry.register(
            "grpc_server_handling_seconds",
            "Time from request to the end of the answer (a stream's last frame), by method",
            handling.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            counters: Mutex::default(),
            histograms: Mutex::default(),
            handled,
            handling,
            methods: RwLock::default(),
            collectors: Mutex::default(),
        }
    }
}

fn owned(labels: &[(&'static str, &str)]) -> Labels {
    labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

impl Registry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Adds one to counter `name` (ending in `_total`) with `labels`.
    pub fn inc(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)]) {
        self.counter(name, help, labels).inc();
    }

    /// The counter `name` (ending in `_total`) with `labels`, to keep and
    /// add to where finding it again for each event would cost more than
    /// the event (a lock and the labels' strings).
    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Counter {
        let family = {
            let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            counters
                .entry(name)
                .or_insert_with(|| {
                    let family = Family::<Labels, Counter>::default();
                    self.registry
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .register(name.trim_end_matches("_total"), help, family.clone());
                    family
                })
                .clone()
        };
        let counter = family.get_or_create(&owned(labels)).clone();
        counter
    }

    /// Records one observation in histogram `name`.
    pub fn observe(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: Duration,
    ) {
        let family = {
            let mut histograms = self.histograms.lock().unwrap_or_else(|e| e.into_inner());
            histograms
                .entry(name)
                .or_insert_with(|| {
                    let family = Histograms::new_with_constructor(histogram as fn() -> Histogram);
                    self.registry
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .register(name, help, family.clone());
                    family
                })
                .clone()
        };
        family
            .get_or_create(&owned(labels))
            .observe(value.as_secs_f64());
    }

    /// Registers a counter kept elsewhere (for example by a client), read
    /// at scrape time. `name` without the `_total` the output adds.
    pub fn register_counter(&self, name: &str, help: &str, counter: Counter) {
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .register(name, help, counter);
    }

    /// Registers series computed at scrape time.
    pub fn add_collector(&self, collector: Collector) {
        self.collectors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(collector);
    }

    /// The methods the server serves (`/package.Service/Method`): only
    /// these name a series; any other path counts as `unknown`.
    pub fn add_methods(&self, methods: impl IntoIterator<Item = String>) {
        self.methods
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .extend(methods);
    }

    fn method_label(&self, path: &str) -> String {
        let methods = self.methods.read().unwrap_or_else(|e| e.into_inner());
        if methods.contains(path) {
            path.to_owned()
        } else {
            UNKNOWN_METHOD.to_owned()
        }
    }

    fn record(&self, method: String, code: tonic::Code, elapsed: Duration) {
        self.handling
            .get_or_create(&MethodLabels {
                method: method.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.handled
            .get_or_create(&RpcLabels {
                method,
                code: format!("{code:?}"),
            })
            .inc();
    }

    /// The exposition text (OpenMetrics).
    pub async fn render(&self) -> String {
        let mut out = String::new();
        {
            let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        if out.ends_with("# EOF\n") {
            out.truncate(out.len() - "# EOF\n".len());
        }
        let collectors: Vec<Collector> = self
            .collectors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for collector in collectors {
            out.push_str(&collector().await);
        }
        out.push_str("# EOF\n");
        out
    }
}

/// Escapes a label value per the exposition format.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes one gauge series (for collectors).
pub fn gauge(out: &mut String, name: &str, help: &str, rows: &[(Vec<(&str, String)>, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in rows {
        let labels = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect::<Vec<_>>()
            .join(",");
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// Serves `GET /metrics` on `addr` (HTTP/1.1, axum) until the process ends.
pub async fn serve(addr: SocketAddr, registry: Arc<Registry>) -> std::io::Result<SocketAddr> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let registry = Arc::clone(&registry);
            async move {
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    registry.render().await,
                )
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "metrics server stopped");
        }
    });
    Ok(local)
}

/// Counts and times every RPC (see the module documentation).
#[derive(Clone)]
pub struct RpcMetricsLayer {
    registry: Arc<Registry>,
}

impl RpcMetricsLayer {
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics {
            inner,
            registry: Arc::clone(&self.registry),
        }
    }
}

#[derive(Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    registry: Arc<Registry>,
}

/// Records one call once: when its answer's body ends or is dropped.
struct Call {
    registry: Arc<Registry>,
    method: String,
    started: Instant,
    /// The status when known (headers of a trailers-only answer, trailers).
    code: Option<tonic::Code>,
    recorded: bool,
}

impl Call {
    fn finish(&mut self, code: tonic::Code) {
        if !self.recorded {
            self.recorded = true;
            self.registry.record(
                std::mem::take(&mut self.method),
                code,
                self.started.elapsed(),
            );
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // An answer dropped before its trailers: the client went away.
        let code = self.code.unwrap_or(tonic::Code::Cancelled);
        self.finish(code);
    }
}

fn status_code(headers: &http::HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
}

/// The answer's body, watched for its trailers and its end.
struct Timed {
    inner: tonic::body::Body,
    call: Call,
}

impl http_body::Body for Timed {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = status_code(trailers).unwrap_or(tonic::Code::Unknown);
                    this.call.code = Some(code);
                    this.call.finish(code);
                }
            }
            Poll::Ready(Some(Err(status))) => {
                this.call.finish(status.code());
            }
            Poll::Ready(None) => {
                let code = this.call.code.unwrap_or(tonic::Code::Unknown);
                this.call.finish(code);
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<S, B> tower::Service<http::Request<B>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let mut call = Call {
            method: self.registry.method_label(request.uri().path()),
            registry: Arc::clone(&self.registry),
            started: Instant::now(),
            code: None,
            recorded: false,
        };
        let future = self.inner.call(request);
        Box::pin(async move {
            match future.await {
                Ok(response) => {
                    // A trailers-only answer (every unary error) has its
                    // status in the headers; otherwise it comes in trailers.
                    call.code = status_code(response.headers());
                    let (parts, body) = response.into_parts();
                    let body = tonic::body::Body::new(Timed { inner: body, call });
                    Ok(http::Response::from_parts(parts, body))
                }
                Err(error) => {
                    call.finish(tonic::Code::Unavailable);
                    Err(error)
                }
            }
        })
    }
}

/// The methods (`/package.Service/Method`) of the services in encoded
/// file descriptor sets.
pub fn methods_of(descriptor_sets: &[&[u8]]) -> Vec<String> {
    let mut methods = Vec::new();
    for set in descriptor_sets {
        let Ok(set) = <prost_types::FileDescriptorSet as prost::Message>::decode(*set) else {
            continue;
        };
        for file in &set.file {
            for service in &file.service {
                let full = match file.package() {
                    "" => service.name().to_owned(),
                    package => format!("{package}.{}", service.name()),
                };
                for method in &service.method {
                    methods.push(format!("/{full}/{}", method.name()));
                }
            }
        }
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counters_and_histograms_render_with_their_labels() {
        let registry = Registry::default();
        for labels in [
            &[("code", "Ok"), ("method", "/b")][..],
            &[("code", "Ok"), ("method", "/a")],
            &[("code", "Ok"), ("method", "/a")],
        ] {
            registry.inc("rpcs_total", "RPCs", labels);
        }
        for _ in 0..2 {
            registry.observe("wait", "Waits", &[("on", "disk")], Duration::from_secs(3));
        }
        registry.add_collector(Arc::new(|| {
            Box::pin(async {
                let mut out = String::new();
                gauge(&mut out, "open", "Open things", &[(Vec::new(), 2.0)]);
                out
            })
        }));
        let text = registry.render().await;
        assert!(text.contains("# TYPE rpcs counter\n"), "{text}");
        assert!(
            text.contains("rpcs_total{code=\"Ok\",method=\"/a\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("wait_bucket{le=\"5.0\",on=\"disk\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("wait_count{on=\"disk\"} 2\n"), "{text}");
        assert!(text.ends_with("open 2\n# EOF\n"), "{text}");
    }

    #[test]
    fn only_known_methods_name_a_series() {
        let registry = Registry::default();
        registry.add_methods(["/a.B/C".to_owned()]);
        assert_eq!(registry.method_label("/a.B/C"), "/a.B/C");
        assert_eq!(registry.method_label("/a.B/Other"), UNKNOWN_METHOD);
        assert_eq!(registry.method_label("/../etc"), UNKNOWN_METHOD);
    }
}
