//! Rule vintages: which ECCN tests and thresholds are in force on a date.

use super::countries::Cc;
use super::model::{RuleSetInfo, SourceTag};
use chrono::NaiveDate;

/// Thresholds of the 2023 TPP/PD tests (Supp. No. 1 to Part 774).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TppPd {
    pub a1_tpp_min: f64,
    pub a2_tpp_min: f64,
    pub a2_pd_min: f64,
    pub b1_tpp_min: f64,
    pub b1_tpp_below: f64,
    pub b1_pd_min: f64,
    pub b1_pd_below: f64,
    pub b2_tpp_min: f64,
    pub b2_pd_min: f64,
    pub b2_pd_below: f64,
    pub note2_tpp_min: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EccnTest {
    /// The 2022 test: aggregate bidirectional I/O and TPP, both required.
    IoAndTpp {
        io_min: f64,
        tpp_min: f64,
    },
    TppAndPd(TppPd),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HbmThresholds {
    /// Strict: MBD must exceed this.
    pub c_mbd_above: f64,
    pub exception_mbd_below: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DatedCountry {
    pub code: Cc,
    pub effective: NaiveDate,
}

/// Destination scope: groups of the snapshot in force, minus excluded
/// groups, plus countries added on their own dates.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ScopeRule {
    pub include_groups: Vec<String>,
    pub exclude_groups: Vec<String>,
    pub countries: Vec<DatedCountry>,
}

impl ScopeRule {
    pub(crate) fn group_based(&self) -> bool {
        !self.include_groups.is_empty()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Vintage {
    pub index: usize,
    pub id: String,
    pub effective: NaiveDate,
    /// Compliance date where it differs from the effective date; the rules
    /// apply from `effective`, and answers never use this date.
    pub compliance: Option<NaiveDate>,
    pub other_dates: Vec<String>,
    pub summary: String,
    pub citations: Vec<String>,
    pub source: SourceTag,
    pub confirmed: bool,
    /// The warning answers under an unconfirmed vintage carry, built at load.
    pub unconfirmed_warning: Option<String>,
    pub test: EccnTest,
    pub hbm: Option<HbmThresholds>,
    pub scope: ScopeRule,
}

impl Vintage {
    pub(crate) fn info(&self) -> RuleSetInfo {
        RuleSetInfo {
            id: self.id.clone(),
            effective: self.effective,
            other_dates: self
                .compliance
                .map(|d| format!("{d}: compliance date"))
                .into_iter()
                .chain(self.other_dates.iter().cloned())
                .collect(),
            summary: self.summary.clone(),
            citations: self.citations.clone(),
            source: self.source,
            confirmed: self.confirmed,
        }
    }
}

/// Vintages in strictly increasing effective-date order (checked at load).
#[derive(Debug)]
pub(crate) struct Vintages(pub(crate) Vec<Vintage>);

impl Vintages {
    pub(crate) fn in_force(&self, as_of: NaiveDate) -> Option<&Vintage> {
        self.0.iter().rev().find(|v| as_of >= v.effective)
    }

    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.0.iter().position(|v| v.id == id)
    }

    pub(crate) fn first(&self) -> &Vintage {
        &self.0[0]
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::RuleBook;
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn vintage_in_force_at_every_boundary() {
        let v = &RuleBook::builtin().vintages;
        for (date, id) in [
            ("2022-10-06", None),
            ("2022-10-07", Some("V2022")),
            ("2023-11-16", Some("V2022")),
            ("2023-11-17", Some("V2023")),
            ("2024-04-03", Some("V2023")),
            ("2024-04-04", Some("V2024a")),
            ("2024-12-01", Some("V2024a")),
            ("2024-12-02", Some("V2024b")),
            ("2025-01-14", Some("V2024b")),
            ("2025-01-15", Some("V2025a")),
            ("2025-01-16", Some("V2025b")),
            ("2026-01-14", Some("V2025b")),
            ("2026-01-15", Some("V2026a")),
            ("2026-07-09", Some("V2026a")),
            ("2026-07-10", Some("V2026b")),
            ("2030-01-01", Some("V2026b")),
        ] {
            assert_eq!(v.in_force(d(date)).map(|v| v.id.as_str()), id, "{date}");
        }
    }

    #[test]
    fn later_vintages_inherit_thresholds() {
        let v = &RuleBook::builtin().vintages;
        let v2023 = &v.0[v.index_of("V2023").unwrap()];
        let v2026 = &v.0[v.index_of("V2026a").unwrap()];
        assert_eq!(v2023.test, v2026.test);
        assert!(v2023.hbm.is_none());
        assert_eq!(v2026.hbm.as_ref().map(|h| h.c_mbd_above), Some(2.0));
        assert_eq!(v2026.scope, v2023.scope);
        let v2024b = &v.0[v.index_of("V2024b").unwrap()];
        assert_eq!(v2024b.compliance, "2024-12-31".parse().ok());
        assert_eq!(v2024b.info().other_dates, ["2024-12-31: compliance date"]);
    }
}
