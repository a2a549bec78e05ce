//! Domain -> proto: the answer as the wire carries it, in the view asked.

use super::*;

//
// The decision borrows the rule data's texts; each is copied here, once,
// into the reply (`str::to_owned` is a sized allocation and a copy).

/// How much of an answer to write (AIP-157).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Ids, outcomes, codes and numbers; no explanation, citation or other text.
    Basic,
    Full,
}

impl View {
    fn full(self) -> bool {
        self == View::Full
    }

    /// `text` in the full view; empty in the basic one (nothing copied).
    fn text<'t>(self, text: impl Into<Cow<'t, str>>) -> String {
        if self.full() {
            text.into().into_owned()
        } else {
            String::new()
        }
    }

    /// The list `build` makes in the full view; empty in the basic one
    /// (nothing built).
    fn list<T>(self, build: impl FnOnce() -> Vec<T>) -> Vec<T> {
        if self.full() {
            build()
        } else {
            Vec::new()
        }
    }

    /// What the rules need to write for this view.
    pub fn detail(self) -> rules::Detail {
        match self {
            View::Basic => rules::Detail::Basic,
            View::Full => rules::Detail::Full,
        }
    }
}

/// The view of a request; unset means FULL.
pub fn view(value: i32, field: &str, violations: &mut Vec<Problem>) -> View {
    match pb::ClassificationView::try_from(value) {
        Ok(pb::ClassificationView::Basic) => View::Basic,
        Ok(pb::ClassificationView::Full | pb::ClassificationView::Unspecified) => View::Full,
        Err(_) => {
            violations.push(unknown_enum(field, value));
            View::Full
        }
    }
}

pub fn decision(
    decision: rules::Decision<'_>,
    decision_id: String,
    item_name: String,
    view: View,
) -> pb::ClassifyItemResponse {
    pb::ClassifyItemResponse {
        classification: Some(classification(decision.classification, view)),
        license: decision.license.map(|l| license(l, view)),
        rule_set: decision.rule_set.to_owned(),
        decision_id,
        as_of: iso_date_text(decision.as_of),
        item_name,
        not_evaluated: view.list(|| texts(&decision.not_evaluated)),
        warnings: view.list(|| decision.warnings.into_iter().map(Cow::into_owned).collect()),
        information: findings(decision.information, view),
        index: 0,
        error: None,
        tariff: decision.tariff.map(|t| tariff(t, view)),
    }
}

/// One entry of an item's history.
pub fn history_entry(
    entry: rules::HistoryEntry<'_>,
    decision_id: String,
    item_name: String,
    view: View,
) -> pb::HistoryEntry {
    pb::HistoryEntry {
        effective_date: entry.from.map(iso_date_text).unwrap_or_default(),
        rule_set: entry.decision.rule_set.to_owned(),
        answer: Some(decision(entry.decision, decision_id, item_name, view)),
        changes: entry.changes,
        flipped: findings(entry.flipped, view),
    }
}

fn tariff(t: rules::Tariff<'_>, view: View) -> pb::Tariff {
    pb::Tariff {
        applies: t.applies,
        heading: t.heading.to_owned(),
        rate_percent: t.rate_percent,
        band: t.band,
        exemptions: t
            .exemptions
            .iter()
            .map(|e| pb::TariffExemption {
                heading: e.heading.clone(),
                description: view.text(e.description.as_str()),
            })
            .collect(),
        covered_articles_note: view.text(t.covered_articles_note),
        citation: view.text(t.citation),
        findings: findings(t.findings, view),
    }
}

fn threshold(t: rules::Threshold<'_>, view: View) -> pb::Threshold {
    pb::Threshold {
        rule_id: t.rule_id.to_owned(),
        name: view.text(t.name),
        metric: compact::metric(t.metric) as i32,
        bound: compact::bound(t.bound) as i32,
        limit: t.limit,
        value: t.value,
        met: t.met,
        margin: t.margin,
    }
}

fn texts(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|&text| text.to_owned()).collect()
}

fn classification(c: rules::Classification<'_>, view: View) -> pb::Classification {
    let compact_thresholds = if view.full() {
        None
    } else {
        compact::compact_thresholds(&c.thresholds)
    };
    pb::Classification {
        status: match c.status {
            rules::ControlStatus::Controlled => pb::ControlStatus::Controlled,
            rules::ControlStatus::NotControlled => pb::ControlStatus::NotControlled,
            rules::ControlStatus::Indeterminate => pb::ControlStatus::Indeterminate,
            rules::ControlStatus::NotInForce => pb::ControlStatus::NotInForce,
        } as i32,
        eccn: c.eccn.to_owned(),
        paragraph: c.paragraph.to_owned(),
        paragraphs_met: texts(&c.paragraphs_met),
        tpp: c.tpp,
        performance_density: c.performance_density,
        tpp_bit_length: c.tpp_bit_length,
        tpp_by_precision: c
            .tpp_by_precision
            .into_iter()
            .map(|p| pb::PrecisionTpp {
                bit_length: p.bit_length,
                format: p.format,
                tpp: p.tpp,
            })
            .collect(),
        applicable_die_area_mm2: c.applicable_die_area_mm2,
        memory_bandwidth_density: c.memory_bandwidth_density,
        findings: findings(c.findings, view),
        open_tests: view.list(|| c.open_tests),
        market_assumed_datacenter: c.market_assumed_datacenter,
        eligible_license_exceptions: texts(&c.eligible_license_exceptions),
        // BASIC: the same thresholds in columns, under a third of the bytes.
        thresholds: match &compact_thresholds {
            Some(_) => Vec::new(),
            None => c
                .thresholds
                .into_iter()
                .map(|t| threshold(t, view))
                .collect(),
        },
        compact_thresholds,
        ics_per_unit: c.ics_per_unit,
        tpp_per_unit: c.tpp_per_unit,
    }
}

fn license(l: rules::LicenseDetermination<'_>, view: View) -> pb::LicenseDetermination {
    pb::LicenseDetermination {
        license_required: l.license_required(),
        status: match l.status {
            rules::LicenseStatus::Required => pb::LicenseStatus::Required,
            rules::LicenseStatus::NotRequired => pb::LicenseStatus::NotRequired,
            rules::LicenseStatus::Indeterminate => pb::LicenseStatus::Indeterminate,
        } as i32,
        review_policy: review_policy(l.review_policy) as i32,
        license_exceptions: l
            .license_exceptions
            .iter()
            .map(|e| e.code.to_owned())
            .collect(),
        license_exception_details: l
            .license_exceptions
            .into_iter()
            .map(|e| pb::LicenseExceptionDetail {
                code: e.code.to_owned(),
                citation: view.text(e.citation),
                prior_notification_required: e.prior_notification_required,
                notification_review_days: e.notification_review_days,
                aes_code: e.aes_code.to_owned(),
                explanation: view.text(e.explanation),
            })
            .collect(),
        reasons: findings(l.reasons, view),
        conditions: view.list(|| texts(&l.conditions)),
        normalized_destination: l.normalized_destination.to_owned(),
        reported_requirements: findings(l.reported_requirements, view),
    }
}

pub fn review_policy(policy: rules::ReviewPolicy) -> pb::ReviewPolicy {
    match policy {
        rules::ReviewPolicy::NotApplicable => pb::ReviewPolicy::NotApplicable,
        rules::ReviewPolicy::PresumptionOfDenial => pb::ReviewPolicy::PresumptionOfDenial,
        rules::ReviewPolicy::CaseByCase => pb::ReviewPolicy::CaseByCase,
        rules::ReviewPolicy::PresumptionOfApproval => pb::ReviewPolicy::PresumptionOfApproval,
        rules::ReviewPolicy::Indeterminate => pb::ReviewPolicy::Indeterminate,
    }
}

fn findings(findings: Vec<rules::Finding<'_>>, view: View) -> Vec<pb::Finding> {
    findings.into_iter().map(|f| finding(f, view)).collect()
}

fn finding(f: rules::Finding<'_>, view: View) -> pb::Finding {
    pb::Finding {
        rule_id: f.rule_id.to_owned(),
        holds: f.holds,
        explanation: view.text(f.explanation),
        citation: view.text(f.citation),
        source: source_tag(f.source) as i32,
    }
}

pub fn source_tag(tag: rules::SourceTag) -> pb::SourceTag {
    match tag {
        rules::SourceTag::RuleText => pb::SourceTag::RuleText,
        rules::SourceTag::Secondary => pb::SourceTag::Secondary,
        rules::SourceTag::Derived => pb::SourceTag::Derived,
        rules::SourceTag::Unconfirmed => pb::SourceTag::Unconfirmed,
    }
}

/// The proto form of a domain spec (catalogue entries).
pub fn spec_to_proto(spec: &rules::ChipSpec) -> pb::ChipSpec {
    pb::ChipSpec {
        name: spec.name.clone(),
        kind: match spec.kind {
            rules::ItemKind::IntegratedCircuit => pb::ItemKind::IntegratedCircuit,
            rules::ItemKind::ComputerOrAssembly => pb::ItemKind::ComputerOrAssembly,
            rules::ItemKind::HbmStack => pb::ItemKind::HbmStack,
        } as i32,
        rates: spec
            .rates
            .iter()
            .map(|r| pb::ProcessingRate {
                bit_length: r.bit_length,
                dense_tops: r.dense_tops,
                format: r.format.clone(),
            })
            .collect(),
        dies: spec
            .dies
            .iter()
            .map(|d| pb::Die {
                area_mm2: d.area_mm2,
                non_planar: d.non_planar,
                memory: d.memory,
                label: String::new(),
            })
            .collect(),
        dram_bandwidth_gb_s: spec.dram_bandwidth_gb_s.unwrap_or(0.0),
        interconnect_bandwidth_gb_s: spec.interconnect_bandwidth_gb_s.unwrap_or(0.0),
        market: match spec.market {
            rules::Market::Unspecified => pb::Market::Unspecified,
            rules::Market::Datacenter => pb::Market::Datacenter,
            rules::Market::NonDatacenter => pb::Market::NonDatacenter,
        } as i32,
        market_justification: String::new(),
        hbm_bandwidth_gb_s: spec.hbm_bandwidth_gb_s.unwrap_or(0.0),
        hbm_package_area_mm2: spec.hbm_package_area_mm2.unwrap_or(0.0),
        contained_ics: spec
            .contained_ics
            .iter()
            .map(|ic| pb::ContainedIntegratedCircuit {
                ic: Some(pb::contained_integrated_circuit::Ic::Spec(spec_to_proto(
                    &ic.spec,
                ))),
                count: ic.count,
            })
            .collect(),
        us_commercially_available_2026_01_15: spec.us_commercially_available_2026_01_15,
    }
}
