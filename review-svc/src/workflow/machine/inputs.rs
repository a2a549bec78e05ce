//! What a command's input must satisfy, and what the workflow adds to it.

use crate::workflow::command::Refusal;
use crate::workflow::model::{has_condition, Application, Direction, ItemOutcome, Level, Outcome};

/// A required text: refused on `field` when blank.
pub(super) fn nonblank(field: &'static str, value: &str, what: &str) -> Result<(), Refusal> {
    if value.trim().is_empty() {
        Err(Refusal::invalid(field, format!("required: {what}")))
    } else {
        Ok(())
    }
}

pub(super) fn validate_items(app: &Application, items: &[ItemOutcome]) -> Result<(), Refusal> {
    if items.is_empty() {
        return Err(Refusal::invalid(
            "items",
            "at least one item outcome is required",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for item in items {
        if app.item_count > 0 && item.item_index >= app.item_count {
            return Err(Refusal::invalid(
                "items",
                format!(
                    "item_index {} is out of range (the application has {} items)",
                    item.item_index, app.item_count
                ),
            ));
        }
        if !seen.insert(item.item_index) {
            return Err(Refusal::invalid(
                "items",
                format!("item_index {} appears twice", item.item_index),
            ));
        }
    }
    let count = u32::try_from(seen.len()).unwrap_or(u32::MAX);
    if app.item_count > 0 && count != app.item_count {
        return Err(Refusal::invalid(
            "items",
            format!(
                "every item must be classified: {} of {} given",
                count, app.item_count
            ),
        ));
    }
    Ok(())
}

/// APPROVE_WITH_CONDITIONS needs non-blank conditions; the other outcomes
/// take none (reported on `kind_field`, the recommendation or the outcome).
pub(super) fn validate_conditions(
    kind_field: &'static str,
    outcome: Outcome,
    conditions: &[String],
) -> Result<(), Refusal> {
    match outcome {
        Outcome::ApproveWithConditions => {
            if conditions.is_empty() {
                return Err(Refusal::invalid(
                    "conditions",
                    "APPROVE_WITH_CONDITIONS needs at least one condition",
                ));
            }
            if let Some(i) = conditions.iter().position(|c| c.trim().is_empty()) {
                return Err(Refusal::invalid(
                    "conditions",
                    format!("condition {i} is blank"),
                ));
            }
            Ok(())
        }
        Outcome::Approve | Outcome::Deny if !conditions.is_empty() => Err(Refusal::invalid(
            kind_field,
            format!(
                "{} takes no conditions; use APPROVE_WITH_CONDITIONS",
                outcome.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

/// A rationale is required of every recommendation, decision (`Some`
/// outcome) and appeal (`None`); the description says why for each.
pub(super) fn validate_rationale(rationale: &str, outcome: Option<Outcome>) -> Result<(), Refusal> {
    if !rationale.trim().is_empty() {
        return Ok(());
    }
    Err(Refusal::invalid(
        "rationale",
        match outcome {
            Some(Outcome::Deny) => "a rationale is required: a denial must state its basis",
            Some(_) => "a rationale is required: state the basis of the approval",
            None => "a rationale is required: an appeal must state its grounds",
        },
    ))
}

/// The licensing officer decides within the agencies' consensus, and an
/// approval the agencies agreed to on conditions is an approval on those
/// conditions: every condition an agency recommended at the agency level
/// that the officer's approval leaves out is added to it (the outcome
/// becomes APPROVE_WITH_CONDITIONS), and the rationale says whose they are.
/// Dropping an agency's conditions is a disagreement with that agency, and
/// disagreements are the Operating Committee's to settle, not the
/// officer's (GAO-25-107431: conditions dropped without consulting the
/// agency). A denial carries none.
pub(super) fn carry_agency_conditions(
    app: &Application,
    outcome: Outcome,
    mut conditions: Vec<String>,
    mut rationale: String,
) -> (Outcome, Vec<String>, String) {
    if outcome.direction() != Direction::Approve {
        return (outcome, conditions, rationale);
    }
    let mut carried_from: Vec<&'static str> = Vec::new();
    for recommendation in app.recommendations_at(Level::Agency) {
        for condition in &recommendation.conditions {
            if !has_condition(&conditions, condition) {
                conditions.push(condition.clone());
                if !carried_from.contains(&recommendation.agency.as_str()) {
                    carried_from.push(recommendation.agency.as_str());
                }
            }
        }
    }
    if carried_from.is_empty() {
        return (outcome, conditions, rationale);
    }
    rationale.push_str(&format!(
        " [conditions recommended by {} carried into the decision]",
        carried_from.join(", ")
    ));
    (Outcome::ApproveWithConditions, conditions, rationale)
}
