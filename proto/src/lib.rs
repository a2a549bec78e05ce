//! The gRPC contract of the export-control services, generated at build time.

pub mod classifier {
    pub mod v1 {
        tonic::include_proto!("exportcontrol.classifier.v1");
    }
}

pub mod review {
    pub mod v1 {
        tonic::include_proto!("exportcontrol.review.v1");
    }
}

/// Encoded `FileDescriptorSet` for classifier-svc's reflection service.
pub const CLASSIFIER_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/classifier_descriptor.bin"));

/// Encoded `FileDescriptorSet` for review-svc's reflection service: the
/// review package and the classifier messages it uses.
pub const REVIEW_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/review_descriptor.bin"));
