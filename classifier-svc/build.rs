//! The classifier's gRPC server, generated from the same contract as the
//! proto crate's (`exportcontrol.classifier.v1.ClassifierService`, every
//! method and route), except that ClassifyItem and ClassifyItems take the
//! request as the bytes it arrived as and answer with
//! `grpc::wire::Answer`: a remembered answer is written without being
//! decoded, built or encoded again (see `grpc::memo`). Clients keep the
//! proto crate's generated client; the wire is the same.

use tonic_build::manual::{Builder, Method, Service};

const PROTO: &str = "exportcontrol_proto::classifier::v1";
const VALIDATING: &str = "exportcontrol_proto::codec::ValidatingCodec";
const ANSWERS: &str = "crate::grpc::wire::AnswerCodec";

fn method(name: &str, route: &str, input: &str, output: &str, codec: &str) -> Method {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(input)
        .output_type(output)
        .codec_path(codec)
        .build()
}

fn unary(name: &str, route: &str, message: &str, reply: &str) -> Method {
    method(
        name,
        route,
        &format!("{PROTO}::{message}"),
        &format!("{PROTO}::{reply}"),
        VALIDATING,
    )
}

fn main() {
    let classify_stream = Method::builder()
        .name("classify_items")
        .route_name("ClassifyItems")
        .input_type("crate::grpc::wire::ClassifyCall")
        .output_type("crate::grpc::wire::Answer")
        .codec_path(ANSWERS)
        .client_streaming()
        .server_streaming()
        .build();
    let service = Service::builder()
        .name("ClassifierService")
        .package("exportcontrol.classifier.v1")
        .method(method(
            "classify_item",
            "ClassifyItem",
            "crate::grpc::wire::ClassifyCall",
            "crate::grpc::wire::Answer",
            ANSWERS,
        ))
        .method(classify_stream)
        .method(unary(
            "list_chips",
            "ListChips",
            "ListChipsRequest",
            "ListChipsResponse",
        ))
        .method(unary("get_chip", "GetChip", "GetChipRequest", "Chip"))
        .method(unary(
            "list_rule_sets",
            "ListRuleSets",
            "ListRuleSetsRequest",
            "ListRuleSetsResponse",
        ))
        .method(unary(
            "classify_item_history",
            "ClassifyItemHistory",
            "ClassifyItemHistoryRequest",
            "ClassifyItemHistoryResponse",
        ))
        .build();
    Builder::new().build_client(false).compile(&[service]);
    println!("cargo:rerun-if-changed=build.rs");
}
