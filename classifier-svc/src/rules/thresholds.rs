//! Headroom: every threshold that applies to an item under the rule set in
//! force, with the item's value and its margin (value - limit). The limits
//! are the rule data's, never restated here.

use super::eccn::Assessed;
use super::findings::Rule;
use super::model::{Bound, ItemKind, Metric, Threshold};
use super::vintage::{EccnTest, Vintage};
use super::RuleBook;
use chrono::NaiveDate;

pub(crate) fn compute<'a>(
    book: &'a RuleBook,
    v: &'a Vintage,
    as_of: NaiveDate,
    a: &Assessed<'a>,
    kind: ItemKind,
) -> Vec<Threshold<'a>> {
    let mut out = Vec::with_capacity(24);
    let c = &a.classification;
    let id = |r: Rule| book.rules.meta(r).id.as_str();
    if kind == ItemKind::HbmStack {
        if let Some(h) = &v.hbm {
            let mbd = c.memory_bandwidth_density;
            out.push(Threshold::new(
                id(Rule::C),
                "3A090.c MBD",
                Metric::Mbd,
                Bound::Above,
                h.c_mbd_above,
                mbd,
            ));
            if let Some(ceiling) = h.exception_mbd_below {
                out.push(Threshold::new(
                    id(Rule::HbmException),
                    "License Exception HBM MBD",
                    Metric::Mbd,
                    Bound::Below,
                    ceiling,
                    mbd,
                ));
            }
        }
        return out;
    }
    // An assembly is 4A090 through the paragraph its ICs meet.
    let assembly = kind == ItemKind::ComputerOrAssembly;
    let (a_rule, b_rule, prefix) = if assembly {
        (Some(Rule::Sys4A090A), Some(Rule::Sys4A090B), "4A090 via ")
    } else {
        (None, None, "")
    };
    let name = |s: &'static str| -> std::borrow::Cow<'a, str> {
        if prefix.is_empty() {
            s.into()
        } else {
            format!("{prefix}{s}").into()
        }
    };
    let tpp = Some(c.tpp);
    let pd = c.performance_density;
    match &v.test {
        EccnTest::IoAndTpp { io_min, tpp_min } => {
            let r = id(a_rule.unwrap_or(Rule::A2022));
            out.push(Threshold::new(
                r,
                name("3A090.a (2022) TPP"),
                Metric::Tpp,
                Bound::AtLeast,
                *tpp_min,
                tpp,
            ));
            out.push(Threshold::new(
                r,
                name("3A090.a (2022) I/O bandwidth"),
                Metric::IoGbS,
                Bound::AtLeast,
                *io_min,
                a.figures.io,
            ));
        }
        EccnTest::TppAndPd(t) => {
            let ra1 = id(a_rule.unwrap_or(Rule::A1));
            let ra2 = id(a_rule.unwrap_or(Rule::A2));
            let rb1 = id(b_rule.unwrap_or(Rule::B1));
            let rb2 = id(b_rule.unwrap_or(Rule::B2));
            for (r, n, m, b, limit, value) in [
                (
                    ra1,
                    "3A090.a.1 TPP",
                    Metric::Tpp,
                    Bound::AtLeast,
                    t.a1_tpp_min,
                    tpp,
                ),
                (
                    ra2,
                    "3A090.a.2 TPP",
                    Metric::Tpp,
                    Bound::AtLeast,
                    t.a2_tpp_min,
                    tpp,
                ),
                (
                    ra2,
                    "3A090.a.2 PD",
                    Metric::Pd,
                    Bound::AtLeast,
                    t.a2_pd_min,
                    pd,
                ),
                (
                    rb1,
                    "3A090.b.1 TPP lower",
                    Metric::Tpp,
                    Bound::AtLeast,
                    t.b1_tpp_min,
                    tpp,
                ),
                (
                    rb1,
                    "3A090.b.1 TPP upper",
                    Metric::Tpp,
                    Bound::Below,
                    t.b1_tpp_below,
                    tpp,
                ),
                (
                    rb1,
                    "3A090.b.1 PD lower",
                    Metric::Pd,
                    Bound::AtLeast,
                    t.b1_pd_min,
                    pd,
                ),
                (
                    rb1,
                    "3A090.b.1 PD upper",
                    Metric::Pd,
                    Bound::Below,
                    t.b1_pd_below,
                    pd,
                ),
                (
                    rb2,
                    "3A090.b.2 TPP",
                    Metric::Tpp,
                    Bound::AtLeast,
                    t.b2_tpp_min,
                    tpp,
                ),
                (
                    rb2,
                    "3A090.b.2 PD lower",
                    Metric::Pd,
                    Bound::AtLeast,
                    t.b2_pd_min,
                    pd,
                ),
                (
                    rb2,
                    "3A090.b.2 PD upper",
                    Metric::Pd,
                    Bound::Below,
                    t.b2_pd_below,
                    pd,
                ),
            ] {
                out.push(Threshold::new(r, name(n), m, b, limit, value));
            }
            if !a.datacenter {
                out.push(Threshold::new(
                    id(Rule::Note2),
                    name("Note 2 TPP (not designed for datacenters)"),
                    Metric::Tpp,
                    Bound::AtLeast,
                    t.note2_tpp_min,
                    tpp,
                ));
            }
        }
    }
    let f26 = &book.policy.fr26;
    if v.index >= f26.from {
        let chip = a.a_chips.unwrap_or(a.figures);
        let r = id(f26.rule);
        out.push(Threshold::new(
            r,
            "January 2026 overlay TPP",
            Metric::Tpp,
            Bound::Below,
            f26.tpp_below,
            Some(chip.tpp),
        ));
        out.push(Threshold::new(
            r,
            "January 2026 overlay DRAM bandwidth",
            Metric::DramGbS,
            Bound::Below,
            f26.dram_below,
            chip.dram,
        ));
    }
    if book.tariff.in_force(as_of) {
        book.tariff
            .thresholds(&book.rules, a.figures.tpp, a.figures.dram, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::catalog::Catalog;
    use crate::rules::{RuleBook, Threshold};

    fn thresholds(chip: &str, as_of: &str) -> Vec<Threshold<'static>> {
        let spec = &Catalog::builtin().get(chip).unwrap().spec;
        RuleBook::builtin()
            .classify(spec, None, as_of.parse().unwrap())
            .unwrap()
            .classification
            .thresholds
    }

    fn named<'t>(t: &'t [Threshold<'static>], name: &str) -> &'t Threshold<'static> {
        t.iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no threshold {name:?} in {t:?}"))
    }

    #[test]
    fn h200_has_5169_tpp_of_headroom_and_sits_in_tariff_band_1() {
        let t = thresholds("h200", "2026-08-01");
        let fr26 = named(&t, "January 2026 overlay TPP");
        assert_eq!(fr26.limit, 21000.0);
        assert!(fr26.met);
        assert!((fr26.margin.unwrap() + 5168.8).abs() < 1e-6, "{fr26:?}");
        let dram = named(&t, "January 2026 overlay DRAM bandwidth");
        assert_eq!(dram.margin, Some(-1700.0));
        let a1 = named(&t, "3A090.a.1 TPP");
        assert!(a1.met);
        assert!((a1.margin.unwrap() - 11031.2).abs() < 1e-6);
        for edge in [
            "TPP lower",
            "TPP upper",
            "DRAM bandwidth lower",
            "DRAM bandwidth upper",
        ] {
            assert!(
                named(&t, &format!("9903.79.01 band 1 {edge}")).met,
                "{edge}"
            );
        }
        assert!(!named(&t, "9903.79.01 band 2 TPP lower").met);
    }

    #[test]
    fn unknown_inputs_have_no_margin_and_dates_choose_the_thresholds() {
        // B200: die area unknown, so every PD threshold is open.
        let t = thresholds("b200", "2026-08-01");
        let pd = named(&t, "3A090.a.2 PD");
        assert_eq!((pd.value, pd.margin, pd.met), (None, None, false));
        // Before 2026 there is neither the overlay nor the tariff; in 2022
        // the I/O test.
        let t = thresholds("h200", "2025-06-01");
        assert!(t
            .iter()
            .all(|t| !t.name.starts_with("January") && !t.name.starts_with("9903")));
        let t = thresholds("h200", "2023-01-01");
        assert_eq!(
            named(&t, "3A090.a (2022) I/O bandwidth").margin,
            Some(300.0)
        );
        // Assemblies are measured through their ICs under 4A090.
        let t = thresholds("gb200", "2026-08-01");
        assert_eq!(named(&t, "4A090 via 3A090.a.1 TPP").rule_id, "eccn.4A090.a");
    }
}
