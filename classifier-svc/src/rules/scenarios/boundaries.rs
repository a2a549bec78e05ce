//! Date boundaries of every vintage, assemblies, multi-die input, and what
//! every answer lists.

use super::*;

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

    // 2024-04-04: NAC splits into NAC and ACA.
    assert_eq!(
        codes(&licence(&nac_item, &us("SA", "SA"), "2024-04-03")),
        ["NAC"]
    );
    assert_eq!(
        codes(&licence(&nac_item, &us("SA", "SA"), "2024-04-04")),
        ["ACA"]
    );

    // The licence's status and policy for an item to a destination (whose
    // headquarters are there too) on a day.
    for (item, dest, day, want) in [
        // 2023-11-17: the D-group scope.
        (&v2022_item, "SA", "2023-11-17", (REQUIRED, APPROVAL)),
        // 2024-04-04: case-by-case for .b to D:5.
        (&b_item, "CN", "2024-04-03", (REQUIRED, DENIAL)),
        (&b_item, "CN", "2024-04-04", (REQUIRED, CASE)),
        // 2026-01-15: the overlay.
        (&a, "CN", "2026-01-14", (REQUIRED, DENIAL)),
        (&a, "CN", "2026-01-15", (REQUIRED, CASE)),
        // 2026-02-03: Cambodia leaves D:5 but stays in D:1.
        (&a, "KH", "2026-02-02", (REQUIRED, DENIAL)),
        (&a, "KH", "2026-02-03", (REQUIRED, APPROVAL)),
    ] {
        let l = licence(item, &us(dest, dest), day);
        assert_eq!(policy_and_status(&l), want, "to {dest} on {day}");
    }
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
    let one = run(&h200(), None, "2026-02-01").classification;
    assert_eq!((one.ics_per_unit, one.tpp_per_unit), (1, one.tpp));
    assert_eq!(
        (d.classification.ics_per_unit, d.classification.tpp_per_unit),
        (8, 8.0 * one.tpp),
        "a unit of the board is eight H200s to a licence's caps"
    );
    assert_eq!(d.classification.tpp, one.tpp, "the metrics are one IC's");

    // Uncontrolled ICs beside the controlled ones are not counted; an
    // assembly of uncontrolled ICs only counts them all.
    let small = || dc(100.0, None);
    let with_controller = board(vec![
        ContainedIc {
            spec: h200(),
            count: 8,
        },
        ContainedIc {
            spec: small(),
            count: 2,
        },
    ]);
    let c = run(&with_controller, None, "2026-02-01").classification;
    assert_eq!((c.ics_per_unit, c.tpp_per_unit), (8, 8.0 * one.tpp));
    let c = run(
        &board(vec![ContainedIc {
            spec: small(),
            count: 3,
        }]),
        None,
        "2026-02-01",
    )
    .classification;
    assert_eq!(c.status, ControlStatus::NotControlled);
    assert_eq!((c.ics_per_unit, c.tpp_per_unit), (3, 300.0));

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
    assert_warns(&d, "aggregated");
    assert_eq!(
        (d.classification.ics_per_unit, d.classification.tpp_per_unit),
        (1, 36000.0),
        "aggregated figures are one unit's"
    );
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
