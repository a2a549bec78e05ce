//! ClassifyItem's and ClassifyItems' messages as the server handles them:
//! the request as the bytes it arrived as (decoded only when no answer is
//! remembered for them), and the answer either built now or remembered as
//! its encoding. The wire is exactly the contract's: a client decodes an
//! `Answer` as a `ClassifyItemResponse`.

use bytes::{BufMut, Bytes};
use exportcontrol_proto::classifier::v1 as pb;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// One ClassifyItem request, undecoded.
#[derive(Debug, Clone)]
pub struct ClassifyCall(pub Bytes);

impl ClassifyCall {
    /// The request, decoded as the other methods' requests are: a body that
    /// is not a `ClassifyItemRequest` is INVALID_ARGUMENT naming the field.
    pub fn decode(&self) -> Result<pb::ClassifyItemRequest, Status> {
        pb::ClassifyItemRequest::decode(self.0.clone()).map_err(|error| {
            exportcontrol_proto::codec::malformed::<pb::ClassifyItemRequest>(&error)
        })
    }
}

impl From<&pb::ClassifyItemRequest> for ClassifyCall {
    fn from(request: &pb::ClassifyItemRequest) -> Self {
        Self(request.encode_to_vec().into())
    }
}

/// One ClassifyItem answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Built for this call (a refusal inside a stream, or an answer the
    /// memo does not keep).
    Built(Box<pb::ClassifyItemResponse>),
    /// An encoded answer without its `decision_id` and `index`, which are
    /// this call's own and written after it. Protobuf allows a message's
    /// fields in any order, and these two are never in `body`.
    Encoded {
        body: Bytes,
        decision_id: String,
        index: u64,
    },
}

const DECISION_ID: u32 = 4;
const INDEX: u32 = 10;

impl Answer {
    pub fn set_index(&mut self, to: u64) {
        match self {
            Answer::Built(response) => response.index = to,
            Answer::Encoded { index, .. } => *index = to,
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            Answer::Built(response) => response.encoded_len(),
            Answer::Encoded {
                body,
                decision_id,
                index,
            } => {
                body.len()
                    + prost::encoding::string::encoded_len(DECISION_ID, decision_id)
                    + if *index == 0 {
                        0
                    } else {
                        prost::encoding::uint64::encoded_len(INDEX, index)
                    }
            }
        }
    }

    /// Writes the answer's encoding, as the server writes it into its frame.
    pub fn write(&self, buf: &mut impl BufMut) {
        match self {
            Answer::Built(response) => response.encode(buf).expect("the frame buffer grows to fit"),
            Answer::Encoded {
                body,
                decision_id,
                index,
            } => {
                buf.put_slice(body);
                prost::encoding::string::encode(DECISION_ID, decision_id, buf);
                if *index != 0 {
                    prost::encoding::uint64::encode(INDEX, index, buf);
                }
            }
        }
    }
}

/// The codec of ClassifyItem and ClassifyItems.
#[derive(Debug, Default, Clone, Copy)]
pub struct AnswerCodec;

impl Codec for AnswerCodec {
    type Encode = Answer;
    type Decode = ClassifyCall;
    type Encoder = AnswerEncoder;
    type Decoder = CallDecoder;

    fn encoder(&mut self) -> AnswerEncoder {
        AnswerEncoder
    }

    fn decoder(&mut self) -> CallDecoder {
        CallDecoder
    }
}

#[derive(Debug)]
pub struct AnswerEncoder;

impl Encoder for AnswerEncoder {
    type Item = Answer;
    type Error = Status;

    fn encode(&mut self, answer: Answer, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(answer.encoded_len());
        answer.write(dst);
        Ok(())
    }
}

#[derive(Debug)]
pub struct CallDecoder;

impl Decoder for CallDecoder {
    type Item = ClassifyCall;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<ClassifyCall>, Status> {
        use bytes::Buf;
        Ok(Some(ClassifyCall(buf.copy_to_bytes(buf.remaining()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response() -> pb::ClassifyItemResponse {
        pb::ClassifyItemResponse {
            rule_set: "2026-01-15".to_owned(),
            as_of: "2026-02-01".to_owned(),
            item_name: "H200".to_owned(),
            not_evaluated: vec!["one".to_owned()],
            ..Default::default()
        }
    }

    #[test]
    fn an_encoded_answer_decodes_as_the_response_it_was_made_from() {
        let body: Bytes = response().encode_to_vec().into();
        for index in [0, 1, 300, u64::MAX] {
            let answer = Answer::Encoded {
                body: body.clone(),
                decision_id: "0193c8a0-0000-7000-8000-000000000000".to_owned(),
                index,
            };
            let mut wire = Vec::new();
            answer.write(&mut wire);
            assert_eq!(wire.len(), answer.encoded_len());
            let expected = pb::ClassifyItemResponse {
                decision_id: "0193c8a0-0000-7000-8000-000000000000".to_owned(),
                index,
                ..response()
            };
            assert_eq!(
                pb::ClassifyItemResponse::decode(wire.as_slice()).unwrap(),
                expected
            );
        }
    }

    #[test]
    fn a_built_answer_is_encoded_as_prost_encodes_it() {
        let answer = Answer::Built(Box::new(response()));
        let mut wire = Vec::new();
        answer.write(&mut wire);
        assert_eq!(wire, response().encode_to_vec());
        assert_eq!(wire.len(), answer.encoded_len());
    }
}
