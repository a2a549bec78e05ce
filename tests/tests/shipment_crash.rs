//! Shipments survive SIGKILL: review-svc is killed at random points while
//! clients record shipments against one licence, each shipment retried
//! with its own request_id until answered. Afterwards every acknowledged
//! shipment is recorded exactly once (in the shipments, the licence's
//! draw-down and the hash-chained history), nothing unacknowledged is
//! counted twice, the licence is never overdrawn, and the chain is intact.
//! On SQLite, and on PostgreSQL when `REVIEW_TEST_DATABASE_URL` is set.
//!
//! `CRASH_SEED` replays the random pauses.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Resends;
use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::license_service_client::LicenseServiceClient;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use system_tests::{
    all_events, authed, every_page, free_port, get_license, reconnecting_channel, report,
    sqlite_url, start_classifier, verify_audit_trail, REVIEW_SERVICE,
};
use test_support::filings::{now_timestamp, shipment_request};
use test_support::postgres::{database_url, Schema};
use tonic_types::StatusExt;

const KILLS: usize = 10;
const WORKERS: usize = 4;
/// Units licensed: more than the run ships, so the draw-down never runs dry.
const LICENSED: u64 = 100_000;
const RUN_BUDGET: Duration = Duration::from_secs(50);

async fn crash_run(backend: &str, database_url: &str, data: &Path) {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(rand::random);
    report(format!("shipment-crash[{backend}]: seed {seed}"));
    let started = Instant::now();
    let deadline = started + RUN_BUDGET;
    test_support::postgres::read_settings();
    let classifier = start_classifier(free_port().unwrap(), data).await;
    let mut review = system_tests::start_review(
        data,
        "review.log",
        &classifier.url(),
        vec!["--database-url".into(), database_url.to_owned()],
        Vec::new(),
    )
    .await;
    let channel = reconnecting_channel(&review);
    let license = system_tests::licensed(&channel, LICENSED).await;
    let stop = Arc::new(AtomicBool::new(false));
    let resends = Arc::new(Resends::default());
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let channel = channel.clone();
            let stop = Arc::clone(&stop);
            let resends = Arc::clone(&resends);
            let license = license.name.clone();
            let mut rng = StdRng::seed_from_u64(seed ^ (worker as u64 + 1));
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                while !stop.load(Relaxed) {
                    let quantity = rng.random_range(1..=5u64);
                    let request = pb::RecordShipmentRequest {
                        filing_reference: format!("X{worker:04}{:010}", acknowledged.len()),
                        ..shipment_request(&license, quantity, now_timestamp())
                    };
                    let answer = resends
                        .until_answered("RecordShipment", deadline, || {
                            let mut client = LicenseServiceClient::new(channel.clone());
                            let request = request.clone();
                            async move {
                                client
                                    .record_shipment(authed(request, "dev-applicant"))
                                    .await
                                    .map(|r| r.into_inner())
                            }
                        })
                        .await
                        .unwrap_or_else(|status| {
                            panic!(
                                "shipment refused: {status:?} {:?}",
                                status.get_details_error_info()
                            )
                        });
                    let shipment = answer.shipment.expect("the shipment recorded");
                    assert_eq!(shipment.quantity, quantity);
                    acknowledged.push(shipment);
                }
                acknowledged
            })
        })
        .collect();

    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..500))).await;
        review.kill();
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
        review
            .restart(REVIEW_SERVICE)
            .await
            .unwrap_or_else(|e| panic!("review-svc restarts: {e}\n{}", review.log_tail()));
    }
    stop.store(true, Relaxed);
    let mut acknowledged = Vec::new();
    for worker in workers {
        acknowledged.extend(worker.await.expect("worker finished"));
    }

    // Every acknowledged shipment exactly once; nothing else.
    let names: HashSet<&str> = acknowledged.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names.len(),
        acknowledged.len(),
        "two shipments answered with one name"
    );
    let mut licenses = LicenseServiceClient::new(channel.clone());
    let exports = pb::ListShipmentsRequest {
        parent: license.name.clone(),
        kind: pb::ShipmentKind::Export as i32,
        page_size: 200,
        ..Default::default()
    };
    let stored = every_page(&licenses, exports, "dev-auditor").await;
    let stored_names: HashSet<&str> = stored.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        stored_names, names,
        "stored shipments differ from the acknowledged ones"
    );
    let shipped: u64 = acknowledged.iter().map(|s| s.quantity).sum();
    let now = get_license(&mut licenses, &license.name, "dev-auditor").await;
    assert_eq!(
        now.items[0].shipped_quantity, shipped,
        "the draw-down counts each shipment once"
    );
    let mut review_client = ReviewServiceClient::new(channel.clone());
    let events = all_events(&review_client, &license.application, "dev-auditor")
        .await
        .iter()
        .filter(|e| e.r#type == "ShipmentRecorded")
        .count();
    assert_eq!(
        events,
        acknowledged.len(),
        "ShipmentRecorded once per acknowledged shipment"
    );
    let verified = verify_audit_trail(&mut review_client, "applications/-", "dev-auditor").await;
    assert!(verified.intact, "{verified:?}");
    report(format!(
        "shipment-crash[{backend}]: {KILLS} SIGKILLs, {} shipments ({shipped} units) acknowledged and recorded once each, {} calls resent, chain intact, {:.1} s",
        acknowledged.len(),
        resends.resent_after_failure.load(Relaxed),
        started.elapsed().as_secs_f64()
    ));
    assert!(
        resends.resent_after_failure.load(Relaxed) > 0,
        "no kill hit a call in flight"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_shipments_loses_and_doubles_nothing_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    crash_run("sqlite", &sqlite_url(data.path()), data.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_shipments_loses_and_doubles_nothing_on_postgres() {
    let Some(admin_url) = database_url("shipment-crash[postgres]") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let schema = Schema::create(&admin_url, "shipcrash").await;
    crash_run("postgres", &schema.url(), data.path()).await;
}
