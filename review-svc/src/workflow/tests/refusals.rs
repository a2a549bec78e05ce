//! The refusals not covered with their step, and who may read an application.

use super::*;

// ----- remaining refusals -----

#[test]
fn agency_review_refusals() {
    let mut c = Case::referred();
    c.ok(&reviewer(Commerce), rec(Commerce, Yes));
    let bare =
        |recommendation, conditions: &[&str], rationale: &str| Command::RecordRecommendation {
            agency: StateDept,
            recommendation,
            conditions: conditions.iter().map(|s| s.to_string()).collect(),
            rationale: rationale.into(),
        };
    let no_agency = Actor::new("someone", Role::AgencyReviewer, None);
    let cases: Vec<(Actor, Command, &str, Option<&str>)> = vec![
        (
            applicant(),
            rec(StateDept, Yes),
            reason::ROLE_NOT_PERMITTED,
            None,
        ),
        (
            auditor(),
            rec(StateDept, Yes),
            reason::ROLE_NOT_PERMITTED,
            None,
        ),
        (
            officer(),
            rec(StateDept, Yes),
            reason::ROLE_NOT_PERMITTED,
            None,
        ),
        (
            reviewer(Defense),
            rec(StateDept, Yes),
            reason::WRONG_AGENCY,
            None,
        ),
        (no_agency, rec(StateDept, Yes), reason::WRONG_AGENCY, None),
        (
            acep(StateDept),
            rec(StateDept, Yes),
            reason::NOT_AT_YOUR_LEVEL,
            None,
        ),
        (
            reviewer(Commerce),
            rec(Commerce, No),
            reason::ALREADY_RECOMMENDED,
            None,
        ),
        (
            reviewer(StateDept),
            bare(No, &[], " "),
            reason::RATIONALE_REQUIRED,
            Some("rationale"),
        ),
        (
            reviewer(StateDept),
            bare(Yes, &[], ""),
            reason::RATIONALE_REQUIRED,
            Some("rationale"),
        ),
        (
            reviewer(StateDept),
            bare(YesIf, &[], "why"),
            reason::CONDITIONS_REQUIRED,
            Some("conditions"),
        ),
        (
            reviewer(StateDept),
            bare(YesIf, &["ok", " "], "why"),
            reason::CONDITIONS_REQUIRED,
            Some("conditions"),
        ),
        (
            reviewer(StateDept),
            bare(Yes, &["c"], "why"),
            reason::INVALID_FIELD,
            Some("recommendation"),
        ),
        (
            reviewer(StateDept),
            bare(No, &["c"], "why"),
            reason::INVALID_FIELD,
            Some("recommendation"),
        ),
        (
            reviewer(StateDept),
            bare(Recommendation::DeemedNoObjection, &[], "why"),
            reason::INVALID_FIELD,
            Some("recommendation"),
        ),
        (
            officer(),
            decide(Outcome::Approve),
            reason::NOT_AWAITING_DECISION,
            None,
        ),
        (
            system(),
            classify(&[true]),
            reason::NOT_CLASSIFICATION_PENDING,
            None,
        ),
    ];
    for (actor, command, expected, field) in cases {
        let r = c.refused(&actor, command.clone());
        assert_eq!(reason_of(&r), expected, "{command:?} by {actor:?}: {r}");
        if let Some(f) = field {
            assert!(
                matches!(&r, Refusal::InvalidArgument { field, .. } if *field == f),
                "{r:?}"
            );
        }
    }
}

#[test]
fn decision_refusals() {
    let mut c = Case::referred();
    c.recommend_alike(Yes);
    let bare = |outcome, conditions: &[&str], rationale: &str| Command::Decide {
        outcome,
        conditions: conditions.iter().map(|s| s.to_string()).collect(),
        rationale: rationale.into(),
    };
    let cases: Vec<(Actor, Command, &str)> = vec![
        (
            applicant(),
            decide(Outcome::Approve),
            reason::ROLE_NOT_PERMITTED,
        ),
        (
            reviewer(Commerce),
            decide(Outcome::Approve),
            reason::ROLE_NOT_PERMITTED,
        ),
        (
            acep(Commerce),
            decide(Outcome::Approve),
            reason::ROLE_NOT_PERMITTED,
        ),
        (
            system(),
            decide(Outcome::Approve),
            reason::ROLE_NOT_PERMITTED,
        ),
        (chair(), decide(Outcome::Approve), reason::NOT_AT_YOUR_LEVEL),
        (
            president(),
            decide(Outcome::Approve),
            reason::NOT_AT_YOUR_LEVEL,
        ),
        (
            reviewer(Commerce),
            rec(Commerce, Yes),
            reason::NOT_COLLECTING_RECOMMENDATIONS,
        ),
        (
            officer(),
            bare(Outcome::Deny, &[], ""),
            reason::RATIONALE_REQUIRED,
        ),
        (
            officer(),
            bare(Outcome::ApproveWithConditions, &[], "why"),
            reason::CONDITIONS_REQUIRED,
        ),
        (
            officer(),
            bare(Outcome::Deny, &["c"], "why"),
            reason::INVALID_FIELD,
        ),
    ];
    for (actor, command, expected) in cases {
        let r = c.refused(&actor, command.clone());
        assert_eq!(reason_of(&r), expected, "{command:?} by {actor:?}: {r}");
    }
    let r = c.refused(&officer(), bare(Outcome::Approve, &["c"], "why"));
    assert!(matches!(
        r,
        Refusal::InvalidArgument {
            field: "outcome",
            ..
        }
    ));
}

#[test]
fn an_agency_outside_the_configured_list_is_not_referred() {
    let text = deadlines::EMBEDDED_TOML.replacen(
        "agencies = [\"COMMERCE\", \"STATE\", \"DEFENSE\", \"ENERGY\"]",
        "agencies = [\"COMMERCE\", \"STATE\"]",
        1,
    );
    let mut c = Case::with(Workflow::from_toml(&text, days(1)).unwrap(), 1);
    c.ok(&system(), classify(&[true]));
    assert_eq!(c.app.awaiting_agencies(), [Commerce, StateDept]);
    let r = c.refused(&reviewer(Defense), rec(Defense, No));
    assert_eq!(reason_of(&r), reason::AGENCY_NOT_REFERRED);
    c.recommend_all(&[(Commerce, Yes), (StateDept, Yes)]);
    assert_eq!(c.app.state, State::AwaitingLicensingDecision);
}

// ----- reading -----

#[test]
fn who_may_read() {
    let c = Case::filed();
    assert!(may_read(&applicant(), &c.app));
    assert!(!may_read(&other_applicant(), &c.app));
    for role in Role::ALL.into_iter().filter(|r| *r != Role::Applicant) {
        assert!(may_read(&Actor::new("x", role, None), &c.app), "{role:?}");
    }
    assert!(may_file(&applicant()));
    assert!(Role::ALL
        .into_iter()
        .filter(|r| *r != Role::Applicant)
        .all(|role| !may_file(&Actor::new("x", role, None))));
}
