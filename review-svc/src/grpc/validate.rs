//! Checks of what only the wire format can get wrong: names, etags, request
//! ids, enum numbers, sizes. The workflow checks meaning.

use exportcontrol_proto::review::v1 as pb;
use prost::Message;
use service_kit::errors::{shorten, Violation};
use sha2::{Digest, Sha256};
use tonic::Status;

use super::errors::ERRORS;
use crate::convert::{self, FiledContent, NAME_PREFIX};
use crate::ledger::RequestKey;

pub const MAX_ITEMS: usize = 100;
pub const MAX_QUANTITY: u64 = 1_000_000_000;
pub const MAX_SHORT_TEXT: usize = 200;
pub const MAX_LONG_TEXT: usize = 4_000;
pub const MAX_CONDITIONS: usize = 50;
const MAX_ID_LEN: usize = 64;

/// The id of `applications/{id}`.
pub fn application_id(name: &str, field: &str) -> Result<String, Status> {
    let id = name.strip_prefix(NAME_PREFIX).unwrap_or_default();
    let valid = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid {
        return Err(ERRORS.invalid_field(
            field,
            format!("expected applications/{{id}}, got {:?}", shorten(name)),
        ));
    }
    Ok(id.to_owned())
}

/// The version named by a required etag.
pub fn etag(etag: &str) -> Result<i64, Status> {
    if etag.is_empty() {
        return Err(
            ERRORS.invalid_field("etag", "required: the etag of the application as last read")
        );
    }
    convert::parse_etag(etag).ok_or_else(|| {
        ERRORS.invalid_field(
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
            violations.push(Violation::new(field, format!("unknown enum value {value}")));
            None
        }
        Some(known) => {
            let converted = convert(known);
            if converted.is_none() {
                violations.push(Violation::new(field, "required"));
            }
            converted
        }
    }
}

/// Free text that may be empty (a rationale, a reason, a condition).
pub fn optional_long_text(value: &str, field: &str, violations: &mut Vec<Violation>) {
    text(value, field, MAX_LONG_TEXT, false, violations);
}

pub fn text(value: &str, field: &str, max: usize, required: bool, violations: &mut Vec<Violation>) {
    if required && value.trim().is_empty() {
        violations.push(Violation::new(field, "required"));
    } else if value.len() > max {
        violations.push(Violation::new(
            field,
            format!("at most {max} bytes, got {}", value.len()),
        ));
    }
}

pub fn conditions(values: &[String], field: &str, violations: &mut Vec<Violation>) {
    if values.len() > MAX_CONDITIONS {
        violations.push(Violation::new(
            field,
            format!("at most {MAX_CONDITIONS} conditions, got {}", values.len()),
        ));
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
        return Err(ERRORS.invalid_field("application", "required: the items and the transaction"));
    };
    let mut violations = Vec::new();
    if application.items.is_empty() {
        violations.push(Violation::new(
            "application.items",
            "at least one item is required",
        ));
    }
    if application.items.len() > MAX_ITEMS {
        violations.push(Violation::new(
            "application.items",
            format!("at most {MAX_ITEMS} items, got {}", application.items.len()),
        ));
    }
    for (i, item) in application.items.iter().enumerate().take(MAX_ITEMS) {
        let path = format!("application.items[{i}]");
        match &item.item {
            None => violations.push(Violation::new(
                format!("{path}.item"),
                "set either spec or catalog_chip",
            )),
            Some(pb::line_item::Item::CatalogChip(name)) => text(
                name,
                &format!("{path}.catalog_chip"),
                MAX_SHORT_TEXT,
                true,
                &mut violations,
            ),
            Some(pb::line_item::Item::Spec(_)) => {}
        }
        if item.quantity == 0 || item.quantity > MAX_QUANTITY {
            violations.push(Violation::new(
                format!("{path}.quantity"),
                format!("between 1 and {MAX_QUANTITY}, got {}", item.quantity),
            ));
        }
    }
    let transaction = application.transaction.clone().unwrap_or_default();
    if application.transaction.is_none() {
        violations.push(Violation::new("application.transaction", "required"));
    } else {
        text(
            &transaction.end_user_name,
            "application.transaction.end_user_name",
            MAX_SHORT_TEXT,
            true,
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
            None => violations.push(Violation::new("application.transaction.route", "required")),
            Some(route) => {
                let code = &route.destination_country;
                if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
                    violations.push(Violation::new(
                        "application.transaction.route.destination_country",
                        format!(
                            "expected an ISO 3166-1 alpha-2 code, got {:?}",
                            shorten(code)
                        ),
                    ));
                }
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
                    if !value.is_empty()
                        && (value.len() != 2 || !value.bytes().all(|b| b.is_ascii_alphabetic()))
                    {
                        violations.push(Violation::new(
                            format!("application.transaction.route.{field}"),
                            format!(
                                "expected an ISO 3166-1 alpha-2 code, got {:?}",
                                shorten(value)
                            ),
                        ));
                    }
                }
                use exportcontrol_proto::classifier::v1::ExportType;
                match ExportType::try_from(route.export_type) {
                    Ok(ExportType::Unspecified) => violations.push(Violation::new(
                        "application.transaction.route.export_type",
                        "required",
                    )),
                    Err(_) => violations.push(Violation::new(
                        "application.transaction.route.export_type",
                        format!("unknown enum value {}", route.export_type),
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

pub fn page_size(requested: i32, default: u32, max: u32) -> Result<u32, Status> {
    match requested {
        0 => Ok(default),
        n if n < 0 => {
            Err(ERRORS.invalid_field("page_size", format!("must not be negative, got {n}")))
        }
        n => Ok((n as u32).min(max)),
    }
}
