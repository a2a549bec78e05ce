//! Why a licence action was refused: a kind (which gRPC code it becomes),
//! a stable UPPER_SNAKE reason, and every variable value as metadata.

/// Which kind of refusal (the adapter maps it to a gRPC code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// `PERMISSION_DENIED`
    PermissionDenied,
    /// `FAILED_PRECONDITION`
    FailedPrecondition,
    /// `INVALID_ARGUMENT`, with the field.
    InvalidArgument,
    /// `ALREADY_EXISTS`
    AlreadyExists,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct LicenseRefusal {
    pub kind: RefusalKind,
    pub reason: &'static str,
    pub detail: String,
    /// The request field at fault (`InvalidArgument`).
    pub field: Option<&'static str>,
    /// Variable values, lowerCamelCase keys.
    pub metadata: Vec<(&'static str, String)>,
}

impl LicenseRefusal {
    pub fn denied(reason: &'static str, detail: impl Into<String>) -> Self {
        Self::new(RefusalKind::PermissionDenied, reason, detail, None)
    }

    pub fn precondition(reason: &'static str, detail: impl Into<String>) -> Self {
        Self::new(RefusalKind::FailedPrecondition, reason, detail, None)
    }

    pub fn exists(reason: &'static str, detail: impl Into<String>) -> Self {
        Self::new(RefusalKind::AlreadyExists, reason, detail, None)
    }

    pub fn invalid(reason: &'static str, field: &'static str, detail: impl Into<String>) -> Self {
        Self::new(RefusalKind::InvalidArgument, reason, detail, Some(field))
    }

    fn new(
        kind: RefusalKind,
        reason: &'static str,
        detail: impl Into<String>,
        field: Option<&'static str>,
    ) -> Self {
        Self {
            kind,
            reason,
            detail: detail.into(),
            field,
            metadata: Vec::new(),
        }
    }

    /// Adds a metadata entry.
    pub fn with(mut self, key: &'static str, value: impl ToString) -> Self {
        self.metadata.push((key, value.to_string()));
        self
    }
}

/// Stable reason codes of licence refusals.
pub mod reason {
    // PermissionDenied
    /// The actor's role may never do this to a licence.
    pub const ROLE_NOT_PERMITTED: &str = "ROLE_NOT_PERMITTED";
    /// An applicant acting on (or asking for) a licence it does not hold,
    /// or one that does not exist: the two are not told apart.
    pub const NOT_YOUR_LICENSE: &str = "NOT_YOUR_LICENSE";

    // FailedPrecondition
    /// The licence is not ACTIVE (suspended, revoked, expired, exhausted).
    pub const LICENSE_NOT_ACTIVE: &str = "LICENSE_NOT_ACTIVE";
    /// The export date is outside the licence's validity.
    pub const OUTSIDE_VALIDITY: &str = "OUTSIDE_VALIDITY";
    /// More units than remain (no tolerance on the count).
    pub const QUANTITY_EXCEEDS_REMAINING: &str = "QUANTITY_EXCEEDS_REMAINING";
    /// More value than remains, with the 750.11 tolerance.
    pub const VALUE_EXCEEDS_REMAINING: &str = "VALUE_EXCEEDS_REMAINING";
    /// The per-end-user unit cap would be exceeded.
    pub const END_USER_CAP_EXCEEDED: &str = "END_USER_CAP_EXCEEDED";
    /// The 50% aggregate-TPP cap would be exceeded.
    pub const AGGREGATE_TPP_CAP_EXCEEDED: &str = "AGGREGATE_TPP_CAP_EXCEEDED";
    /// A revoked licence cannot be suspended, reinstated or revoked again.
    pub const LICENSE_REVOKED: &str = "LICENSE_REVOKED";
    /// Only a suspended licence can be reinstated.
    pub const LICENSE_NOT_SUSPENDED: &str = "LICENSE_NOT_SUSPENDED";
    /// The licence has expired or is exhausted.
    pub const LICENSE_CLOSED: &str = "LICENSE_CLOSED";
    /// A shipment dated after the time it is reported: it has not been
    /// made yet (report it once it has).
    pub const DATED_IN_THE_FUTURE: &str = "DATED_IN_THE_FUTURE";
    /// The export is dated before some U.S. domestic shipment of its
    /// product the holder reported, so the aggregate-TPP cap needs the
    /// domestic TPP shipped by the export date, which the counters do not
    /// keep. Not an answer to a client: the ledger reads that total from
    /// the shipments on record and decides again with it.
    pub const DOMESTIC_TPP_BY_DATE_NEEDED: &str = "DOMESTIC_TPP_BY_DATE_NEEDED";

    // InvalidArgument
    /// The item is not on the licence.
    pub const ITEM_NOT_ON_LICENSE: &str = "ITEM_NOT_ON_LICENSE";
    /// An attestation the licence's conditions require is missing.
    pub const ATTESTATION_REQUIRED: &str = "ATTESTATION_REQUIRED";
    /// A shipment would take a running total (units or TPP) past what the
    /// record keeps.
    pub const TOTAL_OUT_OF_RANGE: &str = "TOTAL_OUT_OF_RANGE";
    /// Suspending, reinstating and revoking need a reason.
    pub const REASON_REQUIRED: &str = "REASON_REQUIRED";

    // AlreadyExists
    /// A U.S. domestic shipment under this invoice (or bill of lading) was
    /// reported already by the holder, for any product, on this licence or
    /// another: counted twice, it would raise the aggregate-TPP cap.
    pub const DOMESTIC_SHIPMENT_ALREADY_REPORTED: &str = "DOMESTIC_SHIPMENT_ALREADY_REPORTED";
    /// An export of the item under this export filing (the AES ITN) was
    /// recorded already against the licence: drawn twice, it would count
    /// twice toward what remains and the caps.
    pub const EXPORT_ALREADY_REPORTED: &str = "EXPORT_ALREADY_REPORTED";
}
