//! Checks of what only the wire format can get wrong: names, etags, request
//! ids, enum numbers, sizes. The workflow checks meaning.

use exportcontrol_proto::review::v1 as pb;
use prost::Message;
use service_kit::errors::{shorten, Violation};
use sha2::{Digest, Sha256};
use tonic::Status;

use super::errors::ERRORS;
use crate::convert::{FiledContent, NAME_PREFIX};
use crate::ledger::RequestKey;

/// Why a field was refused: each violation's reason, and the `ErrorInfo`'s
/// when all of a request's violations share one (`INVALID_FIELDS` when they
/// differ). The classifier gives the shared ones for the same problems.
pub mod reason {
    pub use service_kit::errors::reason::*;
    pub const SURROUNDING_WHITE_SPACE: &str = "SURROUNDING_WHITE_SPACE";
    /// Not `applications/{id}` or `licenses/{id}`.
    pub const INVALID_RESOURCE_NAME: &str = "INVALID_RESOURCE_NAME";
    /// Not an ISO 3166-1 alpha-2 code.
    pub const INVALID_COUNTRY_CODE: &str = "INVALID_COUNTRY_CODE";
    /// A quantity, value, size or sequence number outside its bounds.
    pub const OUT_OF_RANGE: &str = "OUT_OF_RANGE";
    pub const INVALID_ETAG: &str = "INVALID_ETAG";
    pub const INVALID_REQUEST_ID: &str = "INVALID_REQUEST_ID";
    pub const INVALID_TIME: &str = "INVALID_TIME";
    /// An export filing reference that is not an AES ITN.
    pub const INVALID_FILING_REFERENCE: &str = "INVALID_FILING_REFERENCE";
    /// The route names another end user than the transaction.
    pub const CONFLICTING_END_USER: &str = "CONFLICTING_END_USER";
    /// A time range that ends at or before its start.
    pub const INVALID_TIME_RANGE: &str = "INVALID_TIME_RANGE";
}

pub const MAX_ITEMS: usize = 100;
pub const MAX_QUANTITY: u64 = 1_000_000_000;
pub const MAX_SHORT_TEXT: usize = 200;
pub const MAX_LONG_TEXT: usize = 4_000;
pub const MAX_CONDITIONS: usize = 50;
/// All the conditions of one request together. With the count and the
/// length of each, this bounds what one transition adds to an application
/// (see [`super::limits`]), so that a recorded application stays servable.
pub const MAX_CONDITIONS_BYTES: usize = 16 * 1024;
/// $1 billion a unit: above any chip, board or system filed one unit at a
/// time, and small enough that quantity × unit value of every item of a
/// filing ([`MAX_TOTAL_VALUE_USD_CENTS`]) is computed exactly.
pub const MAX_UNIT_VALUE_USD_CENTS: u64 = 100_000_000_000;
/// 2^53 - 1 cents (about $90 trillion): the largest integer every JSON
/// reader holds exactly, so every value in the hashed history reads back
/// the same in every language.
pub const MAX_TOTAL_VALUE_USD_CENTS: u64 = (1 << 53) - 1;
const MAX_ID_LEN: usize = 64;

/// The id of `applications/{id}`. Ids are UUIDs in lower case; one written
/// in upper case names the same application and is read as such.
pub fn application_id(name: &str, field: &str) -> Result<String, Status> {
    let id = name.strip_prefix(NAME_PREFIX).unwrap_or_default();
    let valid = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid {
        return Err(ERRORS.invalid_field(
            reason::INVALID_RESOURCE_NAME,
            field,
            format!("expected applications/{{id}}, got {:?}", shorten(name)),
        ));
    }
    if id.len() == 36 {
        if let Ok(uuid) = uuid::Uuid::try_parse(id) {
            return Ok(uuid.hyphenated().to_string());
        }
    }
    Ok(id.to_owned())
}

/// Characters no name may hold, nor free text except line breaks and tabs:
/// control characters and the invisible bidirectional formatting ones,
/// which make a name read differently from what it is (CVE-2021-42574).
fn forbidden_char(c: char, in_name: bool) -> bool {
    let control = c.is_control() && (in_name || !matches!(c, '\n' | '\r' | '\t'));
    let bidi = matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    control || bidi
}

fn check_chars(value: &str, field: &str, in_name: bool, violations: &mut Vec<Violation>) {
    if let Some(c) = value.chars().find(|c| forbidden_char(*c, in_name)) {
        violations.push(Violation::because(
            reason::FORBIDDEN_CHARACTERS,
            field,
            format!(
                "must not contain control or bidirectional formatting characters (found U+{:04X})",
                c as u32
            ),
        ));
    }
}

/// A name (end user, chip): no control or bidi characters, no surrounding blanks.
pub fn name_text(value: &str, field: &str, max: usize, violations: &mut Vec<Violation>) {
    let before = violations.len();
    text(value, field, max, true, violations);
    if violations.len() > before {
        return;
    }
    check_chars(value, field, true, violations);
    if violations.len() == before && value.trim() != value {
        violations.push(Violation::because(
            reason::SURROUNDING_WHITE_SPACE,
            field,
            "must not begin or end with white space",
        ));
    }
}

/// An optional text filter of a list (holder, end user): `None` when
/// empty, else the text, bounded and free of control characters like
/// everything the service stores (PostgreSQL refuses a NUL in a query).
pub fn text_filter(value: &str, field: &str, violations: &mut Vec<Violation>) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    text(value, field, MAX_SHORT_TEXT, false, violations);
    Some(value.to_owned())
}

/// An optional country filter: `None` when empty, else an ISO 3166-1
/// alpha-2 code in any case, answered in upper case.
pub fn country_filter(value: &str, field: &str, violations: &mut Vec<Violation>) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    country_code(value, field, violations);
    Some(value.to_ascii_uppercase())
}

/// Checks that `value` has the shape of an ISO 3166-1 alpha-2 code (any
/// case; the classifier knows which codes exist).
fn country_code(value: &str, field: &str, violations: &mut Vec<Violation>) {
    if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_alphabetic()) {
        violations.push(Violation::because(
            reason::INVALID_COUNTRY_CODE,
            field,
            format!(
                "expected an ISO 3166-1 alpha-2 code, got {:?}",
                shorten(value)
            ),
        ));
    }
}

/// A catalogue name as the classifier knows it: `H200` or `chips/h200`;
/// no path tricks, no blanks, no invisible characters.
fn catalog_chip(value: &str, field: &str, violations: &mut Vec<Violation>) {
    let before = violations.len();
    name_text(value, field, MAX_SHORT_TEXT, violations);
    if violations.len() > before {
        return;
    }
    // Display names and aliases hold spaces ("H200 NVL"), slugs dashes.
    let slug = value.strip_prefix("chips/").unwrap_or(value);
    let valid = !slug.is_empty()
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b' '))
        && !slug.contains("..")
        && !slug.starts_with('.')
        && !slug.contains("  ");
    if !valid {
        violations.push(Violation::because(
            reason::INVALID_CHIP_NAME,
            field,
            format!(
                "expected a catalogue name such as \"H200\" or \"chips/h200\", got {:?}",
                shorten(value)
            ),
        ));
    }
}

/// The version named by a required etag; `version` reads one this service
/// made (for the application at hand).
pub fn etag(etag: &str, version: impl FnOnce(&str) -> Option<i64>) -> Result<i64, Status> {
    if etag.is_empty() {
        return Err(ERRORS.invalid_field(
            reason::MISSING_FIELD,
            "etag",
            "required: the etag of the application as last read",
        ));
    }
    version(etag).ok_or_else(|| {
        ERRORS.invalid_field(
            reason::INVALID_ETAG,
            "etag",
            format!("{:?} is not an etag of this service", shorten(etag)),
        )
    })
}

/// Optional request id (a UUID) with a digest of the whole request and of
/// the principal sending it, so that a retry is recognised, and a reused id
/// with other content, or from another principal, refused: a replay answers
/// without a permission check, so it must only ever answer the original caller.
pub fn request_key<M: Message>(
    method: &str,
    principal: &str,
    request_id: &str,
    message: &M,
) -> Result<Option<RequestKey>, Status> {
    if request_id.is_empty() {
        return Ok(None);
    }
    let id = uuid::Uuid::parse_str(request_id).map_err(|_| {
        ERRORS.invalid_field(
            reason::INVALID_REQUEST_ID,
            "request_id",
            format!("{:?} is not a UUID", shorten(request_id)),
        )
    })?;
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(principal.as_bytes());
    hasher.update([0]);
    hasher.update(message.encode_to_vec());
    Ok(Some(RequestKey {
        id: id.to_string(),
        fingerprint: hex::encode(hasher.finalize()),
    }))
}

pub fn enum_value<E: TryFrom<i32>, T>(
    value: i32,
    field: &str,
    convert: impl Fn(E) -> Option<T>,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    match E::try_from(value).ok() {
        None => {
            violations.push(unknown_enum(field, value));
            None
        }
        Some(known) => {
            let converted = convert(known);
            if converted.is_none() {
                violations.push(required(field));
            }
            converted
        }
    }
}

/// A field that must be set and is not.
pub fn required(field: impl Into<String>) -> Violation {
    Violation::because(reason::MISSING_FIELD, field, "required")
}

/// An enum number the contract does not define.
pub fn unknown_enum(field: impl Into<String>, value: i32) -> Violation {
    Violation::because(
        reason::UNKNOWN_ENUM_VALUE,
        field,
        format!("unknown enum value {value}"),
    )
}

/// As [`enum_value`], where 0 (the `*_UNSPECIFIED` value) is no filter.
pub fn optional_enum<E: TryFrom<i32>, T>(
    value: i32,
    field: &str,
    convert: impl Fn(E) -> Option<T>,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    if value == 0 {
        return None;
    }
    enum_value(value, field, convert, violations)
}

/// Free text that may be empty (a rationale, a reason, a condition).
pub fn optional_long_text(value: &str, field: &str, violations: &mut Vec<Violation>) {
    text(value, field, MAX_LONG_TEXT, false, violations);
}

/// Free text the contract marks REQUIRED (why a hold is placed or an
/// application returned, what information is missing, the answer): blank
/// is `MISSING_FIELD`, as for any required field.
pub fn required_long_text(value: &str, field: &str, violations: &mut Vec<Violation>) {
    text(value, field, MAX_LONG_TEXT, true, violations);
}

pub fn text(value: &str, field: &str, max: usize, required: bool, violations: &mut Vec<Violation>) {
    if required && value.trim().is_empty() {
        violations.push(self::required(field));
    } else if value.len() > max {
        violations.push(Violation::because(
            reason::FIELD_TOO_LONG,
            field,
            format!("at most {max} bytes, got {}", value.len()),
        ));
    } else {
        check_chars(value, field, false, violations);
    }
}

/// A bounded list of texts (conditions, document references).
pub fn text_list(values: &[String], field: &str, violations: &mut Vec<Violation>) {
    if values.len() > MAX_CONDITIONS {
        violations.push(Violation::because(
            reason::TOO_MANY_ENTRIES,
            field,
            format!("at most {MAX_CONDITIONS} conditions, got {}", values.len()),
        ));
        return;
    }
    let total: usize = values.iter().map(String::len).sum();
    if total > MAX_CONDITIONS_BYTES {
        violations.push(Violation::because(
            reason::FIELD_TOO_LONG,
            field,
            format!("at most {MAX_CONDITIONS_BYTES} bytes of conditions in all, got {total}"),
        ));
        return;
    }
    for (i, value) in values.iter().enumerate() {
        optional_long_text(value, &format!("{field}[{i}]"), violations);
    }
}

pub fn finish(violations: Vec<Violation>) -> Result<(), Status> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ERRORS.invalid_argument(violations))
    }
}

/// The filing inside CreateApplication.
pub fn filing(application: Option<&pb::Application>) -> Result<FiledContent, Status> {
    let Some(application) = application else {
        return Err(ERRORS.invalid_field(
            reason::MISSING_FIELD,
            "application",
            "required: the items and the transaction",
        ));
    };
    let mut violations = Vec::new();
    if application.items.is_empty() {
        violations.push(Violation::because(
            reason::MISSING_FIELD,
            "application.items",
            "at least one item is required",
        ));
    }
    if application.items.len() > MAX_ITEMS {
        violations.push(Violation::because(
            reason::TOO_MANY_ENTRIES,
            "application.items",
            format!("at most {MAX_ITEMS} items, got {}", application.items.len()),
        ));
    }
    for (i, item) in application.items.iter().enumerate().take(MAX_ITEMS) {
        let path = format!("application.items[{i}]");
        match &item.item {
            None => violations.push(Violation::because(
                reason::MISSING_FIELD,
                format!("{path}.item"),
                "set either spec or catalog_chip",
            )),
            Some(pb::line_item::Item::CatalogChip(name)) => {
                catalog_chip(name, &format!("{path}.catalog_chip"), &mut violations)
            }
            Some(pb::line_item::Item::Spec(spec)) => {
                spec_names(spec, &format!("{path}.spec"), 0, &mut violations)
            }
        }
        if item.quantity == 0 || item.quantity > MAX_QUANTITY {
            violations.push(Violation::because(
                reason::OUT_OF_RANGE,
                format!("{path}.quantity"),
                format!("between 1 and {MAX_QUANTITY}, got {}", item.quantity),
            ));
        }
        if item.unit_value_usd_cents == 0 || item.unit_value_usd_cents > MAX_UNIT_VALUE_USD_CENTS {
            violations.push(Violation::because(
                reason::OUT_OF_RANGE,
                format!("{path}.unit_value_usd_cents"),
                format!(
                    "between 1 and {MAX_UNIT_VALUE_USD_CENTS}, got {}",
                    item.unit_value_usd_cents
                ),
            ));
        }
    }
    if violations.is_empty() {
        // Exact in u128: at most 100 × 10^9 × 10^11.
        let total: u128 = application
            .items
            .iter()
            .map(|item| u128::from(item.quantity) * u128::from(item.unit_value_usd_cents))
            .sum();
        if total > u128::from(MAX_TOTAL_VALUE_USD_CENTS) {
            violations.push(Violation::because(
                reason::OUT_OF_RANGE,
                "application.items",
                format!(
                    "the total value (quantity × unit value of every item) is at most {MAX_TOTAL_VALUE_USD_CENTS} cents, got {total}"
                ),
            ));
        }
    }
    let transaction = application.transaction.clone().unwrap_or_default();
    if application.transaction.is_none() {
        violations.push(required("application.transaction"));
    } else {
        name_text(
            &transaction.end_user_name,
            "application.transaction.end_user_name",
            MAX_SHORT_TEXT,
            &mut violations,
        );
        text(
            &transaction.end_use_statement,
            "application.transaction.end_use_statement",
            MAX_LONG_TEXT,
            true,
            &mut violations,
        );
        match &transaction.route {
            None => violations.push(required("application.transaction.route")),
            Some(route) => {
                country_code(
                    &route.destination_country,
                    "application.transaction.route.destination_country",
                    &mut violations,
                );
                for (field, value) in [
                    (
                        "end_user_headquarters_country",
                        &route.end_user_headquarters_country,
                    ),
                    (
                        "ultimate_parent_headquarters_country",
                        &route.ultimate_parent_headquarters_country,
                    ),
                ] {
                    if !value.is_empty() {
                        let field = format!("application.transaction.route.{field}");
                        country_code(value, &field, &mut violations);
                    }
                }
                route_end_user(route, &transaction.end_user_name, &mut violations);
                use exportcontrol_proto::classifier::v1::ExportType;
                match ExportType::try_from(route.export_type) {
                    Ok(ExportType::Unspecified) => {
                        violations.push(required("application.transaction.route.export_type"))
                    }
                    Err(_) => violations.push(unknown_enum(
                        "application.transaction.route.export_type",
                        route.export_type,
                    )),
                    Ok(_) => {}
                }
            }
        }
    }
    finish(violations)?;
    let mut transaction = transaction;
    if let Some(route) = transaction.route.as_mut() {
        route.destination_country.make_ascii_uppercase();
        route.end_user_headquarters_country.make_ascii_uppercase();
        route
            .ultimate_parent_headquarters_country
            .make_ascii_uppercase();
    }
    Ok(FiledContent {
        items: application.items.clone(),
        transaction,
    })
}

/// Who the end user is, as the route (the classifier's transaction) may
/// also say it. The transaction names the end user once: a name in the
/// route may repeat it (under any spelling of one end user), not name
/// another, which would otherwise be dropped unseen. The kind must be one
/// the contract knows, not read as unspecified.
fn route_end_user(
    route: &exportcontrol_proto::classifier::v1::Transaction,
    end_user_name: &str,
    violations: &mut Vec<Violation>,
) {
    use crate::licensing::rules::counter::end_user_key;
    use exportcontrol_proto::classifier::v1::EndUserKind;
    let field = "application.transaction.route.end_user_name";
    if !route.end_user_name.is_empty() {
        let before = violations.len();
        name_text(&route.end_user_name, field, MAX_SHORT_TEXT, violations);
        if violations.len() == before
            && end_user_key(&route.end_user_name) != end_user_key(end_user_name)
        {
            violations.push(Violation::because(
                reason::CONFLICTING_END_USER,
                field,
                format!(
                    "names {:?}, but application.transaction.end_user_name names {:?}: \
                     the end user is named once (leave this empty)",
                    shorten(&route.end_user_name),
                    shorten(end_user_name)
                ),
            ));
        }
    }
    if EndUserKind::try_from(route.end_user_kind).is_err() {
        violations.push(unknown_enum(
            "application.transaction.route.end_user_kind",
            route.end_user_kind,
        ));
    }
}

/// Names inside a chip specification, and the ICs it contains.
fn spec_names(
    spec: &exportcontrol_proto::classifier::v1::ChipSpec,
    path: &str,
    depth: usize,
    violations: &mut Vec<Violation>,
) {
    use exportcontrol_proto::classifier::v1::contained_integrated_circuit::Ic;
    if !spec.name.is_empty() {
        check_chars(&spec.name, &format!("{path}.name"), true, violations);
    }
    check_chars(
        &spec.market_justification,
        &format!("{path}.market_justification"),
        false,
        violations,
    );
    // The classifier bounds the nesting; the names are checked as deep as it goes.
    if depth >= 8 {
        return;
    }
    for (i, ic) in spec.contained_ics.iter().enumerate() {
        match &ic.ic {
            Some(Ic::Spec(inner)) => spec_names(
                inner,
                &format!("{path}.contained_ics[{i}].spec"),
                depth + 1,
                violations,
            ),
            Some(Ic::CatalogChip(name)) => catalog_chip(
                name,
                &format!("{path}.contained_ics[{i}].catalog_chip"),
                violations,
            ),
            None => {}
        }
    }
}

pub fn page_size(requested: i32, default: u32, max: u32) -> Result<u32, Status> {
    match requested {
        0 => Ok(default),
        n if n < 0 => Err(ERRORS.invalid_field(
            reason::OUT_OF_RANGE,
            "page_size",
            format!("must not be negative, got {n}"),
        )),
        n => Ok((n as u32).min(max)),
    }
}
