//! A ClassifyItems client that reads its answers slowly (or not at all for
//! a while) is slowed down by flow control, never disconnected: the server
//! used to answer with GOAWAY ENHANCE_YOUR_CALM (`too_many_data_frames`)
//! after a few thousand items, killing every call on the connection.

use std::time::Duration;

use exportcontrol_proto::classifier::v1 as pb;
use exportcontrol_proto::classifier::v1::classifier_service_client::ClassifierServiceClient;
use service_kit::server::ServeOptions;
use tokio::net::TcpListener;

const ITEMS: usize = 8_000;

fn h200() -> pb::ClassifyItemRequest {
    pb::ClassifyItemRequest {
        item: Some(pb::classify_item_request::Item::CatalogChip("H200".into())),
        as_of: "2026-02-01".into(),
        ..Default::default()
    }
}

/// The requests, each in its own DATA frame: the stream is not ready
/// again until the task has yielded, so the client's encoder cannot batch
/// them (a client feeding a stream from a channel does the same).
fn one_frame_each() -> impl futures::Stream<Item = pb::ClassifyItemRequest> {
    futures::stream::unfold(0, |sent| async move {
        if sent == ITEMS {
            return None;
        }
        tokio::task::yield_now().await;
        Some((h200(), sent + 1))
    })
}

async fn run(pause_every: usize, pause: Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = classifier_svc::serve(listener, ServeOptions::default())
        .await
        .unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.local_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ClassifierServiceClient::new(channel.clone());
    let mut answers = client
        .classify_items(one_frame_each())
        .await
        .expect("stream accepted")
        .into_inner();
    let mut read = 0;
    while let Some(answer) = answers
        .message()
        .await
        .unwrap_or_else(|status| panic!("after {read} answers: {status:?}"))
    {
        assert_eq!(answer.index as usize, read);
        read += 1;
        if read % pause_every == 0 {
            tokio::time::sleep(pause).await;
        }
    }
    assert_eq!(read, ITEMS);
    // The connection is still good for other calls.
    ClassifierServiceClient::new(channel)
        .classify_item(h200())
        .await
        .expect("the connection survived");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_pauses_is_slowed_down_not_disconnected() {
    run(500, Duration::from_millis(50)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_for_a_while_is_not_disconnected() {
    // Nothing read for two seconds after the first answer.
    run(1, Duration::ZERO).await;
    run(ITEMS / 3, Duration::from_secs(2)).await;
}
