//! Which newly read events a watcher of the whole history may pass on.
//!
//! The global `sequence` is taken when an event is inserted, not when it
//! commits: on PostgreSQL, with concurrent writers, sequence N+1 can become
//! visible before N. A watcher that moved past N+1 at once would never see
//! N. So a watcher stops at a gap and passes on what follows it only once
//! the gap has lasted `grace` (longer than any write takes to commit): by
//! then the missing number belongs to a write that rolled back and will
//! never appear. (SQLite's single writer commits in sequence order, so it
//! leaves no gaps and pays nothing for this.)

use std::time::Duration;

use tokio::time::Instant;

/// How long a gap in the sequence is waited for before it is taken as permanent.
pub const GAP_GRACE: Duration = Duration::from_secs(2);

/// How soon the history is read again while a gap is waited for.
pub const GAP_POLL: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub struct GapGuard {
    grace: Duration,
    /// The first missing sequence number, and since when it has been missing.
    waiting: Option<(i64, Instant)>,
}

impl GapGuard {
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            waiting: None,
        }
    }

    /// Of `sequences` (ascending, all after `after`, as just read), how many
    /// may be passed on now. Fewer than all means a gap is being waited for:
    /// read again from the last one passed on, shortly.
    pub fn deliverable(
        &mut self,
        after: i64,
        sequences: impl ExactSizeIterator<Item = i64>,
        now: Instant,
    ) -> usize {
        let count = sequences.len();
        let mut expected = after + 1;
        for (index, sequence) in sequences.enumerate() {
            if sequence != expected {
                match self.waiting {
                    Some((missing, since))
                        if missing == expected && now.duration_since(since) >= self.grace => {}
                    Some((missing, _)) if missing == expected => return index,
                    _ => {
                        self.waiting = Some((expected, now));
                        return index;
                    }
                }
            }
            self.waiting = None;
            expected = sequence + 1;
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(2);

    #[test]
    fn contiguous_events_pass_at_once() {
        let mut guard = GapGuard::new(GRACE);
        let now = Instant::now();
        assert_eq!(guard.deliverable(0, [1, 2, 3].into_iter(), now), 3);
        assert_eq!(guard.deliverable(3, [4].into_iter(), now), 1);
        assert_eq!(guard.deliverable(4, [].into_iter(), now), 0);
    }

    #[test]
    fn a_gap_holds_back_what_follows_until_it_fills() {
        let mut guard = GapGuard::new(GRACE);
        let start = Instant::now();
        // 3 is not visible yet: 1 and 2 pass, 4 and 5 wait.
        assert_eq!(guard.deliverable(0, [1, 2, 4, 5].into_iter(), start), 2);
        assert_eq!(
            guard.deliverable(2, [4, 5].into_iter(), start + GRACE / 2),
            0
        );
        // 3 commits: everything passes, in order.
        assert_eq!(
            guard.deliverable(2, [3, 4, 5].into_iter(), start + GRACE / 2),
            3
        );
        // A new gap later is waited for afresh.
        let later = start + GRACE * 10;
        assert_eq!(guard.deliverable(5, [7].into_iter(), later), 0);
        assert_eq!(guard.deliverable(5, [7].into_iter(), later + GRACE / 2), 0);
    }

    #[test]
    fn a_gap_that_lasts_the_grace_is_skipped() {
        let mut guard = GapGuard::new(GRACE);
        let start = Instant::now();
        assert_eq!(guard.deliverable(0, [1, 3].into_iter(), start), 1);
        assert_eq!(
            guard.deliverable(1, [3].into_iter(), start + GRACE - Duration::from_millis(1)),
            0
        );
        // 2 rolled back: it will never appear.
        assert_eq!(guard.deliverable(1, [3, 4].into_iter(), start + GRACE), 2);
        // Two gaps in one read: each gets its own grace.
        let later = start + GRACE * 10;
        assert_eq!(guard.deliverable(4, [6, 8].into_iter(), later), 0);
        assert_eq!(guard.deliverable(4, [6, 8].into_iter(), later + GRACE), 1);
        assert_eq!(guard.deliverable(6, [8].into_iter(), later + GRACE), 0);
        assert_eq!(guard.deliverable(6, [8].into_iter(), later + GRACE * 2), 1);
    }
}
