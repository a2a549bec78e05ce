//! Scenario tests: every transition and every refusal.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;

mod closing;
mod filing;
mod records;
mod refusals;
mod review;
mod votes;

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

fn decide_with(conditions: &[&str]) -> Command {
    Command::Decide {
        outcome: Outcome::ApproveWithConditions,
        conditions: conditions.iter().map(|c| c.to_string()).collect(),
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

    /// Referred, and every agency has recommended approval, Commerce's
    /// with a condition ("COMMERCE condition"): the licensing officer
    /// decides.
    fn agencies_approve_commerce_with_a_condition() -> Case {
        let mut c = Case::referred();
        c.recommend_all(&[
            (Commerce, YesIf),
            (StateDept, Yes),
            (Defense, Yes),
            (Energy, Yes),
        ]);
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
        Case::oc_decided_by(decide(outcome))
    }

    /// Agencies split (Commerce approving on its condition), OC decides
    /// with `decision` 10 days after referral.
    fn oc_decided_by(decision: Command) -> Case {
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
        c.ok(&chair(), decision);
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
