//! Every ECCN threshold below, at and above its limit, the market
//! assumption, the 2022 I/O test and the HBM thresholds.

use super::*;

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
    assert_warns(&d, "market not given");
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
    assert_warns(&d, "NAC/ACA");
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
