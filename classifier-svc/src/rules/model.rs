//! Domain types of the classifier: what goes in and what comes out.
//! No tonic, no I/O: the gRPC adapter converts to and from these.

use std::sync::Arc;

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

#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// Already upper case; HK is normalised to CN by the domain, not the adapter.
    pub destination: CountryCode,
    pub end_user_hq: Option<CountryCode>,
    pub ultimate_parent_hq: Option<CountryCode>,
    pub export_type: ExportType,
    pub is_informed_notice_received: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceTag {
    RuleText,
    Secondary,
    Derived,
    Unconfirmed,
}

/// One rule evaluated. `rule_id` and `citation` come from the rule data and
/// are shared with it rather than copied into every answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule_id: Arc<str>,
    pub holds: bool,
    pub explanation: String,
    pub citation: Arc<str>,
    pub source: SourceTag,
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

#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub status: ControlStatus,
    /// "3A090.a", "4A090.b", ... or empty.
    pub eccn: String,
    /// Most specific paragraph, "3A090.a.1", or empty.
    pub paragraph: String,
    pub paragraphs_met: Vec<String>,
    pub tpp: f64,
    pub performance_density: Option<f64>,
    pub tpp_bit_length: u32,
    pub tpp_by_precision: Vec<PrecisionTpp>,
    pub applicable_die_area_mm2: Option<f64>,
    pub memory_bandwidth_density: Option<f64>,
    pub findings: Vec<Finding>,
    pub open_tests: Vec<String>,
    pub market_assumed_datacenter: bool,
    pub eligible_license_exceptions: Vec<String>,
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
pub struct LicenseExceptionDetail {
    pub code: String,
    pub citation: String,
    pub prior_notification_required: bool,
    pub notification_review_days: u32,
    pub aes_code: String,
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LicenseDetermination {
    pub status: LicenseStatus,
    pub review_policy: ReviewPolicy,
    pub license_exceptions: Vec<LicenseExceptionDetail>,
    pub reasons: Vec<Finding>,
    pub conditions: Vec<String>,
    pub normalized_destination: CountryCode,
    pub reported_requirements: Vec<Finding>,
}

impl LicenseDetermination {
    pub fn license_required(&self) -> bool {
        self.status == LicenseStatus::Required
    }
}

/// The whole answer for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Id of the rule set in force on `as_of`, for example "V2026a";
    /// "NONE" before the first vintage.
    pub rule_set: String,
    pub as_of: NaiveDate,
    pub classification: Classification,
    pub license: Option<LicenseDetermination>,
    pub not_evaluated: Vec<String>,
    pub warnings: Vec<String>,
    /// Information only, never applied (AI diffusion).
    pub information: Vec<Finding>,
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
    pub field: String,
    pub description: String,
}
