use super::*;

// ---------------------------------------------------------------------------
// Random states
// ---------------------------------------------------------------------------

pub(crate) const NAMES: [&str; 31] = [
    "CLASSIFICATION_PENDING",
    "NO_LICENSE_REQUIRED",
    "AGENCY_REVIEW",
    "AWAITING_LICENSING_DECISION",
    "OPERATING_COMMITTEE_REVIEW",
    "APPEAL_WINDOW",
    "ACEP_REVIEW",
    "EARB_REVIEW",
    "PRESIDENTIAL_REVIEW",
    "DECIDED",
    "WITHDRAWN",
    "AGENCY",
    "OPERATING_COMMITTEE",
    "ACEP",
    "EARB",
    "PRESIDENT",
    "COMMERCE",
    "STATE",
    "DEFENSE",
    "ENERGY",
    "APPROVE",
    "APPROVE_WITH_CONDITIONS",
    "DENY",
    "DEEMED_NO_OBJECTION",
    "MAJORITY_OF_VOTES_CAST",
    "ApplicationFiled",
    "RecommendationRecorded",
    "Decided",
    "Appealed",
    "DecisionFinal",
    "ReferredToPresident",
];

/// A time as the store would hold it: around the walk's, or far off.
pub(crate) fn time_value(rng: &mut Entropy) -> Value {
    let time = match rng.random_range(0..6) {
        0 => Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
        1 => Utc.with_ymd_and_hms(2999, 12, 31, 23, 59, 59).unwrap(),
        2 => Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap(),
        _ => t0() + chrono::Duration::seconds(rng.random_range(-400 * 86_400..400 * 86_400)),
    };
    serde_json::to_value(time).unwrap()
}

/// The names of the same kind as `name` (states, levels, agencies, ...).
pub(crate) fn family(name: &str) -> &'static [&'static str] {
    let at = NAMES.iter().position(|n| *n == name).unwrap_or(NAMES.len());
    match at {
        0..=10 => &NAMES[0..11],
        11..=15 => &NAMES[11..16],
        16..=19 => &NAMES[16..20],
        20..=24 => &NAMES[20..25],
        25..=30 => &NAMES[25..31],
        _ => &NAMES,
    }
}

pub(crate) fn random_value(rng: &mut Entropy, like: &Value) -> Value {
    match like {
        Value::String(s) if DateTime::parse_from_rfc3339(s).is_ok() && rng.random_bool(0.8) => {
            time_value(rng)
        }
        Value::String(s) => match rng.random_range(0..5) {
            0..=2 => Value::String(pick(rng, family(s)).to_owned()),
            3 => Value::String(text(rng)),
            _ => Value::Null,
        },
        Value::Number(_) => pick(
            rng,
            &[
                json!(0),
                json!(-1),
                json!(1),
                json!(2),
                json!(3),
                json!(i64::MAX),
                json!(i64::MIN),
                json!(u32::MAX),
                json!(1.5),
            ],
        ),
        Value::Bool(b) => Value::Bool(!b),
        Value::Null => match rng.random_range(0..3) {
            0 => time_value(rng),
            1 => Value::String(pick(rng, &NAMES).to_owned()),
            _ => {
                json!({"level": "ACEP", "outcome": "DENY", "conditions": [], "decided_by": "x", "at": time_value(rng), "rationale": "", "final": false})
            }
        },
        Value::Array(_) | Value::Object(_) => Value::Null,
    }
}

/// Changes one random node of `value`.
pub(crate) fn mutate_json(rng: &mut Entropy, value: &mut Value) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = pick(rng, &keys);
            match rng.random_range(0..20) {
                0 => {
                    map.remove(&key);
                }
                1 | 2 if !map[&key].is_object() && !map[&key].is_array() => {
                    let like = map[&key].clone();
                    map.insert(key, random_value(rng, &like));
                }
                _ => mutate_json(rng, map.get_mut(&key).unwrap()),
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.random_range(0..items.len());
            match rng.random_range(0..6) {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let copy = items[i].clone();
                    items.insert(i, copy);
                }
                2 => items.clear(),
                _ => mutate_json(rng, &mut items[i]),
            }
        }
        other => {
            let like = other.clone();
            *other = random_value(rng, &like);
        }
    }
}

pub(crate) fn random_now(rng: &mut Entropy, app: &Application) -> DateTime<Utc> {
    let base = if rng.random_bool(0.5) {
        app.created_at
    } else {
        t0()
    };
    let offset = chrono::Duration::seconds(rng.random_range(-30 * 86_400..400 * 86_400));
    base.checked_add_signed(offset).unwrap_or(base)
}

#[test]
pub(crate) fn workflow_random_states() {
    let actors = actors();
    fuzz_target!("review/workflow_random_states", |rng, tally| {
        // A reachable state and its history...
        let walk = Walk::taken(rng, &actors, tally, 0..60, false);
        // ...bent out of shape.
        let mut state = serde_json::to_value(&walk.app).unwrap();
        for _ in 0..rng.random_range(1..4) {
            mutate_json(rng, &mut state);
        }
        let Ok(mut app) = serde_json::from_value::<Application>(state) else {
            bump(tally, "mutated state does not deserialise");
            return;
        };
        bump(tally, "mutated state");
        for _ in 0..rng.random_range(1..12) {
            let now = random_now(rng, &app);
            let _ = workflow::check_invariants(&app);
            let _ = (
                app.next_due(),
                app.overdue_since(),
                app.awaiting_agencies(),
                app.agency_consensus(),
                app.dissenting_agencies(),
            );
            let rendering = review_svc::convert::Rendering {
                deadlines: walk.workflow.deadlines(),
                now,
            };
            let _ = review_svc::convert::application(&app, &rendering).encode_to_vec();
            match rng.random_range(0..4) {
                0 => {
                    for event in walk.workflow.sweep(&app, now) {
                        app = apply(Some(app), &event);
                    }
                }
                1 => {
                    let (actor, command) = if rng.random_bool(0.6) {
                        fitting(rng, &app)
                    } else {
                        (pick(rng, &actors), random_command(rng, app.item_count))
                    };
                    if let Ok(events) = walk.workflow.handle(&app, &actor, command, now) {
                        bump(tally, "command accepted on a mutated state");
                        for event in events {
                            app = apply(Some(app), &event);
                        }
                    }
                }
                2 if !walk.events.is_empty() => {
                    // An event of the history, itself bent, applied out of order.
                    let mut event = serde_json::to_value(pick(rng, &walk.events)).unwrap();
                    mutate_json(rng, &mut event);
                    if let Ok(event) = serde_json::from_value::<Event>(event) {
                        app = apply(Some(app), &event);
                        let _ = apply(None, &event);
                    }
                }
                _ => {
                    // Arbitrary text as a command and as an event.
                    let bytes: Vec<u8> = match rng.random_range(0..3) {
                        0 => (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
                        1 => {
                            let mut command = serde_json::to_value(random_command(rng, 1)).unwrap();
                            mutate_json(rng, &mut command);
                            command.to_string().into_bytes()
                        }
                        _ => {
                            let event = serde_json::to_vec(&pick(rng, &walk.events)).unwrap();
                            mutate(rng, event)
                        }
                    };
                    if let Ok(command) = serde_json::from_slice::<Command>(&bytes) {
                        let _ = walk
                            .workflow
                            .handle(&app, &pick(rng, &actors), command, now);
                    }
                    if let Ok(event) = serde_json::from_slice::<Event>(&bytes) {
                        app = apply(Some(app), &event);
                    }
                }
            }
        }
        bump(tally, format!("ended in {}", app.state.as_str()));
    });
}
