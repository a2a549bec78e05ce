//! Withdrawal, the return without action, and the overall deadline that
//! refers an application to the President.

use super::*;

// ----- withdrawal -----

/// An application in every state that is not final.
fn open_states() -> Vec<(State, Case)> {
    let pending = Case::filed();
    let agency = Case::referred();
    let mut awaiting = Case::referred();
    awaiting.recommend_alike(Yes);
    let mut oc = Case::referred();
    oc.recommend_all(&[
        (Commerce, Yes),
        (StateDept, No),
        (Defense, Yes),
        (Energy, Yes),
    ]);
    let window = Case::at_oc_window(Outcome::Deny);
    let acep_review = Case::at_acep();
    let mut earb_review = Case::at_oc_window(Outcome::Deny);
    earb_review.ok(&acep(Commerce), appeal(Commerce));
    earb_review.vote_all(
        acep,
        &[
            (Commerce, No),
            (StateDept, No),
            (Defense, No),
            (Energy, Yes),
        ],
    );
    earb_review.ok(&earb(Energy), appeal(Energy));
    let mut presidential = Case::referred();
    presidential.at(t0() + days(90));
    presidential.sweep();
    let cases = vec![
        pending,
        agency,
        awaiting,
        oc,
        window,
        acep_review,
        earb_review,
        presidential,
    ];
    cases.into_iter().map(|c| (c.app.state, c)).collect()
}

#[test]
fn the_applicant_may_withdraw_in_every_state_that_is_not_final() {
    let states = open_states();
    let covered: Vec<State> = states.iter().map(|(s, _)| *s).collect();
    let expected: Vec<State> = State::ALL.into_iter().filter(|s| !s.is_closed()).collect();
    assert_eq!(covered, expected);
    for (state, mut c) in states {
        let r = c.refused(&other_applicant(), withdraw());
        assert_eq!(reason_of(&r), reason::NOT_YOUR_APPLICATION, "{state:?}");
        for actor in [
            officer(),
            auditor(),
            reviewer(Commerce),
            president(),
            system(),
        ] {
            let r = c.refused(&actor, withdraw());
            assert_eq!(
                reason_of(&r),
                reason::ROLE_NOT_PERMITTED,
                "{state:?} {actor:?}"
            );
        }
        let events = c.ok(
            &applicant(),
            Command::Withdraw {
                reason: String::new(),
            },
        );
        assert_eq!(Case::kinds(&events), ["Withdrawn"]);
        assert_eq!(events[0].actor(), "acme");
        assert_eq!(c.app.state, State::Withdrawn, "from {state:?}");
        assert_eq!(c.app.state_reason, "withdrawn by the applicant");
        assert_eq!(c.app.next_due(), None);
        assert!(c.app.awaiting_agencies().is_empty());
        let r = c.refused(&applicant(), withdraw());
        assert_eq!(reason_of(&r), reason::APPLICATION_CLOSED);
        c.at(t0() + days(365));
        assert!(c.sweep().is_empty());
    }
}

fn give_back(reason: &str) -> Command {
    Command::Return {
        reason: reason.into(),
    }
}

#[test]
fn the_licensing_officer_returns_an_application_before_it_is_decided() {
    for (state, mut c) in open_states() {
        for actor in [applicant(), chair(), reviewer(Commerce), president()] {
            let r = c.refused(&actor, give_back("incomplete"));
            assert_eq!(reason_of(&r), reason::ROLE_NOT_PERMITTED, "{state:?}");
        }
        let before_decision = matches!(
            state,
            State::ClassificationPending | State::AgencyReview | State::AwaitingLicensingDecision
        );
        if !before_decision {
            let r = c.refused(&officer(), give_back("incomplete"));
            assert_eq!(reason_of(&r), reason::NOT_RETURNABLE, "{state:?}");
            continue;
        }
        let r = c.refused(&officer(), give_back("  "));
        assert!(
            matches!(
                r,
                Refusal::InvalidArgument {
                    field: "reason",
                    ..
                }
            ),
            "{r:?}"
        );
        let events = c.ok(&officer(), give_back("the end-use statement is missing"));
        assert_eq!(Case::kinds(&events), ["ReturnedWithoutAction"]);
        assert_eq!(c.app.state, State::ReturnedWithoutAction, "from {state:?}");
        assert!(
            c.app
                .state_reason
                .ends_with("748.6(c)): the end-use statement is missing"),
            "{}",
            c.app.state_reason
        );
        assert_eq!(c.app.decision, None, "not a denial");
        assert_eq!(c.app.next_due(), None);
        let r = c.refused(&officer(), give_back("again"));
        assert_eq!(reason_of(&r), reason::APPLICATION_CLOSED);
    }
    // On hold, too: the clocks stand still, the officer may still return it.
    let mut c = Case::referred();
    c.ok(
        &reviewer(Commerce),
        Command::RequestInformation {
            agency: Commerce,
            missing: "the end users".into(),
        },
    );
    c.ok(&officer(), give_back("the applicant asked"));
    assert_eq!(c.app.state, State::ReturnedWithoutAction);
    assert!(c.app.open_holds().next().is_none());
}

#[test]
fn closed_applications_refuse_everything_permitted() {
    let mut c = Case::referred();
    c.ok(&applicant(), withdraw());
    let cases: Vec<(Actor, Command)> = vec![
        (system(), classify(&[true])),
        (reviewer(Commerce), rec(Commerce, Yes)),
        (officer(), decide(Outcome::Approve)),
        (president(), decide(Outcome::Approve)),
        (acep(Commerce), appeal(Commerce)),
        (applicant(), withdraw()),
    ];
    for (actor, command) in cases {
        let r = c.refused(&actor, command.clone());
        assert_eq!(reason_of(&r), reason::APPLICATION_CLOSED, "{command:?}");
    }
    // Permission is checked before the state.
    let r = c.refused(&applicant(), decide(Outcome::Approve));
    assert_eq!(reason_of(&r), reason::ROLE_NOT_PERMITTED);
    let r = c.refused(&reviewer(StateDept), rec(Commerce, Yes));
    assert_eq!(reason_of(&r), reason::WRONG_AGENCY);
}

// ----- overall deadline -----

#[test]
fn the_overall_deadline_refers_to_the_president() {
    let mut c = Case::referred();
    c.recommend_all(&[
        (Commerce, Yes),
        (StateDept, No),
        (Defense, Yes),
        (Energy, Yes),
    ]);
    let oc_due = c.app.step_due.unwrap();

    // The OC deadline only makes the application overdue.
    c.at(oc_due + days(1));
    assert!(c.sweep().is_empty());
    assert_eq!(c.app.overdue_since(), Some(oc_due));
    assert_eq!(c.app.next_due(), Some(t0() + days(90)));
    assert!(
        c.attempt(&chair(), decide(Outcome::Deny)).is_ok(),
        "the chair may still decide late"
    );

    c.at(t0() + days(90) - ms(1));
    assert!(c.sweep().is_empty());
    c.at(t0() + days(90));
    let r = c.refused(&chair(), decide(Outcome::Deny));
    assert_eq!(reason_of(&r), reason::DEADLINE_PASSED);
    let swept = c.sweep();
    assert_eq!(Case::kinds(&swept), ["ReferredToPresident"]);
    assert!(c.app.state_reason.contains("overall deadline"));
    assert_eq!(c.app.state, State::PresidentialReview);
    assert_eq!(c.app.level, Some(Level::President));
    assert_eq!(c.app.next_due(), None);
    assert_eq!(c.app.overdue_since(), None);
    c.ok(&president(), decide(Outcome::Deny));
    assert_eq!(c.app.state, State::Decided);
}

#[test]
fn deadlines_are_swept_in_order() {
    // Agency deadline and overall deadline both passed: deemed no objection
    // first, then the referral to the President.
    let mut c = Case::referred();
    c.recommend_all(&[(Commerce, No)]);
    c.at(t0() + days(100));
    let swept = c.sweep();
    assert_eq!(
        Case::kinds(&swept),
        [
            "DeemedNoObjection",
            "DeemedNoObjection",
            "DeemedNoObjection",
            "EscalatedToOperatingCommittee",
            "ReferredToPresident"
        ]
    );

    // An appeal window ending before the overall deadline makes the decision final.
    let mut c = Case::at_oc_window(Outcome::Deny);
    c.at(t0() + days(100));
    assert_eq!(Case::kinds(&c.sweep()), ["DecisionFinal"]);
    assert_eq!(c.app.state, State::Decided);

    // Unclassified after 90 days: still referred, as the rule requires.
    let mut c = Case::filed();
    c.at(t0() + days(90));
    assert_eq!(Case::kinds(&c.sweep()), ["ReferredToPresident"]);
    let r = c.refused(&system(), classify(&[true]));
    assert_eq!(reason_of(&r), reason::NOT_CLASSIFICATION_PENDING);
}
