//! Prometheus metrics in the text exposition format, served over plain HTTP
//! on their own port. Small on purpose: counters and histograms kept in one
//! registry, gauges computed by collectors at scrape time, and a tower layer
//! that counts every RPC by method and status code and times it.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Latency buckets in seconds: 50 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

type Labels = Vec<(&'static str, String)>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// Renders extra series (gauges read at scrape time) in exposition format.
pub type Collector = Arc<dyn Fn() -> BoxFuture<String> + Send + Sync>;

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Series {
    help: &'static str,
    counters: ByLabels<u64>,
    histograms: ByLabels<Histogram>,
}

/// The values of one metric, one per set of labels, sorted by labels (the
/// order they are rendered in). An existing entry is found by binary search
/// with the caller's borrowed labels, so counting on a hot path allocates
/// only the first time a set of labels is seen.
struct ByLabels<T>(Vec<(Labels, T)>);

impl<T> Default for ByLabels<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> ByLabels<T> {
    fn get_or_insert_with(
        &mut self,
        labels: &[(&'static str, &str)],
        new: impl FnOnce() -> T,
    ) -> &mut T {
        let at = match self
            .0
            .binary_search_by(|(stored, _)| compare(stored, labels))
        {
            Ok(at) => at,
            Err(at) => {
                self.0.insert(at, (owned(labels), new()));
                at
            }
        };
        &mut self.0[at].1
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = &(Labels, T)> {
        self.0.iter()
    }
}

/// Orders stored labels against borrowed ones exactly as `Labels`' own
/// `Ord` orders stored ones: element by element, name then value.
fn compare(stored: &Labels, labels: &[(&'static str, &str)]) -> Ordering {
    stored
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .cmp(labels.iter().copied())
}

/// The metrics of one process.
#[derive(Default)]
pub struct Registry {
    series: Mutex<BTreeMap<&'static str, Series>>,
    collectors: Mutex<Vec<Collector>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Adds one to counter `name` with `labels`.
    pub fn inc(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)]) {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let entry = series.entry(name).or_default();
        entry.help = help;
        *entry.counters.get_or_insert_with(labels, || 0) += 1;
    }

    /// Records one observation in histogram `name`.
    pub fn observe(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: Duration,
    ) {
        let seconds = value.as_secs_f64();
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let entry = series.entry(name).or_default();
        entry.help = help;
        let histogram = entry.histograms.get_or_insert_with(labels, || Histogram {
            counts: vec![0; BUCKETS.len()],
            ..Default::default()
        });
        if let Some(bucket) = BUCKETS.iter().position(|upper| seconds <= *upper) {
            histogram.counts[bucket] += 1;
        }
        histogram.sum += seconds;
        histogram.count += 1;
    }

    /// Registers series computed at scrape time.
    pub fn add_collector(&self, collector: Collector) {
        self.collectors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(collector);
    }

    /// The exposition text.
    pub async fn render(&self) -> String {
        let mut out = String::new();
        {
            let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
            for (name, s) in series.iter() {
                if !s.counters.is_empty() {
                    let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} counter", s.help);
                    for (labels, value) in s.counters.iter() {
                        let _ = writeln!(out, "{name}{} {value}", render_labels(labels, None));
                    }
                }
                if !s.histograms.is_empty() {
                    let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", s.help);
                    for (labels, h) in s.histograms.iter() {
                        let mut cumulative = 0;
                        for (upper, count) in BUCKETS.iter().zip(&h.counts) {
                            cumulative += count;
                            let le = upper.to_string();
                            let _ = writeln!(
                                out,
                                "{name}_bucket{} {cumulative}",
                                render_labels(labels, Some(&le))
                            );
                        }
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {}",
                            render_labels(labels, Some("+Inf")),
                            h.count
                        );
                        let _ =
                            writeln!(out, "{name}_sum{} {}", render_labels(labels, None), h.sum);
                        let _ = writeln!(
                            out,
                            "{name}_count{} {}",
                            render_labels(labels, None),
                            h.count
                        );
                    }
                }
            }
        }
        let collectors: Vec<Collector> = self
            .collectors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for collector in collectors {
            out.push_str(&collector().await);
        }
        out
    }
}

fn owned(labels: &[(&'static str, &str)]) -> Labels {
    labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

fn render_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
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

/// Serves `GET /metrics` on `addr` until the process ends. HTTP/1.1, one
/// request per connection: all a scraper needs.
pub async fn serve(addr: SocketAddr, registry: Arc<Registry>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let registry = Arc::clone(&registry);
            tokio::spawn(async move {
                let mut buffer = [0u8; 2048];
                let read =
                    tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await;
                let Ok(Ok(n)) = read else { return };
                let request = String::from_utf8_lossy(&buffer[..n]);
                let (status, body) = if request.starts_with("GET /metrics") {
                    ("200 OK", registry.render().await)
                } else {
                    ("404 Not Found", "try GET /metrics\n".to_owned())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(local)
}

/// Counts and times every RPC: `grpc_server_handled_total{method, code}` and
/// `grpc_server_handling_seconds{method}`. The code is read from the
/// response headers, where tonic puts it for every unary error; answers
/// whose status travels in trailers (successes and streams) count as OK.
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

impl<S, B, R> tower::Service<http::Request<B>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let started = Instant::now();
        let registry = Arc::clone(&self.registry);
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.await;
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map(tonic::Code::from_i32)
                    .unwrap_or(tonic::Code::Ok),
                Err(_) => tonic::Code::Unavailable,
            };
            let code = format!("{code:?}");
            registry.inc(
                "grpc_server_handled_total",
                "RPCs completed, by method and status code",
                &[("method", &method), ("code", &code)],
            );
            registry.observe(
                "grpc_server_handling_seconds",
                "Time to answer an RPC (to response headers), by method",
                &[("method", &method)],
                started.elapsed(),
            );
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn series_render_in_label_order_whatever_the_order_counted() {
        let registry = Registry::default();
        for labels in [
            &[("code", "Ok"), ("method", "/b")][..],
            &[("code", "Ok"), ("method", "/a")],
            &[("code", "Internal"), ("method", "/b")],
            &[("code", "Ok")],
            &[("code", "Ok"), ("method", "/a")],
        ] {
            registry.inc("rpcs", "RPCs", labels);
        }
        for _ in 0..2 {
            registry.observe("wait", "Waits", &[("on", "disk")], Duration::from_secs(3));
        }
        let text = registry.render().await;
        assert!(
            text.starts_with(concat!(
                "# HELP rpcs RPCs\n# TYPE rpcs counter\n",
                "rpcs{code=\"Internal\",method=\"/b\"} 1\n",
                "rpcs{code=\"Ok\"} 1\n",
                "rpcs{code=\"Ok\",method=\"/a\"} 2\n",
                "rpcs{code=\"Ok\",method=\"/b\"} 1\n",
                "# HELP wait Waits\n# TYPE wait histogram\n",
            )),
            "{text}"
        );
        assert!(
            text.contains("wait_bucket{on=\"disk\",le=\"2.5\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("wait_bucket{on=\"disk\",le=\"5\"} 2\n"),
            "{text}"
        );
        assert!(
            text.ends_with("wait_sum{on=\"disk\"} 6\nwait_count{on=\"disk\"} 2\n"),
            "{text}"
        );
    }
}
