//! The embedded data loads, and broken data is refused with its file named.

use super::*;

fn with(edit: impl Fn(&mut [String; 7])) -> Result<RuleBook, String> {
    let mut texts = [
        BUILTIN.rules,
        BUILTIN.vintages,
        BUILTIN.groups,
        BUILTIN.policy,
        BUILTIN.iso,
        BUILTIN.uae,
        BUILTIN.tariff,
    ]
    .map(String::from);
    edit(&mut texts);
    let [rules, vintages, groups, policy, iso, uae, tariff] = &texts;
    load(&Sources {
        rules,
        vintages,
        groups,
        policy,
        iso,
        uae,
        tariff,
    })
}

#[test]
fn embedded_data_loads() {
    let book = load(&BUILTIN).expect("embedded rule data is valid");
    assert_eq!(book.vintages.0.len(), 8);
    assert_eq!(book.geography.snapshots.len(), 3);
}

#[test]
fn every_rule_has_a_citation_and_paragraph_rules_name_their_eccn() {
    let book = load(&BUILTIN).unwrap();
    for meta in &book.rules.0 {
        assert!(!meta.citation.is_empty(), "{}", meta.id);
        if meta.id.starts_with("eccn.3A090.") || meta.id.starts_with("eccn.4A090.") {
            assert!(
                !meta.paragraph.is_empty() && meta.paragraph.starts_with(&meta.eccn),
                "{}",
                meta.id
            );
        }
    }
}

#[test]
fn broken_data_is_refused_with_the_file_named() {
    type Edit = fn(&mut [String; 7]);
    let cases: &[(&str, Edit)] = &[
        ("rules.toml", |t| {
            t[0] = t[0].replace("id = \"exception.hbm\"", "id = \"exception.hbm2\"")
        }),
        ("duplicate rule", |t| {
            t[0] = t[0].replace("id = \"info.ai_diffusion\"", "id = \"metrics.tpp\"")
        }),
        ("missing", |t| {
            t[0] = t[0]
                .split("[[rule]]\nid = \"info.ai_diffusion\"")
                .next()
                .unwrap()
                .to_owned()
        }),
        ("unknown country code", |t| {
            t[2] = t[2].replace("\"ZW\"]", "\"XX\"]")
        }),
        ("is not in D:5", |t| {
            t[2] = t[2].replace("remove = [\"KH\"]", "remove = [\"US\"]")
        }),
        ("increasing dates", |t| {
            t[1] = t[1].replace("effective = \"2024-04-04\"", "effective = \"2023-01-01\"")
        }),
        ("unknown vintage", |t| {
            t[3] = t[3].replace("from = \"V2026a\"", "from = \"V2099\"")
        }),
        ("positive finite", |t| {
            t[1] = t[1].replace("a2_pd_min = 5.92", "a2_pd_min = -5.92")
        }),
        ("policy.toml", |t| {
            t[3] = t[3].replace("[texts]", "[texts]\nextra = \"x\"")
        }),
        ("uae.toml: name \"Core42\" is taken", |t| {
            t[5] = t[5].replace("\"G42 Cloud\"", "\"Core42\"")
        }),
        ("tariff.toml band 1: a band needs", |t| {
            t[6] = t[6].replace("tpp_below = 17500.0", "tpp_below = 14000.0")
        }),
        ("review policy is missing under V2023", |t| {
            t[3] = t[3].replace("\"other_scope\"", "\"hq_party\"")
        }),
    ];
    for &(needle, edit) in cases {
        let err = with(edit).expect_err(needle);
        assert!(err.contains(needle), "{needle}: {err}");
    }
}
