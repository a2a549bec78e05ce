//! Makes the dictionary that the record compresses encoded messages
//! against (`review_svc::workflow::Encoded`, record format 4): the
//! classifier's answers for a few chips and routes, whose rule texts and
//! citations every answer of the 2026 rules repeats. Run by hand, only to
//! make a new dictionary under a new number:
//!
//! ```text
//! cargo test -p review-svc --test grpc -- --ignored write_the_answer_dictionary
//! ```
//!
//! A dictionary in use never changes: the records compressed against it
//! could not be read otherwise (`the_answer_dictionary_is_pinned` in the
//! record's tests holds its digest).

use super::*;

/// Neither the H200 nor China together, so that the load generator's
/// filing (an H200 to China) is not in the dictionary word for word.
const ANSWERS: &[(&str, &str)] = &[("h100-sxm", "CN"), ("mi300x", "AE"), ("b200", "DE")];

#[tokio::test]
#[ignore = "writes review-svc/src/record/answers-1.dict: run only to make a new dictionary"]
async fn write_the_answer_dictionary() {
    let classifier = start_classifier("127.0.0.1:0".parse().expect("address")).await;
    let mut client = cpb::classifier_service_client::ClassifierServiceClient::connect(format!(
        "http://{}",
        classifier.local_addr
    ))
    .await
    .expect("connect to the classifier");
    let mut dictionary = Vec::new();
    for (chip, destination) in ANSWERS {
        let answer = client
            .classify_item(cpb::ClassifyItemRequest {
                item: Some(cpb::classify_item_request::Item::CatalogChip(
                    (*chip).to_owned(),
                )),
                transaction: Some(test_support::filings::route(destination)),
                as_of: "2026-02-01".to_owned(),
                view: cpb::ClassificationView::Full as i32,
            })
            .await
            .expect("an answer")
            .into_inner();
        dictionary.extend(prost::Message::encode_to_vec(&answer));
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/record/answers-1.dict");
    std::fs::write(path, &dictionary).expect("write the dictionary");
    println!("{} bytes written to {path}", dictionary.len());
}
