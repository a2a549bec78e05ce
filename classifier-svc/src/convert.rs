//! Proto <-> domain conversion for the classifier. Checks what only the wire
//! format can get wrong (unknown enum numbers, missing oneofs, malformed
//! dates and codes, oversized strings and lists); the domain checks meaning.

use std::borrow::Cow;

use chrono::{Datelike, NaiveDate};
use exportcontrol_proto::classifier::v1 as pb;
use service_kit::errors::{shorten, Violation};

use crate::catalog::{Catalog, NameError};
use crate::rules::{self, RuleBook};

/// ErrorInfo reasons of the adapter's refusals (stable API).
pub mod reason {
    pub use service_kit::errors::reason::*;
    pub const MISSING_ITEM: &str = "MISSING_ITEM";
    pub const NESTING_TOO_DEEP: &str = "NESTING_TOO_DEEP";
    pub const UNKNOWN_COUNTRY_CODE: &str = "UNKNOWN_COUNTRY_CODE";
    pub const INVALID_AS_OF_DATE: &str = "INVALID_AS_OF_DATE";
}

/// One problem of a request: the field violation and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: &'static str,
    pub violation: Violation,
}

impl Problem {
    pub fn new(
        reason: &'static str,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Problem {
            reason,
            violation: Violation::because(reason, field, description),
        }
    }
}

impl From<Problem> for Violation {
    fn from(problem: Problem) -> Violation {
        problem.violation
    }
}

impl From<rules::InvalidInput> for Problem {
    fn from(i: rules::InvalidInput) -> Self {
        Problem::new(i.reason, i.field, i.description)
    }
}

/// Bounds on request size beyond the transport's byte limit, so a single
/// request cannot make the server build huge answers.
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_JUSTIFICATION_LEN: usize = 2_000;
pub const MAX_LIST_LEN: usize = 64;
pub const MAX_NESTING: usize = 2;

/// What a ClassifyItem request asks, in domain terms. A catalogue chip is
/// borrowed from the catalogue `'c`, not copied for every request.
pub struct ClassifyQuery<'c> {
    pub spec: Cow<'c, rules::ChipSpec>,
    pub transaction: Option<rules::Transaction>,
    /// None: the caller left it empty and the adapter uses today's date.
    pub as_of: Option<NaiveDate>,
    pub view: View,
}

/// Converts a request; every problem found is reported, not just the first:
/// those of the wire format and, when the item converts, the domain's own.
pub fn classify_query<'c>(
    request: &pb::ClassifyItemRequest,
    catalog: &'c Catalog,
    rules: &RuleBook,
) -> Result<ClassifyQuery<'c>, Lookup> {
    let mut violations: Vec<Problem> = Vec::new();
    let spec = match &request.item {
        None => {
            violations.push(Problem::new(
                reason::MISSING_ITEM,
                "item",
                "set either spec or catalog_chip",
            ));
            None
        }
        Some(pb::classify_item_request::Item::CatalogChip(name)) => Some(Cow::Borrowed(
            resolve_catalog(name, "catalog_chip", catalog)?,
        )),
        Some(pb::classify_item_request::Item::Spec(spec)) => {
            chip_spec(spec, "spec", catalog, 0, &mut violations)?.map(Cow::Owned)
        }
    };
    let transaction = request
        .transaction
        .as_ref()
        .and_then(|tx| transaction(tx, rules, &mut violations));
    let as_of = parse_date(&request.as_of, "as_of", &mut violations);
    let view = view(request.view, "view", &mut violations);
    // The domain's checks add to the wire's unless the request is already
    // oversized (its answer would only grow).
    let oversized = violations.iter().any(|p| {
        matches!(
            p.reason,
            reason::TOO_MANY_ENTRIES | reason::NESTING_TOO_DEEP | reason::FIELD_TOO_LONG
        )
    });
    if !violations.is_empty() && !oversized {
        if let Some(spec) = &spec {
            if let Err(invalid) = rules.validate(spec, transaction.as_ref()) {
                violations.extend(invalid.0.into_iter().map(Problem::from));
            }
        }
    }
    match spec {
        Some(spec) if violations.is_empty() => Ok(ClassifyQuery {
            spec,
            transaction,
            as_of,
            view,
        }),
        _ => Err(Lookup::Invalid(violations)),
    }
}

/// Why a request could not be converted.
#[derive(Debug)]
pub enum Lookup {
    Invalid(Vec<Problem>),
    /// A catalogue name that is not in the catalogue: (field, name).
    UnknownChip {
        field: String,
        name: String,
    },
}

fn resolve_catalog<'c>(
    name: &str,
    field: &str,
    catalog: &'c Catalog,
) -> Result<&'c rules::ChipSpec, Lookup> {
    catalog
        .resolve(name)
        .map(|chip| &chip.spec)
        .map_err(|e| catalog_error(e, name, field))
}

/// A catalogue name that is malformed or not in the catalogue.
pub fn catalog_error(e: NameError, name: &str, field: &str) -> Lookup {
    match e {
        NameError::NotFound => Lookup::UnknownChip {
            field: field.to_owned(),
            name: shorten(name),
        },
        NameError::Malformed(why) => Lookup::Invalid(vec![Problem::new(
            reason::INVALID_CHIP_NAME,
            field,
            format!("{:?}: {why}", shorten(name)),
        )]),
    }
}

fn chip_spec(
    spec: &pb::ChipSpec,
    path: &str,
    catalog: &Catalog,
    depth: usize,
    violations: &mut Vec<Problem>,
) -> Result<Option<rules::ChipSpec>, Lookup> {
    check_len(&spec.name, || format!("{path}.name"), violations);
    check_chars(&spec.name, || format!("{path}.name"), violations);
    check_text(
        &spec.market_justification,
        MAX_JUSTIFICATION_LEN,
        || format!("{path}.market_justification"),
        violations,
    );
    for (i, die) in spec.dies.iter().enumerate() {
        check_len(&die.label, || format!("{path}.dies[{i}].label"), violations);
        check_chars(&die.label, || format!("{path}.dies[{i}].label"), violations);
    }
    // Format labels are echoed in the answer: bound them like the name, or a
    // small request could build a reply over the transport's size limit.
    for (i, rate) in spec.rates.iter().enumerate().take(MAX_LIST_LEN) {
        check_len(
            &rate.format,
            || format!("{path}.rates[{i}].format"),
            violations,
        );
        check_chars(
            &rate.format,
            || format!("{path}.rates[{i}].format"),
            violations,
        );
    }
    for (field, len) in [
        ("rates", spec.rates.len()),
        ("dies", spec.dies.len()),
        ("contained_ics", spec.contained_ics.len()),
    ] {
        if len > MAX_LIST_LEN {
            violations.push(Problem::new(
                reason::TOO_MANY_ENTRIES,
                format!("{path}.{field}"),
                format!("at most {MAX_LIST_LEN} entries, got {len}"),
            ));
        }
    }
    let kind = match pb::ItemKind::try_from(spec.kind) {
        Ok(pb::ItemKind::Unspecified) | Ok(pb::ItemKind::IntegratedCircuit) => {
            rules::ItemKind::IntegratedCircuit
        }
        Ok(pb::ItemKind::ComputerOrAssembly) => rules::ItemKind::ComputerOrAssembly,
        Ok(pb::ItemKind::HbmStack) => rules::ItemKind::HbmStack,
        Err(_) => {
            violations.push(unknown_enum(&format!("{path}.kind"), spec.kind));
            rules::ItemKind::IntegratedCircuit
        }
    };
    let market = match pb::Market::try_from(spec.market) {
        Ok(pb::Market::Unspecified) => rules::Market::Unspecified,
        Ok(pb::Market::Datacenter) => rules::Market::Datacenter,
        Ok(pb::Market::NonDatacenter) => rules::Market::NonDatacenter,
        Err(_) => {
            violations.push(unknown_enum(&format!("{path}.market"), spec.market));
            rules::Market::Unspecified
        }
    };
    let mut contained_ics = Vec::with_capacity(spec.contained_ics.len());
    for (i, ic) in spec.contained_ics.iter().enumerate() {
        let ic_path = format!("{path}.contained_ics[{i}]");
        if depth >= MAX_NESTING {
            violations.push(Problem::new(
                reason::NESTING_TOO_DEEP,
                ic_path,
                format!("contained ICs may nest at most {MAX_NESTING} levels"),
            ));
            continue;
        }
        let inner = match &ic.ic {
            None => {
                violations.push(Problem::new(
                    reason::MISSING_ITEM,
                    ic_path.clone(),
                    "set either spec or catalog_chip",
                ));
                None
            }
            Some(pb::contained_integrated_circuit::Ic::CatalogChip(name)) => {
                Some(resolve_catalog(name, &format!("{ic_path}.catalog_chip"), catalog)?.clone())
            }
            Some(pb::contained_integrated_circuit::Ic::Spec(inner)) => chip_spec(
                inner,
                &format!("{ic_path}.spec"),
                catalog,
                depth + 1,
                violations,
            )?,
        };
        if let Some(inner) = inner {
            contained_ics.push(rules::ContainedIc {
                spec: inner,
                count: ic.count,
            });
        }
    }
    // Built even when the wire format had problems, so that the domain's
    // checks run too and the caller learns of every problem at once; a spec
    // with problems is never classified.
    Ok(Some(rules::ChipSpec {
        name: spec.name.clone(),
        kind,
        rates: spec
            .rates
            .iter()
            .map(|rate| rules::ProcessingRate {
                bit_length: rate.bit_length,
                dense_tops: rate.dense_tops,
                format: rate.format.clone(),
            })
            .collect(),
        dies: spec
            .dies
            .iter()
            .map(|die| rules::Die {
                area_mm2: die.area_mm2,
                non_planar: die.non_planar,
                memory: die.memory,
            })
            .collect(),
        dram_bandwidth_gb_s: known(spec.dram_bandwidth_gb_s),
        interconnect_bandwidth_gb_s: known(spec.interconnect_bandwidth_gb_s),
        market,
        hbm_bandwidth_gb_s: known(spec.hbm_bandwidth_gb_s),
        hbm_package_area_mm2: known(spec.hbm_package_area_mm2),
        contained_ics,
        us_commercially_available_2026_01_15: spec.us_commercially_available_2026_01_15,
    }))
}

/// proto3 cannot tell 0 from unset; a zero bandwidth or area means "not given".
/// Negative and non-finite values pass through for the domain to refuse.
fn known(value: f64) -> Option<f64> {
    (value != 0.0).then_some(value)
}

fn transaction(
    tx: &pb::Transaction,
    rules: &RuleBook,
    violations: &mut Vec<Problem>,
) -> Option<rules::Transaction> {
    let name_field = || "transaction.end_user_name".to_owned();
    check_len(&tx.end_user_name, name_field, violations);
    check_chars(&tx.end_user_name, name_field, violations);
    let end_user_kind = match pb::EndUserKind::try_from(tx.end_user_kind) {
        Ok(pb::EndUserKind::Unspecified) => rules::EndUserKind::Unspecified,
        Ok(pb::EndUserKind::Government) => rules::EndUserKind::Government,
        Ok(pb::EndUserKind::Commercial) => rules::EndUserKind::Commercial,
        Ok(pb::EndUserKind::IaasProvider) => rules::EndUserKind::IaasProvider,
        Err(_) => {
            violations.push(unknown_enum("transaction.end_user_kind", tx.end_user_kind));
            rules::EndUserKind::Unspecified
        }
    };
    let destination = country(
        &tx.destination_country,
        "transaction.destination_country",
        true,
        rules,
        violations,
    );
    let end_user_hq = country(
        &tx.end_user_headquarters_country,
        "transaction.end_user_headquarters_country",
        false,
        rules,
        violations,
    );
    let ultimate_parent_hq = country(
        &tx.ultimate_parent_headquarters_country,
        "transaction.ultimate_parent_headquarters_country",
        false,
        rules,
        violations,
    );
    let export_type = match pb::ExportType::try_from(tx.export_type) {
        Ok(pb::ExportType::ExportFromUs) => Some(rules::ExportType::ExportFromUs),
        Ok(pb::ExportType::Reexport) => Some(rules::ExportType::Reexport),
        Ok(pb::ExportType::InCountryTransfer) => Some(rules::ExportType::InCountryTransfer),
        Ok(pb::ExportType::Unspecified) => {
            violations.push(Problem::new(
                reason::MISSING_FIELD,
                "transaction.export_type",
                "required: EXPORT_TYPE_EXPORT_FROM_US, EXPORT_TYPE_REEXPORT or EXPORT_TYPE_IN_COUNTRY_TRANSFER",
            ));
            None
        }
        Err(_) => {
            violations.push(unknown_enum("transaction.export_type", tx.export_type));
            None
        }
    };
    Some(rules::Transaction {
        destination: destination?,
        end_user_hq,
        ultimate_parent_hq,
        export_type: export_type?,
        is_informed_notice_received: tx.is_informed_notice_received,
        end_user_name: (!tx.end_user_name.trim().is_empty()).then(|| tx.end_user_name.clone()),
        end_user_kind,
    })
}

/// An ISO 3166-1 alpha-2 code, any case; empty is "unknown" unless required.
fn country(
    code: &str,
    field: &str,
    required: bool,
    rules: &RuleBook,
    violations: &mut Vec<Problem>,
) -> Option<String> {
    if code.is_empty() {
        if required {
            violations.push(Problem::new(
                reason::MISSING_FIELD,
                field,
                "required: an ISO 3166-1 alpha-2 country code",
            ));
        }
        return None;
    }
    let upper = code.to_ascii_uppercase();
    if upper.len() != 2 || !rules.is_known_country(&upper) {
        violations.push(Problem::new(
            reason::UNKNOWN_COUNTRY_CODE,
            field,
            format!(
                "unknown country code {:?}: expected ISO 3166-1 alpha-2, e.g. CN",
                shorten(code)
            ),
        ));
        return None;
    }
    Some(upper)
}

/// A civil date; empty means "today" (None).
pub fn parse_date(text: &str, field: &str, violations: &mut Vec<Problem>) -> Option<NaiveDate> {
    if text.is_empty() {
        return None;
    }
    let date = iso_date(text);
    if date.is_none() {
        violations.push(Problem::new(
            reason::INVALID_AS_OF_DATE,
            field,
            format!("{:?} is not a date in the form YYYY-MM-DD", shorten(text)),
        ));
    }
    date
}

/// A 10-byte `%Y-%m-%d` date. The usual form, four digits, two and two, is
/// read directly: chrono's format interpreter cost more than the rest of a
/// request's conversion. Any other shape goes to chrono, so what is accepted
/// does not change.
fn iso_date(text: &str) -> Option<NaiveDate> {
    if text.len() != 10 {
        return None;
    }
    let b = text.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9];
    if b[4] == b'-' && b[7] == b'-' && digits.iter().all(|&i| b[i].is_ascii_digit()) {
        let number = |range: std::ops::Range<usize>| {
            b[range].iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
        };
        let year = i32::try_from(number(0..4)).ok()?;
        return NaiveDate::from_ymd_opt(year, number(5..7), number(8..10));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// `date` as chrono's `%Y-%m-%d` writes it; years 0 to 9999 (four digits)
/// without running chrono's format interpreter.
fn iso_date_text(date: NaiveDate) -> String {
    let year = match u32::try_from(date.year()) {
        Ok(year) if year <= 9999 => year,
        _ => return date.format("%Y-%m-%d").to_string(),
    };
    let digit = |n: u32| char::from(b'0' + (n % 10) as u8);
    let mut text = String::with_capacity(10);
    text.extend([year / 1000, year / 100, year / 10, year].map(digit));
    text.push('-');
    text.extend([date.month() / 10, date.month()].map(digit));
    text.push('-');
    text.extend([date.day() / 10, date.day()].map(digit));
    text
}

/// The field path is built only for a violation: most requests have none.
fn check_len(text: &str, field: impl FnOnce() -> String, violations: &mut Vec<Problem>) {
    check_text(text, MAX_NAME_LEN, field, violations);
}

/// Control characters and the bidirectional controls (which can make a
/// name display as another) have no place in a name.
pub fn forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check_chars(text: &str, field: impl FnOnce() -> String, violations: &mut Vec<Problem>) {
    if let Some(c) = text.chars().find(|c| forbidden_char(*c)) {
        violations.push(Problem::new(
            reason::FORBIDDEN_CHARACTERS,
            field(),
            format!(
                "control and bidirectional-override characters are refused, found U+{:04X}",
                u32::from(c)
            ),
        ));
    }
}

fn check_text(
    text: &str,
    max: usize,
    field: impl FnOnce() -> String,
    violations: &mut Vec<Problem>,
) {
    if text.len() > max {
        violations.push(Problem::new(
            reason::FIELD_TOO_LONG,
            field(),
            format!("at most {max} bytes, got {}", text.len()),
        ));
    }
}

fn unknown_enum(field: &str, value: i32) -> Problem {
    Problem::new(
        reason::UNKNOWN_ENUM_VALUE,
        field,
        format!("unknown enum value {value}"),
    )
}

#[path = "convert_answer.rs"]
mod answer;
pub use answer::*;

#[path = "convert_compact.rs"]
pub mod compact;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rules build no texts for BASIC; the BASIC answer must be the one
    /// the detailed rules give with the texts dropped: every outcome, rule
    /// id and number the same, for every catalogue chip, destination and
    /// rule set.
    #[test]
    fn basic_rules_answer_as_the_detailed_rules_do() {
        let book = RuleBook::builtin();
        let kinds = [
            (None, rules::EndUserKind::Unspecified),
            (Some("G42"), rules::EndUserKind::Commercial),
            (None, rules::EndUserKind::Government),
        ];
        let mut compared = 0;
        for chip in Catalog::builtin().chips() {
            for dest in ["CN", "AE", "DE", "SA", "MO", "IL"] {
                for export_type in [rules::ExportType::ExportFromUs, rules::ExportType::Reexport] {
                    for (name, kind) in kinds {
                        let mut tx =
                            rules::Transaction::new(dest, export_type, None, Some("CN".into()));
                        tx.end_user_name = name.map(String::from);
                        tx.end_user_kind = kind;
                        for date in [
                            "2022-06-01",
                            "2022-11-01",
                            "2024-06-01",
                            "2026-02-01",
                            "2026-08-01",
                        ] {
                            let as_of = iso_date(date).expect("a date");
                            let answer = |detail, tx: Option<&rules::Transaction>| {
                                let decision = book
                                    .classify_with(&chip.spec, tx, as_of, detail)
                                    .expect("catalogue chips are valid");
                                decision_answer(decision, View::Basic)
                            };
                            for tx in [Some(&tx), None] {
                                assert_eq!(
                                    answer(rules::Detail::Basic, tx),
                                    answer(rules::Detail::Full, tx),
                                    "{} to {dest} on {date}",
                                    chip.id
                                );
                                compared += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(compared > 1000, "{compared}");
    }

    /// A BASIC answer's compact thresholds read back as the proto says give
    /// the FULL answer's thresholds, names aside: every rule id, metric,
    /// bound, limit, value, outcome and margin, to the bit.
    #[test]
    fn compact_thresholds_read_back_as_the_full_answers_thresholds() {
        let book = RuleBook::builtin();
        let mut compared = 0;
        for chip in Catalog::builtin().chips() {
            for dest in ["CN", "AE", "DE", "MO"] {
                let tx = rules::Transaction::new(dest, rules::ExportType::ExportFromUs, None, None);
                for date in [
                    "2020-01-01",
                    "2022-11-01",
                    "2024-06-01",
                    "2026-01-14",
                    "2026-02-01",
                    "2026-08-01",
                ] {
                    let as_of = iso_date(date).expect("a date");
                    let answer = |detail, view| {
                        let decision = book
                            .classify_with(&chip.spec, Some(&tx), as_of, detail)
                            .expect("catalogue chips are valid");
                        decision_answer(decision, view)
                            .classification
                            .expect("a classification")
                    };
                    let full = answer(rules::Detail::Full, View::Full);
                    let basic = answer(rules::Detail::Basic, View::Basic);
                    assert!(full.compact_thresholds.is_none() && basic.thresholds.is_empty());
                    let read_back =
                        compact::expand_compact_thresholds(&basic.compact_thresholds.unwrap())
                            .expect("columns that fit together");
                    let without_names = full.thresholds.into_iter().map(|t| pb::Threshold {
                        name: String::new(),
                        ..t
                    });
                    let bits = |t: &pb::Threshold| {
                        (
                            t.limit.to_bits(),
                            t.value.map(f64::to_bits),
                            t.margin.map(f64::to_bits),
                        )
                    };
                    let expected: Vec<_> = without_names.collect();
                    assert_eq!(read_back, expected, "{} to {dest} on {date}", chip.id);
                    assert_eq!(
                        read_back.iter().map(bits).collect::<Vec<_>>(),
                        expected.iter().map(bits).collect::<Vec<_>>()
                    );
                    compared += expected.len();
                }
            }
        }
        assert!(compared > 1000, "{compared}");
    }

    #[test]
    fn compact_thresholds_that_do_not_fit_together_are_refused() {
        let spec = &Catalog::builtin()
            .get("h200")
            .expect("in the catalogue")
            .spec;
        let as_of = iso_date("2026-08-01").expect("a date");
        let decision = RuleBook::builtin()
            .classify_with(spec, None, as_of, rules::Detail::Basic)
            .expect("valid");
        let good = compact::compact_thresholds(&decision.classification.thresholds)
            .expect("limits of three decimals");
        assert_eq!(good.rule_ids.len(), 6, "{:?}", good.rule_ids);
        assert!(compact::expand_compact_thresholds(&good).is_some());
        let mut short = good.clone();
        short.bounds.pop();
        let mut rule_out_of_range = good.clone();
        rule_out_of_range.rule_index[0] = 99;
        let mut value_out_of_range = good.clone();
        value_out_of_range.value_index[0] = 99;
        let mut no_bound = good;
        no_bound.bounds[0] = pb::Bound::Unspecified as i32;
        for bad in [short, rule_out_of_range, value_out_of_range, no_bound] {
            assert_eq!(compact::expand_compact_thresholds(&bad), None);
        }
    }

    fn decision_answer(d: rules::Decision<'_>, view: View) -> pb::ClassifyItemResponse {
        decision(d, String::new(), String::new(), view)
    }

    /// What `parse_date` accepted before it read the usual form itself.
    fn chrono_date(text: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .filter(|_| text.len() == 10)
    }

    #[test]
    fn dates_read_as_chrono_reads_them() {
        for text in [
            "2026-02-01",
            "0000-01-01",
            "9999-12-31",
            "2024-02-29",
            "2025-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-011",
            "+2026-1-01",
            "-001-01-01",
            "2026-02- 1",
            "20260201",
        ] {
            assert_eq!(iso_date(text), chrono_date(text), "{text}");
        }
    }

    proptest! {
        #[test]
        fn any_text_reads_as_chrono_reads_it(text in "[0-9+ -]{8,12}") {
            prop_assert_eq!(iso_date(&text), chrono_date(&text));
        }

        #[test]
        fn dates_are_written_as_chrono_writes_them(days in -1_000_000i32..4_000_000) {
            let date = NaiveDate::from_num_days_from_ce_opt(days).expect("in range");
            prop_assert_eq!(iso_date_text(date), date.format("%Y-%m-%d").to_string());
        }
    }
}
