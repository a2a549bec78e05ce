use super::*;

// ---------------------------------------------------------------------------
// Generators: workflow
// ---------------------------------------------------------------------------

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

pub(crate) fn actors() -> Vec<Actor> {
    let mut all = vec![
        Actor::new("exporter-1", Role::Applicant, None),
        Actor::new("exporter-2", Role::Applicant, None),
        Actor::new("officer", Role::LicensingOfficer, None),
        Actor::new("chair", Role::OperatingCommitteeChair, None),
        Actor::new("president", Role::President, None),
        Actor::new("auditor", Role::Auditor, None),
        Actor::system(),
        Actor::new("no-agency", Role::AgencyReviewer, None),
        Actor::new("", Role::Applicant, None),
    ];
    for agency in Agency::ALL {
        for role in [Role::AgencyReviewer, Role::AcepMember, Role::EarbMember] {
            all.push(Actor::new(
                format!("{}-{}", role.as_str(), agency.as_str()),
                role,
                Some(agency),
            ));
        }
        all.push(Actor::new("odd", Role::President, Some(agency)));
    }
    all
}

/// The classifier's answers for `count` items (a mutated state may claim
/// billions: at most 8 are made).
pub(crate) fn items(rng: &mut Entropy, count: u32) -> Vec<ItemOutcome> {
    let n = if rng.random_bool(0.9) {
        count.min(8)
    } else {
        rng.random_range(0..4)
    };
    (0..n)
        .map(|i| ItemOutcome {
            item_index: if rng.random_bool(0.95) {
                i
            } else {
                pick(rng, &[i, 0, 7, u32::MAX])
            },
            license_required: rng.random_bool(0.8),
            review_policy: pick(rng, &["PRESUMPTION_OF_DENIAL", "CASE_BY_CASE", ""]).into(),
            rule_set: "V2026a".into(),
            decision_id: format!("d{i}"),
            summary: format!("item {i}"),
            answer: review_svc::workflow::Encoded::new(vec![0x0a, 0x04, b'H', b'2', b'0', b'0']),
        })
        .collect()
}

/// The outcomes a decision may have.
const OUTCOMES: [Outcome; 3] = [
    Outcome::Approve,
    Outcome::ApproveWithConditions,
    Outcome::Deny,
];

pub(crate) fn random_command(rng: &mut Entropy, item_count: u32) -> Command {
    let agency = pick(rng, &Agency::ALL);
    let recommendation = pick(
        rng,
        &[
            Recommendation::Approve,
            Recommendation::ApproveWithConditions,
            Recommendation::Deny,
            Recommendation::DeemedNoObjection,
        ],
    );
    let outcome = pick(rng, &OUTCOMES);
    match rng.random_range(0..5) {
        0 => Command::RecordClassification {
            items: items(rng, item_count),
        },
        1 => Command::RecordRecommendation {
            agency,
            recommendation,
            conditions: conditions(rng),
            rationale: text(rng),
        },
        2 => Command::Decide {
            outcome,
            conditions: conditions(rng),
            rationale: text(rng),
        },
        3 => Command::Appeal {
            agency,
            rationale: text(rng),
        },
        _ => Command::Withdraw { reason: text(rng) },
    }
}

/// A command that suits the state, by an actor who may send it (mostly).
pub(crate) fn fitting(rng: &mut Entropy, app: &Application) -> (Actor, Command) {
    let agency = pick(rng, &Agency::ALL);
    let outcome = pick(rng, &OUTCOMES);
    let with_conditions = |o: Outcome| {
        if o == Outcome::ApproveWithConditions {
            vec!["No transfer to military end users".to_owned()]
        } else {
            Vec::new()
        }
    };
    if rng.random_bool(0.03) {
        return (
            Actor::new(app.applicant.clone(), Role::Applicant, None),
            Command::Withdraw {
                reason: "no longer needed".into(),
            },
        );
    }
    match app.state {
        State::ClassificationPending => (
            Actor::system(),
            Command::RecordClassification {
                items: items(rng, app.item_count),
            },
        ),
        State::AgencyReview | State::AcepReview | State::EarbReview => {
            let role = app
                .level
                .and_then(Level::agency_role)
                .unwrap_or(Role::AgencyReviewer);
            let recommendation = pick(
                rng,
                &[
                    Recommendation::Approve,
                    Recommendation::ApproveWithConditions,
                    Recommendation::Deny,
                ],
            );
            let conditions = if recommendation == Recommendation::ApproveWithConditions {
                with_conditions(Outcome::ApproveWithConditions)
            } else {
                Vec::new()
            };
            (
                Actor::new(format!("member-{}", agency.as_str()), role, Some(agency)),
                Command::RecordRecommendation {
                    agency,
                    recommendation,
                    conditions,
                    rationale: "basis".into(),
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
                    rationale: "on the record".into(),
                },
            )
        }
        State::AppealWindow => {
            let dissenting = app.dissenting_agencies();
            let agency = if dissenting.is_empty() {
                agency
            } else {
                pick(rng, &dissenting)
            };
            let role = app
                .decision
                .as_ref()
                .and_then(|d| d.level.appellant())
                .map_or(Role::AgencyReviewer, |(role, _)| role);
            (
                Actor::new(format!("member-{}", agency.as_str()), role, Some(agency))
                    .with_attributes(true, true),
                Command::Appeal {
                    agency,
                    rationale: "national security".into(),
                },
            )
        }
        State::NoLicenseRequired
        | State::Decided
        | State::Withdrawn
        | State::ReturnedWithoutAction => (
            Actor::new(app.applicant.clone(), Role::Applicant, None),
            Command::Withdraw {
                reason: "late".into(),
            },
        ),
    }
}

pub(crate) fn workflow(rng: &mut Entropy) -> Workflow {
    let day = pick(rng, &[1, 20, 1_000, 86_400_000]);
    Workflow::from_embedded(chrono::Duration::milliseconds(day))
}

pub(crate) fn filing(rng: &mut Entropy) -> Filing {
    Filing {
        id: uuid::Uuid::from_u128(rng.random()).to_string(),
        applicant: "exporter-1".into(),
        application: Arc::new(review_svc::workflow::FiledApplication {
            items: (0..pick(rng, &[1, 1, 2, 3, 0]))
                .map(|_| review_svc::workflow::FiledItem {
                    chip: review_svc::workflow::Chip::Catalog("H200".into()),
                    quantity: 5,
                    unit_value_usd_cents: 100,
                })
                .collect(),
            route: review_svc::workflow::Route {
                destination_country: pick(rng, &["CN", "DE", "SA"]).into(),
                ..Default::default()
            },
            ..Default::default()
        }),
    }
}

/// A random walk through the ladder; with `check`, the properties after every step.
pub(crate) struct Walk {
    pub(crate) workflow: Workflow,
    pub(crate) app: Application,
    pub(crate) events: Vec<Event>,
    pub(crate) now: DateTime<Utc>,
}

impl Walk {
    pub(crate) fn new(rng: &mut Entropy) -> Walk {
        let workflow = workflow(rng);
        let now = t0();
        let events = workflow.file(filing(rng), now);
        let app = Application::replay(&events).expect("filing gives an application");
        Walk {
            workflow,
            app,
            events,
            now,
        }
    }

    fn day_ms(&self) -> i64 {
        self.workflow
            .deadlines()
            .day_length()
            .num_milliseconds()
            .max(1)
    }

    /// A walk of up to `steps` random steps (see `step`).
    pub(crate) fn taken(
        rng: &mut Entropy,
        actors: &[Actor],
        tally: &mut Tally,
        steps: std::ops::Range<usize>,
        check: bool,
    ) -> Walk {
        let mut walk = Walk::new(rng);
        for _ in 0..rng.random_range(steps) {
            walk.step(rng, actors, tally, check);
        }
        walk
    }

    pub(crate) fn step(
        &mut self,
        rng: &mut Entropy,
        actors: &[Actor],
        tally: &mut Tally,
        check: bool,
    ) {
        let day = self.day_ms();
        match rng.random_range(0..10) {
            0..=4 => {
                let (actor, command) = if rng.random_bool(0.75) {
                    fitting(rng, &self.app)
                } else {
                    (pick(rng, actors), random_command(rng, self.app.item_count))
                };
                let name = command.name();
                match self.workflow.handle(&self.app, &actor, command, self.now) {
                    Ok(events) => {
                        bump(tally, format!("{name} accepted"));
                        self.extend(events, check);
                    }
                    Err(refusal) => bump(tally, format!("refused {}", refusal.reason())),
                }
            }
            5 | 6 => {
                let span = day * pick(rng, &[1, 5, 40]);
                self.now += chrono::Duration::milliseconds(rng.random_range(0..span));
            }
            7 => {
                if let Some(due) = self.app.next_due() {
                    self.now = self
                        .now
                        .max(due + chrono::Duration::milliseconds(rng.random_range(-1..=1)));
                }
            }
            _ => {
                let events = self.workflow.sweep(&self.app, self.now);
                if !events.is_empty() {
                    bump(tally, "sweep applied deadlines");
                }
                self.extend(events, check);
                if check {
                    assert!(
                        self.workflow.sweep(&self.app, self.now).is_empty(),
                        "a second sweep at the same time found more to do: {:#?}",
                        self.app
                    );
                }
            }
        }
    }

    fn extend(&mut self, events: Vec<Event>, check: bool) {
        for event in &events {
            self.app = apply(Some(self.app.clone()), event);
            if check {
                let json = serde_json::to_string(event).expect("an event serialises");
                let back: Event = serde_json::from_str(&json).expect("an event deserialises");
                assert_eq!(&back, event, "JSON round trip changed {json}");
            }
        }
        self.events.extend(events);
        if check {
            if let Err(broken) = workflow::check_invariants(&self.app) {
                panic!(
                    "invariant broken: {broken}\n{:#?}\n{:#?}",
                    self.app, self.events
                );
            }
            assert_eq!(
                self.app.version,
                self.events.len() as i64,
                "the version does not count the events"
            );
            let replayed = Application::replay(&self.events).expect("a history replays");
            assert_eq!(
                replayed, self.app,
                "replaying the history gives another state"
            );
        }
    }
}

#[test]
pub(crate) fn workflow_sequences() {
    let actors = actors();
    fuzz_target!("review/workflow_sequences", |rng, tally| {
        let walk = Walk::taken(rng, &actors, tally, 1..80, true);
        bump(tally, format!("ended in {}", walk.app.state.as_str()));
    });
}
