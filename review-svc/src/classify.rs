//! Asking the classifier about every line item of an application, and
//! turning its answers into what the workflow records.

use exportcontrol_proto::classifier::v1 as classifier_pb;
use futures::future::join_all;
use service_kit::errors::{Violation, INVALID_FIELD, INVALID_FIELDS};
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
    /// What the workflow records of every item's answer, in the items' order.
    Items(Vec<ItemOutcome>),
    /// The classifier refused an item or the transaction: the filing is invalid.
    Invalid(Vec<Violation>),
    /// No answer in time (down, slow, failing): classify later.
    Unavailable(String),
}

/// What review-svc reads of a `ClassifyItemResponse`: the fields the
/// workflow records, at the contract's field numbers. The rest of the
/// answer is skipped, not decoded: it is kept as the bytes it arrived as
/// and served from them. A test holds these numbers to the contract's.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnswerSummary {
    #[prost(message, optional, tag = "1")]
    pub classification: Option<ClassificationSummary>,
    #[prost(message, optional, tag = "2")]
    pub license: Option<LicenseSummary>,
    #[prost(string, tag = "3")]
    pub rule_set: String,
    #[prost(string, tag = "4")]
    pub decision_id: String,
    #[prost(string, tag = "6")]
    pub item_name: String,
}

/// What [`AnswerSummary`] reads of a `Classification`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ClassificationSummary {
    #[prost(string, tag = "3")]
    pub paragraph: String,
}

/// What [`AnswerSummary`] reads of a `LicenseDetermination`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LicenseSummary {
    #[prost(bool, tag = "1")]
    pub license_required: bool,
    #[prost(enumeration = "classifier_pb::LicenseStatus", tag = "2")]
    pub status: i32,
    #[prost(enumeration = "classifier_pb::ReviewPolicy", tag = "3")]
    pub review_policy: i32,
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
            Ok(arrived) => items.push(outcome(index as u32, &arrived.message, &arrived.encoded)),
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
/// the CreateApplication request instead, each with the classifier's reason.
fn item_violations(index: usize, status: &Status) -> Vec<Violation> {
    let rename = |field: &str| {
        if let Some(rest) = field.strip_prefix("transaction.") {
            format!("application.transaction.route.{rest}")
        } else {
            format!("application.items[{index}].{field}")
        }
    };
    // A classifier of an earlier release gives a reason only in ErrorInfo.
    let overall = status
        .get_details_error_info()
        .map(|info| info.reason)
        .filter(|reason| !reason.is_empty() && reason != INVALID_FIELDS)
        .unwrap_or_else(|| INVALID_FIELD.to_owned());
    match status.get_details_bad_request() {
        Some(bad) if !bad.field_violations.is_empty() => bad
            .field_violations
            .into_iter()
            .map(|v| {
                let reason = if v.reason.is_empty() {
                    overall.clone()
                } else {
                    v.reason
                };
                Violation::because(reason, rename(&v.field), v.description)
            })
            .collect(),
        _ => vec![Violation::because(
            overall,
            format!("application.items[{index}]"),
            status.message().to_owned(),
        )],
    }
}

/// What the workflow records of the classifier's answer for one item:
/// `response`, read from `encoded` (kept as it arrived, not encoded again).
pub fn outcome(item_index: u32, response: &AnswerSummary, encoded: &[u8]) -> ItemOutcome {
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

    fn summary(encoded: &[u8]) -> AnswerSummary {
        AnswerSummary::decode(encoded).unwrap()
    }

    #[test]
    fn the_summary_reads_the_contracts_field_numbers() {
        let response = classifier_pb::ClassifyItemResponse {
            as_of: "2026-12-01".into(),
            warnings: vec!["a warning".into()],
            ..h200_to_china()
        };
        let read = summary(&response.encode_to_vec());
        let license = response.license.unwrap();
        assert_eq!(
            read,
            AnswerSummary {
                classification: Some(ClassificationSummary {
                    paragraph: "3A090.a".into()
                }),
                license: Some(LicenseSummary {
                    license_required: license.license_required,
                    status: license.status,
                    review_policy: license.review_policy,
                }),
                rule_set: response.rule_set,
                decision_id: response.decision_id,
                item_name: response.item_name,
            }
        );
        // And nothing else: what it skips, it does not keep.
        assert_eq!(
            read.encode_to_vec(),
            classifier_pb::ClassifyItemResponse {
                as_of: String::new(),
                warnings: Vec::new(),
                ..h200_to_china()
            }
            .encode_to_vec()
        );
    }

    #[test]
    fn the_answer_is_recorded_as_it_arrived() {
        let response = h200_to_china();
        // A field this build does not know (number 999, varint 1), as a
        // newer classifier might send: kept, though decoding drops it.
        let mut arrived = response.encode_to_vec();
        arrived.extend_from_slice(&[0xb8, 0x3e, 0x01]);
        let outcome = outcome(2, &summary(&arrived), &arrived);
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
            let encoded = response.encode_to_vec();
            outcome(0, &summary(&encoded), &encoded)
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
