//! Input validation: everything the arithmetic could choke on is refused
//! with a field path before any rule runs, so classification never panics.

use super::countries::Cc;
use super::destinations::Geography;
use super::model::{ChipSpec, InvalidInput, ItemKind, Transaction};
use super::policy::Parties;

const MAX_BIT_LENGTH: u32 = 64;

fn invalid(field: String, description: impl Into<String>) -> InvalidInput {
    InvalidInput {
        field,
        description: description.into(),
    }
}

pub(crate) fn check(
    geo: &Geography,
    spec: &ChipSpec,
    tx: Option<&Transaction>,
) -> Result<Option<Parties>, InvalidInput> {
    check_spec(spec, "spec", true)?;
    tx.map(|tx| check_transaction(geo, tx)).transpose()
}

fn check_spec(spec: &ChipSpec, path: &str, top: bool) -> Result<(), InvalidInput> {
    for (i, r) in spec.rates.iter().enumerate() {
        if r.bit_length == 0 || r.bit_length > MAX_BIT_LENGTH {
            return Err(invalid(
                format!("{path}.rates[{i}].bit_length"),
                format!(
                    "must be between 1 and {MAX_BIT_LENGTH}, got {}",
                    r.bit_length
                ),
            ));
        }
        if !(r.dense_tops.is_finite() && r.dense_tops > 0.0) {
            return Err(invalid(
                format!("{path}.rates[{i}].dense_tops"),
                format!("must be a positive finite number, got {}", r.dense_tops),
            ));
        }
        if !(r.dense_tops * f64::from(r.bit_length)).is_finite() {
            return Err(invalid(
                format!("{path}.rates[{i}].dense_tops"),
                "too large: TPP overflows",
            ));
        }
    }
    for (i, d) in spec.dies.iter().enumerate() {
        if !(d.area_mm2.is_finite() && d.area_mm2 > 0.0) {
            return Err(invalid(
                format!("{path}.dies[{i}].area_mm2"),
                format!("must be a positive finite number, got {}", d.area_mm2),
            ));
        }
    }
    if !spec
        .dies
        .iter()
        .map(|d| d.area_mm2)
        .sum::<f64>()
        .is_finite()
    {
        return Err(invalid(format!("{path}.dies"), "total die area overflows"));
    }
    let optional = [
        ("dram_bandwidth_gb_s", spec.dram_bandwidth_gb_s, false),
        (
            "interconnect_bandwidth_gb_s",
            spec.interconnect_bandwidth_gb_s,
            false,
        ),
        ("hbm_bandwidth_gb_s", spec.hbm_bandwidth_gb_s, true),
        ("hbm_package_area_mm2", spec.hbm_package_area_mm2, true),
    ];
    for (name, value, strictly_positive) in optional {
        if let Some(x) = value {
            let ok = x.is_finite() && if strictly_positive { x > 0.0 } else { x >= 0.0 };
            if !ok {
                let bound = if strictly_positive {
                    "positive"
                } else {
                    "non-negative"
                };
                return Err(invalid(
                    format!("{path}.{name}"),
                    format!("must be a {bound} finite number, got {x}"),
                ));
            }
        }
    }
    // Finite inputs can still divide into infinity (a subnormal area).
    let logic_area: f64 = spec
        .dies
        .iter()
        .filter(|d| d.non_planar && !d.memory)
        .map(|d| d.area_mm2)
        .sum();
    let max_tpp = spec
        .rates
        .iter()
        .map(|r| r.dense_tops * f64::from(r.bit_length))
        .fold(0.0, f64::max);
    if logic_area > 0.0 && !(max_tpp / logic_area).is_finite() {
        return Err(invalid(
            format!("{path}.dies"),
            "die area too small: performance density overflows",
        ));
    }
    if let (Some(bandwidth), Some(area)) = (spec.hbm_bandwidth_gb_s, spec.hbm_package_area_mm2) {
        if !(bandwidth / area).is_finite() {
            return Err(invalid(
                format!("{path}.hbm_package_area_mm2"),
                "too small: memory bandwidth density overflows",
            ));
        }
    }
    match spec.kind {
        ItemKind::IntegratedCircuit if spec.rates.is_empty() => {
            return Err(invalid(
                format!("{path}.rates"),
                "an integrated circuit needs at least one processing rate",
            ));
        }
        ItemKind::ComputerOrAssembly if !top => {
            return Err(invalid(
                format!("{path}.kind"),
                "nested assemblies are not supported: list the ICs of the assembly",
            ));
        }
        ItemKind::ComputerOrAssembly if spec.rates.is_empty() && spec.contained_ics.is_empty() => {
            return Err(invalid(
                format!("{path}.contained_ics"),
                "an assembly needs its contained ICs or aggregated rates",
            ));
        }
        ItemKind::IntegratedCircuit | ItemKind::HbmStack if !spec.contained_ics.is_empty() => {
            return Err(invalid(
                format!("{path}.contained_ics"),
                "only a computer or assembly contains ICs",
            ));
        }
        _ => {}
    }
    for (i, c) in spec.contained_ics.iter().enumerate() {
        if c.count == 0 {
            return Err(invalid(
                format!("{path}.contained_ics[{i}].count"),
                "must be at least 1",
            ));
        }
        check_spec(&c.spec, &format!("{path}.contained_ics[{i}].spec"), false)?;
    }
    Ok(())
}

fn country(geo: &Geography, field: &str, code: &str) -> Result<Cc, InvalidInput> {
    Cc::parse(code)
        .filter(|_| geo.is_known(code))
        .ok_or_else(|| {
            invalid(
                field.to_owned(),
                format!("unknown ISO 3166-1 alpha-2 country code {code:?} (upper case expected)"),
            )
        })
}

fn check_transaction(geo: &Geography, tx: &Transaction) -> Result<Parties, InvalidInput> {
    Ok(Parties {
        destination: country(geo, "transaction.destination_country", &tx.destination)?,
        end_user: tx
            .end_user_hq
            .as_deref()
            .map(|c| country(geo, "transaction.end_user_headquarters_country", c))
            .transpose()?,
        parent: tx
            .ultimate_parent_hq
            .as_deref()
            .map(|c| country(geo, "transaction.ultimate_parent_headquarters_country", c))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use crate::rules::metrics::tests::{die, rate, spec};
    use crate::rules::model::*;
    use crate::rules::RuleBook;

    fn d() -> chrono::NaiveDate {
        "2026-02-01".parse().unwrap()
    }

    fn tx(dest: &str) -> Transaction {
        Transaction {
            destination: dest.into(),
            end_user_hq: None,
            ultimate_parent_hq: None,
            export_type: ExportType::ExportFromUs,
            is_informed_notice_received: false,
        }
    }

    fn field_of(s: &ChipSpec, t: Option<&Transaction>) -> String {
        RuleBook::builtin()
            .classify(s, t, d())
            .expect_err("invalid")
            .field
    }

    #[test]
    fn refuses_bad_specs_with_field_paths() {
        let ok = || spec(vec![rate(8, 100.0), rate(16, 50.0)], vec![die(100.0)]);
        type Edit = Box<dyn Fn(&mut ChipSpec)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "spec.rates[1].dense_tops",
                Box::new(|s| s.rates[1].dense_tops = f64::NAN),
            ),
            (
                "spec.rates[1].dense_tops",
                Box::new(|s| s.rates[1].dense_tops = f64::INFINITY),
            ),
            (
                "spec.rates[1].dense_tops",
                Box::new(|s| s.rates[1].dense_tops = -1.0),
            ),
            (
                "spec.rates[0].dense_tops",
                Box::new(|s| s.rates[0].dense_tops = 0.0),
            ),
            (
                "spec.rates[0].dense_tops",
                Box::new(|s| s.rates[0].dense_tops = f64::MAX),
            ),
            (
                "spec.rates[0].bit_length",
                Box::new(|s| s.rates[0].bit_length = 0),
            ),
            (
                "spec.rates[0].bit_length",
                Box::new(|s| s.rates[0].bit_length = 65),
            ),
            (
                "spec.dies[0].area_mm2",
                Box::new(|s| s.dies[0].area_mm2 = f64::NAN),
            ),
            (
                "spec.dies[0].area_mm2",
                Box::new(|s| s.dies[0].area_mm2 = -3.0),
            ),
            (
                "spec.dies[0].area_mm2",
                Box::new(|s| s.dies[0].area_mm2 = 0.0),
            ),
            (
                "spec.dies",
                Box::new(|s| s.dies = vec![die(f64::MAX), die(f64::MAX)]),
            ),
            (
                "spec.dram_bandwidth_gb_s",
                Box::new(|s| s.dram_bandwidth_gb_s = Some(-1.0)),
            ),
            (
                "spec.interconnect_bandwidth_gb_s",
                Box::new(|s| s.interconnect_bandwidth_gb_s = Some(f64::NAN)),
            ),
            (
                "spec.hbm_bandwidth_gb_s",
                Box::new(|s| s.hbm_bandwidth_gb_s = Some(f64::NEG_INFINITY)),
            ),
            (
                "spec.hbm_package_area_mm2",
                Box::new(|s| s.hbm_package_area_mm2 = Some(0.0)),
            ),
            (
                "spec.hbm_package_area_mm2",
                Box::new(|s| {
                    s.hbm_bandwidth_gb_s = Some(1e300);
                    s.hbm_package_area_mm2 = Some(5e-324);
                }),
            ),
            ("spec.rates", Box::new(|s| s.rates.clear())),
            (
                "spec.contained_ics",
                Box::new(|s| {
                    s.contained_ics = vec![ContainedIc {
                        spec: s.clone(),
                        count: 1,
                    }]
                }),
            ),
            (
                "spec.contained_ics[0].count",
                Box::new(|s| {
                    s.contained_ics = vec![ContainedIc {
                        spec: s.clone(),
                        count: 0,
                    }];
                    s.kind = ItemKind::ComputerOrAssembly;
                }),
            ),
            (
                "spec.contained_ics[1].spec.rates[0].dense_tops",
                Box::new(|s| {
                    let mut bad = s.clone();
                    bad.rates[0].dense_tops = f64::NAN;
                    s.contained_ics = vec![
                        ContainedIc {
                            spec: s.clone(),
                            count: 2,
                        },
                        ContainedIc {
                            spec: bad,
                            count: 1,
                        },
                    ];
                    s.kind = ItemKind::ComputerOrAssembly;
                }),
            ),
            (
                "spec.contained_ics[0].spec.kind",
                Box::new(|s| {
                    let mut inner = s.clone();
                    inner.kind = ItemKind::ComputerOrAssembly;
                    s.contained_ics = vec![ContainedIc {
                        spec: inner,
                        count: 1,
                    }];
                    s.kind = ItemKind::ComputerOrAssembly;
                }),
            ),
            (
                "spec.contained_ics",
                Box::new(|s| {
                    s.rates.clear();
                    s.kind = ItemKind::ComputerOrAssembly;
                }),
            ),
        ];
        for (field, edit) in cases {
            let mut s = ok();
            edit(&mut s);
            assert_eq!(field_of(&s, None), field);
        }
        assert!(RuleBook::builtin().classify(&ok(), None, d()).is_ok());
    }

    #[test]
    fn refuses_unknown_country_codes() {
        let s = spec(vec![rate(8, 100.0)], vec![]);
        for (dest, eu, parent, field) in [
            ("XX", None, None, "transaction.destination_country"),
            ("cn", None, None, "transaction.destination_country"),
            ("CHN", None, None, "transaction.destination_country"),
            (
                "CN",
                Some("UK"),
                None,
                "transaction.end_user_headquarters_country",
            ),
            (
                "CN",
                Some("CN"),
                Some(""),
                "transaction.ultimate_parent_headquarters_country",
            ),
        ] {
            let mut t = tx(dest);
            t.end_user_hq = eu.map(String::from);
            t.ultimate_parent_hq = parent.map(String::from);
            assert_eq!(field_of(&s, Some(&t)), field, "{dest} {eu:?} {parent:?}");
        }
        assert!(RuleBook::builtin()
            .classify(&s, Some(&tx("HK")), d())
            .is_ok());
    }
}
