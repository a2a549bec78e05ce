//! Input validation: everything the arithmetic could choke on is refused
//! with a field path before any rule runs, so classification never panics.
//! Every problem of a request is reported, not only the first.

use super::countries::Cc;
use super::destinations::Geography;
use super::model::{ChipSpec, InvalidInput, InvalidRequest, ItemKind, Transaction};
use super::policy::Parties;

const MAX_BIT_LENGTH: u32 = 64;

/// Reasons of the domain's refusals (stable API: ErrorInfo reasons).
pub(crate) const INVALID_BIT_LENGTH: &str = "INVALID_BIT_LENGTH";
pub(crate) const DUPLICATE_BIT_LENGTH: &str = "DUPLICATE_BIT_LENGTH";
pub(crate) const INVALID_NUMBER: &str = "INVALID_NUMBER";
pub(crate) const INVALID_ITEM_STRUCTURE: &str = "INVALID_ITEM_STRUCTURE";
pub(crate) const UNKNOWN_COUNTRY_CODE: &str = "UNKNOWN_COUNTRY_CODE";

struct Problems(Vec<InvalidInput>);

impl Problems {
    fn add(&mut self, reason: &'static str, field: String, description: impl Into<String>) {
        self.0.push(InvalidInput {
            reason,
            field,
            description: description.into(),
        });
    }
}

pub(crate) fn check(
    geo: &Geography,
    spec: &ChipSpec,
    tx: Option<&Transaction>,
) -> Result<Option<Parties>, InvalidRequest> {
    let mut p = Problems(Vec::new());
    check_spec(spec, "spec", true, &mut p);
    let parties = tx.and_then(|tx| check_transaction(geo, tx, &mut p));
    if p.0.is_empty() {
        Ok(parties)
    } else {
        Err(InvalidRequest(p.0))
    }
}

fn check_spec(spec: &ChipSpec, path: &str, top: bool, p: &mut Problems) {
    let before = p.0.len();
    for (i, r) in spec.rates.iter().enumerate() {
        if r.bit_length == 0 || r.bit_length > MAX_BIT_LENGTH {
            p.add(
                INVALID_BIT_LENGTH,
                format!("{path}.rates[{i}].bit_length"),
                format!(
                    "must be between 1 and {MAX_BIT_LENGTH}, got {}",
                    r.bit_length
                ),
            );
        } else if let Some(j) = spec.rates[..i].iter().position(|o| {
            o.bit_length == r.bit_length && o.format.trim().eq_ignore_ascii_case(r.format.trim())
        }) {
            // FP8 and INT8 share a bit length; two rates of one format at
            // one bit length are ambiguous.
            p.add(
                DUPLICATE_BIT_LENGTH,
                format!("{path}.rates[{i}].bit_length"),
                format!(
                    "bit length {} with format {:?} is already given by rates[{j}]: one dense rate per bit length and format",
                    r.bit_length, r.format
                ),
            );
        }
        if !(r.dense_tops.is_finite() && r.dense_tops > 0.0) {
            p.add(
                INVALID_NUMBER,
                format!("{path}.rates[{i}].dense_tops"),
                format!("must be a positive finite number, got {}", r.dense_tops),
            );
        } else if !(r.dense_tops * f64::from(r.bit_length)).is_finite() {
            p.add(
                INVALID_NUMBER,
                format!("{path}.rates[{i}].dense_tops"),
                "too large: TPP overflows",
            );
        }
    }
    for (i, d) in spec.dies.iter().enumerate() {
        if !(d.area_mm2.is_finite() && d.area_mm2 > 0.0) {
            p.add(
                INVALID_NUMBER,
                format!("{path}.dies[{i}].area_mm2"),
                format!("must be a positive finite number, got {}", d.area_mm2),
            );
        }
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
                p.add(
                    INVALID_NUMBER,
                    format!("{path}.{name}"),
                    format!("must be a {bound} finite number, got {x}"),
                );
            }
        }
    }
    // The derived figures are checked only on valid inputs.
    if p.0.len() == before {
        check_derived(spec, path, p);
    }
    let structure = match spec.kind {
        ItemKind::IntegratedCircuit if spec.rates.is_empty() => Some((
            "rates",
            "an integrated circuit needs at least one processing rate",
        )),
        ItemKind::ComputerOrAssembly if !top => Some((
            "kind",
            "nested assemblies are not supported: list the ICs of the assembly",
        )),
        ItemKind::ComputerOrAssembly if spec.rates.is_empty() && spec.contained_ics.is_empty() => {
            Some((
                "contained_ics",
                "an assembly needs its contained ICs or aggregated rates",
            ))
        }
        ItemKind::IntegratedCircuit | ItemKind::HbmStack if !spec.contained_ics.is_empty() => {
            Some(("contained_ics", "only a computer or assembly contains ICs"))
        }
        _ => None,
    };
    if let Some((field, description)) = structure {
        p.add(
            INVALID_ITEM_STRUCTURE,
            format!("{path}.{field}"),
            description,
        );
    }
    for (i, c) in spec.contained_ics.iter().enumerate() {
        if c.count == 0 {
            p.add(
                INVALID_NUMBER,
                format!("{path}.contained_ics[{i}].count"),
                "must be at least 1",
            );
        }
        check_spec(
            &c.spec,
            &format!("{path}.contained_ics[{i}].spec"),
            false,
            p,
        );
    }
}

/// Finite inputs can still add or divide into infinity.
fn check_derived(spec: &ChipSpec, path: &str, p: &mut Problems) {
    if !spec
        .dies
        .iter()
        .map(|d| d.area_mm2)
        .sum::<f64>()
        .is_finite()
    {
        p.add(
            INVALID_NUMBER,
            format!("{path}.dies"),
            "total die area overflows",
        );
        return;
    }
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
        p.add(
            INVALID_NUMBER,
            format!("{path}.dies"),
            "die area too small: performance density overflows",
        );
    }
    if let (Some(bandwidth), Some(area)) = (spec.hbm_bandwidth_gb_s, spec.hbm_package_area_mm2) {
        if !(bandwidth / area).is_finite() {
            p.add(
                INVALID_NUMBER,
                format!("{path}.hbm_package_area_mm2"),
                "too small: memory bandwidth density overflows",
            );
        }
    }
}

fn country(geo: &Geography, field: &str, code: &str, p: &mut Problems) -> Option<Cc> {
    let cc = Cc::parse(code).filter(|_| geo.is_known(code));
    if cc.is_none() {
        p.add(
            UNKNOWN_COUNTRY_CODE,
            field.to_owned(),
            format!("unknown ISO 3166-1 alpha-2 country code {code:?} (upper case expected)"),
        );
    }
    cc
}

fn check_transaction(geo: &Geography, tx: &Transaction, p: &mut Problems) -> Option<Parties> {
    let destination = country(geo, "transaction.destination_country", &tx.destination, p);
    let end_user = tx
        .end_user_hq
        .as_deref()
        .map(|c| country(geo, "transaction.end_user_headquarters_country", c, p));
    let parent = tx.ultimate_parent_hq.as_deref().map(|c| {
        country(
            geo,
            "transaction.ultimate_parent_headquarters_country",
            c,
            p,
        )
    });
    Some(Parties {
        destination: destination?,
        end_user: end_user.map(|c| c.ok_or(())).transpose().ok()?,
        parent: parent.map(|c| c.ok_or(())).transpose().ok()?,
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
        Transaction::new(dest, ExportType::ExportFromUs, None, None)
    }

    fn field_of(s: &ChipSpec, t: Option<&Transaction>) -> String {
        RuleBook::builtin()
            .classify(s, t, d())
            .expect_err("invalid")
            .field()
            .to_owned()
    }

    #[test]
    fn refuses_bad_specs_with_field_paths() {
        let ok = || spec(vec![rate(8, 100.0), rate(16, 50.0)], vec![die(100.0)]);
        type Edit = fn(&mut ChipSpec);
        let cases: &[(&str, Edit)] = &[
            ("spec.rates[1].dense_tops", |s| {
                s.rates[1].dense_tops = f64::NAN
            }),
            ("spec.rates[1].dense_tops", |s| {
                s.rates[1].dense_tops = f64::INFINITY
            }),
            ("spec.rates[1].dense_tops", |s| s.rates[1].dense_tops = -1.0),
            ("spec.rates[0].dense_tops", |s| s.rates[0].dense_tops = 0.0),
            ("spec.rates[0].dense_tops", |s| {
                s.rates[0].dense_tops = f64::MAX
            }),
            ("spec.rates[0].bit_length", |s| s.rates[0].bit_length = 0),
            ("spec.rates[0].bit_length", |s| s.rates[0].bit_length = 65),
            ("spec.dies[0].area_mm2", |s| s.dies[0].area_mm2 = f64::NAN),
            ("spec.dies[0].area_mm2", |s| s.dies[0].area_mm2 = -3.0),
            ("spec.dies[0].area_mm2", |s| s.dies[0].area_mm2 = 0.0),
            ("spec.dies", |s| s.dies = vec![die(f64::MAX), die(f64::MAX)]),
            ("spec.dram_bandwidth_gb_s", |s| {
                s.dram_bandwidth_gb_s = Some(-1.0)
            }),
            ("spec.interconnect_bandwidth_gb_s", |s| {
                s.interconnect_bandwidth_gb_s = Some(f64::NAN)
            }),
            ("spec.hbm_bandwidth_gb_s", |s| {
                s.hbm_bandwidth_gb_s = Some(f64::NEG_INFINITY)
            }),
            ("spec.hbm_package_area_mm2", |s| {
                s.hbm_package_area_mm2 = Some(0.0)
            }),
            ("spec.hbm_package_area_mm2", |s| {
                s.hbm_bandwidth_gb_s = Some(1e300);
                s.hbm_package_area_mm2 = Some(5e-324);
            }),
            ("spec.rates", |s| s.rates.clear()),
            ("spec.contained_ics", |s| {
                s.contained_ics = vec![ContainedIc {
                    spec: s.clone(),
                    count: 1,
                }]
            }),
            ("spec.contained_ics[0].count", |s| {
                s.contained_ics = vec![ContainedIc {
                    spec: s.clone(),
                    count: 0,
                }];
                s.kind = ItemKind::ComputerOrAssembly;
            }),
            ("spec.contained_ics[1].spec.rates[0].dense_tops", |s| {
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
            ("spec.contained_ics[0].spec.kind", |s| {
                let mut inner = s.clone();
                inner.kind = ItemKind::ComputerOrAssembly;
                s.contained_ics = vec![ContainedIc {
                    spec: inner,
                    count: 1,
                }];
                s.kind = ItemKind::ComputerOrAssembly;
            }),
            ("spec.contained_ics", |s| {
                s.rates.clear();
                s.kind = ItemKind::ComputerOrAssembly;
            }),
        ];
        for &(field, edit) in cases {
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
