//! Compiles the contract with protox, so no machine needs protoc, and keeps
//! the file descriptor set for the servers' reflection service.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "exportcontrol/classifier/v1/classifier.proto",
    "exportcontrol/review/v1/review.proto",
    "exportcontrol/review/v1/license.proto",
];

// Our files, then the vendored googleapis protos they import as google/...
const INCLUDES: &[&str] = &[".", "third_party/googleapis"];

const SERDE: &str = "#[derive(serde::Serialize, serde::Deserialize)]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = protox::compile(PROTOS, INCLUDES)?;
    // Each server's reflection lists only its own service: the classifier's
    // set has no review files, and the review set keeps the classifier's
    // messages (it uses them) but not its service.
    let classifier = protox::compile([PROTOS[0]], INCLUDES)?;
    let mut review = descriptors.clone();
    for file in &mut review.file {
        if file.name() == PROTOS[0] {
            file.service.clear();
        }
    }
    for (name, set) in [("classifier", &classifier), ("review", &review)] {
        std::fs::write(
            out_dir.join(format!("{name}_descriptor.bin")),
            prost::Message::encode_to_vec(set),
        )?;
    }
    tonic_prost_build::configure()
        // prost's codec, but a body that does not decode is the caller's
        // fault: INVALID_ARGUMENT with details, not INTERNAL.
        .codec_path("crate::codec::ValidatingCodec")
        // google.rpc.Status comes from the well-known prost types already
        // understood by tonic-types, so clients can decode stream errors.
        .extern_path(".google.rpc", "::tonic_types::pb")
        // Written by hand, so that an answer can be sent as the bytes it
        // arrived as (see the module).
        .extern_path(
            ".exportcontrol.review.v1.ItemClassification",
            "crate::item_classification::ItemClassification",
        )
        // The first format of review-svc's record kept what applicants filed
        // and what the classifier answered as JSON images of these types;
        // review-svc reads them through these derives (later formats keep
        // encoded protobuf). `default` reads images written before a field
        // was added.
        .type_attribute(".exportcontrol.classifier.v1", SERDE)
        .message_attribute(".exportcontrol.classifier.v1", "#[serde(default)]")
        .field_attribute(
            ".exportcontrol.classifier.v1.ClassifyItemResponse.error",
            "#[serde(skip)]",
        )
        .type_attribute(".exportcontrol.review.v1.LineItem", SERDE)
        .type_attribute(".exportcontrol.review.v1.ExportTransaction", SERDE)
        .message_attribute(".exportcontrol.review.v1.LineItem", "#[serde(default)]")
        .message_attribute(
            ".exportcontrol.review.v1.ExportTransaction",
            "#[serde(default)]",
        )
        .compile_fds(descriptors)?;
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    println!("cargo:rerun-if-changed=third_party");
    Ok(())
}
