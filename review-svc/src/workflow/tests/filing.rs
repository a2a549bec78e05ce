//! Filing and classification: construction, the first steps of an application, and what they refuse.

use super::*;

// ----- construction and data -----

#[test]
fn embedded_workflow_constructs() {
    let wf = Workflow::from_embedded(days(1));
    assert_eq!(wf.deadlines().agencies(), &Agency::ALL);
    assert_eq!(wf.deadlines().day_length(), days(1));
    assert!(wf
        .deadlines()
        .rules()
        .iter()
        .filter(|r| !r.confirmed)
        .all(|r| r.label() == Some(UNVERIFIED_LABEL)));
}

#[test]
fn fast_days_scale_every_clock() {
    let mut c = Case::with(Workflow::from_embedded(Duration::seconds(1)), 1);
    assert_eq!(c.app.overall_due, t0() + Duration::seconds(90));
    assert_eq!(c.app.step_due, Some(t0() + Duration::seconds(9)));
    c.ok(&system(), classify(&[true]));
    assert_eq!(c.app.step_due, Some(t0() + Duration::seconds(30)));
    c.at(t0() + Duration::seconds(30));
    let swept = c.sweep();
    assert_eq!(
        Case::kinds(&swept),
        [
            "DeemedNoObjection",
            "DeemedNoObjection",
            "DeemedNoObjection",
            "DeemedNoObjection",
            "ReferredToLicensingOfficer"
        ]
    );
}

// ----- filing and classification -----

#[test]
fn filing_starts_classification_pending() {
    let c = Case::filed();
    assert_eq!(c.events.len(), 1);
    assert_eq!(c.events[0].kind(), "ApplicationFiled");
    assert_eq!(c.events[0].actor(), "acme");
    assert_eq!(c.events[0].at(), t0());
    let app = &c.app;
    assert_eq!(app.state, State::ClassificationPending);
    assert_eq!(app.level, None);
    assert_eq!(app.id, "A-1");
    assert_eq!(app.applicant, "acme");
    assert_eq!(app.destination, "CN");
    assert_eq!(app.version, 1);
    assert_eq!(app.created_at, t0());
    assert_eq!(app.overall_due, t0() + days(90));
    assert_eq!(app.step_due, Some(t0() + days(9)), "first action due");
    assert_eq!(app.overdue_since(), Some(t0() + days(9)));
    assert_eq!(
        app.next_due(),
        Some(t0() + days(90)),
        "only the overall clock acts"
    );
    assert!(app.awaiting_agencies().is_empty());
}

#[test]
fn no_licence_required_closes_with_the_item_summaries() {
    let mut c = Case::with(Workflow::from_embedded(days(1)), 2);
    c.advance(ms(500));
    let events = c.ok(&system(), classify(&[false, false]));
    assert_eq!(
        Case::kinds(&events),
        ["ItemsClassified", "NoLicenseRequired"]
    );
    assert_eq!(events[0].actor(), SYSTEM_ACTOR);
    let app = &c.app;
    assert_eq!(app.state, State::NoLicenseRequired);
    assert!(app.is_closed());
    assert_eq!(app.classifications.len(), 2);
    assert!(
        app.state_reason.contains("item 0: not controlled"),
        "{}",
        app.state_reason
    );
    assert!(app.state_reason.contains("item 1: not controlled"));
    assert_eq!(app.next_due(), None);
    assert_eq!(app.overdue_since(), None);
    c.at(t0() + days(365));
    assert!(c.sweep().is_empty());
}

#[test]
fn licence_required_refers_to_every_agency_for_30_days() {
    let mut c = Case::with(Workflow::from_embedded(days(1)), 2);
    c.advance(Duration::hours(1));
    let events = c.ok(&system(), classify(&[false, true]));
    assert_eq!(
        Case::kinds(&events),
        ["ItemsClassified", "ReferredToAgencies"]
    );
    let due = t0() + Duration::hours(1) + days(30);
    let app = &c.app;
    assert_eq!(app.state, State::AgencyReview);
    assert_eq!(app.level, Some(Level::Agency));
    assert_eq!(app.step_due, Some(due));
    assert_eq!(app.awaiting_agencies(), Agency::ALL);
    assert!(app.agency_due.iter().all(|d| d.due == due && !d.answered));
    assert!(
        app.state_reason.contains("item 1 (PRESUMPTION_OF_DENIAL)"),
        "{}",
        app.state_reason
    );
    assert_eq!(app.next_due(), Some(due));
    assert_eq!(app.overdue_since(), Some(due));
}

#[test]
fn classification_refusals() {
    let c = Case::with(Workflow::from_embedded(days(1)), 2);
    let bad_items = |items: Vec<ItemOutcome>| Command::RecordClassification { items };
    let cases: Vec<(Actor, Command, &str)> = vec![
        (
            officer(),
            classify(&[true, true]),
            reason::ROLE_NOT_PERMITTED,
        ),
        (
            applicant(),
            classify(&[true, true]),
            reason::ROLE_NOT_PERMITTED,
        ),
        (
            auditor(),
            classify(&[true, true]),
            reason::ROLE_NOT_PERMITTED,
        ),
        (system(), bad_items(vec![]), reason::INVALID_FIELD),
        (
            system(),
            bad_items(vec![item(0, true)]),
            reason::INVALID_FIELD,
        ),
        (
            system(),
            bad_items(vec![item(0, true), item(0, false)]),
            reason::INVALID_FIELD,
        ),
        (
            system(),
            bad_items(vec![item(0, true), item(2, false)]),
            reason::INVALID_FIELD,
        ),
    ];
    for (actor, command, expected) in cases {
        let r = c.refused(&actor, command.clone());
        assert_eq!(reason_of(&r), expected, "{command:?} by {actor:?}: {r}");
        if expected == reason::INVALID_FIELD {
            assert!(matches!(r, Refusal::InvalidArgument { field: "items", .. }));
        }
    }
    let mut done = c;
    done.ok(&system(), classify(&[true, false]));
    let r = done.refused(&system(), classify(&[true, false]));
    assert_eq!(reason_of(&r), reason::NOT_CLASSIFICATION_PENDING);
}
