//! The load generator's parts: the measurement window, per-worker counters
//! merged at the end, the gRPC load (unary and streaming), the in-process
//! store and sweeper measurements, start-up timing, and the report.

pub mod grpc;
pub mod hist;
pub mod inproc;
pub mod payload;
pub mod report;
pub mod startup;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use hist::Histogram;

/// When requests may be issued and which of them are measured: a warm-up,
/// then either a fixed duration or a fixed number of requests.
pub struct Window {
    pub measure_from: Instant,
    pub measure_until: Option<Instant>,
    budget: Option<u64>,
    issued: AtomicU64,
}

/// A permission to issue one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ticket {
    Warmup,
    Measured,
}

impl Window {
    pub fn new(warmup: Duration, duration: Option<Duration>, requests: Option<u64>) -> Self {
        let start = Instant::now();
        let measure_from = start + warmup;
        Self {
            measure_from,
            measure_until: duration.map(|d| measure_from + d),
            budget: requests,
            issued: AtomicU64::new(0),
        }
    }

    /// May another request be issued, and is it measured?
    pub fn ticket(&self) -> Option<Ticket> {
        let now = Instant::now();
        if now < self.measure_from {
            return Some(Ticket::Warmup);
        }
        if let Some(until) = self.measure_until {
            if now >= until {
                return None;
            }
        }
        if let Some(budget) = self.budget {
            if self.issued.fetch_add(1, Ordering::Relaxed) >= budget {
                return None;
            }
        }
        Some(Ticket::Measured)
    }

    /// Whether a measured request that finished at `done` counts: requests
    /// still in flight when a timed window closes do not.
    pub fn counts(&self, ticket: Ticket, done: Instant) -> bool {
        ticket == Ticket::Measured && self.measure_until.is_none_or(|until| done <= until)
    }
}

/// What one worker saw; merged at the end.
#[derive(Default, Clone)]
pub struct Stats {
    /// Latency of measured successful calls, in nanoseconds.
    pub latency: Histogram,
    /// Measured calls by final status (gRPC code name, or a store outcome).
    pub statuses: BTreeMap<&'static str, u64>,
    /// Streaming and listing: items received in measured successful calls.
    pub items: u64,
    /// Streaming: items answered with an error, by code.
    pub item_statuses: BTreeMap<&'static str, u64>,
    /// Encoded bytes of measured successful responses (items when streaming).
    pub response_bytes: u64,
    /// Successful calls of the whole run, warm-up and tail included (what
    /// was written when the call writes).
    pub ok_all: u64,
    /// Last measured completion.
    pub last_done: Option<Instant>,
}

impl Stats {
    pub fn merge(&mut self, other: &Stats) {
        self.latency.merge(&other.latency);
        for (code, n) in &other.statuses {
            *self.statuses.entry(code).or_default() += n;
        }
        for (code, n) in &other.item_statuses {
            *self.item_statuses.entry(code).or_default() += n;
        }
        self.items += other.items;
        self.response_bytes += other.response_bytes;
        self.ok_all += other.ok_all;
        self.last_done = match (self.last_done, other.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// Records one call that started at `started` and ended at `done`, with
    /// `Ok((items, response bytes))` or the name of its status. A call
    /// outside the measured window counts only towards `ok_all`.
    pub fn record(
        &mut self,
        window: &Window,
        ticket: Ticket,
        (started, done): (Instant, Instant),
        outcome: Result<(u64, u64), &'static str>,
    ) {
        if outcome.is_ok() {
            self.ok_all += 1;
        }
        if !window.counts(ticket, done) {
            return;
        }
        self.last_done = Some(done);
        match outcome {
            Ok((items, bytes)) => {
                self.count("OK");
                self.items += items;
                self.response_bytes += bytes;
                self.latency.record((done - started).as_nanos() as u64);
            }
            Err(status) => self.count(status),
        }
    }

    pub fn count(&mut self, status: &'static str) {
        *self.statuses.entry(status).or_default() += 1;
    }

    pub fn ok(&self) -> u64 {
        self.statuses.get("OK").copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.statuses.values().sum()
    }
}

/// Canonical names of the gRPC status codes, by number.
pub const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

pub fn code_name(code: i32) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|i| CODE_NAMES.get(i).copied())
        .unwrap_or("INVALID_CODE")
}

/// CPU time (user + system, all threads) a process has used so far, from
/// /proc/PID/stat (in clock ticks of 1/100 s, the Linux USER_HZ).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU used by some processes over a window: pid -> seconds at the start.
pub struct CpuProbe {
    pids: Vec<String>,
    at_start: Vec<Option<f64>>,
}

impl CpuProbe {
    pub fn start(pids: &[String]) -> Self {
        let mut pids = pids.to_vec();
        pids.push("self".to_owned());
        let at_start = pids.iter().map(|p| cpu_seconds(p)).collect();
        Self { pids, at_start }
    }

    /// Per process: CPU seconds over the window, cores busy on average, and
    /// CPU microseconds per successful call.
    pub fn finish(&self, elapsed: f64, ok: u64) -> Value {
        let mut out = Vec::new();
        for (pid, start) in self.pids.iter().zip(&self.at_start) {
            let (Some(start), Some(end)) = (*start, cpu_seconds(pid)) else {
                continue;
            };
            let used = end - start;
            out.push(json!({
                "pid": if pid == "self" { "loadgen".to_owned() } else { pid.clone() },
                "cpu_s": round(used, 3),
                "cores": round(if elapsed > 0.0 { used / elapsed } else { 0.0 }, 2),
                "cpu_us_per_ok": round(if ok > 0 { used * 1e6 / ok as f64 } else { 0.0 }, 1),
            }));
        }
        Value::Array(out)
    }
}

pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// `n` over `elapsed_s` seconds, a second (to 0.1; 0 over no time).
pub fn per_second(n: u64, elapsed_s: f64) -> f64 {
    round(
        if elapsed_s > 0.0 {
            n as f64 / elapsed_s
        } else {
            0.0
        },
        1,
    )
}

/// The count of each status code, as a JSON object.
pub fn counts_json(counts: &BTreeMap<&'static str, u64>) -> Value {
    counts
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect()
}

/// Latency figures in milliseconds.
pub fn latency_json(h: &Histogram) -> Value {
    let ms = |ns: u64| round(ns as f64 / 1e6, 3);
    json!({
        "min": ms(h.min()),
        "mean": round(h.mean() / 1e6, 3),
        "p50": ms(h.quantile(0.50)),
        "p90": ms(h.quantile(0.90)),
        "p99": ms(h.quantile(0.99)),
        "p999": ms(h.quantile(0.999)),
        "max": ms(h.max()),
        "samples": h.count(),
    })
}

/// The common part of every load result.
pub fn summary(stats: &Stats, window: &Window) -> Value {
    let elapsed = match window.measure_until {
        Some(until) => until.duration_since(window.measure_from),
        None => stats
            .last_done
            .map(|done| done.saturating_duration_since(window.measure_from))
            .unwrap_or_default(),
    }
    .as_secs_f64();
    let per_s = |n: u64| per_second(n, elapsed);
    let ok = stats.ok();
    let items_or_calls = if stats.items > 0 { stats.items } else { ok };
    json!({
        "elapsed_s": round(elapsed, 3),
        "requests": stats.total(),
        "ok": ok,
        "errors": stats.total() - ok,
        "requests_per_s": per_s(stats.total()),
        "ok_per_s": per_s(ok),
        "items": stats.items,
        "items_per_s": per_s(stats.items),
        "item_statuses": counts_json(&stats.item_statuses),
        "statuses": counts_json(&stats.statuses),
        "latency_ms": latency_json(&stats.latency),
        "response_bytes": stats.response_bytes.checked_div(items_or_calls).unwrap_or(0),
        "ok_all": stats.ok_all,
    })
}
