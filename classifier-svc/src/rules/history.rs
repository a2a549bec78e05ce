//! What-if through time: one item and transaction under every rule set from
//! the first to a date, one entry per period in which the answer stays the
//! same, each with what changed and the findings that flipped.

use super::model::{
    ChipSpec, ControlStatus, Decision, Finding, HistoryEntry, InvalidRequest, LicenseStatus,
    ReviewPolicy, Transaction,
};
use super::RuleBook;
use chrono::NaiveDate;

/// What an entry's answer is, for deciding whether the answer changed.
#[derive(Debug, PartialEq)]
struct Outcome<'a> {
    status: ControlStatus,
    paragraphs: Vec<&'a str>,
    licence: Option<(LicenseStatus, ReviewPolicy, Vec<&'a str>, usize)>,
    tariff: Option<(&'a str, u32)>,
    reported: Vec<(&'a str, bool)>,
}

fn outcome<'a>(d: &Decision<'a>) -> Outcome<'a> {
    Outcome {
        status: d.classification.status,
        paragraphs: d.classification.paragraphs_met.clone(),
        licence: d.license.as_ref().map(|l| {
            (
                l.status,
                l.review_policy,
                l.license_exceptions.iter().map(|e| e.code).collect(),
                l.conditions.len(),
            )
        }),
        tariff: d.tariff.as_ref().map(|t| (t.heading, t.band)),
        reported: d
            .license
            .iter()
            .flat_map(|l| &l.reported_requirements)
            .map(|f| (f.rule_id, f.holds))
            .collect(),
    }
}

pub fn control_status_name(s: ControlStatus) -> &'static str {
    match s {
        ControlStatus::Controlled => "CONTROLLED",
        ControlStatus::NotControlled => "NOT_CONTROLLED",
        ControlStatus::Indeterminate => "INDETERMINATE",
        ControlStatus::NotInForce => "NOT_IN_FORCE",
    }
}

pub fn licence_status_name(s: LicenseStatus) -> &'static str {
    match s {
        LicenseStatus::Required => "REQUIRED",
        LicenseStatus::NotRequired => "NOT_REQUIRED",
        LicenseStatus::Indeterminate => "INDETERMINATE",
    }
}

pub fn review_policy_name(p: ReviewPolicy) -> &'static str {
    match p {
        ReviewPolicy::NotApplicable => "NOT_APPLICABLE",
        ReviewPolicy::PresumptionOfDenial => "PRESUMPTION_OF_DENIAL",
        ReviewPolicy::CaseByCase => "CASE_BY_CASE",
        ReviewPolicy::PresumptionOfApproval => "PRESUMPTION_OF_APPROVAL",
        ReviewPolicy::Indeterminate => "INDETERMINATE",
    }
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}

fn tariff_text(t: Option<(&str, u32)>) -> String {
    match t {
        None => "(none)".to_owned(),
        Some(("", _)) => "undecided (a figure is unknown)".to_owned(),
        Some((heading, 0)) => heading.to_owned(),
        Some((heading, band)) => format!("{heading} band {band}"),
    }
}

/// Appends "`what`: before -> now" to `out` when the two differ.
fn change<T: PartialEq, D: std::fmt::Display>(
    out: &mut Vec<String>,
    what: &str,
    before: &T,
    now: &T,
    show: impl Fn(&T) -> D,
) {
    if before != now {
        out.push(format!("{what}: {} -> {}", show(before), show(now)));
    }
}

fn changes(before: &Outcome<'_>, now: &Outcome<'_>, rule_sets: (&str, &str)) -> Vec<String> {
    let mut out = Vec::new();
    change(&mut out, "rule set", &rule_sets.0, &rule_sets.1, |r| *r);
    change(
        &mut out,
        "control status",
        &before.status,
        &now.status,
        |s| control_status_name(*s),
    );
    change(
        &mut out,
        "paragraphs",
        &before.paragraphs,
        &now.paragraphs,
        |p| list(p),
    );
    if let (Some(b), Some(n)) = (&before.licence, &now.licence) {
        change(&mut out, "licence", &b.0, &n.0, |s| licence_status_name(*s));
        change(&mut out, "review policy", &b.1, &n.1, |p| {
            review_policy_name(*p)
        });
        change(&mut out, "licence exceptions", &b.2, &n.2, |e| list(e));
        change(&mut out, "conditions", &b.3, &n.3, |c| *c);
    }
    change(&mut out, "tariff", &before.tariff, &now.tariff, |t| {
        tariff_text(*t)
    });
    if before.reported != now.reported {
        out.push("reported (not codified) requirements changed".to_owned());
    }
    out
}

fn all_findings<'d, 'a>(d: &'d Decision<'a>) -> impl Iterator<Item = &'d Finding<'a>> {
    let licence = d
        .license
        .iter()
        .flat_map(|l| l.reasons.iter().chain(&l.reported_requirements));
    d.classification
        .findings
        .iter()
        .chain(licence)
        .chain(d.tariff.iter().flat_map(|t| &t.findings))
}

/// Findings of `now` that `before` did not have with the same outcome.
fn flipped<'a>(before: &Decision<'a>, now: &Decision<'a>) -> Vec<Finding<'a>> {
    all_findings(now)
        .filter(|f| !all_findings(before).any(|b| b.rule_id == f.rule_id && b.holds == f.holds))
        .cloned()
        .collect()
}

impl RuleBook {
    /// Every date on which some rule data changes, in order.
    fn change_dates(&self) -> Vec<NaiveDate> {
        let p = &self.policy;
        let mut dates: Vec<NaiveDate> = self
            .vintages
            .0
            .iter()
            .flat_map(|v| {
                std::iter::once(v.effective).chain(v.scope.countries.iter().map(|c| c.effective))
            })
            .chain(self.geography.snapshots.iter().map(|s| s.effective))
            .chain([
                p.is_informed.effective,
                p.is_informed.indefinite_from,
                self.tariff.effective,
            ])
            .chain(self.uae.expiries())
            .collect();
        dates.sort_unstable();
        dates.dedup();
        dates
    }

    /// The answer for `spec` and `tx` in every period from before the first
    /// rule set up to `until`, oldest first; consecutive dates with the same
    /// answer are one entry.
    pub fn history(
        &self,
        spec: &ChipSpec,
        tx: Option<&Transaction>,
        until: NaiveDate,
    ) -> Result<Vec<HistoryEntry<'_>>, InvalidRequest> {
        let first = self.vintages.first().effective;
        let start = first.pred_opt().unwrap_or(first);
        let points = std::iter::once((None, start.min(until))).chain(
            self.change_dates()
                .into_iter()
                .filter(|d| *d <= until)
                .map(|d| (Some(d), d)),
        );
        let mut out: Vec<HistoryEntry<'_>> = Vec::new();
        for (from, date) in points {
            let decision = self.classify(spec, tx, date)?;
            let now = outcome(&decision);
            match out.last() {
                Some(last) if outcome(&last.decision) == now => continue,
                Some(last) => {
                    let before = outcome(&last.decision);
                    let changes =
                        changes(&before, &now, (last.decision.rule_set, decision.rule_set));
                    let flipped = flipped(&last.decision, &decision);
                    out.push(HistoryEntry {
                        from,
                        decision,
                        changes,
                        flipped,
                    });
                }
                None => out.push(HistoryEntry {
                    from,
                    decision,
                    changes: Vec::new(),
                    flipped: Vec::new(),
                }),
            }
        }
        Ok(out)
    }
}
