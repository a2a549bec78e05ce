//! A hostile and careless client against the real binaries: oversized
//! filings, odd names, stale etags, replays with other content, concurrent
//! transitions, withdrawals after the end, huge pages, no time left, then
//! random sequences of all of these for a while. Afterwards both services
//! must be SERVING, every acknowledged filing listed and whole, nothing
//! refused listed, and the audit trail intact.
//!
//! Time-boxed: `HOSTILE_SECONDS` (default 5) of random sequences after the
//! scripted cases; `HOSTILE_SEED` repeats a run.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_client::ReviewServiceClient;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use system_tests::{
    all_events, authed, every_page, get_application, h200_to_china, health, start_both,
    verify_audit_trail, ServiceProcess, CLASSIFIER_SERVICE, REVIEW_SERVICE,
};
use test_support::filings::assembly;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_types::StatusExt;

type Client = ReviewServiceClient<Channel>;

const AUDITOR: &str = "dev-auditor";
const APPLICANT: &str = "dev-applicant";
const TOKENS: [&str; 8] = [
    "dev-applicant",
    "dev-applicant-2",
    "dev-commerce",
    "dev-state",
    "dev-officer",
    "dev-oc-chair",
    "dev-auditor",
    "nobody",
];

struct System {
    classifier: ServiceProcess,
    review: ServiceProcess,
    _data: tempfile::TempDir,
}

impl System {
    async fn start() -> System {
        let data = tempfile::tempdir().unwrap();
        let sweep = vec!["--sweep-interval-ms".into(), "50".into()];
        let (classifier, review) = start_both(data.path(), sweep).await;
        System {
            classifier,
            review,
            _data: data,
        }
    }

    async fn client(&self) -> Client {
        ReviewServiceClient::connect(self.review.url())
            .await
            .unwrap()
            .max_decoding_message_size(8 << 20)
    }
}

/// What the client was told about each filing it tagged (by end user name).
#[derive(Default)]
struct Ledger {
    /// Acknowledged: name of the application.
    acknowledged: BTreeMap<String, String>,
    /// Refused with a definite answer: must never appear.
    refused: BTreeSet<String>,
    /// Cut off (deadline, cancelled, transport): may or may not exist.
    uncertain: BTreeSet<String>,
    /// Codes seen, by method.
    codes: BTreeMap<String, usize>,
    next: usize,
}

impl Ledger {
    fn tag(&mut self) -> String {
        self.next += 1;
        format!("Hostile Test Co. {}", self.next)
    }

    /// Records an answer; panics on one no client should ever get.
    fn answer<T>(&mut self, method: &str, result: &Result<T, Status>) {
        let code = match result {
            Ok(_) => Code::Ok,
            Err(status) => {
                check_refusal(method, status);
                status.code()
            }
        };
        *self.codes.entry(format!("{method} {code:?}")).or_default() += 1;
    }

    fn filing(&mut self, tag: String, result: &Result<tonic::Response<pb::Application>, Status>) {
        self.answer("CreateApplication", result);
        match result {
            Ok(app) => {
                self.acknowledged.insert(tag, app.get_ref().name.clone());
            }
            Err(status) if cut_off(status) => {
                self.uncertain.insert(tag);
            }
            Err(_) => {
                self.refused.insert(tag);
            }
        }
    }
}

fn cut_off(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::DeadlineExceeded | Code::Cancelled | Code::Unavailable
    )
}

/// Never INTERNAL or UNKNOWN; every refusal of the service carries an
/// ErrorInfo (tonic's own timeout answers CANCELLED without one).
fn check_refusal(method: &str, status: &Status) {
    assert!(
        !matches!(
            status.code(),
            Code::Internal | Code::Unknown | Code::DataLoss
        ),
        "{method}: {status:?}"
    );
    if status.code() != Code::Cancelled {
        assert!(
            status.get_details_error_info().is_some(),
            "{method}: no ErrorInfo in {status:?}"
        );
    }
}

fn filing(tag: &str, edit: impl FnOnce(&mut pb::Application)) -> pb::CreateApplicationRequest {
    let mut request = h200_to_china(10);
    let app = request.application.as_mut().unwrap();
    app.transaction.as_mut().unwrap().end_user_name = tag.to_owned();
    edit(app);
    request
}

/// Odd things to put where a name, a chip or a text goes.
const ODD: [&str; 16] = [
    "",
    " ",
    "applications/",
    "applications/-",
    "applications/../x",
    "applications/01234567-89AB-7DEF-8123-456789ABCDEF",
    "applications/%2e%2e",
    "chips/../h200",
    " H200 ",
    "H200\u{202E}",
    "H2\u{0}00",
    "\u{2066}Example\u{2069}",
    "Ω≈ç√∫",
    "applications/01234567-89ab-7def-8123-456789abcdef/events",
    "'; DROP TABLE applications; --",
    "\u{FEFF}H200",
];

fn odd(rng: &mut StdRng) -> String {
    match rng.random_range(0..4) {
        0 => "x".repeat(rng.random_range(150..5_000)),
        _ => ODD[rng.random_range(0..ODD.len())].to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_client_leaves_both_services_serving_and_the_record_whole() {
    let system = System::start().await;
    let mut client = system.client().await;
    let mut ledger = Ledger::default();

    // An oversized filing: refused before anything is written.
    let tag = ledger.tag();
    let result = client
        .create_application(authed(
            filing(&tag, |a| a.items = vec![assembly(64, 64); 6]),
            APPLICANT,
        ))
        .await;
    assert_eq!(
        result.as_ref().map_err(Status::code).err(),
        Some(Code::InvalidArgument)
    );
    ledger.filing(tag, &result);

    // No time left: nothing written.
    for timeout in ["0n", "1n", "1u"] {
        let tag = ledger.tag();
        let mut request = authed(filing(&tag, |_| {}), APPLICANT);
        request
            .metadata_mut()
            .insert("grpc-timeout", timeout.parse().unwrap());
        let result = client.create_application(request).await;
        let status = result.as_ref().expect_err("no time to write");
        assert!(cut_off(status), "{status:?}");
        // A definite refusal: the handler wrote nothing.
        ledger.answer("CreateApplication", &result);
        ledger.refused.insert(tag);
    }

    // A filing, then a replay of its request id with other content.
    let tag = ledger.tag();
    let request = filing(&tag, |_| {});
    let result = client
        .create_application(authed(request.clone(), APPLICANT))
        .await;
    ledger.filing(tag, &result);
    let app = result.expect("a valid filing").into_inner();
    let mut other = request.clone();
    other.application.as_mut().unwrap().items[0].quantity = 11;
    let replay = client.create_application(authed(other, APPLICANT)).await;
    assert_eq!(
        replay.as_ref().map_err(Status::code).err(),
        Some(Code::InvalidArgument)
    );
    ledger.answer("CreateApplication", &replay);

    // An etag the service did not make, then eight withdrawals racing on
    // one etag: one wins, the others find it stale.
    let withdraw = |etag: &str| pb::WithdrawApplicationRequest {
        name: app.name.clone(),
        etag: etag.to_owned(),
        request_id: uuid::Uuid::new_v4().to_string(),
        reason: "changed our mind".into(),
    };
    let forged = client
        .withdraw_application(authed(withdraw("v1"), APPLICANT))
        .await;
    assert_eq!(
        forged.as_ref().map_err(Status::code).err(),
        Some(Code::InvalidArgument)
    );
    let racers = (0..8).map(|_| {
        let mut client = client.clone();
        let request = withdraw(&app.etag);
        async move {
            client
                .withdraw_application(authed(request, APPLICANT))
                .await
        }
    });
    let results = futures::future::join_all(racers).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    for result in &results {
        ledger.answer("WithdrawApplication", result);
    }
    // Withdrawn is final.
    let withdrawn = get(&mut client, &app.name).await;
    let again = client
        .withdraw_application(authed(withdraw(&withdrawn.etag), APPLICANT))
        .await;
    assert_eq!(
        again.as_ref().map_err(Status::code).err(),
        Some(Code::FailedPrecondition)
    );

    // Huge and nonsensical pages.
    for request in [
        pb::ListApplicationsRequest {
            page_size: i32::MAX,
            ..Default::default()
        },
        pb::ListApplicationsRequest {
            page_token: "garbage".into(),
            ..Default::default()
        },
        pb::ListApplicationsRequest {
            destination_country: "\u{202E}NC".into(),
            ..Default::default()
        },
    ] {
        let result = client.list_applications(authed(request, AUDITOR)).await;
        ledger.answer("ListApplications", &result);
    }

    // Random sequences for the rest of the time box.
    let seconds: u64 = std::env::var("HOSTILE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let seed: u64 = std::env::var("HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut names = vec![app.name.clone()];
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut steps = 0usize;
    while Instant::now() < end {
        steps += 1;
        let token = TOKENS[rng.random_range(0..TOKENS.len())];
        let name = if rng.random_bool(0.7) {
            names[rng.random_range(0..names.len())].clone()
        } else {
            odd(&mut rng)
        };
        let etag = match rng.random_range(0..4) {
            0 => odd(&mut rng),
            1 => format!("v{}", rng.random_range(1..8)),
            // The current one, so that some transitions get through.
            _ => match client
                .get_application(authed(
                    pb::GetApplicationRequest { name: name.clone() },
                    AUDITOR,
                ))
                .await
            {
                Ok(app) => app.into_inner().etag,
                Err(_) => "v1".into(),
            },
        };
        match rng.random_range(0..9) {
            0 | 1 => {
                let tag = ledger.tag();
                let bad = rng.random_range(0..6);
                let text = odd(&mut rng);
                let value = [0, 1, 3_000_000, 100_000_000_001, u64::MAX][rng.random_range(0..5)];
                let request = filing(&tag, |a| match bad {
                    0 => a.items[0].item = Some(pb::line_item::Item::CatalogChip(text)),
                    1 => a.transaction.as_mut().unwrap().end_use_statement = text,
                    2 => a.items[0].unit_value_usd_cents = value,
                    3 => a.items = vec![a.items[0].clone(); rng.random_range(1..120)],
                    _ => {}
                });
                let mut request = authed(
                    request,
                    if rng.random_bool(0.8) {
                        APPLICANT
                    } else {
                        token
                    },
                );
                if rng.random_bool(0.1) {
                    let timeout = format!("{}m", rng.random_range(0..30));
                    request
                        .metadata_mut()
                        .insert("grpc-timeout", timeout.parse().unwrap());
                }
                let result = client.create_application(request).await;
                if let Ok(app) = &result {
                    names.push(app.get_ref().name.clone());
                }
                ledger.filing(tag, &result);
            }
            2 => {
                let result = client
                    .get_application(authed(pb::GetApplicationRequest { name }, token))
                    .await;
                ledger.answer("GetApplication", &result);
            }
            3 => {
                let request = pb::RecordRecommendationRequest {
                    name,
                    etag,
                    request_id: uuid::Uuid::new_v4().to_string(),
                    agency: rng.random_range(0..6),
                    recommendation: rng.random_range(0..6),
                    conditions: (0..rng.random_range(0..3)).map(|_| odd(&mut rng)).collect(),
                    rationale: odd(&mut rng),
                };
                let result = client.record_recommendation(authed(request, token)).await;
                ledger.answer("RecordRecommendation", &result);
            }
            4 => {
                let request = pb::DecideApplicationRequest {
                    name,
                    etag,
                    request_id: uuid::Uuid::new_v4().to_string(),
                    outcome: rng.random_range(0..5),
                    conditions: (0..rng.random_range(0..3)).map(|_| odd(&mut rng)).collect(),
                    rationale: odd(&mut rng),
                };
                let result = client.decide_application(authed(request, token)).await;
                ledger.answer("DecideApplication", &result);
            }
            5 => {
                let request = pb::WithdrawApplicationRequest {
                    name,
                    etag,
                    request_id: uuid::Uuid::new_v4().to_string(),
                    reason: odd(&mut rng),
                };
                let result = client.withdraw_application(authed(request, token)).await;
                ledger.answer("WithdrawApplication", &result);
            }
            6 => {
                let request = pb::ListApplicationEventsRequest {
                    parent: name,
                    page_size: rng.random_range(-2..2_000),
                    page_token: if rng.random_bool(0.2) {
                        odd(&mut rng)
                    } else {
                        String::new()
                    },
                };
                let result = client.list_application_events(authed(request, token)).await;
                ledger.answer("ListApplicationEvents", &result);
            }
            7 => {
                let result = client
                    .verify_audit_trail(authed(
                        pb::VerifyAuditTrailRequest {
                            name,
                            ..Default::default()
                        },
                        token,
                    ))
                    .await;
                ledger.answer("VerifyAuditTrail", &result);
            }
            _ => {
                let request = pb::ListApplicationsRequest {
                    page_size: rng.random_range(-1..i32::MAX),
                    destination_country: if rng.random_bool(0.5) {
                        "CN".into()
                    } else {
                        odd(&mut rng)
                    },
                    ..Default::default()
                };
                let result = client.list_applications(authed(request, token)).await;
                ledger.answer("ListApplications", &result);
            }
        }
    }

    // Afterwards: both serving, the record whole.
    assert_eq!(
        health(system.classifier.addr, CLASSIFIER_SERVICE, None).await,
        Some(ServingStatus::Serving)
    );
    assert_eq!(
        health(system.review.addr, REVIEW_SERVICE, None).await,
        Some(ServingStatus::Serving)
    );
    until_classified(&client).await;
    let all = pb::ListApplicationsRequest {
        page_size: 200,
        ..Default::default()
    };
    let listed = every_page(&client, all, AUDITOR).await;
    let by_tag: BTreeMap<String, &pb::Application> = listed
        .iter()
        .map(|a| (a.transaction.as_ref().unwrap().end_user_name.clone(), a))
        .collect();
    for (tag, name) in &ledger.acknowledged {
        assert_eq!(
            by_tag.get(tag).map(|a| a.name.as_str()),
            Some(name.as_str()),
            "acknowledged {tag} is listed"
        );
    }
    for tag in &ledger.refused {
        assert!(!by_tag.contains_key(tag), "refused {tag} was written");
    }
    for app in &listed {
        let tag = &app.transaction.as_ref().unwrap().end_user_name;
        assert!(
            ledger.acknowledged.contains_key(tag) || ledger.uncertain.contains(tag),
            "{tag} listed but never filed"
        );
        // Whole: readable, and its version is its history.
        assert_eq!(&get(&mut client, &app.name).await, app);
        let events = all_events(&client, &app.name, AUDITOR).await;
        assert_eq!(
            test_support::etag_version(&app.etag),
            events.len() as i64,
            "{app:?}"
        );
    }
    let report = verify_audit_trail(&mut client, "applications/-", AUDITOR).await;
    assert!(report.intact, "{report:?}");
    eprintln!(
        "hostile: seed {seed}, {steps} random steps in {seconds} s, {} filings acknowledged, {} refused, {} cut off; {:?}",
        ledger.acknowledged.len(),
        ledger.refused.len(),
        ledger.uncertain.len(),
        ledger.codes
    );
}

/// A filing accepted while the classifier could not answer is classified by
/// review-svc's retry worker in the background: the record is compared with
/// itself (listed, read, its history) once that work is done, or after 30 s,
/// when whatever is still pending fails the comparison with its name.
async fn until_classified(client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = pb::ListApplicationsRequest {
            state: pb::State::ClassificationPending as i32,
            page_size: 1,
            ..Default::default()
        };
        let page = client
            .clone()
            .list_applications(authed(pending, AUDITOR))
            .await
            .expect("the pending applications are listed");
        if page.into_inner().applications.is_empty() || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(client: &mut Client, name: &str) -> pb::Application {
    get_application(client, name, AUDITOR).await
}
