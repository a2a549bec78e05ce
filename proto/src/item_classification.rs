//! `exportcontrol.review.v1.ItemClassification`, written by hand rather than
//! generated, for one reason: review-svc keeps each classifier answer as the
//! bytes it arrived as, and serves it from those bytes. A generated message
//! could only carry the answer decoded, so every CreateApplication and
//! GetApplication decoded a 7 KB answer only to encode it again unchanged.
//! On the wire the two forms are the same: field 2 is length-delimited
//! either way.

use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{bool as boolean, bytes, message, string, uint32, DecodeContext, WireType};
use prost::DecodeError;

use crate::classifier::v1::ClassifyItemResponse;

/// The classifier's answer for one line item, as it returned it.
#[derive(Clone, PartialEq, Default)]
pub struct ItemClassification {
    /// Index into `items`.
    pub item_index: u32,
    /// Unset when the classifier refused the item (it then goes to review).
    /// Decoding always fills this form.
    pub result: Option<ClassifyItemResponse>,
    /// The answer as an encoded `ClassifyItemResponse`, sent in place of
    /// `result` when set: for a server that has the bytes and no use for
    /// the message. Decoding never sets it.
    pub result_encoded: Option<Bytes>,
    /// What review-svc took from it: an answer the rules could not settle
    /// counts as required.
    pub license_required: bool,
    /// For example "CASE_BY_CASE"; "INDETERMINATE" when the classifier could
    /// not settle it.
    pub review_policy: String,
    /// One line for people.
    pub summary: String,
}

impl ItemClassification {
    /// Leaves the answer out, in either form.
    pub fn clear_result(&mut self) {
        self.result = None;
        self.result_encoded = None;
    }
}

impl std::fmt::Debug for ItemClassification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemClassification")
            .field("item_index", &self.item_index)
            .field("result", &self.result)
            .field(
                "result_encoded",
                &self.result_encoded.as_ref().map(|b| b.len()),
            )
            .field("license_required", &self.license_required)
            .field("review_policy", &self.review_policy)
            .field("summary", &self.summary)
            .finish()
    }
}

const NAME: &str = "ItemClassification";

impl prost::Message for ItemClassification {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if self.item_index != 0 {
            uint32::encode(1, &self.item_index, buf);
        }
        if let Some(encoded) = &self.result_encoded {
            bytes::encode(2, encoded, buf);
        } else if let Some(result) = &self.result {
            message::encode(2, result, buf);
        }
        if self.license_required {
            boolean::encode(3, &self.license_required, buf);
        }
        if !self.review_policy.is_empty() {
            string::encode(4, &self.review_policy, buf);
        }
        if !self.summary.is_empty() {
            string::encode(5, &self.summary, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let field = |field: &'static str| {
            move |mut error: DecodeError| {
                error.push(NAME, field);
                error
            }
        };
        match tag {
            1 => uint32::merge(wire_type, &mut self.item_index, buf, ctx)
                .map_err(field("item_index")),
            2 => message::merge(
                wire_type,
                self.result.get_or_insert_with(Default::default),
                buf,
                ctx,
            )
            .map_err(field("result")),
            3 => boolean::merge(wire_type, &mut self.license_required, buf, ctx)
                .map_err(field("license_required")),
            4 => string::merge(wire_type, &mut self.review_policy, buf, ctx)
                .map_err(field("review_policy")),
            5 => string::merge(wire_type, &mut self.summary, buf, ctx).map_err(field("summary")),
            _ => prost::encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let mut len = 0;
        if self.item_index != 0 {
            len += uint32::encoded_len(1, &self.item_index);
        }
        if let Some(encoded) = &self.result_encoded {
            len += bytes::encoded_len(2, encoded);
        } else if let Some(result) = &self.result {
            len += message::encoded_len(2, result);
        }
        if self.license_required {
            len += boolean::encoded_len(3, &self.license_required);
        }
        if !self.review_policy.is_empty() {
            len += string::encoded_len(4, &self.review_policy);
        }
        if !self.summary.is_empty() {
            len += string::encoded_len(5, &self.summary);
        }
        len
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::classifier::v1 as classifier;

    /// The generated form this type stands in for, kept to compare with.
    #[derive(Clone, PartialEq, ::prost::Message)]
    struct Generated {
        #[prost(uint32, tag = "1")]
        item_index: u32,
        #[prost(message, optional, tag = "2")]
        result: Option<ClassifyItemResponse>,
        #[prost(bool, tag = "3")]
        license_required: bool,
        #[prost(string, tag = "4")]
        review_policy: String,
        #[prost(string, tag = "5")]
        summary: String,
    }

    fn answer() -> ClassifyItemResponse {
        ClassifyItemResponse {
            rule_set: "2026-01".into(),
            decision_id: "d-1".into(),
            item_name: "H200".into(),
            classification: Some(classifier::Classification {
                paragraph: "3A090.a".into(),
                tpp: 15_832.0,
                ..Default::default()
            }),
            license: Some(classifier::LicenseDetermination {
                license_required: true,
                conditions: vec!["tested in the United States".into()],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn generated() -> Generated {
        Generated {
            item_index: 2,
            result: Some(answer()),
            license_required: true,
            review_policy: "CASE_BY_CASE".into(),
            summary: "item 2 (H200): 3A090.a".into(),
        }
    }

    #[test]
    fn both_forms_encode_as_the_generated_message_does() {
        let expected = generated().encode_to_vec();
        let decoded = ItemClassification {
            item_index: 2,
            result: Some(answer()),
            license_required: true,
            review_policy: "CASE_BY_CASE".into(),
            summary: "item 2 (H200): 3A090.a".into(),
            ..Default::default()
        };
        let kept = ItemClassification {
            result: None,
            result_encoded: Some(answer().encode_to_vec().into()),
            ..decoded.clone()
        };
        for form in [&decoded, &kept] {
            assert_eq!(form.encode_to_vec(), expected);
            assert_eq!(form.encoded_len(), expected.len());
        }
        assert_eq!(ItemClassification::decode(&expected[..]).unwrap(), decoded);
    }

    #[test]
    fn empty_fields_are_left_out_and_unknown_ones_skipped() {
        assert!(ItemClassification::default().encode_to_vec().is_empty());
        let mut bytes = generated().encode_to_vec();
        // Field 9, a string this build does not know.
        bytes.extend([0x4a, 0x01, b'x']);
        let read = ItemClassification::decode(&bytes[..]).unwrap();
        assert_eq!(read.encode_to_vec(), generated().encode_to_vec());
    }

    #[test]
    fn a_malformed_answer_is_named_by_its_path() {
        let mut bytes = Generated {
            result: None,
            ..generated()
        }
        .encode_to_vec();
        // Field 2 claims 5 bytes and has 1.
        bytes.extend([0x12, 0x05, 0x00]);
        let error = ItemClassification::decode(&bytes[..]).unwrap_err();
        assert!(
            error.to_string().contains("ItemClassification.result"),
            "{error}"
        );
    }
}
