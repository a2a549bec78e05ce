//! Fuzz targets over everything a caller's bytes reach, none of which may
//! panic; the driver (`test_support::fuzz`) runs them as seeded, time-boxed
//! tests under `cargo test`, and coverage-guided under a fuzzing engine
//! (`cargo bolero test`).
//!
//! - `prost_bytes`: arbitrary bytes, and mutated encodings of valid
//!   requests, decoded as `ClassifyItemRequest` and, when they decode,
//!   answered by the adapter (`Classifier::classify`: conversion, rules,
//!   conversion back).
//! - `structured_requests`: well-formed requests with extreme numbers (NaN,
//!   ±inf, subnormals, ±1e308, -0.0), odd dates, country codes, enum
//!   numbers, nesting and list lengths, through `convert::classify_query`
//!   and `RuleBook::classify`.
//! - `domain_specs`: domain specs built directly (past the adapter's
//!   checks), with dates over chrono's whole range, through
//!   `RuleBook::classify` and `convert::decision`.
//!
//! Environment: `FUZZ_SECONDS` (per target, default 3), `FUZZ_ITERATIONS`
//! (a cap), `FUZZ_SEED` (replays a run), `FUZZ_CASE` (replays the one case a
//! failure names). Each target prints its seed, iterations and rate.

use chrono::{Datelike, NaiveDate};
use classifier_svc::catalog::Catalog;
use classifier_svc::convert;
use classifier_svc::grpc::Classifier;
use classifier_svc::rules::{self, RuleBook};
use exportcontrol_proto::classifier::v1 as pb;
use prost::Message;
use rand::{Rng, RngCore};
use test_support::fuzz::{bump, noise_or_mutated, Tally};
use test_support::fuzz_target;

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

/// A case's random source, and how hostile its values are: with probability
/// `chaos` a value is extreme or malformed, otherwise plausible, so that
/// some cases get past validation and deep into the rules.
struct Gen<'a> {
    rng: &'a mut dyn RngCore,
    chaos: f64,
}

impl<'a> Gen<'a> {
    fn new(rng: &'a mut dyn RngCore) -> Self {
        let chaos = [0.0, 0.02, 0.1, 0.5, 1.0][rng.random_range(0..5)];
        Gen { rng, chaos }
    }

    fn wild(&mut self) -> bool {
        self.rng.random_bool(self.chaos)
    }

    fn pick<T: Clone>(&mut self, values: &[T]) -> T {
        values[self.rng.random_range(0..values.len())].clone()
    }
}

const FLOATS: [f64; 27] = [
    0.0,
    -0.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MIN_POSITIVE,
    5e-324,
    1e-310,
    f64::MAX,
    f64::MIN,
    1e308,
    -1e308,
    f64::EPSILON,
    1.0,
    -1.0,
    0.5,
    1e-300,
    4800.0,
    4_799.999_999_999,
    1600.0,
    2400.0,
    5.92,
    1.6,
    3.0,
    1e15,
    -1e15,
    4_000.0,
];

/// A number on the scale of `typical` (TOPS, mm², GB/s), or an extreme one.
fn float(g: &mut Gen, typical: f64) -> f64 {
    if g.wild() {
        match g.rng.random_range(0..3) {
            0 | 1 => g.pick(&FLOATS),
            _ => f64::from_bits(g.rng.random()),
        }
    } else {
        g.rng.random_range(0.0..typical)
    }
}

fn bit_length(g: &mut Gen) -> u32 {
    if g.wild() {
        let any = g.rng.random();
        g.pick(&[0, 1, 3, 128, u32::MAX, u32::MAX / 2, any])
    } else {
        g.pick(&[4, 8, 16, 32, 64])
    }
}

fn count(g: &mut Gen) -> u32 {
    if g.wild() {
        let any = g.rng.random();
        g.pick(&[0, u32::MAX, u32::MAX / 2, 1 << 20, any])
    } else {
        g.rng.random_range(1..17)
    }
}

fn enum_number(g: &mut Gen, known: i32) -> i32 {
    if g.wild() {
        let any = g.rng.random();
        g.pick(&[known + 1, -1, 100, i32::MAX, i32::MIN, any])
    } else {
        g.rng.random_range(0..=known)
    }
}

fn text(g: &mut Gen) -> String {
    if g.wild() {
        match g.rng.random_range(0..4) {
            0 => "x".repeat(g.rng.random_range(190..320)),
            1 => "Ω芯片\u{0}\u{202e}é".into(),
            2 => "é".repeat(g.rng.random_range(60..130)),
            _ => (0..g.rng.random_range(0..16))
                .map(|_| char::from_u32(g.rng.random_range(0..0x11_0000)).unwrap_or('?'))
                .collect(),
        }
    } else {
        (0..g.rng.random_range(0..12))
            .map(|_| g.rng.random_range(b' '..=b'~') as char)
            .collect()
    }
}

fn country(g: &mut Gen) -> String {
    if g.wild() {
        match g.rng.random_range(0..3) {
            0 => g
                .pick(&[
                    "", "cn", "hk", "XX", "ZZ", "C", "CNN", "中国", "Cn", " CN", "C\u{0}",
                ])
                .to_owned(),
            1 => (0..g.rng.random_range(0..4))
                .map(|_| g.rng.random_range(b'A'..=b'Z') as char)
                .collect(),
            _ => text(g),
        }
    } else {
        g.pick(&[
            "CN", "HK", "MO", "DE", "US", "SA", "AE", "IN", "IR", "KP", "RU", "TW", "SG", "MY",
            "JP", "GB", "IL", "VN",
        ])
        .to_owned()
    }
}

fn date_text(g: &mut Gen) -> String {
    if g.wild() {
        match g.rng.random_range(0..3) {
            0 => g
                .pick(&[
                    "0000-01-01",
                    "9999-12-31",
                    "2026-02-30",
                    "2026-13-01",
                    "+10000-01-01",
                    "2026-2-1",
                    "-001-01-01",
                    "2026-02-01T00:00:00Z",
                    "２０２６-02-01",
                    "2026-02-01\u{0}",
                ])
                .to_owned(),
            1 => format!(
                "{:04}-{:02}-{:02}",
                g.rng.random_range(0..10_000),
                g.rng.random_range(0..14),
                g.rng.random_range(0..33)
            ),
            _ => text(g),
        }
    } else if g.rng.random_bool(0.1) {
        String::new()
    } else {
        format!(
            "{:04}-{:02}-{:02}",
            g.rng.random_range(2021..2028),
            g.rng.random_range(1..13),
            g.rng.random_range(1..29)
        )
    }
}

fn catalog_name(g: &mut Gen) -> String {
    let chips = Catalog::builtin().chips();
    let chip = &chips[g.rng.random_range(0..chips.len())];
    if g.wild() {
        return text(g);
    }
    match g.rng.random_range(0..5) {
        0 => chip.id.clone(),
        1 => format!("chips/{}", chip.id),
        2 => chip.display_name.to_uppercase(),
        3 => chip
            .aliases
            .first()
            .cloned()
            .unwrap_or_else(|| chip.id.clone()),
        _ => format!(" {} ", chip.display_name),
    }
}

fn list_len(g: &mut Gen, usual: usize) -> usize {
    if g.wild() && g.rng.random_bool(0.2) {
        g.rng.random_range(60..70)
    } else {
        g.rng.random_range(0..=usual)
    }
}

/// A spec's rates, drawn alike for wire and domain specs; the draws keep
/// their order so that a seed replays the same case.
fn rates<T>(g: &mut Gen, rate: impl Fn(u32, f64, String) -> T) -> Vec<T> {
    (0..list_len(g, 3).max(1))
        .map(|_| rate(bit_length(g), float(g, 5_000.0), text(g)))
        .collect()
}

/// A spec's dies, drawn like `rates`; `die` may draw more (the wire's label).
fn dies<T>(g: &mut Gen, die: impl Fn(&mut Gen, f64, bool, bool) -> T) -> Vec<T> {
    (0..list_len(g, 3))
        .map(|_| {
            let area_mm2 = float(g, 900.0);
            let non_planar = g.rng.random_bool(0.8);
            let memory = g.rng.random_bool(0.2);
            die(g, area_mm2, non_planar, memory)
        })
        .collect()
}

/// The ICs inside a spec: in assemblies, and in anything else when wild;
/// never more than three levels deep, so that a case stays bounded. `ic`
/// is given the list's length.
fn contained<T>(
    g: &mut Gen,
    depth: usize,
    assembly: bool,
    ic: impl Fn(&mut Gen, usize) -> T,
) -> Vec<T> {
    if depth < 3 && (assembly || g.wild()) {
        let n = list_len(g, 2);
        (0..n).map(|_| ic(g, n)).collect()
    } else {
        Vec::new()
    }
}

fn proto_spec(g: &mut Gen, depth: usize) -> pb::ChipSpec {
    use pb::contained_integrated_circuit::Ic;
    let kind = enum_number(g, 3);
    pb::ChipSpec {
        name: text(g),
        kind,
        rates: rates(g, |bit_length, dense_tops, format| pb::ProcessingRate {
            bit_length,
            dense_tops,
            format,
        }),
        dies: dies(g, |g, area_mm2, non_planar, memory| pb::Die {
            area_mm2,
            non_planar,
            memory,
            label: text(g),
        }),
        dram_bandwidth_gb_s: float(g, 8_000.0),
        interconnect_bandwidth_gb_s: float(g, 2_000.0),
        market: enum_number(g, 2),
        market_justification: text(g),
        hbm_bandwidth_gb_s: float(g, 4_000.0),
        hbm_package_area_mm2: float(g, 200.0),
        contained_ics: contained(g, depth, kind == 2, |g, n| pb::ContainedIntegratedCircuit {
            // Nested specs only in short lists: the size stays bounded.
            ic: match g.rng.random_range(0..4) {
                0 if g.wild() => None,
                2 | 3 if n <= 4 => Some(Ic::Spec(proto_spec(g, depth + 1))),
                _ => Some(Ic::CatalogChip(catalog_name(g))),
            },
            count: count(g),
        }),
        us_commercially_available_2026_01_15: g.pick(&[None, Some(true), Some(false)]),
    }
}

fn proto_request(g: &mut Gen) -> pb::ClassifyItemRequest {
    pb::ClassifyItemRequest {
        item: match g.rng.random_range(0..5) {
            0 if g.wild() => None,
            0..=2 => Some(pb::classify_item_request::Item::CatalogChip(catalog_name(
                g,
            ))),
            _ => Some(pb::classify_item_request::Item::Spec(proto_spec(g, 0))),
        },
        transaction: g.rng.random_bool(0.8).then(|| pb::Transaction {
            destination_country: country(g),
            end_user_headquarters_country: if g.rng.random_bool(0.3) {
                String::new()
            } else {
                country(g)
            },
            ultimate_parent_headquarters_country: if g.rng.random_bool(0.3) {
                String::new()
            } else {
                country(g)
            },
            export_type: enum_number(g, 3),
            is_informed_notice_received: g.rng.random_bool(0.2),
            end_user_name: end_user_name(g),
            end_user_kind: enum_number(g, 3),
        }),
        as_of: date_text(g),
        view: enum_number(g, 2),
    }
}

fn end_user_name(g: &mut Gen) -> String {
    match g.rng.random_range(0..5) {
        0 => String::new(),
        1 => "G42".into(),
        2 => "Core42 FZ-LLC".into(),
        3 => "Amazon Web Services, Inc.".into(),
        _ => text(g),
    }
}

fn domain_option(g: &mut Gen, typical: f64) -> Option<f64> {
    g.rng.random_bool(0.6).then(|| float(g, typical))
}

fn domain_spec(g: &mut Gen, depth: usize) -> rules::ChipSpec {
    let kind = g.pick(&[
        rules::ItemKind::IntegratedCircuit,
        rules::ItemKind::ComputerOrAssembly,
        rules::ItemKind::HbmStack,
    ]);
    let assembly = kind == rules::ItemKind::ComputerOrAssembly;
    rules::ChipSpec {
        name: text(g),
        kind,
        rates: rates(g, |bit_length, dense_tops, format| rules::ProcessingRate {
            bit_length,
            dense_tops,
            format,
        }),
        dies: dies(g, |_, area_mm2, non_planar, memory| rules::Die {
            area_mm2,
            non_planar,
            memory,
        }),
        dram_bandwidth_gb_s: domain_option(g, 8_000.0),
        interconnect_bandwidth_gb_s: domain_option(g, 2_000.0),
        market: g.pick(&[
            rules::Market::Unspecified,
            rules::Market::Datacenter,
            rules::Market::NonDatacenter,
        ]),
        hbm_bandwidth_gb_s: domain_option(g, 4_000.0),
        hbm_package_area_mm2: domain_option(g, 200.0),
        contained_ics: contained(g, depth, assembly, |g, n| rules::ContainedIc {
            spec: if n > 4 || g.rng.random_bool(0.4) {
                let chips = Catalog::builtin().chips();
                chips[g.rng.random_range(0..chips.len())].spec.clone()
            } else {
                domain_spec(g, depth + 1)
            },
            count: count(g),
        }),
        us_commercially_available_2026_01_15: g.pick(&[None, Some(true), Some(false)]),
    }
}

fn domain_transaction(g: &mut Gen) -> rules::Transaction {
    let optional = |g: &mut Gen| g.rng.random_bool(0.7).then(|| country(g));
    rules::Transaction {
        destination: country(g),
        end_user_hq: optional(g),
        ultimate_parent_hq: optional(g),
        export_type: g.pick(&[
            rules::ExportType::ExportFromUs,
            rules::ExportType::Reexport,
            rules::ExportType::InCountryTransfer,
        ]),
        is_informed_notice_received: g.rng.random_bool(0.2),
        end_user_name: g.rng.random_bool(0.5).then(|| end_user_name(g)),
        end_user_kind: g.pick(&[
            rules::EndUserKind::Unspecified,
            rules::EndUserKind::Government,
            rules::EndUserKind::Commercial,
            rules::EndUserKind::IaasProvider,
        ]),
    }
}

fn date(g: &mut Gen) -> NaiveDate {
    let (low, high) = if g.wild() {
        (NaiveDate::MIN, NaiveDate::MAX)
    } else {
        (
            NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(2028, 1, 1).unwrap(),
        )
    };
    let days = g
        .rng
        .random_range(low.num_days_from_ce()..=high.num_days_from_ce());
    NaiveDate::from_num_days_from_ce_opt(days).unwrap_or(low)
}

// ---------------------------------------------------------------------------
// What each case exercises
// ---------------------------------------------------------------------------

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn non_finite(response: &pb::ClassifyItemResponse) -> bool {
    response.classification.as_ref().is_some_and(|c| {
        !c.tpp.is_finite()
            || [
                c.performance_density,
                c.applicable_die_area_mm2,
                c.memory_bandwidth_density,
            ]
            .iter()
            .any(|v| v.is_some_and(|v| !v.is_finite()))
            || c.tpp_by_precision.iter().any(|p| !p.tpp.is_finite())
    })
}

/// The adapter's whole path, then the conversion and the rules on their own.
fn answer(classifier: &Classifier, request: &pb::ClassifyItemRequest, tally: &mut Tally) {
    match classifier.classify(request, today(), None) {
        Ok(response) => {
            bump(tally, "answered");
            if non_finite(&response) {
                bump(tally, "answered with a non-finite metric");
            }
            let bytes = response.encode_to_vec();
            let back =
                pb::ClassifyItemResponse::decode(bytes.as_slice()).expect("an answer decodes");
            assert_eq!(back.rule_set, response.rule_set);
        }
        Err(status) => bump(
            tally,
            match status.code() {
                tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
                tonic::Code::NotFound => "NOT_FOUND",
                _ => "other error",
            },
        ),
    }
    if let Ok(query) = convert::classify_query(request, Catalog::builtin(), RuleBook::builtin()) {
        let as_of = query.as_of.unwrap_or_else(today);
        let _ = RuleBook::builtin().classify(&query.spec, query.transaction.as_ref(), as_of);
    }
}

fn classifier() -> Classifier {
    Classifier::new(service_kit::metrics::Registry::new())
}

#[test]
fn prost_bytes() {
    let classifier = classifier();
    fuzz_target!("classifier/prost_bytes", |rng, tally| {
        let bytes = noise_or_mutated(rng, 256, |rng| {
            proto_request(&mut Gen::new(rng)).encode_to_vec()
        });
        match pb::ClassifyItemRequest::decode(bytes.as_slice()) {
            Err(_) => bump(tally, "undecodable"),
            Ok(request) => {
                bump(tally, "decoded");
                let again = pb::ClassifyItemRequest::decode(request.encode_to_vec().as_slice())
                    .expect("re-encoded request decodes");
                assert_eq!(
                    again.encode_to_vec(),
                    request.encode_to_vec(),
                    "re-encoding is stable"
                );
                answer(&classifier, &request, tally);
            }
        }
    });
}

#[test]
fn structured_requests() {
    let classifier = classifier();
    fuzz_target!("classifier/structured_requests", |rng, tally| {
        let request = proto_request(&mut Gen::new(rng));
        answer(&classifier, &request, tally);
    });
}

#[test]
fn domain_specs() {
    fuzz_target!("classifier/domain_specs", |rng, tally| {
        let g = &mut Gen::new(rng);
        let spec = domain_spec(g, 0);
        let transaction = g.rng.random_bool(0.8).then(|| domain_transaction(g));
        let as_of = date(g);
        match RuleBook::builtin().classify(&spec, transaction.as_ref(), as_of) {
            Ok(decision) => {
                bump(tally, "classified");
                if let Some(licence) = &decision.license {
                    if licence.status == rules::LicenseStatus::Required {
                        bump(tally, "licence required");
                        assert!(
                            licence.reasons.iter().any(|f| f.holds),
                            "a licence required with no reason that holds: {spec:?} {transaction:?} {as_of}: {:?}",
                            licence.reasons
                        );
                    }
                }
                if !decision.classification.tpp.is_finite() {
                    bump(tally, "classified with a non-finite TPP");
                }
                let response = convert::decision(
                    decision,
                    "fuzz".into(),
                    spec.name.clone(),
                    convert::View::Full,
                );
                let _ = response.encode_to_vec();
            }
            Err(_) => bump(tally, "refused"),
        }
    });
}
