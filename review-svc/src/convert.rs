//! Proto <-> domain conversion for review-svc: enums both ways, the stored
//! application rendered as the `Application` resource, and what applicants
//! filed kept as JSON inside the audited events.

use chrono::{DateTime, Utc};
use exportcontrol_proto::classifier::v1 as classifier_pb;
use exportcontrol_proto::review::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::workflow::{self, Agency, Level, Outcome, Recommendation, State};

/// What the applicant filed, as stored in the `ApplicationFiled` event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FiledContent {
    pub items: Vec<pb::LineItem>,
    pub transaction: pb::ExportTransaction,
}

pub const NAME_PREFIX: &str = "applications/";

pub fn resource_name(id: &str) -> String {
    format!("{NAME_PREFIX}{id}")
}

pub fn etag(version: i64) -> String {
    format!("v{version}")
}

/// The version an etag names; None when it is not one of ours.
pub fn parse_etag(etag: &str) -> Option<i64> {
    etag.trim_matches('"')
        .strip_prefix('v')?
        .parse()
        .ok()
        .filter(|v| *v > 0)
}

pub fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

pub fn state(state: State) -> pb::State {
    match state {
        State::ClassificationPending => pb::State::ClassificationPending,
        State::NoLicenseRequired => pb::State::NoLicenseRequired,
        State::AgencyReview => pb::State::AgencyReview,
        State::AwaitingLicensingDecision => pb::State::AwaitingLicensingDecision,
        State::OperatingCommitteeReview => pb::State::OperatingCommitteeReview,
        State::AppealWindow => pb::State::AppealWindow,
        State::AcepReview => pb::State::AcepReview,
        State::EarbReview => pb::State::EarbReview,
        State::PresidentialReview => pb::State::PresidentialReview,
        State::Decided => pb::State::Decided,
        State::Withdrawn => pb::State::Withdrawn,
    }
}

pub fn state_from(value: pb::State) -> Option<State> {
    State::ALL.into_iter().find(|s| state(*s) == value)
}

pub fn level(level: Level) -> pb::ReviewLevel {
    match level {
        Level::Agency => pb::ReviewLevel::Agency,
        Level::OperatingCommittee => pb::ReviewLevel::OperatingCommittee,
        Level::Acep => pb::ReviewLevel::Acep,
        Level::Earb => pb::ReviewLevel::Earb,
        Level::President => pb::ReviewLevel::President,
    }
}

pub fn level_from(value: pb::ReviewLevel) -> Option<Level> {
    [
        Level::Agency,
        Level::OperatingCommittee,
        Level::Acep,
        Level::Earb,
        Level::President,
    ]
    .into_iter()
    .find(|l| level(*l) == value)
}

pub fn agency(agency: Agency) -> pb::Agency {
    match agency {
        Agency::Commerce => pb::Agency::Commerce,
        Agency::State => pb::Agency::State,
        Agency::Defense => pb::Agency::Defense,
        Agency::Energy => pb::Agency::Energy,
    }
}

pub fn agency_from(value: pb::Agency) -> Option<Agency> {
    [
        Agency::Commerce,
        Agency::State,
        Agency::Defense,
        Agency::Energy,
    ]
    .into_iter()
    .find(|a| agency(*a) == value)
}

pub fn recommendation(value: Recommendation) -> pb::Recommendation {
    match value {
        Recommendation::Approve => pb::Recommendation::Approve,
        Recommendation::ApproveWithConditions => pb::Recommendation::ApproveWithConditions,
        Recommendation::Deny => pb::Recommendation::Deny,
        Recommendation::DeemedNoObjection => pb::Recommendation::DeemedNoObjection,
    }
}

pub fn recommendation_from(value: pb::Recommendation) -> Option<Recommendation> {
    [
        Recommendation::Approve,
        Recommendation::ApproveWithConditions,
        Recommendation::Deny,
        Recommendation::DeemedNoObjection,
    ]
    .into_iter()
    .find(|r| recommendation(*r) == value)
}

pub fn outcome(value: Outcome) -> pb::Outcome {
    match value {
        Outcome::Approve => pb::Outcome::Approve,
        Outcome::ApproveWithConditions => pb::Outcome::ApproveWithConditions,
        Outcome::Deny => pb::Outcome::Deny,
    }
}

pub fn outcome_from(value: pb::Outcome) -> Option<Outcome> {
    [
        Outcome::Approve,
        Outcome::ApproveWithConditions,
        Outcome::Deny,
    ]
    .into_iter()
    .find(|o| outcome(*o) == value)
}

fn decision(decision: &workflow::Decision) -> pb::Decision {
    pb::Decision {
        outcome: outcome(decision.outcome) as i32,
        conditions: decision.conditions.clone(),
        level: level(decision.level) as i32,
        decided_by: decision.decided_by.clone(),
        decide_time: Some(timestamp(decision.at)),
        rationale: decision.rationale.clone(),
        r#final: decision.is_final,
    }
}

/// The resource as clients see it.
pub fn application(app: &workflow::Application) -> pb::Application {
    // Content and classifier answers were written by this service from
    // these very types; a snapshot that no longer reads is shown empty
    // rather than failing the whole read.
    let content = FiledContent::deserialize(app.content.as_ref()).ok();
    let (items, transaction) = match content {
        Some(content) => (content.items, Some(content.transaction)),
        None => (Vec::new(), None),
    };
    pb::Application {
        name: resource_name(&app.id),
        applicant: app.applicant.clone(),
        items,
        transaction,
        state: state(app.state) as i32,
        level: app.level.map(level).unwrap_or(pb::ReviewLevel::Unspecified) as i32,
        classifications: app
            .classifications
            .iter()
            .map(|item| pb::ItemClassification {
                item_index: item.item_index,
                result: classifier_pb::ClassifyItemResponse::deserialize(item.result.as_ref()).ok(),
            })
            .collect(),
        recommendations: app
            .recommendations
            .iter()
            .map(|r| pb::AgencyRecommendation {
                agency: agency(r.agency) as i32,
                recommendation: recommendation(r.recommendation) as i32,
                conditions: r.conditions.clone(),
                rationale: r.rationale.clone(),
                recorded_by: r.recorded_by.clone(),
                record_time: Some(timestamp(r.at)),
                level: level(r.level) as i32,
            })
            .collect(),
        agency_due: app
            .agency_due
            .iter()
            .map(|due| pb::AgencyDue {
                agency: agency(due.agency) as i32,
                due_time: Some(timestamp(due.due)),
                answered: due.answered,
            })
            .collect(),
        step_due_time: app.step_due.map(timestamp),
        overall_due_time: Some(timestamp(app.overall_due)),
        decision: app.decision.as_ref().map(decision),
        etag: etag(app.version),
        create_time: Some(timestamp(app.created_at)),
        update_time: Some(timestamp(app.updated_at)),
        decision_history: app.decision_history.iter().map(decision).collect(),
        state_reason: app.state_reason.clone(),
    }
}

pub fn event(event: &crate::store::StoredEvent) -> pb::ApplicationEvent {
    pb::ApplicationEvent {
        sequence: event.sequence,
        application: resource_name(&event.application_id),
        application_sequence: event.application_sequence,
        r#type: event.kind.clone(),
        actor: event.actor.clone(),
        event_time: Some(timestamp(crate::ledger::from_millis(event.at))),
        details_json: event.details.clone(),
        previous_hash: event.previous_hash.clone(),
        hash: event.hash.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        for s in State::ALL {
            assert_eq!(state_from(state(s)), Some(s));
        }
        assert_eq!(state_from(pb::State::Unspecified), None);
        assert_eq!(level_from(pb::ReviewLevel::Unspecified), None);
        assert_eq!(agency_from(pb::Agency::Unspecified), None);
        assert_eq!(recommendation_from(pb::Recommendation::Unspecified), None);
        assert_eq!(outcome_from(pb::Outcome::Unspecified), None);
    }

    #[test]
    fn etags_round_trip_and_refuse_strangers() {
        assert_eq!(parse_etag(&etag(7)), Some(7));
        assert_eq!(parse_etag("\"v3\""), Some(3));
        for bad in ["", "7", "v", "v0", "v-1", "vx", "w7"] {
            assert_eq!(parse_etag(bad), None, "{bad}");
        }
    }
}
