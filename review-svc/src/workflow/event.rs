//! Events: the append-only history, and [`apply`], which folds them into an
//! [`Application`].
//!
//! Events carry every instant they set (deadlines included), so replay never
//! needs the configuration: a history recorded under one `workflow.toml`
//! replays identically under another. `apply` trusts the events (they were
//! produced by the workflow) and never panics, whatever the sequence.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::filing::FiledApplication;
use super::holds::{Hold, HoldKind};
use crate::licensing::LicenseEvent;

use super::deadlines::VotingRule;
use super::model::{
    Agency, AgencyDue, Application, Decision, Direction, ItemOutcome, Level, Outcome,
    Recommendation, RecordedRecommendation, State,
};

/// One entry of an application's history. Serialised as JSON with its kind
/// in `"type"` (e.g. `{"type":"Decided", ...}`); every event has `at` (when
/// it was recorded) and `actor` (the principal that caused it, or
/// [`super::SYSTEM_ACTOR`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// The application was filed (registered). State CLASSIFICATION_PENDING.
    ApplicationFiled {
        at: DateTime<Utc>,
        actor: String,
        id: String,
        applicant: String,
        /// What was filed; the only copy the record keeps.
        application: Arc<FiledApplication>,
        /// BIS first action (refer, HWA, RWA) due: the step deadline while classification is pending.
        first_action_due: DateTime<Utc>,
        /// Registration + 90 days.
        overall_due: DateTime<Utc>,
    },
    /// The classifier's answers for every item.
    ItemsClassified {
        at: DateTime<Utc>,
        actor: String,
        items: Vec<ItemOutcome>,
    },
    /// No item needs a licence: closed.
    NoLicenseRequired {
        at: DateTime<Utc>,
        actor: String,
        reason: String,
    },
    /// Referred to the agencies; each recommendation due at `due`.
    ReferredToAgencies {
        at: DateTime<Utc>,
        actor: String,
        agencies: Vec<Agency>,
        due: DateTime<Utc>,
        reason: String,
        /// Until then an agency may ask for missing information (750.4(d)(1)).
        /// Absent in events recorded before requests for information existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        information_due: Option<DateTime<Utc>>,
    },
    /// An agency's recommendation (agency level) or vote (ACEP, EARB).
    RecommendationRecorded {
        at: DateTime<Utc>,
        actor: String,
        level: Level,
        agency: Agency,
        recommendation: Recommendation,
        conditions: Vec<String>,
        rationale: String,
    },
    /// The agency's deadline (`due`) passed without a recommendation.
    DeemedNoObjection {
        at: DateTime<Utc>,
        actor: String,
        level: Level,
        agency: Agency,
        due: DateTime<Utc>,
    },
    /// All agencies are in and agree: the licensing officer decides.
    ReferredToLicensingOfficer {
        at: DateTime<Utc>,
        actor: String,
        consensus: Direction,
    },
    /// The agencies disagree, or the licensing officer contradicts their
    /// consensus: the OC chair decides, due at `due` (no automatic action).
    EscalatedToOperatingCommittee {
        at: DateTime<Utc>,
        actor: String,
        reason: String,
        due: DateTime<Utc>,
    },
    /// A decision. Final, or open to appeal until `appeal_due`; a decision
    /// that is neither (the licensing officer contradicting the agencies)
    /// is recorded in the history and superseded by the escalation that
    /// follows it.
    Decided {
        at: DateTime<Utc>,
        actor: String,
        level: Level,
        outcome: Outcome,
        conditions: Vec<String>,
        rationale: String,
        #[serde(rename = "final")]
        is_final: bool,
        appeal_due: Option<DateTime<Utc>>,
    },
    /// A dissenting agency appealed the decision taken at `from_level`.
    /// At ACEP and EARB `voters` vote until `votes_due`; the President has no clock.
    Appealed {
        at: DateTime<Utc>,
        actor: String,
        agency: Agency,
        from_level: Level,
        to_level: Level,
        rationale: String,
        voters: Vec<Agency>,
        votes_due: Option<DateTime<Utc>>,
    },
    /// The votes at a level were counted (all in, or at the deadline).
    /// A `Decided` event by the system follows.
    VotesTallied {
        at: DateTime<Utc>,
        actor: String,
        level: Level,
        rule: VotingRule,
        members: u32,
        approve: u32,
        deny: u32,
        not_voted: Vec<Agency>,
        majority: Option<Direction>,
    },
    /// The appeal window closed without an appeal: the decision is final.
    DecisionFinal {
        at: DateTime<Utc>,
        actor: String,
        level: Level,
    },
    /// Not resolved by the overall deadline: referred to the President.
    ReferredToPresident {
        at: DateTime<Utc>,
        actor: String,
        reason: String,
    },
    /// The applicant withdrew the application.
    Withdrawn {
        at: DateTime<Utc>,
        actor: String,
        reason: String,
    },
    /// An agency asked the applicant for missing information (750.4(d)(1)):
    /// hold `hold` opens and the applicant answers by `answer_due`.
    InformationRequested {
        at: DateTime<Utc>,
        actor: String,
        hold: u32,
        agency: Agency,
        missing: String,
        answer_due: DateTime<Utc>,
    },
    /// The applicant answered the request of hold `hold`, which ends.
    InformationProvided {
        at: DateTime<Utc>,
        actor: String,
        hold: u32,
        answer: String,
        documents: Vec<String>,
    },
    /// The licensing officer placed a hold of 750.4(b), due at `due` if its
    /// kind has a deadline of its own.
    HoldPlaced {
        at: DateTime<Utc>,
        actor: String,
        hold: u32,
        kind: HoldKind,
        reason: String,
        due: Option<DateTime<Utc>>,
    },
    /// The licensing officer released hold `hold`.
    HoldReleased {
        at: DateTime<Utc>,
        actor: String,
        hold: u32,
        note: String,
    },
    /// The applicant did not answer the request of hold `hold` in time, or
    /// (`hold` 0) the licensing officer returned the application: returned
    /// without action (final; not a denial).
    ReturnedWithoutAction {
        at: DateTime<Utc>,
        actor: String,
        hold: u32,
        reason: String,
    },
    /// An event of the licence issued on the application: the licence's
    /// history joins the application's chain (see [`crate::licensing`]).
    /// Written as the licence event itself (its own `"type"`), read when no
    /// workflow kind matches.
    #[serde(untagged)]
    License(Box<LicenseEvent>),
}

super::event_kinds::event_kinds!(Event {
    ApplicationFiled,
    ItemsClassified,
    NoLicenseRequired,
    ReferredToAgencies,
    RecommendationRecorded,
    DeemedNoObjection,
    ReferredToLicensingOfficer,
    EscalatedToOperatingCommittee,
    Decided,
    Appealed,
    VotesTallied,
    DecisionFinal,
    ReferredToPresident,
    Withdrawn,
    InformationRequested,
    InformationProvided,
    HoldPlaced,
    HoldReleased,
    ReturnedWithoutAction,
} wrapping License);

impl Event {
    /// The hold this event opens (a request for information, a hold of
    /// 750.4(b)), as the application records it.
    pub fn opened_hold(&self) -> Option<Hold> {
        let (at, actor, id, kind, reason, agency, due) = match self {
            Event::InformationRequested {
                at,
                actor,
                hold,
                agency,
                missing,
                answer_due,
            } => (
                at,
                actor,
                hold,
                HoldKind::MissingInformation,
                missing,
                Some(*agency),
                Some(*answer_due),
            ),
            Event::HoldPlaced {
                at,
                actor,
                hold,
                kind,
                reason,
                due,
            } => (at, actor, hold, *kind, reason, None, *due),
            _ => return None,
        };
        Some(Hold {
            id: *id,
            kind,
            reason: reason.clone(),
            placed_by: actor.clone(),
            agency,
            placed_at: *at,
            due,
            released_at: None,
            released_by: String::new(),
            release_note: String::new(),
            documents: Vec::new(),
        })
    }
}

/// An empty record for events that arrive before `ApplicationFiled` (only
/// in a corrupt history; `apply` must not panic on one).
fn blank(at: DateTime<Utc>) -> Application {
    Application {
        id: String::new(),
        applicant: String::new(),
        destination: String::new(),
        filed: Default::default(),
        item_count: 0,
        state: State::ClassificationPending,
        level: None,
        classifications: Vec::new(),
        recommendations: Vec::new(),
        agency_due: Vec::new(),
        step_due: None,
        overall_due: at,
        decision: None,
        decision_history: Vec::new(),
        state_reason: String::new(),
        information_due: None,
        holds: Vec::new(),
        clock: Default::default(),
        license: None,
        created_at: at,
        updated_at: at,
        version: 0,
    }
}

fn mark_answered(app: &mut Application, agency: Agency) {
    for due in app.agency_due.iter_mut().filter(|d| d.agency == agency) {
        due.answered = true;
    }
}

/// A final state: nothing runs any more, and the holds still open end with
/// the application.
fn close(app: &mut Application, state: State, reason: String, at: DateTime<Utc>) {
    app.state = state;
    app.step_due = None;
    app.agency_due.clear();
    app.information_due = None;
    for hold in app.holds.iter_mut().filter(|h| h.is_open()) {
        hold.released_at = Some(at);
        hold.released_by = super::SYSTEM_ACTOR.into();
        hold.release_note = format!("ended with the application ({})", state.as_str());
    }
    resume_clock(app, at);
    app.state_reason = reason;
}

/// Opens a hold; the first open hold stops the clock.
fn open_hold(app: &mut Application, hold: Hold) {
    if app.clock.since.is_none() {
        app.clock.since = Some(hold.placed_at);
    }
    app.holds.push(hold);
}

/// Ends hold `id`; when it was the last open one the clock resumes.
fn release_hold(
    app: &mut Application,
    id: u32,
    at: DateTime<Utc>,
    by: &str,
    note: &str,
    documents: &[String],
) {
    if let Some(hold) = app.holds.iter_mut().find(|h| h.id == id && h.is_open()) {
        hold.released_at = Some(at);
        hold.released_by = by.to_owned();
        hold.release_note = note.to_owned();
        hold.documents = documents.to_vec();
    }
    if app.open_holds().next().is_none() {
        resume_clock(app, at);
    }
}

/// Restarts a stopped clock at `at`: every deadline of the review moves by
/// the time it stood still, which is added to the total.
fn resume_clock(app: &mut Application, at: DateTime<Utc>) {
    let Some(since) = app.clock.since.take() else {
        return;
    };
    let stopped = (at - since).max(chrono::Duration::zero());
    let shift = |t: DateTime<Utc>| {
        t.checked_add_signed(stopped)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    };
    // The state reason names the due time of its step as it stood when
    // written ("recommendations due …", "may appeal until …"): it moves too.
    // Latest first, so that no time is moved twice: each moved time is
    // later than every one still to move.
    let mut named: Vec<DateTime<Utc>> = app
        .agency_due
        .iter()
        .map(|d| d.due)
        .chain(app.step_due)
        .collect();
    named.sort_unstable();
    named.dedup();
    for due in named.into_iter().rev() {
        let (was, now) = (due.to_rfc3339(), shift(due).to_rfc3339());
        app.state_reason = app.state_reason.replace(&was, &now);
    }
    for due in &mut app.agency_due {
        due.due = shift(due.due);
    }
    app.step_due = app.step_due.map(shift);
    app.information_due = app.information_due.map(shift);
    app.overall_due = shift(app.overall_due);
    app.clock.stopped_ms = app
        .clock
        .stopped_ms
        .saturating_add(stopped.num_milliseconds());
}

fn join<T>(items: &[T], name: impl Fn(&T) -> &str) -> String {
    items.iter().map(name).collect::<Vec<_>>().join(", ")
}

/// Folds one event into the state. `None` is the state before the first
/// event. Total: never panics, whatever the order of events.
pub fn apply(app: Option<Application>, event: &Event) -> Application {
    // A licence's later events are its own: they join the chain but leave
    // the application (and its version) as it is. The issue names the
    // licence on the application.
    if let Event::License(licence_event) = event {
        if let (Some(app), false) = (
            &app,
            matches!(**licence_event, LicenseEvent::LicenseIssued { .. }),
        ) {
            return app.clone();
        }
    }
    let at = event.at();
    let version = app.as_ref().map_or(0, |a| a.version);
    let mut app = match (app, event) {
        (
            _,
            Event::ApplicationFiled {
                id,
                applicant,
                application,
                first_action_due,
                overall_due,
                ..
            },
        ) => Application {
            id: id.clone(),
            applicant: applicant.clone(),
            destination: application.route.destination_country.clone(),
            filed: application.clone(),
            item_count: application.item_count(),
            step_due: Some(*first_action_due),
            overall_due: *overall_due,
            state_reason: "filed; waiting for the classification of every item".into(),
            ..blank(at)
        },
        (Some(app), _) => app,
        (None, _) => blank(at),
    };
    match event {
        Event::ApplicationFiled { .. } => {}
        Event::ItemsClassified { items, .. } => {
            app.classifications = items.clone();
        }
        Event::NoLicenseRequired { reason, .. } => {
            app.level = None;
            close(&mut app, State::NoLicenseRequired, reason.clone(), at);
        }
        Event::ReferredToAgencies {
            agencies,
            due,
            reason,
            information_due,
            ..
        } => {
            app.information_due = *information_due;
            app.state = State::AgencyReview;
            app.level = Some(Level::Agency);
            app.agency_due = agencies
                .iter()
                .map(|&agency| AgencyDue {
                    agency,
                    due: *due,
                    answered: false,
                })
                .collect();
            app.step_due = Some(*due);
            app.decision = None;
            app.state_reason = reason.clone();
        }
        Event::RecommendationRecorded {
            actor,
            level,
            agency,
            recommendation,
            conditions,
            rationale,
            ..
        } => {
            app.recommendations.push(RecordedRecommendation {
                agency: *agency,
                recommendation: *recommendation,
                conditions: conditions.clone(),
                rationale: rationale.clone(),
                recorded_by: actor.clone(),
                at,
                level: *level,
            });
            mark_answered(&mut app, *agency);
        }
        Event::DeemedNoObjection {
            actor,
            level,
            agency,
            due,
            ..
        } => {
            app.recommendations.push(RecordedRecommendation {
                agency: *agency,
                recommendation: Recommendation::DeemedNoObjection,
                conditions: Vec::new(),
                rationale: format!(
                    "no recommendation by the deadline {}: deemed no objection",
                    due.to_rfc3339()
                ),
                recorded_by: actor.clone(),
                at,
                level: *level,
            });
            mark_answered(&mut app, *agency);
        }
        Event::ReferredToLicensingOfficer { consensus, .. } => {
            app.state = State::AwaitingLicensingDecision;
            app.level = Some(Level::Agency);
            app.step_due = None;
            app.state_reason = format!(
                "the agencies agree ({}); the licensing officer decides",
                consensus.as_str()
            );
        }
        Event::EscalatedToOperatingCommittee { reason, due, .. } => {
            app.state = State::OperatingCommitteeReview;
            app.level = Some(Level::OperatingCommittee);
            app.agency_due.clear();
            app.step_due = Some(*due);
            app.decision = None;
            app.state_reason = reason.clone();
        }
        Event::Decided {
            actor,
            level,
            outcome,
            conditions,
            rationale,
            is_final,
            appeal_due,
            ..
        } => {
            let decision = Decision {
                outcome: *outcome,
                conditions: conditions.clone(),
                level: *level,
                decided_by: actor.clone(),
                at,
                rationale: rationale.clone(),
                is_final: *is_final,
            };
            app.decision_history.push(decision.clone());
            app.decision = Some(decision);
            app.level = Some(*level);
            if *is_final {
                close(
                    &mut app,
                    State::Decided,
                    format!("final decision at {}: {}", level.as_str(), outcome.as_str()),
                    at,
                );
            } else if let Some(due) = appeal_due {
                app.state = State::AppealWindow;
                app.step_due = Some(*due);
                app.agency_due.clear();
                app.state_reason = format!(
                    "decided at {} ({}); a dissenting agency may appeal until {}",
                    level.as_str(),
                    outcome.as_str(),
                    due.to_rfc3339()
                );
            }
        }
        Event::Appealed {
            agency,
            from_level,
            to_level,
            voters,
            votes_due,
            ..
        } => {
            app.state = match to_level {
                Level::Acep => State::AcepReview,
                Level::Earb => State::EarbReview,
                _ => State::PresidentialReview,
            };
            app.level = Some(*to_level);
            app.agency_due = match votes_due {
                Some(due) => voters
                    .iter()
                    .map(|&agency| AgencyDue {
                        agency,
                        due: *due,
                        answered: false,
                    })
                    .collect(),
                None => Vec::new(),
            };
            app.step_due = *votes_due;
            app.state_reason = format!(
                "{} appealed the {} decision to {}",
                agency.as_str(),
                from_level.as_str(),
                to_level.as_str()
            );
        }
        Event::VotesTallied {
            level,
            approve,
            deny,
            not_voted,
            ..
        } => {
            app.state_reason = format!(
                "{} votes counted: {approve} to approve, {deny} to deny, not voted: [{}]",
                level.as_str(),
                join(not_voted, |a| a.as_str())
            );
        }
        Event::DecisionFinal { level, .. } => {
            let outcome = app.decision.as_ref().map_or("", |d| d.outcome.as_str());
            let reason = format!(
                "the appeal window closed: the {} decision ({outcome}) is final",
                level.as_str()
            );
            if let Some(d) = app.decision.as_mut() {
                d.is_final = true;
            }
            if let Some(d) = app.decision_history.last_mut() {
                d.is_final = true;
            }
            close(&mut app, State::Decided, reason, at);
        }
        Event::ReferredToPresident { reason, .. } => {
            app.state = State::PresidentialReview;
            app.level = Some(Level::President);
            app.step_due = None;
            app.agency_due.clear();
            app.state_reason = reason.clone();
        }
        Event::License(licence_event) => {
            if let LicenseEvent::LicenseIssued { terms, .. } = &**licence_event {
                app.license = Some(terms.id.clone());
            }
        }
        Event::Withdrawn { reason, .. } => {
            let reason = if reason.trim().is_empty() {
                "withdrawn by the applicant".to_string()
            } else {
                format!("withdrawn by the applicant: {reason}")
            };
            close(&mut app, State::Withdrawn, reason, at);
        }
        Event::InformationRequested { .. } | Event::HoldPlaced { .. } => {
            if let Some(hold) = event.opened_hold() {
                open_hold(&mut app, hold);
            }
        }
        Event::InformationProvided {
            actor,
            hold,
            answer,
            documents,
            ..
        } => release_hold(&mut app, *hold, at, actor, answer, documents),
        Event::HoldReleased {
            actor, hold, note, ..
        } => release_hold(&mut app, *hold, at, actor, note, &[]),
        Event::ReturnedWithoutAction { reason, .. } => {
            close(&mut app, State::ReturnedWithoutAction, reason.clone(), at);
        }
    }

    app.updated_at = at;
    app.version = version.saturating_add(1);
    app
}
