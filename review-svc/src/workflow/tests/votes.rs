//! Votes at the boards, and appeals of a decision.

use super::*;

// ----- votes -----

#[test]
fn a_tie_at_the_vote_deadline_keeps_the_lower_decision() {
    let mut c = Case::at_acep();
    let votes_due = c.app.step_due.unwrap();
    c.vote_all(acep, &[(Commerce, No), (Defense, Yes)]);
    c.at(votes_due - ms(1));
    assert!(c.sweep().is_empty());
    c.at(votes_due);
    let swept = c.sweep();
    assert_eq!(Case::kinds(&swept), ["VotesTallied", "Decided"]);
    match &swept[0] {
        Event::VotesTallied {
            approve,
            deny,
            not_voted,
            majority,
            members,
            ..
        } => {
            assert_eq!((*approve, *deny, *members, *majority), (1, 1, 4, None));
            assert_eq!(not_voted, &[StateDept, Energy]);
        }
        other => panic!("{other:?}"),
    }
    let oc = c.app.decision_history[0].clone();
    let d = c.app.decision.clone().unwrap();
    assert_eq!(
        (d.level, d.outcome, &d.conditions),
        (Level::Acep, oc.outcome, &oc.conditions)
    );
    assert_eq!(c.app.state, State::AppealWindow);
    assert_eq!(c.app.step_due, Some(votes_due + days(5)));
    // Defense voted with the decision, Commerce against it.
    assert_eq!(c.app.dissenting_agencies(), [Commerce]);
}

#[test]
fn no_votes_at_all_keep_the_lower_decision() {
    let mut c = Case::at_acep();
    c.at(c.app.step_due.unwrap());
    c.sweep();
    let d = c.app.decision.clone().unwrap();
    assert_eq!(
        (d.level, d.outcome),
        (Level::Acep, Outcome::ApproveWithConditions)
    );
    assert!(
        c.app.dissenting_agencies().is_empty(),
        "nobody voted, nobody dissents"
    );
    c.at(c.app.step_due.unwrap());
    assert_eq!(Case::kinds(&c.sweep()), ["DecisionFinal"]);
    assert_eq!(c.app.state, State::Decided);
}

#[test]
fn a_reversal_to_approve_carries_the_approving_votes_conditions() {
    let mut c = Case::at_oc_window(Outcome::Deny);
    c.advance(days(1));
    c.ok(&acep(Commerce), appeal(Commerce));
    c.ok(&acep(Commerce), rec_with(Commerce, &["c1"]));
    c.ok(&acep(StateDept), rec_with(StateDept, &["c1", "c2"]));
    c.ok(&acep(Defense), rec(Defense, Yes));
    c.ok(&acep(Energy), rec(Energy, No));
    let d = c.app.decision.clone().unwrap();
    assert_eq!(d.outcome, Outcome::ApproveWithConditions);
    assert_eq!(d.conditions, ["c1", "c2"]);
    assert_eq!(c.app.dissenting_agencies(), [Energy]);
}

#[test]
fn majority_of_members_needs_more_than_half_of_all_members() {
    let text = deadlines::EMBEDDED_TOML.replacen(
        "rule = \"MAJORITY_OF_VOTES_CAST\"",
        "rule = \"MAJORITY_OF_MEMBERS\"",
        1,
    );
    let wf = Workflow::from_toml(&text, days(1)).unwrap();
    assert_eq!(
        wf.deadlines().voting(Level::Acep).unwrap().rule,
        VotingRule::MajorityOfMembers
    );
    for (rule_wf, expected) in [
        (wf, Outcome::ApproveWithConditions),
        (Workflow::from_embedded(days(1)), Outcome::Deny),
    ] {
        let mut c = Case::at_oc_window(Outcome::ApproveWithConditions);
        c.wf = rule_wf;
        c.advance(days(1));
        c.ok(&acep(Defense), appeal(Defense));
        // 2 to deny, 1 to approve, 1 silent: a majority of the votes cast
        // but not of the four members.
        c.vote_all(acep, &[(StateDept, No), (Defense, No), (Commerce, Yes)]);
        c.at(c.app.step_due.unwrap());
        c.sweep();
        assert_eq!(c.app.decision.as_ref().unwrap().outcome, expected);
    }
}

#[test]
fn vote_refusals() {
    let mut c = Case::at_acep();
    let cases: Vec<(Actor, Command, &str)> = vec![
        (
            reviewer(Commerce),
            rec(Commerce, Yes),
            reason::NOT_AT_YOUR_LEVEL,
        ),
        (
            earb(Commerce),
            rec(Commerce, Yes),
            reason::NOT_AT_YOUR_LEVEL,
        ),
        (acep(Commerce), rec(StateDept, Yes), reason::WRONG_AGENCY),
        (
            acep(Commerce),
            rec(Commerce, Recommendation::DeemedNoObjection),
            reason::INVALID_FIELD,
        ),
        (
            chair(),
            decide(Outcome::Deny),
            reason::NOT_AWAITING_DECISION,
        ),
        (
            acep(StateDept),
            appeal(StateDept),
            reason::NO_APPEALABLE_DECISION,
        ),
    ];
    for (actor, command, expected) in cases {
        let r = c.refused(&actor, command.clone());
        assert_eq!(reason_of(&r), expected, "{command:?} by {actor:?}: {r}");
    }
    c.ok(&acep(Commerce), rec(Commerce, Yes));
    let r = c.refused(&acep(Commerce), rec(Commerce, No));
    assert_eq!(reason_of(&r), reason::ALREADY_RECOMMENDED);
    c.at(c.app.step_due.unwrap());
    let r = c.refused(&acep(StateDept), rec(StateDept, No));
    assert_eq!(reason_of(&r), reason::DEADLINE_PASSED);
}

// ----- appeals -----

#[test]
fn appeal_by_a_non_dissenting_agency_is_refused() {
    let c = Case::at_oc_window(Outcome::Deny);
    // Commerce (with conditions) and Energy (approve) dissent from a denial.
    assert_eq!(c.app.dissenting_agencies(), [Commerce, Energy]);
    for agency in [StateDept, Defense] {
        let r = c.refused(&acep(agency), appeal(agency));
        assert_eq!(reason_of(&r), reason::NOT_DISSENTING, "{agency:?}");
        assert!(matches!(r, Refusal::FailedPrecondition { .. }));
    }
    let r = c.refused(&acep(StateDept), appeal(Energy));
    assert_eq!(
        reason_of(&r),
        reason::WRONG_AGENCY,
        "permission comes first"
    );
    assert!(matches!(r, Refusal::PermissionDenied { .. }));
    let r = c.refused(
        &acep(Energy),
        Command::Appeal {
            agency: Energy,
            rationale: "  ".into(),
        },
    );
    assert!(matches!(
        r,
        Refusal::InvalidArgument {
            field: "rationale",
            ..
        }
    ));
    assert_eq!(reason_of(&r), reason::RATIONALE_REQUIRED);
}

#[test]
fn an_approval_without_an_agencys_condition_is_one_it_may_appeal() {
    // Commerce recommended approval on "COMMERCE condition"; Energy a plain one.
    let mut c = Case::at_oc_window(Outcome::Approve);
    assert_eq!(c.app.dissenting_agencies(), [Commerce, StateDept, Defense]);
    let events = c.ok(&acep(Commerce), appeal(Commerce));
    assert_eq!(Case::kinds(&events), ["Appealed"]);
    assert_eq!(c.app.state, State::AcepReview);

    // An approval that keeps it (spaces aside) leaves Commerce content.
    let c = Case::oc_decided_by(decide_with(&[" COMMERCE condition ", "audits"]));
    assert_eq!(c.app.dissenting_agencies(), [StateDept, Defense]);
    let r = c.refused(&acep(Commerce), appeal(Commerce));
    assert_eq!(reason_of(&r), reason::NOT_DISSENTING);

    // At the ACEP: a vote for approval on a condition the majority's
    // approval leaves out dissents from it too.
    let mut c = Case::at_acep();
    c.vote_all(acep, &[(Commerce, Yes), (StateDept, No), (Defense, Yes)]);
    c.ok(&acep(Energy), rec_with(Energy, &["site visits"]));
    let d = c.app.decision.clone().unwrap();
    assert_eq!(
        (d.level, d.outcome.direction()),
        (Level::Acep, Direction::Approve)
    );
    assert_eq!(c.app.dissenting_agencies(), [StateDept, Energy]);
}

#[test]
fn deemed_no_objection_dissents_from_a_denial() {
    let mut c = Case::referred();
    c.recommend_all(&[(StateDept, No), (Defense, No), (Commerce, No)]);
    c.at(c.referral_due());
    c.sweep();
    assert_eq!(c.app.state, State::OperatingCommitteeReview);
    c.ok(&chair(), decide(Outcome::Deny));
    assert_eq!(c.app.dissenting_agencies(), [Energy]);
}

#[test]
fn appeal_after_the_window_is_refused_and_the_decision_becomes_final() {
    let mut c = Case::at_oc_window(Outcome::Approve);
    let window = c.app.step_due.unwrap();
    c.at(window - ms(1));
    assert!(c.attempt(&acep(StateDept), appeal(StateDept)).is_ok());
    assert!(c.sweep().is_empty());

    c.at(window);
    let r = c.refused(&acep(StateDept), appeal(StateDept));
    assert_eq!(reason_of(&r), reason::APPEAL_WINDOW_CLOSED);
    let r = c.refused(&applicant(), withdraw());
    assert_eq!(reason_of(&r), reason::DEADLINE_PASSED);

    let swept = c.sweep();
    assert_eq!(Case::kinds(&swept), ["DecisionFinal"]);
    assert_eq!(c.app.state, State::Decided);
    let d = c.app.decision.clone().unwrap();
    assert!(d.is_final);
    assert_eq!(d.level, Level::OperatingCommittee);
    assert!(c.app.decision_history.last().unwrap().is_final);
    assert!(c.app.state_reason.contains("final"));

    c.advance(days(1));
    let r = c.refused(&acep(StateDept), appeal(StateDept));
    assert_eq!(reason_of(&r), reason::APPEAL_WINDOW_CLOSED);
    let r = c.refused(&applicant(), withdraw());
    assert_eq!(reason_of(&r), reason::APPLICATION_CLOSED);
}

#[test]
fn appeal_needs_an_open_window() {
    let c = Case::referred();
    let r = c.refused(&acep(StateDept), appeal(StateDept));
    assert_eq!(reason_of(&r), reason::NO_APPEALABLE_DECISION);
    let mut c = Case::referred();
    c.recommend_alike(Yes);
    c.ok(&officer(), decide(Outcome::Approve));
    let r = c.refused(&acep(StateDept), appeal(StateDept));
    assert_eq!(
        reason_of(&r),
        reason::APPLICATION_CLOSED,
        "a licensing decision is not appealable"
    );
}

#[test]
fn the_due_time_a_state_reason_names_moves_with_the_clock() {
    use crate::workflow::holds::HoldKind;
    let hold = |c: &mut Case| {
        c.ok(
            &officer(),
            Command::PlaceHold {
                kind: HoldKind::ApplicantAgreedDelay,
                reason: "the applicant asked".into(),
            },
        );
        c.advance(days(3));
        let id = c.app.holds.last().unwrap().id;
        c.ok(
            &officer(),
            Command::ReleaseHold {
                hold: id,
                note: "resumed".into(),
            },
        );
    };
    let mut c = Case::referred();
    let referred = c.referral_due();
    hold(&mut c);
    let moved = c.app.agency_due[0].due;
    assert_eq!(moved, referred + days(3));
    assert!(
        c.app.state_reason.contains(&moved.to_rfc3339())
            && !c.app.state_reason.contains(&referred.to_rfc3339()),
        "{}",
        c.app.state_reason
    );

    let mut c = Case::at_oc_window(Outcome::Deny);
    let window = c.app.step_due.unwrap();
    hold(&mut c);
    assert_eq!(c.app.step_due, Some(window + days(3)));
    assert!(
        c.app
            .state_reason
            .ends_with(&format!("until {}", (window + days(3)).to_rfc3339())),
        "{}",
        c.app.state_reason
    );
}
