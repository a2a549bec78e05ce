//! Asking the classifier about every line item of an application, and
//! turning its answers into what the workflow records.

use exportcontrol_proto::classifier::v1 as classifier_pb;
use futures::future::join_all;
use service_kit::errors::Violation;
use service_kit::trace_context::TraceContext;
use tokio::time::Instant;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::classifier_client::ClassifierClient;
use crate::convert;
use crate::workflow::{Encoded, FiledApplication, ItemOutcome};

/// What the classifier said about an application.
#[derive(Debug)]
pub enum Classified {
    /// An answer for every item, in the items' order.
    Items(Vec<ClassifiedItem>),
    /// The classifier refused an item or the transaction: the filing is invalid.
    Invalid(Vec<Violation>),
    /// No answer in time (down, slow, failing): classify later.
    Unavailable(String),
}

/// One item's answer: what the workflow records, and the answer decoded,
/// for a caller that renders it at once.
#[derive(Debug)]
pub struct ClassifiedItem {
    pub outcome: ItemOutcome,
    pub answer: classifier_pb::ClassifyItemResponse,
}

impl Classified {
    /// What the workflow records of every item, where the caller has no
    /// use for the decoded answers.
    pub fn outcomes(items: Vec<ClassifiedItem>) -> Vec<ItemOutcome> {
        items.into_iter().map(|item| item.outcome).collect()
    }
}

/// Classifies every item concurrently, within `deadline`.
pub async fn classify_content(
    client: &ClassifierClient,
    filed: &FiledApplication,
    deadline: Option<Instant>,
    trace: &TraceContext,
) -> Classified {
    let transaction = convert::classifier_transaction(filed);
    let calls = filed.items.iter().map(|item| {
        let request = classifier_pb::ClassifyItemRequest {
            item: convert::chip(&item.chip),
            transaction: Some(transaction.clone()),
            as_of: String::new(),
            ..Default::default()
        };
        client.classify(request, deadline, trace)
    });
    let answers = join_all(calls).await;
    let mut items = Vec::with_capacity(answers.len());
    let mut violations = Vec::new();
    let mut unavailable = None;
    for (index, answer) in answers.into_iter().enumerate() {
        match answer {
            Ok(arrived) => items.push(ClassifiedItem {
                outcome: outcome(index as u32, &arrived.message, &arrived.encoded),
                answer: arrived.message,
            }),
            Err(status) if matches!(status.code(), Code::InvalidArgument | Code::NotFound) => {
                violations.extend(item_violations(index, &status));
            }
            Err(status) => {
                unavailable
                    .get_or_insert_with(|| format!("{:?}: {}", status.code(), status.message()));
            }
        }
    }
    if !violations.is_empty() {
        Classified::Invalid(violations)
    } else if let Some(reason) = unavailable {
        Classified::Unavailable(reason)
    } else {
        Classified::Items(items)
    }
}

/// The classifier names fields of its own request; name them as fields of
/// the CreateApplication request instead.
fn item_violations(index: usize, status: &Status) -> Vec<Violation> {
    let rename = |field: &str| {
        if let Some(rest) = field.strip_prefix("transaction.") {
            format!("application.transaction.route.{rest}")
        } else {
            format!("application.items[{index}].{field}")
        }
    };
    match status.get_details_bad_request() {
        Some(bad) if !bad.field_violations.is_empty() => bad
            .field_violations
            .iter()
            .map(|v| Violation::new(rename(&v.field), v.description.clone()))
            .collect(),
        _ => vec![Violation::new(
            format!("application.items[{index}]"),
            status.message().to_owned(),
        )],
    }
}

/// What the workflow records of the classifier's answer for one item:
/// `response`, which arrived as `encoded` (kept as it is, not encoded again).
pub fn outcome(
    item_index: u32,
    response: &classifier_pb::ClassifyItemResponse,
    encoded: &[u8],
) -> ItemOutcome {
    let license = response.license.as_ref();
    let status = license
        .and_then(|l| classifier_pb::LicenseStatus::try_from(l.status).ok())
        .unwrap_or_default();
    // An answer the rules could not settle goes to review, never around it.
    let license_required = license.is_some_and(|l| l.license_required)
        || status == classifier_pb::LicenseStatus::Indeterminate;
    let policy = license
        .and_then(|l| classifier_pb::ReviewPolicy::try_from(l.review_policy).ok())
        .unwrap_or_default()
        .as_str_name()
        .trim_start_matches("REVIEW_POLICY_")
        .to_owned();
    let paragraph = response
        .classification
        .as_ref()
        .map(|c| c.paragraph.as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or("outside 3A090/4A090");
    let summary = format!(
        "item {item_index} ({}): {paragraph}; licence {}; policy {policy}; rule set {}",
        response.item_name,
        if license_required {
            "required"
        } else {
            "not required"
        },
        response.rule_set,
    );
    ItemOutcome {
        item_index,
        license_required,
        review_policy: policy,
        rule_set: response.rule_set.clone(),
        decision_id: response.decision_id.clone(),
        summary,
        answer: Encoded::from(encoded),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn h200_to_china() -> classifier_pb::ClassifyItemResponse {
        classifier_pb::ClassifyItemResponse {
            item_name: "H200".into(),
            rule_set: "2026-01".into(),
            decision_id: "d-1".into(),
            classification: Some(classifier_pb::Classification {
                paragraph: "3A090.a".into(),
                ..Default::default()
            }),
            license: Some(classifier_pb::LicenseDetermination {
                license_required: true,
                status: classifier_pb::LicenseStatus::Required as i32,
                review_policy: classifier_pb::ReviewPolicy::CaseByCase as i32,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_answer_is_recorded_as_it_arrived() {
        let response = h200_to_china();
        // A field this build does not know (number 999, varint 1), as a
        // newer classifier might send: kept, though decoding drops it.
        let mut arrived = response.encode_to_vec();
        arrived.extend_from_slice(&[0xb8, 0x3e, 0x01]);
        let outcome = outcome(2, &response, &arrived);
        assert_eq!(outcome.answer.as_bytes(), &arrived[..]);
        assert_eq!(convert::answer(&outcome.answer), Some(response));
        assert!(outcome.license_required);
        assert_eq!(outcome.review_policy, "CASE_BY_CASE");
        assert_eq!(
            outcome.summary,
            "item 2 (H200): 3A090.a; licence required; policy CASE_BY_CASE; rule set 2026-01"
        );
    }

    #[test]
    fn an_answer_the_rules_could_not_settle_goes_to_review() {
        let outcome_of = |response: &classifier_pb::ClassifyItemResponse| {
            outcome(0, response, &response.encode_to_vec())
        };
        let mut response = h200_to_china();
        response.license = Some(classifier_pb::LicenseDetermination {
            status: classifier_pb::LicenseStatus::Indeterminate as i32,
            ..Default::default()
        });
        assert!(outcome_of(&response).license_required);
        response.license = None;
        let unsettled = outcome_of(&response);
        assert!(!unsettled.license_required);
        assert_eq!(unsettled.review_policy, "UNSPECIFIED");
    }
}
