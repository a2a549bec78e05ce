//! Message size limits and long strings.

use crate::support::*;

const SMALL_LIMIT: usize = 64 * 1024;

fn small_limit() -> ServeOptions {
    ServeOptions {
        max_message_bytes: SMALL_LIMIT,
        ..ServeOptions::default()
    }
}

fn oversized_request() -> pb::ClassifyItemRequest {
    let request = with_spec(
        pb::ChipSpec {
            name: "x".repeat(100 * 1024),
            ..a1_part()
        },
        None,
        "2026-02-01",
    );
    assert!(request.encoded_len() > SMALL_LIMIT);
    request
}

#[tokio::test]
async fn messages_over_the_limit_are_refused_by_the_transport() {
    let app = spawn_with(small_limit()).await;
    let mut client = app.client();

    // tonic refuses an oversized message while decoding it: OUT_OF_RANGE.
    let status = refused(&mut client, oversized_request()).await;
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().contains("message length too large"),
        "{status:?}"
    );
    let info = status.get_error_details().error_info().cloned();
    assert_eq!(
        info.map(|i| (i.reason, i.metadata["limitBytes"].clone())),
        Some(("MESSAGE_TOO_LARGE".to_owned(), SMALL_LIMIT.to_string())),
        "{status:?}"
    );

    // In a stream the items before it are answered, then the stream fails.
    let mut responses = client
        .classify_items(tokio_stream::iter(vec![
            catalogue("H200", None, "2026-02-01"),
            oversized_request(),
            catalogue("H200", None, "2026-02-01"),
        ]))
        .await
        .expect("stream accepted")
        .into_inner();
    let first = expect_message(&mut responses, "first item answered").await;
    assert_eq!(first.index, 0);
    assert!(first.error.is_none());
    let failed = next_message(&mut responses)
        .await
        .expect_err("the stream fails at the oversized item");
    assert_eq!(failed.code(), Code::OutOfRange, "{failed:?}");
    assert_eq!(
        failed
            .get_error_details()
            .error_info()
            .map(|i| i.reason.as_str()),
        Some("MESSAGE_TOO_LARGE"),
        "{failed:?}"
    );

    // The server is fine afterwards.
    client
        .classify_item(catalogue("H200", None, "2026-02-01"))
        .await
        .expect("still answering");
    assert_eq!(app.health_status("").await, ServingStatus::Serving);
    app.stop().await;
}

/// A request under the transport limit whose strings are long.
struct LongString {
    what: &'static str,
    request: pb::ClassifyItemRequest,
    /// None: answered; Some: refused with this code, naming this field.
    refusal: Option<(Code, &'static str)>,
}

fn long_strings(long: &str) -> Vec<LongString> {
    let spec_request = |spec: pb::ChipSpec| with_spec(spec, Some(export_to("CN")), "2026-02-01");
    vec![
        LongString {
            what: "rate format (echoed in the answer)",
            request: spec_request(pb::ChipSpec {
                rates: vec![pb::ProcessingRate {
                    format: long.to_owned(),
                    ..rate(8, 1978.9)
                }],
                ..a1_part()
            }),
            refusal: Some((Code::InvalidArgument, "spec.rates[0].format")),
        },
        LongString {
            what: "market justification (logged, so bounded)",
            request: spec_request(pb::ChipSpec {
                market_justification: long.to_owned(),
                ..a1_part()
            }),
            refusal: Some((Code::InvalidArgument, "spec.market_justification")),
        },
        LongString {
            what: "die label (bounded like every name)",
            request: spec_request(pb::ChipSpec {
                dies: vec![pb::Die {
                    label: long.to_owned(),
                    ..logic_die(814.0)
                }],
                ..a1_part()
            }),
            refusal: Some((Code::InvalidArgument, "spec.dies[0].label")),
        },
        LongString {
            what: "unknown catalogue name (echoed truncated)",
            request: catalogue(long, None, "2026-02-01"),
            refusal: Some((Code::NotFound, "catalog_chip")),
        },
    ]
}

#[tokio::test]
async fn long_strings_under_the_transport_limit_get_a_proper_answer() {
    // Under the byte limit a request gets an answer or a refusal naming the
    // field, never a transport error while the reply is encoded.
    let app = spawn_with(small_limit()).await;
    let mut client = app.client();
    let long = "y".repeat(40 * 1024);
    for case in long_strings(&long) {
        assert!(case.request.encoded_len() < SMALL_LIMIT, "{}", case.what);
        let answer = client.classify_item(case.request).await;
        match (answer, case.refusal) {
            (Ok(response), None) => {
                assert!(response.get_ref().classification.is_some(), "{}", case.what);
                assert!(
                    response.get_ref().encoded_len() < SMALL_LIMIT,
                    "{}",
                    case.what
                );
            }
            (Err(status), Some((code, field))) => {
                assert!(
                    status.message().len() < 1024,
                    "{}: message echoes the input",
                    case.what
                );
                Refusal::of_status(&status).assert_names(code, field, case.what);
            }
            (answer, _) => panic!("{}: {answer:?}", case.what),
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn long_unknown_chip_names_are_not_echoed_in_full() {
    // The error must fit in the trailers: a megabyte name under the default
    // 4 MiB limit still gets NOT_FOUND with its details.
    let app = spawn().await;
    let mut client = app.client();
    let long = "z".repeat(1024 * 1024);
    let status = client
        .get_chip(pb::GetChipRequest { name: long.clone() })
        .await
        .expect_err("unknown chip");
    Refusal::of_status(&status).assert_names(Code::NotFound, "name", "GetChip");
    assert!(
        status.message().len() < 1024,
        "message echoes the whole name"
    );
    let status = refused(&mut client, catalogue(&long, None, "2026-02-01")).await;
    Refusal::of_status(&status).assert_names(Code::NotFound, "catalog_chip", "ClassifyItem");
    assert!(
        status.message().len() < 1024,
        "message echoes the whole name"
    );
    app.stop().await;
}
