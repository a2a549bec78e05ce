//! TPP, performance density and memory bandwidth density.

use super::model::{ChipSpec, PrecisionTpp};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Metrics {
    pub tpp: f64,
    /// Bit length of the precision giving the highest TPP; 0 without rates.
    pub bit_length: u32,
    /// Index into `spec.rates` of the winning rate.
    pub winner: Option<usize>,
    pub by_precision: Vec<PrecisionTpp>,
    pub applicable_area: Option<f64>,
    pub pd: Option<f64>,
    pub logic_dies: usize,
}

/// TPP is the highest dense TOPS x bit length over the precisions given, never
/// halved; ties keep the first rate listed.
pub(crate) fn compute(spec: &ChipSpec) -> Metrics {
    let by_precision: Vec<PrecisionTpp> = spec
        .rates
        .iter()
        .map(|r| PrecisionTpp {
            bit_length: r.bit_length,
            format: r.format.clone(),
            tpp: r.dense_tops * f64::from(r.bit_length),
        })
        .collect();
    let winner = by_precision
        .iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f64)>, (i, p)| match best {
            Some((_, t)) if t >= p.tpp => best,
            _ => Some((i, p.tpp)),
        })
        .map(|(i, _)| i);
    let (tpp, bit_length) = winner.map_or((0.0, 0), |i| {
        (by_precision[i].tpp, by_precision[i].bit_length)
    });

    // Applicable die area: every non-planar logic die, memory excluded.
    let logic = spec.dies.iter().filter(|d| d.non_planar && !d.memory);
    let logic_dies = logic.clone().count();
    let applicable_area = (logic_dies > 0).then(|| logic.map(|d| d.area_mm2).sum::<f64>());
    let pd = applicable_area.map(|a| tpp / a);
    Metrics {
        tpp,
        bit_length,
        winner,
        by_precision,
        applicable_area,
        pd,
        logic_dies,
    }
}

/// Memory bandwidth density of a standalone HBM stack, GB/s per mm2.
pub(crate) fn mbd(spec: &ChipSpec) -> Option<f64> {
    Some(spec.hbm_bandwidth_gb_s? / spec.hbm_package_area_mm2?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::model::{Die, ItemKind, Market, ProcessingRate};
    use proptest::prelude::*;

    pub(crate) fn rate(bits: u32, tops: f64) -> ProcessingRate {
        ProcessingRate {
            bit_length: bits,
            dense_tops: tops,
            format: format!("B{bits}"),
        }
    }

    pub(crate) fn die(area: f64) -> Die {
        Die {
            area_mm2: area,
            non_planar: true,
            memory: false,
        }
    }

    pub(crate) fn spec(rates: Vec<ProcessingRate>, dies: Vec<Die>) -> ChipSpec {
        ChipSpec {
            name: "test".into(),
            kind: ItemKind::IntegratedCircuit,
            rates,
            dies,
            dram_bandwidth_gb_s: None,
            interconnect_bandwidth_gb_s: None,
            market: Market::Datacenter,
            hbm_bandwidth_gb_s: None,
            hbm_package_area_mm2: None,
            contained_ics: vec![],
            us_commercially_available_2026_01_15: None,
        }
    }

    #[test]
    fn tpp_examples_from_the_reference() {
        for (rates, tpp, bits) in [
            (vec![rate(8, 600.0)], 4800.0, 8),
            (vec![rate(16, 300.0)], 4800.0, 16),
            (vec![rate(8, 624.0), rate(16, 312.0)], 4992.0, 8),
            (vec![rate(16, 383.0), rate(8, 383.0)], 6128.0, 16),
            (
                vec![rate(4, 9000.0), rate(8, 4500.0), rate(16, 2250.0)],
                36000.0,
                4,
            ),
        ] {
            let m = compute(&spec(rates, vec![]));
            assert!((m.tpp - tpp).abs() < 1e-9, "{tpp}");
            assert_eq!(m.bit_length, bits);
            assert_eq!(m.pd, None);
        }
    }

    #[test]
    fn h100_class_pd_uses_only_non_planar_logic_dies() {
        let mut s = spec(vec![rate(8, 1978.9), rate(16, 989.4)], vec![die(814.0)]);
        s.dies.push(Die {
            area_mm2: 100.0,
            non_planar: true,
            memory: true,
        });
        s.dies.push(Die {
            area_mm2: 50.0,
            non_planar: false,
            memory: false,
        });
        let m = compute(&s);
        assert!((m.tpp - 15831.2).abs() < 1e-6);
        assert_eq!(m.applicable_area, Some(814.0));
        assert!((m.pd.unwrap() - 19.448).abs() < 1e-3);
        assert_eq!(m.logic_dies, 1);
        assert_eq!(m.by_precision.len(), 2);
    }

    #[test]
    fn chiplet_areas_are_summed() {
        let m = compute(&spec(vec![rate(8, 1000.0)], vec![die(100.0), die(300.0)]));
        assert_eq!(m.applicable_area, Some(400.0));
        assert_eq!(m.pd, Some(20.0));
        assert_eq!(m.logic_dies, 2);
    }

    #[test]
    fn mbd_needs_both_figures() {
        let mut s = spec(vec![], vec![]);
        assert_eq!(mbd(&s), None);
        s.hbm_bandwidth_gb_s = Some(1200.0);
        s.hbm_package_area_mm2 = Some(120.0);
        assert_eq!(mbd(&s), Some(10.0));
    }

    proptest! {
        #[test]
        fn tpp_is_monotone_in_dense_tops(tops in 0.001f64..1e6, extra in 0.0f64..1e6, bits in 1u32..=64) {
            let lo = compute(&spec(vec![rate(bits, tops)], vec![]));
            let hi = compute(&spec(vec![rate(bits, tops + extra)], vec![]));
            prop_assert!(hi.tpp >= lo.tpp);
        }

        #[test]
        fn tpp_is_the_maximum_over_precisions(rates in proptest::collection::vec((1u32..=64, 0.001f64..1e5), 1..6)) {
            let m = compute(&spec(rates.iter().map(|(b, t)| rate(*b, *t)).collect(), vec![]));
            for (b, t) in &rates {
                prop_assert!(m.tpp >= t * f64::from(*b));
            }
            prop_assert!(m.by_precision.iter().any(|p| p.tpp == m.tpp && p.bit_length == m.bit_length));
        }
    }
}
