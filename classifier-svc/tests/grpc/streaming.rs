//! ClassifyItems: bulk screening on one stream.

use crate::support::*;

/// (position, expected code, expected field) of the invalid items.
const STREAM_INVALID: [(usize, Code, &str); 3] = [
    (37, Code::InvalidArgument, "spec.rates[0].dense_tops"),
    (
        101,
        Code::InvalidArgument,
        "transaction.destination_country",
    ),
    (150, Code::NotFound, "catalog_chip"),
];

fn stream_request(position: usize) -> pb::ClassifyItemRequest {
    match position {
        37 => with_spec(datacenter(f64::NAN, None), None, "2026-02-01"),
        101 => catalogue("H200", Some(export_to("XX")), "2026-02-01"),
        150 => catalogue("no such chip", None, "2026-02-01"),
        p if p.is_multiple_of(2) => catalogue("H200", Some(export_to("CN")), "2026-02-01"),
        p => with_spec(
            datacenter(1000.0 + p as f64 * 40.0, Some(4.0)),
            Some(export_with_hq("DE", "DE", "DE")),
            "2026-02-01",
        ),
    }
}

#[tokio::test]
async fn classify_items_answers_every_request_in_order() {
    const COUNT: usize = 200;
    let app = spawn().await;
    let requests: Vec<_> = (0..COUNT).map(stream_request).collect();
    let mut responses = app
        .client()
        .classify_items(tokio_stream::iter(requests))
        .await
        .expect("stream accepted")
        .into_inner();

    let mut decision_ids = HashSet::new();
    let mut position = 0;
    while let Some(response) = timeout(LIMIT, responses.message())
        .await
        .expect("next response in time")
        .expect("the stream does not fail")
    {
        assert_eq!(response.index, position as u64, "responses come in order");
        match STREAM_INVALID.iter().find(|(p, _, _)| *p == position) {
            Some((_, code, field)) => {
                let error = response.error.as_ref().expect("invalid item has an error");
                Refusal::of_rpc_status(error).assert_names(
                    *code,
                    field,
                    &format!("item {position}"),
                );
                assert!(!error.message.is_empty());
                assert!(response.classification.is_none(), "item {position}");
                assert!(response.decision_id.is_empty(), "item {position}");
            }
            None => {
                assert!(
                    response.error.is_none(),
                    "item {position}: {:?}",
                    response.error
                );
                assert_decision_id(&response);
                assert!(
                    decision_ids.insert(response.decision_id.clone()),
                    "unique ids"
                );
                let expected = if position.is_multiple_of(2) {
                    pb::ReviewPolicy::CaseByCase
                } else {
                    pb::ReviewPolicy::NotApplicable
                };
                assert_eq!(review_policy(&response), expected, "item {position}");
            }
        }
        position += 1;
    }
    assert_eq!(position, COUNT, "exactly one response per request");
    assert_eq!(decision_ids.len(), COUNT - STREAM_INVALID.len());
    app.stop().await;
}

#[tokio::test]
async fn classify_items_answers_before_the_client_half_closes() {
    let app = spawn().await;
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let mut responses = app
        .client()
        .classify_items(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .expect("stream accepted")
        .into_inner();
    for index in 0..3u64 {
        sender
            .send(catalogue("H20", Some(export_to("CN")), "2026-02-01"))
            .await
            .expect("stream open");
        let response = timeout(LIMIT, responses.message())
            .await
            .expect("answered while the stream is open")
            .expect("no error")
            .expect("a response");
        assert_eq!(response.index, index);
        assert_eq!(control_status(&response), pb::ControlStatus::NotControlled);
    }
    drop(sender);
    let end = timeout(LIMIT, responses.message())
        .await
        .expect("ends in time");
    assert!(matches!(end, Ok(None)), "clean end: {end:?}");
    app.stop().await;
}
