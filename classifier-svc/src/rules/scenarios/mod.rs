//! The scenarios of reference section 8, and every threshold and date
//! boundary, run through the public API.

use super::metrics::tests::{die, rate, spec};
use super::model::*;
use super::RuleBook;
use chrono::NaiveDate;

mod boundaries;
mod properties;
mod reference;
mod thresholds;
mod y2026;

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

/// Asserts that one of `d`'s warnings contains `text`.
fn assert_warns(d: &Decision<'_>, text: &str) {
    assert!(
        d.warnings.iter().any(|w| w.contains(text)),
        "no warning with {text:?}: {:?}",
        d.warnings
    );
}

/// The explanation of the classification's finding `id`.
fn explanation<'a>(d: &'a Decision<'_>, id: &str) -> &'a str {
    &finding(&d.classification.findings, id).explanation
}

fn policy_and_status(l: &LicenseDetermination) -> (LicenseStatus, ReviewPolicy) {
    (l.status, l.review_policy)
}

const REQUIRED: LicenseStatus = LicenseStatus::Required;
const DENIAL: ReviewPolicy = ReviewPolicy::PresumptionOfDenial;
const CASE: ReviewPolicy = ReviewPolicy::CaseByCase;
const APPROVAL: ReviewPolicy = ReviewPolicy::PresumptionOfApproval;
