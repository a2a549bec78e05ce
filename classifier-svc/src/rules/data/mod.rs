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

mod raw;
mod tables;
#[cfg(test)]
mod tests;

pub(crate) use raw::RawSource;
use raw::*;
use tables::*;

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
    rules: include_str!("../../../rules/rules.toml"),
    vintages: include_str!("../../../rules/vintages.toml"),
    groups: include_str!("../../../rules/country_groups.toml"),
    policy: include_str!("../../../rules/policy.toml"),
    iso: include_str!("../../../rules/iso3166.toml"),
    uae: include_str!("../../../rules/uae.toml"),
    tariff: include_str!("../../../rules/tariff.toml"),
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
                policy: r.policy.into(),
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
        export_types: f.export_types.iter().map(|&t| t.into()).collect(),
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
