//! The Section 232 duty on advanced chips entering the United States
//! (Proclamation of 2026-01-14, HTSUS 9903.79.01, U.S. note 39): not an
//! export control, but part of every answer dated on or after its effective
//! date. The bands, headings, rates and exemptions are data
//! (`rules/tariff.toml`); every bound is strict.

use super::data::{parse, positive, rule};
use super::findings::{push_num, Out, Rule, RuleTable, Text};
use super::model::{Bound, Metric, Tariff, TariffExemption, Threshold};
use chrono::NaiveDate;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub(crate) struct Band {
    pub number: u32,
    pub tpp_above: f64,
    pub tpp_below: f64,
    pub dram_above: f64,
    pub dram_below: f64,
    /// "9903.79.01 band 1", built at load.
    label: String,
    /// The names of the band's four thresholds, in the order of `EDGES`,
    /// built at load so that no answer builds them again.
    edge_names: [String; 4],
}

/// The four bounds of a band, as its thresholds name them.
const EDGES: [&str; 4] = [
    " TPP lower",
    " TPP upper",
    " DRAM bandwidth lower",
    " DRAM bandwidth upper",
];

impl Band {
    fn met(&self, tpp: f64, dram: f64) -> bool {
        tpp > self.tpp_above
            && tpp < self.tpp_below
            && dram > self.dram_above
            && dram < self.dram_below
    }
}

#[derive(Debug)]
pub(crate) struct TariffRule {
    pub rule: Rule,
    pub customs_rule: Rule,
    pub effective: NaiveDate,
    pub heading_met: String,
    pub rate_met: f64,
    pub heading_not_met: String,
    pub rate_not_met: f64,
    pub note: String,
    pub bands: Vec<Band>,
    pub exemptions: Vec<TariffExemption>,
}

impl TariffRule {
    pub(crate) fn in_force(&self, as_of: NaiveDate) -> bool {
        as_of >= self.effective
    }

    /// The tariff block for a chip with these figures.
    pub(crate) fn assess<'a>(
        &'a self,
        rules: &'a RuleTable,
        tpp: f64,
        dram: Option<f64>,
        detail: bool,
    ) -> Tariff<'a> {
        let mut findings = Vec::with_capacity(self.bands.len());
        let mut band = 0;
        for b in &self.bands {
            let mut e = Text::with_capacity(detail, 112);
            e.push_str(&b.label);
            e.push_str(": TPP ");
            push_num(&mut e, tpp);
            push_open_range(&mut e, b.tpp_above, b.tpp_below);
            let met = match dram {
                Some(d) => {
                    e.push_str(", DRAM bandwidth ");
                    push_num(&mut e, d);
                    push_open_range(&mut e, b.dram_above, b.dram_below);
                    e.push_str(" GB/s");
                    b.met(tpp, d)
                }
                None => {
                    e.push_str(", DRAM bandwidth unknown");
                    false
                }
            };
            e.push_str(if met { ": met" } else { ": not met" });
            if met && band == 0 {
                band = b.number;
            }
            findings.push(rules.finding(self.rule, met, e));
        }
        let meta = rules.meta(self.rule);
        let (heading, rate) = match (band, dram) {
            (0, None) => ("", 0.0),
            (0, Some(_)) => (self.heading_not_met.as_str(), self.rate_not_met),
            _ => (self.heading_met.as_str(), self.rate_met),
        };
        Tariff {
            applies: band != 0,
            heading,
            rate_percent: rate,
            band,
            exemptions: &self.exemptions,
            covered_articles_note: &self.note,
            citation: &meta.citation,
            findings,
        }
    }

    /// The four bounds of every band, with the chip's margins.
    pub(crate) fn thresholds<'a>(
        &'a self,
        rules: &'a RuleTable,
        tpp: f64,
        dram: Option<f64>,
        out: &mut Vec<Threshold<'a>>,
    ) {
        let id = rules.meta(self.rule).id.as_str();
        for b in &self.bands {
            let edges = [
                (Metric::Tpp, Bound::Above, b.tpp_above, Some(tpp)),
                (Metric::Tpp, Bound::Below, b.tpp_below, Some(tpp)),
                (Metric::DramGbS, Bound::Above, b.dram_above, dram),
                (Metric::DramGbS, Bound::Below, b.dram_below, dram),
            ];
            for (name, (metric, bound, limit, value)) in b.edge_names.iter().zip(edges) {
                out.push(Threshold::new(
                    id,
                    name.as_str(),
                    metric,
                    bound,
                    limit,
                    value,
                ));
            }
        }
    }
}

fn push_open_range(e: &mut impl Out, lo: f64, hi: f64) {
    e.push_str(" in (");
    push_num(e, lo);
    e.push_str(", ");
    push_num(e, hi);
    e.push(')');
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    rule: String,
    customs_rule: String,
    effective: NaiveDate,
    heading_met: String,
    rate_met_percent: f64,
    heading_not_met: String,
    rate_not_met_percent: f64,
    covered_articles_note: String,
    band: Vec<RawBand>,
    exemption: Vec<RawExemption>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    number: u32,
    tpp_above: f64,
    tpp_below: f64,
    dram_above_gb_s: f64,
    dram_below_gb_s: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExemption {
    heading: String,
    description: String,
}

pub(crate) fn load(text: &str) -> Result<TariffRule, String> {
    let raw: RawFile = parse("tariff.toml", text)?;
    let ctx = "tariff.toml";
    let mut bands = Vec::with_capacity(raw.band.len());
    for b in raw.band {
        let c = format!("{ctx} band {}", b.number);
        let label = format!("{} band {}", raw.heading_met, b.number);
        let band = Band {
            number: b.number,
            tpp_above: positive(&c, b.tpp_above)?,
            tpp_below: positive(&c, b.tpp_below)?,
            dram_above: positive(&c, b.dram_above_gb_s)?,
            dram_below: positive(&c, b.dram_below_gb_s)?,
            edge_names: EDGES.map(|edge| format!("{label}{edge}")),
            label,
        };
        if b.number == 0 || band.tpp_above >= band.tpp_below || band.dram_above >= band.dram_below {
            return Err(format!(
                "{c}: a band needs a number and lower < upper bounds"
            ));
        }
        bands.push(band);
    }
    if !(raw.rate_met_percent.is_finite() && raw.rate_not_met_percent.is_finite()) {
        return Err(format!("{ctx}: rates must be finite"));
    }
    Ok(TariffRule {
        rule: rule(ctx, &raw.rule)?,
        customs_rule: rule(ctx, &raw.customs_rule)?,
        effective: raw.effective,
        heading_met: raw.heading_met,
        rate_met: raw.rate_met_percent,
        heading_not_met: raw.heading_not_met,
        rate_not_met: raw.rate_not_met_percent,
        note: raw.covered_articles_note,
        bands,
        exemptions: raw
            .exemption
            .into_iter()
            .map(|e| TariffExemption {
                heading: e.heading,
                description: e.description,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use crate::rules::RuleBook;

    fn at(tpp: f64, dram: f64) -> (bool, &'static str, u32) {
        let book = RuleBook::builtin();
        let t = book.tariff.assess(&book.rules, tpp, Some(dram), true);
        (t.applies, t.heading, t.band)
    }

    const IN_1: (bool, &str, u32) = (true, "9903.79.01", 1);
    const IN_2: (bool, &str, u32) = (true, "9903.79.01", 2);
    const OUT: (bool, &str, u32) = (false, "9903.79.02", 0);

    /// Every band's edges are strict: from the band's centre, each edge is
    /// checked on the edge (outside every band) and just inside it.
    #[test]
    fn each_band_has_four_strict_edges() {
        // The band, its centre (TPP, DRAM), and for TPP and for DRAM: the low
        // edge, just above it, the high edge, just below it.
        let bands = [
            (
                IN_1,
                (15000.0, 4800.0),
                [14000.0, 14000.000001, 17500.0, 17499.99],
                [4500.0, 4500.01, 5000.0, 4999.99],
            ),
            (
                IN_2,
                (20900.0, 6000.0),
                [20800.0, 20800.01, 21100.0, 21099.99],
                [5800.0, 5800.01, 6200.0, 6199.99],
            ),
        ];
        for (inside, (tpp, dram), tpp_edges, dram_edges) in bands {
            let [t_lo, t_above, t_hi, t_below] = tpp_edges;
            let [d_lo, d_above, d_hi, d_below] = dram_edges;
            for (t, d, want) in [
                (tpp, dram, inside),
                (t_lo, dram, OUT),
                (t_above, dram, inside),
                (t_hi, dram, OUT),
                (t_below, dram, inside),
                (tpp, d_lo, OUT),
                (tpp, d_above, inside),
                (tpp, d_hi, OUT),
                (tpp, d_below, inside),
            ] {
                assert_eq!(at(t, d), want, "band {}: TPP {t} DRAM {d}", inside.2);
            }
        }
    }

    #[test]
    fn reference_examples() {
        // H200 in band 1; MI325X in band 2 only above 20,800 (AMD's rounded
        // 1,300 TF gives exactly 20,800: out); H100 SXM below band 1's
        // bandwidth; B200 in neither.
        assert_eq!(at(15831.2, 4800.0), IN_1);
        assert_eq!(at(20919.2, 6000.0), IN_2);
        assert_eq!(at(20800.0, 6000.0), OUT);
        assert_eq!(at(15831.2, 3350.0), OUT);
        assert_eq!(at(36000.0, 8000.0), OUT);
        let book = RuleBook::builtin();
        let unknown = book.tariff.assess(&book.rules, 15831.2, None, true);
        assert_eq!((unknown.applies, unknown.heading), (false, ""));
        assert_eq!(book.tariff.exemptions.len(), 7);
        assert_eq!(book.tariff.exemptions[0].heading, "9903.79.03");
        assert_eq!(book.tariff.exemptions[6].heading, "9903.79.09");
    }
}
