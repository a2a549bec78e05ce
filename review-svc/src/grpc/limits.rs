//! What review-svc stores is bounded by what it can serve: every stored
//! application must fit in one answer (GetApplication, a one-item page of
//! ListApplications, a transition's answer) and every event in one page
//! of ListApplicationEvents and one message of WatchApplications, under the
//! server's encode limit (`--max-message-bytes`).
//!
//! A filing is the one write whose size the caller chooses freely, so it
//! is measured before anything is written: the application as it would be
//! answered, and its two large events (what was filed, what the classifier
//! said) as they would be served. Later transitions add bounded text
//! (a rationale, at most [`MAX_CONDITIONS_BYTES`] of conditions), on a
//! ladder of bounded length; [`GROWTH_RESERVE`] is kept for them.

use std::time::Duration;

use prost::Message;
use tonic::{Code, Status};

use super::errors::ERRORS;
use super::validate::{MAX_CONDITIONS_BYTES, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use crate::workflow::holds::{MAX_DOCUMENTS, MAX_HOLDS};
use crate::workflow::FiledApplication;
use exportcontrol_proto::review::v1 as pb;

/// What the rest of an application's life can add to it, at most: 12
/// recommendations and votes (four agencies at three levels) and up to
/// five decisions kept twice (current and history), two of them vote
/// tallies carrying the union of four agencies' conditions; each with a
/// rationale; and [`MAX_HOLDS`] holds, each with its reason, the answer
/// or release note and its document references. About 780 KB; twice that
/// is kept.
pub const GROWTH_RESERVE: usize =
    2 * (12 * PER_TRANSITION + 2 * (3 * PER_TRANSITION + 2 * TALLY) + MAX_HOLDS * PER_HOLD);
const PER_TRANSITION: usize = MAX_CONDITIONS_BYTES + MAX_LONG_TEXT + 512;
const PER_HOLD: usize = 2 * MAX_LONG_TEXT + MAX_DOCUMENTS * MAX_SHORT_TEXT + 512;
const TALLY: usize = 4 * MAX_CONDITIONS_BYTES + 1024;
/// Room for a page's wrapper (token, field tags) around its items.
pub const PAGE_MARGIN: usize = 64 * 1024;
/// The classifier's answer for one item, assumed when the classifier is
/// unavailable at filing and the answers come later (a catalogue chip's
/// answer is about 2 KB)...
pub const PENDING_ANSWER_ESTIMATE: usize = 16 * 1024;
/// ...and for each IC an assembly contains (the answer about an assembly
/// of 64 chips is about 74 KB, 1.2 KB an IC; its JSON in the event more).
pub const PENDING_ANSWER_PER_IC: usize = 4 * 1024;

/// What the classifier's answers to `filed`'s items are assumed to add,
/// when they come after the filing.
pub fn pending_estimate(filed: &FiledApplication) -> usize {
    use exportcontrol_proto::classifier::v1::classify_item_request::Item;
    use exportcontrol_proto::classifier::v1::contained_integrated_circuit::Ic;
    use exportcontrol_proto::classifier::v1::ChipSpec;
    fn ics(spec: &ChipSpec, depth: usize) -> usize {
        if depth > 8 {
            return 0;
        }
        spec.contained_ics
            .iter()
            .map(|ic| match &ic.ic {
                Some(Ic::Spec(inner)) => 1 + ics(inner, depth + 1),
                _ => 1,
            })
            .sum()
    }
    filed
        .items
        .iter()
        .map(|item| {
            let contained = match crate::convert::chip(&item.chip) {
                Some(Item::Spec(spec)) => ics(&spec, 0),
                _ => 0,
            };
            PENDING_ANSWER_ESTIMATE + contained * PENDING_ANSWER_PER_IC
        })
        .sum()
}

/// Less than this left of the caller's deadline, and nothing is started:
/// a write takes a few milliseconds, and one cut off by the deadline would
/// leave the caller not knowing whether it happened.
pub const MIN_WRITE_BUDGET: Duration = Duration::from_millis(10);

/// The limits derived from the server's encode limit.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    max_message: usize,
}

impl Limits {
    pub fn new(max_message: usize) -> Self {
        Self { max_message }
    }

    /// The largest filing, as answered (and each of its large events).
    pub fn filing(&self) -> usize {
        if self.max_message >= 2 * GROWTH_RESERVE {
            self.max_message - GROWTH_RESERVE
        } else {
            self.max_message / 2
        }
    }

    /// The encoded size of the items of one list page.
    pub fn page(&self) -> usize {
        self.max_message.saturating_sub(PAGE_MARGIN).max(1)
    }

    pub fn max_message(&self) -> usize {
        self.max_message
    }
}

/// Refuses a filing whose answer or events would be larger than `limits`
/// allows (INVALID_ARGUMENT, reason APPLICATION_TOO_LARGE); `filed_event`
/// and `classified_event` are the two large events as served, and
/// `estimate` what answers still to come are assumed to add.
pub fn check_filing(
    limits: Limits,
    answered: &pb::Application,
    estimate: usize,
    filed_event: usize,
    classified_event: usize,
) -> Result<(), Status> {
    let sizes = [
        ("application", answered.encoded_len() + estimate),
        ("the filed content in its event", filed_event),
        (
            "the classifier's answers in their event",
            classified_event + estimate,
        ),
    ];
    let limit = limits.filing();
    let Some((what, size)) = sizes.into_iter().find(|(_, size)| *size > limit) else {
        return Ok(());
    };
    Err(ERRORS.field_status(
        Code::InvalidArgument,
        "APPLICATION_TOO_LARGE",
        format!(
            "the application would be {size} bytes as {what}; at most {limit} bytes are accepted \
             (the {} byte message limit less {} bytes for its review): file fewer or smaller items",
            limits.max_message(),
            limits.max_message() - limit
        ),
        [
            ("sizeBytes", size.to_string()),
            ("limitBytes", limit.to_string()),
            ("maxMessageBytes", limits.max_message().to_string()),
        ],
        "application",
        format!("at most {limit} bytes as answered and recorded ({what}: {size} bytes)"),
    ))
}

/// How many of `sizes` (encoded sizes of a page's items, in order) fit in
/// `budget`: at least one, so that a page always moves on.
pub fn fitting(sizes: impl IntoIterator<Item = usize>, budget: usize) -> usize {
    let mut total = 0usize;
    let mut count = 0usize;
    for size in sizes {
        // Each item of a repeated message field: tag, length, bytes.
        let framed = 1 + prost::encoding::encoded_len_varint(size as u64) + size;
        if count > 0 && total + framed > budget {
            break;
        }
        total += framed;
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_covers_the_ladder_and_leaves_most_of_the_default_limit() {
        let limits = Limits::new(4 * 1024 * 1024);
        const { assert!(GROWTH_RESERVE < 1_600_000) };
        assert_eq!(limits.filing(), 4 * 1024 * 1024 - GROWTH_RESERVE);
        // The figures the README's Limits section states.
        assert_eq!((GROWTH_RESERVE, limits.filing()), (1_565_824, 2_628_480));
        assert_eq!(Limits::new(1 << 20).filing(), 1 << 19);
    }

    #[test]
    fn answers_to_come_grow_with_the_ics_an_assembly_contains() {
        use exportcontrol_proto::classifier::v1 as cpb;
        let chip = pb::LineItem {
            item: Some(pb::line_item::Item::CatalogChip("H200".into())),
            ..Default::default()
        };
        let ic = |ic| cpb::ContainedIntegratedCircuit {
            ic: Some(ic),
            count: 8,
        };
        let inner = cpb::ChipSpec {
            contained_ics: vec![ic(cpb::contained_integrated_circuit::Ic::CatalogChip(
                "H200".into(),
            ))],
            ..Default::default()
        };
        let board = pb::LineItem {
            item: Some(pb::line_item::Item::Spec(cpb::ChipSpec {
                contained_ics: vec![
                    ic(cpb::contained_integrated_circuit::Ic::CatalogChip(
                        "H200".into(),
                    )),
                    ic(cpb::contained_integrated_circuit::Ic::Spec(inner)),
                ],
                ..Default::default()
            })),
            ..Default::default()
        };
        let filed = |items: &[pb::LineItem]| {
            crate::convert::filed_application(items, &pb::ExportTransaction::default())
        };
        assert_eq!(
            pending_estimate(&filed(std::slice::from_ref(&chip))),
            PENDING_ANSWER_ESTIMATE
        );
        assert_eq!(
            pending_estimate(&filed(&[chip, board])),
            2 * PENDING_ANSWER_ESTIMATE + 3 * PENDING_ANSWER_PER_IC
        );
    }

    #[test]
    fn pages_take_what_fits_and_at_least_one() {
        assert_eq!(fitting([10, 10, 10], 1000), 3);
        assert_eq!(fitting([400, 400, 400], 1000), 2);
        assert_eq!(fitting([5000, 1], 1000), 1);
        assert_eq!(fitting(std::iter::empty(), 1000), 0);
    }
}
