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
        101 => h200(export_to("XX"), "2026-02-01"),
        150 => catalogue("no such chip", None, "2026-02-01"),
        p if p.is_multiple_of(2) => h200_to_china(),
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
    while let Some(response) = next_message(&mut responses)
        .await
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
        let response = expect_message(&mut responses, "answered while the stream is open").await;
        assert_eq!(response.index, index);
        assert_eq!(control_status(&response), pb::ControlStatus::NotControlled);
    }
    drop(sender);
    let end = next_message(&mut responses).await;
    assert!(matches!(end, Ok(None)), "clean end: {end:?}");
    app.stop().await;
}

/// Sends each item's bytes as they are; decodes answers as the contract's.
#[derive(Default)]
struct RawItems;

impl tonic::codec::Codec for RawItems {
    type Encode = Vec<u8>;
    type Decode = pb::ClassifyItemResponse;
    type Encoder = RawItems;
    type Decoder = tonic_prost::ProstDecoder<pb::ClassifyItemResponse>;
    fn encoder(&mut self) -> RawItems {
        RawItems
    }
    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstCodec::<Vec<u8>, pb::ClassifyItemResponse>::default().decoder()
    }
}

impl tonic::codec::Encoder for RawItems {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Status> {
        use prost::bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

#[tokio::test]
async fn an_item_that_does_not_decode_ends_the_stream_with_its_field() {
    let app = spawn().await;
    let good = h200_to_china().encode_to_vec();
    // catalog_chip (2) that is not UTF-8, after two good items (the second
    // answered from the memo) and before a third that is never read.
    let items = vec![
        good.clone(),
        good.clone(),
        vec![0x12, 0x02, 0xff, 0xfe],
        good,
    ];
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.expect("ready");
    let mut answers = grpc
        .streaming(
            tonic::Request::new(tokio_stream::iter(items)),
            tonic::codegen::http::uri::PathAndQuery::from_static(
                "/exportcontrol.classifier.v1.ClassifierService/ClassifyItems",
            ),
            RawItems,
        )
        .await
        .expect("stream accepted")
        .into_inner();
    for index in 0..2 {
        let answer = expect_message(&mut answers, "a good item is answered").await;
        assert_eq!(answer.index, index);
        assert_eq!(classification(&answer).paragraph, "3A090.a.1");
    }
    let status = next_message(&mut answers)
        .await
        .expect_err("the undecodable item ends the stream");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    assert_eq!(
        details.error_info().expect("ErrorInfo").reason,
        "MALFORMED_MESSAGE"
    );
    assert_eq!(
        details.bad_request().expect("BadRequest").field_violations[0].field,
        "item",
        "prost names the oneof that holds catalog_chip"
    );
    app.stop().await;
}
