//! The review workflow: a pure state machine.
//!
//! Command + current state + time in, events out; [`apply`] folds events into
//! the state ([`Application`]). No clock is read, nothing is stored, and no
//! gRPC or database type appears here: the adapter converts, the store
//! appends. The rules and clocks are data (`review-svc/workflow.toml`,
//! embedded at build time; see [`deadlines`]).
//!
//! # The ladder
//!
//! | State | Level | Who acts | What happens |
//! |---|---|---|---|
//! | CLASSIFICATION_PENDING | — | system | `RecordClassification`: no item needs a licence → NO_LICENSE_REQUIRED (final; `state_reason` lists the item summaries); otherwise → AGENCY_REVIEW, referred to every configured agency (Commerce, State, Defense, Energy), each due referral + 30 days |
//! | AGENCY_REVIEW | AGENCY | agency reviewers | one recommendation per agency: APPROVE, APPROVE_WITH_CONDITIONS (conditions required) or DENY, always with a rationale. At the deadline the system records DEEMED_NO_OBJECTION for each agency still silent. When all are in: all on one side (DENY against not-DENY; deemed no objection does not object) → AWAITING_LICENSING_DECISION; otherwise → OPERATING_COMMITTEE_REVIEW |
//! | AWAITING_LICENSING_DECISION | AGENCY | licensing officer | a decision in the agencies' direction is final → DECIDED. A decision against it means Commerce disagrees: it is recorded (not final) and the case escalates → OPERATING_COMMITTEE_REVIEW |
//! | OPERATING_COMMITTEE_REVIEW | OPERATING_COMMITTEE | OC chair | the chair decides → APPEAL_WINDOW (5 days). The 14-day clock has no automatic action: it only makes the application overdue |
//! | APPEAL_WINDOW | level of the decision | a dissenting agency | appeal → the next level (OC → ACEP_REVIEW, ACEP → EARB_REVIEW, EARB → PRESIDENTIAL_REVIEW). At the window's end the decision becomes final → DECIDED |
//! | ACEP_REVIEW, EARB_REVIEW | ACEP, EARB | committee members | one vote per agency (APPROVE, APPROVE_WITH_CONDITIONS, DENY) within 11 days. Tallied when all have voted, or at the deadline with the votes cast (see [`tally`]): a majority decides, a tie or no votes keeps the lower decision. The committee's decision (by `system`) opens a 5-day APPEAL_WINDOW |
//! | PRESIDENTIAL_REVIEW | PRESIDENT | the President | the decision is final → DECIDED (no clock) |
//! | DECIDED, NO_LICENSE_REQUIRED, WITHDRAWN, RETURNED_WITHOUT_ACTION | | nobody | final |
//!
//! Below the President, any open state may be *on hold* ([`holds`]): an
//! agency reviewer asks for missing information within 10 days of
//! referral (750.4(d)(1)), or the licensing officer places a hold of
//! 750.4(b). The application keeps its state; every running clock stands
//! still until the last hold is released, then moves by the time stopped.
//! A request for information the applicant does not answer within its
//! period returns the application without action (final, not a denial).
//!
//! The applicant may withdraw its own application in any state that is not
//! final. At the overall deadline (registration + 90 days) an application
//! that is neither final nor with the President is referred to the
//! President, from whatever state it is in (including classification
//! pending and an open appeal window), as 15 CFR 750.4(a)(1) requires it to
//! be "resolved or referred to the President".
//!
//! Choices worth knowing:
//! - **Dissent** is measured by direction (approve, with or without
//!   conditions, against deny). At an OC decision an agency dissents when its
//!   agency-level recommendation points the other way (deemed no objection
//!   counts as approve, as in the consensus); at ACEP or EARB when its vote
//!   there does. An agency that did not vote at ACEP or EARB does not dissent.
//! - **An appeal window always opens** after an OC, ACEP or EARB decision,
//!   even when no agency dissents; it then simply expires.
//! - **Committee decisions** keep the lower decision (with its conditions)
//!   when the majority confirms it or there is none; a reversal to approve
//!   carries the union of the approving votes' conditions.
//! - **Actors on events**: the event a command asks for carries the actor's
//!   id; the consequences the workflow draws itself (referral, escalation,
//!   tally, the committee's decision, deemed no objection, a decision
//!   becoming final, referral to the President) carry [`SYSTEM_ACTOR`].
//! - **Unswept deadlines**: if a deadline that triggers an action has passed
//!   but [`Workflow::sweep`] has not recorded its consequence yet,
//!   [`Workflow::handle`] refuses with `DEADLINE_PASSED` (an appeal with
//!   `APPEAL_WINDOW_CLOSED`). The outcome therefore never depends on when the
//!   sweeper ran; adapters sweep before handling a command.
//!
//! # Permissions
//!
//! Checked first, from who the actor is; then the state; then the input.
//!
//! | Action | Who | Refused with |
//! |---|---|---|
//! | read an application and its history ([`may_read`]) | the applicant that filed it; every government role, the auditor, the system | — |
//! | file ([`may_file`]) | an applicant, in its own name | — |
//! | `RecordClassification` | system | `ROLE_NOT_PERMITTED` |
//! | `RecordRecommendation` at AGENCY | an agency reviewer of that agency | `ROLE_NOT_PERMITTED`, `WRONG_AGENCY`; other levels `NOT_AT_YOUR_LEVEL` |
//! | `RecordRecommendation` (vote) at ACEP | an ACEP member of that agency | same |
//! | `RecordRecommendation` (vote) at EARB | an EARB member of that agency | same |
//! | `Decide` at AWAITING_LICENSING_DECISION | licensing officer | `ROLE_NOT_PERMITTED`; other deciders `NOT_AT_YOUR_LEVEL` |
//! | `Decide` at OPERATING_COMMITTEE_REVIEW | OC chair | same |
//! | `Decide` at PRESIDENTIAL_REVIEW | the President | same |
//! | `Appeal` of an OC decision (to the ACEP) | the ACEP member of a dissenting agency, Senate-confirmed (750.4(f)(2)) | `ROLE_NOT_PERMITTED`, `WRONG_AGENCY`, `NOT_AT_YOUR_LEVEL`, `SENATE_CONFIRMED_OFFICIAL_REQUIRED`, `NOT_DISSENTING` |
//! | `Appeal` of an ACEP decision (to the EARB) | the EARB member of a dissenting agency, its head (750.4(f)(2)) | same, `AGENCY_HEAD_REQUIRED` |
//! | `Appeal` of an EARB decision (to the President) | the EARB member of a dissenting agency, its head (750.4(f)(3)) | same |
//! | `Withdraw` | the applicant that filed it | `ROLE_NOT_PERMITTED`, `NOT_YOUR_APPLICATION` |
//! | `RequestInformation` | an agency reviewer of that agency | `ROLE_NOT_PERMITTED`, `WRONG_AGENCY` |
//! | `ProvideInformation` | the applicant that filed it | `ROLE_NOT_PERMITTED`, `NOT_YOUR_APPLICATION` |
//! | `PlaceHold`, `ReleaseHold`, `Return` | the licensing officer | `ROLE_NOT_PERMITTED` |
//! | anything else | nobody (the auditor only reads) | `ROLE_NOT_PERMITTED` |
//!
//! State refusals (`FailedPrecondition`): `APPLICATION_CLOSED`,
//! `DEADLINE_PASSED`, `NOT_CLASSIFICATION_PENDING`,
//! `NOT_COLLECTING_RECOMMENDATIONS`, `NOT_AT_YOUR_LEVEL`,
//! `AGENCY_NOT_REFERRED`, `ALREADY_RECOMMENDED`, `NOT_AWAITING_DECISION`,
//! `NO_APPEALABLE_DECISION`, `APPEAL_WINDOW_CLOSED`, `NOT_DISSENTING`,
//! `NOT_IN_AGENCY_REVIEW`, `INFORMATION_REQUEST_TOO_LATE`, `NO_OPEN_REQUEST`,
//! `HOLD_NOT_OPEN`, `HOLD_ALREADY_OPEN`, `ENDS_WITH_ANSWER`, `TOO_MANY_HOLDS`,
//! `NO_CLOCK_RUNNING`, `NOT_RETURNABLE`.
//! Input refusals (`InvalidArgument`, by field): `rationale` (blank;
//! `RATIONALE_REQUIRED`), `conditions` (missing or blank with
//! APPROVE_WITH_CONDITIONS; `CONDITIONS_REQUIRED`), `recommendation` /
//! `outcome` (DEEMED_NO_OBJECTION by hand, or conditions with APPROVE or
//! DENY), `items` (empty, duplicate, out of range, incomplete). The reason
//! codes are in [`command::reason`]; [`Refusal::reason`] gives one for every
//! refusal.
//!
//! # Deadlines
//!
//! Every clock is in `workflow.toml` with the paragraph of 15 CFR 750.4 it
//! comes from and a `confirmed` flag; an UNCONFIRMED clock would run
//! labelled "unverified deadline" ([`DeadlineRule::label`]). The text of
//! 750.4 confirms every clock; what it does not say (the tie rule, the
//! applicant's time to answer a request for information) is written as an
//! interpretation in the citation.
//!
//! - A deadline is `instant + days × day_length` (day_length is 86 400 s in
//!   production, shorter in tests and demos). It has passed when
//!   `now >= deadline`: deemed no objection is recorded *at* the deadline,
//!   not a moment before, and an appeal at the window's last instant is
//!   already too late.
//! - First action (9 days) and overall (90 days) run from registration,
//!   which is the filing instant.
//! - Agency recommendations: 30 days from the referral.
//! - OC: 14 days from the agency deadline, as the reference says, even when
//!   the last recommendation came in early or the sweeper recorded the
//!   deemed ones late. When the licensing officer contradicts the agencies
//!   after the agency deadline, the 14 days run from the escalation.
//! - Appeal windows (5 days) and votes (11 days) run from when the decision
//!   or appeal is recorded, so a late sweep never shortens a window.
//! - Events carry every deadline they set, so replay does not need the
//!   configuration.
//! - Holds stop every running clock ([`holds`]); deadlines set during a
//!   hold run from the instant the clock stopped, and all of them move by
//!   the time stopped when the last hold is released.
//! - [`Application::next_due`] is the earliest deadline the sweeper acts on;
//!   [`Application::overdue_since`] the earliest deadline by which someone
//!   had to act (first action, agencies, OC chair, votes, overall).

pub mod command;
pub mod deadlines;
pub mod event;
pub(crate) mod event_kinds;
pub mod filing;
pub mod holds;
pub mod invariants;
pub mod machine;
pub mod model;
pub mod permissions;
pub mod tally;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use command::{reason, Command, Refusal};
pub use deadlines::{
    Clock, ConfigError, DeadlineRule, Deadlines, HoldRule, VotingRule, VotingSetting,
    UNVERIFIED_LABEL,
};
pub use event::{apply, Event};
pub use filing::{Chip, Encoded, EndUserKind, ExportType, FiledApplication, FiledItem, Route};
pub use holds::{ClockStop, Hold, HoldKind};
pub use invariants::check as check_invariants;
pub use machine::Workflow;
pub use model::{
    Actor, Agency, AgencyDue, Application, Decision, Direction, Filing, ItemOutcome, Level,
    Outcome, Recommendation, RecordedRecommendation, Role, State,
};
pub use permissions::{
    check_file, check_read_all_history, list_scope, may_file, may_read, ListScope,
};

/// The principal the workflow acts as: deadlines, tallies and the
/// consequences it draws from a command.
pub const SYSTEM_ACTOR: &str = "system";
