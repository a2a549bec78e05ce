//! What is stored (stable names, corrupt histories, extreme instants), and the agencies' conditions at the licensing officer.

use super::*;

// ----- serialisation -----

#[test]
fn stored_names_are_stable() {
    let c = Case::at_acep();
    let filed = serde_json::to_value(&c.events[0]).unwrap();
    assert_eq!(filed["type"], "ApplicationFiled");
    assert_eq!(filed["actor"], "acme");
    assert_eq!(filed["at"], "2026-02-01T09:00:00Z");
    assert_eq!(filed["overall_due"], "2026-05-02T09:00:00Z");
    for e in &c.events {
        let v = serde_json::to_value(e).unwrap();
        assert_eq!(v["type"], e.kind());
        assert!(Event::KINDS.contains(&e.kind()));
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(&back, e);
    }
    let decided = c.events.iter().find(|e| e.kind() == "Decided").unwrap();
    let v = serde_json::to_value(decided).unwrap();
    assert_eq!(v["final"], false);
    assert_eq!(v["level"], "OPERATING_COMMITTEE");
    assert_eq!(v["outcome"], "APPROVE_WITH_CONDITIONS");
    let app = serde_json::to_value(&c.app).unwrap();
    assert_eq!(app["state"], "ACEP_REVIEW");
    assert_eq!(app["agency_due"][0]["agency"], "COMMERCE");
    assert_eq!(app["recommendations"][1]["recommendation"], "DENY");
    let back: Application = serde_json::from_value(app).unwrap();
    assert_eq!(back, c.app.without_documents());
    assert_eq!(
        serde_json::to_value(Role::OperatingCommitteeChair).unwrap(),
        "OPERATING_COMMITTEE_CHAIR"
    );
    assert_eq!(
        serde_json::to_value(Recommendation::DeemedNoObjection).unwrap(),
        "DEEMED_NO_OBJECTION"
    );
    for s in State::ALL {
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
}

#[test]
fn apply_is_total_on_a_corrupt_history() {
    let stray = Event::Decided {
        at: t0(),
        actor: "x".into(),
        level: Level::President,
        outcome: Outcome::Deny,
        conditions: vec![],
        rationale: String::new(),
        is_final: true,
        appeal_due: None,
    };
    let app = apply(None, &stray);
    assert_eq!(app.version, 1);
    assert_eq!(app.state, State::Decided);
    let again = apply(
        Some(app),
        &Event::DecisionFinal {
            at: t0(),
            actor: "x".into(),
            level: Level::Acep,
        },
    );
    assert_eq!(again.version, 2);
    let wf = Workflow::from_embedded(days(1));
    assert!(wf.sweep(&again, t0() + days(1000)).is_empty());
}

#[test]
fn refusal_reason_codes() {
    assert_eq!(
        Refusal::invalid("rationale", "x").reason(),
        "RATIONALE_REQUIRED"
    );
    assert_eq!(
        Refusal::invalid("conditions", "x").reason(),
        "CONDITIONS_REQUIRED"
    );
    assert_eq!(Refusal::invalid("items", "x").reason(), "INVALID_FIELD");
    assert_eq!(
        Refusal::denied(reason::WRONG_AGENCY, "x").reason(),
        "WRONG_AGENCY"
    );
    let shown = Refusal::precondition(reason::NOT_DISSENTING, "STATE agreed").to_string();
    assert!(shown.contains("NOT_DISSENTING") && shown.contains("STATE agreed"));
}

#[test]
fn extreme_instants_neither_overflow_nor_panic() {
    let wf = Workflow::from_embedded(days(1));
    let late = DateTime::<Utc>::MAX_UTC - days(1);
    let mut c = Case::with(wf, 1);
    c.events.clear();
    let filed = c.wf.file(
        Filing {
            id: "A-9".into(),
            applicant: "acme".into(),
            application: FiledApplication::sample("CN", 1),
        },
        late,
    );
    c.app = Application::replay(&filed).unwrap();
    c.events = filed;
    c.at(late);
    assert_eq!(c.app.overall_due, DateTime::<Utc>::MAX_UTC, "saturated");
    c.ok(&system(), classify(&[true]));
    c.at(DateTime::<Utc>::MAX_UTC);
    let swept = c.sweep();
    assert!(!swept.is_empty());
    for e in &c.events {
        let back: Event = serde_json::from_str(&serde_json::to_string(e).unwrap()).unwrap();
        assert_eq!(&back, e);
    }
}

// ----- agency conditions at the licensing officer -----

#[test]
fn the_officers_plain_approval_carries_the_agencies_conditions() {
    let mut c = Case::agencies_approve_commerce_with_a_condition();
    assert_eq!(c.app.state, State::AwaitingLicensingDecision);
    let events = c.ok(&officer(), decide(Outcome::Approve));
    assert_eq!(Case::kinds(&events), ["Decided"]);
    let d = c.app.decision.clone().unwrap();
    assert_eq!(c.app.state, State::Decided);
    assert!(d.is_final);
    assert_eq!(
        (d.outcome, d.conditions.as_slice()),
        (
            Outcome::ApproveWithConditions,
            &["COMMERCE condition".to_owned()][..]
        ),
        "Commerce's condition is not dropped"
    );
    assert!(
        d.rationale.contains("considered all recommendations") && d.rationale.contains("COMMERCE"),
        "{}",
        d.rationale
    );
}

#[test]
fn the_officers_conditions_and_every_agencys_are_kept_once_each() {
    let mut c = Case::referred();
    c.ok(
        &reviewer(Commerce),
        rec_with(Commerce, &["a", "no transfer to military end users"]),
    );
    c.ok(&reviewer(StateDept), rec_with(StateDept, &["a", "b"]));
    c.recommend_all(&[(Defense, Yes), (Energy, Yes)]);
    c.ok(&officer(), decide(Outcome::ApproveWithConditions));
    let d = c.app.decision.clone().unwrap();
    assert!(d.is_final);
    assert_eq!(d.outcome, Outcome::ApproveWithConditions);
    assert_eq!(
        d.conditions,
        ["no transfer to military end users", "a", "b"]
    );
    assert!(d.rationale.contains("COMMERCE, STATE"), "{}", d.rationale);
}

#[test]
fn an_approval_that_already_holds_the_conditions_is_unchanged_and_a_denial_carries_none() {
    let mut c = Case::referred();
    c.ok(
        &reviewer(Commerce),
        rec_with(Commerce, &[" no transfer to military end users "]),
    );
    c.recommend_all(&[(StateDept, Yes), (Defense, Yes), (Energy, Yes)]);
    c.ok(&officer(), decide(Outcome::ApproveWithConditions));
    let d = c.app.decision.clone().unwrap();
    assert_eq!(d.conditions, ["no transfer to military end users"]);
    assert_eq!(d.rationale, "considered all recommendations");

    // Against an approving consensus a denial still goes to the OC, with no conditions.
    let mut c = Case::agencies_approve_commerce_with_a_condition();
    c.ok(&officer(), decide(Outcome::Deny));
    assert_eq!(c.app.state, State::OperatingCommitteeReview);
    assert!(c.app.decision_history[0].conditions.is_empty());
}

#[test]
fn a_missing_rationale_is_described_for_what_it_justifies() {
    let c = Case::at_oc_window(Outcome::Approve);
    let r = c.refused(
        &acep(StateDept),
        Command::Appeal {
            agency: StateDept,
            rationale: " ".into(),
        },
    );
    assert_eq!(reason_of(&r), reason::RATIONALE_REQUIRED);
    let Refusal::InvalidArgument { description, .. } = &r else {
        panic!("{r:?}")
    };
    assert!(description.contains("appeal"), "{description}");
    assert!(!description.contains("denial"), "{description}");
    let c = Case::referred();
    let r = c.refused(
        &reviewer(Commerce),
        Command::RecordRecommendation {
            agency: Commerce,
            recommendation: No,
            conditions: Vec::new(),
            rationale: String::new(),
        },
    );
    assert_eq!(reason_of(&r), reason::RATIONALE_REQUIRED);
    assert!(r.to_string().contains("denial must state its basis"), "{r}");
}
