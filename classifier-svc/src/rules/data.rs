//! Loading the embedded rule data: TOML in, validated and precomputed
//! structures out. Any inconsistency is an error naming the file and row.

use super::countries::{Cc, CountrySet};
use super::destinations::{DerivedInputs, Geography, Selection, Snapshot};
use super::findings::{Rule, RuleMeta, RuleTable};
use super::model::{ExportType, ReviewPolicy, SourceTag};
use super::policy::{
    AiDiffusion, ExcDest, ExcItems, ExceptionRow, Fr26, IsInformed, Items, NotEvaluated,
    PolicyBook, PolicyParts, PolicyRow, Situation, When,
};
use super::vintage::{DatedCountry, EccnTest, HbmThresholds, ScopeRule, TppPd, Vintage, Vintages};
use super::RuleBook;
use chrono::NaiveDate;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The text of every rule file.
pub(crate) struct Sources<'a> {
    pub rules: &'a str,
    pub vintages: &'a str,
    pub groups: &'a str,
    pub policy: &'a str,
    pub iso: &'a str,
    pub uae: &'a str,
    pub tariff: &'a str,
}

pub(crate) const BUILTIN: Sources<'static> = Sources {
    rules: include_str!("../../rules/rules.toml"),
    vintages: include_str!("../../rules/vintages.toml"),
    groups: include_str!("../../rules/country_groups.toml"),
    policy: include_str!("../../rules/policy.toml"),
    iso: include_str!("../../rules/iso3166.toml"),
    uae: include_str!("../../rules/uae.toml"),
    tariff: include_str!("../../rules/tariff.toml"),
};

/// Fixed texts of warnings and explanations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Texts {
    pub market_assumed_datacenter: String,
    pub multi_die: String,
    pub assembly_aggregate: String,
    pub c_exceptions: String,
    pub hq_conflict: String,
    pub policy_unverified: String,
    pub country_groups_unverified: String,
    pub hq_unknown: String,
    pub is_informed_status: String,
}

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
struct RulesFile {
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VintagesFile {
    vintage: Vec<RawVintage>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum RawTest {
    IoAndTpp,
    TppAndPd,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    #[serde(default)]
    include_groups: Vec<String>,
    #[serde(default)]
    exclude_groups: Vec<String>,
    #[serde(default)]
    countries: Vec<RawDatedCountry>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawDatedCountry {
    code: String,
    effective: NaiveDate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupsFile {
    snapshot: Vec<RawSnapshot>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChange {
    group: String,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IsoFile {
    #[allow(dead_code)]
    source: String,
    codes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNormalisation {
    rule: String,
    aliases: Vec<RawAlias>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlias {
    from: String,
    to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSelection {
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    countries: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleFrom {
    rule: String,
    from: String,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawPolicy {
    PresumptionOfDenial,
    CaseByCase,
    PresumptionOfApproval,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawExportType {
    ExportFromUs,
    Reexport,
    InCountryTransfer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAi {
    rule: String,
    from: String,
    tier1_countries: Vec<String>,
    tier3_groups: Vec<String>,
    tier3_countries: Vec<String>,
    status: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotEvaluated {
    text: String,
    when: When,
    from: Option<String>,
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|e| format!("{file}: {e}"))
}

/// Resolves country codes, refusing any that is not a known ISO code.
pub(crate) struct Codes(CountrySet);

impl Codes {
    pub(crate) fn one(&self, ctx: &str, code: &str) -> Result<Cc, String> {
        Cc::parse(code)
            .filter(|c| self.0.contains(*c))
            .ok_or_else(|| format!("{ctx}: unknown country code {code:?}"))
    }

    fn set(&self, ctx: &str, codes: &[String]) -> Result<CountrySet, String> {
        codes.iter().map(|c| self.one(ctx, c)).collect()
    }
}

pub(crate) fn rule(ctx: &str, id: &str) -> Result<Rule, String> {
    Rule::from_id(id).ok_or_else(|| format!("{ctx}: unknown rule id {id:?}"))
}

pub(crate) fn load(src: &Sources<'_>) -> Result<RuleBook, String> {
    let iso: IsoFile = parse("iso3166.toml", src.iso)?;
    let codes = Codes(
        iso.codes
            .iter()
            .map(|c| Cc::parse(c).ok_or_else(|| format!("iso3166.toml: malformed code {c:?}")))
            .collect::<Result<_, _>>()?,
    );
    if codes.0.len() != iso.codes.len() {
        return Err("iso3166.toml: duplicate codes".into());
    }
    let rules = load_rules(parse("rules.toml", src.rules)?)?;
    let vintages = load_vintages(parse("vintages.toml", src.vintages)?, &codes)?;
    let snapshots = load_snapshots(parse("country_groups.toml", src.groups)?, &codes)?;
    check_scope_groups(&vintages, &snapshots)?;
    let policy_file: PolicyFile = parse("policy.toml", src.policy)?;
    let from = |ctx: &str, id: &str| {
        vintages
            .index_of(id)
            .ok_or_else(|| format!("policy.toml {ctx}: unknown vintage {id:?}"))
    };
    let p = policy_file;
    let selection =
        |ctx: &str, groups: &[String], countries: &[String]| -> Result<Selection, String> {
            if let Some(g) = groups
                .iter()
                .find(|g| !snapshots.iter().all(|s| s.group(g).is_some()))
            {
                return Err(format!(
                    "policy.toml {ctx}: group {g:?} missing from a snapshot"
                ));
            }
            Ok(Selection {
                groups: groups.to_vec(),
                countries: codes.set(ctx, countries)?,
            })
        };
    let restricted = selection("restricted", &p.restricted.groups, &p.restricted.countries)?;
    let informed = selection(
        "is_informed",
        &p.is_informed.groups,
        &p.is_informed.countries,
    )?;
    let tier3 = selection(
        "ai_diffusion",
        &p.ai_diffusion.tier3_groups,
        &p.ai_diffusion.tier3_countries,
    )?;

    let aliases = p
        .normalisation
        .aliases
        .iter()
        .map(|a| {
            Ok((
                codes.one("normalisation", &a.from)?,
                codes.one("normalisation", &a.to)?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut snapshots = snapshots;
    for s in &mut snapshots {
        s.scope_citation = format!(
            "{}; groups: {}",
            rules.meta(Rule::Scope).citation,
            s.citation
        );
        s.unverified_warning = (!s.confirmed).then(|| {
            format!(
                "{} ({}: {})",
                p.texts.country_groups_unverified, s.id, s.note
            )
        });
    }
    let mut geography = Geography {
        known: codes.0,
        aliases,
        snapshots,
        derived: Vec::new(),
    };
    geography.derive(
        &vintages,
        &DerivedInputs {
            restricted: &restricted,
            informed: &informed,
            tier3: &tier3,
        },
    );

    let review = p
        .review_policy
        .iter()
        .map(|r| {
            Ok(PolicyRow {
                rule: rule("review_policy", &r.rule)?,
                from: from("review_policy", &r.from)?,
                items: r.items,
                situation: r.situation,
                policy: match r.policy {
                    RawPolicy::PresumptionOfDenial => ReviewPolicy::PresumptionOfDenial,
                    RawPolicy::CaseByCase => ReviewPolicy::CaseByCase,
                    RawPolicy::PresumptionOfApproval => ReviewPolicy::PresumptionOfApproval,
                },
                unverified: r.unverified,
                conflict_note: r.conflict_note,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let f = &p.fr26;
    let fr26 = Fr26 {
        rule: rule("fr26", &f.rule)?,
        route_rule: rule("fr26", &f.route_rule)?,
        from: from("fr26", &f.from)?,
        tpp_below: positive("fr26.tpp_below", f.tpp_below)?,
        dram_below: positive(
            "fr26.dram_bandwidth_below_gb_s",
            f.dram_bandwidth_below_gb_s,
        )?,
        destinations: codes.set("fr26", &f.destinations)?,
        export_types: f
            .export_types
            .iter()
            .map(|t| match t {
                RawExportType::ExportFromUs => ExportType::ExportFromUs,
                RawExportType::Reexport => ExportType::Reexport,
                RawExportType::InCountryTransfer => ExportType::InCountryTransfer,
            })
            .collect(),
        availability_date: f.availability_date,
        conditions: f.conditions.clone(),
        iaas_conditions: f.iaas_conditions.clone(),
        unknown_party_condition: format!(
            "End user and ultimate parent not headquartered in D:5 outside China/Macau ({})",
            p.texts.hq_unknown
        ),
    };
    let exceptions = p
        .exception
        .iter()
        .map(|e| {
            Ok(ExceptionRow {
                code: e.code.clone(),
                rule: rule("exception", &e.rule)?,
                from: from("exception", &e.from)?,
                items: e.items,
                destinations: e.destinations,
                prior_notification_required: e.prior_notification_required,
                notification_review_days: e.notification_review_days,
                aes_code: e.aes_code.clone(),
                mechanics: e.mechanics.clone(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let i = &p.is_informed;
    let is_informed = IsInformed {
        rule: rule("is_informed", &i.rule)?,
        effective: i.effective,
        indefinite_from: i.indefinite_from,
        dram_min: positive("is_informed.dram_min_gb_s", i.dram_min_gb_s)?,
        io_min: positive("is_informed.io_min_gb_s", i.io_min_gb_s)?,
        combined_min: positive("is_informed.combined_min_gb_s", i.combined_min_gb_s)?,
    };
    let a = &p.ai_diffusion;
    let ai = AiDiffusion {
        rule: rule("ai_diffusion", &a.rule)?,
        from: from("ai_diffusion", &a.from)?,
        tier1: codes.set("ai_diffusion", &a.tier1_countries)?,
        status: a.status.clone(),
    };
    let not_evaluated = p
        .not_evaluated
        .iter()
        .map(|n| {
            Ok(NotEvaluated {
                text: n.text.clone(),
                when: n.when,
                from: n
                    .from
                    .as_deref()
                    .map(|id| from("not_evaluated", id))
                    .transpose()?
                    .unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let parts = PolicyParts {
        normalisation: rule("normalisation", &p.normalisation.rule)?,
        hq_rule: rule("hq_rule", &p.hq_rule.rule)?,
        hq_from: from("hq_rule", &p.hq_rule.from)?,
        review,
        fr26,
        exceptions,
        is_informed,
        ai,
        not_evaluated,
    };
    let policy = PolicyBook::new(parts, &vintages.0)?;
    let uae = super::uae::load(src.uae, &codes, &vintages)?;
    let tariff = super::tariff::load(src.tariff)?;
    Ok(RuleBook {
        rules,
        vintages,
        geography,
        policy,
        texts: p.texts,
        uae,
        tariff,
    })
}

pub(crate) fn positive(ctx: &str, x: f64) -> Result<f64, String> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(format!(
            "{ctx}: threshold must be a positive finite number, got {x}"
        ))
    }
}

fn load_rules(file: RulesFile) -> Result<RuleTable, String> {
    let mut metas: Vec<Option<RuleMeta>> = vec![None; Rule::ALL.len()];
    for r in file.rule {
        let id = rule("rules.toml", &r.id)?;
        let slot = &mut metas[id as usize];
        if slot.is_some() {
            return Err(format!("rules.toml: duplicate rule {:?}", r.id));
        }
        if r.title.is_empty() || r.citation.is_empty() {
            return Err(format!(
                "rules.toml: rule {:?} needs a title and a citation",
                r.id
            ));
        }
        *slot = Some(RuleMeta {
            id: r.id,
            citation: r.citation,
            source: r.source.into(),
            confirmed: r.confirmed,
            eccn: r.eccn,
            paragraph: r.paragraph,
        });
    }
    let metas = metas
        .into_iter()
        .zip(Rule::ALL)
        .map(|(m, r)| m.ok_or_else(|| format!("rules.toml: rule {:?} missing", r.id())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RuleTable(metas))
}

/// Later vintages inherit every threshold and the scope of the earlier ones.
fn load_vintages(file: VintagesFile, codes: &Codes) -> Result<Vintages, String> {
    let mut out: Vec<Vintage> = Vec::new();
    let mut thresholds: BTreeMap<String, f64> = BTreeMap::new();
    let mut test: Option<RawTest> = None;
    let mut destination: Option<RawDestination> = None;
    for (index, raw) in file.vintage.into_iter().enumerate() {
        let ctx = format!("vintages.toml {}", raw.id);
        if let Some(prev) = out.last() {
            if raw.effective <= prev.effective || out.iter().any(|v| v.id == raw.id) {
                return Err(format!(
                    "{ctx}: vintages must have unique ids and increasing dates"
                ));
            }
        }
        test = raw.eccn_test.or(test);
        destination = raw.destination.or(destination);
        for (k, v) in raw.thresholds {
            thresholds.insert(k, positive(&format!("{ctx} {}", "threshold"), v)?);
        }
        let get = |k: &str| {
            thresholds
                .get(k)
                .copied()
                .ok_or_else(|| format!("{ctx}: threshold {k} missing"))
        };
        let test = match test.ok_or_else(|| format!("{ctx}: eccn_test missing"))? {
            RawTest::IoAndTpp => EccnTest::IoAndTpp {
                io_min: get("io_min_gb_s")?,
                tpp_min: get("io_test_tpp_min")?,
            },
            RawTest::TppAndPd => EccnTest::TppAndPd(TppPd {
                a1_tpp_min: get("a1_tpp_min")?,
                a2_tpp_min: get("a2_tpp_min")?,
                a2_pd_min: get("a2_pd_min")?,
                b1_tpp_min: get("b1_tpp_min")?,
                b1_tpp_below: get("b1_tpp_below")?,
                b1_pd_min: get("b1_pd_min")?,
                b1_pd_below: get("b1_pd_below")?,
                b2_tpp_min: get("b2_tpp_min")?,
                b2_pd_min: get("b2_pd_min")?,
                b2_pd_below: get("b2_pd_below")?,
                note2_tpp_min: get("note2_tpp_min")?,
            }),
        };
        let hbm = thresholds.get("c_mbd_above").map(|&c| HbmThresholds {
            c_mbd_above: c,
            exception_mbd_below: thresholds.get("hbm_exception_mbd_below").copied(),
        });
        let d = destination
            .clone()
            .ok_or_else(|| format!("{ctx}: destination scope missing"))?;
        let scope = ScopeRule {
            include_groups: d.include_groups,
            exclude_groups: d.exclude_groups,
            countries: d
                .countries
                .iter()
                .map(|c| {
                    Ok(DatedCountry {
                        code: codes.one(&ctx, &c.code)?,
                        effective: c.effective,
                    })
                })
                .collect::<Result<_, String>>()?,
        };
        out.push(Vintage {
            index,
            unconfirmed_warning: (!raw.confirmed)
                .then(|| format!("rule set {}: dates and scope UNCONFIRMED", raw.id)),
            id: raw.id,
            effective: raw.effective,
            compliance: raw.compliance,
            other_dates: raw.other_dates,
            summary: raw.summary,
            citations: raw.citations,
            source: raw.source.into(),
            confirmed: raw.confirmed,
            test,
            hbm,
            scope,
        });
    }
    if out.is_empty() {
        return Err("vintages.toml: no vintage".into());
    }
    Ok(Vintages(out))
}

/// Later snapshots are the earlier one with explicit changes applied.
fn load_snapshots(file: GroupsFile, codes: &Codes) -> Result<Vec<Snapshot>, String> {
    let mut out: Vec<Snapshot> = Vec::new();
    for raw in file.snapshot {
        let ctx = format!("country_groups.toml {}", raw.id);
        let mut groups: Vec<(String, CountrySet)> = match out.last() {
            Some(prev) if raw.effective > prev.effective => prev.groups.clone(),
            Some(_) => return Err(format!("{ctx}: snapshots must have increasing dates")),
            None => Vec::new(),
        };
        for (name, members) in &raw.groups {
            let set = codes.set(&ctx, members)?;
            if set.len() != members.len() {
                return Err(format!("{ctx}: duplicate member in {name}"));
            }
            match groups.iter_mut().find(|(n, _)| n == name) {
                Some(g) => g.1 = set,
                None => groups.push((name.clone(), set)),
            }
        }
        for change in &raw.changes {
            let g = groups
                .iter_mut()
                .find(|(n, _)| *n == change.group)
                .ok_or_else(|| format!("{ctx}: change to unknown group {}", change.group))?;
            codes
                .set(&ctx, &change.add)?
                .iter()
                .for_each(|c| g.1.insert(c));
            for c in codes.set(&ctx, &change.remove)?.iter() {
                if !g.1.contains(c) {
                    return Err(format!("{ctx}: {c} is not in {}", change.group));
                }
                g.1.remove(c);
            }
        }
        out.push(Snapshot {
            id: raw.id,
            effective: raw.effective,
            citation: raw.citation,
            source: raw.source.into(),
            confirmed: raw.confirmed,
            note: raw.note,
            groups,
            scope_citation: String::new(),
            unverified_warning: None,
        });
    }
    Ok(out)
}

/// A group-based scope needs a snapshot from its first day and groups that
/// every snapshot defines.
fn check_scope_groups(vintages: &Vintages, snapshots: &[Snapshot]) -> Result<(), String> {
    for v in vintages.0.iter().filter(|v| v.scope.group_based()) {
        let first = snapshots
            .first()
            .ok_or("country_groups.toml: no snapshot")?;
        if v.effective < first.effective {
            return Err(format!(
                "vintages.toml {}: group-based scope before the first snapshot",
                v.id
            ));
        }
        for g in v.scope.include_groups.iter().chain(&v.scope.exclude_groups) {
            if snapshots.iter().any(|s| s.group(g).is_none()) {
                return Err(format!(
                    "vintages.toml {}: group {g} missing from a snapshot",
                    v.id
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
        type Edit = Box<dyn Fn(&mut [String; 7])>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "rules.toml",
                Box::new(|t| {
                    t[0] = t[0].replace("id = \"exception.hbm\"", "id = \"exception.hbm2\"")
                }),
            ),
            (
                "duplicate rule",
                Box::new(|t| {
                    t[0] = t[0].replace("id = \"info.ai_diffusion\"", "id = \"metrics.tpp\"")
                }),
            ),
            (
                "missing",
                Box::new(|t| {
                    t[0] = t[0]
                        .split("[[rule]]\nid = \"info.ai_diffusion\"")
                        .next()
                        .unwrap()
                        .to_owned()
                }),
            ),
            (
                "unknown country code",
                Box::new(|t| t[2] = t[2].replace("\"ZW\"]", "\"XX\"]")),
            ),
            (
                "is not in D:5",
                Box::new(|t| t[2] = t[2].replace("remove = [\"KH\"]", "remove = [\"US\"]")),
            ),
            (
                "increasing dates",
                Box::new(|t| {
                    t[1] = t[1].replace("effective = \"2024-04-04\"", "effective = \"2023-01-01\"")
                }),
            ),
            (
                "unknown vintage",
                Box::new(|t| t[3] = t[3].replace("from = \"V2026a\"", "from = \"V2099\"")),
            ),
            (
                "positive finite",
                Box::new(|t| t[1] = t[1].replace("a2_pd_min = 5.92", "a2_pd_min = -5.92")),
            ),
            (
                "policy.toml",
                Box::new(|t| t[3] = t[3].replace("[texts]", "[texts]\nextra = \"x\"")),
            ),
            (
                "uae.toml: name \"Core42\" is taken",
                Box::new(|t| t[5] = t[5].replace("\"G42 Cloud\"", "\"Core42\"")),
            ),
            (
                "tariff.toml band 1: a band needs",
                Box::new(|t| t[6] = t[6].replace("tpp_below = 17500.0", "tpp_below = 14000.0")),
            ),
            (
                "review policy is missing under V2023",
                Box::new(|t| t[3] = t[3].replace("\"other_scope\"", "\"hq_party\"")),
            ),
        ];
        for (needle, edit) in cases {
            let err = with(edit).expect_err(needle);
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
