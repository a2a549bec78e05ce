//! Property tests: random actors, commands, time jumps and sweeps. After
//! every step the application satisfies the ladder's invariants, its
//! version counts the events, replaying the whole history gives the same
//! state, and every event survives a JSON round trip.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

fn actors() -> Vec<Actor> {
    let mut all = vec![
        Actor::new("acme", Role::Applicant, None),
        Actor::new("globex", Role::Applicant, None),
        Actor::new("officer", Role::LicensingOfficer, None),
        Actor::new("chair", Role::OperatingCommitteeChair, None),
        Actor::new("potus", Role::President, None),
        Actor::new("auditor", Role::Auditor, None),
        Actor::system(),
        Actor::new("stray", Role::AgencyReviewer, None),
    ];
    for a in Agency::ALL {
        all.push(Actor::new(
            format!("rev-{}", a.as_str()),
            Role::AgencyReviewer,
            Some(a),
        ));
        all.push(
            Actor::new(format!("acep-{}", a.as_str()), Role::AcepMember, Some(a))
                .with_attributes(true, false),
        );
        all.push(
            Actor::new(format!("earb-{}", a.as_str()), Role::EarbMember, Some(a))
                .with_attributes(true, true),
        );
    }
    all.push(Actor::new("acting", Role::AcepMember, Some(Agency::State)));
    all.push(
        Actor::new("deputy", Role::EarbMember, Some(Agency::State)).with_attributes(true, false),
    );
    all
}

#[derive(Debug, Clone)]
enum Step {
    /// Any actor, any command.
    Random {
        actor: usize,
        command: Command,
    },
    /// A command that fits the current state (so that deep states are reached).
    Fitting {
        agency: usize,
        choice: u8,
        blank: bool,
    },
    /// Time passes.
    Advance {
        minutes: u32,
    },
    /// Time jumps to around the next deadline.
    ToNextDue {
        offset_ms: i64,
    },
    Sweep,
}

fn agency() -> impl Strategy<Value = Agency> {
    prop::sample::select(Agency::ALL.to_vec())
}

fn recommendation() -> impl Strategy<Value = Recommendation> {
    prop::sample::select(vec![
        Recommendation::Approve,
        Recommendation::ApproveWithConditions,
        Recommendation::Deny,
        Recommendation::DeemedNoObjection,
    ])
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop::sample::select(vec![
        Outcome::Approve,
        Outcome::ApproveWithConditions,
        Outcome::Deny,
    ])
}

fn text() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["".to_string(), " ".into(), "because".into()])
}

fn conditions() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop::sample::select(vec!["".to_string(), "c1".into(), "c2".into()]),
        0..3,
    )
}

fn item_outcome() -> impl Strategy<Value = ItemOutcome> {
    (0u32..3, any::<bool>()).prop_map(|(i, required)| ItemOutcome {
        item_index: i,
        license_required: required,
        review_policy: "CASE_BY_CASE".into(),
        rule_set: "V2026a".into(),
        decision_id: format!("d{i}"),
        summary: format!("item {i}"),
        answer: Encoded::new(vec![8, i as u8]),
    })
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        prop::collection::vec(item_outcome(), 0..3)
            .prop_map(|items| Command::RecordClassification { items }),
        (agency(), recommendation(), conditions(), text()).prop_map(
            |(agency, recommendation, conditions, rationale)| Command::RecordRecommendation {
                agency,
                recommendation,
                conditions,
                rationale
            }
        ),
        (outcome(), conditions(), text()).prop_map(|(outcome, conditions, rationale)| {
            Command::Decide {
                outcome,
                conditions,
                rationale,
            }
        }),
        (agency(), text()).prop_map(|(agency, rationale)| Command::Appeal { agency, rationale }),
        text().prop_map(|reason| Command::Withdraw { reason }),
        (agency(), text())
            .prop_map(|(agency, missing)| Command::RequestInformation { agency, missing }),
        (prop::option::of(0u32..4), text(), conditions()).prop_map(|(hold, answer, documents)| {
            Command::ProvideInformation {
                hold,
                answer,
                documents,
            }
        }),
        (prop::sample::select(HoldKind::ALL.to_vec()), text())
            .prop_map(|(kind, reason)| Command::PlaceHold { kind, reason }),
        (0u32..4, text()).prop_map(|(hold, note)| Command::ReleaseHold { hold, note }),
        text().prop_map(|reason| Command::Return { reason }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0usize..20, command()).prop_map(|(actor, command)| Step::Random { actor, command }),
        6 => (0usize..4, any::<u8>(), prop::bool::weighted(0.1))
            .prop_map(|(agency, choice, blank)| Step::Fitting { agency, choice, blank }),
        2 => prop_oneof![
            4 => 0u32..(24 * 60),
            4 => 0u32..(4 * 24 * 60),
            1 => 0u32..(40 * 24 * 60),
        ]
        .prop_map(|minutes| Step::Advance { minutes }),
        2 => (-1i64..=1).prop_map(|offset_ms| Step::ToNextDue { offset_ms }),
        2 => Just(Step::Sweep),
    ]
}

/// A command that suits the state, by the actor that may send it (mostly).
fn fitting(app: &Application, agency_ix: usize, choice: u8, blank: bool) -> (Actor, Command) {
    let agency = Agency::ALL[agency_ix % 4];
    let rationale = if blank { String::new() } else { "basis".into() };
    let outcome = [
        Outcome::Approve,
        Outcome::ApproveWithConditions,
        Outcome::Deny,
    ][choice as usize % 3];
    let with_conditions = |o: Outcome| {
        if o == Outcome::ApproveWithConditions {
            vec![format!("condition {}", choice % 2)]
        } else {
            Vec::new()
        }
    };
    if choice.is_multiple_of(23) {
        return (
            Actor::new("acme", Role::Applicant, None),
            Command::Withdraw { reason: rationale },
        );
    }
    if choice == u8::MAX {
        return (
            Actor::new("officer", Role::LicensingOfficer, None),
            Command::Return { reason: rationale },
        );
    }
    if choice % 9 == 1 {
        return fitting_hold(app, agency, choice, rationale);
    }
    match app.state {
        State::ClassificationPending => {
            let items = (0..2)
                .map(|i| ItemOutcome {
                    item_index: i,
                    license_required: !choice.is_multiple_of(5)
                        && (i == 1 || choice.is_multiple_of(2)),
                    review_policy: "PRESUMPTION_OF_DENIAL".into(),
                    rule_set: "V2026a".into(),
                    decision_id: format!("d{i}"),
                    summary: format!("item {i}"),
                    answer: Encoded::new(vec![1, 2, 3]),
                })
                .collect();
            (Actor::system(), Command::RecordClassification { items })
        }
        State::AgencyReview | State::AcepReview | State::EarbReview => {
            let role = app
                .level
                .and_then(Level::agency_role)
                .unwrap_or(Role::AgencyReviewer);
            let recommendation = [
                Recommendation::Approve,
                Recommendation::ApproveWithConditions,
                Recommendation::Deny,
            ][choice as usize % 3];
            (
                Actor::new(format!("member-{}", agency.as_str()), role, Some(agency)),
                Command::RecordRecommendation {
                    agency,
                    recommendation,
                    conditions: with_conditions(outcome),
                    rationale,
                },
            )
        }
        State::AwaitingLicensingDecision
        | State::OperatingCommitteeReview
        | State::PresidentialReview => {
            let (_, role) = app.state.decider().expect("a decision is awaited");
            (
                Actor::new("decider", role, None),
                Command::Decide {
                    outcome,
                    conditions: with_conditions(outcome),
                    rationale,
                },
            )
        }
        State::AppealWindow => {
            let dissenting = app.dissenting_agencies();
            let agency = if dissenting.is_empty() || choice.is_multiple_of(7) {
                agency
            } else {
                dissenting[choice as usize % dissenting.len()]
            };
            let role = app
                .decision
                .as_ref()
                .and_then(|d| d.level.appellant())
                .map_or(Role::AgencyReviewer, |(role, _)| role);
            let standing = !choice.is_multiple_of(5);
            (
                Actor::new(format!("member-{}", agency.as_str()), role, Some(agency))
                    .with_attributes(standing, standing),
                Command::Appeal { agency, rationale },
            )
        }
        State::NoLicenseRequired
        | State::Decided
        | State::Withdrawn
        | State::ReturnedWithoutAction => (
            Actor::new("acme", Role::Applicant, None),
            Command::Withdraw { reason: rationale },
        ),
    }
}

/// Hold traffic: the applicant answers an open request, the officer
/// releases an open hold, a reviewer asks for information, or the officer
/// places a hold of some kind.
fn fitting_hold(app: &Application, agency: Agency, choice: u8, reason: String) -> (Actor, Command) {
    let officer = Actor::new("officer", Role::LicensingOfficer, None);
    if let Some(open) = app.open_holds().nth(usize::from(choice / 9) % 2) {
        return if open.kind == HoldKind::MissingInformation {
            (
                Actor::new("acme", Role::Applicant, None),
                Command::ProvideInformation {
                    hold: choice.is_multiple_of(2).then_some(open.id),
                    answer: reason,
                    documents: vec!["doc-1".into()],
                },
            )
        } else {
            (
                officer,
                Command::ReleaseHold {
                    hold: open.id,
                    note: String::new(),
                },
            )
        };
    }
    if app.state == State::AgencyReview && choice.is_multiple_of(2) {
        return (
            Actor::new(
                format!("member-{}", agency.as_str()),
                Role::AgencyReviewer,
                Some(agency),
            ),
            Command::RequestInformation {
                agency,
                missing: reason,
            },
        );
    }
    let kind = HoldKind::ALL[usize::from(choice) % HoldKind::ALL.len()];
    (officer, Command::PlaceHold { kind, reason })
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

struct Run {
    wf: Workflow,
    app: Application,
    events: Vec<Event>,
    now: DateTime<Utc>,
    states_seen: std::collections::BTreeSet<State>,
}

impl Run {
    fn new() -> Run {
        let wf = Workflow::from_embedded(Duration::days(1));
        let events = wf.file(
            Filing {
                id: "P-1".into(),
                applicant: "acme".into(),
                application: FiledApplication::sample("CN", 2),
            },
            t0(),
        );
        let app = Application::replay(&events).unwrap();
        Run {
            wf,
            app,
            events,
            now: t0(),
            states_seen: Default::default(),
        }
    }

    fn accept(&mut self, events: Vec<Event>) -> Result<(), TestCaseError> {
        for e in events {
            let json = serde_json::to_string(&e).unwrap();
            let back: Event = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &e, "JSON round trip");
            prop_assert_eq!(serde_json::to_string(&back).unwrap(), json, "stable bytes");
            prop_assert!(
                e.at() == self.now,
                "events are recorded at the current instant"
            );
            let before = self.app.clone();
            self.app = apply(Some(self.app.clone()), &e);
            clock_moves_exactly_by_the_time_stopped(&before, &self.app, &e)?;
            self.events.push(e);
        }
        Ok(())
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        self.states_seen.insert(self.app.state);
        if let Err(e) = check_invariants(&self.app) {
            return Err(TestCaseError::fail(format!("{e}\n{:#?}", self.app)));
        }
        prop_assert_eq!(self.app.version, self.events.len() as i64);
        let replayed = Application::replay(&self.events);
        prop_assert_eq!(replayed.as_ref(), Some(&self.app));
        let snapshot: Application =
            serde_json::from_str(&serde_json::to_string(&self.app).unwrap()).unwrap();
        prop_assert_eq!(&snapshot, &self.app.without_documents());
        for w in self.events.windows(2) {
            prop_assert!(w[0].at() <= w[1].at(), "history is in time order");
        }
        for a in self.app.awaiting_agencies() {
            prop_assert!(self
                .app
                .agency_due
                .iter()
                .any(|d| d.agency == a && !d.answered));
        }
        if let (Some(next), Some(over)) = (self.app.next_due(), self.app.overdue_since()) {
            prop_assert!(over >= self.app.created_at && next >= self.app.created_at);
        }
        Ok(())
    }

    fn handle(&mut self, actor: &Actor, command: Command) -> Result<(), TestCaseError> {
        let before = self.app.clone();
        let role_may = permissions::roles_for(&command).contains(&actor.role);
        match self.wf.handle(&self.app, actor, command, self.now) {
            Ok(events) => {
                prop_assert!(!events.is_empty());
                prop_assert!(
                    !before.is_closed(),
                    "a closed application accepted a command"
                );
                prop_assert!(
                    before.next_due().is_none_or(|d| d > self.now),
                    "a command was accepted over an unswept deadline"
                );
                prop_assert_eq!(events[0].actor(), actor.id.as_str());
                self.accept(events)?;
            }
            Err(refusal) => {
                let code = refusal.reason();
                prop_assert!(!code.is_empty());
                prop_assert!(code.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
                let denied = matches!(refusal, Refusal::PermissionDenied { .. });
                if before.is_closed() {
                    let closed = matches!(
                        refusal,
                        Refusal::FailedPrecondition {
                            reason: "APPLICATION_CLOSED" | "APPEAL_WINDOW_CLOSED",
                            ..
                        }
                    );
                    prop_assert!(denied || closed, "closed application refused with {}", code);
                }
                if !role_may {
                    prop_assert!(denied, "role refused with {}", code);
                }
            }
        }
        Ok(())
    }

    fn step(&mut self, step: Step, actors: &[Actor]) -> Result<(), TestCaseError> {
        match step {
            Step::Random { actor, command } => {
                let actor = actors[actor % actors.len()].clone();
                self.handle(&actor, command)?;
            }
            Step::Fitting {
                agency,
                choice,
                blank,
            } => {
                let (actor, command) = fitting(&self.app, agency, choice, blank);
                self.handle(&actor, command)?;
            }
            Step::Advance { minutes } => {
                self.now += Duration::minutes(i64::from(minutes));
            }
            Step::ToNextDue { offset_ms } => {
                if let Some(due) = self.app.next_due() {
                    let target = due + Duration::milliseconds(offset_ms);
                    if target > self.now {
                        self.now = target;
                    }
                }
            }
            Step::Sweep => {
                let events = self.wf.sweep(&self.app, self.now);
                if self.app.is_on_hold() {
                    prop_assert!(
                        events
                            .iter()
                            .all(|e| matches!(e, Event::ReturnedWithoutAction { .. })),
                        "no deadline of the review passes while a hold is open: {:?}",
                        events
                    );
                }
                if let Some(due) = self.app.next_due() {
                    prop_assert_eq!(
                        events.is_empty(),
                        due > self.now,
                        "sweep acts exactly when due"
                    );
                } else {
                    prop_assert!(events.is_empty());
                }
                prop_assert!(events.iter().all(|e| e.actor() == SYSTEM_ACTOR));
                self.accept(events)?;
                prop_assert!(self.wf.sweep(&self.app, self.now).is_empty(), "idempotent");
                prop_assert!(self.app.next_due().is_none_or(|d| d > self.now));
            }
        }
        self.check()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_keep_the_ladder(steps in prop::collection::vec(step(), 1..80)) {
        let actors = actors();
        let mut run = Run::new();
        run.check()?;
        for s in steps {
            run.step(s, &actors)?;
        }
    }
}

/// While a hold is open the review's deadlines stand still; when the last
/// one is released every deadline moves by exactly the time it stood still,
/// and that time is added to the total.
fn clock_moves_exactly_by_the_time_stopped(
    before: &Application,
    after: &Application,
    event: &Event,
) -> Result<(), TestCaseError> {
    let deadlines = |app: &Application| {
        (
            app.step_due,
            app.overall_due,
            app.information_due,
            app.agency_due.iter().map(|d| d.due).collect::<Vec<_>>(),
        )
    };
    let (Some(since), false) = (before.clock.since, after.is_closed()) else {
        return Ok(());
    };
    match after.clock.since {
        Some(still) => {
            prop_assert_eq!(still, since, "the clock stopped once, at the first hold");
            if matches!(
                event,
                Event::HoldPlaced { .. }
                    | Event::InformationRequested { .. }
                    | Event::InformationProvided { .. }
                    | Event::HoldReleased { .. }
            ) {
                prop_assert_eq!(
                    deadlines(after),
                    deadlines(before),
                    "nothing moves while a hold is open"
                );
            }
        }
        None => {
            let stopped = event.at() - since;
            let moved = |t: DateTime<Utc>| t + stopped;
            let (step, overall, information, agencies) = deadlines(before);
            prop_assert_eq!(
                deadlines(after),
                (
                    step.map(moved),
                    moved(overall),
                    information.map(moved),
                    agencies.into_iter().map(moved).collect::<Vec<_>>()
                ),
                "every deadline moves by the time stopped"
            );
            prop_assert_eq!(
                after.clock.stopped_ms - before.clock.stopped_ms,
                stopped.num_milliseconds()
            );
        }
    }
    Ok(())
}

/// The generator reaches every state (a guard against a property test that
/// silently explores only the first rungs).
#[test]
fn random_histories_reach_every_state() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec(step(), 60..120);
    let actors = actors();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..400 {
        let steps = strategy.new_tree(&mut runner).unwrap().current();
        let mut run = Run::new();
        for s in steps {
            run.step(s, &actors).unwrap();
        }
        seen.extend(run.states_seen);
        if seen.len() == State::ALL.len() {
            break;
        }
    }
    let missing: Vec<_> = State::ALL.iter().filter(|s| !seen.contains(s)).collect();
    assert!(missing.is_empty(), "never reached: {missing:?}");
}
