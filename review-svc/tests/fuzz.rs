//! Fuzzing on stable Rust: seeded, time-boxed random loops, none of which may
//! panic.
//!
//! - `prost_requests`: every review request type (and the resources) from
//!   arbitrary bytes and from mutated encodings of valid messages, decoded
//!   as every type; what decodes re-encodes stably.
//! - `workflow_sequences`: random command sequences (fitting and random
//!   commands by random actors, time passing, sweeps) through
//!   `Workflow::handle`, `sweep` and `apply`; after every step the
//!   invariants hold, the version counts the events, replay gives the same
//!   state and events survive a JSON round trip.
//! - `workflow_random_states`: reachable applications with their JSON
//!   mutated (other enum names, extreme numbers and dates, missing and
//!   duplicated entries), plus arbitrary JSON for commands and events, then
//!   `handle`, `sweep`, `apply` and the proto conversion.
//! - `grpc_adapter`: the service's adapter in process (SQLite in a
//!   temporary directory, a real classifier on 127.0.0.1:0), every method
//!   called with random, mutated and decoded requests, tokens and deadlines.
//!
//! Environment: `FUZZ_SECONDS` (per target, default 3), `FUZZ_ITERATIONS`
//! (a cap), `FUZZ_SEED` (replays a run), `FUZZ_CASE` (replays the one case a
//! failure names; for `grpc_adapter` the database carries over from earlier
//! cases, so replay the whole run with `FUZZ_SEED`). Each target prints its
//! seed, iterations and rate.

use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use exportcontrol_proto::classifier::v1 as cpb;
use exportcontrol_proto::review::v1 as pb;
use exportcontrol_proto::review::v1::review_service_server::ReviewService;
use futures::StreamExt;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use review_svc::workflow::{
    self, apply, Actor, Agency, Application, Command, Event, Filing, ItemOutcome, Level, Outcome,
    Recommendation, Role, State, Workflow,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// The loop
// ---------------------------------------------------------------------------

/// Counts by outcome, for the summary line.
type Tally = BTreeMap<String, u64>;

fn bump(tally: &mut Tally, outcome: impl Into<String>) {
    *tally.entry(outcome.into()).or_default() += 1;
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a valid value")),
    )
}

/// Panics in tasks the adapter spawns, which `catch_unwind` does not see.
static PANICS: AtomicU64 = AtomicU64::new(0);

fn count_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // The adapter's runtime threads; a test thread's own panics are
            // caught where they happen.
            if std::thread::current().name() == Some("tokio-runtime-worker") {
                PANICS.fetch_add(1, Relaxed);
            }
            previous(info);
        }));
    });
}

/// Runs `case` on fresh seeded generators until the time or iteration budget
/// is spent; a panic fails the test naming the case that caused it.
fn fuzz(target: &str, mut case: impl FnMut(&mut StdRng, &mut Tally)) {
    count_panics();
    let seconds: f64 = env("FUZZ_SECONDS").unwrap_or(3.0);
    let cap: Option<u64> = env("FUZZ_ITERATIONS");
    let seed: u64 = env("FUZZ_SEED").unwrap_or_else(rand::random);
    let only: Option<u64> = env("FUZZ_CASE");
    let mut tally = Tally::new();
    let mut master = StdRng::seed_from_u64(seed ^ fnv(target));
    let started = Instant::now();
    let budget = Duration::from_secs_f64(seconds.max(0.0));
    let mut iterations = 0u64;
    loop {
        if only.is_some() && iterations == 1 {
            break;
        }
        if only.is_none()
            && (started.elapsed() >= budget || cap.is_some_and(|cap| iterations >= cap))
        {
            break;
        }
        let case_seed = only.unwrap_or_else(|| master.random());
        let mut rng = StdRng::seed_from_u64(case_seed);
        let before = PANICS.load(Relaxed);
        let outcome = catch_unwind(AssertUnwindSafe(|| case(&mut rng, &mut tally)));
        let message = match outcome {
            Err(panic) => Some(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default(),
            ),
            Ok(()) if PANICS.load(Relaxed) != before => {
                Some("a spawned task panicked (see above)".into())
            }
            Ok(()) => None,
        };
        if let Some(message) = message {
            panic!(
                "fuzz review/{target}: panic at iteration {iterations} (FUZZ_SEED={seed}); \
                 replay the case alone with FUZZ_CASE={case_seed}: {message}"
            );
        }
        iterations += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = writeln!(
        std::io::stderr(),
        "fuzz review/{target}: seed {seed}, {iterations} iterations in {elapsed:.1} s ({:.0}/s), no panic; {tally:?}",
        iterations as f64 / elapsed.max(1e-9),
    );
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn pick<T: Clone>(rng: &mut StdRng, values: &[T]) -> T {
    values[rng.random_range(0..values.len())].clone()
}

/// Bit flips, interesting bytes, insertions, deletions, truncation, splices.
fn mutate(rng: &mut StdRng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.random_range(1..=2) {
        let len = bytes.len();
        match rng.random_range(0..6) {
            0 if len > 0 => bytes[rng.random_range(0..len)] ^= 1 << rng.random_range(0..8),
            1 if len > 0 => {
                bytes[rng.random_range(0..len)] =
                    pick(rng, &[0x00, 0xff, 0x7f, 0x80, 0x0a, 0x12, 0x22])
            }
            2 => bytes.insert(rng.random_range(0..=len), rng.random()),
            3 if len > 0 => {
                bytes.remove(rng.random_range(0..len));
            }
            4 => bytes.truncate(rng.random_range(0..=len)),
            5 if len > 0 => {
                let start = rng.random_range(0..len);
                let end = rng.random_range(start..=len.min(start + 64));
                let slice = bytes[start..end].to_vec();
                let at = rng.random_range(0..=len);
                bytes.splice(at..at, slice);
            }
            _ => {}
        }
    }
    bytes
}

// ---------------------------------------------------------------------------
// Generators: wire messages
// ---------------------------------------------------------------------------

/// Everyone who records recommendations, votes or appeals.
const AGENCY_TOKENS: &[&str] = &[
    "dev-commerce",
    "dev-state",
    "dev-defense",
    "dev-energy",
    "dev-acep-commerce",
    "dev-acep-state",
    "dev-acep-defense",
    "dev-acep-energy",
    "dev-earb-commerce",
    "dev-earb-state",
    "dev-earb-defense",
    "dev-earb-energy",
];

const TOKENS: [&str; 20] = [
    "dev-applicant",
    "dev-applicant-2",
    "dev-commerce",
    "dev-state",
    "dev-defense",
    "dev-energy",
    "dev-officer",
    "dev-oc-chair",
    "dev-acep-commerce",
    "dev-acep-state",
    "dev-acep-defense",
    "dev-acep-energy",
    "dev-earb-commerce",
    "dev-earb-state",
    "dev-earb-defense",
    "dev-earb-energy",
    "dev-president",
    "dev-auditor",
    "dev-nobody",
    "",
];

fn text(rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0 => String::new(),
        1 => " \t ".into(),
        2 => "x".repeat(rng.random_range(190..4_100)),
        3 => "Ω\u{0}\u{202e}é芯片".into(),
        4 => (0..rng.random_range(0..12))
            .map(|_| char::from_u32(rng.random_range(0..0x11_0000)).unwrap_or('?'))
            .collect(),
        _ => pick(
            rng,
            &["diversion risk", "basis", "approve", "End-use check"],
        )
        .to_owned(),
    }
}

fn int(rng: &mut StdRng, known: i32) -> i32 {
    if rng.random_bool(0.85) {
        rng.random_range(0..=known)
    } else {
        pick(rng, &[-1, known + 1, 1000, i32::MAX, i32::MIN])
    }
}

fn request_id(rng: &mut StdRng, ids: &[String]) -> String {
    match rng.random_range(0..10) {
        0 => String::new(),
        1 => "not-a-uuid".into(),
        2 => uuid::Uuid::nil().to_string(),
        3 => uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
        4 | 5 if !ids.is_empty() => pick(rng, ids),
        _ => uuid::Uuid::from_u128(rng.random()).to_string(),
    }
}

fn name(rng: &mut StdRng, known: &[(String, String)]) -> String {
    match rng.random_range(0..10) {
        0 => String::new(),
        1 => "applications/-".into(),
        2 => pick(
            rng,
            &[
                "applications/",
                "applications/../x",
                "applications/0",
                "Applications/x",
                "applications/x/y",
                "chips/h200",
            ],
        )
        .to_owned(),
        3 => format!("applications/{}", "a".repeat(rng.random_range(60..70))),
        4 => format!("applications/{}", text(rng)),
        _ if !known.is_empty() => pick(rng, known).0,
        _ => format!("applications/{}", uuid::Uuid::now_v7()),
    }
}

fn etag(rng: &mut StdRng, known: &[(String, String)]) -> String {
    match rng.random_range(0..10) {
        0 => String::new(),
        1 => pick(
            rng,
            &[
                "v0",
                "v-1",
                "v",
                "\"v3\"",
                "W/\"v3\"",
                "v99999999999999999999",
                "3",
                "v9223372036854775807",
            ],
        )
        .to_owned(),
        2 => text(rng),
        3 | 4 => format!("v{}", rng.random_range(1..30)),
        _ if !known.is_empty() => pick(rng, known).1,
        _ => "v3".into(),
    }
}

fn country(rng: &mut StdRng) -> String {
    if rng.random_bool(0.85) {
        pick(rng, &["CN", "DE", "HK", "SA", "AE", "US", "IN", "cn", ""]).to_owned()
    } else {
        pick(rng, &["XX", "C", "CNN", "中国", " CN"]).to_owned()
    }
}

fn line_item(rng: &mut StdRng) -> pb::LineItem {
    pb::LineItem {
        item: match rng.random_range(0..8) {
            0 => None,
            1 => Some(pb::line_item::Item::Spec(cpb::ChipSpec {
                name: text(rng),
                kind: int(rng, 3),
                rates: (0..rng.random_range(0..3))
                    .map(|_| cpb::ProcessingRate {
                        bit_length: pick(rng, &[0, 8, 16, u32::MAX]),
                        dense_tops: pick(
                            rng,
                            &[600.0, 0.0, -1.0, f64::NAN, f64::INFINITY, 1e308, 5e-324],
                        ),
                        format: text(rng),
                    })
                    .collect(),
                dies: vec![cpb::Die {
                    area_mm2: pick(rng, &[600.0, 0.0, f64::NAN, -0.0]),
                    non_planar: true,
                    ..Default::default()
                }],
                ..Default::default()
            })),
            _ => Some(pb::line_item::Item::CatalogChip(
                pick(
                    rng,
                    &[
                        "H200",
                        "H20",
                        "B200",
                        "MI300X",
                        "no-such-chip",
                        "",
                        "chips/h200",
                    ],
                )
                .to_owned(),
            )),
        },
        quantity: pick(rng, &[0, 1, 5_000, 1_000_000_000, 1_000_000_001, u64::MAX]),
        unit_value_usd_cents: pick(rng, &[0, 3_000_000, u64::MAX]),
    }
}

fn application(rng: &mut StdRng) -> pb::Application {
    if rng.random_bool(0.5) {
        // Well formed, so that filings get through and later calls find them.
        let destination = pick(rng, &["CN", "DE", "SA", "HK"]).to_owned();
        return pb::Application {
            items: (0..rng.random_range(1..3))
                .map(|_| pb::LineItem {
                    item: Some(pb::line_item::Item::CatalogChip(
                        pick(rng, &["H200", "H20", "B200"]).to_owned(),
                    )),
                    quantity: rng.random_range(1..10_000),
                    unit_value_usd_cents: 3_000_000,
                })
                .collect(),
            transaction: Some(pb::ExportTransaction {
                route: Some(cpb::Transaction {
                    destination_country: destination.clone(),
                    end_user_headquarters_country: destination.clone(),
                    ultimate_parent_headquarters_country: destination,
                    export_type: cpb::ExportType::ExportFromUs as i32,
                    is_informed_notice_received: false,
                    ..Default::default()
                }),
                end_user_name: "Example Cloud Co.".into(),
                end_use_statement: "Commercial cloud inference".into(),
            }),
            ..Default::default()
        };
    }
    let items = if rng.random_bool(0.05) {
        101
    } else {
        rng.random_range(0..4)
    };
    pb::Application {
        items: (0..items).map(|_| line_item(rng)).collect(),
        transaction: rng.random_bool(0.9).then(|| pb::ExportTransaction {
            route: rng.random_bool(0.9).then(|| cpb::Transaction {
                destination_country: country(rng),
                end_user_headquarters_country: country(rng),
                ultimate_parent_headquarters_country: country(rng),
                export_type: int(rng, 3),
                is_informed_notice_received: rng.random_bool(0.1),
                ..Default::default()
            }),
            end_user_name: text(rng),
            end_use_statement: text(rng),
        }),
        // Output-only fields a careless client might send.
        name: if rng.random_bool(0.1) {
            "applications/mine".into()
        } else {
            String::new()
        },
        state: if rng.random_bool(0.1) {
            int(rng, 11)
        } else {
            0
        },
        etag: if rng.random_bool(0.1) {
            "v1".into()
        } else {
            String::new()
        },
        ..Default::default()
    }
}

fn conditions(rng: &mut StdRng) -> Vec<String> {
    let n = if rng.random_bool(0.05) {
        51
    } else {
        rng.random_range(0..3)
    };
    (0..n).map(|_| text(rng)).collect()
}

/// One message of every request type, random but mostly well formed.
struct Requests {
    create: pb::CreateApplicationRequest,
    get: pb::GetApplicationRequest,
    list: pb::ListApplicationsRequest,
    recommend: pb::RecordRecommendationRequest,
    decide: pb::DecideApplicationRequest,
    appeal: pb::AppealApplicationRequest,
    withdraw: pb::WithdrawApplicationRequest,
    events: pb::ListApplicationEventsRequest,
    watch: pb::WatchApplicationsRequest,
    verify: pb::VerifyAuditTrailRequest,
}

fn page_token(rng: &mut StdRng, tokens: &[String]) -> String {
    match rng.random_range(0..6) {
        0 if !tokens.is_empty() => pick(rng, tokens),
        1 => text(rng),
        2 => "eyJ4IjoxfQ".into(),
        _ => String::new(),
    }
}

/// An application and etag that go together (mostly), or unrelated ones.
fn target(rng: &mut StdRng, known: &[(String, String)]) -> (String, String) {
    if !known.is_empty() && rng.random_bool(0.6) {
        pick(rng, known)
    } else {
        (name(rng, known), etag(rng, known))
    }
}

fn requests(
    rng: &mut StdRng,
    known: &[(String, String)],
    ids: &[String],
    tokens: &[String],
) -> Requests {
    let targets: Vec<(String, String)> = (0..4).map(|_| target(rng, known)).collect();
    Requests {
        create: pb::CreateApplicationRequest {
            application: rng.random_bool(0.95).then(|| application(rng)),
            request_id: request_id(rng, ids),
        },
        get: pb::GetApplicationRequest {
            name: name(rng, known),
        },
        list: pb::ListApplicationsRequest {
            page_size: pick(rng, &[0, 1, 2, 50, 1000, 1001, -1, i32::MAX, i32::MIN]),
            page_token: page_token(rng, tokens),
            state: if rng.random_bool(0.5) {
                0
            } else {
                int(rng, 11)
            },
            destination_country: if rng.random_bool(0.5) {
                String::new()
            } else {
                country(rng)
            },
            level: if rng.random_bool(0.5) { 0 } else { int(rng, 5) },
            awaiting_agency: if rng.random_bool(0.5) { 0 } else { int(rng, 4) },
            overdue: rng.random_bool(0.2),
        },
        recommend: pb::RecordRecommendationRequest {
            name: targets[0].0.clone(),
            etag: targets[0].1.clone(),
            request_id: request_id(rng, ids),
            agency: int(rng, 4),
            recommendation: int(rng, 4),
            conditions: conditions(rng),
            rationale: text(rng),
        },
        decide: pb::DecideApplicationRequest {
            name: targets[1].0.clone(),
            etag: targets[1].1.clone(),
            request_id: request_id(rng, ids),
            outcome: int(rng, 3),
            conditions: conditions(rng),
            rationale: text(rng),
        },
        appeal: pb::AppealApplicationRequest {
            name: targets[2].0.clone(),
            etag: targets[2].1.clone(),
            request_id: request_id(rng, ids),
            agency: int(rng, 4),
            rationale: text(rng),
        },
        withdraw: pb::WithdrawApplicationRequest {
            name: targets[3].0.clone(),
            etag: targets[3].1.clone(),
            request_id: request_id(rng, ids),
            reason: text(rng),
        },
        events: pb::ListApplicationEventsRequest {
            parent: name(rng, known),
            page_size: pick(rng, &[0, 1, 3, 100, 1000, 1001, -5, i32::MAX]),
            page_token: page_token(rng, tokens),
        },
        watch: pb::WatchApplicationsRequest {
            after_sequence: pick(rng, &[0, 1, 5, -1, i64::MAX, i64::MIN]),
            application: if rng.random_bool(0.5) {
                String::new()
            } else {
                name(rng, known)
            },
        },
        verify: pb::VerifyAuditTrailRequest {
            name: name(rng, known),
        },
    }
}

/// `message`, or what its mutated encoding decodes to when it does.
fn perhaps_mutated<M: Message + Default>(rng: &mut StdRng, message: M) -> M {
    if rng.random_bool(0.3) {
        let bytes = mutate(rng, message.encode_to_vec());
        if let Ok(decoded) = M::decode(bytes.as_slice()) {
            return decoded;
        }
    }
    message
}

/// Decodes `bytes` as `M`; what decodes re-encodes to bytes that decode to the same.
fn decode_as<M: Message + Default>(bytes: &[u8]) -> bool {
    match M::decode(bytes) {
        Ok(message) => {
            // Bytes, not values: NaN != NaN in the classifier's answers.
            let encoded = message.encode_to_vec();
            let again = M::decode(encoded.as_slice()).expect("a re-encoded message decodes");
            assert_eq!(again.encode_to_vec(), encoded, "re-encoding is not stable");
            true
        }
        Err(_) => false,
    }
}

fn decode_as_every_type(bytes: &[u8]) -> usize {
    [
        decode_as::<pb::CreateApplicationRequest>(bytes),
        decode_as::<pb::GetApplicationRequest>(bytes),
        decode_as::<pb::ListApplicationsRequest>(bytes),
        decode_as::<pb::RecordRecommendationRequest>(bytes),
        decode_as::<pb::DecideApplicationRequest>(bytes),
        decode_as::<pb::AppealApplicationRequest>(bytes),
        decode_as::<pb::WithdrawApplicationRequest>(bytes),
        decode_as::<pb::ListApplicationEventsRequest>(bytes),
        decode_as::<pb::WatchApplicationsRequest>(bytes),
        decode_as::<pb::VerifyAuditTrailRequest>(bytes),
        decode_as::<pb::Application>(bytes),
        decode_as::<pb::ApplicationEvent>(bytes),
        decode_as::<pb::ListApplicationsResponse>(bytes),
    ]
    .into_iter()
    .filter(|decoded| *decoded)
    .count()
}

#[test]
fn prost_requests() {
    fuzz("prost_requests", |rng, tally| {
        let bytes = if rng.random_bool(0.15) {
            (0..rng.random_range(0..200))
                .map(|_| rng.random())
                .collect()
        } else {
            let all = requests(rng, &[], &[], &[]);
            let valid = match rng.random_range(0..10) {
                0 => all.create.encode_to_vec(),
                1 => all.get.encode_to_vec(),
                2 => all.list.encode_to_vec(),
                3 => all.recommend.encode_to_vec(),
                4 => all.decide.encode_to_vec(),
                5 => all.appeal.encode_to_vec(),
                6 => all.withdraw.encode_to_vec(),
                7 => all.events.encode_to_vec(),
                8 => all.watch.encode_to_vec(),
                _ => all.verify.encode_to_vec(),
            };
            mutate(rng, valid)
        };
        let decoded = decode_as_every_type(&bytes);
        bump(tally, format!("decoded as {decoded} of 13 types"));
    });
}

// ---------------------------------------------------------------------------
// Generators: workflow
// ---------------------------------------------------------------------------

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn actors() -> Vec<Actor> {
    let mut all = vec![
        Actor::new("exporter-1", Role::Applicant, None),
        Actor::new("exporter-2", Role::Applicant, None),
        Actor::new("officer", Role::LicensingOfficer, None),
        Actor::new("chair", Role::OperatingCommitteeChair, None),
        Actor::new("president", Role::President, None),
        Actor::new("auditor", Role::Auditor, None),
        Actor::system(),
        Actor::new("no-agency", Role::AgencyReviewer, None),
        Actor::new("", Role::Applicant, None),
    ];
    for agency in Agency::ALL {
        for role in [Role::AgencyReviewer, Role::AcepMember, Role::EarbMember] {
            all.push(Actor::new(
                format!("{}-{}", role.as_str(), agency.as_str()),
                role,
                Some(agency),
            ));
        }
        all.push(Actor::new("odd", Role::President, Some(agency)));
    }
    all
}

/// The classifier's answers for `count` items (a mutated state may claim
/// billions: at most 8 are made).
fn items(rng: &mut StdRng, count: u32) -> Vec<ItemOutcome> {
    let n = if rng.random_bool(0.9) {
        count.min(8)
    } else {
        rng.random_range(0..4)
    };
    (0..n)
        .map(|i| ItemOutcome {
            item_index: if rng.random_bool(0.95) {
                i
            } else {
                pick(rng, &[i, 0, 7, u32::MAX])
            },
            license_required: rng.random_bool(0.8),
            review_policy: pick(rng, &["PRESUMPTION_OF_DENIAL", "CASE_BY_CASE", ""]).into(),
            rule_set: "V2026a".into(),
            decision_id: format!("d{i}"),
            summary: format!("item {i}"),
            result: json!({"paragraph": "3A090.a.1", "tpp": 15831.0}).into(),
        })
        .collect()
}

fn random_command(rng: &mut StdRng, item_count: u32) -> Command {
    let agency = pick(rng, &Agency::ALL);
    let recommendation = pick(
        rng,
        &[
            Recommendation::Approve,
            Recommendation::ApproveWithConditions,
            Recommendation::Deny,
            Recommendation::DeemedNoObjection,
        ],
    );
    let outcome = pick(
        rng,
        &[
            Outcome::Approve,
            Outcome::ApproveWithConditions,
            Outcome::Deny,
        ],
    );
    match rng.random_range(0..5) {
        0 => Command::RecordClassification {
            items: items(rng, item_count),
        },
        1 => Command::RecordRecommendation {
            agency,
            recommendation,
            conditions: conditions(rng),
            rationale: text(rng),
        },
        2 => Command::Decide {
            outcome,
            conditions: conditions(rng),
            rationale: text(rng),
        },
        3 => Command::Appeal {
            agency,
            rationale: text(rng),
        },
        _ => Command::Withdraw { reason: text(rng) },
    }
}

/// A command that suits the state, by an actor who may send it (mostly).
fn fitting(rng: &mut StdRng, app: &Application) -> (Actor, Command) {
    let agency = pick(rng, &Agency::ALL);
    let outcome = pick(
        rng,
        &[
            Outcome::Approve,
            Outcome::ApproveWithConditions,
            Outcome::Deny,
        ],
    );
    let with_conditions = |o: Outcome| {
        if o == Outcome::ApproveWithConditions {
            vec!["No transfer to military end users".to_owned()]
        } else {
            Vec::new()
        }
    };
    if rng.random_bool(0.03) {
        return (
            Actor::new(app.applicant.clone(), Role::Applicant, None),
            Command::Withdraw {
                reason: "no longer needed".into(),
            },
        );
    }
    match app.state {
        State::ClassificationPending => (
            Actor::system(),
            Command::RecordClassification {
                items: items(rng, app.item_count),
            },
        ),
        State::AgencyReview | State::AcepReview | State::EarbReview => {
            let role = app
                .level
                .and_then(Level::agency_role)
                .unwrap_or(Role::AgencyReviewer);
            let recommendation = pick(
                rng,
                &[
                    Recommendation::Approve,
                    Recommendation::ApproveWithConditions,
                    Recommendation::Deny,
                ],
            );
            let conditions = if recommendation == Recommendation::ApproveWithConditions {
                with_conditions(Outcome::ApproveWithConditions)
            } else {
                Vec::new()
            };
            (
                Actor::new(format!("member-{}", agency.as_str()), role, Some(agency)),
                Command::RecordRecommendation {
                    agency,
                    recommendation,
                    conditions,
                    rationale: "basis".into(),
                },
            )
        }
        State::AwaitingLicensingDecision
        | State::OperatingCommitteeReview
        | State::PresidentialReview => {
            let role = match app.state {
                State::AwaitingLicensingDecision => Role::LicensingOfficer,
                State::OperatingCommitteeReview => Role::OperatingCommitteeChair,
                _ => Role::President,
            };
            (
                Actor::new("decider", role, None),
                Command::Decide {
                    outcome,
                    conditions: with_conditions(outcome),
                    rationale: "on the record".into(),
                },
            )
        }
        State::AppealWindow => {
            let dissenting = app.dissenting_agencies();
            let agency = if dissenting.is_empty() {
                agency
            } else {
                pick(rng, &dissenting)
            };
            let role = app
                .decision
                .as_ref()
                .and_then(|d| d.level.agency_role())
                .unwrap_or(Role::AgencyReviewer);
            (
                Actor::new(format!("member-{}", agency.as_str()), role, Some(agency)),
                Command::Appeal {
                    agency,
                    rationale: "national security".into(),
                },
            )
        }
        State::NoLicenseRequired | State::Decided | State::Withdrawn => (
            Actor::new(app.applicant.clone(), Role::Applicant, None),
            Command::Withdraw {
                reason: "late".into(),
            },
        ),
    }
}

fn workflow(rng: &mut StdRng) -> Workflow {
    let day = pick(rng, &[1, 20, 1_000, 86_400_000]);
    Workflow::from_embedded(chrono::Duration::milliseconds(day))
}

fn filing(rng: &mut StdRng) -> Filing {
    Filing {
        id: uuid::Uuid::from_u128(rng.random()).to_string(),
        applicant: "exporter-1".into(),
        destination: pick(rng, &["CN", "DE", "SA"]).into(),
        content: json!({"items": [{"catalog_chip": "H200", "quantity": 5}]}).into(),
        item_count: pick(rng, &[1, 1, 2, 3, 0]),
    }
}

/// A random walk through the ladder; with `check`, the properties after every step.
struct Walk {
    workflow: Workflow,
    app: Application,
    events: Vec<Event>,
    now: DateTime<Utc>,
}

impl Walk {
    fn new(rng: &mut StdRng) -> Walk {
        let workflow = workflow(rng);
        let now = t0();
        let events = workflow.file(filing(rng), now);
        let app = Application::replay(&events).expect("filing gives an application");
        Walk {
            workflow,
            app,
            events,
            now,
        }
    }

    fn day_ms(&self) -> i64 {
        self.workflow
            .deadlines()
            .day_length()
            .num_milliseconds()
            .max(1)
    }

    fn step(&mut self, rng: &mut StdRng, actors: &[Actor], tally: &mut Tally, check: bool) {
        let day = self.day_ms();
        match rng.random_range(0..10) {
            0..=4 => {
                let (actor, command) = if rng.random_bool(0.75) {
                    fitting(rng, &self.app)
                } else {
                    (pick(rng, actors), random_command(rng, self.app.item_count))
                };
                let name = command.name();
                match self.workflow.handle(&self.app, &actor, command, self.now) {
                    Ok(events) => {
                        bump(tally, format!("{name} accepted"));
                        self.extend(events, check);
                    }
                    Err(refusal) => bump(tally, format!("refused {}", refusal.reason())),
                }
            }
            5 | 6 => {
                let span = day * pick(rng, &[1, 5, 40]);
                self.now += chrono::Duration::milliseconds(rng.random_range(0..span));
            }
            7 => {
                if let Some(due) = self.app.next_due() {
                    self.now = self
                        .now
                        .max(due + chrono::Duration::milliseconds(rng.random_range(-1..=1)));
                }
            }
            _ => {
                let events = self.workflow.sweep(&self.app, self.now);
                if !events.is_empty() {
                    bump(tally, "sweep applied deadlines");
                }
                self.extend(events, check);
                if check {
                    assert!(
                        self.workflow.sweep(&self.app, self.now).is_empty(),
                        "a second sweep at the same time found more to do: {:#?}",
                        self.app
                    );
                }
            }
        }
    }

    fn extend(&mut self, events: Vec<Event>, check: bool) {
        for event in &events {
            self.app = apply(Some(self.app.clone()), event);
            if check {
                let json = serde_json::to_string(event).expect("an event serialises");
                let back: Event = serde_json::from_str(&json).expect("an event deserialises");
                assert_eq!(&back, event, "JSON round trip changed {json}");
            }
        }
        self.events.extend(events);
        if check {
            if let Err(broken) = workflow::check_invariants(&self.app) {
                panic!(
                    "invariant broken: {broken}\n{:#?}\n{:#?}",
                    self.app, self.events
                );
            }
            assert_eq!(
                self.app.version,
                self.events.len() as i64,
                "the version does not count the events"
            );
            let replayed = Application::replay(&self.events).expect("a history replays");
            assert_eq!(
                replayed, self.app,
                "replaying the history gives another state"
            );
        }
    }
}

#[test]
fn workflow_sequences() {
    let actors = actors();
    fuzz("workflow_sequences", |rng, tally| {
        let mut walk = Walk::new(rng);
        for _ in 0..rng.random_range(1..80) {
            walk.step(rng, &actors, tally, true);
        }
        bump(tally, format!("ended in {}", walk.app.state.as_str()));
    });
}

// ---------------------------------------------------------------------------
// Random states
// ---------------------------------------------------------------------------

const NAMES: [&str; 31] = [
    "CLASSIFICATION_PENDING",
    "NO_LICENSE_REQUIRED",
    "AGENCY_REVIEW",
    "AWAITING_LICENSING_DECISION",
    "OPERATING_COMMITTEE_REVIEW",
    "APPEAL_WINDOW",
    "ACEP_REVIEW",
    "EARB_REVIEW",
    "PRESIDENTIAL_REVIEW",
    "DECIDED",
    "WITHDRAWN",
    "AGENCY",
    "OPERATING_COMMITTEE",
    "ACEP",
    "EARB",
    "PRESIDENT",
    "COMMERCE",
    "STATE",
    "DEFENSE",
    "ENERGY",
    "APPROVE",
    "APPROVE_WITH_CONDITIONS",
    "DENY",
    "DEEMED_NO_OBJECTION",
    "MAJORITY_OF_VOTES_CAST",
    "ApplicationFiled",
    "RecommendationRecorded",
    "Decided",
    "Appealed",
    "DecisionFinal",
    "ReferredToPresident",
];

/// A time as the store would hold it: around the walk's, or far off.
fn time_value(rng: &mut StdRng) -> Value {
    let time = match rng.random_range(0..6) {
        0 => Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
        1 => Utc.with_ymd_and_hms(2999, 12, 31, 23, 59, 59).unwrap(),
        2 => Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap(),
        _ => t0() + chrono::Duration::seconds(rng.random_range(-400 * 86_400..400 * 86_400)),
    };
    serde_json::to_value(time).unwrap()
}

/// The names of the same kind as `name` (states, levels, agencies, ...).
fn family(name: &str) -> &'static [&'static str] {
    let at = NAMES.iter().position(|n| *n == name).unwrap_or(NAMES.len());
    match at {
        0..=10 => &NAMES[0..11],
        11..=15 => &NAMES[11..16],
        16..=19 => &NAMES[16..20],
        20..=24 => &NAMES[20..25],
        25..=30 => &NAMES[25..31],
        _ => &NAMES,
    }
}

fn random_value(rng: &mut StdRng, like: &Value) -> Value {
    match like {
        Value::String(s) if DateTime::parse_from_rfc3339(s).is_ok() && rng.random_bool(0.8) => {
            time_value(rng)
        }
        Value::String(s) => match rng.random_range(0..5) {
            0..=2 => Value::String(pick(rng, family(s)).to_owned()),
            3 => Value::String(text(rng)),
            _ => Value::Null,
        },
        Value::Number(_) => pick(
            rng,
            &[
                json!(0),
                json!(-1),
                json!(1),
                json!(2),
                json!(3),
                json!(i64::MAX),
                json!(i64::MIN),
                json!(u32::MAX),
                json!(1.5),
            ],
        ),
        Value::Bool(b) => Value::Bool(!b),
        Value::Null => match rng.random_range(0..3) {
            0 => time_value(rng),
            1 => Value::String(pick(rng, &NAMES).to_owned()),
            _ => {
                json!({"level": "ACEP", "outcome": "DENY", "conditions": [], "decided_by": "x", "at": time_value(rng), "rationale": "", "final": false})
            }
        },
        Value::Array(_) | Value::Object(_) => Value::Null,
    }
}

/// Changes one random node of `value`.
fn mutate_json(rng: &mut StdRng, value: &mut Value) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = pick(rng, &keys);
            match rng.random_range(0..20) {
                0 => {
                    map.remove(&key);
                }
                1 | 2 if !map[&key].is_object() && !map[&key].is_array() => {
                    let like = map[&key].clone();
                    map.insert(key, random_value(rng, &like));
                }
                _ => mutate_json(rng, map.get_mut(&key).unwrap()),
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.random_range(0..items.len());
            match rng.random_range(0..6) {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let copy = items[i].clone();
                    items.insert(i, copy);
                }
                2 => items.clear(),
                _ => mutate_json(rng, &mut items[i]),
            }
        }
        other => {
            let like = other.clone();
            *other = random_value(rng, &like);
        }
    }
}

fn random_now(rng: &mut StdRng, app: &Application) -> DateTime<Utc> {
    let base = if rng.random_bool(0.5) {
        app.created_at
    } else {
        t0()
    };
    let offset = chrono::Duration::seconds(rng.random_range(-30 * 86_400..400 * 86_400));
    base.checked_add_signed(offset).unwrap_or(base)
}

#[test]
fn workflow_random_states() {
    let actors = actors();
    fuzz("workflow_random_states", |rng, tally| {
        // A reachable state and its history...
        let mut walk = Walk::new(rng);
        for _ in 0..rng.random_range(0..60) {
            walk.step(rng, &actors, tally, false);
        }
        // ...bent out of shape.
        let mut state = serde_json::to_value(&walk.app).unwrap();
        for _ in 0..rng.random_range(1..4) {
            mutate_json(rng, &mut state);
        }
        let Ok(mut app) = serde_json::from_value::<Application>(state) else {
            bump(tally, "mutated state does not deserialise");
            return;
        };
        bump(tally, "mutated state");
        for _ in 0..rng.random_range(1..12) {
            let now = random_now(rng, &app);
            let _ = workflow::check_invariants(&app);
            let _ = (
                app.next_due(),
                app.overdue_since(),
                app.awaiting_agencies(),
                app.agency_consensus(),
                app.dissenting_agencies(),
            );
            let _ = review_svc::convert::application(&app).encode_to_vec();
            match rng.random_range(0..4) {
                0 => {
                    for event in walk.workflow.sweep(&app, now) {
                        app = apply(Some(app), &event);
                    }
                }
                1 => {
                    let (actor, command) = if rng.random_bool(0.6) {
                        fitting(rng, &app)
                    } else {
                        (pick(rng, &actors), random_command(rng, app.item_count))
                    };
                    if let Ok(events) = walk.workflow.handle(&app, &actor, command, now) {
                        bump(tally, "command accepted on a mutated state");
                        for event in events {
                            app = apply(Some(app), &event);
                        }
                    }
                }
                2 if !walk.events.is_empty() => {
                    // An event of the history, itself bent, applied out of order.
                    let mut event = serde_json::to_value(pick(rng, &walk.events)).unwrap();
                    mutate_json(rng, &mut event);
                    if let Ok(event) = serde_json::from_value::<Event>(event) {
                        app = apply(Some(app), &event);
                        let _ = apply(None, &event);
                    }
                }
                _ => {
                    // Arbitrary text as a command and as an event.
                    let bytes: Vec<u8> = match rng.random_range(0..3) {
                        0 => (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
                        1 => {
                            let mut command = serde_json::to_value(random_command(rng, 1)).unwrap();
                            mutate_json(rng, &mut command);
                            command.to_string().into_bytes()
                        }
                        _ => {
                            let event = serde_json::to_vec(&pick(rng, &walk.events)).unwrap();
                            mutate(rng, event)
                        }
                    };
                    if let Ok(command) = serde_json::from_slice::<Command>(&bytes) {
                        let _ = walk
                            .workflow
                            .handle(&app, &pick(rng, &actors), command, now);
                    }
                    if let Ok(event) = serde_json::from_slice::<Event>(&bytes) {
                        app = apply(Some(app), &event);
                    }
                }
            }
        }
        bump(tally, format!("ended in {}", app.state.as_str()));
    });
}

// ---------------------------------------------------------------------------
// The gRPC adapter, in process
// ---------------------------------------------------------------------------

struct Adapter {
    runtime: tokio::runtime::Runtime,
    review: review_svc::grpc::Review,
    _dir: tempfile::TempDir,
    _classifier: service_kit::server::RunningServer,
}

fn adapter() -> Adapter {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (review, classifier) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let classifier =
            classifier_svc::serve(listener, service_kit::server::ServeOptions::default())
                .await
                .unwrap();
        let url = format!("http://{}", classifier.local_addr);
        let store = review_svc::store::open(&format!(
            "sqlite://{}",
            dir.path().join("fuzz.db").display()
        ))
        .await
        .unwrap();
        let ledger = Arc::new(review_svc::ledger::Ledger::new(
            store,
            // A 30-day agency deadline of 6 s: some pass during a run.
            Workflow::from_embedded(chrono::Duration::milliseconds(200)),
        ));
        let client = review_svc::classifier_client::ClassifierClient::connect_lazy(
            &url,
            None,
            review_svc::classifier_client::RetryPolicy::default(),
        )
        .unwrap();
        let (auth, _) = review_svc::auth::Authenticator::development();
        let review = review_svc::grpc::Review::new(
            ledger,
            Arc::new(auth),
            client,
            Arc::new(review_svc::clock::SystemClock),
        );
        (review, classifier)
    });
    Adapter {
        runtime,
        review,
        _dir: dir,
        _classifier: classifier,
    }
}

/// The message with random metadata: mostly the token of someone who may
/// make the call (one of `likely`), else any token, a malformed header or none.
fn with_metadata<T>(rng: &mut StdRng, message: T, likely: &[&str]) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let header = match rng.random_range(0..12) {
        6..=11 if !likely.is_empty() => Some(format!("Bearer {}", pick(rng, likely))),
        0 => None,
        1 => Some("Bearer".to_owned()),
        2 => Some(format!("Basic {}", pick(rng, &TOKENS))),
        3 => Some(format!("Bearer {} extra", pick(rng, &TOKENS))),
        _ => Some(format!("Bearer {}", pick(rng, &TOKENS))),
    };
    if let Some(header) = header {
        if let Ok(value) = header.parse() {
            request.metadata_mut().insert("authorization", value);
        }
    }
    if rng.random_bool(0.5) {
        let timeout = pick(
            rng,
            &[
                "1S",
                "200m",
                "1n",
                "0m",
                "99999999H",
                "5S",
                "x",
                "-1S",
                "1",
                "100000000S",
                "+1S",
            ],
        );
        request
            .metadata_mut()
            .insert("grpc-timeout", timeout.parse().unwrap());
    }
    if rng.random_bool(0.1) {
        let parent = pick(
            rng,
            &[
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "garbage",
                "00-0-0-0",
                "",
            ],
        );
        if let Ok(value) = parent.parse() {
            request.metadata_mut().insert("traceparent", value);
        }
    }
    request
}

fn code_of<T>(result: &Result<T, tonic::Status>) -> String {
    match result {
        Ok(_) => "OK".into(),
        Err(status) => format!("{:?}", status.code()),
    }
}

#[test]
fn grpc_adapter() {
    let adapter = adapter();
    let mut known: Vec<(String, String)> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    fuzz("grpc_adapter", |rng, tally| {
        let all = requests(rng, &known, &ids, &tokens);
        let review = &adapter.review;
        let method = rng.random_range(0..10);
        let (label, code, updated, token) = adapter.runtime.block_on(async {
            let mut updated = None;
            let mut token = None;
            let (label, code) = match method {
                0 => {
                    let message = perhaps_mutated(rng, all.create);
                    ids.push(message.request_id.clone());
                    let r = review
                        .create_application(with_metadata(
                            rng,
                            message,
                            &["dev-applicant", "dev-applicant-2"],
                        ))
                        .await;
                    updated = r.as_ref().ok().map(|a| a.get_ref().clone());
                    ("CreateApplication", code_of(&r))
                }
                1 => {
                    let message = perhaps_mutated(rng, all.get);
                    let r = review
                        .get_application(with_metadata(
                            rng,
                            message,
                            &["dev-auditor", "dev-applicant", "dev-officer"],
                        ))
                        .await;
                    updated = r.as_ref().ok().map(|a| a.get_ref().clone());
                    ("GetApplication", code_of(&r))
                }
                2 => {
                    let message = perhaps_mutated(rng, all.list);
                    let r = review
                        .list_applications(with_metadata(
                            rng,
                            message,
                            &["dev-auditor", "dev-applicant", "dev-state"],
                        ))
                        .await;
                    token = r.as_ref().ok().map(|l| l.get_ref().next_page_token.clone());
                    ("ListApplications", code_of(&r))
                }
                3 => {
                    let message = perhaps_mutated(rng, all.recommend);
                    ids.push(message.request_id.clone());
                    // The tokens that speak for the message's agency.
                    let agency = pb::Agency::try_from(message.agency)
                        .map(|a| a.as_str_name().trim_start_matches("AGENCY_").to_lowercase())
                        .unwrap_or_default();
                    let speakers = [
                        format!("dev-{agency}"),
                        format!("dev-acep-{agency}"),
                        format!("dev-earb-{agency}"),
                    ];
                    let speakers: Vec<&str> = speakers.iter().map(String::as_str).collect();
                    let r = review
                        .record_recommendation(with_metadata(rng, message, &speakers))
                        .await;
                    updated = r.as_ref().ok().map(|a| a.get_ref().clone());
                    ("RecordRecommendation", code_of(&r))
                }
                4 => {
                    let message = perhaps_mutated(rng, all.decide);
                    let r = review
                        .decide_application(with_metadata(
                            rng,
                            message,
                            &["dev-officer", "dev-oc-chair", "dev-president"],
                        ))
                        .await;
                    updated = r.as_ref().ok().map(|a| a.get_ref().clone());
                    ("DecideApplication", code_of(&r))
                }
                5 => {
                    let message = perhaps_mutated(rng, all.appeal);
                    let r = review
                        .appeal_application(with_metadata(rng, message, AGENCY_TOKENS))
                        .await;
                    updated = r.as_ref().ok().map(|a| a.get_ref().clone());
                    ("AppealApplication", code_of(&r))
                }
                6 => {
                    let message = perhaps_mutated(rng, all.withdraw);
                    let r = review
                        .withdraw_application(with_metadata(rng, message, &["dev-applicant"]))
                        .await;
                    updated = r.as_ref().ok().map(|a| a.get_ref().clone());
                    ("WithdrawApplication", code_of(&r))
                }
                7 => {
                    let message = perhaps_mutated(rng, all.events);
                    let r = review
                        .list_application_events(with_metadata(
                            rng,
                            message,
                            &["dev-auditor", "dev-applicant"],
                        ))
                        .await;
                    token = r.as_ref().ok().map(|l| l.get_ref().next_page_token.clone());
                    ("ListApplicationEvents", code_of(&r))
                }
                8 => {
                    let message = perhaps_mutated(rng, all.watch);
                    let r = review
                        .watch_applications(with_metadata(
                            rng,
                            message,
                            &["dev-auditor", "dev-applicant"],
                        ))
                        .await;
                    let code = code_of(&r);
                    if let Ok(response) = r {
                        let mut stream = response.into_inner();
                        for _ in 0..3 {
                            match tokio::time::timeout(Duration::from_millis(5), stream.next())
                                .await
                            {
                                Ok(Some(_)) => continue,
                                _ => break,
                            }
                        }
                    }
                    ("WatchApplications", code)
                }
                _ => {
                    let message = perhaps_mutated(rng, all.verify);
                    let r = review
                        .verify_audit_trail(with_metadata(
                            rng,
                            message,
                            &["dev-auditor", "dev-applicant"],
                        ))
                        .await;
                    if let Ok(report) = &r {
                        assert!(
                            report.get_ref().intact,
                            "the adapter broke the chain: {:?}",
                            report.get_ref()
                        );
                    }
                    ("VerifyAuditTrail", code_of(&r))
                }
            };
            (label, code, updated, token)
        });
        if let Some(app) = updated {
            match known.iter_mut().find(|(name, _)| *name == app.name) {
                Some(entry) => entry.1 = app.etag,
                None => known.push((app.name, app.etag)),
            }
        }
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            tokens.push(token);
        }
        ids.truncate(64);
        bump(tally, format!("{label} {code}"));
    });
    // Whatever the calls did, the history is intact.
    let report = adapter.runtime.block_on(async {
        let mut request = tonic::Request::new(pb::VerifyAuditTrailRequest::default());
        request
            .metadata_mut()
            .insert("authorization", "Bearer dev-auditor".parse().unwrap());
        adapter
            .review
            .verify_audit_trail(request)
            .await
            .unwrap()
            .into_inner()
    });
    assert!(report.intact, "{report:?}");
    let _ = writeln!(
        std::io::stderr(),
        "fuzz review/grpc_adapter: afterwards {} applications, {} events, chain intact",
        report.applications_checked,
        report.events_checked
    );
}
