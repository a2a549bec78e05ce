//! The 2026 rules through the public API: the UAE rule (V2026b) for each
//! kind of end user and its dates, the Section 232 tariff block, the
//! corrected January 2026 conditions, and item histories.

use super::*;
use crate::catalog::Catalog;

const FREE: LicenseStatus = LicenseStatus::NotRequired;
const NA: ReviewPolicy = ReviewPolicy::NotApplicable;
const OPEN: ReviewPolicy = ReviewPolicy::Indeterminate;

fn chip(name: &str) -> &'static ChipSpec {
    &Catalog::builtin().get(name).expect("in the catalogue").spec
}

fn run(spec: &ChipSpec, tx: &Transaction, as_of: &str) -> Decision<'static> {
    RuleBook::builtin()
        .classify(spec, Some(tx), as_of.parse().unwrap())
        .expect("valid input")
}

fn to_uae(name: Option<&str>, kind: EndUserKind) -> Transaction {
    let mut t = Transaction::new("AE", ExportType::ExportFromUs, None, None);
    t.end_user_name = name.map(String::from);
    t.end_user_kind = kind;
    t
}

/// The H200 exported to `name`, an end user of `kind` in the UAE, once the
/// UAE rule applies (2026-08-01).
fn h200_in_uae(name: Option<&str>, kind: EndUserKind) -> Decision<'static> {
    run(chip("h200"), &to_uae(name, kind), "2026-08-01")
}

fn outcome(d: &Decision<'_>) -> (LicenseStatus, ReviewPolicy) {
    let l = d.license.as_ref().expect("a licence answer");
    (l.status, l.review_policy)
}

fn reason<'d>(d: &'d Decision<'static>, id: &str) -> &'d Finding<'static> {
    let l = d.license.as_ref().expect("a licence answer");
    l.reasons
        .iter()
        .find(|f| f.rule_id == id)
        .unwrap_or_else(|| panic!("no {id} in {:?}", l.reasons))
}

#[test]
fn uae_question_for_each_kind_of_end_user() {
    let d = h200_in_uae(None, EndUserKind::Government);
    assert_eq!(d.rule_set, "V2026b");
    assert_eq!(outcome(&d), (FREE, NA));
    assert!(reason(&d, "uae.government").holds);

    let d = h200_in_uae(Some("G42"), EndUserKind::IaasProvider);
    assert_eq!(outcome(&d), (FREE, NA));
    let f = reason(&d, "uae.supplement8_entity");
    assert!(f.holds && f.citation.contains("Supp. No. 8"), "{f:?}");
    assert!(
        f.explanation.contains("approval expires on 2027-04-06"),
        "{f:?}"
    );

    let d = h200_in_uae(Some("Microsoft Corporation"), EndUserKind::Commercial);
    assert_eq!(outcome(&d), (FREE, NA));
    let f = reason(&d, "uae.us_hq_company");
    assert!(f.holds && f.source == SourceTag::Secondary, "{f:?}");
    assert_warns(&d, "UNCONFIRMED");

    for (name, kind) in [
        (Some("Acme Data FZ-LLC"), EndUserKind::Commercial),
        (None, EndUserKind::Unspecified),
    ] {
        let d = h200_in_uae(name, kind);
        assert_eq!(outcome(&d), (REQUIRED, OPEN), "{name:?}");
        let f = reason(&d, "uae.licence_required");
        assert!(f.holds);
        assert_eq!(name.is_none(), f.explanation.contains("not given"), "{f:?}");
        assert_warns(&d, "review policy");
    }
}

#[test]
fn the_uae_rule_starts_on_2026_07_10() {
    // The day before, the UAE is D:4 and the old answer stands.
    let mut t = to_uae(Some("Acme Data"), EndUserKind::Commercial);
    t.end_user_hq = Some("AE".into());
    t.ultimate_parent_hq = Some("AE".into());
    assert_eq!(
        outcome(&run(chip("h200"), &t, "2026-07-09")),
        (REQUIRED, APPROVAL)
    );
    assert_eq!(
        outcome(&run(chip("h200"), &t, "2026-07-10")),
        (REQUIRED, OPEN)
    );
    let gov = to_uae(None, EndUserKind::Government);
    assert_eq!(outcome(&run(chip("h200"), &gov, "2026-07-09")).0, REQUIRED);
    assert_eq!(outcome(&run(chip("h200"), &gov, "2026-07-10")), (FREE, NA));
}

#[test]
fn supplement_8_approval_ends_on_2027_04_06() {
    let t = to_uae(Some("Core42 FZ-LLC"), EndUserKind::Commercial);
    assert_eq!(outcome(&run(chip("h200"), &t, "2027-04-05")), (FREE, NA));
    let d = run(chip("h200"), &t, "2027-04-06");
    assert_eq!(outcome(&d), (REQUIRED, OPEN));
    let f = reason(&d, "uae.supplement8_entity");
    assert!(
        !f.holds && f.explanation.contains("expired on 2027-04-06"),
        "{f:?}"
    );
    // The licence it now needs has a reason that holds, as anyone else's.
    let f = reason(&d, "uae.licence_required");
    assert!(
        f.holds && f.explanation.contains("'Core42 FZ-LLC'"),
        "{f:?}"
    );
    // Declared the UAE Government, a listed company is still itself.
    let t = to_uae(Some("G42"), EndUserKind::Government);
    let d = run(chip("h200"), &t, "2027-05-01");
    assert_eq!(outcome(&d), (REQUIRED, OPEN));
    assert!(reason(&d, "uae.licence_required").holds);
    assert!(d
        .license
        .as_ref()
        .unwrap()
        .reasons
        .iter()
        .all(|f| f.rule_id != "uae.government"));
}

#[test]
fn the_headquarters_rule_still_applies_in_the_uae() {
    let mut t = to_uae(Some("G42"), EndUserKind::Commercial);
    t.ultimate_parent_hq = Some("CN".into());
    let d = run(chip("h200"), &t, "2026-08-01");
    assert_eq!(outcome(&d), (REQUIRED, DENIAL));
    assert!(reason(&d, "uae.supplement8_entity")
        .explanation
        .contains("headquarters rule still applies"));
    // A government headquartered elsewhere is not the UAE Government.
    let mut t = to_uae(None, EndUserKind::Government);
    t.end_user_hq = Some("SA".into());
    assert_eq!(outcome(&run(chip("h200"), &t, "2026-08-01")).0, REQUIRED);
    // Items outside 3A090/4A090 are not advanced computing items.
    let d = run(
        chip("h20"),
        &to_uae(None, EndUserKind::Unspecified),
        "2026-08-01",
    );
    assert_eq!(outcome(&d), (FREE, NA));
    assert!(d
        .license
        .unwrap()
        .reasons
        .iter()
        .all(|f| !f.rule_id.starts_with("uae.")));
}

#[test]
fn the_tariff_block_starts_on_2026_01_15() {
    let t = to_uae(None, EndUserKind::Government);
    assert!(run(chip("h200"), &t, "2026-01-14").tariff.is_none());
    let tariff = run(chip("h200"), &t, "2026-01-15")
        .tariff
        .expect("a tariff block");
    assert_eq!(
        (
            tariff.applies,
            tariff.heading,
            tariff.rate_percent,
            tariff.band
        ),
        (true, "9903.79.01", 25.0, 1)
    );
    assert!(tariff
        .covered_articles_note
        .contains("8471.50, 8471.80 or 8473.30"));
    let b200 = run(chip("b200"), &t, "2026-02-01").tariff.unwrap();
    assert_eq!(
        (b200.applies, b200.heading, b200.rate_percent),
        (false, "9903.79.02", 0.0)
    );
}

#[test]
fn the_case_by_case_path_passes_us_customs_and_pays_the_duty() {
    let t = us("CN", "CN");
    let d = run(chip("h200"), &t, "2026-02-01");
    assert_eq!(outcome(&d), (REQUIRED, CASE));
    let f = reason(&d, "tariff.fr26_customs");
    assert!(
        f.holds && f.explanation.contains("9903.79.01 band 1, duty 25%"),
        "{f:?}"
    );
    let l = d.license.unwrap();
    assert!(l
        .conditions
        .iter()
        .any(|c| c.contains("aggregate TPP") && c.contains("not units")));
    assert!(
        l.conditions
            .iter()
            .any(|c| c
                .contains("Belarus, China, Cuba, Iran, Macau, North Korea, Russia or Venezuela"))
    );
    assert!(l
        .conditions
        .iter()
        .any(|c| c.contains("before export") && c.contains("revoke")));
    // The IaaS limits go only where the end user may be an IaaS provider.
    let mut gov = t.clone();
    gov.end_user_kind = EndUserKind::Government;
    let fewer = run(chip("h200"), &gov, "2026-02-01")
        .license
        .unwrap()
        .conditions;
    assert_eq!(fewer.len() + 2, l.conditions.len());
    assert!(fewer.iter().all(|c| !c.contains("IaaS")));
}

fn history(name: &str, t: &Transaction) -> Vec<HistoryEntry<'static>> {
    RuleBook::builtin()
        .history(chip(name), Some(t), "2026-12-01".parse().unwrap())
        .expect("valid input")
}

fn summary(
    h: &[HistoryEntry<'static>],
) -> Vec<(String, &'static str, Vec<&'static str>, ReviewPolicy)> {
    h.iter()
        .map(|e| {
            let d = &e.decision;
            (
                e.from.map(|d| d.to_string()).unwrap_or_default(),
                d.rule_set,
                d.classification.paragraphs_met.clone(),
                d.license.as_ref().unwrap().review_policy,
            )
        })
        .collect()
}

fn s(x: &str) -> String {
    x.to_owned()
}

#[test]
fn history_of_the_h200_to_china() {
    let t = us("CN", "CN");
    let h = history("h200", &t);
    assert_eq!(
        summary(&h),
        [
            (s(""), "NONE", vec![], NA),
            (s("2022-10-07"), "V2022", vec!["3A090.a"], DENIAL),
            (
                s("2023-11-17"),
                "V2023",
                vec!["3A090.a.1", "3A090.a.2"],
                DENIAL
            ),
            (
                s("2026-01-15"),
                "V2026a",
                vec!["3A090.a.1", "3A090.a.2"],
                CASE
            ),
        ]
    );
    assert!(h[3]
        .changes
        .contains(&s("review policy: PRESUMPTION_OF_DENIAL -> CASE_BY_CASE")));
    assert!(h[3]
        .changes
        .iter()
        .any(|c| c.starts_with("tariff: (none) -> 9903.79.01 band 1")));
    let flipped: Vec<&str> = h[3].flipped.iter().map(|f| f.rule_id).collect();
    assert!(flipped.contains(&"policy.fr26_case_by_case"), "{flipped:?}");
    assert!(h[1]
        .flipped
        .iter()
        .any(|f| f.rule_id == "eccn.3A090.a.2022" && f.holds));
}

#[test]
fn history_of_the_a800_and_the_mi325x_to_china() {
    let t = us("CN", "CN");
    // The A800 escaped the 2022 interconnect test and was caught in 2023;
    // not sold in the US, it never gets the January 2026 path.
    let h = history("a800", &t);
    let rows: Vec<_> = summary(&h)
        .into_iter()
        .map(|r| (r.1, r.2.len(), r.3))
        .collect();
    assert_eq!(
        rows[..3],
        [("NONE", 0, NA), ("V2022", 0, NA), ("V2023", 2, DENIAL)]
    );
    assert!(rows[3..].iter().all(|r| r.2 == DENIAL), "{rows:?}");
    // The MI325X is in tariff band 2 and takes the case-by-case path.
    let h = history("mi325x", &t);
    let last = h.last().unwrap();
    assert_eq!(outcome(&last.decision), (REQUIRED, CASE));
    assert_eq!(last.decision.tariff.as_ref().map(|t| t.band), Some(2));
}

#[test]
fn history_of_the_h200_to_the_uae() {
    let mut t = to_uae(Some("G42"), EndUserKind::IaasProvider);
    t.end_user_hq = Some("AE".into());
    t.ultimate_parent_hq = Some("AE".into());
    let h = history("h200", &t);
    let rows: Vec<_> = summary(&h).into_iter().map(|r| (r.1, r.3)).collect();
    // Outside the 2022 scope; D:4 (approval) from 2023; licence-free from
    // 2026-07-10.
    assert_eq!(rows.first(), Some(&("NONE", NA)));
    assert!(rows.contains(&("V2023", APPROVAL)), "{rows:?}");
    assert_eq!(rows.last(), Some(&("V2026b", NA)));
    assert!(h
        .last()
        .unwrap()
        .changes
        .contains(&s("licence: REQUIRED -> NOT_REQUIRED")));
}
