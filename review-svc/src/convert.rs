//! Proto <-> domain conversion for review-svc: enums both ways, what an
//! applicant filed into the workflow's filing types (once, here), and the
//! application rendered back as the `Application` resource.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use exportcontrol_proto::classifier::v1 as classifier_pb;
use exportcontrol_proto::review::v1 as pb;
use prost::Message;

use crate::workflow::{
    self, Agency, Chip, Encoded, EndUserKind, ExportType, FiledApplication, FiledItem, Hold,
    HoldKind, Level, Outcome, Recommendation, Route, State,
};

/// What the applicant filed, validated, still in the contract's types.
#[derive(Debug, Clone)]
pub struct FiledContent {
    pub items: Vec<pb::LineItem>,
    pub transaction: pb::ExportTransaction,
}

impl FiledContent {
    /// The filing in the workflow's own types.
    pub fn into_domain(self) -> Arc<FiledApplication> {
        Arc::new(filed_application(&self.items, &self.transaction))
    }
}

/// A filing in the workflow's own types. Every field of the route is named
/// here (no `..`), so a field added to the contract cannot be dropped
/// silently: this stops compiling until it is carried.
pub fn filed_application(
    items: &[pb::LineItem],
    transaction: &pb::ExportTransaction,
) -> FiledApplication {
    let pb::ExportTransaction {
        route,
        end_user_name,
        end_use_statement,
    } = transaction;
    let classifier_pb::Transaction {
        destination_country,
        end_user_headquarters_country,
        ultimate_parent_headquarters_country,
        export_type,
        is_informed_notice_received,
        end_user_name: route_end_user_name,
        end_user_kind,
    } = route.clone().unwrap_or_default();
    // One end user per application: the transaction names it; a name given
    // only in the route (as the classifier takes it) is taken from there.
    let end_user_name = if end_user_name.is_empty() {
        route_end_user_name
    } else {
        end_user_name.clone()
    };
    FiledApplication {
        items: items.iter().map(filed_item).collect(),
        route: Route {
            destination_country,
            end_user_headquarters_country,
            ultimate_parent_headquarters_country,
            export_type: export_type_from(export_type),
            is_informed_notice_received,
            end_user_kind: end_user_kind_from(end_user_kind),
        },
        end_user_name,
        end_use_statement: end_use_statement.clone(),
    }
}

fn filed_item(item: &pb::LineItem) -> FiledItem {
    let pb::LineItem {
        item,
        quantity,
        unit_value_usd_cents,
    } = item;
    FiledItem {
        chip: match item {
            Some(pb::line_item::Item::Spec(spec)) => Chip::Spec(Encoded::new(spec.encode_to_vec())),
            Some(pb::line_item::Item::CatalogChip(name)) => Chip::Catalog(name.clone()),
            None => Chip::Catalog(String::new()),
        },
        quantity: *quantity,
        unit_value_usd_cents: *unit_value_usd_cents,
    }
}

fn export_type_from(value: i32) -> ExportType {
    match classifier_pb::ExportType::try_from(value).unwrap_or_default() {
        classifier_pb::ExportType::Unspecified => ExportType::Unspecified,
        classifier_pb::ExportType::ExportFromUs => ExportType::ExportFromUs,
        classifier_pb::ExportType::Reexport => ExportType::Reexport,
        classifier_pb::ExportType::InCountryTransfer => ExportType::InCountryTransfer,
    }
}

fn end_user_kind_from(value: i32) -> EndUserKind {
    match classifier_pb::EndUserKind::try_from(value).unwrap_or_default() {
        classifier_pb::EndUserKind::Unspecified => EndUserKind::Unspecified,
        classifier_pb::EndUserKind::Government => EndUserKind::Government,
        classifier_pb::EndUserKind::Commercial => EndUserKind::Commercial,
        classifier_pb::EndUserKind::IaasProvider => EndUserKind::IaasProvider,
    }
}

fn end_user_kind(value: EndUserKind) -> classifier_pb::EndUserKind {
    match value {
        EndUserKind::Unspecified => classifier_pb::EndUserKind::Unspecified,
        EndUserKind::Government => classifier_pb::EndUserKind::Government,
        EndUserKind::Commercial => classifier_pb::EndUserKind::Commercial,
        EndUserKind::IaasProvider => classifier_pb::EndUserKind::IaasProvider,
    }
}

pub fn export_type(value: ExportType) -> classifier_pb::ExportType {
    match value {
        ExportType::Unspecified => classifier_pb::ExportType::Unspecified,
        ExportType::ExportFromUs => classifier_pb::ExportType::ExportFromUs,
        ExportType::Reexport => classifier_pb::ExportType::Reexport,
        ExportType::InCountryTransfer => classifier_pb::ExportType::InCountryTransfer,
    }
}

/// The route as the application shows it (the end user's name is the
/// transaction's, not repeated here).
fn route(route: &Route) -> classifier_pb::Transaction {
    classifier_pb::Transaction {
        destination_country: route.destination_country.clone(),
        end_user_headquarters_country: route.end_user_headquarters_country.clone(),
        ultimate_parent_headquarters_country: route.ultimate_parent_headquarters_country.clone(),
        export_type: export_type(route.export_type) as i32,
        is_informed_notice_received: route.is_informed_notice_received,
        end_user_name: String::new(),
        end_user_kind: end_user_kind(route.end_user_kind) as i32,
    }
}

/// The transaction as the classifier takes it: the route and who the end
/// user is (rules since 2026 depend on the name and kind).
pub fn classifier_transaction(filed: &FiledApplication) -> classifier_pb::Transaction {
    classifier_pb::Transaction {
        end_user_name: filed.end_user_name.clone(),
        ..route(&filed.route)
    }
}

/// The chip of a line item as the classifier takes it. Specifications were
/// encoded by this service from a decoded message, so they decode again.
pub fn chip(chip: &Chip) -> Option<classifier_pb::classify_item_request::Item> {
    use classifier_pb::classify_item_request::Item;
    match chip {
        Chip::Catalog(name) => Some(Item::CatalogChip(name.clone())),
        Chip::Spec(spec) => classifier_pb::ChipSpec::decode(spec.as_bytes())
            .ok()
            .map(Item::Spec),
    }
}

fn line_item(item: &FiledItem) -> pb::LineItem {
    use classifier_pb::classify_item_request::Item;
    pb::LineItem {
        item: chip(&item.chip).map(|chip| match chip {
            Item::Spec(spec) => pb::line_item::Item::Spec(spec),
            Item::CatalogChip(name) => pb::line_item::Item::CatalogChip(name),
        }),
        quantity: item.quantity,
        unit_value_usd_cents: item.unit_value_usd_cents,
    }
}

fn transaction(filed: &FiledApplication) -> pb::ExportTransaction {
    pb::ExportTransaction {
        route: Some(route(&filed.route)),
        end_user_name: filed.end_user_name.clone(),
        end_use_statement: filed.end_use_statement.clone(),
    }
}

/// The classifier's answer as it was given, or `None` where the classifier
/// refused the item.
pub fn answer(answer: &Encoded) -> Option<classifier_pb::ClassifyItemResponse> {
    if answer.is_empty() {
        return None;
    }
    classifier_pb::ClassifyItemResponse::decode(answer.as_bytes()).ok()
}

pub const NAME_PREFIX: &str = "applications/";

pub fn resource_name(id: &str) -> String {
    format!("{NAME_PREFIX}{id}")
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
        State::ReturnedWithoutAction => pb::State::ReturnedWithoutAction,
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

pub fn hold_kind(kind: HoldKind) -> pb::HoldKind {
    match kind {
        HoldKind::MissingInformation => pb::HoldKind::MissingInformation,
        HoldKind::ApplicantAgreedDelay => pb::HoldKind::ApplicantAgreedDelay,
        HoldKind::PreLicenseCheck => pb::HoldKind::PreLicenseCheck,
        HoldKind::PreLicenseCheckAnalysis => pb::HoldKind::PreLicenseCheckAnalysis,
        HoldKind::GovernmentAssurances => pb::HoldKind::GovernmentAssurances,
        HoldKind::GovernmentAssurancesState => pb::HoldKind::GovernmentAssurancesState,
        HoldKind::ForeignConsultation => pb::HoldKind::ForeignConsultation,
        HoldKind::CongressionalNotification => pb::HoldKind::CongressionalNotification,
        HoldKind::OtherNotification => pb::HoldKind::OtherNotification,
    }
}

pub fn hold_kind_from(value: pb::HoldKind) -> Option<HoldKind> {
    HoldKind::ALL.into_iter().find(|k| hold_kind(*k) == value)
}

/// A hold as recorded; what its deadline is for and the time it is
/// rendered at come from `rendering`, events leave them out.
fn hold(hold: &Hold, rendering: Option<&Rendering>) -> pb::Hold {
    let rule = rendering.map(|r| r.deadlines.hold(hold.kind));
    pb::Hold {
        id: hold.id,
        kind: hold_kind(hold.kind) as i32,
        reason: hold.reason.clone(),
        placed_by: hold.placed_by.clone(),
        agency: hold.agency.map_or(pb::Agency::Unspecified, agency) as i32,
        place_time: Some(timestamp(hold.placed_at)),
        due_time: hold.due.map(timestamp),
        due_for: rule.map(|r| r.due_for.clone()).unwrap_or_default(),
        citation: rule.map(|r| r.citation.clone()).unwrap_or_default(),
        overdue: rendering.is_some_and(|r| hold.is_overdue(r.now)),
        release_time: hold.released_at.map(timestamp),
        released_by: hold.released_by.clone(),
        release_note: hold.release_note.clone(),
        documents: hold.documents.clone(),
    }
}

/// What rendering an application needs besides the record: the rules the
/// holds cite, and the instant it is rendered at (for the time stopped and
/// overdue holds).
pub struct Rendering<'a> {
    pub deadlines: &'a workflow::Deadlines,
    pub now: DateTime<Utc>,
}

fn duration(span: chrono::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: span.num_seconds(),
        nanos: span.subsec_nanos(),
    }
}

/// The resource as clients see it.
pub fn application(app: &workflow::Application, rendering: &Rendering) -> pb::Application {
    pb::Application {
        license: app
            .license
            .as_deref()
            .map(crate::grpc::licenses::convert::license_name)
            .unwrap_or_default(),
        name: resource_name(&app.id),
        applicant: app.applicant.clone(),
        items: app.filed.items.iter().map(line_item).collect(),
        transaction: Some(transaction(&app.filed)),
        state: state(app.state) as i32,
        level: app.level.map(level).unwrap_or(pb::ReviewLevel::Unspecified) as i32,
        classifications: app
            .classifications
            .iter()
            .map(recorded_classification)
            .collect(),
        recommendations: app
            .recommendations
            .iter()
            .map(agency_recommendation)
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
        // Set by the adapter, which holds the key etags are made with.
        etag: String::new(),
        create_time: Some(timestamp(app.created_at)),
        update_time: Some(timestamp(app.updated_at)),
        decision_history: app.decision_history.iter().map(decision).collect(),
        state_reason: app.state_reason.clone(),
        holds: app.holds.iter().map(|h| hold(h, Some(rendering))).collect(),
        clock_stopped_duration: (!app.clock.is_default())
            .then(|| duration(app.clock.stopped_at(rendering.now))),
        clock_stop_time: app.clock.since.map(timestamp),
        dissenting_agencies: app
            .dissenting_agencies()
            .into_iter()
            .map(|a| agency(a) as i32)
            .collect(),
        information_request_due_time: app
            .information_due
            .filter(|_| app.state == State::AgencyReview)
            .map(timestamp),
    }
}

/// An item's classification, with the classifier's answer sent as the
/// bytes it arrived as (not decoded and encoded again).
fn recorded_classification(item: &workflow::ItemOutcome) -> pb::ItemClassification {
    pb::ItemClassification {
        item_index: item.item_index,
        result: None,
        result_encoded: (!item.answer.is_empty()).then(|| item.answer.to_bytes()),
        license_required: item.license_required,
        review_policy: item.review_policy.clone(),
        summary: item.summary.clone(),
    }
}

fn agency_recommendation(r: &workflow::RecordedRecommendation) -> pb::AgencyRecommendation {
    pb::AgencyRecommendation {
        agency: agency(r.agency) as i32,
        recommendation: recommendation(r.recommendation) as i32,
        conditions: r.conditions.clone(),
        rationale: r.rationale.clone(),
        recorded_by: r.recorded_by.clone(),
        record_time: Some(timestamp(r.at)),
        level: level(r.level) as i32,
    }
}

fn direction(value: workflow::Direction) -> pb::Direction {
    match value {
        workflow::Direction::Approve => pb::Direction::Approve,
        workflow::Direction::Deny => pb::Direction::Deny,
    }
}

fn agencies(list: &[Agency]) -> Vec<i32> {
    list.iter().map(|a| agency(*a) as i32).collect()
}

/// One entry of the history: the stored envelope, and what happened in
/// the contract's terms (`None` when the stored event could not be read).
pub fn event(
    stored: &crate::store::StoredEvent,
    decoded: Option<&workflow::Event>,
) -> pb::ApplicationEvent {
    pb::ApplicationEvent {
        sequence: stored.sequence,
        application: resource_name(&stored.application_id),
        application_sequence: stored.application_sequence,
        r#type: stored.kind.clone(),
        actor: stored.actor.clone(),
        event_time: Some(timestamp(crate::ledger::from_millis(stored.at))),
        previous_hash: stored.previous_hash.clone(),
        hash: stored.hash.clone(),
        payload: decoded.map(event_payload),
    }
}

/// What an event says, in the contract's terms.
pub fn event_payload(event: &workflow::Event) -> pb::application_event::Payload {
    use pb::application_event as e;
    use workflow::Event;
    match event {
        Event::ApplicationFiled {
            applicant,
            application,
            first_action_due,
            overall_due,
            ..
        } => e::Payload::ApplicationFiled(e::Filed {
            applicant: applicant.clone(),
            items: application.items.iter().map(line_item).collect(),
            transaction: Some(transaction(application)),
            first_action_due_time: Some(timestamp(*first_action_due)),
            overall_due_time: Some(timestamp(*overall_due)),
        }),
        Event::ItemsClassified { items, .. } => e::Payload::ItemsClassified(e::ItemsClassified {
            classifications: items.iter().map(recorded_classification).collect(),
        }),
        Event::NoLicenseRequired { reason, .. } => {
            e::Payload::NoLicenseRequired(e::NoLicenseRequired {
                reason: reason.clone(),
            })
        }
        Event::ReferredToAgencies {
            agencies: referred,
            due,
            reason,
            information_due,
            ..
        } => e::Payload::ReferredToAgencies(e::ReferredToAgencies {
            agencies: agencies(referred),
            due_time: Some(timestamp(*due)),
            reason: reason.clone(),
            information_request_due_time: information_due.map(timestamp),
        }),
        Event::RecommendationRecorded {
            at,
            actor,
            level: at_level,
            agency: by,
            recommendation: recommended,
            conditions,
            rationale,
        } => e::Payload::RecommendationRecorded(e::RecommendationRecorded {
            recommendation: Some(agency_recommendation(&workflow::RecordedRecommendation {
                agency: *by,
                recommendation: *recommended,
                conditions: conditions.clone(),
                rationale: rationale.clone(),
                recorded_by: actor.clone(),
                at: *at,
                level: *at_level,
            })),
        }),
        Event::DeemedNoObjection {
            level: at_level,
            agency: silent,
            due,
            ..
        } => e::Payload::DeemedNoObjection(e::DeemedNoObjection {
            level: level(*at_level) as i32,
            agency: agency(*silent) as i32,
            due_time: Some(timestamp(*due)),
        }),
        Event::ReferredToLicensingOfficer { consensus, .. } => {
            e::Payload::ReferredToLicensingOfficer(e::ReferredToLicensingOfficer {
                consensus: direction(*consensus) as i32,
            })
        }
        Event::EscalatedToOperatingCommittee { reason, due, .. } => {
            e::Payload::EscalatedToOperatingCommittee(e::EscalatedToOperatingCommittee {
                reason: reason.clone(),
                due_time: Some(timestamp(*due)),
            })
        }
        Event::Decided {
            at,
            actor,
            level: at_level,
            outcome: decided,
            conditions,
            rationale,
            is_final,
            appeal_due,
        } => e::Payload::Decided(e::Decided {
            decision: Some(decision(&workflow::Decision {
                outcome: *decided,
                conditions: conditions.clone(),
                level: *at_level,
                decided_by: actor.clone(),
                at: *at,
                rationale: rationale.clone(),
                is_final: *is_final,
            })),
            appeal_due_time: appeal_due.map(timestamp),
        }),
        Event::Appealed {
            agency: by,
            from_level,
            to_level,
            rationale,
            voters,
            votes_due,
            ..
        } => e::Payload::Appealed(e::Appealed {
            agency: agency(*by) as i32,
            from_level: level(*from_level) as i32,
            to_level: level(*to_level) as i32,
            rationale: rationale.clone(),
            voters: agencies(voters),
            votes_due_time: votes_due.map(timestamp),
        }),
        Event::VotesTallied {
            level: at_level,
            rule,
            members,
            approve,
            deny,
            not_voted,
            majority,
            ..
        } => e::Payload::VotesTallied(e::VotesTallied {
            level: level(*at_level) as i32,
            rule: match rule {
                workflow::VotingRule::MajorityOfVotesCast => pb::VotingRule::MajorityOfVotesCast,
                workflow::VotingRule::MajorityOfMembers => pb::VotingRule::MajorityOfMembers,
            } as i32,
            members: *members,
            approve: *approve,
            deny: *deny,
            not_voted: agencies(not_voted),
            majority: majority.map_or(pb::Direction::Unspecified, direction) as i32,
        }),
        Event::DecisionFinal {
            level: at_level, ..
        } => e::Payload::DecisionFinal(e::DecisionFinal {
            level: level(*at_level) as i32,
        }),
        Event::ReferredToPresident { reason, .. } => {
            e::Payload::ReferredToPresident(e::ReferredToPresident {
                reason: reason.clone(),
            })
        }
        Event::License(event) => crate::grpc::licenses::convert::event_payload(event),
        Event::Withdrawn { reason, .. } => e::Payload::Withdrawn(e::Withdrawn {
            reason: reason.clone(),
        }),
        Event::InformationRequested { .. } | Event::HoldPlaced { .. } => {
            let opened = event.opened_hold().map(|h| hold(&h, None));
            if matches!(event, Event::HoldPlaced { .. }) {
                e::Payload::HoldPlaced(e::HoldPlaced { hold: opened })
            } else {
                e::Payload::InformationRequested(e::InformationRequested { hold: opened })
            }
        }
        Event::InformationProvided {
            hold: id,
            answer,
            documents,
            ..
        } => e::Payload::InformationProvided(e::InformationProvided {
            hold_id: *id,
            answer: answer.clone(),
            documents: documents.clone(),
        }),
        Event::HoldReleased { hold: id, note, .. } => e::Payload::HoldReleased(e::HoldReleased {
            hold_id: *id,
            note: note.clone(),
        }),
        Event::ReturnedWithoutAction {
            hold: id, reason, ..
        } => e::Payload::ReturnedWithoutAction(e::ReturnedWithoutAction {
            hold_id: *id,
            reason: reason.clone(),
        }),
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
}
