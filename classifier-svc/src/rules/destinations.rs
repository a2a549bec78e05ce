//! Country groups, the destination rule and the headquarters rule. Every set
//! is derived from dated group data at load time; nothing is stored twice.

use super::countries::{Cc, CountrySet};
use super::findings::Out;
use super::model::SourceTag;
use super::vintage::{Vintage, Vintages};
use chrono::NaiveDate;

#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub id: String,
    pub effective: NaiveDate,
    pub citation: String,
    pub source: SourceTag,
    pub confirmed: bool,
    pub note: String,
    pub groups: Vec<(String, CountrySet)>,
    /// Citation of the scope finding: the scope rule's and this snapshot's.
    pub scope_citation: String,
    /// Warning attached to answers that use an unconfirmed snapshot.
    pub unverified_warning: Option<String>,
}

impl Snapshot {
    pub(crate) fn group(&self, name: &str) -> Option<&CountrySet> {
        self.groups.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    /// Names of the groups `c` belongs to, for explanations.
    pub(crate) fn push_memberships(&self, out: &mut impl Out, c: Cc) {
        if !out.on() {
            return;
        }
        let mut first = true;
        for (name, set) in &self.groups {
            if set.contains(c) {
                out.push_str(if first { " (" } else { ", " });
                out.push_str(name);
                first = false;
            }
        }
        out.push_str(if first { " (no country group)" } else { ")" });
    }
}

/// A named selection of groups and countries, resolved against a snapshot.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    pub groups: Vec<String>,
    pub countries: CountrySet,
}

impl Selection {
    pub(crate) fn resolve(&self, snapshot: Option<&Snapshot>) -> CountrySet {
        let groups = snapshot.map_or(CountrySet::EMPTY, |s| {
            self.groups
                .iter()
                .filter_map(|g| s.group(g))
                .fold(CountrySet::EMPTY, |acc, g| acc.union(g))
        });
        groups.union(&self.countries)
    }
}

/// Sets precomputed for one (vintage, snapshot) pair.
#[derive(Debug, Clone, Default)]
pub(crate) struct Derived {
    /// Scope before the dated single-country additions.
    pub scope_groups: CountrySet,
    /// "D:5 or Macau" when the vintage's scope is group-based.
    pub restricted: CountrySet,
    pub informed: CountrySet,
    pub tier3: CountrySet,
}

/// What the destination layer knows on one date under one vintage.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    pub snapshot: Option<&'a Snapshot>,
    pub scope: CountrySet,
    pub restricted: CountrySet,
    pub informed: CountrySet,
    pub tier3: CountrySet,
}

#[derive(Debug)]
pub(crate) struct Geography {
    pub known: CountrySet,
    pub aliases: Vec<(Cc, Cc)>,
    pub snapshots: Vec<Snapshot>,
    /// `derived[vintage][slot]`: slot 0 is "no snapshot yet", slot i + 1 is
    /// `snapshots[i]`.
    pub derived: Vec<Vec<Derived>>,
}

/// Selections the licence layer resolves against every snapshot.
pub(crate) struct DerivedInputs<'a> {
    pub restricted: &'a Selection,
    pub informed: &'a Selection,
    pub tier3: &'a Selection,
}

impl Geography {
    pub(crate) fn derive(&mut self, vintages: &Vintages, inputs: &DerivedInputs<'_>) {
        let slots: Vec<Option<&Snapshot>> = std::iter::once(None)
            .chain(self.snapshots.iter().map(Some))
            .collect();
        self.derived = vintages
            .0
            .iter()
            .map(|v| {
                slots
                    .iter()
                    .map(|snap| {
                        let groups = |names: &[String]| {
                            Selection {
                                groups: names.to_vec(),
                                countries: CountrySet::EMPTY,
                            }
                            .resolve(*snap)
                        };
                        let scope_groups =
                            groups(&v.scope.include_groups).minus(&groups(&v.scope.exclude_groups));
                        Derived {
                            scope_groups,
                            restricted: inputs.restricted.resolve(*snap),
                            informed: inputs.informed.resolve(*snap),
                            tier3: inputs.tier3.resolve(*snap),
                        }
                    })
                    .collect()
            })
            .collect();
    }

    pub(crate) fn snapshot_slot(&self, as_of: NaiveDate) -> usize {
        self.snapshots
            .iter()
            .rposition(|s| as_of >= s.effective)
            .map_or(0, |i| i + 1)
    }

    pub(crate) fn place(&self, v: &Vintage, as_of: NaiveDate) -> Place<'_> {
        let slot = self.snapshot_slot(as_of);
        let d = &self.derived[v.index][slot];
        let mut scope = d.scope_groups;
        v.scope
            .countries
            .iter()
            .filter(|c| as_of >= c.effective)
            .for_each(|c| scope.insert(c.code));
        // Before group-based scope every destination in scope is a China-like
        // destination for policy purposes.
        let restricted = if v.scope.group_based() {
            d.restricted
        } else {
            scope
        };
        Place {
            snapshot: slot.checked_sub(1).map(|i| &self.snapshots[i]),
            scope,
            restricted,
            informed: d.informed,
            tier3: d.tier3,
        }
    }

    pub(crate) fn normalise(&self, c: Cc) -> Cc {
        self.aliases
            .iter()
            .find(|(from, _)| *from == c)
            .map_or(c, |(_, to)| *to)
    }

    pub(crate) fn is_known(&self, code: &str) -> bool {
        Cc::parse(code).is_some_and(|c| self.known.contains(c))
    }
}

/// Outcome of the headquarters rule for the two parties of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hq {
    /// The rule is not in force in this vintage.
    NotInForce,
    Hit,
    Clear,
    Unknown,
}

pub(crate) fn hq_status(restricted: &CountrySet, parties: [Option<Cc>; 2]) -> Hq {
    if parties.iter().flatten().any(|c| restricted.contains(*c)) {
        Hq::Hit
    } else if parties.iter().any(Option::is_none) {
        Hq::Unknown
    } else {
        Hq::Clear
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleBook;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cc(s: &str) -> Cc {
        Cc::parse(s).unwrap()
    }

    fn place(as_of: &str) -> Place<'static> {
        let book = RuleBook::builtin();
        let v = book.vintages.in_force(d(as_of)).unwrap();
        book.geography.place(v, d(as_of))
    }

    fn codes(set: &CountrySet) -> String {
        set.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn derived_2026_scope_is_the_46_listed_destinations() {
        let p = place("2026-07-08");
        assert_eq!(
            codes(&p.scope),
            "AE AF AM AZ BH BY CD CF CN CU EG ER GE HT IQ IR JO KG KH KP KW KZ LA LB LY MD MM MN MO NI OM PK QA RU SA SD SO SS SY TJ TM UZ VE VN YE ZW"
        );
        assert_eq!(p.scope.len(), 46);
        assert!(!p.scope.contains(cc("IL")), "Israel is carved out by A:6");
    }

    #[test]
    fn v2022_scope_is_china_then_macau_from_january_2023() {
        for (date, scope) in [
            ("2022-10-07", "CN"),
            ("2023-01-16", "CN"),
            ("2023-01-17", "CN MO"),
            ("2023-11-16", "CN MO"),
        ] {
            let p = place(date);
            assert_eq!(codes(&p.scope), scope, "{date}");
            assert_eq!(p.restricted, p.scope, "{date}");
            assert!(p.snapshot.is_none());
        }
    }

    #[test]
    fn cambodia_leaves_d5_on_2026_02_03_and_stays_in_scope() {
        for (date, snapshot, in_d5) in [
            ("2026-02-02", "CG2023", true),
            ("2026-02-03", "CG2026", false),
        ] {
            let p = place(date);
            assert_eq!(p.snapshot.unwrap().id, snapshot);
            assert_eq!(p.restricted.contains(cc("KH")), in_d5, "{date}");
            assert!(p.scope.contains(cc("KH")), "{date}");
        }
    }

    #[test]
    fn restricted_set_is_d5_plus_macau() {
        let p = place("2026-03-01");
        assert!(
            p.restricted.contains(cc("MO"))
                && p.restricted.contains(cc("CN"))
                && p.restricted.contains(cc("RU"))
        );
        assert!(!p.restricted.contains(cc("SA")) && !p.restricted.contains(cc("AE")));
    }

    #[test]
    fn hq_rule_outcomes() {
        let p = place("2026-03-01");
        for (parties, want) in [
            ([Some("CN"), Some("CN")], Hq::Hit),
            ([Some("DE"), Some("CN")], Hq::Hit),
            ([Some("DE"), None], Hq::Unknown),
            ([None, Some("MO")], Hq::Hit),
            ([Some("DE"), Some("US")], Hq::Clear),
        ] {
            assert_eq!(
                hq_status(&p.restricted, parties.map(|c| c.map(cc))),
                want,
                "{parties:?}"
            );
        }
    }

    #[test]
    fn hong_kong_is_normalised_to_china() {
        let g = &RuleBook::builtin().geography;
        assert_eq!(g.normalise(cc("HK")), cc("CN"));
        assert_eq!(g.normalise(cc("MO")), cc("MO"));
    }

    #[test]
    fn knows_all_iso_codes() {
        let g = &RuleBook::builtin().geography;
        assert_eq!(g.known.len(), 249);
        for code in ["CN", "HK", "MO", "US", "DE", "IL", "SA", "KH", "ZW", "AQ"] {
            assert!(g.is_known(code), "{code}");
        }
        for code in ["XX", "UK", "EU", "cn", "", "CHN"] {
            assert!(!g.is_known(code), "{code}");
        }
    }
}
