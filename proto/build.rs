//! Compiles the contract with protox, so no machine needs protoc, and keeps
//! the file descriptor set for the servers' reflection service.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "exportcontrol/classifier/v1/classifier.proto",
    "exportcontrol/review/v1/review.proto",
];

const SERDE: &str = "#[derive(serde::Serialize, serde::Deserialize)]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = protox::compile(PROTOS, ["."])?;
    // Each server's reflection lists only its own service: the classifier's
    // set has no review files, and the review set keeps the classifier's
    // messages (it uses them) but not its service.
    let classifier = protox::compile([PROTOS[0]], ["."])?;
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
    let mut config = tonic_prost_build::configure();
    // Fields added after review-svc began keeping transactions and answers
    // as JSON: the records written before them must still read.
    for field in [
        "Transaction.end_user_name",
        "Transaction.end_user_kind",
        "ClassifyItemRequest.view",
        "Classification.thresholds",
    ] {
        config = config.field_attribute(
            format!(".exportcontrol.classifier.v1.{field}"),
            "#[serde(default)]",
        );
    }
    config
        // google.rpc.Status comes from the well-known prost types already
        // understood by tonic-types, so clients can decode stream errors.
        .extern_path(".google.rpc", "::tonic_types::pb")
        // review-svc stores what applicants filed and what the classifier
        // answered as JSON inside its audited events.
        .type_attribute(".exportcontrol.classifier.v1", SERDE)
        .field_attribute(
            ".exportcontrol.classifier.v1.ClassifyItemResponse.error",
            "#[serde(skip)]",
        )
        .type_attribute(".exportcontrol.review.v1.LineItem", SERDE)
        .type_attribute(".exportcontrol.review.v1.ExportTransaction", SERDE)
        .compile_fds(descriptors)?;
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    println!("cargo:rerun-if-changed=google");
    Ok(())
}
