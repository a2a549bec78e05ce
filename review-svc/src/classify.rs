//! Asking the classifier about every line item of an application, and
//! turning its answers into what the workflow records.

use exportcontrol_proto::classifier::v1 as classifier_pb;
use futures::future::join_all;
use prost::Message;
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
    /// An answer for every item.
    Items(Vec<ItemOutcome>),
    /// The classifier refused an item or the transaction: the filing is invalid.
    Invalid(Vec<Violation>),
    /// No answer in time (down, slow, failing): classify later.
    Unavailable(String),
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
            Ok(response) => items.push(outcome(index as u32, response)),
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

/// What the workflow records of the classifier's answer for one item.
pub fn outcome(item_index: u32, response: classifier_pb::ClassifyItemResponse) -> ItemOutcome {
    let license = response.license.clone().unwrap_or_default();
    let status = classifier_pb::LicenseStatus::try_from(license.status).unwrap_or_default();
    // An answer the rules could not settle goes to review, never around it.
    let license_required =
        license.license_required || status == classifier_pb::LicenseStatus::Indeterminate;
    let policy = classifier_pb::ReviewPolicy::try_from(license.review_policy)
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
        answer: Encoded::new(response.encode_to_vec()),
    }
}
