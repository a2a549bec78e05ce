//! Overload: classifier-svc started with `--concurrency-per-connection 4`,
//! its four slots held by slow clients, then flooded on the same connection.
//!
//! Requests pile up on a fast server only while their handler has not
//! finished. A unary call whose request body never arrives does exactly
//! that (the handler waits for the message), so the test holds the slots
//! with such calls. Held-open `ClassifyItems` streams do not hold a slot:
//! the handler returns the response stream at once, and the per-connection
//! limit only counts handlers in progress; the test measures that too.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use exportcontrol_proto::classifier::v1 as cpb;
use exportcontrol_proto::classifier::v1::classifier_service_client::ClassifierServiceClient;
use system_tests::{free_port, health_within, report, start_classifier_with, CLASSIFIER_SERVICE};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_types::StatusExt;

const LIMIT: usize = 4;
const FLOOD: usize = 2_000;
/// Callers in the sustained phase, each with one call in flight.
const SUSTAINED: usize = 40;
/// A shed request must be refused at once, not queued.
const FAST_REFUSAL: Duration = Duration::from_millis(100);
/// Under a flood, the bound that tells "refused after the calls ahead of it
/// on the connection" from "queued until a slot frees" (which is never).
const NOT_QUEUED: Duration = Duration::from_secs(5);
/// How long a health check may take while the flood keeps both cores busy.
const HEALTH_PATIENCE: Duration = Duration::from_secs(2);
/// Refusals timed one at a time.
const PROBES: usize = 50;

fn h200_to_china() -> cpb::ClassifyItemRequest {
    cpb::ClassifyItemRequest {
        item: Some(cpb::classify_item_request::Item::CatalogChip("H200".into())),
        transaction: Some(cpb::Transaction {
            destination_country: "CN".into(),
            export_type: cpb::ExportType::ExportFromUs as i32,
            ..Default::default()
        }),
        as_of: "2026-02-01".into(),
        ..Default::default()
    }
}

/// One HTTP/2 connection.
async fn connection(addr: std::net::SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A ClassifyItem call whose request message never arrives: the server's
/// handler waits for it, holding a slot of the connection until dropped.
async fn slow_upload(channel: Channel) -> Result<cpb::ClassifyItemResponse, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(e.to_string()))?;
    grpc.client_streaming(
        Request::new(futures::stream::pending::<cpb::ClassifyItemRequest>()),
        PathAndQuery::from_static("/exportcontrol.classifier.v1.ClassifierService/ClassifyItem"),
        tonic_prost::ProstCodec::<cpb::ClassifyItemRequest, cpb::ClassifyItemResponse>::default(),
    )
    .await
    .map(|r| r.into_inner())
}

async fn classify(channel: &Channel) -> (Duration, Result<(), Status>) {
    let mut client = ClassifierServiceClient::new(channel.clone());
    let mut request = Request::new(h200_to_china());
    request.set_timeout(Duration::from_secs(10));
    let sent = Instant::now();
    let answer = client.classify_item(request).await.map(|_| ());
    (sent.elapsed(), answer)
}

/// A health check on a connection of its own, as a load balancer makes it
/// (patient: the box is busy with the flood, so the harness's 500 ms is not).
async fn health(addr: std::net::SocketAddr) -> Option<ServingStatus> {
    health_within(addr, CLASSIFIER_SERVICE, None, HEALTH_PATIENCE).await
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excess_requests_are_shed_at_once_and_health_still_answers() {
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let limit = vec!["--concurrency-per-connection".into(), LIMIT.to_string()];
    let classifier = start_classifier_with(free_port().unwrap(), data.path(), limit).await;
    let addr = classifier.addr;

    // Held-open ClassifyItems streams on one connection: measured, not a slot each.
    let streams_channel = connection(addr).await;
    let mut streams = Vec::new();
    for _ in 0..LIMIT * 25 {
        let (sender, receiver) = tokio::sync::mpsc::channel::<cpb::ClassifyItemRequest>(1);
        let mut client = ClassifierServiceClient::new(streams_channel.clone());
        let response = client
            .classify_items(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
            .expect("a ClassifyItems stream opens");
        streams.push((sender, response.into_inner()));
    }
    let (_, beside_streams) = classify(&streams_channel).await;
    let streams_held_slots = beside_streams.is_err();
    drop(streams);

    // The connection under test: its slots held by slow uploads.
    let channel = connection(addr).await;
    let holders: Vec<_> = (0..LIMIT)
        .map(|_| tokio::spawn(slow_upload(channel.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        holders.iter().all(|h| !h.is_finished()),
        "a slow upload ended early: the slots are not held"
    );

    // Health checks on their own connections, all through the flood.
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let watching = std::sync::Arc::clone(&watching);
        tokio::spawn(async move {
            let mut answers = Vec::new();
            while watching.load(std::sync::atomic::Ordering::Relaxed) || answers.is_empty() {
                let asked = Instant::now();
                let status = health(addr).await;
                answers.push((status, asked.elapsed()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            answers
        })
    };
    // Another client's connection is not affected by this one's overload.
    let other = connection(addr).await;

    // The flood: FLOOD calls at once, a burst far beyond the limit; then
    // FLOOD more from SUSTAINED callers sending one call after another, whose
    // latencies are what a caller sees of a refusal (the burst's include
    // waiting behind the other 1,999 on the one connection).
    let flood_started = Instant::now();
    let burst = futures::future::join_all((0..FLOOD).map(|_| {
        let channel = channel.clone();
        async move { classify(&channel).await }
    }));
    let (burst, (other_elapsed, other_answer)) = tokio::join!(burst, async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        classify(&other).await
    });
    let burst_took = flood_started.elapsed();
    let sustained_started = Instant::now();
    let sustained = futures::future::join_all((0..SUSTAINED).map(|_| {
        let channel = channel.clone();
        async move {
            let mut answers = Vec::new();
            for _ in 0..FLOOD / SUSTAINED {
                answers.push(classify(&channel).await);
            }
            answers
        }
    }))
    .await;
    let sustained: Vec<_> = sustained.into_iter().flatten().collect();
    let sustained_took = sustained_started.elapsed();
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let health_answers = watcher.await.unwrap();
    // One caller at a time, the slots still held: how long a refusal takes
    // when the caller is not also queueing behind its own flood.
    let mut probes = Vec::new();
    for _ in 0..PROBES {
        probes.push(classify(&channel).await);
    }

    let mut codes = BTreeMap::<String, usize>::new();
    for (_, answer) in burst.iter().chain(&sustained).chain(&probes) {
        let code = match answer {
            Ok(()) => Code::Ok,
            Err(status) => status.code(),
        };
        *codes.entry(format!("{code:?}")).or_default() += 1;
    }
    let shed = |answers: &[(Duration, Result<(), Status>)]| -> Vec<Duration> {
        let mut latencies: Vec<Duration> = answers
            .iter()
            .filter(|(_, a)| {
                a.as_ref()
                    .is_err_and(|s| matches!(s.code(), Code::ResourceExhausted | Code::Unavailable))
            })
            .map(|(elapsed, _)| *elapsed)
            .collect();
        latencies.sort();
        latencies
    };
    // Every refusal says why (ErrorInfo) and when to come back (RetryInfo).
    for (_, answer) in burst.iter().chain(&sustained).chain(&probes) {
        if let Err(status) = answer {
            if status.code() == Code::ResourceExhausted {
                let details = status.get_error_details();
                assert_eq!(
                    details.error_info().map(|i| i.reason.as_str()),
                    Some("TOO_MANY_REQUESTS"),
                    "{status:?}"
                );
                assert!(details.retry_info().is_some(), "{status:?}");
            }
        }
    }
    let burst_refusals = shed(&burst);
    let refusals = shed(&sustained);
    let (p50, p99, max) = (
        percentile(&refusals, 0.5),
        percentile(&refusals, 0.99),
        percentile(&refusals, 1.0),
    );
    assert!(
        holders.iter().all(|h| !h.is_finished()),
        "a slow upload ended during the flood"
    );
    assert_eq!(
        burst_refusals.len() + refusals.len(),
        2 * FLOOD,
        "every request beyond the limit is shed: {codes:?}"
    );
    let probe_refusals = shed(&probes);
    assert_eq!(probe_refusals.len(), PROBES, "probes: {probes:?}");
    let (probe_p50, probe_max) = (
        percentile(&probe_refusals, 0.5),
        percentile(&probe_refusals, 1.0),
    );
    assert!(
        percentile(&probe_refusals, 0.95) < FAST_REFUSAL,
        "refusals are not immediate: {probe_refusals:?}"
    );
    // Under the flood a refusal waits only behind the other calls on the
    // connection, never for a slot (the holders never let go).
    assert!(
        max < NOT_QUEUED && percentile(&burst_refusals, 1.0) < NOT_QUEUED,
        "refusals waited: sustained p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );
    assert!(
        other_answer.is_ok(),
        "a call on another connection failed during the overload: {other_answer:?}"
    );
    let serving = health_answers
        .iter()
        .filter(|(s, _)| *s == Some(ServingStatus::Serving))
        .count();
    let slowest_health = health_answers
        .iter()
        .map(|(_, e)| *e)
        .max()
        .unwrap_or_default();
    assert_eq!(
        serving,
        health_answers.len(),
        "health during the overload: {health_answers:?}"
    );

    // The load drops: the slow clients go away; normal calls succeed on the same connection.
    for holder in &holders {
        holder.abort();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut after = 0;
    for _ in 0..20 {
        let (_, answer) = classify(&channel).await;
        answer.unwrap_or_else(|status| panic!("after the overload: {status:?}"));
        after += 1;
    }
    let concurrent = futures::future::join_all((0..LIMIT).map(|_| classify(&channel))).await;
    for (_, answer) in &concurrent {
        assert!(
            answer.is_ok(),
            "{LIMIT} concurrent calls after the overload: {answer:?}"
        );
    }
    after += concurrent.len();

    report(format!(
        "overload: limit {LIMIT}/connection held by {LIMIT} slow uploads; on that connection a burst of {FLOOD} ClassifyItem calls \
         at once ({:.2} s, all shed, slowest {:?}) then {FLOOD} from {SUSTAINED} callers in turn ({:.2} s) and {PROBES} \
         one at a time: {codes:?}; \
         refusals one at a time p50 {probe_p50:?} / max {probe_max:?}, under the sustained flood p50 {p50:?} / p99 {p99:?} / \
         max {max:?}; a call on another connection answered in {other_elapsed:?}; \
         {} health checks on their own connections all SERVING (slowest {slowest_health:?}); {after} calls OK after the load \
         dropped; {} held-open ClassifyItems streams {} the limit; {:.1} s",
        burst_took.as_secs_f64(),
        percentile(&burst_refusals, 1.0),
        sustained_took.as_secs_f64(),
        health_answers.len(),
        LIMIT * 25,
        if streams_held_slots { "did count against" } else { "did not count against" },
        started.elapsed().as_secs_f64(),
    ));
}
