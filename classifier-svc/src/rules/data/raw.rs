//! The rule files as serde reads them, before validation.

use super::*;

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawSource {
    RuleText,
    Secondary,
    Derived,
    Unconfirmed,
}

impl From<RawSource> for SourceTag {
    fn from(s: RawSource) -> Self {
        match s {
            RawSource::RuleText => SourceTag::RuleText,
            RawSource::Secondary => SourceTag::Secondary,
            RawSource::Derived => SourceTag::Derived,
            RawSource::Unconfirmed => SourceTag::Unconfirmed,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RulesFile {
    pub(super) rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) citation: String,
    pub(super) source: RawSource,
    pub(super) confirmed: bool,
    #[serde(default)]
    pub(super) eccn: String,
    #[serde(default)]
    pub(super) paragraph: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VintagesFile {
    pub(super) vintage: Vec<RawVintage>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawTest {
    IoAndTpp,
    TppAndPd,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVintage {
    pub(super) id: String,
    pub(super) effective: NaiveDate,
    pub(super) compliance: Option<NaiveDate>,
    #[serde(default)]
    pub(super) other_dates: Vec<String>,
    pub(super) summary: String,
    pub(super) citations: Vec<String>,
    pub(super) source: RawSource,
    pub(super) confirmed: bool,
    pub(super) eccn_test: Option<RawTest>,
    #[serde(default)]
    pub(super) thresholds: BTreeMap<String, f64>,
    pub(super) destination: Option<RawDestination>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDestination {
    #[serde(default)]
    pub(super) include_groups: Vec<String>,
    #[serde(default)]
    pub(super) exclude_groups: Vec<String>,
    #[serde(default)]
    pub(super) countries: Vec<RawDatedCountry>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatedCountry {
    pub(super) code: String,
    pub(super) effective: NaiveDate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupsFile {
    pub(super) snapshot: Vec<RawSnapshot>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSnapshot {
    pub(super) id: String,
    pub(super) effective: NaiveDate,
    pub(super) citation: String,
    pub(super) source: RawSource,
    pub(super) confirmed: bool,
    pub(super) note: String,
    #[serde(default)]
    pub(super) groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub(super) changes: Vec<RawChange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChange {
    pub(super) group: String,
    #[serde(default)]
    pub(super) add: Vec<String>,
    #[serde(default)]
    pub(super) remove: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IsoFile {
    #[allow(dead_code)]
    pub(super) source: String,
    pub(super) codes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyFile {
    pub(super) normalisation: RawNormalisation,
    pub(super) restricted: RawSelection,
    pub(super) hq_rule: RawRuleFrom,
    pub(super) review_policy: Vec<RawPolicyRow>,
    pub(super) fr26: RawFr26,
    pub(super) exception: Vec<RawException>,
    pub(super) is_informed: RawIsInformed,
    pub(super) ai_diffusion: RawAi,
    pub(super) not_evaluated: Vec<RawNotEvaluated>,
    pub(super) texts: Texts,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNormalisation {
    pub(super) rule: String,
    pub(super) aliases: Vec<RawAlias>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlias {
    pub(super) from: String,
    pub(super) to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSelection {
    #[serde(default)]
    pub(super) groups: Vec<String>,
    #[serde(default)]
    pub(super) countries: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRuleFrom {
    pub(super) rule: String,
    pub(super) from: String,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawPolicy {
    PresumptionOfDenial,
    CaseByCase,
    PresumptionOfApproval,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicyRow {
    pub(super) rule: String,
    pub(super) from: String,
    pub(super) items: Items,
    pub(super) situation: Situation,
    pub(super) policy: RawPolicy,
    #[serde(default)]
    pub(super) unverified: bool,
    #[serde(default)]
    pub(super) conflict_note: bool,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawExportType {
    ExportFromUs,
    Reexport,
    InCountryTransfer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFr26 {
    pub(super) rule: String,
    pub(super) route_rule: String,
    pub(super) from: String,
    pub(super) tpp_below: f64,
    pub(super) dram_bandwidth_below_gb_s: f64,
    pub(super) destinations: Vec<String>,
    pub(super) export_types: Vec<RawExportType>,
    pub(super) availability_date: NaiveDate,
    pub(super) conditions: Vec<String>,
    pub(super) iaas_conditions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawException {
    pub(super) code: String,
    pub(super) rule: String,
    pub(super) from: String,
    pub(super) items: ExcItems,
    pub(super) destinations: ExcDest,
    pub(super) prior_notification_required: bool,
    pub(super) notification_review_days: u32,
    pub(super) aes_code: String,
    pub(super) mechanics: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIsInformed {
    pub(super) rule: String,
    pub(super) effective: NaiveDate,
    pub(super) indefinite_from: NaiveDate,
    pub(super) dram_min_gb_s: f64,
    pub(super) io_min_gb_s: f64,
    pub(super) combined_min_gb_s: f64,
    pub(super) groups: Vec<String>,
    pub(super) countries: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAi {
    pub(super) rule: String,
    pub(super) from: String,
    pub(super) tier1_countries: Vec<String>,
    pub(super) tier3_groups: Vec<String>,
    pub(super) tier3_countries: Vec<String>,
    pub(super) status: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotEvaluated {
    pub(super) text: String,
    pub(super) when: When,
    pub(super) from: Option<String>,
}
