//! The record's format: how events and snapshots become the bytes the
//! store keeps (and, for events, hashes), and back.
//!
//! The format belongs to this service, not to the contract: events and
//! snapshots are the workflow's own types under the names they declare,
//! wrapped in an envelope that names the format version. What the contract
//! carries opaquely (a chip's specifications, the classifier's answers) is
//! kept as encoded protobuf, never as a JSON image of generated types.
//!
//! | format | event bytes | snapshot bytes |
//! |---|---|---|
//! | 1 (first release) | `{"type":…}`: serde image of the workflow event, what was filed and the classifier's answers as JSON images of the contract's generated types | the whole application, filed content and answers included |
//! | 2 (current) | `{"format":2,"event":{"type":…}}` | `{"format":2,"application":{…}}`, without the filed content and the answers (the events hold them) |
//! | 3 | format 2's, for the events that hold an encoded message of [`COMPRESSED_FROM`](crate::workflow::Encoded::COMPRESSED_FROM) bytes or more (a filing's chip specifications, the classifier's answers): those messages are LZ4-compressed, `"lz4:…"` (see [`Encoded`](crate::workflow::Encoded)) | — (snapshots hold no encoded message) |
//! | 4 (current, some events) | format 3's, the messages compressed against dictionary 1, `"lz4d1:…"` | — |
//!
//! Licence events (`LicenseIssued`, `ShipmentRecorded`, …) were added to
//! format 2 as new kinds: the same envelope, their own `"type"`. Licence
//! snapshots are `{"format":2,"license":{…}}` and shipment rows
//! `{"format":2,"shipment":{…}}` (see [`license`]).
//!
//! History is never rewritten: an event keeps the bytes it was hashed
//! with, so a chain may hold events of every format, and every reader
//! accepts them all. The golden tests in `tests.rs` pin the bytes of
//! formats 2, 3 and 4; a change that moves them needs a format 5 (and this
//! table's new row). Formats 3 and 4 are format 2 with compressed
//! messages, not a new layout: an event without such a message is still
//! written as format 2, and all three read through one decoder. Format 2 grows without moving
//! them: a new event kind gets its own golden
//! entry, and a field added to an existing kind is optional, written only
//! when set (so an event without it keeps its bytes) and read as absent
//! from older records (the end user's kind on a filing, the deadline for
//! requests for information on a referral; holds and the stopped clock on
//! a snapshot).

pub mod license;
mod v1;

use serde::{Deserialize, Serialize};

use crate::workflow::{Application, Chip, Event};

/// The format new snapshots, licences, shipments and events without a
/// compressed message are written in: their bytes did not change with 3.
pub const FORMAT: u32 = 2;

/// The format of a new event that keeps a message compressed (against
/// dictionary 1). A reader of an earlier format refuses it by its number
/// instead of misreading it.
pub const COMPRESSED_FORMAT: u32 = 4;

/// Events that keep a message compressed alone: still read.
pub const LZ4_FORMAT: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("unreadable record (format {format}): {detail}")]
    Unreadable { format: u32, detail: String },
    #[error("record of unknown format {0}")]
    UnknownFormat(u32),
}

#[derive(Serialize)]
struct EventOut<'a> {
    format: u32,
    event: &'a Event,
}

#[derive(Deserialize)]
struct EventIn {
    event: Event,
}

#[derive(Serialize)]
struct SnapshotOut<'a> {
    format: u32,
    application: &'a Application,
}

#[derive(Deserialize)]
struct SnapshotIn {
    application: Application,
}

/// The bytes of a new event, as stored and hashed.
pub fn encode_event(event: &Event) -> String {
    serde_json::to_string(&EventOut {
        format: format_of_new(event),
        event,
    })
    .expect("workflow events serialize")
}

fn format_of_new(event: &Event) -> u32 {
    let compressed = match event {
        Event::ApplicationFiled { application, .. } => application
            .items
            .iter()
            .any(|item| matches!(&item.chip, Chip::Spec(spec) if spec.is_stored_compressed())),
        Event::ItemsClassified { items, .. } => {
            items.iter().any(|item| item.answer.is_stored_compressed())
        }
        _ => false,
    };
    if compressed {
        COMPRESSED_FORMAT
    } else {
        FORMAT
    }
}

/// Reads a stored event of any format.
pub fn decode_event(bytes: &str) -> Result<Event, FormatError> {
    match format_of(bytes)? {
        1 => v1::event(bytes),
        format @ (FORMAT | LZ4_FORMAT | COMPRESSED_FORMAT) => {
            serde_json::from_str::<EventIn>(bytes)
                .map(|e| e.event)
                .map_err(|e| unreadable(format, e))
        }
        other => Err(FormatError::UnknownFormat(other)),
    }
}

/// The bytes of a snapshot: the application without what was filed and
/// without the classifier's answers.
pub fn encode_snapshot(app: &Application) -> String {
    serde_json::to_string(&SnapshotOut {
        format: FORMAT,
        application: app,
    })
    .expect("applications serialize")
}

/// A stored snapshot, read.
pub enum Snapshot {
    /// The application's state; its `filed` content and the classifier's
    /// answers are empty until taken from the events.
    State(Box<Application>),
    /// A snapshot of the first format: rebuild the application from its
    /// events instead (they are readable in every format).
    Replay,
}

pub fn decode_snapshot(bytes: &str) -> Result<Snapshot, FormatError> {
    match format_of(bytes)? {
        1 => Ok(Snapshot::Replay),
        2 => serde_json::from_str::<SnapshotIn>(bytes)
            .map(|s| Snapshot::State(Box::new(s.application)))
            .map_err(|e| unreadable(2, e)),
        other => Err(FormatError::UnknownFormat(other)),
    }
}

/// Format 2 and later open with their number (the envelope is written by
/// this module, always in this order); the first format has none.
fn format_of(bytes: &str) -> Result<u32, FormatError> {
    let Some(rest) = bytes.strip_prefix("{\"format\":") else {
        return Ok(1);
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[..digits]
        .parse()
        .map_err(|_| unreadable(0, "the format number is missing"))
}

fn unreadable(format: u32, error: impl std::fmt::Display) -> FormatError {
    FormatError::Unreadable {
        format,
        detail: error.to_string(),
    }
}

#[cfg(test)]
mod tests;
