//! Scenario tests: every transition and every refusal.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 1, 9, 0, 0).unwrap()
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

// ----- actors -----

fn applicant() -> Actor {
    Actor::new("acme", Role::Applicant, None)
}
fn other_applicant() -> Actor {
    Actor::new("globex", Role::Applicant, None)
}
fn reviewer(a: Agency) -> Actor {
    Actor::new(
        format!("reviewer-{}", a.as_str()),
        Role::AgencyReviewer,
        Some(a),
    )
}
/// An Assistant Secretary: Senate-confirmed (750.4(f)(2)).
fn acep(a: Agency) -> Actor {
    Actor::new(format!("acep-{}", a.as_str()), Role::AcepMember, Some(a))
        .with_attributes(true, false)
}
/// The head of the department (750.4(f)(2)-(3)).
fn earb(a: Agency) -> Actor {
    Actor::new(format!("earb-{}", a.as_str()), Role::EarbMember, Some(a))
        .with_attributes(true, true)
}
fn officer() -> Actor {
    Actor::new("officer", Role::LicensingOfficer, None)
}
fn chair() -> Actor {
    Actor::new("oc-chair", Role::OperatingCommitteeChair, None)
}
fn president() -> Actor {
    Actor::new("potus", Role::President, None)
}
fn auditor() -> Actor {
    Actor::new("auditor", Role::Auditor, None)
}
fn system() -> Actor {
    Actor::system()
}

use Agency::{Commerce, Defense, Energy, State as StateDept};

// ----- commands -----

fn item(index: u32, required: bool) -> ItemOutcome {
    ItemOutcome {
        item_index: index,
        license_required: required,
        review_policy: if required {
            "PRESUMPTION_OF_DENIAL".into()
        } else {
            String::new()
        },
        rule_set: "V2026a".into(),
        decision_id: format!("dec-{index}"),
        summary: if required {
            format!("item {index}: 3A090.a.1, licence required")
        } else {
            format!("item {index}: not controlled under 3A090")
        },
        answer: Encoded::new(if required { vec![1] } else { Vec::new() }),
    }
}

fn classify(required: &[bool]) -> Command {
    Command::RecordClassification {
        items: required
            .iter()
            .enumerate()
            .map(|(i, r)| item(i as u32, *r))
            .collect(),
    }
}

fn rec(agency: Agency, recommendation: Recommendation) -> Command {
    let conditions = if recommendation == Recommendation::ApproveWithConditions {
        vec![format!("{} condition", agency.as_str())]
    } else {
        Vec::new()
    };
    Command::RecordRecommendation {
        agency,
        recommendation,
        conditions,
        rationale: format!("{} view", agency.as_str()),
    }
}

fn rec_with(agency: Agency, conditions: &[&str]) -> Command {
    Command::RecordRecommendation {
        agency,
        recommendation: Recommendation::ApproveWithConditions,
        conditions: conditions.iter().map(|c| c.to_string()).collect(),
        rationale: "with conditions".into(),
    }
}

fn decide(outcome: Outcome) -> Command {
    Command::Decide {
        outcome,
        conditions: if outcome == Outcome::ApproveWithConditions {
            vec!["no transfer to military end users".into()]
        } else {
            Vec::new()
        },
        rationale: "considered all recommendations".into(),
    }
}

fn appeal(agency: Agency) -> Command {
    Command::Appeal {
        agency,
        rationale: "we disagree".into(),
    }
}

fn withdraw() -> Command {
    Command::Withdraw {
        reason: "deal cancelled".into(),
    }
}

use Recommendation::{Approve as Yes, ApproveWithConditions as YesIf, Deny as No};

// ----- harness -----

/// An application driven step by step; every step checks the invariants,
/// the version and that replaying the whole history gives the same state.
struct Case {
    wf: Workflow,
    app: Application,
    events: Vec<Event>,
    now: DateTime<Utc>,
}

impl Case {
    fn with(wf: Workflow, items: u32) -> Case {
        let events = wf.file(
            Filing {
                id: "A-1".into(),
                applicant: "acme".into(),
                application: FiledApplication::sample("CN", items),
            },
            t0(),
        );
        let app = Application::replay(&events).unwrap();
        let case = Case {
            wf,
            app,
            events,
            now: t0(),
        };
        case.check();
        case
    }

    fn filed() -> Case {
        Case::with(Workflow::from_embedded(days(1)), 1)
    }

    /// Filed and referred to the agencies one hour after filing.
    fn referred() -> Case {
        let mut c = Case::filed();
        c.advance(Duration::hours(1));
        c.ok(&system(), classify(&[true]));
        c
    }

    fn referral_due(&self) -> DateTime<Utc> {
        t0() + Duration::hours(1) + days(30)
    }

    fn check(&self) {
        assert_eq!(
            self.app.version,
            self.events.len() as i64,
            "version counts events"
        );
        if let Err(e) = check_invariants(&self.app) {
            panic!("invariant violated: {e}\n{:#?}", self.app);
        }
        assert_eq!(Application::replay(&self.events).as_ref(), Some(&self.app));
    }

    fn push(&mut self, events: &[Event]) {
        for e in events {
            self.app = apply(Some(self.app.clone()), e);
            self.events.push(e.clone());
        }
        self.check();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn at(&mut self, t: DateTime<Utc>) {
        self.now = t;
    }

    fn attempt(&self, actor: &Actor, command: Command) -> Result<Vec<Event>, Refusal> {
        self.wf.handle(&self.app, actor, command, self.now)
    }

    fn ok(&mut self, actor: &Actor, command: Command) -> Vec<Event> {
        let events = match self.attempt(actor, command.clone()) {
            Ok(e) => e,
            Err(r) => panic!("{command:?} by {actor:?} refused: {r}"),
        };
        self.push(&events);
        events
    }

    fn refused(&self, actor: &Actor, command: Command) -> Refusal {
        match self.attempt(actor, command.clone()) {
            Ok(e) => panic!("{command:?} by {actor:?} accepted: {e:?}"),
            Err(r) => r,
        }
    }

    fn sweep(&mut self) -> Vec<Event> {
        let events = self.wf.sweep(&self.app, self.now);
        self.push(&events);
        assert!(
            self.wf.sweep(&self.app, self.now).is_empty(),
            "a second sweep at the same instant does nothing"
        );
        events
    }

    fn recommend_all(&mut self, recs: &[(Agency, Recommendation)]) {
        for (agency, r) in recs {
            self.ok(&reviewer(*agency), rec(*agency, *r));
        }
    }

    /// Every agency, in order, recommends `r`.
    fn recommend_alike(&mut self, r: Recommendation) {
        self.recommend_all(&Agency::ALL.map(|agency| (agency, r)));
    }

    fn vote_all(&mut self, actor: fn(Agency) -> Actor, votes: &[(Agency, Recommendation)]) {
        for (agency, r) in votes {
            self.ok(&actor(*agency), rec(*agency, *r));
        }
    }

    fn kinds(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(Event::kind).collect()
    }

    /// Agencies split, OC decides `outcome` 10 days after referral.
    fn at_oc_window(outcome: Outcome) -> Case {
        let mut c = Case::referred();
        c.advance(days(2));
        c.recommend_all(&[
            (Commerce, YesIf),
            (StateDept, No),
            (Defense, No),
            (Energy, Yes),
        ]);
        assert_eq!(c.app.state, State::OperatingCommitteeReview);
        c.advance(days(8));
        c.ok(&chair(), decide(outcome));
        c
    }

    /// OC approved with conditions, State appealed to ACEP.
    fn at_acep() -> Case {
        let mut c = Case::at_oc_window(Outcome::ApproveWithConditions);
        c.advance(days(1));
        c.ok(&acep(StateDept), appeal(StateDept));
        assert_eq!(c.app.state, State::AcepReview);
        c
    }
}

fn reason_of(r: &Refusal) -> &'static str {
    r.reason()
}

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

    // OC chair approves with conditions.
    c.advance(days(8));
    c.ok(&chair(), decide(Outcome::ApproveWithConditions));
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
    let mut c = Case::referred();
    c.recommend_all(&[
        (Commerce, YesIf),
        (StateDept, Yes),
        (Defense, Yes),
        (Energy, Yes),
    ]);
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
    let mut c = Case::referred();
    c.recommend_all(&[
        (Commerce, YesIf),
        (StateDept, Yes),
        (Defense, Yes),
        (Energy, Yes),
    ]);
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
