//! Reading events of the first format.
//!
//! They differ from format 2 in two events only: `ApplicationFiled` kept
//! the filing as a JSON image of the contract's generated types (with the
//! destination and item count beside it), and `ItemsClassified` kept each
//! answer as a JSON image of `ClassifyItemResponse`. Both are lifted into
//! the current shape, then read as format 2 is. The JSON images are read
//! through the generated types' serde derives, which exist for this alone
//! (and accept answers written before a field was added); the fixture test
//! (`review-svc/tests/fixtures/v1`) fails if a contract change stops them
//! reading.

use exportcontrol_proto::classifier::v1 as classifier_pb;
use exportcontrol_proto::review::v1 as pb;
use prost::Message;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{unreadable, FormatError};
use crate::workflow::{Encoded, Event};

/// What the first format stored as an application's content.
#[derive(Deserialize)]
struct FiledContent {
    items: Vec<pb::LineItem>,
    transaction: pb::ExportTransaction,
}

pub(super) fn event(bytes: &str) -> Result<Event, FormatError> {
    let mut value: Map<String, Value> =
        serde_json::from_str(bytes).map_err(|e| unreadable(1, e))?;
    match value.get("type").and_then(Value::as_str) {
        Some("ApplicationFiled") => lift_filing(&mut value)?,
        Some("ItemsClassified") => lift_answers(&mut value)?,
        _ => {}
    }
    serde_json::from_value(Value::Object(value)).map_err(|e| unreadable(1, e))
}

fn lift_filing(event: &mut Map<String, Value>) -> Result<(), FormatError> {
    let content = event.remove("content").unwrap_or_default();
    event.remove("destination");
    event.remove("item_count");
    let content = FiledContent::deserialize(content).map_err(|e| unreadable(1, e))?;
    let filed = crate::convert::filed_application(&content.items, &content.transaction);
    event.insert(
        "application".into(),
        serde_json::to_value(filed).map_err(|e| unreadable(1, e))?,
    );
    Ok(())
}

fn lift_answers(event: &mut Map<String, Value>) -> Result<(), FormatError> {
    let Some(Value::Array(items)) = event.get_mut("items") else {
        return Ok(());
    };
    for item in items.iter_mut().filter_map(Value::as_object_mut) {
        let answer = match item.remove("result") {
            None | Some(Value::Null) => Encoded::default(),
            Some(result) => Encoded::new(
                classifier_pb::ClassifyItemResponse::deserialize(result)
                    .map_err(|e| unreadable(1, e))?
                    .encode_to_vec(),
            ),
        };
        item.insert(
            "answer".into(),
            serde_json::to_value(answer).map_err(|e| unreadable(1, e))?,
        );
    }
    Ok(())
}
