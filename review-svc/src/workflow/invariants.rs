//! What the ladder allows: the shape of an application in each state. The
//! workflow only ever produces applications that pass [`check`]; the
//! property tests hold it to that after every step.

use super::model::{Application, Direction, Level, State};

/// `Ok` when the application is in a shape the ladder allows for its state
/// and level; otherwise the first violation, in words.
pub fn check(app: &Application) -> Result<(), String> {
    let fail =
        |what: &str| -> Result<(), String> { Err(format!("{}: {what}", app.state.as_str())) };
    let open_decision = app.decision.as_ref().map(|d| !d.is_final);
    let unanswered = app.agency_due.iter().filter(|d| !d.answered).count();

    if app.version < 1 {
        return fail("version must count at least the filing");
    }
    if app.overall_due < app.created_at {
        return fail("overall deadline before registration");
    }
    if app.decision.is_some() && app.decision.as_ref() != app.decision_history.last() {
        return fail("the decision is not the latest of the history");
    }
    for (i, r) in app.recommendations.iter().enumerate() {
        if !matches!(r.level, Level::Agency | Level::Acep | Level::Earb) {
            return fail("a recommendation at a level that does not vote");
        }
        if app.recommendations[..i]
            .iter()
            .any(|o| o.agency == r.agency && o.level == r.level)
        {
            return fail("an agency recommended twice at one level");
        }
    }
    let decisions = app.decision_history.len();
    if app.decision_history[..decisions.saturating_sub(1)]
        .iter()
        .any(|d| d.is_final)
    {
        return fail("a final decision is not the last one");
    }

    match app.state {
        State::ClassificationPending => {
            if app.level.is_some()
                || app.decision.is_some()
                || !app.agency_due.is_empty()
                || app.step_due.is_none()
            {
                return fail("pending classification has no level, decision or agencies, and a first-action deadline");
            }
        }
        State::NoLicenseRequired => {
            if app.level.is_some() || app.decision.is_some() || app.step_due.is_some() {
                return fail("no level, decision or deadline");
            }
            if app.classifications.is_empty()
                || app.classifications.iter().any(|c| c.license_required)
            {
                return fail("every item classified and none needing a licence");
            }
        }
        State::AgencyReview => {
            if app.level != Some(Level::Agency) || app.step_due.is_none() || app.decision.is_some()
            {
                return fail("level AGENCY with a deadline and no decision");
            }
            if unanswered == 0 {
                return fail("someone must still be awaited");
            }
            if !app.classifications.iter().any(|c| c.license_required) {
                return fail("referred although no item needs a licence");
            }
        }
        State::AwaitingLicensingDecision => {
            if app.level != Some(Level::Agency) || app.step_due.is_some() || app.decision.is_some()
            {
                return fail("level AGENCY, no step deadline, no decision");
            }
            if unanswered != 0 || app.agency_consensus().is_none() {
                return fail("every agency answered and they agree");
            }
        }
        State::OperatingCommitteeReview => {
            if app.level != Some(Level::OperatingCommittee)
                || app.step_due.is_none()
                || app.decision.is_some()
                || !app.agency_due.is_empty()
            {
                return fail("level OPERATING_COMMITTEE with a deadline, nothing due from agencies, no decision");
            }
        }
        State::AppealWindow => {
            let d = match &app.decision {
                Some(d) => d,
                None => return fail("an appeal window needs a decision"),
            };
            if d.is_final || Some(d.level) != app.level || d.level.appeal_target().is_none() {
                return fail("the decision in the window is open and taken at an appealable level");
            }
            if app.step_due.is_none() || !app.agency_due.is_empty() {
                return fail("the window has a deadline and nothing is due from agencies");
            }
        }
        State::AcepReview | State::EarbReview => {
            let (level, lower) = if app.state == State::AcepReview {
                (Level::Acep, Level::OperatingCommittee)
            } else {
                (Level::Earb, Level::Acep)
            };
            if app.level != Some(level) || app.step_due.is_none() || unanswered == 0 {
                return fail("at the committee's level, votes awaited until a deadline");
            }
            match &app.decision {
                Some(d) if !d.is_final && d.level == lower => {}
                _ => return fail("the appealed lower decision stands, open"),
            }
        }
        State::PresidentialReview => {
            if app.level != Some(Level::President)
                || app.step_due.is_some()
                || !app.agency_due.is_empty()
            {
                return fail("level PRESIDENT, no clock, nothing due from agencies");
            }
            if open_decision == Some(false) {
                return fail("no final decision before the President's");
            }
        }
        State::Decided => {
            let d = match &app.decision {
                Some(d) => d,
                None => return fail("a decision is needed"),
            };
            if !d.is_final || Some(d.level) != app.level || app.step_due.is_some() {
                return fail("the decision is final, at the application's level, with no clock");
            }
            let directions: Vec<Direction> = app
                .recommendations_at(Level::Agency)
                .map(|r| r.recommendation.direction())
                .collect();
            if d.level == Level::Agency && directions.iter().any(|x| *x != d.outcome.direction()) {
                return fail("a final licensing decision agrees with every agency");
            }
        }
        State::Withdrawn | State::ReturnedWithoutAction => {
            if app.step_due.is_some() || open_decision == Some(false) {
                return fail("no clock and no final decision");
            }
        }
    }
    check_holds(app)
}

/// The clock stands still exactly while a hold is open, since the oldest
/// open hold was placed; a closed application has no open hold.
fn check_holds(app: &Application) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{}: {what}", app.state.as_str()));
    let oldest_open = app.open_holds().map(|h| h.placed_at).min();
    if app.clock.since.is_some() && app.clock.since > oldest_open.or(app.clock.since) {
        return fail("the clock stopped after an open hold was placed");
    }
    if app.clock.since.is_some() != oldest_open.is_some() {
        return fail("the clock stands still exactly while a hold is open");
    }
    if app.is_closed() && oldest_open.is_some() {
        return fail("a closed application has no open hold");
    }
    if app.clock.stopped_ms < 0 {
        return fail("time stopped is never negative");
    }
    for (i, hold) in app.holds.iter().enumerate() {
        if usize::try_from(hold.id).ok() != Some(i + 1) {
            return fail("holds are numbered 1, 2, ... in order");
        }
        if hold.released_at.is_some_and(|r| r < hold.placed_at) {
            return fail("a hold is released after it is placed");
        }
    }
    Ok(())
}
