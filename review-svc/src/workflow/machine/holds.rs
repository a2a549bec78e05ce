//! The commands that stop and restart the clocks: requests for information
//! (750.4(d)(1)) and the holds of 750.4(b); and the return without action
//! that ends an application BIS does not process.

use chrono::{DateTime, Utc};

use super::inputs::nonblank;
use super::Workflow;
use crate::workflow::command::{reason, Refusal};
use crate::workflow::deadlines::Clock;
use crate::workflow::event::Event;
use crate::workflow::holds::{HoldKind, MAX_DOCUMENTS, MAX_HOLDS};
use crate::workflow::model::{Actor, Agency, Application, State};

impl Workflow {
    pub(super) fn request_information(
        &self,
        app: &Application,
        actor: &Actor,
        agency: Agency,
        missing: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, Refusal> {
        if app.state != State::AgencyReview {
            return Err(Refusal::precondition(
                reason::NOT_IN_AGENCY_REVIEW,
                format!(
                    "information is requested while the agencies review the application (15 CFR 750.4(d)(1)); it is {}",
                    app.state.as_str()
                ),
            ));
        }
        let Some(due) = app.agency_due.iter().find(|d| d.agency == agency) else {
            return Err(Refusal::precondition(
                reason::AGENCY_NOT_REFERRED,
                format!("{} was not referred the application", agency.as_str()),
            ));
        };
        if due.answered {
            return Err(Refusal::precondition(
                reason::ALREADY_RECOMMENDED,
                format!("{} has already recommended", agency.as_str()),
            ));
        }
        let rule = self.deadlines.rule(Clock::InformationRequest);
        let too_late = app
            .information_due
            .is_none_or(|limit| limit <= app.clock_now(now));
        if too_late {
            return Err(Refusal::precondition(
                reason::INFORMATION_REQUEST_TOO_LATE,
                format!(
                    "15 CFR 750.4(d)(1): an agency says that information is missing within {} days of referral{}; after that it recommends on what it has",
                    rule.days,
                    app.information_due
                        .map(|d| format!(" (until {}, with the time on hold added)", d.to_rfc3339()))
                        .unwrap_or_else(|| " (this application was referred before requests were recorded)".into())
                ),
            ));
        }
        let hold = next_hold_id(app)?;
        nonblank("missing", &missing, "say what information is missing")?;
        Ok(vec![Event::InformationRequested {
            at: now,
            actor: actor.id.clone(),
            hold,
            agency,
            missing,
            answer_due: self.due(Clock::HoldWithoutAction, now),
        }])
    }

    pub(super) fn place_hold(
        &self,
        app: &Application,
        actor: &Actor,
        kind: HoldKind,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, Refusal> {
        if app.state == State::PresidentialReview {
            return Err(Refusal::precondition(
                reason::NO_CLOCK_RUNNING,
                "the application is with the President, where no clock runs",
            ));
        }
        if let Some(open) = app.open_holds().find(|h| h.kind == kind) {
            return Err(Refusal::precondition(
                reason::HOLD_ALREADY_OPEN,
                format!("hold {} ({}) is open already", open.id, kind.as_str()),
            ));
        }
        if kind == HoldKind::MissingInformation {
            return Err(Refusal::invalid(
                "kind",
                "MISSING_INFORMATION is asked by a reviewing agency with RequestInformation",
            ));
        }
        let hold = next_hold_id(app)?;
        nonblank("reason", &reason, "say why the clock stops")?;
        Ok(vec![Event::HoldPlaced {
            at: now,
            actor: actor.id.clone(),
            hold,
            kind,
            reason,
            due: self.deadlines.hold_due(kind, now),
        }])
    }
}

/// The id of the next hold, or the refusal once the application has had
/// as many as it may.
fn next_hold_id(app: &Application) -> Result<u32, Refusal> {
    if app.holds.len() >= MAX_HOLDS {
        return Err(Refusal::precondition(
            reason::TOO_MANY_HOLDS,
            format!("an application may have at most {MAX_HOLDS} holds in its life"),
        ));
    }
    Ok(u32::try_from(app.holds.len()).unwrap_or(u32::MAX - 1) + 1)
}

pub(super) fn provide_information(
    app: &Application,
    actor: &Actor,
    hold: Option<u32>,
    answer: String,
    documents: Vec<String>,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, Refusal> {
    let open: Vec<u32> = app
        .open_holds()
        .filter(|h| h.kind == HoldKind::MissingInformation)
        .map(|h| h.id)
        .collect();
    let hold = match (hold, open.as_slice()) {
        (_, []) => {
            return Err(Refusal::precondition(
                reason::NO_OPEN_REQUEST,
                "no request for information is open",
            ))
        }
        (Some(id), open) if !open.contains(&id) => {
            return Err(Refusal::precondition(
                reason::NO_OPEN_REQUEST,
                format!("hold {id} is not an open request for information; open: {open:?}"),
            ))
        }
        (Some(id), _) => id,
        (None, [only]) => *only,
        (None, open) => {
            return Err(Refusal::invalid(
                "hold",
                format!(
                    "{} requests are open ({open:?}): name the one answered",
                    open.len()
                ),
            ))
        }
    };
    nonblank("answer", &answer, "give the information asked for")?;
    if documents.len() > MAX_DOCUMENTS {
        return Err(Refusal::invalid(
            "documents",
            format!(
                "at most {MAX_DOCUMENTS} document references, got {}",
                documents.len()
            ),
        ));
    }
    if let Some(i) = documents.iter().position(|d| d.trim().is_empty()) {
        return Err(Refusal::invalid(
            "documents",
            format!("document reference {i} is blank"),
        ));
    }
    Ok(vec![Event::InformationProvided {
        at: now,
        actor: actor.id.clone(),
        hold,
        answer,
        documents,
    }])
}

pub(super) fn release_hold(
    app: &Application,
    actor: &Actor,
    hold: u32,
    note: String,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, Refusal> {
    let Some(open) = app.open_holds().find(|h| h.id == hold) else {
        return Err(Refusal::precondition(
            reason::HOLD_NOT_OPEN,
            format!(
                "hold {hold} is not open; open: {:?}",
                app.open_holds().map(|h| h.id).collect::<Vec<_>>()
            ),
        ));
    };
    if open.kind == HoldKind::MissingInformation {
        return Err(Refusal::precondition(
            reason::ENDS_WITH_ANSWER,
            format!("hold {hold} is a request for information: it ends when the applicant answers"),
        ));
    }
    Ok(vec![Event::HoldReleased {
        at: now,
        actor: actor.id.clone(),
        hold,
        note,
    }])
}

/// BIS's third first action beside referring and holding (750.4(c)): the
/// licensing officer returns the application without action, with a
/// reason (748.6(c)). Not a denial, and final. Only before a decision:
/// once the agencies disagree, the Operating Committee and the boards
/// above it decide, and an appeal window or the President's review has a
/// decision to end with.
pub(super) fn return_without_action(
    app: &Application,
    actor: &Actor,
    reason: String,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, Refusal> {
    if !matches!(
        app.state,
        State::ClassificationPending | State::AgencyReview | State::AwaitingLicensingDecision
    ) {
        return Err(Refusal::precondition(
            reason::NOT_RETURNABLE,
            format!(
                "the licensing officer returns an application without action before it is decided \
                 (15 CFR 748.6(c)); it is {}",
                app.state.as_str()
            ),
        ));
    }
    nonblank("reason", &reason, "say why the application is returned")?;
    Ok(vec![Event::ReturnedWithoutAction {
        at: now,
        actor: actor.id.clone(),
        hold: 0,
        reason: format!(
            "returned without action by the licensing officer (15 CFR 748.6(c)): {reason}"
        ),
    }])
}
