//! Measurements that open review-svc's store directly, with review-svc's
//! own code (`Ledger` and the stores), to take the service apart: what the store alone sustains (with and without the SQLite
//! writer's batching, with more PostgreSQL connections), and how fast the
//! deadline sweeper applies deadlines.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use review_svc::classifier_client::{ClassifierClient, RetryPolicy};
use review_svc::classify::{classify_content, Classified};
use review_svc::convert::FiledContent;
use review_svc::ledger::{Ledger, LedgerError, RequestKey};
use review_svc::store::postgres::{PostgresOptions, PostgresStore};
use review_svc::store::sqlite::{SqliteOptions, SqliteStore};
use review_svc::store::Store;
use review_svc::workflow::{FiledApplication, Filing, ItemOutcome, Workflow};
use serde_json::{json, Value};
use service_kit::trace_context::TraceContext;

use super::grpc::application;
use super::hist::Histogram;
use super::payload::Payload;
use super::{code_name, counts_json, latency_json, per_second, round, Stats, Window};

/// The principal `dev-applicant` stands for, so that listings see these filings.
const APPLICANT: &str = "exporter-1";
/// Batch of the sweeper's due query (as review-svc's sweeper).
const SWEEP_BATCH: u32 = 100;

#[derive(Debug, Clone, Default)]
pub struct StoreTuning {
    /// SQLite: most writes per transaction (review-svc uses 256).
    pub sqlite_max_batch: Option<usize>,
    /// PostgreSQL: connections in the pool (review-svc uses 2 x cores + 1).
    pub pg_pool: Option<u32>,
}

pub async fn open_ledger(url: &str, tuning: &StoreTuning) -> Result<Ledger, String> {
    let store: Arc<dyn Store> =
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut options = PostgresOptions::default();
            if let Some(pool) = tuning.pg_pool {
                options.max_connections = pool;
            }
            let connect = sqlx::postgres::PgConnectOptions::from_str(url)
                .map_err(|e| format!("{url}: {e}"))?;
            Arc::new(
                PostgresStore::connect_with(connect, options)
                    .await
                    .map_err(|e| e.to_string())?,
            )
        } else {
            let mut options = SqliteOptions::default();
            if let Some(batch) = tuning.sqlite_max_batch {
                options.max_batch = batch;
            }
            Arc::new(
                SqliteStore::open_with(url, options)
                    .await
                    .map_err(|e| e.to_string())?,
            )
        };
    // Deadlines are stored as instants; the day length matters only for the
    // deadlines a sweep sets next, so it is review-svc's default.
    Ok(Ledger::new(
        store,
        Workflow::from_embedded(chrono::Duration::seconds(86_400)),
    ))
}

/// The status review-svc would answer for `error`, by name.
fn ledger_code(error: LedgerError) -> &'static str {
    code_name(review_svc::grpc::errors::ledger(error, "").code() as i32)
}

/// What the classifier answers for the application's items, asked as
/// CreateApplication asks it (review-svc's own client and call).
async fn classify(
    client: &ClassifierClient,
    filed: &FiledApplication,
) -> Result<Vec<ItemOutcome>, String> {
    let deadline = Some(tokio::time::Instant::now() + Duration::from_secs(5));
    match classify_content(client, filed, deadline, &TraceContext::root()).await {
        Classified::Items(items) => Ok(items),
        Classified::Invalid(violations) => Err(format!("refused: {violations:?}")),
        Classified::Unavailable(reason) => Err(reason),
    }
}

/// Files applications straight into the store as CreateApplication does
/// after its classifier call (same rows, events and request record), with
/// `concurrency` filings in flight. With `classify_each`, each filing first
/// asks the classifier over one shared connection (as CreateApplication
/// does); otherwise one answer, fetched at start, is reused.
pub async fn store_create(
    ledger: Arc<Ledger>,
    classifier_url: &str,
    payload: Payload,
    classify_each: bool,
    concurrency: usize,
    window: Arc<Window>,
) -> Result<Stats, String> {
    let app = application(payload);
    let content = FiledContent {
        items: app.items.clone(),
        transaction: app.transaction.clone().unwrap_or_default(),
    };
    let classifier = ClassifierClient::connect_lazy(classifier_url, None, RetryPolicy::default())?;
    let filed = content.into_domain();
    let items = classify(&classifier, &filed)
        .await
        .map_err(|e| format!("classifier at {classifier_url}: {e}"))?;
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (ledger, window, classifier) =
            (Arc::clone(&ledger), Arc::clone(&window), classifier.clone());
        let (filed, items) = (Arc::clone(&filed), items.clone());
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            while let Some(ticket) = window.ticket() {
                let started = Instant::now();
                let classification: Vec<ItemOutcome> = if classify_each {
                    classify(&classifier, &filed).await.unwrap_or_default()
                } else {
                    items.clone()
                };
                let result = if classification.is_empty() {
                    Err(LedgerError::Unavailable("classifier".to_owned()))
                } else {
                    let filing = Filing {
                        id: uuid::Uuid::now_v7().to_string(),
                        applicant: APPLICANT.to_owned(),
                        application: Arc::clone(&filed),
                    };
                    let key = RequestKey {
                        id: uuid::Uuid::new_v4().to_string(),
                        fingerprint: uuid::Uuid::new_v4().simple().to_string(),
                    };
                    ledger
                        .file(filing, Some(classification), Some(&key), Utc::now())
                        .await
                };
                let outcome = result.map(|_| (0, 0)).map_err(ledger_code);
                stats.record(&window, ticket, (started, Instant::now()), outcome);
            }
            stats
        }));
    }
    let mut stats = Stats::default();
    for task in tasks {
        stats.merge(&task.await.map_err(|e| format!("worker failed: {e}"))?);
    }
    Ok(stats)
}

/// The deadline sweeper's loop (review-svc's `workers::sweep_once`: due
/// applications in batches of 100, earliest first, each swept and written by
/// `Ledger::sweep`, `concurrency` at once) with the clock `days_ahead` days
/// in the future, for at most `limit`, timing each sweep. review-svc sweeps
/// `workers::SWEEP_CONCURRENCY` at once; 1 is one write after the other.
pub async fn sweep(
    ledger: Arc<Ledger>,
    days_ahead: i64,
    concurrency: usize,
    limit: Duration,
) -> Result<Value, String> {
    let now = Utc::now() + chrono::Duration::days(days_ahead);
    let started = Instant::now();
    let mut due_latency = Histogram::default();
    let mut stats = Stats::default();
    let mut drained = false;
    while started.elapsed() < limit {
        let t = Instant::now();
        let due = ledger
            .due(now, SWEEP_BATCH)
            .await
            .map_err(|e| format!("due: {e}"))?;
        due_latency.record(t.elapsed().as_nanos() as u64);
        if due.is_empty() {
            drained = true;
            break;
        }
        let batch = due.len();
        let results: Vec<(Result<bool, LedgerError>, Duration)> = futures::stream::iter(due)
            .map(|app| {
                let ledger = Arc::clone(&ledger);
                async move {
                    let t = Instant::now();
                    let result = ledger.sweep(&app, now).await;
                    (result, t.elapsed())
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut progressed = 0;
        for (result, took) in results {
            match result {
                Ok(true) => {
                    progressed += 1;
                    stats.count("OK");
                    stats.latency.record(took.as_nanos() as u64);
                }
                Ok(false) => stats.count("NOTHING_DUE"),
                Err(error) => stats.count(ledger_code(error)),
            }
        }
        if batch < SWEEP_BATCH as usize || progressed == 0 {
            drained = batch < SWEEP_BATCH as usize;
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = stats.ok();
    Ok(json!({
        "elapsed_s": round(elapsed, 3),
        "requests": stats.total(),
        "ok": ok,
        "errors": stats.total() - ok - stats.statuses.get("NOTHING_DUE").copied().unwrap_or(0),
        "ok_per_s": per_second(ok, elapsed),
        "statuses": counts_json(&stats.statuses),
        "latency_ms": latency_json(&stats.latency),
        "due_query_ms": latency_json(&due_latency),
        "drained": drained,
        "days_ahead": days_ahead,
        "sweep_concurrency": concurrency,
    }))
}
