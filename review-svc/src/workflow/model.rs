//! The workflow's vocabulary: parties, levels, recommendations, decisions and
//! the application record that the events fold into.
//!
//! Every type serialises with stable names (enums in SCREAMING_SNAKE_CASE,
//! fields in snake_case) because events are stored as JSON and hashed.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};

use super::filing::{Encoded, FiledApplication};
use super::holds::{ClockStop, Hold, HoldKind};

/// Where an application is in its life. Mirrors the proto's `State` without
/// `STATE_UNSPECIFIED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Accepted and stored; waiting for the classifier.
    ClassificationPending,
    /// Closed: no item needs a licence (final).
    NoLicenseRequired,
    /// Referred to the agencies; recommendations are due.
    AgencyReview,
    /// The agencies agree; the licensing officer decides.
    AwaitingLicensingDecision,
    /// The agencies disagree; the Operating Committee chair decides.
    OperatingCommitteeReview,
    /// Decided at a level that can be appealed; the appeal window is open.
    AppealWindow,
    /// Votes of the Advisory Committee on Export Policy.
    AcepReview,
    /// Votes of the Export Administration Review Board.
    EarbReview,
    /// Referred to the President.
    PresidentialReview,
    /// Final decision recorded.
    Decided,
    /// Withdrawn by the applicant (final).
    Withdrawn,
    /// Returned without action: the applicant did not answer a request for
    /// information in time (final; not a denial).
    ReturnedWithoutAction,
}

impl State {
    /// Every state, in proto order.
    pub const ALL: [State; 12] = [
        State::ClassificationPending,
        State::NoLicenseRequired,
        State::AgencyReview,
        State::AwaitingLicensingDecision,
        State::OperatingCommitteeReview,
        State::AppealWindow,
        State::AcepReview,
        State::EarbReview,
        State::PresidentialReview,
        State::Decided,
        State::Withdrawn,
        State::ReturnedWithoutAction,
    ];

    /// The stable name, as serialised (e.g. `"AGENCY_REVIEW"`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::ClassificationPending => "CLASSIFICATION_PENDING",
            State::NoLicenseRequired => "NO_LICENSE_REQUIRED",
            State::AgencyReview => "AGENCY_REVIEW",
            State::AwaitingLicensingDecision => "AWAITING_LICENSING_DECISION",
            State::OperatingCommitteeReview => "OPERATING_COMMITTEE_REVIEW",
            State::AppealWindow => "APPEAL_WINDOW",
            State::AcepReview => "ACEP_REVIEW",
            State::EarbReview => "EARB_REVIEW",
            State::PresidentialReview => "PRESIDENTIAL_REVIEW",
            State::Decided => "DECIDED",
            State::Withdrawn => "WITHDRAWN",
            State::ReturnedWithoutAction => "RETURNED_WITHOUT_ACTION",
        }
    }

    /// The level whose decision the application awaits in this state, and
    /// the role that takes it; None where no decision is awaited.
    pub fn decider(self) -> Option<(Level, Role)> {
        match self {
            State::AwaitingLicensingDecision => Some((Level::Agency, Role::LicensingOfficer)),
            State::OperatingCommitteeReview => {
                Some((Level::OperatingCommittee, Role::OperatingCommitteeChair))
            }
            State::PresidentialReview => Some((Level::President, Role::President)),
            _ => None,
        }
    }

    /// Final states: nothing more can happen to the application.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            State::NoLicenseRequired
                | State::Decided
                | State::Withdrawn
                | State::ReturnedWithoutAction
        )
    }
}

/// Rung of the review ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    /// Agency referral and the licensing officer's decision.
    Agency,
    OperatingCommittee,
    Acep,
    Earb,
    President,
}

impl Level {
    /// The stable name, as serialised (e.g. `"OPERATING_COMMITTEE"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Agency => "AGENCY",
            Level::OperatingCommittee => "OPERATING_COMMITTEE",
            Level::Acep => "ACEP",
            Level::Earb => "EARB",
            Level::President => "PRESIDENT",
        }
    }

    /// The level an appeal of a decision taken at this level goes to.
    pub fn appeal_target(self) -> Option<Level> {
        match self {
            Level::OperatingCommittee => Some(Level::Acep),
            Level::Acep => Some(Level::Earb),
            Level::Earb => Some(Level::President),
            Level::Agency | Level::President => None,
        }
    }

    /// Who appeals a decision taken at this level, for a dissenting agency:
    /// the agency's member at the level appealed to, with the standing
    /// 750.4(f) asks for. An OC decision is escalated to the ACEP by a
    /// Senate-confirmed official (the agency's ACEP member, an Assistant
    /// Secretary); an ACEP or EARB decision is appealed by the agency head,
    /// who sits on the EARB.
    pub fn appellant(self) -> Option<(Role, Standing)> {
        match self {
            Level::OperatingCommittee => Some((Role::AcepMember, Standing::SenateConfirmed)),
            Level::Acep | Level::Earb => Some((Role::EarbMember, Standing::AgencyHead)),
            Level::Agency | Level::President => None,
        }
    }

    /// The role whose members speak for their agency at this level: they
    /// record recommendations or votes here.
    pub fn agency_role(self) -> Option<Role> {
        match self {
            Level::Agency | Level::OperatingCommittee => Some(Role::AgencyReviewer),
            Level::Acep => Some(Role::AcepMember),
            Level::Earb => Some(Role::EarbMember),
            Level::President => None,
        }
    }
}

/// A reviewing department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Agency {
    Commerce,
    State,
    Defense,
    Energy,
}

impl Agency {
    pub const ALL: [Agency; 4] = [
        Agency::Commerce,
        Agency::State,
        Agency::Defense,
        Agency::Energy,
    ];

    /// The stable name, as serialised (e.g. `"DEFENSE"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Agency::Commerce => "COMMERCE",
            Agency::State => "STATE",
            Agency::Defense => "DEFENSE",
            Agency::Energy => "ENERGY",
        }
    }
}

/// What a principal is allowed to be. See the permission table in the
/// module documentation of [`crate::workflow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Applicant,
    AgencyReviewer,
    LicensingOfficer,
    OperatingCommitteeChair,
    AcepMember,
    EarbMember,
    President,
    Auditor,
    System,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Applicant,
        Role::AgencyReviewer,
        Role::LicensingOfficer,
        Role::OperatingCommitteeChair,
        Role::AcepMember,
        Role::EarbMember,
        Role::President,
        Role::Auditor,
        Role::System,
    ];

    /// The stable name, as serialised (e.g. `"ACEP_MEMBER"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Applicant => "APPLICANT",
            Role::AgencyReviewer => "AGENCY_REVIEWER",
            Role::LicensingOfficer => "LICENSING_OFFICER",
            Role::OperatingCommitteeChair => "OPERATING_COMMITTEE_CHAIR",
            Role::AcepMember => "ACEP_MEMBER",
            Role::EarbMember => "EARB_MEMBER",
            Role::President => "PRESIDENT",
            Role::Auditor => "AUDITOR",
            Role::System => "SYSTEM",
        }
    }
}

/// The standing 15 CFR 750.4(f) asks of whoever takes a decision higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// A Senate-confirmed official of the agency (750.4(f)(2)).
    SenateConfirmed,
    /// The head of the agency (750.4(f)(2)-(3)).
    AgencyHead,
}

impl Standing {
    /// Whether the actor has it.
    pub fn held_by(self, actor: &Actor) -> bool {
        match self {
            Standing::SenateConfirmed => actor.senate_confirmed,
            Standing::AgencyHead => actor.agency_head,
        }
    }
}

/// The authenticated principal behind a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Principal id, recorded on every event the actor causes.
    pub id: String,
    pub role: Role,
    /// The department the principal speaks for (reviewers, ACEP and EARB members).
    pub agency: Option<Agency>,
    /// Confirmed by the Senate: may sign an escalation to the ACEP (750.4(f)(2)).
    #[serde(default)]
    pub senate_confirmed: bool,
    /// The head of the agency: may appeal to the EARB and the President (750.4(f)(2)-(3)).
    #[serde(default)]
    pub agency_head: bool,
}

impl Actor {
    pub fn new(id: impl Into<String>, role: Role, agency: Option<Agency>) -> Actor {
        Actor {
            id: id.into(),
            role,
            agency,
            senate_confirmed: false,
            agency_head: false,
        }
    }

    /// The same principal with the attributes of 750.4(f).
    pub fn with_attributes(mut self, senate_confirmed: bool, agency_head: bool) -> Actor {
        self.senate_confirmed = senate_confirmed;
        self.agency_head = agency_head;
        self
    }

    /// The principal the workflow itself acts as (deadlines, tallies).
    pub fn system() -> Actor {
        Actor::new(super::SYSTEM_ACTOR, Role::System, None)
    }
}

/// Approve or deny: what disagreement and dissent are measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    Approve,
    Deny,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Approve => "APPROVE",
            Direction::Deny => "DENY",
        }
    }
}

/// What an agency recommends (agency level) or votes (ACEP, EARB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Recommendation {
    Approve,
    ApproveWithConditions,
    Deny,
    /// Recorded by the system when an agency's deadline passed without a
    /// recommendation. Counts as not objecting, i.e. on the approve side.
    DeemedNoObjection,
}

impl Recommendation {
    pub fn as_str(self) -> &'static str {
        match self {
            Recommendation::Approve => "APPROVE",
            Recommendation::ApproveWithConditions => "APPROVE_WITH_CONDITIONS",
            Recommendation::Deny => "DENY",
            Recommendation::DeemedNoObjection => "DEEMED_NO_OBJECTION",
        }
    }

    /// Deny against everything else (deemed no objection does not object).
    pub fn direction(self) -> Direction {
        match self {
            Recommendation::Deny => Direction::Deny,
            Recommendation::Approve
            | Recommendation::ApproveWithConditions
            | Recommendation::DeemedNoObjection => Direction::Approve,
        }
    }
}

/// Outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Approve,
    ApproveWithConditions,
    Deny,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approve => "APPROVE",
            Outcome::ApproveWithConditions => "APPROVE_WITH_CONDITIONS",
            Outcome::Deny => "DENY",
        }
    }

    pub fn direction(self) -> Direction {
        match self {
            Outcome::Deny => Direction::Deny,
            Outcome::Approve | Outcome::ApproveWithConditions => Direction::Approve,
        }
    }
}

/// A new application, as the adapter validated it.
#[derive(Debug, Clone, PartialEq)]
pub struct Filing {
    /// The id part of `applications/{id}`.
    pub id: String,
    /// Principal that files it.
    pub applicant: String,
    /// What was filed.
    pub application: Arc<FiledApplication>,
}

/// The classifier's answer for one line item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemOutcome {
    /// Index into the application's items.
    pub item_index: u32,
    pub license_required: bool,
    pub review_policy: String,
    pub rule_set: String,
    pub decision_id: String,
    /// One line for people, used in `state_reason`.
    pub summary: String,
    /// The classifier's whole answer (`ClassifyItemResponse`), encoded as it
    /// arrived; empty when the classifier refused the item. Kept in the
    /// `ItemsClassified` event only: snapshots leave it out.
    #[serde(default)]
    pub answer: Encoded,
}

/// A recommendation or vote, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRecommendation {
    pub agency: Agency,
    pub recommendation: Recommendation,
    pub conditions: Vec<String>,
    pub rationale: String,
    /// Principal that recorded it ([`super::SYSTEM_ACTOR`] for deemed no objection).
    pub recorded_by: String,
    pub at: DateTime<Utc>,
    pub level: Level,
}

/// When an agency's recommendation or vote is due at the current level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyDue {
    pub agency: Agency,
    pub due: DateTime<Utc>,
    /// The recommendation or vote is in.
    pub answered: bool,
}

/// A decision, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub conditions: Vec<String>,
    pub level: Level,
    /// Principal that decided, or [`super::SYSTEM_ACTOR`] for a vote tally.
    pub decided_by: String,
    pub at: DateTime<Utc>,
    pub rationale: String,
    /// No appeal is possible any more.
    #[serde(rename = "final")]
    pub is_final: bool,
}

/// The state of one application: what the events fold into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub id: String,
    pub applicant: String,
    pub destination: String,
    /// What was filed. Kept in the `ApplicationFiled` event only: snapshots
    /// leave it out, and the ledger puts it back when it reads one.
    #[serde(skip)]
    pub filed: Arc<FiledApplication>,
    pub item_count: u32,
    pub state: State,
    /// `None` before the referral to the agencies (and when no licence is needed).
    pub level: Option<Level>,
    #[serde(serialize_with = "outcomes_without_answers")]
    pub classifications: Vec<ItemOutcome>,
    /// Every recommendation and vote, at every level, oldest first.
    pub recommendations: Vec<RecordedRecommendation>,
    /// What is due from the agencies at the current level.
    pub agency_due: Vec<AgencyDue>,
    /// Deadline of the current step (first action, agency review, OC,
    /// appeal window, vote); `None` when the step has none.
    pub step_due: Option<DateTime<Utc>>,
    /// Registration (filing) + 90 days: resolve or refer to the President.
    pub overall_due: DateTime<Utc>,
    /// The latest decision, final or appealable.
    pub decision: Option<Decision>,
    /// Every decision taken, oldest first.
    pub decision_history: Vec<Decision>,
    /// Why the application is in its state.
    pub state_reason: String,
    /// Referral + 10 days (750.4(d)(1)): until then an agency may ask the
    /// applicant for missing information. Moves with the other clocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub information_due: Option<DateTime<Utc>>,
    /// Every hold, open or released, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<Hold>,
    /// Whether the clock runs, and the time holds have stopped it.
    #[serde(default, skip_serializing_if = "ClockStop::is_default")]
    pub clock: ClockStop,
    /// The id of the licence the final approval issued (see
    /// [`crate::licensing`]); absent before, and for every other outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Number of events applied.
    pub version: i64,
}

impl Application {
    /// Folds a whole history; `None` when there are no events.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a super::Event>) -> Option<Application> {
        events
            .into_iter()
            .fold(None, |app, event| Some(super::apply(app, event)))
    }

    /// The application as a snapshot keeps it: without what was filed and
    /// without the classifier's answers.
    #[cfg(test)]
    pub(crate) fn without_documents(&self) -> Application {
        let mut app = self.clone();
        app.filed = Default::default();
        for outcome in &mut app.classifications {
            outcome.answer = Default::default();
        }
        app
    }

    /// Nothing more can happen (no licence required, decided, withdrawn).
    pub fn is_closed(&self) -> bool {
        self.state.is_closed()
    }

    /// Whether the overall (90-day) deadline still applies: the application
    /// is neither resolved nor already with the President.
    pub fn overall_deadline_applies(&self) -> bool {
        !self.is_closed() && self.state != State::PresidentialReview
    }

    /// Whether the step deadline triggers an automatic action when it passes
    /// (deemed no objection, vote tally, appeal window closing). The first
    /// action and OC deadlines do not: they only make the application overdue.
    pub fn step_due_is_actionable(&self) -> bool {
        matches!(
            self.state,
            State::AgencyReview | State::AcepReview | State::EarbReview | State::AppealWindow
        )
    }

    /// Whether the step deadline is one by which someone has to act (first
    /// action, agency recommendations, OC chair, votes; not the appeal
    /// window, where nobody has to).
    fn step_due_is_owed(&self) -> bool {
        matches!(
            self.state,
            State::ClassificationPending
                | State::AgencyReview
                | State::OperatingCommitteeReview
                | State::AcepReview
                | State::EarbReview
        )
    }

    /// The open holds, oldest first.
    pub fn open_holds(&self) -> impl Iterator<Item = &Hold> {
        self.holds.iter().filter(|h| h.is_open())
    }

    /// Whether a hold is open, so the review's clocks stand still.
    pub fn is_on_hold(&self) -> bool {
        self.clock.since.is_some()
    }

    /// The instant the review's clocks stand at (see [`ClockStop::clock_now`]).
    pub fn clock_now(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.clock.clock_now(now)
    }

    /// The earliest deadline at which [`super::Workflow::sweep`] has something
    /// to do; `None` when nothing is pending. While a hold is open the
    /// review's clocks stand still: only an unanswered request for
    /// information can come due (and returns the application).
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        if self.is_closed() {
            return None;
        }
        if self.is_on_hold() {
            return self
                .open_holds()
                .filter(|h| h.kind == HoldKind::MissingInformation)
                .filter_map(|h| h.due)
                .min();
        }
        let step = self.step_due.filter(|_| self.step_due_is_actionable());
        let overall = Some(self.overall_due).filter(|_| self.overall_deadline_applies());
        min_opt(step, overall)
    }

    /// The instant from which the application counts as overdue: the
    /// earliest of the current step's deadline where someone has to act,
    /// the overall deadline while it applies, and the own deadline of every
    /// open hold. While a hold is open the review's deadlines count only if
    /// they had passed when the clock stopped. `None` when no deadline runs.
    pub fn overdue_since(&self) -> Option<DateTime<Utc>> {
        if self.is_closed() {
            return None;
        }
        let step = self.step_due.filter(|_| self.step_due_is_owed());
        let overall = Some(self.overall_due).filter(|_| self.overall_deadline_applies());
        let review = match self.clock.since {
            Some(since) => min_opt(
                step.filter(|due| *due <= since),
                overall.filter(|due| *due <= since),
            ),
            None => min_opt(step, overall),
        };
        let holds = self.open_holds().filter_map(|h| h.due).min();
        min_opt(review, holds)
    }

    /// Agencies whose recommendation or vote is awaited at the current level.
    pub fn awaiting_agencies(&self) -> Vec<Agency> {
        if !matches!(
            self.state,
            State::AgencyReview | State::AcepReview | State::EarbReview
        ) {
            return Vec::new();
        }
        self.agency_due
            .iter()
            .filter(|d| !d.answered)
            .map(|d| d.agency)
            .collect()
    }

    /// Recommendations or votes recorded at one level.
    pub fn recommendations_at(
        &self,
        level: Level,
    ) -> impl Iterator<Item = &RecordedRecommendation> {
        self.recommendations
            .iter()
            .filter(move |r| r.level == level)
    }

    /// The recommendation or vote of one agency at one level.
    pub fn recommendation_of(
        &self,
        agency: Agency,
        level: Level,
    ) -> Option<&RecordedRecommendation> {
        self.recommendations_at(level).find(|r| r.agency == agency)
    }

    /// The agencies' common direction at the agency level, when every
    /// referred agency has answered and all answers point the same way.
    pub fn agency_consensus(&self) -> Option<Direction> {
        if self.agency_due.is_empty() || self.agency_due.iter().any(|d| !d.answered) {
            return None;
        }
        let mut directions = self
            .agency_due
            .iter()
            .map(|d| {
                self.recommendation_of(d.agency, Level::Agency)
                    .map(|r| r.recommendation.direction())
            })
            .collect::<Option<Vec<_>>>()?
            .into_iter();
        let first = directions.next()?;
        directions.all(|d| d == first).then_some(first)
    }

    /// Whether `agency` dissents from the decision currently in the appeal
    /// window: its recommendation (for an OC decision: at the agency level)
    /// or its vote (ACEP, EARB) points the other way, or the decision
    /// approves without a condition it recommended. An agency that agreed
    /// to an approval on conditions did not agree to any approval: the
    /// decision that leaves them out is one it disagrees with, and 750.4(f)
    /// lets any agency that disagrees escalate. An agency that did not vote
    /// does not dissent.
    pub fn is_dissenting(&self, agency: Agency) -> bool {
        let Some(decision) = &self.decision else {
            return false;
        };
        let basis = match decision.level {
            Level::OperatingCommittee => Level::Agency,
            Level::Acep => Level::Acep,
            Level::Earb => Level::Earb,
            Level::Agency | Level::President => return false,
        };
        self.recommendation_of(agency, basis).is_some_and(|r| {
            let direction = decision.outcome.direction();
            r.recommendation.direction() != direction
                || (direction == Direction::Approve
                    && r.conditions
                        .iter()
                        .any(|c| !has_condition(&decision.conditions, c)))
        })
    }

    /// Agencies that may appeal the decision in the appeal window (none
    /// outside it).
    pub fn dissenting_agencies(&self) -> Vec<Agency> {
        if self.state != State::AppealWindow {
            return Vec::new();
        }
        Agency::ALL
            .into_iter()
            .filter(|a| self.is_dissenting(*a))
            .collect()
    }
}

/// Whether `conditions` hold `condition`, spaces around either set aside
/// (as a decision is compared with the conditions the agencies recommended).
pub fn has_condition(conditions: &[String], condition: &str) -> bool {
    conditions.iter().any(|c| c.trim() == condition.trim())
}

fn min_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Snapshots keep what the workflow decides on, not the classifier's
/// answers (the `ItemsClassified` event has them).
fn outcomes_without_answers<S: Serializer>(
    outcomes: &[ItemOutcome],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Summary<'a> {
        item_index: u32,
        license_required: bool,
        review_policy: &'a str,
        rule_set: &'a str,
        decision_id: &'a str,
        summary: &'a str,
    }
    serializer.collect_seq(outcomes.iter().map(|o| Summary {
        item_index: o.item_index,
        license_required: o.license_required,
        review_policy: &o.review_policy,
        rule_set: &o.rule_set,
        decision_id: &o.decision_id,
        summary: &o.summary,
    }))
}
