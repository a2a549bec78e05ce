//! The rule files as serde reads them, before validation.

use super::*;

/// Declares a rule-file enum naming, in snake_case, the variants of a model
/// enum that the data may use, and its conversion into that model enum.
macro_rules! spelling_of {
    ($vis:vis $raw:ident => $model:ident { $($variant:ident),+ $(,)? }) => {
        #[derive(Deserialize, Clone, Copy)]
        #[serde(rename_all = "snake_case")]
        $vis enum $raw {
            $($variant),+
        }

        impl From<$raw> for $model {
            fn from(raw: $raw) -> Self {
                match raw {
                    $($raw::$variant => $model::$variant),+
                }
            }
        }
    };
}

spelling_of!(pub(crate) RawSource => SourceTag {
    RuleText,
    Secondary,
    Derived,
    Unconfirmed,
});

spelling_of!(pub(super) RawPolicy => ReviewPolicy {
    PresumptionOfDenial,
    CaseByCase,
    PresumptionOfApproval,
});

spelling_of!(pub(super) RawExportType => ExportType {
    ExportFromUs,
    Reexport,
    InCountryTransfer,
});

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawTest {
    IoAndTpp,
    TppAndPd,
}

/// Declares the tables of the rule files. Each refuses keys it does not know,
/// so a misspelt key is an error naming the key and the ones expected rather
/// than a line silently ignored; `#[serde(flatten)]` cannot share fields here
/// because it loses both that list and the key's position in the error.
macro_rules! rule_tables {
    ($(
        $(#[$attr:meta])*
        struct $name:ident {
            $($(#[$field_attr:meta])* $field:ident: $ty:ty,)*
        }
    )*) => {$(
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        $(#[$attr])*
        pub(super) struct $name {
            $($(#[$field_attr])* pub(super) $field: $ty,)*
        }
    )*};
}

rule_tables! {
    struct RulesFile {
        rule: Vec<RawRule>,
    }

    struct RawRule {
        id: String,
        title: String,
        citation: String,
        source: RawSource,
        confirmed: bool,
        #[serde(default)]
        eccn: String,
        #[serde(default)]
        paragraph: String,
    }

    struct VintagesFile {
        vintage: Vec<RawVintage>,
    }

    struct RawVintage {
        id: String,
        effective: NaiveDate,
        compliance: Option<NaiveDate>,
        #[serde(default)]
        other_dates: Vec<String>,
        summary: String,
        citations: Vec<String>,
        source: RawSource,
        confirmed: bool,
        eccn_test: Option<RawTest>,
        #[serde(default)]
        thresholds: BTreeMap<String, f64>,
        destination: Option<RawDestination>,
    }

    #[derive(Clone)]
    struct RawDestination {
        #[serde(default)]
        include_groups: Vec<String>,
        #[serde(default)]
        exclude_groups: Vec<String>,
        #[serde(default)]
        countries: Vec<RawDatedCountry>,
    }

    #[derive(Clone)]
    struct RawDatedCountry {
        code: String,
        effective: NaiveDate,
    }

    struct GroupsFile {
        snapshot: Vec<RawSnapshot>,
    }

    struct RawSnapshot {
        id: String,
        effective: NaiveDate,
        citation: String,
        source: RawSource,
        confirmed: bool,
        note: String,
        #[serde(default)]
        groups: BTreeMap<String, Vec<String>>,
        #[serde(default)]
        changes: Vec<RawChange>,
    }

    struct RawChange {
        group: String,
        #[serde(default)]
        add: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    }

    struct IsoFile {
        #[allow(dead_code)]
        source: String,
        codes: Vec<String>,
    }

    struct PolicyFile {
        normalisation: RawNormalisation,
        restricted: RawSelection,
        hq_rule: RawRuleFrom,
        review_policy: Vec<RawPolicyRow>,
        fr26: RawFr26,
        exception: Vec<RawException>,
        is_informed: RawIsInformed,
        ai_diffusion: RawAi,
        not_evaluated: Vec<RawNotEvaluated>,
        texts: Texts,
    }

    struct RawNormalisation {
        rule: String,
        aliases: Vec<RawAlias>,
    }

    struct RawAlias {
        from: String,
        to: String,
    }

    struct RawSelection {
        #[serde(default)]
        groups: Vec<String>,
        #[serde(default)]
        countries: Vec<String>,
    }

    struct RawRuleFrom {
        rule: String,
        from: String,
    }

    struct RawPolicyRow {
        rule: String,
        from: String,
        items: Items,
        situation: Situation,
        policy: RawPolicy,
        #[serde(default)]
        unverified: bool,
        #[serde(default)]
        conflict_note: bool,
    }

    struct RawFr26 {
        rule: String,
        route_rule: String,
        from: String,
        tpp_below: f64,
        dram_bandwidth_below_gb_s: f64,
        destinations: Vec<String>,
        export_types: Vec<RawExportType>,
        availability_date: NaiveDate,
        conditions: Vec<String>,
        iaas_conditions: Vec<String>,
    }

    struct RawException {
        code: String,
        rule: String,
        from: String,
        items: ExcItems,
        destinations: ExcDest,
        prior_notification_required: bool,
        notification_review_days: u32,
        aes_code: String,
        mechanics: String,
    }

    struct RawIsInformed {
        rule: String,
        effective: NaiveDate,
        indefinite_from: NaiveDate,
        dram_min_gb_s: f64,
        io_min_gb_s: f64,
        combined_min_gb_s: f64,
        groups: Vec<String>,
        countries: Vec<String>,
    }

    struct RawAi {
        rule: String,
        from: String,
        tier1_countries: Vec<String>,
        tier3_groups: Vec<String>,
        tier3_countries: Vec<String>,
        status: String,
    }

    struct RawNotEvaluated {
        text: String,
        when: When,
        from: Option<String>,
    }
}
