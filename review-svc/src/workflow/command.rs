//! Commands an actor sends against an application, and the refusals.

use serde::{Deserialize, Serialize};

use super::holds::HoldKind;
use super::model::{Agency, ItemOutcome, Outcome, Recommendation};

/// What an actor asks the workflow to do. Filing is separate
/// ([`super::Workflow::file`]); deadlines are [`super::Workflow::sweep`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// The classifier's answers for every item (system only).
    RecordClassification { items: Vec<ItemOutcome> },
    /// An agency's recommendation (agency level) or vote (ACEP, EARB).
    RecordRecommendation {
        agency: Agency,
        recommendation: Recommendation,
        conditions: Vec<String>,
        rationale: String,
    },
    /// The decision of the licensing officer, the OC chair or the President.
    Decide {
        outcome: Outcome,
        conditions: Vec<String>,
        rationale: String,
    },
    /// A dissenting agency appeals the decision in the appeal window.
    Appeal { agency: Agency, rationale: String },
    /// The applicant withdraws its application.
    Withdraw { reason: String },
    /// A reviewing agency asks the applicant for missing information
    /// (750.4(d)(1)); the clocks stop until the answer.
    RequestInformation { agency: Agency, missing: String },
    /// The applicant answers a request for information: `hold` names it
    /// (may be left out when only one is open).
    ProvideInformation {
        hold: Option<u32>,
        answer: String,
        documents: Vec<String>,
    },
    /// The licensing officer stops the clocks for a reason of 750.4(b).
    PlaceHold { kind: HoldKind, reason: String },
    /// The licensing officer releases a hold of 750.4(b).
    ReleaseHold { hold: u32, note: String },
    /// The licensing officer returns the application without action
    /// before any decision (15 CFR 748.6(c), 750.4(c)).
    Return { reason: String },
}

impl Command {
    /// Stable name of the command, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::RecordClassification { .. } => "RecordClassification",
            Command::RecordRecommendation { .. } => "RecordRecommendation",
            Command::Decide { .. } => "Decide",
            Command::Appeal { .. } => "Appeal",
            Command::Withdraw { .. } => "Withdraw",
            Command::RequestInformation { .. } => "RequestInformation",
            Command::ProvideInformation { .. } => "ProvideInformation",
            Command::PlaceHold { .. } => "PlaceHold",
            Command::ReleaseHold { .. } => "ReleaseHold",
            Command::Return { .. } => "Return",
        }
    }
}

/// Why a command was refused. Checked in this order: permission, state, input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The actor may never do this to this application (gRPC `PERMISSION_DENIED`).
    #[error("permission denied ({reason}): {detail}")]
    PermissionDenied {
        reason: &'static str,
        detail: String,
    },
    /// The application is not in a state that allows it (gRPC `FAILED_PRECONDITION`).
    #[error("failed precondition ({reason}): {detail}")]
    FailedPrecondition {
        reason: &'static str,
        detail: String,
    },
    /// A field of the command is invalid (gRPC `INVALID_ARGUMENT`).
    #[error("invalid argument `{field}`: {description}")]
    InvalidArgument {
        field: &'static str,
        description: String,
    },
}

/// Stable UPPER_SNAKE reason codes. Each appears in exactly one kind of
/// [`Refusal`].
pub mod reason {
    // PermissionDenied
    /// The actor's role may never send this command.
    pub const ROLE_NOT_PERMITTED: &str = "ROLE_NOT_PERMITTED";
    /// A member acting for another agency than its own (or for none).
    pub const WRONG_AGENCY: &str = "WRONG_AGENCY";
    /// An applicant acting on someone else's application.
    pub const NOT_YOUR_APPLICATION: &str = "NOT_YOUR_APPLICATION";
    /// An escalation to the ACEP is signed by a Senate-confirmed official of
    /// the agency (15 CFR 750.4(f)(2)).
    pub const SENATE_CONFIRMED_OFFICIAL_REQUIRED: &str = "SENATE_CONFIRMED_OFFICIAL_REQUIRED";
    /// An appeal to the EARB or the President comes from the agency head
    /// (15 CFR 750.4(f)(2)-(3)).
    pub const AGENCY_HEAD_REQUIRED: &str = "AGENCY_HEAD_REQUIRED";

    // FailedPrecondition
    /// The application is closed (no licence required, decided, withdrawn).
    pub const APPLICATION_CLOSED: &str = "APPLICATION_CLOSED";
    /// A deadline has passed and the sweep has not recorded its consequence
    /// yet; sweep, then retry.
    pub const DEADLINE_PASSED: &str = "DEADLINE_PASSED";
    /// Classification is recorded only while it is pending.
    pub const NOT_CLASSIFICATION_PENDING: &str = "NOT_CLASSIFICATION_PENDING";
    /// No recommendations or votes are being collected now.
    pub const NOT_COLLECTING_RECOMMENDATIONS: &str = "NOT_COLLECTING_RECOMMENDATIONS";
    /// The application is at a level where the actor's role does not act.
    pub const NOT_AT_YOUR_LEVEL: &str = "NOT_AT_YOUR_LEVEL";
    /// The agency has already recommended or voted at this level.
    pub const ALREADY_RECOMMENDED: &str = "ALREADY_RECOMMENDED";
    /// The agency was not referred the application at this level.
    pub const AGENCY_NOT_REFERRED: &str = "AGENCY_NOT_REFERRED";
    /// Nobody decides in this state (recommendations, votes or an appeal window are running).
    pub const NOT_AWAITING_DECISION: &str = "NOT_AWAITING_DECISION";
    /// There is no decision in an open appeal window.
    pub const NO_APPEALABLE_DECISION: &str = "NO_APPEALABLE_DECISION";
    /// The appeal window has closed.
    pub const APPEAL_WINDOW_CLOSED: &str = "APPEAL_WINDOW_CLOSED";
    /// Information is requested only while the agencies review the application.
    pub const NOT_IN_AGENCY_REVIEW: &str = "NOT_IN_AGENCY_REVIEW";
    /// The 10 days of 15 CFR 750.4(d)(1) to ask for missing information have passed.
    pub const INFORMATION_REQUEST_TOO_LATE: &str = "INFORMATION_REQUEST_TOO_LATE";
    /// No request for information is open (or not the one named).
    pub const NO_OPEN_REQUEST: &str = "NO_OPEN_REQUEST";
    /// A decision was taken (or the committees are seized): the
    /// application is no longer returned without action.
    pub const NOT_RETURNABLE: &str = "NOT_RETURNABLE";
    /// The hold named is not open.
    pub const HOLD_NOT_OPEN: &str = "HOLD_NOT_OPEN";
    /// A hold of this kind is open already.
    pub const HOLD_ALREADY_OPEN: &str = "HOLD_ALREADY_OPEN";
    /// A request for information ends with the applicant's answer, not a release.
    pub const ENDS_WITH_ANSWER: &str = "ENDS_WITH_ANSWER";
    /// The application has had as many holds as one may have.
    pub const TOO_MANY_HOLDS: &str = "TOO_MANY_HOLDS";
    /// With the President no clock runs, so there is nothing to stop.
    pub const NO_CLOCK_RUNNING: &str = "NO_CLOCK_RUNNING";
    /// Only an agency that dissents from the decision may appeal it.
    pub const NOT_DISSENTING: &str = "NOT_DISSENTING";

    // InvalidArgument (see `Refusal::reason`)
    /// A rationale is required (of a denial, an approval and an appeal).
    pub const RATIONALE_REQUIRED: &str = "RATIONALE_REQUIRED";
    /// APPROVE_WITH_CONDITIONS needs at least one condition, and no condition may be blank.
    pub const CONDITIONS_REQUIRED: &str = "CONDITIONS_REQUIRED";
    /// Any other invalid field (the same reason the adapter gives a field
    /// it refuses without a more specific one).
    pub const INVALID_FIELD: &str = "INVALID_FIELD";
}

impl Refusal {
    /// The stable reason code. For `InvalidArgument` it follows from the
    /// field, which has a single failure mode per field:
    /// `rationale` → `RATIONALE_REQUIRED`, `conditions` → `CONDITIONS_REQUIRED`,
    /// anything else → `INVALID_FIELD`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::PermissionDenied { reason, .. }
            | Refusal::FailedPrecondition { reason, .. } => reason,
            Refusal::InvalidArgument { field, .. } => match *field {
                "rationale" => reason::RATIONALE_REQUIRED,
                "conditions" => reason::CONDITIONS_REQUIRED,
                _ => reason::INVALID_FIELD,
            },
        }
    }

    pub(crate) fn denied(reason: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal::PermissionDenied {
            reason,
            detail: detail.into(),
        }
    }

    pub(crate) fn precondition(reason: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal::FailedPrecondition {
            reason,
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(field: &'static str, description: impl Into<String>) -> Refusal {
        Refusal::InvalidArgument {
            field,
            description: description.into(),
        }
    }
}
