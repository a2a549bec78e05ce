//! The hash chain of an application's events: the hash function and the
//! verification walk. Pure code, shared by both backends.
//!
//! Every event's hash covers the previous event's hash (of the same
//! application), so altering, removing or reordering any stored event
//! breaks every later link. The application row also records the length of
//! its chain and the last hash (the chain head), so removing the newest
//! events is detected too; once a licence is issued, the licence row
//! carries the head on and the application row's record must lie on the
//! chain where the issue left it.

use sha2::{Digest, Sha256};

use super::ChainReport;

/// `previous_hash` of an application's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain tag: the first field hashed, so that these hashes cannot be
/// confused with any other SHA-256 of length-prefixed fields.
const DOMAIN: &[u8] = b"review-svc/event/v1";

fn put_bytes(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

/// Hex SHA-256 of an event. Every field is length-prefixed (8-byte
/// big-endian length, then the bytes; integers as 8-byte big-endian two's
/// complement), so no two distinct field tuples share an encoding.
pub fn event_hash(
    previous_hash: &str,
    application_id: &str,
    application_sequence: i64,
    kind: &str,
    actor: &str,
    at: i64,
    details: &str,
) -> String {
    let mut hasher = Sha256::new();
    put_bytes(&mut hasher, DOMAIN);
    put_bytes(&mut hasher, previous_hash.as_bytes());
    put_bytes(&mut hasher, application_id.as_bytes());
    put_bytes(&mut hasher, &application_sequence.to_be_bytes());
    put_bytes(&mut hasher, kind.as_bytes());
    put_bytes(&mut hasher, actor.as_bytes());
    put_bytes(&mut hasher, &at.to_be_bytes());
    put_bytes(&mut hasher, details.as_bytes());
    hex::encode(hasher.finalize())
}

/// An event as the walk reads it back from storage.
#[derive(Debug, Clone, Copy)]
pub struct ChainLink<'a> {
    pub application_id: &'a str,
    pub application_sequence: i64,
    pub kind: &'a str,
    pub actor: &'a str,
    pub at: i64,
    pub details: &'a str,
    pub previous_hash: &'a str,
    pub hash: &'a str,
}

/// What a row says about its chain: the application's, or its licence's
/// once issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub length: i64,
    pub hash: String,
}

/// Recomputes the chains from events fed in (application_id,
/// application_sequence) order and remembers the first break.
///
/// Feed every event with [`ChainWalker::push`], call
/// [`ChainWalker::end_application`] after the last event of each
/// application (with what its row says about the chain), and
/// [`ChainWalker::finish`] at the end.
#[derive(Debug, Default)]
pub struct ChainWalker {
    report: ChainReport,
    current: Option<Current>,
    /// Where the application row's record must fall on the chain being
    /// walked, when its licence carries the head on.
    waypoint: Option<ChainHead>,
}

#[derive(Debug)]
struct Current {
    application_id: String,
    /// application_sequence of the last event seen.
    last_sequence: i64,
    /// Stored hash of the last event seen.
    last_hash: String,
}

impl ChainWalker {
    pub fn new() -> Self {
        Self::default()
    }

    /// The application whose events are being walked, if any.
    pub fn current_application(&self) -> Option<&str> {
        self.current.as_ref().map(|c| c.application_id.as_str())
    }

    fn record_break(&mut self, application_id: &str, sequence: i64, what: String) {
        let earlier = match &self.report.first_break {
            None => true,
            Some((id, seq, _)) => (application_id, sequence) < (id.as_str(), *seq),
        };
        if earlier {
            self.report.first_break = Some((application_id.to_owned(), sequence, what));
        }
    }

    /// Checks one event against the previous one of the same application.
    /// The caller must call `end_application` before the first event of
    /// the next application.
    pub fn push(&mut self, link: &ChainLink<'_>) {
        self.report.events_checked += 1;
        let (expected_sequence, expected_previous) = match &self.current {
            Some(c) if c.application_id == link.application_id => {
                (c.last_sequence + 1, c.last_hash.clone())
            }
            _ => {
                self.report.applications_checked += 1;
                (1, GENESIS_HASH.to_owned())
            }
        };
        if link.application_sequence != expected_sequence {
            self.record_break(
                link.application_id,
                link.application_sequence,
                format!(
                    "gap in application_sequence: expected {expected_sequence}, found {}",
                    link.application_sequence
                ),
            );
        } else if link.previous_hash != expected_previous {
            self.record_break(
                link.application_id,
                link.application_sequence,
                "previous_hash does not match the hash of the preceding event".to_owned(),
            );
        } else {
            let recomputed = event_hash(
                link.previous_hash,
                link.application_id,
                link.application_sequence,
                link.kind,
                link.actor,
                link.at,
                link.details,
            );
            if recomputed != link.hash {
                self.record_break(
                    link.application_id,
                    link.application_sequence,
                    "hash does not match the event's content".to_owned(),
                );
            }
        }
        if let Some(waypoint) = &self.waypoint {
            if waypoint.length == link.application_sequence && waypoint.hash != link.hash {
                self.record_break(
                    link.application_id,
                    link.application_sequence,
                    "the application row's chain head does not match the chain there".to_owned(),
                );
            }
        }
        self.current = Some(Current {
            application_id: link.application_id.to_owned(),
            last_sequence: link.application_sequence,
            last_hash: link.hash.to_owned(),
        });
    }

    /// Closes the application being walked (if any) against its row's
    /// record of the chain; `head` is None when the row is missing.
    pub fn end_application(&mut self, head: Option<&ChainHead>) {
        let waypoint = self.waypoint.take();
        let Some(current) = self.current.take() else {
            return;
        };
        if let Some(waypoint) = waypoint {
            if waypoint.length > current.last_sequence {
                self.record_break(
                    &current.application_id,
                    current.last_sequence + 1,
                    format!(
                        "chain head mismatch: application row records {} events, stored chain ends at {}",
                        waypoint.length, current.last_sequence
                    ),
                );
            }
        }
        match head {
            None => self.record_break(
                &current.application_id,
                current.last_sequence,
                "events of an application that has no row".to_owned(),
            ),
            Some(head) => {
                if head.length != current.last_sequence || head.hash != current.last_hash {
                    self.record_break(
                        &current.application_id,
                        current.last_sequence.min(head.length) + 1,
                        format!(
                            "chain head mismatch: row records {} events, stored chain ends at {}",
                            head.length, current.last_sequence
                        ),
                    );
                }
            }
        }
    }

    /// For the application whose events come next: its licence carries its
    /// chain's head on (the head given to `end_application`), and its own
    /// row's record, `head`, is where the issue left the chain. The walk
    /// checks that the chain passes there.
    pub fn expect_waypoint(&mut self, head: ChainHead) {
        self.waypoint = Some(head);
    }

    /// An application whose row records a chain but has no event at all.
    pub fn application_without_events(&mut self, application_id: &str, head: &ChainHead) {
        self.report.applications_checked += 1;
        if head.length != 0 || head.hash != GENESIS_HASH {
            self.record_break(
                application_id,
                1,
                format!(
                    "chain head mismatch: row records {} events, none stored",
                    head.length
                ),
            );
        }
    }

    /// The report; call `end_application` for the last application first.
    pub fn finish(self) -> ChainReport {
        self.report
    }
}

/// Computes the hashes of events appended after a chain head.
/// Returns (application_sequence, previous_hash, hash) for each event and the new head.
pub fn extend_chain(
    application_id: &str,
    head: &ChainHead,
    events: &[super::NewEvent],
) -> (Vec<(i64, String, String)>, ChainHead) {
    let mut out = Vec::with_capacity(events.len());
    let mut previous = head.hash.clone();
    let mut sequence = head.length;
    for event in events {
        sequence += 1;
        let hash = event_hash(
            &previous,
            application_id,
            sequence,
            &event.kind,
            &event.actor,
            event.at,
            &event.details,
        );
        out.push((
            sequence,
            std::mem::replace(&mut previous, hash.clone()),
            hash,
        ));
    }
    (
        out,
        ChainHead {
            length: sequence,
            hash: previous,
        },
    )
}

impl ChainHead {
    /// The head of an application without events.
    pub fn empty() -> Self {
        Self {
            length: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// Domain tag of the audit digest's steps.
const AUDIT_DOMAIN: &[u8] = b"review-svc/audit/v1";

/// A running hash over every event in the global order (`sequence`),
/// folded one event at a time: `digest(n) = SHA-256(tag, digest(n-1),
/// sequence, hash of event)`, starting from [`GENESIS_HASH`].
///
/// The per-application chains let the database be rewritten consistently:
/// whoever changes an event and re-hashes the rest of its chain and the
/// row's head passes [`ChainWalker`]. This digest pins the whole history up
/// to `sequence` in one value that, once signed and kept outside the
/// database (an audit checkpoint), no rewrite can match: changing,
/// removing, inserting or reordering any event at or below `sequence`
/// changes the fold from that event on. A running hash (rather than a
/// digest over every application's head) can be extended by the events
/// after a checkpoint without reading the history before it, and a new
/// checkpoint extends the last signed one rather than re-reading the
/// database, so a rewrite of checkpointed history is never signed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDigest {
    /// The history covered: every event with a sequence up to this one.
    pub sequence: i64,
    /// Hex SHA-256 of the fold.
    pub digest: String,
    /// Sequence and stored hash of the last event folded (0 and
    /// [`GENESIS_HASH`] before any), to check that the stored history
    /// still continues this digest before extending it.
    pub last_sequence: i64,
    pub last_hash: String,
}

impl Default for AuditDigest {
    fn default() -> Self {
        Self {
            sequence: 0,
            digest: GENESIS_HASH.to_owned(),
            last_sequence: 0,
            last_hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl AuditDigest {
    /// Folds in the event at `sequence` with stored hash `hash`.
    pub fn push(&mut self, sequence: i64, hash: &str) {
        let mut hasher = Sha256::new();
        put_bytes(&mut hasher, AUDIT_DOMAIN);
        put_bytes(&mut hasher, self.digest.as_bytes());
        put_bytes(&mut hasher, &sequence.to_be_bytes());
        put_bytes(&mut hasher, hash.as_bytes());
        self.digest = hex::encode(hasher.finalize());
        self.sequence = self.sequence.max(sequence);
        self.last_sequence = sequence;
        self.last_hash = hash.to_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewEvent;

    fn ev(kind: &str, details: &str) -> NewEvent {
        NewEvent {
            kind: kind.into(),
            actor: "alice".into(),
            at: 1_700_000_000_000,
            details: details.into(),
        }
    }

    #[test]
    fn hash_is_hex_sha256_and_deterministic() {
        let a = event_hash(GENESIS_HASH, "app1", 1, "CREATED", "alice", 5, "{}");
        let b = event_hash(GENESIS_HASH, "app1", 1, "CREATED", "alice", 5, "{}");
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let a = event_hash("", "ab", 1, "c", "d", 0, "");
        let b = event_hash("", "a", 1, "bc", "d", 0, "");
        let c = event_hash("", "a", 1, "b", "cd", 0, "");
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_ne!(a, c);
    }

    #[test]
    fn every_field_counts() {
        let base = event_hash("p", "a", 1, "k", "x", 2, "d");
        assert_ne!(base, event_hash("q", "a", 1, "k", "x", 2, "d"));
        assert_ne!(base, event_hash("p", "b", 1, "k", "x", 2, "d"));
        assert_ne!(base, event_hash("p", "a", 2, "k", "x", 2, "d"));
        assert_ne!(base, event_hash("p", "a", 1, "l", "x", 2, "d"));
        assert_ne!(base, event_hash("p", "a", 1, "k", "y", 2, "d"));
        assert_ne!(base, event_hash("p", "a", 1, "k", "x", 3, "d"));
        assert_ne!(base, event_hash("p", "a", 1, "k", "x", 2, "e"));
    }

    fn walk(
        app: &str,
        links: &[(i64, String, String, &NewEvent)],
        head: &ChainHead,
    ) -> ChainReport {
        let mut walker = ChainWalker::new();
        for (seq, prev, hash, e) in links {
            walker.push(&ChainLink {
                application_id: app,
                application_sequence: *seq,
                kind: &e.kind,
                actor: &e.actor,
                at: e.at,
                details: &e.details,
                previous_hash: prev,
                hash,
            });
        }
        walker.end_application(Some(head));
        walker.finish()
    }

    #[test]
    fn walk_accepts_intact_chain_and_reports_breaks() {
        let events = vec![ev("A", "{}"), ev("B", "{\"x\":1}"), ev("C", "{}")];
        let (links, head) = extend_chain("app", &ChainHead::empty(), &events);
        let rows: Vec<_> = links
            .iter()
            .zip(&events)
            .map(|((s, p, h), e)| (*s, p.clone(), h.clone(), e))
            .collect();
        let report = walk("app", &rows, &head);
        assert_eq!(report.first_break, None);
        assert_eq!(report.events_checked, 3);
        assert_eq!(report.applications_checked, 1);

        // Altered content.
        let tampered = ev("B", "{\"x\":2}");
        let mut bad = rows.clone();
        bad[1].3 = &tampered;
        let report = walk("app", &bad, &head);
        let (id, seq, _) = report.first_break.expect("break");
        assert_eq!((id.as_str(), seq), ("app", 2));

        // Gap.
        let mut gap = rows.clone();
        gap.remove(1);
        let report = walk("app", &gap, &head);
        assert_eq!(report.first_break.map(|b| b.1), Some(3));

        // Truncated tail.
        let report = walk("app", &rows[..2], &head);
        assert_eq!(report.first_break.map(|b| b.1), Some(3));

        // Wrong link.
        let mut link = rows.clone();
        link[2].1 = GENESIS_HASH.to_owned();
        let report = walk("app", &link, &head);
        assert_eq!(report.first_break.map(|b| b.1), Some(3));
    }

    #[test]
    fn audit_digest_depends_on_every_event_and_its_place() {
        let fold = |events: &[(i64, &str)]| {
            let mut digest = AuditDigest::default();
            for (sequence, hash) in events {
                digest.push(*sequence, hash);
            }
            digest
        };
        let base = fold(&[(1, "a"), (2, "b"), (4, "c")]);
        assert_eq!((base.sequence, base.last_sequence), (4, 4));
        assert_eq!(base, fold(&[(1, "a"), (2, "b"), (4, "c")]));
        assert_ne!(base.digest, fold(&[(1, "a"), (2, "x"), (4, "c")]).digest);
        assert_ne!(base.digest, fold(&[(1, "a"), (4, "c")]).digest);
        assert_ne!(base.digest, fold(&[(1, "a"), (2, "b"), (3, "c")]).digest);
        assert_ne!(base.digest, fold(&[(2, "b"), (1, "a"), (4, "c")]).digest);
        // Extending a digest continues the same fold.
        let mut resumed = fold(&[(1, "a"), (2, "b")]);
        resumed.push(4, "c");
        assert_eq!(resumed, base);
    }

    #[test]
    fn extend_continues_from_head() {
        let events = vec![ev("A", "{}"), ev("B", "{}")];
        let (all, head_all) = extend_chain("app", &ChainHead::empty(), &events);
        let (first, head1) = extend_chain("app", &ChainHead::empty(), &events[..1]);
        let (second, head2) = extend_chain("app", &head1, &events[1..]);
        assert_eq!(all[0], first[0]);
        assert_eq!(all[1], second[0]);
        assert_eq!(head_all, head2);
    }
}
