//! The gRPC contract of the export-control services, generated at build time.

pub mod classifier {
    pub mod v1 {
        tonic::include_proto!("exportcontrol.classifier.v1");
    }
}

pub mod review {
    pub mod v1 {
        tonic::include_proto!("exportcontrol.review.v1");
        pub use crate::item_classification::ItemClassification;
    }
}

mod item_classification;

/// Encoded `FileDescriptorSet` for classifier-svc's reflection service.
pub const CLASSIFIER_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/classifier_descriptor.bin"));

/// Encoded `FileDescriptorSet` for review-svc's reflection service: the
/// review package and the classifier messages it uses.
pub const REVIEW_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/review_descriptor.bin"));

/// The codec of every generated client and server: prost's, except that a
/// request that is not a valid encoding of its message (invalid UTF-8 in a
/// string, a truncated field, a wrong wire type, nesting past prost's
/// recursion limit) is refused with INVALID_ARGUMENT, an `ErrorInfo`
/// (reason `MALFORMED_MESSAGE`) and a `BadRequest` naming the field, where
/// prost's codec answers INTERNAL with no details: the fault is the
/// caller's, not the server's.
pub mod codec {
    use std::marker::PhantomData;

    use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
    use tonic::{Code, Status};
    use tonic_prost::{ProstCodec, ProstEncoder};
    use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

    /// The `ErrorInfo` reason of a body that does not decode.
    pub const MALFORMED_MESSAGE: &str = "MALFORMED_MESSAGE";

    /// [`ProstCodec`]'s encoder of `T`, with the decoder `D` of `U`.
    #[derive(Debug, Clone, Copy)]
    pub struct ProstEncoding<T, U, D>(PhantomData<(T, U, D)>);

    impl<T, U, D> Default for ProstEncoding<T, U, D> {
        fn default() -> Self {
            Self(PhantomData)
        }
    }

    impl<T, U, D> Codec for ProstEncoding<T, U, D>
    where
        T: prost::Message + Send + 'static,
        U: prost::Message + Default + Send + 'static,
        D: Decoder<Error = Status> + Default + Send + 'static,
        D::Item: Send + 'static,
    {
        type Encode = T;
        type Decode = D::Item;
        type Encoder = ProstEncoder<T>;
        type Decoder = D;

        fn encoder(&mut self) -> Self::Encoder {
            ProstCodec::<T, U>::default().encoder()
        }

        fn decoder(&mut self) -> Self::Decoder {
            D::default()
        }
    }

    /// [`ProstCodec`] with decode errors answered as INVALID_ARGUMENT.
    pub type ValidatingCodec<T, U> = ProstEncoding<T, U, ValidatingDecoder<U>>;

    /// Decodes with prost; see [`malformed`] for the errors.
    #[derive(Debug, Default)]
    pub struct ValidatingDecoder<U>(PhantomData<U>);

    impl<U: prost::Message + Default> Decoder for ValidatingDecoder<U> {
        type Item = U;
        type Error = Status;

        fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
            U::decode(buf)
                .map(Some)
                .map_err(|error| malformed::<U>(&error))
        }

        fn buffer_settings(&self) -> BufferSettings {
            BufferSettings::default()
        }
    }

    /// A message decoded, and the bytes it arrived as: for a client that
    /// records what it was sent (fields this build does not know included)
    /// without encoding it again.
    #[derive(Debug, Clone)]
    pub struct Arrived<U> {
        pub message: U,
        pub encoded: prost::bytes::Bytes,
    }

    /// A client's codec: prost's, with the answer kept beside the bytes it
    /// arrived as (see [`Arrived`]). An answer that does not decode is
    /// INTERNAL, the fault of the server that sent it; [`ValidatingCodec`]
    /// would make it INVALID_ARGUMENT, as if the caller had sent it.
    pub type KeepingCodec<T, U> = ProstEncoding<T, U, KeepingDecoder<U>>;

    /// Decodes with prost, keeping the bytes; see [`KeepingCodec`].
    #[derive(Debug, Default)]
    pub struct KeepingDecoder<U>(PhantomData<U>);

    impl<U: prost::Message + Default> Decoder for KeepingDecoder<U> {
        type Item = Arrived<U>;
        type Error = Status;

        fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Arrived<U>>, Status> {
            use prost::bytes::Buf;
            let encoded = buf.copy_to_bytes(buf.remaining());
            U::decode(&encoded[..])
                .map(|message| Some(Arrived { message, encoded }))
                .map_err(|error| {
                    let message = message_name::<U>();
                    Status::internal(format!("the answer is not a valid {message}: {error}"))
                })
        }

        fn buffer_settings(&self) -> BufferSettings {
            BufferSettings::default()
        }
    }

    /// INVALID_ARGUMENT for a message of type `U` that did not decode.
    pub fn malformed<U>(error: &prost::DecodeError) -> Status {
        let type_name = std::any::type_name::<U>();
        let domain = if type_name.contains("::review::") {
            "review.exportcontrol"
        } else {
            "classifier.exportcontrol"
        };
        let message = message_name::<U>();
        let (field, description) = field_and_description(&error.to_string());
        let mut details = ErrorDetails::with_error_info(
            MALFORMED_MESSAGE,
            domain,
            [
                ("message".to_owned(), message.to_owned()),
                ("field".to_owned(), field.clone()),
                ("error".to_owned(), description.clone()),
            ],
        );
        details.set_bad_request(vec![FieldViolation {
            reason: MALFORMED_MESSAGE.into(),
            ..FieldViolation::new(field.clone(), description.clone())
        }]);
        let at = if field.is_empty() {
            String::new()
        } else {
            format!(" at {field}")
        };
        Status::with_error_details(
            Code::InvalidArgument,
            format!("the request is not a valid {message}{at}: {description}"),
            details,
        )
    }

    /// The protobuf message's name of the generated type `U`.
    fn message_name<U>() -> &'static str {
        let type_name = std::any::type_name::<U>();
        type_name.rsplit("::").next().unwrap_or(type_name)
    }

    /// Splits prost's "failed to decode Protobuf message: Inner.f: Outer.g:
    /// description" into the field path from the outermost message ("g.f")
    /// and the description.
    fn field_and_description(text: &str) -> (String, String) {
        let rest = text
            .strip_prefix("failed to decode Protobuf message: ")
            .unwrap_or(text);
        let mut fields = Vec::new();
        let mut rest = rest;
        while let Some((head, tail)) = rest.split_once(": ") {
            match head.split_once('.') {
                Some((message, field))
                    if !message.is_empty()
                        && !field.is_empty()
                        && !head.contains(' ')
                        && message
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    fields.push(field.to_owned());
                    rest = tail;
                }
                _ => break,
            }
        }
        fields.reverse();
        (fields.join("."), rest.to_owned())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_field_path_starts_at_the_outermost_message() {
            assert_eq!(
                field_and_description(
                    "failed to decode Protobuf message: Chip.name: ClassifyItemRequest.spec: invalid string value: data is not UTF-8 encoded"
                ),
                (
                    "spec.name".to_owned(),
                    "invalid string value: data is not UTF-8 encoded".to_owned()
                )
            );
            assert_eq!(
                field_and_description("failed to decode Protobuf message: invalid varint"),
                (String::new(), "invalid varint".to_owned())
            );
        }
    }
}
