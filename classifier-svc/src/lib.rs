//! classifier-svc: the control status of advanced-computing chips under U.S.
//! export controls, as of any date, for any destination.

pub mod catalog;
pub mod convert;
pub mod grpc;
pub mod rules;

use grpc::server::classifier_service_server::ClassifierServiceServer;
use service_kit::server::{RunningServer, ServeError, ServeOptions};
use tokio::net::TcpListener;

/// Serves the classifier (with health and reflection) on `listener`, with
/// the default memo of answers.
pub async fn serve(
    listener: TcpListener,
    options: ServeOptions,
) -> Result<RunningServer, ServeError> {
    serve_with_memo(listener, options, grpc::DEFAULT_MEMO_BYTES).await
}

/// As [`serve`], remembering up to `memo_bytes` of answers (0: none).
pub async fn serve_with_memo(
    listener: TcpListener,
    options: ServeOptions,
    memo_bytes: u64,
) -> Result<RunningServer, ServeError> {
    let limit = options.max_message_bytes;
    let classifier =
        grpc::Classifier::with_memo(std::sync::Arc::clone(&options.metrics), memo_bytes);
    let service = ClassifierServiceServer::new(classifier)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    service_kit::server::spawn(
        listener,
        service,
        &[exportcontrol_proto::CLASSIFIER_DESCRIPTOR_SET],
        options,
    )
    .await
}
