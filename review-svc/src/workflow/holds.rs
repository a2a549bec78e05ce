//! Holds: the time 15 CFR 750.4 does not count.
//!
//! Every running clock of the review (the agencies' deadlines, the step
//! deadline, the 10 days to ask for missing information, the 90 days) stops
//! while at least one hold is open, and resumes when the last one is
//! released, moved by exactly the time it stood still. Holds nest and
//! overlap: the clock stops when the first opens and restarts when the last
//! closes, so overlapping holds stop it once, not twice.
//!
//! A hold's own deadline (the pre-licence check's 5 days, the congressional
//! notification's 30 days, the applicant's time to answer a request for
//! information) is wall-clock time: it runs *because* the hold is open.
//! Passing it makes the application overdue; passing the applicant's answer
//! period returns the application without action (the one hold deadline
//! that acts).
//!
//! The kinds and their deadlines are data (`[holds.*]` in `workflow.toml`);
//! the request for information's answer period is the `hold_without_action`
//! clock.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::model::Agency;

/// At most this many holds in an application's life (requests for
/// information included): a record must stay small enough to be served
/// whole, so what can be added to it is bounded (a policy choice; no
/// application needs more than one hold of each kind and a few requests).
pub const MAX_HOLDS: usize = 12;

/// At most this many document references with one answer.
pub const MAX_DOCUMENTS: usize = 16;

/// Why the clock stopped: 750.4(d)(1) and the exclusions of 750.4(b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HoldKind {
    /// A reviewing agency asked the applicant for missing information
    /// (750.4(d)(1)); placed by `RequestInformation`, ended by
    /// `ProvideInformation`.
    MissingInformation,
    /// A delay the applicant agreed to (750.4(b)(1)).
    ApplicantAgreedDelay,
    /// A pre-licence check abroad is to be requested (750.4(b)(2)).
    PreLicenseCheck,
    /// The result of a pre-licence check is being analysed (750.4(b)(2)).
    PreLicenseCheckAnalysis,
    /// Government-to-government assurances are to be requested from State
    /// (750.4(b)(3)).
    GovernmentAssurances,
    /// State is acting on a request for assurances (750.4(b)(3)).
    GovernmentAssurancesState,
    /// Consultations with other governments, or a multilateral review
    /// (750.4(b)(4)).
    ForeignConsultation,
    /// Congressional notification (750.4(b)(5)).
    CongressionalNotification,
    /// Notifications under 15 CFR 743.5 and the review of satellite launch
    /// plans (750.4(b)(6)).
    OtherNotification,
}

impl HoldKind {
    pub const ALL: [HoldKind; 9] = [
        HoldKind::MissingInformation,
        HoldKind::ApplicantAgreedDelay,
        HoldKind::PreLicenseCheck,
        HoldKind::PreLicenseCheckAnalysis,
        HoldKind::GovernmentAssurances,
        HoldKind::GovernmentAssurancesState,
        HoldKind::ForeignConsultation,
        HoldKind::CongressionalNotification,
        HoldKind::OtherNotification,
    ];

    /// The stable name, as serialised (e.g. `"PRE_LICENSE_CHECK"`).
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::MissingInformation => "MISSING_INFORMATION",
            HoldKind::ApplicantAgreedDelay => "APPLICANT_AGREED_DELAY",
            HoldKind::PreLicenseCheck => "PRE_LICENSE_CHECK",
            HoldKind::PreLicenseCheckAnalysis => "PRE_LICENSE_CHECK_ANALYSIS",
            HoldKind::GovernmentAssurances => "GOVERNMENT_ASSURANCES",
            HoldKind::GovernmentAssurancesState => "GOVERNMENT_ASSURANCES_STATE",
            HoldKind::ForeignConsultation => "FOREIGN_CONSULTATION",
            HoldKind::CongressionalNotification => "CONGRESSIONAL_NOTIFICATION",
            HoldKind::OtherNotification => "OTHER_NOTIFICATION",
        }
    }

    /// The key in `workflow.toml` (`[holds.<key>]`).
    pub fn key(self) -> &'static str {
        match self {
            HoldKind::MissingInformation => "missing_information",
            HoldKind::ApplicantAgreedDelay => "applicant_agreed_delay",
            HoldKind::PreLicenseCheck => "pre_license_check",
            HoldKind::PreLicenseCheckAnalysis => "pre_license_check_analysis",
            HoldKind::GovernmentAssurances => "government_assurances",
            HoldKind::GovernmentAssurancesState => "government_assurances_state",
            HoldKind::ForeignConsultation => "foreign_consultation",
            HoldKind::CongressionalNotification => "congressional_notification",
            HoldKind::OtherNotification => "other_notification",
        }
    }
}

/// One hold, open or released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// 1, 2, …: its place among the application's holds.
    pub id: u32,
    pub kind: HoldKind,
    /// Why it was placed (for a request for information: what is missing).
    pub reason: String,
    /// Principal that placed it.
    pub placed_by: String,
    /// The agency that asked for the information (requests for information).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<Agency>,
    pub placed_at: DateTime<Utc>,
    /// Its own deadline (wall-clock), when the kind has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<Utc>>,
    /// Principal that released it (the applicant who answered, the officer,
    /// or the system when the application closed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub released_by: String,
    /// The answer to a request for information, or the note of the release.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_note: String,
    /// References of the documents that came with the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<String>,
}

impl Hold {
    pub fn is_open(&self) -> bool {
        self.released_at.is_none()
    }

    /// Whether its own deadline has passed at `now` while it is still open.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.is_open() && self.due.is_some_and(|due| due <= now)
    }
}

/// The clock of an application: whether it runs and how long it stood still.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClockStop {
    /// When the open holds stopped the clock; `None` while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Time stopped by holds released so far, in milliseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stopped_ms: i64,
}

fn is_zero(ms: &i64) -> bool {
    *ms == 0
}

impl ClockStop {
    /// Never stopped: what a snapshot leaves out.
    pub fn is_default(&self) -> bool {
        *self == ClockStop::default()
    }

    /// The instant the review's clocks stand at: `now` while they run, the
    /// instant they stopped while a hold is open. Deadlines are set from it
    /// and compared with it, so a deadline set during a hold moves with the
    /// others when the clock resumes.
    pub fn clock_now(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.since.map_or(now, |since| since.min(now))
    }

    /// The total time stopped at `now`, the current stop included.
    pub fn stopped_at(&self, now: DateTime<Utc>) -> Duration {
        let current = self.since.map_or(Duration::zero(), |since| {
            (now - since).max(Duration::zero())
        });
        Duration::milliseconds(self.stopped_ms) + current
    }
}
