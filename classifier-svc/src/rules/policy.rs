//! The licence layer: destination and headquarters rules applied to the
//! classification, review policy, License Exceptions, the January 2026
//! overlay, the April 2025 is-informed overlay and AI Diffusion information.

use super::countries::{Cc, CountrySet};
use super::destinations::{hq_status, Hq, Place};
use super::eccn::{Assessed, ChipFigures, Level};
use super::findings::{push_cmp, push_num, Out, Relied, Relies, Rule, RuleTable, Text};
use super::model::{
    ControlStatus, EndUserKind, ExportType, Finding, LicenseDetermination, LicenseExceptionDetail,
    LicenseStatus, ReviewPolicy, Tariff, Transaction,
};
use super::uae::UaePath;
use super::vintage::Vintage;
use super::RuleBook;
use chrono::NaiveDate;

#[path = "policy_informed.rs"]
mod informed;
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Items {
    Any,
    DatacenterA,
    /// 3A090/4A090 other than datacenter .a: non-datacenter .a and all .b.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Situation {
    /// Destination in D:5 or Macau (China incl. HK).
    RestrictedDestination,
    /// A party headquartered in D:5 or Macau, located elsewhere.
    HqParty,
    /// Any other destination in scope (D:1/D:4 outside D:5 and Macau).
    OtherScope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ExcItems {
    NonDatacenterAOrB,
    HbmC,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ExcDest {
    AnyLicensed,
    RestrictedOrHqParty,
    OtherScopeOrInCountryRestricted,
    Limited,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum When {
    Always,
    ALevel,
    CLevel,
}

#[derive(Debug, Clone)]
pub(crate) struct PolicyRow {
    pub rule: Rule,
    pub from: usize,
    pub items: Items,
    pub situation: Situation,
    pub policy: ReviewPolicy,
    pub unverified: bool,
    pub conflict_note: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Fr26 {
    pub rule: Rule,
    pub route_rule: Rule,
    pub from: usize,
    pub tpp_below: f64,
    pub dram_below: f64,
    pub destinations: CountrySet,
    pub export_types: Vec<ExportType>,
    pub availability_date: NaiveDate,
    pub conditions: Vec<String>,
    /// Added unless the end user is known not to be an IaaS provider.
    pub iaas_conditions: Vec<String>,
    /// The extra condition when a party's headquarters are not given; it
    /// depends only on the data, so it is built once at load.
    pub unknown_party_condition: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ExceptionRow {
    pub code: String,
    pub rule: Rule,
    pub from: usize,
    pub items: ExcItems,
    pub destinations: ExcDest,
    pub prior_notification_required: bool,
    pub notification_review_days: u32,
    pub aes_code: String,
    pub mechanics: String,
}

#[derive(Debug, Clone)]
pub(crate) struct IsInformed {
    pub rule: Rule,
    pub effective: NaiveDate,
    pub indefinite_from: NaiveDate,
    pub dram_min: f64,
    pub io_min: f64,
    pub combined_min: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct AiDiffusion {
    pub rule: Rule,
    pub from: usize,
    pub tier1: CountrySet,
    pub status: String,
}

#[derive(Debug, Clone)]
pub(crate) struct NotEvaluated {
    pub text: String,
    pub when: When,
    pub from: usize,
}

const CLASSES: [Items; 2] = [Items::DatacenterA, Items::Other];
const SITUATIONS: [Situation; 3] = [
    Situation::RestrictedDestination,
    Situation::HqParty,
    Situation::OtherScope,
];

#[derive(Debug)]
pub(crate) struct PolicyBook {
    /// The overlay's availability date as text, formatted once.
    fr26_date: String,
    pub normalisation: Rule,
    pub hq_rule: Rule,
    pub hq_from: usize,
    review: Vec<PolicyRow>,
    /// `[vintage][class][situation]` -> row of `review` in force.
    review_table: Vec<[[Option<usize>; 3]; 2]>,
    pub fr26: Fr26,
    exceptions: Vec<ExceptionRow>,
    /// Per vintage, the latest row of each exception code.
    exceptions_in_force: Vec<Vec<usize>>,
    pub is_informed: IsInformed,
    pub ai: AiDiffusion,
    pub not_evaluated: Vec<NotEvaluated>,
}

/// The licence-layer rows as loaded, before the per-vintage tables.
pub(crate) struct PolicyParts {
    pub normalisation: Rule,
    pub hq_rule: Rule,
    pub hq_from: usize,
    pub review: Vec<PolicyRow>,
    pub fr26: Fr26,
    pub exceptions: Vec<ExceptionRow>,
    pub is_informed: IsInformed,
    pub ai: AiDiffusion,
    pub not_evaluated: Vec<NotEvaluated>,
}

impl PolicyBook {
    /// Precomputes the rows in force per vintage and refuses data that leaves
    /// a situation without a review policy where it can arise.
    pub(crate) fn new(parts: PolicyParts, vintages: &[Vintage]) -> Result<PolicyBook, String> {
        let PolicyParts {
            normalisation,
            hq_rule,
            hq_from,
            review,
            fr26,
            exceptions,
            is_informed,
            ai,
            not_evaluated,
        } = parts;
        let review_table: Vec<[[Option<usize>; 3]; 2]> = (0..vintages.len())
            .map(|v| {
                CLASSES.map(|class| {
                    SITUATIONS.map(|situation| {
                        review
                            .iter()
                            .enumerate()
                            .filter(|(_, r)| {
                                r.from <= v
                                    && r.situation == situation
                                    && (r.items == Items::Any || r.items == class)
                            })
                            .max_by_key(|(_, r)| (r.from, r.items != Items::Any))
                            .map(|(i, _)| i)
                    })
                })
            })
            .collect();
        for (v, table) in vintages.iter().zip(&review_table) {
            // Only the destination situation exists before the headquarters
            // rule and group-based scope.
            let situations = if v.index >= hq_from {
                SITUATIONS.len()
            } else {
                1
            };
            if table.iter().any(|row| row[..situations].contains(&None)) {
                return Err(format!(
                    "policy.toml: a review policy is missing under {}",
                    v.id
                ));
            }
        }
        let exceptions_in_force = (0..vintages.len())
            .map(|v| {
                let mut rows: Vec<usize> = Vec::new();
                for (i, e) in exceptions.iter().enumerate().filter(|(_, e)| e.from <= v) {
                    match rows.iter_mut().find(|j| exceptions[**j].code == e.code) {
                        Some(j) if exceptions[*j].from <= e.from => *j = i,
                        Some(_) => {}
                        None => rows.push(i),
                    }
                }
                rows
            })
            .collect();
        Ok(PolicyBook {
            fr26_date: fr26.availability_date.format("%Y-%m-%d").to_string(),
            normalisation,
            hq_rule,
            hq_from,
            review,
            review_table,
            fr26,
            exceptions,
            exceptions_in_force,
            is_informed,
            ai,
            not_evaluated,
        })
    }

    fn review_row(&self, v: usize, class: Items, situation: Situation) -> Option<&PolicyRow> {
        let c = usize::from(class == Items::Other);
        let s = SITUATIONS.iter().position(|x| *x == situation)?;
        self.review_table.get(v)?[c][s].map(|i| &self.review[i])
    }

    fn exceptions(&self, v: usize) -> impl Iterator<Item = &ExceptionRow> {
        self.exceptions_in_force
            .get(v)
            .into_iter()
            .flatten()
            .map(|i| &self.exceptions[*i])
    }

    /// License Exceptions the item qualifies for under a vintage, whatever
    /// the transaction.
    pub(crate) fn item_exceptions(&self, v: &Vintage, a: &Assessed) -> Vec<&str> {
        let class = item_class(a);
        let mbd_ok = hbm_exception_holds(v, a);
        self.exceptions(v.index)
            .filter(|e| match e.items {
                ExcItems::NonDatacenterAOrB => class == Some(Items::Other),
                ExcItems::HbmC => mbd_ok == Some(true),
            })
            .map(|e| e.code.as_str())
            .collect()
    }
}

/// `Some(DatacenterA | Other)` for items at .a or .b level.
fn item_class(a: &Assessed) -> Option<Items> {
    if a.classification.status != ControlStatus::Controlled {
        return None;
    }
    match a.level {
        Level::A if a.datacenter => Some(Items::DatacenterA),
        Level::A | Level::B => Some(Items::Other),
        Level::None | Level::Indeterminate => None,
    }
}

fn hbm_exception_holds(v: &Vintage, a: &Assessed) -> Option<bool> {
    let ceiling = v.hbm.as_ref()?.exception_mbd_below?;
    (a.hbm_c).then(|| {
        a.classification
            .memory_bandwidth_density
            .is_some_and(|m| m < ceiling)
    })
}

/// Parsed, validated transaction parties.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parties {
    pub destination: Cc,
    pub end_user: Option<Cc>,
    pub parent: Option<Cc>,
}

enum Eligibility {
    Yes,
    If(&'static str),
    No,
}

/// The licence layer for one transaction: the rule data (`'a`, which the
/// answer borrows) and the classification's state it reads and adds to (`'s`).
pub(crate) struct Licence<'a, 's> {
    pub book: &'a RuleBook,
    pub relied: &'s Relied,
    pub v: &'a Vintage,
    pub as_of: NaiveDate,
    pub a: &'s Assessed<'a>,
    pub tx: &'s Transaction,
    pub warnings: &'s mut Vec<Cow<'a, str>>,
    pub information: &'s mut Vec<Finding<'a>>,
    /// The Section 232 block, when the date has one.
    pub tariff: Option<&'s Tariff<'a>>,
    /// Whether the reasons carry explanations (see `eccn::Ctx::detail`).
    pub detail: bool,
}

fn push_party(e: &mut impl Out, role: &str, party: Option<Cc>) {
    e.push_str(role);
    e.push_str(" HQ ");
    e.push_str(party.map_or("not given", Cc::as_str));
}

impl<'a> Relies<'a> for Licence<'a, '_> {
    fn table(&self) -> &'a RuleTable {
        &self.book.rules
    }

    fn relied(&self) -> &Relied {
        self.relied
    }
}

impl<'a> Licence<'a, '_> {
    /// An explanation with room for `capacity` bytes, written only with
    /// `detail`.
    fn text(&self, capacity: usize) -> Text {
        Text::with_capacity(self.detail, capacity)
    }

    pub(crate) fn determine(mut self, parties: Parties) -> LicenseDetermination<'a> {
        let book = self.book;
        let g = &book.geography;
        let p = &book.policy;
        let dest = g.normalise(parties.destination);
        let mut det = LicenseDetermination {
            status: LicenseStatus::NotRequired,
            review_policy: ReviewPolicy::NotApplicable,
            license_exceptions: Vec::new(),
            reasons: Vec::with_capacity(6),
            conditions: Vec::new(),
            normalized_destination: dest.as_str(),
            reported_requirements: Vec::new(),
        };
        if dest != parties.destination {
            let mut e = self.text(24);
            e.push_str(parties.destination.as_str());
            e.push_str(" treated as ");
            e.push_str(dest.as_str());
            det.reasons.push(self.finding(p.normalisation, true, e));
        }
        let place = g.place(self.v, self.as_of);
        if let Some(w) = place.snapshot.and_then(|s| s.unverified_warning.as_deref()) {
            self.warnings.push(Cow::Borrowed(w));
        }
        let in_scope = place.scope.contains(dest);
        let status = self.a.classification.status;
        let hbm_item = self.a.hbm_item && status != ControlStatus::NotControlled;
        let possibly_controlled =
            status == ControlStatus::Indeterminate || item_class(self.a).is_some();
        det.reasons.push(self.scope_finding(
            &place,
            dest,
            in_scope,
            possibly_controlled || hbm_item,
        ));

        if hbm_item {
            self.hbm_licence(&mut det);
        } else if possibly_controlled {
            let mut parties = [parties.end_user, parties.parent].map(|c| c.map(|c| g.normalise(c)));
            let uae = &book.uae;
            let path = uae
                .applies(self.v.index, dest)
                .then(|| uae.path(self.tx, self.as_of));
            // A path that names the end user also says where it is
            // headquartered, for the parties not given.
            if let Some(hq) = path.as_ref().and_then(|p| uae.headquarters(p)) {
                parties.iter_mut().for_each(|c| {
                    c.get_or_insert(hq);
                });
            }
            let hq = if self.v.index >= p.hq_from {
                hq_status(&place.restricted, parties)
            } else {
                Hq::NotInForce
            };
            if hq != Hq::NotInForce {
                det.reasons.push(self.hq_finding(hq, parties));
            }
            if let Some(path) = &path {
                let hq_hit = hq == Hq::Hit;
                uae.findings(
                    &book.rules,
                    self.relied,
                    path,
                    self.tx,
                    hq_hit,
                    &mut det.reasons,
                );
                if matches!(path, UaePath::UsCompany(_)) && hq != Hq::Hit {
                    self.warnings
                        .push(Cow::Borrowed(uae.us_company_warning.as_str()));
                }
            }
            let uae_requires = path.as_ref().is_some_and(|p| !p.licence_free());
            self.controlled_licence(
                &mut det,
                &place,
                dest,
                in_scope || uae_requires,
                hq,
                parties,
            );
            if uae_requires && hq != Hq::Hit && det.status == LicenseStatus::Required {
                // The rule text seen gives no review policy for this path.
                det.review_policy = ReviewPolicy::Indeterminate;
                det.reasons
                    .retain(|f| f.rule_id != book.rules.meta(Rule::D1D4Approval).id);
                self.warnings
                    .push(Cow::Borrowed(uae.policy_unknown.as_str()));
            }
        }
        self.is_informed(&mut det, &place, dest);
        self.ai_diffusion(&place, dest);
        det
    }

    fn scope_finding(
        &self,
        place: &Place<'a>,
        dest: Cc,
        in_scope: bool,
        relevant: bool,
    ) -> Finding<'a> {
        let mut e = self.text(96);
        e.push_str(dest.as_str());
        if let Some(s) = place.snapshot {
            s.push_memberships(&mut e, dest);
        }
        e.push_str(if in_scope {
            ": in the licence scope"
        } else {
            ": not in the licence scope"
        });
        if let Some(s) = place.snapshot {
            e.push_str(" under ");
            e.push_str(&s.id);
        }
        if !relevant {
            e.push_str("; item outside 3A090/4A090: no licence under these rules");
        }
        let rule = if self.v.scope.group_based() {
            Rule::Scope
        } else {
            Rule::Scope2022
        };
        // Membership comes from the snapshot, so its citation and tag apply too.
        match place.snapshot {
            Some(s) => {
                self.relied.note(rule, in_scope);
                let rules = &self.book.rules;
                rules.finding_cited(rule, in_scope, e, &s.scope_citation, s.source)
            }
            None => self.finding(rule, in_scope, e),
        }
    }

    fn hq_finding(&self, hq: Hq, parties: [Option<Cc>; 2]) -> Finding<'a> {
        let mut e = self.text(128);
        push_party(&mut e, "end user", parties[0]);
        push_party(&mut e, ", ultimate parent", parties[1]);
        e.push_str(match hq {
            Hq::Hit => ": headquartered in D:5 or Macau, licence required wherever located",
            Hq::Unknown => ": not known to be outside D:5 and Macau",
            Hq::Clear | Hq::NotInForce => ": neither in D:5 nor Macau",
        });
        self.finding(self.book.policy.hq_rule, hq == Hq::Hit, e)
    }

    fn hbm_licence(&mut self, det: &mut LicenseDetermination<'a>) {
        det.status = LicenseStatus::Indeterminate;
        det.review_policy = ReviewPolicy::Indeterminate;
        let e = "3A090.c licence scope is unconfirmed: not evaluated";
        det.reasons.push(self.finding(Rule::CScope, false, e));
        if hbm_exception_holds(self.v, self.a) == Some(true) {
            let ceiling = self
                .v
                .hbm
                .as_ref()
                .and_then(|h| h.exception_mbd_below)
                .unwrap_or(0.0);
            for row in self
                .book
                .policy
                .exceptions(self.v.index)
                .filter(|e| e.items == ExcItems::HbmC)
            {
                let mut e = self.text(0);
                let mbd = self
                    .a
                    .classification
                    .memory_bandwidth_density
                    .unwrap_or(0.0);
                push_cmp(&mut e, "MBD", mbd, true, "<", ">=", ceiling);
                e.push_str(": ");
                e.push_str(&row.mechanics);
                det.license_exceptions.push(self.exception_detail(row, e));
            }
        }
    }

    fn exception_detail(
        &self,
        row: &'a ExceptionRow,
        explanation: impl Into<Cow<'a, str>>,
    ) -> LicenseExceptionDetail<'a> {
        LicenseExceptionDetail {
            code: &row.code,
            citation: &self.book.rules.meta(row.rule).citation,
            prior_notification_required: row.prior_notification_required,
            notification_review_days: row.notification_review_days,
            aes_code: &row.aes_code,
            explanation: explanation.into(),
        }
    }

    fn controlled_licence(
        &mut self,
        det: &mut LicenseDetermination<'a>,
        place: &Place<'a>,
        dest: Cc,
        in_scope: bool,
        hq: Hq,
        parties: [Option<Cc>; 2],
    ) {
        let required = in_scope || hq == Hq::Hit;
        let Some(class) = item_class(self.a) else {
            // Unresolved classification: it matters only where an .a/.b item
            // would need a licence.
            if required || hq == Hq::Unknown {
                det.status = LicenseStatus::Indeterminate;
                det.review_policy = ReviewPolicy::Indeterminate;
            }
            return;
        };
        let texts = &self.book.texts;
        if !required {
            if hq == Hq::Unknown {
                det.status = LicenseStatus::Indeterminate;
                det.review_policy = ReviewPolicy::Indeterminate;
                self.warnings.push(Cow::Borrowed(texts.hq_unknown.as_str()));
            }
            return;
        }
        det.status = LicenseStatus::Required;
        let restricted = place.restricted.contains(dest);
        let situation = match hq {
            _ if restricted => Some(Situation::RestrictedDestination),
            Hq::Hit => Some(Situation::HqParty),
            Hq::Unknown => None,
            Hq::Clear | Hq::NotInForce => Some(Situation::OtherScope),
        };
        let p = &self.book.policy;
        match situation.and_then(|s| p.review_row(self.v.index, class, s)) {
            Some(row) => {
                det.review_policy = row.policy;
                let mut e = self.text(128);
                e.push_str(match class {
                    Items::DatacenterA => "datacenter .a-level item",
                    _ => ".b-level or non-datacenter .a-level item",
                });
                e.push_str(match row.situation {
                    Situation::RestrictedDestination => " to D:5 or Macau",
                    Situation::HqParty => " for a party headquartered in D:5 or Macau",
                    Situation::OtherScope => {
                        " to a D:1/D:4 destination with no D:5/Macau-headquartered party"
                    }
                });
                e.push_str(match row.policy {
                    ReviewPolicy::PresumptionOfDenial => ": presumption of denial",
                    ReviewPolicy::CaseByCase => ": case-by-case",
                    ReviewPolicy::PresumptionOfApproval => ": presumption of approval",
                    ReviewPolicy::NotApplicable | ReviewPolicy::Indeterminate => "",
                });
                det.reasons.push(self.finding(row.rule, true, e));
                if row.unverified {
                    self.warnings
                        .push(Cow::Borrowed(texts.policy_unverified.as_str()));
                }
                if row.conflict_note && self.v.index < p.fr26.from {
                    self.warnings
                        .push(Cow::Borrowed(texts.hq_conflict.as_str()));
                }
            }
            None => {
                det.review_policy = ReviewPolicy::Indeterminate;
                self.warnings.push(Cow::Borrowed(texts.hq_unknown.as_str()));
            }
        }
        if class == Items::DatacenterA
            && situation == Some(Situation::RestrictedDestination)
            && self.v.index >= p.fr26.from
            && p.fr26.destinations.contains(dest)
        {
            self.fr26(det, place, parties);
        }
        if class == Items::Other {
            self.nac_aca(det, restricted, hq);
        }
    }

    fn fr26(
        &mut self,
        det: &mut LicenseDetermination<'a>,
        place: &Place<'a>,
        parties: [Option<Cc>; 2],
    ) {
        let f = &self.book.policy.fr26;
        let chips: ChipFigures = self.a.a_chips.unwrap_or_default();
        let mut e = self.text(160);
        let tpp_ok = chips.tpp < f.tpp_below;
        push_cmp(&mut e, "TPP", chips.tpp, tpp_ok, "<", ">=", f.tpp_below);
        let dram_ok = match chips.dram {
            Some(d) => {
                let ok = d < f.dram_below;
                e.push_str(", ");
                push_cmp(&mut e, "DRAM bandwidth", d, ok, "<", ">=", f.dram_below);
                e.push_str(" GB/s");
                ok
            }
            None => {
                e.push_str(", DRAM bandwidth unknown: overlay not applicable");
                false
            }
        };
        let available = chips.available == Some(true);
        e.push_str(match chips.available {
            Some(true) => ", commercially available in the US on ",
            Some(false) => ", not commercially available in the US on ",
            None => ", US commercial availability unknown (overlay not applicable) on ",
        });
        e.push_str(&self.book.policy.fr26_date);
        let route_ok = f.export_types.contains(&self.tx.export_type);
        e.push_str(if route_ok {
            ", export from the US"
        } else {
            ", not an export from the US"
        });
        // A D:5/Macau-headquartered party outside China/Macau keeps denial.
        let foreign_hq = parties
            .iter()
            .flatten()
            .find(|c| place.restricted.contains(**c) && !f.destinations.contains(**c));
        if let Some(c) = foreign_hq {
            e.push_str(", party headquartered in ");
            e.push_str(c.as_str());
            e.push_str(" (D:5) outside China/Macau");
        }
        let holds = tpp_ok && dram_ok && available && route_ok && foreign_hq.is_none();
        det.reasons.push(self.finding(f.rule, holds, e));
        if holds {
            det.review_policy = ReviewPolicy::CaseByCase;
            det.conditions
                .reserve_exact(f.conditions.len() + f.iaas_conditions.len() + 1);
            det.conditions
                .extend(f.conditions.iter().map(String::as_str));
            if matches!(
                self.tx.end_user_kind,
                EndUserKind::Unspecified | EndUserKind::IaasProvider
            ) {
                det.conditions
                    .extend(f.iaas_conditions.iter().map(String::as_str));
            }
            if parties.iter().any(Option::is_none) {
                det.conditions.push(&f.unknown_party_condition);
            }
            if let Some(t) = self.tariff {
                let mut e = self.text(192);
                e.push_str("the laboratory test of (dd)(3) is made in U.S. customs territory before export, so the chip enters the United States: ");
                if t.heading.is_empty() {
                    e.push_str("tariff heading undecided (a figure is unknown)");
                } else {
                    e.push_str(t.heading);
                    if t.band != 0 {
                        e.push_str(" band ");
                        push_num(&mut e, f64::from(t.band));
                    }
                    e.push_str(", duty ");
                    push_num(&mut e, t.rate_percent);
                    e.push_str(
                        "% on covered articles containing it (unless an end-use exemption applies)",
                    );
                }
                let rule = self.book.tariff.customs_rule;
                det.reasons.push(self.finding(rule, t.applies, e));
            }
        } else if !route_ok {
            let e = "not an export from the US: presumption of denial stays";
            det.reasons.push(self.finding(f.route_rule, true, e));
        }
    }

    fn nac_aca(&self, det: &mut LicenseDetermination<'a>, restricted: bool, hq: Hq) {
        let in_country = self.tx.export_type == ExportType::InCountryTransfer;
        for row in self
            .book
            .policy
            .exceptions(self.v.index)
            .filter(|e| e.items == ExcItems::NonDatacenterAOrB)
        {
            let eligibility = match (row.destinations, restricted, hq) {
                (ExcDest::AnyLicensed, ..) => Eligibility::Yes,
                (ExcDest::RestrictedOrHqParty, true, _) if !in_country => Eligibility::Yes,
                (ExcDest::RestrictedOrHqParty, false, Hq::Hit) => Eligibility::Yes,
                (ExcDest::RestrictedOrHqParty, false, Hq::Unknown) => {
                    Eligibility::If("if the end user or its ultimate parent is headquartered in D:5 or Macau")
                }
                (ExcDest::OtherScopeOrInCountryRestricted, true, _) if in_country => Eligibility::Yes,
                (ExcDest::OtherScopeOrInCountryRestricted, false, Hq::Clear | Hq::NotInForce) => Eligibility::Yes,
                (ExcDest::OtherScopeOrInCountryRestricted, false, Hq::Unknown) => {
                    Eligibility::If("if neither the end user nor its ultimate parent is headquartered in D:5 or Macau")
                }
                _ => Eligibility::No,
            };
            let explanation = match eligibility {
                Eligibility::No => continue,
                Eligibility::Yes => Cow::Borrowed(row.mechanics.as_str()),
                Eligibility::If(condition) => format!("{condition}; {}", row.mechanics).into(),
            };
            det.license_exceptions
                .push(self.exception_detail(row, explanation));
        }
    }

    fn ai_diffusion(&mut self, place: &Place<'a>, dest: Cc) {
        let ai = &self.book.policy.ai;
        if self.v.index < ai.from {
            return;
        }
        let tier = if ai.tier1.contains(dest) {
            1
        } else if place.tier3.contains(dest) {
            3
        } else {
            2
        };
        let mut e = self.text(48 + ai.status.len());
        e.push_str(dest.as_str());
        e.push_str(": AI Diffusion Tier ");
        push_num(&mut e, f64::from(tier));
        e.push_str(" (information only; ");
        e.push_str(&ai.status);
        e.push(')');
        // Information is never relied on, so it bypasses `Relied`.
        let finding = self.book.rules.finding(ai.rule, tier != 1, e);
        self.information.push(finding);
    }
}
