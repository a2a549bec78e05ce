//! Agency review and the whole escalation ladder, from the referral to the President.

use super::*;

// ----- agency review -----

#[test]
fn unanimous_approval_goes_to_the_licensing_officer_whose_decision_is_final() {
    let mut c = Case::referred();
    c.advance(days(3));
    c.recommend_all(&[(Commerce, Yes), (StateDept, YesIf), (Defense, Yes)]);
    assert_eq!(c.app.state, State::AgencyReview);
    assert_eq!(c.app.awaiting_agencies(), [Energy]);
    let events = c.ok(&reviewer(Energy), rec(Energy, Yes));
    assert_eq!(
        Case::kinds(&events),
        ["RecommendationRecorded", "ReferredToLicensingOfficer"]
    );
    assert_eq!(events[0].actor(), "reviewer-ENERGY");
    assert_eq!(events[1].actor(), SYSTEM_ACTOR);
    assert_eq!(c.app.state, State::AwaitingLicensingDecision);
    assert_eq!(c.app.step_due, None);
    assert_eq!(c.app.overdue_since(), Some(c.app.overall_due));
    assert_eq!(c.app.recommendations.len(), 4);
    let r = &c.app.recommendations[1];
    assert_eq!(
        (r.agency, r.recommendation, r.level, r.recorded_by.as_str()),
        (StateDept, YesIf, Level::Agency, "reviewer-STATE")
    );
    assert_eq!(r.conditions, ["STATE condition"]);

    c.advance(days(1));
    let events = c.ok(&officer(), decide(Outcome::ApproveWithConditions));
    assert_eq!(Case::kinds(&events), ["Decided"]);
    let d = c.app.decision.clone().unwrap();
    assert_eq!(c.app.state, State::Decided);
    assert!(d.is_final);
    assert_eq!(
        (d.level, d.outcome, d.decided_by.as_str()),
        (Level::Agency, Outcome::ApproveWithConditions, "officer")
    );
    assert_eq!(c.app.decision_history, vec![d]);
    assert_eq!(c.app.next_due(), None);
    assert_eq!(c.app.overdue_since(), None);
}

#[test]
fn unanimous_denial_is_decided_by_the_officer() {
    let mut c = Case::referred();
    c.recommend_alike(No);
    assert_eq!(c.app.state, State::AwaitingLicensingDecision);
    c.ok(&officer(), decide(Outcome::Deny));
    assert_eq!(c.app.state, State::Decided);
    assert_eq!(c.app.decision.as_ref().unwrap().outcome, Outcome::Deny);
}

#[test]
fn officer_contradicting_the_agencies_escalates_to_the_oc() {
    // Early: the OC clock runs from the agency deadline.
    let mut c = Case::referred();
    c.recommend_alike(Yes);
    c.advance(days(2));
    let events = c.ok(&officer(), decide(Outcome::Deny));
    assert_eq!(
        Case::kinds(&events),
        ["Decided", "EscalatedToOperatingCommittee"]
    );
    assert_eq!(c.app.state, State::OperatingCommitteeReview);
    assert_eq!(c.app.level, Some(Level::OperatingCommittee));
    assert_eq!(c.app.step_due, Some(c.referral_due() + days(14)));
    assert_eq!(
        c.app.decision, None,
        "the officer's decision does not stand"
    );
    assert_eq!(c.app.decision_history.len(), 1);
    assert!(!c.app.decision_history[0].is_final);
    assert!(c.app.state_reason.contains("Commerce disagrees"));

    // Late (after the agency deadline): the chair gets the full 14 days.
    let mut c = Case::referred();
    c.recommend_alike(No);
    c.advance(days(40));
    c.ok(&officer(), decide(Outcome::Approve));
    assert_eq!(c.app.step_due, Some(c.now + days(14)));

    // At the OC, every agency dissents from an approval all of them opposed.
    c.ok(&chair(), decide(Outcome::Approve));
    assert_eq!(c.app.dissenting_agencies(), Agency::ALL);
}

#[test]
fn disagreement_goes_to_the_oc_due_14_days_after_the_agency_deadline() {
    let mut c = Case::referred();
    c.advance(days(2));
    c.recommend_all(&[(Commerce, Yes), (StateDept, No), (Defense, Yes)]);
    let events = c.ok(&reviewer(Energy), rec(Energy, Yes));
    assert_eq!(
        Case::kinds(&events),
        ["RecommendationRecorded", "EscalatedToOperatingCommittee"]
    );
    assert_eq!(c.app.state, State::OperatingCommitteeReview);
    assert_eq!(c.app.step_due, Some(c.referral_due() + days(14)));
    assert!(c.app.agency_due.is_empty());
    assert!(
        c.app.state_reason.contains("STATE DENY"),
        "{}",
        c.app.state_reason
    );
}

#[test]
fn deemed_no_objection_exactly_at_the_deadline() {
    let mut c = Case::referred();
    c.recommend_all(&[(Commerce, Yes), (StateDept, Yes)]);
    let due = c.referral_due();

    c.at(due - ms(1));
    assert!(c.sweep().is_empty(), "not a millisecond before");
    // Still in time, one millisecond before.
    let early = c.attempt(&reviewer(Defense), rec(Defense, Yes));
    assert!(early.is_ok());

    c.at(due);
    let r = c.refused(&reviewer(Defense), rec(Defense, Yes));
    assert_eq!(reason_of(&r), reason::DEADLINE_PASSED);
    let swept = c.sweep();
    assert_eq!(
        Case::kinds(&swept),
        [
            "DeemedNoObjection",
            "DeemedNoObjection",
            "ReferredToLicensingOfficer"
        ]
    );
    assert!(swept
        .iter()
        .all(|e| e.actor() == SYSTEM_ACTOR && e.at() == due));
    let deemed: Vec<_> = c
        .app
        .recommendations
        .iter()
        .filter(|r| r.recommendation == Recommendation::DeemedNoObjection)
        .map(|r| (r.agency, r.recorded_by.as_str(), r.level))
        .collect();
    assert_eq!(
        deemed,
        [
            (Defense, SYSTEM_ACTOR, Level::Agency),
            (Energy, SYSTEM_ACTOR, Level::Agency)
        ]
    );
    assert_eq!(c.app.state, State::AwaitingLicensingDecision);
    // Deemed no objection does not object: approval agrees with the consensus.
    c.ok(&officer(), decide(Outcome::Approve));
    assert_eq!(c.app.state, State::Decided);
}

#[test]
fn a_denial_and_silence_disagree_and_a_late_sweep_keeps_the_oc_clock() {
    let mut c = Case::referred();
    c.recommend_all(&[(Defense, No)]);
    c.at(c.referral_due() + days(3));
    let swept = c.sweep();
    assert_eq!(swept.len(), 4);
    assert_eq!(swept[3].kind(), "EscalatedToOperatingCommittee");
    assert_eq!(c.app.step_due, Some(c.referral_due() + days(14)));
}

// ----- the whole ladder -----

#[test]
fn h200_to_china_through_every_level_to_the_president() {
    let mut c = Case::referred();
    // Agencies split on a presumption-of-denial case.
    c.advance(days(2));
    c.recommend_all(&[(Commerce, YesIf), (StateDept, No), (Defense, No)]);
    let events = c.ok(&reviewer(Energy), rec(Energy, Yes));
    assert_eq!(events[1].kind(), "EscalatedToOperatingCommittee");

    // OC chair approves with conditions, Commerce's among them.
    c.advance(days(8));
    c.ok(
        &chair(),
        decide_with(&["no transfer to military end users", "COMMERCE condition"]),
    );
    assert_eq!(c.app.state, State::AppealWindow);
    assert_eq!(c.app.level, Some(Level::OperatingCommittee));
    assert_eq!(c.app.step_due, Some(c.now + days(5)));
    assert_eq!(c.app.dissenting_agencies(), [StateDept, Defense]);
    assert_eq!(
        c.app.overdue_since(),
        Some(c.app.overall_due),
        "nobody has to act in a window"
    );

    // Only a dissenting agency, through a Senate-confirmed official (its
    // ACEP member), may escalate.
    c.advance(days(1));
    let r = c.refused(&acep(Commerce), appeal(Commerce));
    assert_eq!(reason_of(&r), reason::NOT_DISSENTING);
    let r = c.refused(&earb(StateDept), appeal(StateDept));
    assert_eq!(reason_of(&r), reason::NOT_AT_YOUR_LEVEL);
    let acting = Actor::new("acting", Role::AcepMember, Some(StateDept));
    let r = c.refused(&acting, appeal(StateDept));
    assert_eq!(reason_of(&r), reason::SENATE_CONFIRMED_OFFICIAL_REQUIRED);
    assert!(
        matches!(&r, Refusal::PermissionDenied { detail, .. } if detail.contains("750.4(f)(2)"))
    );
    let events = c.ok(&acep(StateDept), appeal(StateDept));
    assert_eq!(Case::kinds(&events), ["Appealed"]);
    assert_eq!(c.app.state, State::AcepReview);
    assert_eq!(c.app.level, Some(Level::Acep));
    assert_eq!(c.app.step_due, Some(c.now + days(11)));
    assert_eq!(c.app.awaiting_agencies(), Agency::ALL);
    assert_eq!(
        c.app.decision.as_ref().unwrap().level,
        Level::OperatingCommittee
    );

    // ACEP: 3 to 1 to deny.
    c.advance(days(3));
    c.vote_all(acep, &[(Commerce, Yes), (StateDept, No), (Defense, No)]);
    let events = c.ok(&acep(Energy), rec(Energy, No));
    assert_eq!(
        Case::kinds(&events),
        ["RecommendationRecorded", "VotesTallied", "Decided"]
    );
    let d = c.app.decision.clone().unwrap();
    assert_eq!(
        (d.level, d.outcome, d.is_final),
        (Level::Acep, Outcome::Deny, false)
    );
    assert_eq!(d.decided_by, SYSTEM_ACTOR);
    assert!(
        d.rationale.contains("1 to approve, 3 to deny"),
        "{}",
        d.rationale
    );
    assert_eq!(c.app.state, State::AppealWindow);
    assert_eq!(c.app.dissenting_agencies(), [Commerce]);

    // Commerce appeals to EARB through its head, who sits on the EARB.
    c.advance(days(2));
    let r = c.refused(&acep(Commerce), appeal(Commerce));
    assert_eq!(reason_of(&r), reason::NOT_AT_YOUR_LEVEL);
    let r = c.refused(&earb(Energy), appeal(Energy));
    assert_eq!(reason_of(&r), reason::NOT_DISSENTING);
    let deputy =
        Actor::new("deputy", Role::EarbMember, Some(Commerce)).with_attributes(true, false);
    let r = c.refused(&deputy, appeal(Commerce));
    assert_eq!(reason_of(&r), reason::AGENCY_HEAD_REQUIRED);
    assert!(
        matches!(&r, Refusal::PermissionDenied { detail, .. } if detail.contains("750.4(f)(2)"))
    );
    c.ok(&earb(Commerce), appeal(Commerce));
    assert_eq!(c.app.state, State::EarbReview);
    assert_eq!(c.app.level, Some(Level::Earb));

    // EARB: 2 to 2, the ACEP denial stands.
    c.advance(days(3));
    c.vote_all(earb, &[(Commerce, Yes), (StateDept, No), (Defense, YesIf)]);
    c.ok(&earb(Energy), rec(Energy, No));
    let d = c.app.decision.clone().unwrap();
    assert_eq!((d.level, d.outcome), (Level::Earb, Outcome::Deny));
    assert!(d.rationale.contains("stands"), "{}", d.rationale);
    assert_eq!(c.app.dissenting_agencies(), [Commerce, Defense]);

    // The head of a dissenting department appeals to the President.
    c.advance(days(2));
    let events = c.ok(&earb(Defense), appeal(Defense));
    match &events[0] {
        Event::Appealed {
            to_level,
            votes_due,
            voters,
            ..
        } => {
            assert_eq!(*to_level, Level::President);
            assert_eq!(*votes_due, None);
            assert!(voters.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.app.state, State::PresidentialReview);
    assert_eq!(c.app.level, Some(Level::President));
    assert_eq!(c.app.next_due(), None, "the overall clock is satisfied");
    assert_eq!(c.app.overdue_since(), None);

    c.advance(days(3));
    let r = c.refused(&chair(), decide(Outcome::Deny));
    assert_eq!(reason_of(&r), reason::NOT_AT_YOUR_LEVEL);
    c.ok(&president(), decide(Outcome::ApproveWithConditions));
    assert_eq!(c.app.state, State::Decided);
    let levels: Vec<_> = c
        .app
        .decision_history
        .iter()
        .map(|d| (d.level, d.outcome, d.is_final))
        .collect();
    assert_eq!(
        levels,
        [
            (
                Level::OperatingCommittee,
                Outcome::ApproveWithConditions,
                false
            ),
            (Level::Acep, Outcome::Deny, false),
            (Level::Earb, Outcome::Deny, false),
            (Level::President, Outcome::ApproveWithConditions, true),
        ]
    );
    // Each level: the four agencies' recommendations, then its decision.
    let four = ["RecommendationRecorded"; 4];
    let filed = ["ApplicationFiled", "ItemsClassified", "ReferredToAgencies"];
    let expected = [
        &filed[..],
        &four,
        &["EscalatedToOperatingCommittee", "Decided", "Appealed"],
        &four,
        &["VotesTallied", "Decided", "Appealed"],
        &four,
        &["VotesTallied", "Decided", "Appealed", "Decided"],
    ]
    .concat();
    assert_eq!(Case::kinds(&c.events), expected);
    assert_eq!(c.app.recommendations.len(), 12);
    assert_eq!(c.app.recommendations_at(Level::Earb).count(), 4);
    c.at(t0() + days(400));
    assert!(c.sweep().is_empty());
}
