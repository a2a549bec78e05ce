//! One whole ClassifyItem answer in process, as the server computes it per
//! call: request conversion, the rules, the decision span and metric, the
//! answer's conversion and its protobuf encoding, under the log subscriber
//! the binary installs (text, info); and the same request answered again,
//! from the memo. The transport is not included.

use chrono::NaiveDate;
use classifier_svc::grpc::wire::ClassifyCall;
use classifier_svc::grpc::Classifier;
use criterion::{criterion_group, criterion_main, Criterion};
use exportcontrol_proto::classifier::v1 as pb;
use prost::Message;
use service_kit::logging::{self, LogFormat};
use service_kit::metrics::Registry;
use std::hint::black_box;

fn h200_to_china() -> pb::ClassifyItemRequest {
    pb::ClassifyItemRequest {
        item: Some(pb::classify_item_request::Item::CatalogChip(
            "H200".to_owned(),
        )),
        transaction: Some(pb::Transaction {
            destination_country: "CN".to_owned(),
            end_user_headquarters_country: "CN".to_owned(),
            ultimate_parent_headquarters_country: "CN".to_owned(),
            export_type: pb::ExportType::ExportFromUs as i32,
            is_informed_notice_received: false,
            ..Default::default()
        }),
        as_of: "2026-02-01".to_owned(),
        ..Default::default()
    }
}

fn answer(c: &mut Criterion) {
    logging::init(LogFormat::Text, "info");
    let classifier = Classifier::new(Registry::new());
    let today = NaiveDate::from_ymd_opt(2026, 2, 1).expect("valid date");
    let mut encoded = Vec::with_capacity(8192);
    for (name, view) in [
        (
            "classify_item_h200_cn_encoded",
            pb::ClassificationView::Full,
        ),
        (
            "classify_item_h200_cn_encoded_basic",
            pb::ClassificationView::Basic,
        ),
    ] {
        let request = pb::ClassifyItemRequest {
            view: view as i32,
            ..h200_to_china()
        };
        c.bench_function(name, |b| {
            b.iter(|| {
                let response = classifier
                    .classify(black_box(&request), today, None)
                    .expect("valid request");
                encoded.clear();
                response.encode(&mut encoded).expect("buffer grows");
                black_box(encoded.len())
            })
        });
    }
    // The same request asked again: answered from the memo, then written
    // as the server writes it into its frame.
    let call = ClassifyCall::from(&pb::ClassifyItemRequest {
        view: pb::ClassificationView::Basic as i32,
        ..h200_to_china()
    });
    classifier
        .answer(&call, today, None)
        .expect("valid request");
    c.bench_function("classify_item_h200_cn_encoded_basic_remembered", |b| {
        b.iter(|| {
            let answer = classifier
                .answer(black_box(&call), today, None)
                .expect("valid request");
            encoded.clear();
            answer.write(&mut encoded);
            black_box(encoded.len())
        })
    });
}

criterion_group!(benches, answer);
criterion_main!(benches);
