//! Pure domain core: classification of AI chips under 3A090/4A090 and the
//! licence decision, driven by the versioned rule data in `rules/*.toml`.

mod countries;
mod data;
mod destinations;
mod eccn;
mod findings;
mod history;
mod metrics;
pub mod model;
mod policy;
mod tariff;
mod thresholds;
mod uae;
mod validate;
mod vintage;

#[cfg(test)]
mod scenarios;

pub use history::{control_status_name, licence_status_name, review_policy_name};
pub use model::*;

use chrono::NaiveDate;
use data::Texts;
use destinations::Geography;
use eccn::{Assessed, ChipFigures, Ctx, Level};
use findings::{Relied, Rule, RuleTable};
use policy::{Licence, Parties, PolicyBook, When};
use std::borrow::Cow;
use std::sync::OnceLock;
use vintage::{Vintage, Vintages};

/// The rule data, parsed and validated once, with per-vintage tables
/// precomputed so that a classification only compares numbers and sets.
#[derive(Debug)]
pub struct RuleBook {
    pub(crate) rules: RuleTable,
    pub(crate) vintages: Vintages,
    pub(crate) geography: Geography,
    pub(crate) policy: PolicyBook,
    pub(crate) texts: Texts,
    pub(crate) uae: uae::UaeRule,
    pub(crate) tariff: tariff::TariffRule,
}

/// Rule set id reported before the first vintage.
const NO_RULE_SET: &str = "NONE";

impl RuleBook {
    /// Parsed and validated once from the embedded data; panics only if the
    /// embedded data is broken, which a unit test proves it is not.
    pub fn builtin() -> &'static RuleBook {
        static BOOK: OnceLock<RuleBook> = OnceLock::new();
        BOOK.get_or_init(|| {
            data::load(&data::BUILTIN)
                .unwrap_or_else(|e| panic!("embedded rule data is invalid: {e}"))
        })
    }

    /// Validates the spec and the transaction, classifies the item under the
    /// vintage in force on `as_of` and, given a transaction, decides the licence.
    pub fn classify(
        &self,
        spec: &ChipSpec,
        tx: Option<&Transaction>,
        as_of: NaiveDate,
    ) -> Result<Decision<'_>, InvalidRequest> {
        self.classify_with(spec, tx, as_of, Detail::Full)
    }

    /// As [`RuleBook::classify`], with the findings' explanations written
    /// only for [`Detail::Full`]: a BASIC answer drops them, so the rules do
    /// not build them. Outcomes, rule ids and numbers are the same.
    pub fn classify_with(
        &self,
        spec: &ChipSpec,
        tx: Option<&Transaction>,
        as_of: NaiveDate,
        detail: Detail,
    ) -> Result<Decision<'_>, InvalidRequest> {
        let detail = detail == Detail::Full;
        let parties = validate::check(&self.geography, spec, tx)?;
        let Some(v) = self.vintages.in_force(as_of) else {
            return Ok(self.not_in_force(spec, parties, as_of));
        };
        let relied = Relied::default();
        let mut a = Ctx {
            rules: &self.rules,
            relied: &relied,
            texts: &self.texts,
            v,
            detail,
        }
        .assess(spec);
        a.classification.eligible_license_exceptions = self.policy.item_exceptions(v, &a);
        a.classification.thresholds = thresholds::compute(self, v, as_of, &a, spec.kind);
        let tariff = self.tariff.in_force(as_of).then(|| {
            self.tariff
                .assess(&self.rules, a.figures.tpp, a.figures.dram, detail)
        });
        let mut warnings = std::mem::take(&mut a.warnings);
        warnings.reserve(4);
        let mut information = Vec::with_capacity(1);
        if let Some(w) = v.unconfirmed_warning.as_deref() {
            warnings.push(Cow::Borrowed(w));
        }
        let license = tx.zip(parties).map(|(tx, parties)| {
            let licence = Licence {
                book: self,
                relied: &relied,
                v,
                as_of,
                a: &a,
                tx,
                warnings: &mut warnings,
                information: &mut information,
                tariff: tariff.as_ref(),
                detail,
            };
            licence.determine(parties)
        });
        self.flag_unconfirmed(&relied, &mut warnings);
        Ok(Decision {
            rule_set: &v.id,
            as_of,
            not_evaluated: self.not_evaluated(Some(v), &a),
            classification: a.classification,
            license,
            warnings,
            information,
            tariff,
        })
    }

    /// Checks a spec and transaction without classifying: every problem.
    pub fn validate(
        &self,
        spec: &ChipSpec,
        tx: Option<&Transaction>,
    ) -> Result<(), InvalidRequest> {
        validate::check(&self.geography, spec, tx).map(|_| ())
    }

    /// Every vintage loaded, in date order.
    pub fn rule_sets(&self) -> Vec<RuleSetInfo> {
        self.vintages.0.iter().map(Vintage::info).collect()
    }

    /// Every dated country-group snapshot, e.g. "CG2026 effective 2026-02-03".
    pub fn country_group_snapshots(&self) -> Vec<String> {
        self.geography
            .snapshots
            .iter()
            .map(|s| format!("{} effective {}", s.id, s.effective))
            .collect()
    }

    /// ISO 3166-1 alpha-2, upper case.
    pub fn is_known_country(&self, code: &str) -> bool {
        self.geography.is_known(code)
    }

    /// One warning naming every unconfirmed rule the answer relies on.
    fn flag_unconfirmed(&self, relied: &Relied, warnings: &mut Vec<Cow<'_, str>>) {
        // Most answers rely on no unconfirmed rule: allocate only for one.
        let mut w = String::new();
        for meta in relied
            .rules()
            .map(|r| self.rules.meta(r))
            .filter(|m| !m.confirmed)
        {
            if w.is_empty() {
                w.reserve(128);
                w.push_str("relies on unconfirmed rules: ");
            } else {
                w.push_str(", ");
            }
            w.push_str(&meta.id);
        }
        if !w.is_empty() {
            warnings.push(w.into());
        }
    }

    fn not_evaluated(&self, v: Option<&Vintage>, a: &Assessed) -> Vec<&str> {
        let index = v.map(|v| v.index);
        let mut out = Vec::with_capacity(self.policy.not_evaluated.len());
        let applies = self
            .policy
            .not_evaluated
            .iter()
            .filter(|n| index.is_some_and(|i| i >= n.from) || (index.is_none() && n.from == 0))
            .filter(|n| match n.when {
                When::Always => true,
                When::ALevel => a.level == Level::A,
                When::CLevel => a.hbm_item,
            });
        out.extend(applies.map(|n| n.text.as_str()));
        out
    }

    /// Before the first vintage: metrics only, no control, no licence.
    fn not_in_force(
        &self,
        spec: &ChipSpec,
        parties: Option<Parties>,
        as_of: NaiveDate,
    ) -> Decision<'_> {
        let m = metrics::compute(spec);
        let first = self.vintages.first();
        let explanation = format!(
            "{as_of} is before the first rule set {} (effective {})",
            first.id, first.effective
        );
        let finding = self.rules.finding(Rule::InForce, false, explanation);
        let classification = Classification {
            status: ControlStatus::NotInForce,
            eccn: "",
            paragraph: "",
            paragraphs_met: Vec::new(),
            tpp: m.tpp,
            performance_density: m.pd,
            tpp_bit_length: m.bit_length,
            tpp_by_precision: m.by_precision,
            applicable_die_area_mm2: m.applicable_area,
            memory_bandwidth_density: metrics::mbd(spec),
            findings: vec![finding.clone()],
            open_tests: Vec::new(),
            market_assumed_datacenter: false,
            eligible_license_exceptions: Vec::new(),
            thresholds: Vec::new(),
            ics_per_unit: 1,
            tpp_per_unit: m.tpp,
        };
        let license = parties.map(|parties| LicenseDetermination {
            status: LicenseStatus::NotRequired,
            review_policy: ReviewPolicy::NotApplicable,
            license_exceptions: Vec::new(),
            reasons: vec![finding],
            conditions: Vec::new(),
            normalized_destination: self.geography.normalise(parties.destination).as_str(),
            reported_requirements: Vec::new(),
        });
        let a = Assessed {
            classification,
            level: Level::None,
            hbm_item: spec.kind == ItemKind::HbmStack,
            hbm_c: false,
            datacenter: spec.market != Market::NonDatacenter,
            a_chips: None,
            figures: ChipFigures::default(),
            warnings: Vec::new(),
        };
        Decision {
            rule_set: NO_RULE_SET,
            as_of,
            not_evaluated: self.not_evaluated(None, &a),
            classification: a.classification,
            license,
            warnings: Vec::new(),
            information: Vec::new(),
            tariff: None,
        }
    }
}
