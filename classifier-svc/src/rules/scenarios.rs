//! The scenarios of reference section 8, and every threshold and date
//! boundary, run through the public API.

use super::metrics::tests::{die, rate, spec};
use super::model::*;
use super::RuleBook;
use chrono::NaiveDate;
use proptest::prelude::*;

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// An area for which `tpp / area` is the double `pd` where one exists (so
/// that "equal to the threshold" tests really are equal), else the closest.
fn area_for(tpp: f64, pd: f64) -> f64 {
    let start = tpp / pd;
    (-8i64..=8)
        .map(|step| f64::from_bits(start.to_bits().wrapping_add_signed(step)))
        .min_by(|a, b| (tpp / a - pd).abs().total_cmp(&(tpp / b - pd).abs()))
        .unwrap_or(start)
}

fn ic(tpp: f64, pd: Option<f64>, market: Market) -> ChipSpec {
    let mut s = spec(
        vec![rate(8, tpp / 8.0)],
        pd.map(|pd| vec![die(area_for(tpp, pd))])
            .unwrap_or_default(),
    );
    s.market = market;
    s
}

fn dc(tpp: f64, pd: Option<f64>) -> ChipSpec {
    ic(tpp, pd, Market::Datacenter)
}

fn h200_class(tpp: f64, dram: f64) -> ChipSpec {
    let mut s = spec(vec![rate(8, tpp / 8.0)], vec![die(814.0)]);
    s.dram_bandwidth_gb_s = Some(dram);
    s.interconnect_bandwidth_gb_s = Some(900.0);
    s.us_commercially_available_2026_01_15 = Some(true);
    s
}

fn h200() -> ChipSpec {
    let mut s = h200_class(0.0, 4800.0);
    s.rates = vec![rate(8, 1978.9), rate(16, 989.4)];
    s.rates[0].format = "FP8".into();
    s
}

fn hbm(mbd: f64) -> ChipSpec {
    let mut s = spec(vec![], vec![]);
    s.kind = ItemKind::HbmStack;
    s.hbm_package_area_mm2 = Some(100.0);
    s.hbm_bandwidth_gb_s = Some(mbd * 100.0);
    s
}

fn tx(dest: &str, export_type: ExportType, hq: [Option<&str>; 2]) -> Transaction {
    Transaction::new(
        dest,
        export_type,
        hq[0].map(String::from),
        hq[1].map(String::from),
    )
}

fn us(dest: &str, hq: &str) -> Transaction {
    tx(dest, ExportType::ExportFromUs, [Some(hq), Some(hq)])
}

fn run(s: &ChipSpec, t: Option<&Transaction>, as_of: &str) -> Decision<'static> {
    RuleBook::builtin()
        .classify(s, t, date(as_of))
        .expect("valid input")
}

fn licence(s: &ChipSpec, t: &Transaction, as_of: &str) -> LicenseDetermination<'static> {
    run(s, Some(t), as_of).license.expect("transaction given")
}

fn paragraphs<'a>(d: &Decision<'a>) -> Vec<&'a str> {
    d.classification.paragraphs_met.clone()
}

fn finding<'a, 'b>(findings: &'a [Finding<'b>], id: &str) -> &'a Finding<'b> {
    findings
        .iter()
        .find(|f| f.rule_id == id)
        .unwrap_or_else(|| panic!("no finding {id} in {findings:#?}"))
}

fn policy_and_status(l: &LicenseDetermination) -> (LicenseStatus, ReviewPolicy) {
    (l.status, l.review_policy)
}

const REQUIRED: LicenseStatus = LicenseStatus::Required;
const DENIAL: ReviewPolicy = ReviewPolicy::PresumptionOfDenial;
const CASE: ReviewPolicy = ReviewPolicy::CaseByCase;
const APPROVAL: ReviewPolicy = ReviewPolicy::PresumptionOfApproval;

#[test]
fn s01_bis_example_600_tops_int8_is_a1() {
    let d = run(&spec(vec![rate(8, 600.0)], vec![]), None, "2024-01-01");
    assert_eq!(d.classification.tpp, 4800.0);
    assert_eq!(d.classification.paragraph, "3A090.a.1");
    assert_eq!(d.classification.eccn, "3A090.a");
    assert_eq!(d.classification.status, ControlStatus::Controlled);
    assert_eq!(
        finding(&d.classification.findings, "eccn.3A090.a.1").explanation,
        "TPP 4800 >= 4800"
    );
}

#[test]
fn s02_s03_performance_density_gives_a2_with_inclusive_bounds() {
    for (tpp, pd) in [(2000.0, 6.0), (1600.0, 5.92)] {
        let d = run(&dc(tpp, Some(pd)), None, "2026-02-01");
        assert_eq!(paragraphs(&d), ["3A090.a.2"], "{tpp} {pd}");
    }
}

#[test]
fn s04_non_datacenter_below_4800_is_outside_by_note_2() {
    let d = run(
        &ic(4700.0, Some(7.7), Market::NonDatacenter),
        None,
        "2026-02-01",
    );
    assert_eq!(d.classification.status, ControlStatus::NotControlled);
    assert!(paragraphs(&d).is_empty());
    assert!(finding(&d.classification.findings, "eccn.note2").holds);
}

#[test]
fn s05_non_datacenter_5285_is_a1_and_nac_aca_eligible() {
    let chip = ic(5285.0, None, Market::NonDatacenter);
    let d = run(&chip, None, "2026-02-01");
    assert_eq!(paragraphs(&d), ["3A090.a.1"]);
    assert_eq!(d.classification.eligible_license_exceptions, ["NAC", "ACA"]);

    let to_china = licence(&chip, &us("CN", "CN"), "2026-02-01");
    assert_eq!(to_china.status, REQUIRED);
    let nac = &to_china.license_exceptions;
    assert_eq!(
        (
            nac.len(),
            nac[0].code,
            nac[0].notification_review_days,
            nac[0].aes_code
        ),
        (1, "NAC", 25, "C67")
    );
    assert!(nac[0].prior_notification_required);

    let to_saudi = licence(&chip, &us("SA", "SA"), "2026-02-01");
    let aca = &to_saudi.license_exceptions;
    assert_eq!((aca.len(), aca[0].code, aca[0].aes_code), (1, "ACA", "C68"));
    assert!(!aca[0].prior_notification_required);
}

#[test]
fn s06_s07_b_paragraphs() {
    assert_eq!(
        paragraphs(&run(&dc(2600.0, Some(3.0)), None, "2026-02-01")),
        ["3A090.b.1"]
    );
    assert_eq!(
        paragraphs(&run(&dc(2000.0, Some(3.5)), None, "2026-02-01")),
        ["3A090.b.2"]
    );
}

#[test]
fn s08_h20_class_is_outside_and_needs_a_licence_only_via_the_is_informed_overlay() {
    let mut h20 = dc(2368.0, Some(2.9));
    h20.dram_bandwidth_gb_s = Some(4000.0);
    h20.interconnect_bandwidth_gb_s = Some(900.0);
    let d = run(&h20, None, "2025-06-01");
    assert_eq!(d.classification.status, ControlStatus::NotControlled);

    let plain = licence(&h20, &us("CN", "CN"), "2025-06-01");
    assert_eq!(plain.status, LicenseStatus::NotRequired);
    assert!(plain.reported_requirements.is_empty());

    let mut informed = us("CN", "CN");
    informed.is_informed_notice_received = true;
    let l = licence(&h20, &informed, "2025-06-01");
    assert_eq!(l.status, REQUIRED);
    let r = finding(&l.reported_requirements, "overlay.is_informed");
    assert!(r.holds && r.source == SourceTag::Unconfirmed);
    assert!(
        r.explanation.contains("reported, not codified"),
        "{}",
        r.explanation
    );
    assert!(run(&h20, Some(&informed), "2025-06-01")
        .classification
        .eccn
        .is_empty());

    // Before the notices, and outside China/Macau/D:5, nothing is reported.
    assert_eq!(
        licence(&h20, &informed, "2025-04-08").status,
        LicenseStatus::NotRequired
    );
    let mut to_japan = informed.clone();
    to_japan.destination = "JP".into();
    assert_eq!(
        licence(&h20, &to_japan, "2025-06-01").status,
        LicenseStatus::NotRequired
    );
}

#[test]
fn s09_unknown_area_is_indeterminate_with_the_open_test_named() {
    let d = run(&dc(2000.0, None), None, "2026-02-01");
    assert_eq!(d.classification.status, ControlStatus::Indeterminate);
    assert!(
        d.classification.open_tests[0].contains("spec.dies"),
        "{:?}",
        d.classification.open_tests
    );
}

#[test]
fn s10_s11_a800_class_escapes_2022_but_not_2023() {
    let mut a800 = spec(vec![rate(8, 624.0), rate(16, 312.0)], vec![die(826.0)]);
    a800.interconnect_bandwidth_gb_s = Some(400.0);
    let d = run(&a800, None, "2023-06-01");
    assert_eq!(
        (d.rule_set, d.classification.status),
        ("V2022", ControlStatus::NotControlled)
    );
    assert_eq!(
        finding(&d.classification.findings, "eccn.3A090.a.2022").explanation,
        "I/O 400 < 600 GB/s and TPP 4992 >= 4800"
    );
    let d = run(&a800, None, "2024-01-01");
    assert_eq!(
        (d.rule_set, d.classification.paragraph),
        ("V2023", "3A090.a.1")
    );
    assert_eq!(paragraphs(&d), ["3A090.a.1", "3A090.a.2"]);
}

#[test]
fn s12_hbm_at_exactly_2_is_not_3a090c() {
    let d = run(&hbm(2.0), None, "2025-01-01");
    assert_eq!(d.classification.status, ControlStatus::NotControlled);
    assert_eq!(
        finding(&d.classification.findings, "eccn.3A090.c").explanation,
        "MBD 2 <= 2"
    );
}

#[test]
fn s13_h200_to_china_or_hong_kong_in_2025_is_denial() {
    for dest in ["CN", "HK"] {
        let d = run(&h200(), Some(&us(dest, "CN")), "2025-06-01");
        assert_eq!(d.classification.paragraph, "3A090.a.1");
        let l = d.license.unwrap();
        assert_eq!(policy_and_status(&l), (REQUIRED, DENIAL), "{dest}");
        assert_eq!(l.normalized_destination, "CN");
    }
}

#[test]
fn s14_h200_export_from_us_in_2026_is_case_by_case_with_conditions() {
    let d = run(&h200(), Some(&us("CN", "CN")), "2026-02-01");
    assert_eq!(d.rule_set, "V2026a");
    assert!((d.classification.tpp - 15831.2).abs() < 1e-6);
    let l = d.license.unwrap();
    assert_eq!(policy_and_status(&l), (REQUIRED, CASE));
    // Para. (dd)'s conditions as corrected (7), and the IaaS limits (2),
    // since the end user's kind is not given.
    assert_eq!(l.conditions.len(), 9);
    let f = finding(&l.reasons, "policy.fr26_case_by_case");
    assert!(f.holds);
    assert!(
        f.explanation
            .starts_with("TPP 15831.2 < 21000, DRAM bandwidth 4800 < 6500 GB/s"),
        "{}",
        f.explanation
    );
    // Macau and Hong Kong take the same route.
    for dest in ["MO", "HK"] {
        assert_eq!(
            policy_and_status(&licence(&h200(), &us(dest, dest), "2026-02-01")),
            (REQUIRED, CASE),
            "{dest}"
        );
    }
}

#[test]
fn s15_reexport_or_in_country_transfer_stays_denial() {
    for route in [ExportType::Reexport, ExportType::InCountryTransfer] {
        let l = licence(
            &h200(),
            &tx("CN", route, [Some("CN"), Some("CN")]),
            "2026-02-01",
        );
        assert_eq!(policy_and_status(&l), (REQUIRED, DENIAL), "{route:?}");
        assert!(finding(&l.reasons, "policy.fr26_route").holds);
    }
}

#[test]
fn s16_b200_class_above_21000_stays_denial() {
    let l = licence(&h200_class(36000.0, 8000.0), &us("CN", "CN"), "2026-02-01");
    assert_eq!(policy_and_status(&l), (REQUIRED, DENIAL));
    assert!(!finding(&l.reasons, "policy.fr26_case_by_case").holds);
}

#[test]
fn s17_germany_needs_no_licence_and_is_tier_1_information() {
    let d = run(&h200(), Some(&us("DE", "DE")), "2026-02-01");
    assert_eq!(
        d.license.as_ref().unwrap().status,
        LicenseStatus::NotRequired
    );
    let info = finding(&d.information, "info.ai_diffusion");
    assert!(
        !info.holds && info.explanation.starts_with("DE: AI Diffusion Tier 1"),
        "{}",
        info.explanation
    );
}

#[test]
fn s18_german_entity_with_chinese_parent_needs_a_licence_denial() {
    let t = tx("DE", ExportType::ExportFromUs, [Some("DE"), Some("CN")]);
    let l = licence(&h200(), &t, "2026-02-01");
    assert_eq!(policy_and_status(&l), (REQUIRED, DENIAL));
    assert!(finding(&l.reasons, "hq.d5_macau").holds);
    assert!(finding(&l.reasons, "policy.hq_party_denial").holds);
    // Before V2026a the 2023 description (case-by-case) applies, with the conflict noted.
    let d = run(&h200(), Some(&t), "2025-06-01");
    assert_eq!(
        policy_and_status(d.license.as_ref().unwrap()),
        (REQUIRED, CASE)
    );
    assert!(
        d.warnings.iter().any(|w| w.contains("conflict")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn s19_saudi_arabia_is_presumption_of_approval() {
    let l = licence(&h200(), &us("SA", "SA"), "2026-02-01");
    assert_eq!(policy_and_status(&l), (REQUIRED, APPROVAL));
}

#[test]
fn s20_israel_is_carved_out_by_a6() {
    let l = licence(&h200(), &us("IL", "IL"), "2026-02-01");
    assert_eq!(l.status, LicenseStatus::NotRequired);
    assert!(!finding(&l.reasons, "dest.country_scope").holds);
}

#[test]
fn unknown_headquarters_is_indeterminate_only_where_it_matters() {
    let none = |dest: &str| tx(dest, ExportType::ExportFromUs, [None, None]);
    // Germany: a D:5-headquartered party would need a licence.
    assert_eq!(
        policy_and_status(&licence(&h200(), &none("DE"), "2026-02-01")),
        (LicenseStatus::Indeterminate, ReviewPolicy::Indeterminate)
    );
    // Saudi Arabia: licence either way, but the policy depends on it.
    assert_eq!(
        policy_and_status(&licence(&h200(), &none("SA"), "2026-02-01")),
        (REQUIRED, ReviewPolicy::Indeterminate)
    );
    // China: denial either way before the overlay.
    assert_eq!(
        policy_and_status(&licence(&h200(), &none("CN"), "2025-06-01")),
        (REQUIRED, DENIAL)
    );
    // Under the overlay the headquarters become a condition.
    let l = licence(&h200(), &none("CN"), "2026-02-01");
    assert_eq!(
        (policy_and_status(&l), l.conditions.len()),
        ((REQUIRED, CASE), 10)
    );
    // An item outside 3A090 never depends on it.
    assert_eq!(
        licence(&dc(1000.0, Some(1.0)), &none("DE"), "2026-02-01").status,
        LicenseStatus::NotRequired
    );
    // Under V2022 there is no headquarters rule.
    assert_eq!(
        licence(&h200(), &none("DE"), "2023-06-01").status,
        LicenseStatus::NotRequired
    );
}

#[test]
fn russian_parented_end_user_in_china_keeps_denial_under_the_overlay() {
    let t = tx("CN", ExportType::ExportFromUs, [Some("CN"), Some("RU")]);
    assert_eq!(
        policy_and_status(&licence(&h200(), &t, "2026-02-01")),
        (REQUIRED, DENIAL)
    );
}

#[test]
fn overlay_needs_known_dram_bandwidth_and_us_availability() {
    let mut no_dram = h200();
    no_dram.dram_bandwidth_gb_s = None;
    let mut unavailable = h200();
    unavailable.us_commercially_available_2026_01_15 = Some(false);
    let mut unknown = h200();
    unknown.us_commercially_available_2026_01_15 = None;
    for (chip, text) in [
        (no_dram, "DRAM bandwidth unknown"),
        (unavailable, "not commercially available"),
        (unknown, "availability unknown"),
    ] {
        let l = licence(&chip, &us("CN", "CN"), "2026-02-01");
        assert_eq!(policy_and_status(&l), (REQUIRED, DENIAL), "{text}");
        assert!(
            finding(&l.reasons, "policy.fr26_case_by_case")
                .explanation
                .contains(text),
            "{text}"
        );
    }
}

#[test]
fn fr26_thresholds_are_strict() {
    for (tpp, dram, policy) in [
        (20999.99, 4800.0, CASE),
        (21000.0, 4800.0, DENIAL),
        (21000.01, 4800.0, DENIAL),
        (15000.0, 6499.99, CASE),
        (15000.0, 6500.0, DENIAL),
        (15000.0, 6500.01, DENIAL),
    ] {
        let l = licence(&h200_class(tpp, dram), &us("CN", "CN"), "2026-02-01");
        assert_eq!(policy_and_status(&l), (REQUIRED, policy), "{tpp} {dram}");
    }
}

#[test]
fn eccn_thresholds_below_at_and_above() {
    let dcm = Market::Datacenter;
    let non = Market::NonDatacenter;
    #[rustfmt::skip]
    type Row = (f64, Option<f64>, Market, &'static [&'static str], ControlStatus);
    let table: &[Row] = &[
        // a.1 at 4800
        (4799.99, Some(1.0), dcm, &[], ControlStatus::NotControlled),
        (
            4800.0,
            Some(1.0),
            dcm,
            &["3A090.a.1"],
            ControlStatus::Controlled,
        ),
        (
            4800.01,
            Some(1.0),
            dcm,
            &["3A090.a.1"],
            ControlStatus::Controlled,
        ),
        // a.2 TPP at 1600 (PD 6)
        (1599.99, Some(6.0), dcm, &[], ControlStatus::NotControlled),
        (
            1600.0,
            Some(6.0),
            dcm,
            &["3A090.a.2"],
            ControlStatus::Controlled,
        ),
        (
            1600.01,
            Some(6.0),
            dcm,
            &["3A090.a.2"],
            ControlStatus::Controlled,
        ),
        // a.2 PD at 5.92 (TPP 2000)
        (
            2000.0,
            Some(5.9199),
            dcm,
            &["3A090.b.2"],
            ControlStatus::Controlled,
        ),
        (
            2000.0,
            Some(5.92),
            dcm,
            &["3A090.a.2"],
            ControlStatus::Controlled,
        ),
        (
            2000.0,
            Some(5.9201),
            dcm,
            &["3A090.a.2"],
            ControlStatus::Controlled,
        ),
        // b.1 TPP at 2400 (PD 2)
        (2399.99, Some(2.0), dcm, &[], ControlStatus::NotControlled),
        (
            2400.0,
            Some(2.0),
            dcm,
            &["3A090.b.1"],
            ControlStatus::Controlled,
        ),
        (
            2400.01,
            Some(2.0),
            dcm,
            &["3A090.b.1"],
            ControlStatus::Controlled,
        ),
        // b.1 upper TPP bound: 4800 is .a
        (
            4799.99,
            Some(2.0),
            dcm,
            &["3A090.b.1"],
            ControlStatus::Controlled,
        ),
        (
            4800.0,
            Some(2.0),
            dcm,
            &["3A090.a.1"],
            ControlStatus::Controlled,
        ),
        // b.1 PD at 1.6 (TPP 3000)
        (3000.0, Some(1.5999), dcm, &[], ControlStatus::NotControlled),
        (
            3000.0,
            Some(1.6),
            dcm,
            &["3A090.b.1"],
            ControlStatus::Controlled,
        ),
        (
            3000.0,
            Some(1.6001),
            dcm,
            &["3A090.b.1"],
            ControlStatus::Controlled,
        ),
        // b.2 PD at 3.2 (TPP 2000)
        (2000.0, Some(3.1999), dcm, &[], ControlStatus::NotControlled),
        (
            2000.0,
            Some(3.2),
            dcm,
            &["3A090.b.2"],
            ControlStatus::Controlled,
        ),
        (
            2000.0,
            Some(3.2001),
            dcm,
            &["3A090.b.2"],
            ControlStatus::Controlled,
        ),
        // b.1 and b.2 together, and the .b/.a PD boundary at 5.92 (TPP 3000)
        (
            3000.0,
            Some(4.0),
            dcm,
            &["3A090.b.1", "3A090.b.2"],
            ControlStatus::Controlled,
        ),
        (
            3000.0,
            Some(5.9199),
            dcm,
            &["3A090.b.1", "3A090.b.2"],
            ControlStatus::Controlled,
        ),
        (
            3000.0,
            Some(5.92),
            dcm,
            &["3A090.a.2"],
            ControlStatus::Controlled,
        ),
        // PD needed only in [1600, 4800)
        (1599.99, None, dcm, &[], ControlStatus::NotControlled),
        (1600.0, None, dcm, &[], ControlStatus::Indeterminate),
        (4799.99, None, dcm, &[], ControlStatus::Indeterminate),
        (4800.0, None, dcm, &["3A090.a.1"], ControlStatus::Controlled),
        // Note 2 at 4800
        (4799.99, Some(9.0), non, &[], ControlStatus::NotControlled),
        (
            4800.0,
            Some(9.0),
            non,
            &["3A090.a.1", "3A090.a.2"],
            ControlStatus::Controlled,
        ),
        (
            4800.01,
            None,
            non,
            &["3A090.a.1"],
            ControlStatus::Controlled,
        ),
        (3000.0, Some(4.0), non, &[], ControlStatus::NotControlled),
        // Unspecified market is treated as datacenter
        (
            3000.0,
            Some(4.0),
            Market::Unspecified,
            &["3A090.b.1", "3A090.b.2"],
            ControlStatus::Controlled,
        ),
    ];
    for (tpp, pd, market, want, status) in table {
        let d = run(&ic(*tpp, *pd, *market), None, "2026-02-01");
        assert_eq!(
            (paragraphs(&d), d.classification.status),
            (want.to_vec(), *status),
            "TPP {tpp} PD {pd:?} {market:?}"
        );
        assert_eq!(
            d.classification.market_assumed_datacenter,
            *market == Market::Unspecified
        );
    }
}

#[test]
fn unspecified_market_is_assumed_datacenter_with_a_warning() {
    let d = run(
        &ic(3000.0, Some(4.0), Market::Unspecified),
        None,
        "2026-02-01",
    );
    assert!(d.classification.market_assumed_datacenter);
    assert!(
        d.warnings.iter().any(|w| w.contains("market not given")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn io_threshold_of_the_2022_test() {
    for (io, status) in [
        (Some(599.99), ControlStatus::NotControlled),
        (Some(600.0), ControlStatus::Controlled),
        (Some(600.01), ControlStatus::Controlled),
        (None, ControlStatus::Indeterminate),
    ] {
        let mut s = spec(vec![rate(8, 624.0)], vec![]);
        s.interconnect_bandwidth_gb_s = io;
        let d = run(&s, None, "2023-06-01");
        assert_eq!(d.classification.status, status, "{io:?}");
        if status == ControlStatus::Controlled {
            assert_eq!(d.classification.paragraph, "3A090.a");
        }
    }
    // Below 4800 the I/O does not matter, even unknown.
    let d = run(&spec(vec![rate(8, 500.0)], vec![]), None, "2023-06-01");
    assert_eq!(d.classification.status, ControlStatus::NotControlled);
}

#[test]
fn hbm_thresholds_and_exception() {
    for (mbd, as_of, status, exceptions) in [
        (1.9999, "2025-01-01", ControlStatus::NotControlled, vec![]),
        (2.0, "2025-01-01", ControlStatus::NotControlled, vec![]),
        (2.0001, "2025-01-01", ControlStatus::Controlled, vec!["HBM"]),
        (3.2999, "2025-01-01", ControlStatus::Controlled, vec!["HBM"]),
        (3.3, "2025-01-01", ControlStatus::Controlled, vec![]),
        (9.0, "2024-12-01", ControlStatus::NotControlled, vec![]),
        (9.0, "2024-12-02", ControlStatus::Controlled, vec![]),
    ] {
        let d = run(&hbm(mbd), None, as_of);
        assert_eq!(d.classification.status, status, "{mbd} {as_of}");
        assert_eq!(
            d.classification.eligible_license_exceptions, exceptions,
            "{mbd} {as_of}"
        );
    }
    let d = run(&hbm(9.0), Some(&us("CN", "CN")), "2025-06-01");
    assert_eq!(d.classification.paragraph, "3A090.c");
    assert!(d.warnings.iter().any(|w| w.contains("NAC/ACA")));
    assert_eq!(d.license.unwrap().status, LicenseStatus::Indeterminate);
    assert!(d
        .not_evaluated
        .iter()
        .any(|n| n.contains("3A090.c licence scope")));
    let mut unknown = hbm(9.0);
    unknown.hbm_bandwidth_gb_s = None;
    assert_eq!(
        run(&unknown, None, "2025-06-01").classification.status,
        ControlStatus::Indeterminate
    );
    assert_eq!(
        run(&unknown, None, "2024-06-01").classification.status,
        ControlStatus::NotControlled
    );
}

#[test]
fn date_boundaries() {
    let a = h200();
    let nac_item = ic(5285.0, None, Market::NonDatacenter);
    let b_item = dc(2600.0, Some(3.0));
    let v2022_item = {
        let mut s = spec(vec![rate(8, 624.0)], vec![]);
        s.interconnect_bandwidth_gb_s = Some(600.0);
        s
    };
    let codes = |l: &LicenseDetermination<'static>| {
        l.license_exceptions
            .iter()
            .map(|e| e.code)
            .collect::<Vec<_>>()
    };

    let before = run(&a, Some(&us("CN", "CN")), "2022-10-06");
    assert_eq!(
        (before.rule_set, before.classification.status),
        ("NONE", ControlStatus::NotInForce)
    );
    assert_eq!(before.license.unwrap().status, LicenseStatus::NotRequired);
    assert_eq!(
        run(&v2022_item, Some(&us("CN", "CN")), "2022-10-07")
            .license
            .unwrap()
            .status,
        REQUIRED
    );

    // Macau joins the 2022 scope on 2023-01-17.
    assert_eq!(
        licence(&v2022_item, &us("MO", "MO"), "2023-01-16").status,
        LicenseStatus::NotRequired
    );
    assert_eq!(
        licence(&v2022_item, &us("MO", "MO"), "2023-01-17").status,
        REQUIRED
    );

    // 2023-11-17: TPP/PD tests and the D-group scope.
    assert_eq!(
        licence(&v2022_item, &us("SA", "SA"), "2023-11-16").status,
        LicenseStatus::NotRequired
    );
    assert_eq!(
        policy_and_status(&licence(&v2022_item, &us("SA", "SA"), "2023-11-17")),
        (REQUIRED, APPROVAL)
    );

    // 2024-04-04: NAC splits into NAC and ACA; case-by-case for .b to D:5.
    assert_eq!(
        codes(&licence(&nac_item, &us("SA", "SA"), "2024-04-03")),
        ["NAC"]
    );
    assert_eq!(
        codes(&licence(&nac_item, &us("SA", "SA"), "2024-04-04")),
        ["ACA"]
    );
    assert_eq!(
        policy_and_status(&licence(&b_item, &us("CN", "CN"), "2024-04-03")),
        (REQUIRED, DENIAL)
    );
    assert_eq!(
        policy_and_status(&licence(&b_item, &us("CN", "CN"), "2024-04-04")),
        (REQUIRED, CASE)
    );

    // 2026-01-15: the overlay.
    assert_eq!(
        policy_and_status(&licence(&a, &us("CN", "CN"), "2026-01-14")),
        (REQUIRED, DENIAL)
    );
    assert_eq!(
        policy_and_status(&licence(&a, &us("CN", "CN"), "2026-01-15")),
        (REQUIRED, CASE)
    );

    // 2026-02-03: Cambodia leaves D:5 but stays in D:1.
    assert_eq!(
        policy_and_status(&licence(&a, &us("KH", "KH"), "2026-02-02")),
        (REQUIRED, DENIAL)
    );
    assert_eq!(
        policy_and_status(&licence(&a, &us("KH", "KH"), "2026-02-03")),
        (REQUIRED, APPROVAL)
    );
}

#[test]
fn in_country_transfer_within_d5_uses_aca() {
    let item = ic(5285.0, None, Market::NonDatacenter);
    let t = tx(
        "CN",
        ExportType::InCountryTransfer,
        [Some("CN"), Some("CN")],
    );
    let l = licence(&item, &t, "2026-02-01");
    assert_eq!(
        l.license_exceptions
            .iter()
            .map(|e| e.code)
            .collect::<Vec<_>>(),
        ["ACA"]
    );
}

#[test]
fn datacenter_a_is_never_exception_eligible() {
    let d = run(&h200(), Some(&us("SA", "SA")), "2026-02-01");
    assert!(d.classification.eligible_license_exceptions.is_empty());
    assert!(d.license.unwrap().license_exceptions.is_empty());
}

#[test]
fn assemblies_map_to_4a090() {
    let board = |ics: Vec<ContainedIc>| {
        let mut s = spec(vec![], vec![]);
        s.kind = ItemKind::ComputerOrAssembly;
        s.contained_ics = ics;
        s
    };
    let eight = board(vec![ContainedIc {
        spec: h200(),
        count: 8,
    }]);
    let d = run(&eight, Some(&us("CN", "CN")), "2026-02-01");
    assert_eq!(
        (d.classification.eccn, d.classification.paragraph),
        ("4A090.a", "4A090.a")
    );
    assert!(finding(&d.classification.findings, "eccn.3A090.a.1")
        .explanation
        .starts_with("contained IC 'test' x8: TPP"));
    assert_eq!(
        policy_and_status(d.license.as_ref().unwrap()),
        (REQUIRED, CASE),
        "the overlay is per chip"
    );

    let b = run(
        &board(vec![ContainedIc {
            spec: dc(2600.0, Some(3.0)),
            count: 4,
        }]),
        None,
        "2026-02-01",
    );
    assert_eq!(b.classification.paragraph, "4A090.b");
    let mixed = board(vec![
        ContainedIc {
            spec: dc(2600.0, Some(3.0)),
            count: 4,
        },
        ContainedIc {
            spec: dc(2000.0, None),
            count: 1,
        },
    ]);
    assert_eq!(
        run(&mixed, None, "2026-02-01").classification.status,
        ControlStatus::Indeterminate
    );

    let mut aggregated = dc(36000.0, None);
    aggregated.kind = ItemKind::ComputerOrAssembly;
    let d = run(&aggregated, None, "2026-02-01");
    assert_eq!(d.classification.paragraph, "4A090.a");
    assert!(d.warnings.iter().any(|w| w.contains("aggregated")));
}

#[test]
fn multi_die_input_is_flagged() {
    let d = run(
        &spec(vec![rate(8, 1000.0)], vec![die(100.0), die(200.0)]),
        None,
        "2026-02-01",
    );
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("multi-die") && w.contains("300 mm2")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn not_evaluated_is_always_listed() {
    let d = run(&h200(), Some(&us("DE", "DE")), "2026-02-01");
    for needle in [
        "Entity List",
        "744.23",
        "Other ECCNs",
        "Embargoes",
        "Note 3",
        "Note 1 to 3A090.a",
    ] {
        assert!(
            d.not_evaluated.iter().any(|n| n.contains(needle)),
            "{needle}: {:?}",
            d.not_evaluated
        );
    }
    let early = run(&h200(), None, "2021-01-01");
    assert!(early
        .not_evaluated
        .iter()
        .any(|n| n.contains("Entity List")));
}

#[test]
fn every_finding_carries_its_rule_data() {
    let d = run(&h200(), Some(&us("HK", "CN")), "2026-02-01");
    let all = d
        .classification
        .findings
        .iter()
        .chain(&d.license.as_ref().unwrap().reasons)
        .chain(&d.information);
    for f in all {
        assert!(
            !f.rule_id.is_empty() && !f.citation.is_empty() && !f.explanation.is_empty(),
            "{f:?}"
        );
    }
    assert!(finding(&d.license.unwrap().reasons, "dest.hk_as_cn").holds);
}

#[test]
fn rule_sets_and_snapshots_are_listed_in_date_order() {
    let book = RuleBook::builtin();
    let ids: Vec<String> = book.rule_sets().into_iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        ["V2022", "V2023", "V2024a", "V2024b", "V2025a", "V2025b", "V2026a", "V2026b"]
    );
    assert_eq!(
        book.country_group_snapshots(),
        [
            "CG2023 effective 2023-11-17",
            "CG2026 effective 2026-02-03",
            "CG2026b effective 2026-07-10"
        ]
    );
    assert!(book.is_known_country("MO") && !book.is_known_country("XK"));
}

fn any_market() -> impl Strategy<Value = Market> {
    prop_oneof![
        Just(Market::Unspecified),
        Just(Market::Datacenter),
        Just(Market::NonDatacenter)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn classification_never_panics_on_finite_input(
        rates in proptest::collection::vec((1u32..=64, 1e-6f64..1e9), 0..4),
        areas in proptest::collection::vec((1e-3f64..1e5, any::<bool>(), any::<bool>()), 0..4),
        kind in 0u8..3,
        market in any_market(),
        dram in proptest::option::of(0.0f64..1e5),
        io in proptest::option::of(0.0f64..1e5),
        hbm in proptest::option::of((1e-3f64..1e5, 1e-3f64..1e4)),
        available in proptest::option::of(any::<bool>()),
        days in 0i64..4000,
        dest in prop_oneof![Just("CN"), Just("HK"), Just("MO"), Just("DE"), Just("SA"), Just("IL"), Just("KH"), Just("RU"), Just("US"), Just("AE")],
        hq in proptest::option::of(prop_oneof![Just("CN"), Just("DE"), Just("RU")]),
        route in prop_oneof![Just(ExportType::ExportFromUs), Just(ExportType::Reexport), Just(ExportType::InCountryTransfer)],
        informed in any::<bool>(),
    ) {
        let mut s = spec(rates.iter().map(|(b, t)| rate(*b, *t)).collect(), vec![]);
        s.dies = areas.iter().map(|(a, n, m)| Die { area_mm2: *a, non_planar: *n, memory: *m }).collect();
        s.kind = [ItemKind::IntegratedCircuit, ItemKind::ComputerOrAssembly, ItemKind::HbmStack][usize::from(kind)];
        s.market = market;
        s.dram_bandwidth_gb_s = dram;
        s.interconnect_bandwidth_gb_s = io;
        s.hbm_bandwidth_gb_s = hbm.map(|h| h.0);
        s.hbm_package_area_mm2 = hbm.map(|h| h.1);
        s.us_commercially_available_2026_01_15 = available;
        if s.kind == ItemKind::ComputerOrAssembly && !s.rates.is_empty() && kind % 2 == 1 {
            let inner = { let mut i = s.clone(); i.kind = ItemKind::IntegratedCircuit; i };
            s.contained_ics = vec![ContainedIc { spec: inner, count: 3 }];
        }
        let mut t = tx(dest, route, [hq, None]);
        t.is_informed_notice_received = informed;
        let as_of = date("2021-06-01") + chrono::Duration::days(days);
        let result = RuleBook::builtin().classify(&s, Some(&t), as_of);
        let needs_rates = s.rates.is_empty() && s.kind != ItemKind::HbmStack;
        let duplicate = rates.iter().enumerate().any(|(i, r)| rates[..i].iter().any(|o| o.0 == r.0));
        prop_assert_eq!(result.is_err(), needs_rates || duplicate);
    }

    #[test]
    fn paragraphs_are_consistent_with_thresholds(tpp in 1.0f64..10000.0, pd in proptest::option::of(0.1f64..12.0), market in any_market()) {
        let mut s = spec(vec![rate(8, tpp / 8.0)], pd.map(|pd| vec![die(tpp / pd)]).unwrap_or_default());
        s.market = market;
        let c = run(&s, None, "2026-02-01").classification;
        let tpp = c.tpp;
        let pd = c.performance_density;
        let met = |p: &str| c.paragraphs_met.contains(&p);
        prop_assert_eq!(met("3A090.a.1"), tpp >= 4800.0);
        prop_assert_eq!(met("3A090.a.2"), (market != Market::NonDatacenter || tpp >= 4800.0) && tpp >= 1600.0 && pd.is_some_and(|pd| pd >= 5.92));
        let a = met("3A090.a.1") || met("3A090.a.2");
        let b = met("3A090.b.1") || met("3A090.b.2");
        prop_assert!(!(a && b));
        if met("3A090.b.1") {
            let pd = pd.unwrap();
            prop_assert!((2400.0..4800.0).contains(&tpp) && (1.6..5.92).contains(&pd));
        }
        if met("3A090.b.2") {
            let pd = pd.unwrap();
            prop_assert!(tpp >= 1600.0 && (3.2..5.92).contains(&pd));
        }
        if market == Market::NonDatacenter {
            prop_assert!(!b, "Note 2: a non-datacenter part is never .b");
        }
        prop_assert_eq!(c.status == ControlStatus::Controlled, a || b);
        prop_assert_eq!(c.status == ControlStatus::Indeterminate, !a && !b && pd.is_none() && market != Market::NonDatacenter && (1600.0..4800.0).contains(&tpp));
    }
}
