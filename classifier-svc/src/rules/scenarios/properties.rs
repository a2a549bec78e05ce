//! Properties over random finite input.

use super::*;
use proptest::prelude::*;

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
