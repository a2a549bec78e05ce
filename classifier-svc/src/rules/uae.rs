//! The UAE rule of 2026-07-10 (91 FR 43034): advanced computing items to or
//! within the UAE are licence-free for the UAE Government, the approved
//! entities of Supplement No. 8 to Part 740 (until their approval expires)
//! and the named U.S.-headquartered companies; everyone else needs a licence.
//! The entity tables and every text are data (`rules/uae.toml`).

use super::countries::Cc;
use super::data::{parse, rule, Codes, RawSource};
use super::findings::{Relied, Rule, RuleTable};
use super::model::{EndUserKind, Finding, SourceTag, Transaction};
use super::vintage::Vintages;
use chrono::NaiveDate;
use serde::Deserialize;
use service_kit::names::entity_key;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Table {
    /// Supplement No. 8 to Part 740: approved entities.
    Supplement8,
    /// U.S.-headquartered companies named in the rule's announcement.
    UsCompany,
}

#[derive(Debug, Clone)]
pub(crate) struct Entity {
    pub table: Table,
    pub name: String,
    pub headquarters: Cc,
    /// The approval ends at the start of this day.
    pub expires: Option<NaiveDate>,
    pub citation: String,
    pub source: SourceTag,
    pub confirmed: bool,
}

#[derive(Debug)]
pub(crate) struct UaeRule {
    pub from: usize,
    pub country: Cc,
    government_rule: Rule,
    entity_rule: Rule,
    us_company_rule: Rule,
    licence_rule: Rule,
    government_hq: Cc,
    pub us_company_warning: String,
    pub policy_unknown: String,
    part744_note: String,
    pub entities: Vec<Entity>,
    /// Normalised name or alias -> index into `entities`.
    names: HashMap<String, usize>,
}

/// Which path of the rule an end user takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UaePath<'a> {
    Government,
    Entity {
        entity: &'a Entity,
        expired: bool,
    },
    UsCompany(&'a Entity),
    /// Anyone else; `unknown` when neither a name nor a kind was given.
    Other {
        unknown: bool,
    },
}

impl UaePath<'_> {
    pub(crate) fn licence_free(&self) -> bool {
        matches!(
            self,
            UaePath::Government | UaePath::Entity { expired: false, .. } | UaePath::UsCompany(_)
        )
    }
}

impl UaeRule {
    /// Whether the rule decides this destination under this vintage.
    pub(crate) fn applies(&self, vintage: usize, dest: Cc) -> bool {
        vintage >= self.from && dest == self.country
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<&Entity> {
        let key = entity_key(name);
        self.names.get(&key).map(|i| &self.entities[*i])
    }

    /// A named entity of the tables takes its own path whatever kind the
    /// end user is declared: G42 or Amazon is a company, not the UAE
    /// Government, and declared GOVERNMENT it must not escape the end of
    /// its approval.
    pub(crate) fn path(&self, tx: &Transaction, as_of: NaiveDate) -> UaePath<'_> {
        let name = tx.end_user_name.as_deref().filter(|n| !n.trim().is_empty());
        let government_hq = tx
            .end_user_hq
            .as_deref()
            .is_none_or(|c| c == self.government_hq.as_str());
        match name.and_then(|n| self.lookup(n)) {
            Some(e) if e.table == Table::Supplement8 => UaePath::Entity {
                entity: e,
                expired: e.expires.is_some_and(|x| as_of >= x),
            },
            Some(e) => UaePath::UsCompany(e),
            None if tx.end_user_kind == EndUserKind::Government && government_hq => {
                UaePath::Government
            }
            None => UaePath::Other {
                unknown: name.is_none() && tx.end_user_kind == EndUserKind::Unspecified,
            },
        }
    }

    /// Headquarters the path implies for parties not given.
    pub(crate) fn headquarters(&self, path: &UaePath<'_>) -> Option<Cc> {
        match path {
            UaePath::Government => Some(self.government_hq),
            UaePath::Entity { entity, .. } | UaePath::UsCompany(entity) => {
                Some(entity.headquarters)
            }
            UaePath::Other { .. } => None,
        }
    }

    /// The finding that names the path, with its citation; for an entity
    /// whose approval has expired, also the finding that requires the licence,
    /// so that a licence required always has a reason that holds.
    pub(crate) fn findings<'a>(
        &'a self,
        rules: &'a RuleTable,
        relied: &Relied,
        path: &UaePath<'a>,
        tx: &Transaction,
        hq_rule_hit: bool,
        out: &mut Vec<Finding<'a>>,
    ) {
        let given = tx.end_user_name.as_deref().unwrap_or("");
        let mut e = String::with_capacity(192);
        let (rule, holds, cited) = match path {
            UaePath::Government => {
                e.push_str("end user the UAE Government (kind GOVERNMENT): licence-free");
                (self.government_rule, true, None)
            }
            UaePath::Entity { entity, expired } => {
                push_match(&mut e, given, entity);
                e.push_str(" (Supplement No. 8 to Part 740)");
                let until = entity.expires.map(|d| d.to_string()).unwrap_or_default();
                if *expired {
                    e.push_str(": approval expired on ");
                    e.push_str(&until);
                    e.push_str(", licence required");
                } else {
                    if !until.is_empty() {
                        e.push_str(", approval expires on ");
                        e.push_str(&until);
                    }
                    e.push_str(": licence-free; ");
                    e.push_str(&self.part744_note);
                }
                (self.entity_rule, !*expired, Some(*entity))
            }
            UaePath::UsCompany(entity) => {
                push_match(&mut e, given, entity);
                e.push_str(
                    " (named U.S.-headquartered company, subsidiaries included): licence-free; mechanism UNCONFIRMED",
                );
                (self.us_company_rule, true, Some(*entity))
            }
            UaePath::Other { unknown } => {
                if *unknown {
                    e.push_str("end user not given (no name, no kind)");
                } else {
                    e.push_str("end user '");
                    e.push_str(given);
                    e.push_str(
                        "' is not the UAE Government, a Supplement No. 8 entity or a named U.S.-headquartered company",
                    );
                }
                e.push_str(LICENCE_REQUIRED);
                (self.licence_rule, true, None)
            }
        };
        if cited.is_some_and(|e| !e.confirmed) {
            e.push_str(" (table entry UNCONFIRMED)");
        }
        if hq_rule_hit && path.licence_free() {
            e.push_str("; the headquarters rule still applies");
        }
        relied.note(rule, holds);
        out.push(match cited {
            Some(entity) => rules.finding_cited(rule, holds, e, &entity.citation, entity.source),
            None => rules.finding(rule, holds, e),
        });
        if let UaePath::Entity {
            entity,
            expired: true,
        } = path
        {
            let mut e = String::with_capacity(160);
            push_match(&mut e, given, entity);
            e.push_str(", whose Supplement No. 8 approval has expired");
            e.push_str(LICENCE_REQUIRED);
            relied.note(self.licence_rule, true);
            out.push(rules.finding(self.licence_rule, true, e));
        }
    }

    /// Dates on which an entity's approval ends (history change points).
    pub(crate) fn expiries(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.entities.iter().filter_map(|e| e.expires)
    }
}

const LICENCE_REQUIRED: &str =
    ": licence required for advanced computing items to or within the UAE";

fn push_match(e: &mut String, given: &str, entity: &Entity) {
    e.push_str("end user '");
    e.push_str(given);
    e.push_str("' matches '");
    e.push_str(&entity.name);
    e.push('\'');
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    from: String,
    country: String,
    government_rule: String,
    entity_rule: String,
    us_company_rule: String,
    licence_rule: String,
    government_headquarters: String,
    us_company_warning: String,
    policy_unknown: String,
    part744_note: String,
    entity: Vec<RawEntity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    table: Table,
    name: String,
    aliases: Vec<String>,
    headquarters: String,
    expires: Option<NaiveDate>,
    citation: String,
    source: RawSource,
    confirmed: bool,
}

pub(crate) fn load(text: &str, codes: &Codes, vintages: &Vintages) -> Result<UaeRule, String> {
    let raw: RawFile = parse("uae.toml", text)?;
    let ctx = "uae.toml";
    let from = vintages
        .index_of(&raw.from)
        .ok_or_else(|| format!("{ctx}: unknown vintage {:?}", raw.from))?;
    let mut entities = Vec::with_capacity(raw.entity.len());
    let mut names = HashMap::new();
    for (i, e) in raw.entity.into_iter().enumerate() {
        if e.citation.is_empty() {
            return Err(format!("{ctx}: entity {:?} needs a citation", e.name));
        }
        for name in std::iter::once(&e.name).chain(&e.aliases) {
            let key = entity_key(name);
            if key.is_empty() {
                return Err(format!("{ctx}: name {name:?} normalises to nothing"));
            }
            if names.insert(key, i).is_some_and(|j| j != i) {
                return Err(format!("{ctx}: name {name:?} is taken by another entity"));
            }
        }
        entities.push(Entity {
            table: e.table,
            headquarters: codes.one(ctx, &e.headquarters)?,
            name: e.name,
            expires: e.expires,
            citation: e.citation,
            source: e.source.into(),
            confirmed: e.confirmed,
        });
    }
    Ok(UaeRule {
        from,
        country: codes.one(ctx, &raw.country)?,
        government_rule: rule(ctx, &raw.government_rule)?,
        entity_rule: rule(ctx, &raw.entity_rule)?,
        us_company_rule: rule(ctx, &raw.us_company_rule)?,
        licence_rule: rule(ctx, &raw.licence_rule)?,
        government_hq: codes.one(ctx, &raw.government_headquarters)?,
        us_company_warning: raw.us_company_warning,
        policy_unknown: raw.policy_unknown,
        part744_note: raw.part744_note,
        entities,
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleBook;

    fn uae() -> &'static UaeRule {
        &RuleBook::builtin().uae
    }

    #[test]
    fn names_match_after_case_punctuation_and_legal_suffixes() {
        for (given, want) in [
            ("G42", Some("G42")),
            ("g42", Some("G42")),
            ("  G-42  ", Some("G42")),
            ("Group 42 Holding Ltd.", Some("G42")),
            ("G42 Cloud Technologies LLC", Some("G42")),
            ("Core42 FZ-LLC", Some("Core42")),
            ("CORE42, L.L.C.", Some("Core42")),
            ("\u{FF27}42", Some("G42")),
            ("G\u{200B}42", Some("G42")),
            ("Amazon Web Services, Inc.", Some("Amazon")),
            ("X.AI Corp.", Some("xAI")),
            ("Microsoft Corporation", Some("Microsoft")),
            ("G42 Healthcare", None),
            ("Core 42", None),
            ("Amazing", None),
            ("", None),
        ] {
            assert_eq!(
                uae().lookup(given).map(|e| e.name.as_str()),
                want,
                "{given:?}"
            );
        }
    }

    #[test]
    fn the_supplement_8_approval_expires_on_2027_04_06() {
        let mut tx = Transaction::new(
            "AE",
            super::super::model::ExportType::ExportFromUs,
            None,
            None,
        );
        tx.end_user_name = Some("Core42".into());
        for (date, expired) in [("2027-04-05", false), ("2027-04-06", true)] {
            match uae().path(&tx, date.parse().unwrap()) {
                UaePath::Entity { expired: e, .. } => assert_eq!(e, expired, "{date}"),
                other => panic!("{date}: {other:?}"),
            }
        }
    }
}
