//! The scenarios of reference section 8 (s01 to s20), and the
//! headquarters and January 2026 overlay cases around them.

use super::*;

#[test]
fn s01_bis_example_600_tops_int8_is_a1() {
    let d = run(&spec(vec![rate(8, 600.0)], vec![]), None, "2024-01-01");
    assert_eq!(d.classification.tpp, 4800.0);
    assert_eq!(d.classification.paragraph, "3A090.a.1");
    assert_eq!(d.classification.eccn, "3A090.a");
    assert_eq!(d.classification.status, ControlStatus::Controlled);
    assert_eq!(explanation(&d, "eccn.3A090.a.1"), "TPP 4800 >= 4800");
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
        explanation(&d, "eccn.3A090.a.2022"),
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
    assert_eq!(explanation(&d, "eccn.3A090.c"), "MBD 2 <= 2");
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
    assert_warns(&d, "conflict");
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
