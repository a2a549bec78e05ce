//! Domain types of the classifier: what goes in and what comes out.
//! No tonic, no I/O: the gRPC adapter converts to and from these.
//!
//! An answer (`Decision<'a>`) borrows every text that comes from the rule
//! data (rule ids, citations, paragraphs, conditions, fixed warnings) from
//! the `RuleBook` it was computed with, instead of copying or sharing it per
//! answer: the adapter copies each text once, into the reply it encodes.
//! Texts computed per item (explanations with the item's figures) are owned.

use std::borrow::Cow;

use chrono::NaiveDate;

/// ISO 3166-1 alpha-2 code, upper case, validated by the adapter against the
/// rule data's list of known codes.
pub type CountryCode = String;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    IntegratedCircuit,
    /// Computer, electronic assembly or board containing ICs (4A090).
    ComputerOrAssembly,
    /// Standalone HBM stack (3A090.c).
    HbmStack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Market {
    /// Not given: treated as datacenter, and the answer says so.
    Unspecified,
    Datacenter,
    NonDatacenter,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessingRate {
    pub bit_length: u32,
    /// Dense peak tera-operations per second at this bit length.
    pub dense_tops: f64,
    pub format: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Die {
    pub area_mm2: f64,
    pub non_planar: bool,
    pub memory: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainedIc {
    pub spec: ChipSpec,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChipSpec {
    pub name: String,
    pub kind: ItemKind,
    pub rates: Vec<ProcessingRate>,
    /// Empty means the die areas are unknown.
    pub dies: Vec<Die>,
    pub dram_bandwidth_gb_s: Option<f64>,
    pub interconnect_bandwidth_gb_s: Option<f64>,
    pub market: Market,
    pub hbm_bandwidth_gb_s: Option<f64>,
    pub hbm_package_area_mm2: Option<f64>,
    pub contained_ics: Vec<ContainedIc>,
    pub us_commercially_available_2026_01_15: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportType {
    ExportFromUs,
    /// Reexport or export from abroad.
    Reexport,
    InCountryTransfer,
}

/// Who the end user is, for rules that name kinds of end users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndUserKind {
    #[default]
    Unspecified,
    Government,
    Commercial,
    IaasProvider,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// Already upper case; HK is normalised to CN by the domain, not the adapter.
    pub destination: CountryCode,
    pub end_user_hq: Option<CountryCode>,
    pub ultimate_parent_hq: Option<CountryCode>,
    pub export_type: ExportType,
    pub is_informed_notice_received: bool,
    /// As given; matched against the entity tables after normalisation.
    pub end_user_name: Option<String>,
    pub end_user_kind: EndUserKind,
}

impl Transaction {
    /// A transaction with no end-user name or kind.
    pub fn new(
        destination: impl Into<CountryCode>,
        export_type: ExportType,
        end_user_hq: Option<CountryCode>,
        ultimate_parent_hq: Option<CountryCode>,
    ) -> Self {
        Transaction {
            destination: destination.into(),
            end_user_hq,
            ultimate_parent_hq,
            export_type,
            is_informed_notice_received: false,
            end_user_name: None,
            end_user_kind: EndUserKind::Unspecified,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceTag {
    RuleText,
    Secondary,
    Derived,
    Unconfirmed,
}

/// One rule evaluated. `rule_id` and `citation` are the rule data's; the
/// explanation is built for the item, or is a fixed text of the rule data.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding<'a> {
    pub rule_id: &'a str,
    pub holds: bool,
    pub explanation: Cow<'a, str>,
    pub citation: &'a str,
    pub source: SourceTag,
}

/// How much an answer explains: FULL writes every finding's explanation,
/// BASIC leaves the texts out (rule ids, outcomes and numbers stay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    #[default]
    Full,
    Basic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlStatus {
    Controlled,
    NotControlled,
    Indeterminate,
    NotInForce,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrecisionTpp {
    pub bit_length: u32,
    pub format: String,
    pub tpp: f64,
}

/// How a threshold compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// value >= limit
    AtLeast,
    /// value > limit
    Above,
    /// value < limit
    Below,
}

impl Bound {
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Bound::AtLeast => value >= limit,
            Bound::Above => value > limit,
            Bound::Below => value < limit,
        }
    }
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Tpp,
    /// Performance density, TPP per mm2.
    Pd,
    /// Total DRAM bandwidth, GB/s.
    DramGbS,
    /// Aggregate bidirectional I/O, GB/s.
    IoGbS,
    /// Memory bandwidth density, GB/s per mm2.
    Mbd,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Tpp => "TPP",
            Metric::Pd => "PD",
            Metric::DramGbS => "DRAM_GB_S",
            Metric::IoGbS => "IO_GB_S",
            Metric::Mbd => "MBD",
        }
    }
}

/// One threshold the item is measured against, with its margin.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold<'a> {
    pub rule_id: &'a str,
    pub name: Cow<'a, str>,
    pub metric: Metric,
    pub bound: Bound,
    pub limit: f64,
    /// None when the input is unknown.
    pub value: Option<f64>,
    pub met: bool,
    /// value - limit; None when the value is unknown.
    pub margin: Option<f64>,
}

impl<'a> Threshold<'a> {
    pub fn new(
        rule_id: &'a str,
        name: impl Into<Cow<'a, str>>,
        metric: Metric,
        bound: Bound,
        limit: f64,
        value: Option<f64>,
    ) -> Self {
        Threshold {
            rule_id,
            name: name.into(),
            metric,
            bound,
            limit,
            value,
            met: value.is_some_and(|v| bound.holds(v, limit)),
            margin: value.map(|v| v - limit),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Classification<'a> {
    pub status: ControlStatus,
    /// "3A090.a", "4A090.b", ... or empty.
    pub eccn: &'a str,
    /// Most specific paragraph, "3A090.a.1", or empty.
    pub paragraph: &'a str,
    pub paragraphs_met: Vec<&'a str>,
    pub tpp: f64,
    pub performance_density: Option<f64>,
    pub tpp_bit_length: u32,
    pub tpp_by_precision: Vec<PrecisionTpp>,
    pub applicable_die_area_mm2: Option<f64>,
    pub memory_bandwidth_density: Option<f64>,
    pub findings: Vec<Finding<'a>>,
    pub open_tests: Vec<String>,
    pub market_assumed_datacenter: bool,
    pub eligible_license_exceptions: Vec<&'a str>,
    pub thresholds: Vec<Threshold<'a>>,
    /// How many ICs one unit of the item counts as for a licence's caps.
    pub ics_per_unit: u32,
    /// The TPP of those ICs together.
    pub tpp_per_unit: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewPolicy {
    NotApplicable,
    PresumptionOfDenial,
    CaseByCase,
    PresumptionOfApproval,
    Indeterminate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseStatus {
    Required,
    NotRequired,
    Indeterminate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LicenseExceptionDetail<'a> {
    pub code: &'a str,
    pub citation: &'a str,
    pub prior_notification_required: bool,
    pub notification_review_days: u32,
    pub aes_code: &'a str,
    pub explanation: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LicenseDetermination<'a> {
    pub status: LicenseStatus,
    pub review_policy: ReviewPolicy,
    pub license_exceptions: Vec<LicenseExceptionDetail<'a>>,
    pub reasons: Vec<Finding<'a>>,
    pub conditions: Vec<&'a str>,
    /// ISO 3166-1 alpha-2, HK given as CN.
    pub normalized_destination: &'static str,
    pub reported_requirements: Vec<Finding<'a>>,
}

impl LicenseDetermination<'_> {
    pub fn license_required(&self) -> bool {
        self.status == LicenseStatus::Required
    }
}

/// An end-use exemption from the Section 232 duty.
#[derive(Debug, Clone, PartialEq)]
pub struct TariffExemption {
    pub heading: String,
    pub description: String,
}

/// The Section 232 duty on entry of the item into the United States.
#[derive(Debug, Clone, PartialEq)]
pub struct Tariff<'a> {
    /// The item meets a band of note 39(b).
    pub applies: bool,
    /// 9903.79.01 when a band is met, 9903.79.02 when not; empty when a
    /// figure the bands need is unknown.
    pub heading: &'a str,
    pub rate_percent: f64,
    /// 1 or 2; 0 when no band is met.
    pub band: u32,
    pub exemptions: &'a [TariffExemption],
    pub covered_articles_note: &'a str,
    pub citation: &'a str,
    pub findings: Vec<Finding<'a>>,
}

/// The whole answer for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<'a> {
    /// Id of the rule set in force on `as_of`, for example "V2026a";
    /// "NONE" before the first vintage.
    pub rule_set: &'a str,
    pub as_of: NaiveDate,
    pub classification: Classification<'a>,
    pub license: Option<LicenseDetermination<'a>>,
    pub not_evaluated: Vec<&'a str>,
    pub warnings: Vec<Cow<'a, str>>,
    /// Information only, never applied (AI diffusion).
    pub information: Vec<Finding<'a>>,
    /// For dates on or after the duty's effective date.
    pub tariff: Option<Tariff<'a>>,
}

/// One period of an item's history in which the answer stays the same.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry<'a> {
    /// First day of the period; None for the period before the first rule set.
    pub from: Option<NaiveDate>,
    pub decision: Decision<'a>,
    /// What differs from the previous entry, one line each.
    pub changes: Vec<String>,
    /// Findings that are new or flipped, as they are now.
    pub flipped: Vec<Finding<'a>>,
}

/// A rule vintage as listed by ListRuleSets.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSetInfo {
    pub id: String,
    pub effective: NaiveDate,
    pub other_dates: Vec<String>,
    pub summary: String,
    pub citations: Vec<String>,
    pub source: SourceTag,
    pub confirmed: bool,
}

/// Input the domain refuses. `field` is a path in the request as the domain
/// sees it (for example "spec.rates[2].dense_tops"); the adapter prefixes it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {description}")]
pub struct InvalidInput {
    /// Stable UPPER_SNAKE reason, for example "DUPLICATE_BIT_LENGTH".
    pub reason: &'static str,
    pub field: String,
    pub description: String,
}

/// Every problem found in one request, in the order found (never empty).
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidRequest(pub Vec<InvalidInput>);

impl std::fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sep = "";
        for i in &self.0 {
            write!(f, "{sep}{i}")?;
            sep = "; ";
        }
        Ok(())
    }
}

impl std::error::Error for InvalidRequest {}

impl InvalidRequest {
    /// The first problem; only for callers that know the request is invalid.
    pub fn field(&self) -> &str {
        self.0.first().map_or("", |i| i.field.as_str())
    }
}
