//! Every error carries one `ErrorInfo` (a stable UPPER_SNAKE reason, the
//! service's domain, and every variable value as metadata) and, for invalid
//! input, a `BadRequest` with one violation per field, each with its own
//! reason (AIP-193), so that clients never need to parse messages.

use std::borrow::Cow;
use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// A field that failed validation: the path in the request, why in words,
/// and why as a stable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub description: String,
    /// UPPER_SNAKE, for example `INVALID_AS_OF_DATE`; `INVALID_FIELD` when
    /// nothing more specific was said. Owned when it is passed on from
    /// another service's answer.
    pub reason: Cow<'static, str>,
}

/// Reasons of field violations that both services give for the same
/// problem (each adds its own beside them).
pub mod reason {
    /// A required field is not set (or only blank).
    pub const MISSING_FIELD: &str = "MISSING_FIELD";
    /// A text longer than its field allows.
    pub const FIELD_TOO_LONG: &str = "FIELD_TOO_LONG";
    /// A list with more entries than it allows.
    pub const TOO_MANY_ENTRIES: &str = "TOO_MANY_ENTRIES";
    /// An enum number the contract does not define.
    pub const UNKNOWN_ENUM_VALUE: &str = "UNKNOWN_ENUM_VALUE";
    /// Control or bidirectional formatting characters.
    pub const FORBIDDEN_CHARACTERS: &str = "FORBIDDEN_CHARACTERS";
    /// Not a catalogue name the classifier reads as written.
    pub const INVALID_CHIP_NAME: &str = "INVALID_CHIP_NAME";
}

/// The reason of a violation that names none of its own.
pub const INVALID_FIELD: &str = "INVALID_FIELD";
/// The reason of a refusal whose violations have different reasons.
pub const INVALID_FIELDS: &str = "INVALID_FIELDS";
/// At most this many violations are listed in one refusal (the count of
/// all is in the metadata).
pub const MAX_LISTED_VIOLATIONS: usize = 16;

impl Violation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::because(INVALID_FIELD, field, description)
    }

    /// A violation with its own reason.
    pub fn because(
        reason: impl Into<Cow<'static, str>>,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
            reason: reason.into(),
        }
    }
}

/// Builds statuses for one error domain (for example `classifier.exportcontrol`).
#[derive(Debug, Clone, Copy)]
pub struct ErrorDomain(pub &'static str);

impl ErrorDomain {
    /// A status with an `ErrorInfo` and no field violations.
    pub fn status<K, V>(
        &self,
        code: Code,
        reason: &str,
        message: impl Into<String>,
        metadata: impl IntoIterator<Item = (K, V)>,
    ) -> Status
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.status_with_violations(code, reason, message, metadata, Vec::new())
    }

    /// A status with an `ErrorInfo` and a `BadRequest` naming one field,
    /// whose violation carries the status's own reason.
    pub fn field_status<K, V>(
        &self,
        code: Code,
        reason: &'static str,
        message: impl Into<String>,
        metadata: impl IntoIterator<Item = (K, V)>,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Status
    where
        K: Into<String>,
        V: Into<String>,
    {
        let violation = Violation::because(reason, field, description);
        self.status_with_violations(code, reason, message, metadata, vec![violation])
    }

    /// A status with an `ErrorInfo` and a `BadRequest` naming each field.
    pub fn status_with_violations<K, V>(
        &self,
        code: Code,
        reason: &str,
        message: impl Into<String>,
        metadata: impl IntoIterator<Item = (K, V)>,
        violations: Vec<Violation>,
    ) -> Status
    where
        K: Into<String>,
        V: Into<String>,
    {
        let metadata: HashMap<String, String> = metadata
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut details = ErrorDetails::with_error_info(reason, self.0, metadata);
        if !violations.is_empty() {
            details.set_bad_request(
                violations
                    .into_iter()
                    .map(|v| FieldViolation {
                        field: v.field,
                        description: v.description,
                        reason: v.reason.into_owned(),
                        localized_message: None,
                    })
                    .collect::<Vec<_>>(),
            );
        }
        Status::with_error_details(code, message, details)
    }

    /// `INVALID_ARGUMENT` with every violation of the request in one
    /// `BadRequest` (at most [`MAX_LISTED_VIOLATIONS`]). The reason is the
    /// violations' own when they share one, `INVALID_FIELDS` otherwise;
    /// the metadata (AIP-193 keys) names the fields, the reasons and how
    /// many violations there were.
    pub fn invalid_argument(&self, mut violations: Vec<Violation>) -> Status {
        let count = violations.len();
        violations.truncate(MAX_LISTED_VIOLATIONS);
        let reason = match violations.split_first() {
            Some((first, rest)) if rest.iter().all(|v| v.reason == first.reason) => {
                first.reason.clone()
            }
            _ => INVALID_FIELDS.into(),
        };
        let message = violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        let distinct = |part: fn(&Violation) -> &str| {
            let mut seen: Vec<&str> = Vec::new();
            for v in &violations {
                if !seen.contains(&part(v)) {
                    seen.push(part(v));
                }
            }
            seen.join(",")
        };
        let metadata = [
            ("fields", distinct(|v| v.field.as_str())),
            ("reasons", distinct(|v| &v.reason)),
            ("violationCount", count.to_string()),
        ];
        self.status_with_violations(
            Code::InvalidArgument,
            &reason,
            message,
            metadata,
            violations,
        )
    }

    /// `INVALID_ARGUMENT` for a single field.
    pub fn invalid_field(
        &self,
        reason: &'static str,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Status {
        self.invalid_argument(vec![Violation::because(reason, field, description)])
    }
}

/// A caller's string as echoed in an error: whole when short, cut at 64
/// bytes (on a character boundary) otherwise.
pub fn shorten(text: &str) -> String {
    const SHOWN: usize = 64;
    if text.len() <= SHOWN {
        return text.to_owned();
    }
    let mut end = SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Converts a status into the `google.rpc.Status` message, details included,
/// for answers that carry an error inline (a failed item of a stream).
pub fn to_rpc_status(status: &Status) -> tonic_types::pb::Status {
    // tonic keeps the encoded `google.rpc.Status` in `details()` when rich
    // details were attached; fall back to code and message otherwise.
    match <tonic_types::pb::Status as prost::Message>::decode(status.details()) {
        Ok(rpc) if rpc.code == status.code() as i32 => rpc,
        _ => tonic_types::pb::Status {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details: Vec::new(),
        },
    }
}
