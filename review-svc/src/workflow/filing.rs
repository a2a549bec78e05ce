//! What an applicant files, in the workflow's own terms: the items, the
//! route, the end user and the end use. The adapter converts the request
//! into these types once; events store them under the names given here,
//! whatever the contract's generated types are called.
//!
//! Two things stay opaque, kept as the encoded protobuf messages they
//! arrived as: a chip's specifications (the classifier's input, never read
//! here) and the classifier's answers. Encoded protobuf is stable under
//! renames (field numbers are the contract, and `buf breaking` guards them),
//! so neither can change meaning when a generated name changes.

use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An encoded protobuf message the workflow carries but never reads.
/// Shared, not copied, between the events that bring it and the
/// application that keeps it.
///
/// Stored as standard base64; from [`Encoded::COMPRESSED_FROM`] bytes on,
/// LZ4-compressed first (LZ4 rather than a tighter codec: it costs
/// microseconds on the filing's path), and marked with how:
///
/// - `lz4d1:` (record format 4, what is written now): against dictionary 1,
///   three answers of the classifier whose rule texts and citations every
///   answer of the 2026 rules repeats (`record/answers-1.dict`, made by
///   `tests/grpc/answer_dictionary.rs`). A 7 KB answer then takes a few
///   hundred bytes instead of about 4 KB.
/// - `lz4:` (record format 3): compressed alone; still read.
///
/// A marker cannot begin plain base64 (`:` is not in its alphabet), so
/// every form reads back alike.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Encoded(pub Arc<[u8]>);

/// Compressed alone (record format 3).
const COMPRESSED_MARK: &str = "lz4:";

/// Compressed against [`DICTIONARY_1`] (record format 4).
const DICTIONARY_1_MARK: &str = "lz4d1:";

/// A dictionary in use never changes (a test pins its digest): the
/// messages compressed against it could not be read back otherwise. A
/// better one is a new file under the next number, with its own marker.
pub(crate) static DICTIONARY_1: &[u8] = include_bytes!("../record/answers-1.dict");

/// More than any message this service accepts: a stored compressed
/// message that claims to expand beyond it is refused, not allocated.
const MAX_EXPANDED_BYTES: usize = 64 << 20;

impl Encoded {
    /// Messages this long or longer are stored compressed: below it LZ4
    /// saves too little to pay for its size prefix and the marker.
    pub const COMPRESSED_FROM: usize = 256;

    pub fn new(bytes: Vec<u8>) -> Encoded {
        Encoded(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The message as shared bytes, not copied.
    pub fn to_bytes(&self) -> prost::bytes::Bytes {
        prost::bytes::Bytes::from_owner(self.0.clone())
    }

    /// Whether the record keeps this message compressed.
    pub fn is_stored_compressed(&self) -> bool {
        self.0.len() >= Self::COMPRESSED_FROM
    }

    /// The message `compressed` (its size first) holds, compressed against
    /// `dictionary` (empty: alone).
    fn expand(compressed: &[u8], dictionary: &[u8]) -> Result<Vec<u8>, String> {
        let (size, block) =
            lz4_flex::block::uncompressed_size(compressed).map_err(|e| e.to_string())?;
        if size > MAX_EXPANDED_BYTES {
            return Err(format!("a compressed message claims {size} bytes"));
        }
        let bytes = lz4_flex::block::decompress_with_dict(block, size, dictionary)
            .map_err(|e| e.to_string())?;
        if bytes.len() != size {
            return Err(format!(
                "a compressed message expands to {} bytes, not the {size} it claims",
                bytes.len()
            ));
        }
        Ok(bytes)
    }
}

impl From<&[u8]> for Encoded {
    fn from(bytes: &[u8]) -> Encoded {
        Encoded(bytes.into())
    }
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Encoded({} bytes)", self.0.len())
    }
}

impl Serialize for Encoded {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let base64 = &base64::engine::general_purpose::STANDARD;
        if self.is_stored_compressed() {
            let compressed =
                lz4_flex::block::compress_prepend_size_with_dict(&self.0, DICTIONARY_1);
            let encoded_len = base64::encoded_len(compressed.len(), true).unwrap_or_default();
            let mut text = String::with_capacity(DICTIONARY_1_MARK.len() + encoded_len);
            text.push_str(DICTIONARY_1_MARK);
            base64.encode_string(&compressed, &mut text);
            serializer.serialize_str(&text)
        } else {
            serializer.serialize_str(&base64.encode(&self.0))
        }
    }
}

impl<'de> Deserialize<'de> for Encoded {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let base64 = &base64::engine::general_purpose::STANDARD;
        let compressed = match text.strip_prefix(DICTIONARY_1_MARK) {
            Some(compressed) => Some((compressed, DICTIONARY_1)),
            None => text
                .strip_prefix(COMPRESSED_MARK)
                .map(|compressed| (compressed, &[][..])),
        };
        match compressed {
            Some((compressed, dictionary)) => base64
                .decode(compressed.as_bytes())
                .map_err(|e| e.to_string())
                .and_then(|compressed| Encoded::expand(&compressed, dictionary)),
            None => base64.decode(text.as_bytes()).map_err(|e| e.to_string()),
        }
        .map(Encoded::new)
        .map_err(serde::de::Error::custom)
    }
}

/// A whole filing: every line item and the transaction they travel in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FiledApplication {
    #[serde(rename = "items")]
    pub items: Vec<FiledItem>,
    #[serde(rename = "route")]
    pub route: Route,
    #[serde(rename = "end_user_name")]
    pub end_user_name: String,
    #[serde(rename = "end_use_statement")]
    pub end_use_statement: String,
}

impl FiledApplication {
    /// Number of line items (the classification must cover each one).
    pub fn item_count(&self) -> u32 {
        u32::try_from(self.items.len()).unwrap_or(u32::MAX)
    }

    /// Value of the whole filing in U.S. cents; saturates instead of
    /// overflowing (the adapter bounds quantities and unit values).
    pub fn total_value_usd_cents(&self) -> u128 {
        self.items
            .iter()
            .map(|item| u128::from(item.quantity) * u128::from(item.unit_value_usd_cents))
            .fold(0u128, u128::saturating_add)
    }
}

/// One line of the application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiledItem {
    #[serde(rename = "chip")]
    pub chip: Chip,
    #[serde(rename = "quantity")]
    pub quantity: u64,
    #[serde(rename = "unit_value_usd_cents")]
    pub unit_value_usd_cents: u64,
}

/// Which chip a line item is: a catalogue name, or specifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Chip {
    /// A classifier catalogue name such as "H200".
    #[serde(rename = "catalog")]
    Catalog(String),
    /// The classifier's `ChipSpec`, encoded.
    #[serde(rename = "spec")]
    Spec(Encoded),
}

/// Destination, headquarters and kind of export: what the licence question
/// is asked about. Country codes are upper-case ISO 3166-1 alpha-2 (the
/// adapter normalises them); an unknown headquarters is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    #[serde(rename = "destination_country")]
    pub destination_country: String,
    #[serde(rename = "end_user_headquarters_country")]
    pub end_user_headquarters_country: String,
    #[serde(rename = "ultimate_parent_headquarters_country")]
    pub ultimate_parent_headquarters_country: String,
    #[serde(rename = "export_type")]
    pub export_type: ExportType,
    /// The exporter holds a company-specific "is-informed" notice.
    #[serde(rename = "is_informed_notice_received")]
    pub is_informed_notice_received: bool,
    /// What kind of organisation the end user is (rules since 2026 depend
    /// on it). Absent in records written before it existed.
    #[serde(
        rename = "end_user_kind",
        default,
        skip_serializing_if = "EndUserKind::is_unspecified"
    )]
    pub end_user_kind: EndUserKind,
}

/// What kind of organisation the end user is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndUserKind {
    #[default]
    #[serde(rename = "UNSPECIFIED")]
    Unspecified,
    #[serde(rename = "GOVERNMENT")]
    Government,
    #[serde(rename = "COMMERCIAL")]
    Commercial,
    #[serde(rename = "IAAS_PROVIDER")]
    IaasProvider,
}

impl EndUserKind {
    fn is_unspecified(&self) -> bool {
        *self == EndUserKind::Unspecified
    }
}

/// How the item leaves: from the United States, a reexport, or within one
/// foreign country.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExportType {
    #[default]
    #[serde(rename = "UNSPECIFIED")]
    Unspecified,
    #[serde(rename = "EXPORT_FROM_US")]
    ExportFromUs,
    #[serde(rename = "REEXPORT")]
    Reexport,
    #[serde(rename = "IN_COUNTRY_TRANSFER")]
    InCountryTransfer,
}

#[cfg(test)]
impl FiledApplication {
    /// `items` catalogue chips to `destination`, exported from the U.S.
    pub fn sample(destination: &str, items: u32) -> Arc<FiledApplication> {
        Arc::new(FiledApplication {
            items: (0..items)
                .map(|_| FiledItem {
                    chip: Chip::Catalog("H200".into()),
                    quantity: 100,
                    unit_value_usd_cents: 3_000_000,
                })
                .collect(),
            route: Route {
                destination_country: destination.into(),
                export_type: ExportType::ExportFromUs,
                ..Route::default()
            },
            end_user_name: "Example Cloud Co.".into(),
            end_use_statement: "Commercial cloud inference".into(),
        })
    }
}
