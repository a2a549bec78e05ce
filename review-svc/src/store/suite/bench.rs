//! Throughput and query-latency measurement (not run by default):
//!   cargo test --release -p review-svc --lib store::suite::bench -- --ignored --nocapture
//! REVIEW_BENCH_APPLICATIONS (default 20000) rows are created by
//! REVIEW_BENCH_CLIENTS (default 32) concurrent clients.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;

const AGENCIES: [&str; 5] = ["STATE", "DEFENSE", "ENERGY", "COMMERCE", "INTELLIGENCE"];
const STATES: [&str; 6] = [
    "SUBMITTED",
    "AGENCY_REVIEW",
    "ESCALATED",
    "DECIDED",
    "RETURNED",
    "WITHDRAWN",
];
const LEVELS: [&str; 5] = ["", "OPERATING_COMMITTEE", "ACEP", "EARB", "PRESIDENT"];

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn row(i: usize) -> ApplicationRow {
    let n = i as i64;
    let agencies = AGENCIES
        .iter()
        .enumerate()
        .filter(|(k, _)| (i >> k) & 1 == 1)
        .map(|(_, a)| (*a).to_owned())
        .collect();
    ApplicationRow {
        id: format!("bench-{i:08}"),
        version: 1,
        applicant: format!("applicant-{}", i % 1_000),
        state: STATES[i % STATES.len()].to_owned(),
        level: LEVELS[i % LEVELS.len()].to_owned(),
        destination: format!("C{}", i % 40),
        awaiting_agencies: agencies,
        next_due_at: (!i.is_multiple_of(3)).then_some(2_000_000 + (n * 7_919) % 1_000_000),
        overdue_at: i
            .is_multiple_of(4)
            .then_some(3_000_000 + (n * 104_729) % 1_000_000),
        // Ten rows per millisecond: plenty of ties.
        created_at: 1_000_000 + n / 10,
        updated_at: 1_000_000 + n / 10,
        snapshot: format!(
            "{{\"name\":\"applications/bench-{i:08}\",\"pad\":\"{}\"}}",
            "x".repeat(1_000)
        ),
    }
}

fn events(i: usize) -> Vec<NewEvent> {
    let at = 1_000_000 + i as i64;
    vec![
        NewEvent {
            kind: "CREATED".into(),
            actor: "user:bench".into(),
            at,
            details: format!(
                "{{\"items\":[{{\"eccn\":\"3A090.a\",\"n\":{i}}}],\"pad\":\"{}\"}}",
                "y".repeat(200)
            ),
        },
        NewEvent {
            kind: "CLASSIFIED".into(),
            actor: "system".into(),
            at,
            details: "{\"licence_required\":true}".into(),
        },
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let k = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[k]
}

type WriteFn = fn(
    Arc<dyn Store>,
    usize,
) -> futures::future::BoxFuture<'static, Result<WriteOutcome, StoreError>>;

async fn run_writes(store: Arc<dyn Store>, clients: usize, total: usize, label: &str, op: WriteFn) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (store, next) = (store.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                let outcome = op(store.clone(), i).await.expect("write");
                assert_eq!(outcome, WriteOutcome::Committed);
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "{label}: {total} in {:.2}s = {:.0}/s with {clients} clients; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        percentile(&latencies, 1.0).as_secs_f64() * 1e3,
    );
}

async fn time<'a, T, Fut>(label: &str, f: impl Fn() -> Fut)
where
    Fut: std::future::Future<Output = Result<T, StoreError>> + 'a,
{
    let mut runs = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        f().await.expect(label);
        runs.push(t.elapsed());
    }
    runs.sort();
    println!(
        "  {label}: {:.2} ms (min {:.2})",
        runs[3].as_secs_f64() * 1e3,
        runs[0].as_secs_f64() * 1e3
    );
}

async fn run(backend: Box<dyn Backend>, name: &str) {
    let clients = env("REVIEW_BENCH_CLIENTS", 32);
    let total = env("REVIEW_BENCH_APPLICATIONS", 20_000);
    let store = backend.store();
    println!("== {name}");
    run_writes(store.clone(), clients, total, "create", |store, i| {
        Box::pin(async move {
            let request = req(&format!("bench-create-{i}"), "f");
            store.create(&row(i), &events(i), Some(&request)).await
        })
    })
    .await;
    run_writes(store.clone(), clients, total / 2, "update", |store, i| {
        Box::pin(async move {
            let old = row(i);
            let new = ApplicationRow {
                state: "AGENCY_REVIEW".into(),
                awaiting_agencies: vec!["STATE".into()],
                ..next(&old, "AGENCY_REVIEW")
            };
            let request = req(&format!("bench-update-{i}"), "f");
            let event = [ev("REFERRED", old.updated_at + 1)];
            store.update(1, &new, &event, Some(&request)).await
        })
    })
    .await;

    println!("queries at {total} applications (first page of 50; median of 7 runs):");
    let s = &*store;
    let middle = row(total / 2);
    let cursor = ListCursor {
        created_at: middle.created_at,
        id: middle.id.clone(),
    };
    let filters = [
        ("list", ListFilter::default()),
        (
            "list applicant",
            only(|f| f.applicant = Some("applicant-7".into())),
        ),
        ("list state", only(|f| f.state = Some("RETURNED".into()))),
        (
            "list destination",
            only(|f| f.destination = Some("C3".into())),
        ),
        ("list level", only(|f| f.level = Some("EARB".into()))),
        (
            "list awaiting",
            only(|f| f.awaiting_agency = Some("INTELLIGENCE".into())),
        ),
        (
            "list overdue (10% of the overdue-capable rows)",
            only(|f| f.overdue_at_or_before = Some(3_100_000)),
        ),
        (
            "list overdue (all of them)",
            only(|f| f.overdue_at_or_before = Some(9_000_000)),
        ),
    ];
    for (label, filter) in &filters {
        time(label, || s.list(filter, None, 50)).await;
        let label = format!("{label}, page in the middle");
        time(&label, || s.list(filter, Some(&cursor), 50)).await;
    }
    time("due (100)", || s.due(2_500_000, 100)).await;
    time("events of one application", || {
        s.events(Some(&middle.id), 0, 100)
    })
    .await;
    time("events page (global)", || {
        s.events(None, (total as i64) * 2, 100)
    })
    .await;
    time("verify one application", || {
        s.verify_chain(Some("bench-00000042"))
    })
    .await;
    time("census", || s.census(3_100_000)).await;
    let t = Instant::now();
    let report = s.verify_chain(None).await.expect("verify");
    println!("  verify all: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    assert_eq!(report.first_break, None);
    println!(
        "  verified {} applications, {} events",
        report.applications_checked, report.events_checked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_sqlite() {
    let backend = sqlite_backend("bench").await.expect("backend");
    run(backend, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_postgres() {
    let options = PostgresOptions {
        max_connections: env("REVIEW_BENCH_PG_POOL", 5) as u32,
        batch_writers: env("REVIEW_BENCH_PG_WRITERS", 2),
        ..PostgresOptions::default()
    };
    let Some(backend) = postgres_backend_with("bench", options).await else {
        return;
    };
    run(backend, "postgres").await;
}
