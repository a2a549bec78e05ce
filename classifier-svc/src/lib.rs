//! classifier-svc: the control status of advanced-computing chips under U.S.
//! export controls, as of any date, for any destination.

pub mod catalog;
pub mod convert;
pub mod grpc;
pub mod rules;

use exportcontrol_proto::classifier::v1::classifier_service_server::ClassifierServiceServer;
use service_kit::server::{RunningServer, ServeError, ServeOptions};
use tokio::net::TcpListener;

/// Serves the classifier (with health and reflection) on `listener`.
pub async fn serve(
    listener: TcpListener,
    options: ServeOptions,
) -> Result<RunningServer, ServeError> {
    let limit = options.max_message_bytes;
    let service = ClassifierServiceServer::new(grpc::Classifier::new(std::sync::Arc::clone(
        &options.metrics,
    )))
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
