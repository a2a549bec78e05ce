//! [`Workflow`]: filing, commands and the deadline sweep. Pure: the time is
//! an argument, nothing is read or written; the caller appends the events
//! and folds them with [`apply`].

use chrono::{DateTime, Duration, Utc};

mod holds;
mod inputs;

use holds::{provide_information, release_hold, return_without_action};
use inputs::{carry_agency_conditions, validate_conditions, validate_items, validate_rationale};

use super::command::{reason, Command, Refusal};
use super::deadlines::{Clock, ConfigError, Deadlines, VotingRule, EMBEDDED_TOML};
use super::event::{apply, Event};
use super::holds::HoldKind;
use super::model::{
    Actor, Agency, Application, Filing, ItemOutcome, Level, Outcome, Recommendation, Standing,
    State,
};
use super::permissions;
use super::tally;
use super::SYSTEM_ACTOR;

/// The review workflow, with its clocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    deadlines: Deadlines,
}

/// Upper bound on the consequences one sweep draws (each step closes a
/// deadline; a real application needs at most three in a row).
const MAX_SWEEP_STEPS: usize = 16;

impl Workflow {
    /// The workflow with the embedded `workflow.toml`. A `day_length` that
    /// is not positive is raised to one millisecond.
    ///
    /// # Panics
    /// Only if the embedded data is broken, which a unit test rules out.
    pub fn from_embedded(day_length: Duration) -> Workflow {
        match Workflow::from_toml(EMBEDDED_TOML, day_length) {
            Ok(workflow) => workflow,
            Err(e) => panic!("the embedded workflow.toml is broken: {e}"),
        }
    }

    /// The workflow with other data (same format as `workflow.toml`).
    pub fn from_toml(text: &str, day_length: Duration) -> Result<Workflow, ConfigError> {
        Ok(Workflow {
            deadlines: Deadlines::parse(text, day_length)?,
        })
    }

    /// The clocks, agency list and voting rules in force.
    pub fn deadlines(&self) -> &Deadlines {
        &self.deadlines
    }

    fn due(&self, clock: Clock, from: DateTime<Utc>) -> DateTime<Utc> {
        self.deadlines.due(clock, from)
    }

    /// A deadline of the review set at `now`: from the instant its clocks
    /// stand at, so that one set while a hold is open moves with the others
    /// when the clock resumes.
    fn review_due(&self, app: &Application, clock: Clock, now: DateTime<Utc>) -> DateTime<Utc> {
        self.due(clock, app.clock_now(now))
    }

    /// A new application: one `ApplicationFiled` event (state
    /// CLASSIFICATION_PENDING, the first-action and overall clocks started).
    /// The filing is registered at `now`; the applicant is the actor.
    pub fn file(&self, filing: Filing, now: DateTime<Utc>) -> Vec<Event> {
        vec![Event::ApplicationFiled {
            at: now,
            actor: filing.applicant.clone(),
            id: filing.id,
            applicant: filing.applicant,
            application: filing.application,
            first_action_due: self.due(Clock::FirstAction, now),
            overall_due: self.due(Clock::Overall, now),
        }]
    }

    /// A command by `actor` against the current state. Checks permission
    /// (`PermissionDenied`), then the state (`FailedPrecondition`), then the
    /// input (`InvalidArgument`). The first event is the actor's; the
    /// consequences the workflow draws at once (referral, escalation,
    /// tally) follow it in the same batch, by [`SYSTEM_ACTOR`].
    ///
    /// A deadline that has passed but not been swept refuses every command
    /// (`DEADLINE_PASSED`, or `APPEAL_WINDOW_CLOSED` for an appeal): run
    /// [`Workflow::sweep`] first.
    pub fn handle(
        &self,
        app: &Application,
        actor: &Actor,
        command: Command,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, Refusal> {
        permissions::check(actor, app, &command)?;
        check_open(app, &command, now)?;
        match command {
            Command::RecordClassification { items } => self.classify(app, actor, items, now),
            Command::RecordRecommendation {
                agency,
                recommendation,
                conditions,
                rationale,
            } => self.recommend(
                app,
                actor,
                agency,
                recommendation,
                conditions,
                rationale,
                now,
            ),
            Command::Decide {
                outcome,
                conditions,
                rationale,
            } => self.decide(app, actor, outcome, conditions, rationale, now),
            Command::Appeal { agency, rationale } => {
                self.appeal(app, actor, agency, rationale, now)
            }
            Command::Withdraw { reason } => Ok(vec![Event::Withdrawn {
                at: now,
                actor: actor.id.clone(),
                reason,
            }]),
            Command::RequestInformation { agency, missing } => {
                self.request_information(app, actor, agency, missing, now)
            }
            Command::ProvideInformation {
                hold,
                answer,
                documents,
            } => provide_information(app, actor, hold, answer, documents, now),
            Command::PlaceHold { kind, reason } => self.place_hold(app, actor, kind, reason, now),
            Command::ReleaseHold { hold, note } => release_hold(app, actor, hold, note, now),
            Command::Return { reason } => return_without_action(app, actor, reason, now),
        }
    }

    /// The consequences of every deadline that has passed at `now`, oldest
    /// deadline first (a step deadline before the overall deadline at the
    /// same instant): deemed no objection (then referral or escalation),
    /// vote tallies, appeal windows closing, referral to the President at
    /// the overall deadline. Empty when nothing is due; after its events are
    /// applied, a second sweep at the same `now` is empty.
    pub fn sweep(&self, app: &Application, now: DateTime<Utc>) -> Vec<Event> {
        let mut current = app.clone();
        let mut out = Vec::new();
        for _ in 0..MAX_SWEEP_STEPS {
            let events = self.expire_next(&current, now);
            if events.is_empty() {
                break;
            }
            for event in &events {
                current = apply(Some(current), event);
            }
            out.extend(events);
        }
        out
    }

    fn expire_next(&self, app: &Application, now: DateTime<Utc>) -> Vec<Event> {
        if app.is_closed() {
            return Vec::new();
        }
        if app.is_on_hold() {
            return self.expire_request(app, now);
        }
        let step = app
            .step_due
            .filter(|due| app.step_due_is_actionable() && *due <= now);
        let overall =
            Some(app.overall_due).filter(|due| app.overall_deadline_applies() && *due <= now);
        match (step, overall) {
            (Some(step), overall) if overall.is_none_or(|o| step <= o) => {
                let events = self.expire_step(app, now);
                if events.is_empty() && overall.is_some() {
                    self.refer_to_president(app, now)
                } else {
                    events
                }
            }
            (_, Some(_)) => self.refer_to_president(app, now),
            _ => Vec::new(),
        }
    }

    /// While the clocks stand still only the applicant's time to answer a
    /// request for information runs out: the application is returned
    /// without action.
    fn expire_request(&self, app: &Application, now: DateTime<Utc>) -> Vec<Event> {
        let expired = app
            .open_holds()
            .filter(|h| h.kind == HoldKind::MissingInformation)
            .filter_map(|h| h.due.filter(|due| *due <= now).map(|due| (h, due)))
            .min_by_key(|(_, due)| *due);
        let Some((hold, due)) = expired else {
            return Vec::new();
        };
        let rule = self.deadlines.rule(Clock::HoldWithoutAction);
        vec![Event::ReturnedWithoutAction {
            at: now,
            actor: SYSTEM_ACTOR.into(),
            hold: hold.id,
            reason: format!(
                "returned without action: the applicant did not answer the request for information of {} (hold {}) within {} days (due {}; {})",
                hold.agency.map_or("an agency", |a| a.as_str()),
                hold.id,
                rule.days,
                due.to_rfc3339(),
                rule.citation
            ),
        }]
    }

    fn refer_to_president(&self, app: &Application, now: DateTime<Utc>) -> Vec<Event> {
        let rule = self.deadlines.rule(Clock::Overall);
        vec![Event::ReferredToPresident {
            at: now,
            actor: SYSTEM_ACTOR.into(),
            reason: format!(
                "overall deadline: not resolved within {} days of registration (due {}); referred to the President",
                rule.days,
                app.overall_due.to_rfc3339()
            ),
        }]
    }

    fn expire_step(&self, app: &Application, now: DateTime<Utc>) -> Vec<Event> {
        match app.state {
            State::AgencyReview => {
                let mut events: Vec<Event> = app
                    .agency_due
                    .iter()
                    .filter(|d| !d.answered && d.due <= now)
                    .map(|d| Event::DeemedNoObjection {
                        at: now,
                        actor: SYSTEM_ACTOR.into(),
                        level: Level::Agency,
                        agency: d.agency,
                        due: d.due,
                    })
                    .collect();
                let after = events.iter().fold(app.clone(), |a, e| apply(Some(a), e));
                if after.agency_due.iter().all(|d| d.answered) {
                    events.extend(self.agency_round_complete(&after, now));
                }
                events
            }
            State::AcepReview => self.tally(app, Level::Acep, now),
            State::EarbReview => self.tally(app, Level::Earb, now),
            State::AppealWindow => vec![Event::DecisionFinal {
                at: now,
                actor: SYSTEM_ACTOR.into(),
                level: app
                    .decision
                    .as_ref()
                    .map(|d| d.level)
                    .or(app.level)
                    .unwrap_or(Level::OperatingCommittee),
            }],
            _ => Vec::new(),
        }
    }

    /// When every agency has answered: the officer if they agree, else the OC.
    fn agency_round_complete(&self, app: &Application, now: DateTime<Utc>) -> Vec<Event> {
        match app.agency_consensus() {
            Some(consensus) => vec![Event::ReferredToLicensingOfficer {
                at: now,
                actor: SYSTEM_ACTOR.into(),
                consensus,
            }],
            None => {
                let positions = app
                    .agency_due
                    .iter()
                    .map(|d| {
                        let rec = app
                            .recommendation_of(d.agency, Level::Agency)
                            .map_or("NONE", |r| r.recommendation.as_str());
                        format!("{} {rec}", d.agency.as_str())
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                vec![Event::EscalatedToOperatingCommittee {
                    at: now,
                    actor: SYSTEM_ACTOR.into(),
                    reason: format!(
                        "the agencies disagree ({positions}); the Operating Committee chair decides"
                    ),
                    due: self.due(Clock::OperatingCommittee, agency_deadline(app, now)),
                }]
            }
        }
    }

    /// Counts the votes at `level` and records the committee's decision,
    /// open to appeal.
    fn tally(&self, app: &Application, level: Level, now: DateTime<Utc>) -> Vec<Event> {
        let rule = self
            .deadlines
            .voting(level)
            .map_or(VotingRule::MajorityOfVotesCast, |v| v.rule);
        let count = tally::count(app, level, rule);
        let (outcome, conditions, rationale) = tally::decide(app, &count);
        let appeal_due = Clock::appeal_window(level).map(|clock| self.review_due(app, clock, now));
        vec![
            Event::VotesTallied {
                at: now,
                actor: SYSTEM_ACTOR.into(),
                level,
                rule,
                members: count.members,
                approve: count.approve,
                deny: count.deny,
                not_voted: count.not_voted,
                majority: count.majority,
            },
            Event::Decided {
                at: now,
                actor: SYSTEM_ACTOR.into(),
                level,
                outcome,
                conditions,
                rationale,
                is_final: appeal_due.is_none(),
                appeal_due,
            },
        ]
    }

    fn classify(
        &self,
        app: &Application,
        actor: &Actor,
        items: Vec<ItemOutcome>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, Refusal> {
        if app.state != State::ClassificationPending {
            return Err(Refusal::precondition(
                reason::NOT_CLASSIFICATION_PENDING,
                format!(
                    "classification is recorded once, while pending; the application is {}",
                    app.state.as_str()
                ),
            ));
        }
        validate_items(app, &items)?;
        let mut sorted: Vec<&ItemOutcome> = items.iter().collect();
        sorted.sort_by_key(|i| i.item_index);
        let required: Vec<&ItemOutcome> = sorted
            .iter()
            .copied()
            .filter(|i| i.license_required)
            .collect();
        let mut events = vec![Event::ItemsClassified {
            at: now,
            actor: actor.id.clone(),
            items: items.clone(),
        }];
        if required.is_empty() {
            let summaries = sorted
                .iter()
                .map(|i| format!("item {}: {}", i.item_index, i.summary))
                .collect::<Vec<_>>()
                .join("; ");
            events.push(Event::NoLicenseRequired {
                at: now,
                actor: SYSTEM_ACTOR.into(),
                reason: format!("no item requires a licence ({summaries})"),
            });
        } else {
            let agencies = self.deadlines.agencies().to_vec();
            let due = self.review_due(app, Clock::AgencyRecommendation, now);
            let needing = required
                .iter()
                .map(|i| {
                    if i.review_policy.is_empty() {
                        format!("item {}", i.item_index)
                    } else {
                        format!("item {} ({})", i.item_index, i.review_policy)
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            let names = agencies
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            events.push(Event::ReferredToAgencies {
                at: now,
                actor: SYSTEM_ACTOR.into(),
                reason: format!(
                    "a licence is required for {needing}; referred to {names}, recommendations due {}",
                    due.to_rfc3339()
                ),
                agencies,
                due,
                information_due: Some(self.review_due(app, Clock::InformationRequest, now)),
            });
        }
        Ok(events)
    }

    #[allow(clippy::too_many_arguments)]
    fn recommend(
        &self,
        app: &Application,
        actor: &Actor,
        agency: Agency,
        recommendation: Recommendation,
        conditions: Vec<String>,
        rationale: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, Refusal> {
        let level = match app.state {
            State::AgencyReview => Level::Agency,
            State::AcepReview => Level::Acep,
            State::EarbReview => Level::Earb,
            other => {
                return Err(Refusal::precondition(
                    reason::NOT_COLLECTING_RECOMMENDATIONS,
                    format!(
                        "recommendations and votes are not being collected; the application is {}",
                        other.as_str()
                    ),
                ))
            }
        };
        if level.agency_role() != Some(actor.role) {
            return Err(not_at_your_level(actor, level));
        }
        let Some(due) = app.agency_due.iter().find(|d| d.agency == agency) else {
            return Err(Refusal::precondition(
                reason::AGENCY_NOT_REFERRED,
                format!("{} is not asked at {}", agency.as_str(), level.as_str()),
            ));
        };
        if due.answered || app.recommendation_of(agency, level).is_some() {
            return Err(Refusal::precondition(
                reason::ALREADY_RECOMMENDED,
                format!(
                    "{} has already recommended or voted at {}",
                    agency.as_str(),
                    level.as_str()
                ),
            ));
        }
        let as_outcome = match recommendation {
            Recommendation::Approve => Outcome::Approve,
            Recommendation::ApproveWithConditions => Outcome::ApproveWithConditions,
            Recommendation::Deny => Outcome::Deny,
            Recommendation::DeemedNoObjection => {
                return Err(Refusal::invalid(
                    "recommendation",
                    "DEEMED_NO_OBJECTION is recorded only by the system at the deadline",
                ))
            }
        };
        validate_conditions("recommendation", as_outcome, &conditions)?;
        validate_rationale(&rationale, Some(as_outcome))?;
        let recorded = Event::RecommendationRecorded {
            at: now,
            actor: actor.id.clone(),
            level,
            agency,
            recommendation,
            conditions,
            rationale,
        };
        let after = apply(Some(app.clone()), &recorded);
        let mut events = vec![recorded];
        if after.agency_due.iter().all(|d| d.answered) {
            match level {
                Level::Agency => events.extend(self.agency_round_complete(&after, now)),
                _ => events.extend(self.tally(&after, level, now)),
            }
        }
        Ok(events)
    }

    fn decide(
        &self,
        app: &Application,
        actor: &Actor,
        outcome: Outcome,
        conditions: Vec<String>,
        rationale: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, Refusal> {
        let Some((level, deciding_role)) = app.state.decider() else {
            return Err(Refusal::precondition(
                reason::NOT_AWAITING_DECISION,
                format!(
                    "nobody decides while the application is {}",
                    app.state.as_str()
                ),
            ));
        };
        if actor.role != deciding_role {
            return Err(not_at_your_level(actor, level));
        }
        validate_conditions("outcome", outcome, &conditions)?;
        validate_rationale(&rationale, Some(outcome))?;
        let (outcome, conditions, rationale) = if level == Level::Agency {
            carry_agency_conditions(app, outcome, conditions, rationale)
        } else {
            (outcome, conditions, rationale)
        };
        let decided = |is_final: bool, appeal_due: Option<DateTime<Utc>>| Event::Decided {
            at: now,
            actor: actor.id.clone(),
            level,
            outcome,
            conditions: conditions.clone(),
            rationale: rationale.clone(),
            is_final,
            appeal_due,
        };
        Ok(match level {
            Level::Agency => match app.agency_consensus() {
                Some(consensus) if consensus != outcome.direction() => vec![
                    decided(false, None),
                    Event::EscalatedToOperatingCommittee {
                        at: now,
                        actor: SYSTEM_ACTOR.into(),
                        reason: format!(
                            "the licensing officer's decision ({}) contradicts the agencies' consensus ({}): Commerce disagrees, so the Operating Committee chair decides",
                            outcome.as_str(),
                            consensus.as_str()
                        ),
                        due: self.due(Clock::OperatingCommittee, agency_deadline(app, now)),
                    },
                ],
                _ => vec![decided(true, None)],
            },
            Level::OperatingCommittee => {
                vec![decided(
                    false,
                    Some(self.review_due(app, Clock::AppealToAcep, now)),
                )]
            }
            _ => vec![decided(true, None)],
        })
    }

    fn appeal(
        &self,
        app: &Application,
        actor: &Actor,
        agency: Agency,
        rationale: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, Refusal> {
        let decision = match (&app.decision, app.state) {
            (Some(d), State::AppealWindow) if d.level.appeal_target().is_some() => d,
            _ => {
                return Err(Refusal::precondition(
                    reason::NO_APPEALABLE_DECISION,
                    format!(
                        "there is no decision in an open appeal window; the application is {}",
                        app.state.as_str()
                    ),
                ))
            }
        };
        if app.step_due.is_some_and(|due| due <= app.clock_now(now)) {
            return Err(window_closed(app));
        }
        let from_level = decision.level;
        let Some((appellant, standing)) = from_level.appellant() else {
            return Err(Refusal::precondition(
                reason::NO_APPEALABLE_DECISION,
                format!("a decision at {} cannot be appealed", from_level.as_str()),
            ));
        };
        if appellant != actor.role {
            return Err(Refusal::precondition(
                reason::NOT_AT_YOUR_LEVEL,
                format!(
                    "a decision at {} is appealed by a {} of the dissenting agency, not a {}",
                    from_level.as_str(),
                    appellant.as_str(),
                    actor.role.as_str()
                ),
            ));
        }
        if !standing.held_by(actor) {
            return Err(lacks_standing(actor, from_level, standing));
        }
        if !app.is_dissenting(agency) {
            return Err(Refusal::precondition(
                reason::NOT_DISSENTING,
                format!(
                    "{} did not dissent from the {} decision ({}); dissenting: [{}]",
                    agency.as_str(),
                    from_level.as_str(),
                    decision.outcome.as_str(),
                    app.dissenting_agencies()
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        validate_rationale(&rationale, None)?;
        let to_level = from_level.appeal_target().unwrap_or(Level::President);
        let (voters, votes_due) = match Clock::vote(to_level) {
            Some(clock) => (
                self.deadlines.agencies().to_vec(),
                Some(self.review_due(app, clock, now)),
            ),
            None => (Vec::new(), None),
        };
        Ok(vec![Event::Appealed {
            at: now,
            actor: actor.id.clone(),
            agency,
            from_level,
            to_level,
            rationale,
            voters,
            votes_due,
        }])
    }
}

fn lacks_standing(actor: &Actor, level: Level, standing: Standing) -> Refusal {
    let (code, paragraph, who) = match standing {
        Standing::SenateConfirmed => (
            reason::SENATE_CONFIRMED_OFFICIAL_REQUIRED,
            "15 CFR 750.4(f)(2)",
            "a Senate-confirmed official of the agency",
        ),
        Standing::AgencyHead => (
            reason::AGENCY_HEAD_REQUIRED,
            if level == Level::Earb {
                "15 CFR 750.4(f)(3)"
            } else {
                "15 CFR 750.4(f)(2)"
            },
            "the head of the agency",
        ),
    };
    Refusal::denied(
        code,
        format!(
            "{paragraph}: an appeal of the {} decision is made by {who}; {} is not",
            level.as_str(),
            actor.id
        ),
    )
}

/// The agency deadline the OC clock runs from: the referral deadline, or
/// `now` if that has already passed (the licensing officer contradicting
/// the agencies late gives the chair the full period).
fn agency_deadline(app: &Application, now: DateTime<Utc>) -> DateTime<Utc> {
    let referral_due = app.agency_due.iter().map(|d| d.due).max();
    let now = app.clock_now(now);
    match referral_due {
        Some(due) if app.state == State::AwaitingLicensingDecision => due.max(now),
        Some(due) => due,
        None => now,
    }
}

/// Closed applications and unswept deadlines refuse every command.
fn check_open(app: &Application, command: &Command, now: DateTime<Utc>) -> Result<(), Refusal> {
    let appeal = matches!(command, Command::Appeal { .. });
    if app.is_closed() {
        let closed_window = app.state == State::Decided
            && app
                .decision
                .as_ref()
                .is_some_and(|d| d.level.appeal_target().is_some());
        if appeal && closed_window {
            return Err(window_closed(app));
        }
        return Err(Refusal::precondition(
            reason::APPLICATION_CLOSED,
            format!("the application is {}", app.state.as_str()),
        ));
    }
    if let Some(due) = app.next_due().filter(|due| *due <= now) {
        if appeal
            && app.state == State::AppealWindow
            && app.step_due.is_some_and(|step| step <= app.clock_now(now))
        {
            return Err(window_closed(app));
        }
        return Err(Refusal::precondition(
            reason::DEADLINE_PASSED,
            format!(
                "a deadline passed at {} and has not been swept yet; sweep, then retry",
                due.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

fn window_closed(app: &Application) -> Refusal {
    let level = app.decision.as_ref().map_or("the", |d| d.level.as_str());
    let when = app
        .step_due
        .map(|d| format!(" at {}", d.to_rfc3339()))
        .unwrap_or_default();
    Refusal::precondition(
        reason::APPEAL_WINDOW_CLOSED,
        format!("the appeal window of the {level} decision closed{when}"),
    )
}

fn not_at_your_level(actor: &Actor, level: Level) -> Refusal {
    Refusal::precondition(
        reason::NOT_AT_YOUR_LEVEL,
        format!(
            "the application is at {}, where a {} does not act",
            level.as_str(),
            actor.role.as_str()
        ),
    )
}
