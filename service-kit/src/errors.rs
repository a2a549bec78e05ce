//! Every error carries one `ErrorInfo` (a stable UPPER_SNAKE reason, the
//! service's domain, and every variable value as metadata) and, for invalid
//! input, a `BadRequest` with one violation per field, so that clients never
//! need to parse messages.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// A field that failed validation: the path in the request and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub description: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
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
                    .map(|v| FieldViolation::new(v.field, v.description))
                    .collect::<Vec<_>>(),
            );
        }
        Status::with_error_details(code, message, details)
    }

    /// `INVALID_ARGUMENT` with reason `INVALID_ARGUMENT` and one violation per field.
    pub fn invalid_argument(&self, violations: Vec<Violation>) -> Status {
        let message = violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        let metadata: Vec<(String, String)> = violations
            .iter()
            .map(|v| (format!("field:{}", v.field), v.description.clone()))
            .collect();
        self.status_with_violations(
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            message,
            metadata,
            violations,
        )
    }

    /// `INVALID_ARGUMENT` for a single field.
    pub fn invalid_field(
        &self,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Status {
        self.invalid_argument(vec![Violation::new(field, description)])
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
