//! Every refusal of review-svc as a status with `ErrorInfo` (and field
//! violations for invalid input).

use service_kit::errors::ErrorDomain;
use tonic::{Code, Status};

use crate::auth::AuthError;
use crate::ledger::LedgerError;
use crate::workflow::{self, Refusal};

pub const ERRORS: ErrorDomain = ErrorDomain("review.exportcontrol");

pub fn unauthenticated(error: &AuthError) -> Status {
    ERRORS.status(
        Code::Unauthenticated,
        error.reason(),
        error.to_string(),
        Vec::<(String, String)>::new(),
    )
}

pub fn permission_denied(reason: &str, detail: impl Into<String>, actor: &str) -> Status {
    ERRORS.status(
        Code::PermissionDenied,
        reason,
        detail,
        [("principal", actor)],
    )
}

/// The application changed since the caller read it: ABORTED, with the
/// current etag where the caller may have it.
pub fn etag_mismatch(application: &str, current_etag: Option<String>) -> Status {
    let mut metadata = vec![("application", application.to_owned())];
    metadata.extend(current_etag.map(|etag| ("currentEtag", etag)));
    ERRORS.status(
        Code::Aborted,
        "ETAG_MISMATCH",
        format!("application {application} has changed; read it again and retry with its etag"),
        metadata,
    )
}

/// A permission the workflow refused for a request that names no
/// application (filing, reading every application's history).
pub fn not_permitted(refusal: workflow::Refusal, actor: &str) -> Status {
    let detail = match &refusal {
        workflow::Refusal::PermissionDenied { detail, .. } => detail.clone(),
        other => other.to_string(),
    };
    permission_denied(refusal.reason(), detail, actor)
}

/// Too little of the caller's deadline left to write: nothing was written.
pub fn no_time_left(left: std::time::Duration, needed: std::time::Duration) -> Status {
    ERRORS.status(
        Code::DeadlineExceeded,
        "DEADLINE_TOO_SHORT",
        format!(
            "{} ms of the deadline left, {} ms needed to record the request: nothing was written",
            left.as_millis(),
            needed.as_millis()
        ),
        [
            ("remainingMs", left.as_millis().to_string()),
            ("neededMs", needed.as_millis().to_string()),
        ],
    )
}

pub fn ledger(error: LedgerError, application: &str) -> Status {
    match error {
        LedgerError::NotFound(id) => ERRORS.status(
            Code::NotFound,
            "APPLICATION_NOT_FOUND",
            format!("application {application} not found"),
            [("application", crate::convert::resource_name(&id))],
        ),
        LedgerError::EtagMismatch { .. } => etag_mismatch(application, None),
        LedgerError::Refused(refusal) => refused(refusal, application),
        error @ (LedgerError::LicenseRefused(_) | LedgerError::LicenseNotFound(_)) => {
            crate::grpc::licenses::license_error(error, application)
        }
        LedgerError::RequestIdReused(id) => ERRORS.field_status(
            Code::InvalidArgument,
            "REQUEST_ID_REUSED",
            format!("request_id {id} was already used for a different request"),
            [("requestId", id.clone())],
            "request_id",
            "already used for a different request",
        ),
        LedgerError::AlreadyExists(id) => ERRORS.status(
            Code::AlreadyExists,
            "APPLICATION_EXISTS",
            format!("application {id} already exists"),
            [("application", crate::convert::resource_name(&id))],
        ),
        LedgerError::Unavailable(detail) => {
            tracing::warn!(%detail, "database unavailable");
            ERRORS.status(
                Code::Unavailable,
                "DATABASE_UNAVAILABLE",
                "the database is unavailable; retry with the same request_id",
                [("application", application.to_owned())],
            )
        }
        LedgerError::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            ERRORS.status(
                Code::Internal,
                "INTERNAL",
                "internal error; it has been logged",
                [("application", application.to_owned())],
            )
        }
    }
}

fn refused(refusal: Refusal, application: &str) -> Status {
    let reason = refusal.reason();
    match refusal {
        Refusal::PermissionDenied { detail, .. } => ERRORS.status(
            Code::PermissionDenied,
            reason,
            detail,
            [("application", application)],
        ),
        Refusal::FailedPrecondition { detail, .. } => ERRORS.status(
            Code::FailedPrecondition,
            reason,
            detail,
            [("application", application)],
        ),
        Refusal::InvalidArgument { field, description } => ERRORS.field_status(
            Code::InvalidArgument,
            reason,
            format!("{field}: {description}"),
            [
                ("application", application.to_owned()),
                ("field", field.to_owned()),
            ],
            field,
            description,
        ),
    }
}
