//! Who a write wakes. A watch of the whole history is woken by every
//! write; a watch of one application only by the writes to that
//! application, so that many watches open on quiet applications (a console
//! page each) cost the writes to others nothing. Writes of other processes
//! sharing the database are found by the history poll (`HistoryPoll`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::futures::Notified;
use tokio::sync::Notify;

use crate::watch_gaps::{GapGuard, GAP_GRACE};

#[derive(Debug, Default)]
pub struct Signals {
    /// The watches of every application.
    all: Arc<Notify>,
    /// The watches of one application, by its id; an entry lives as long
    /// as a watch of it does.
    applications: Mutex<HashMap<String, Arc<Notify>>>,
    /// Watches open.
    open: AtomicUsize,
}

impl Signals {
    /// A watch of the writes to `application` (None: to every
    /// application), counted as open while it lives.
    pub fn subscribe(self: &Arc<Self>, application: Option<&str>) -> Subscription {
        self.open.fetch_add(1, Ordering::SeqCst);
        let notify = match application {
            None => Arc::clone(&self.all),
            Some(id) => Arc::clone(self.applications().entry(id.to_owned()).or_default()),
        };
        Subscription {
            signals: Arc::clone(self),
            application: application.map(str::to_owned),
            notify,
        }
    }

    /// Wakes the watches of every application and those of `written`.
    pub fn written<'a>(&self, written: impl IntoIterator<Item = &'a str>) {
        if self.open() == 0 {
            return;
        }
        self.all.notify_waiters();
        let applications = self.applications();
        if applications.is_empty() {
            return;
        }
        for id in written {
            if let Some(notify) = applications.get(id) {
                notify.notify_waiters();
            }
        }
    }

    /// Wakes every watch: for when what was written is not known.
    pub fn wake_all(&self) {
        self.all.notify_waiters();
        for notify in self.applications().values() {
            notify.notify_waiters();
        }
    }

    /// Watches open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn applications(&self) -> MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.applications.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One watch's signal.
#[derive(Debug)]
pub struct Subscription {
    signals: Arc<Signals>,
    application: Option<String>,
    notify: Arc<Notify>,
}

impl Subscription {
    /// Resolves after the next write the watch is for. It counts from when
    /// it is called, not from when it is first awaited: take it before
    /// reading the history, and a write committed during the read still
    /// wakes it.
    pub fn written(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.signals.open.fetch_sub(1, Ordering::SeqCst);
        if let Some(id) = &self.application {
            let mut applications = self.signals.applications();
            // Held by the map and by this watch only: the application's
            // last watch (new holders are made under the same lock).
            if Arc::strong_count(&self.notify) == 2 {
                applications.remove(id);
            }
        }
    }
}

/// Where the history poll has read up to.
#[derive(Debug)]
pub struct HistoryPoll {
    /// Every event up to this sequence has been seen (None: nobody
    /// watched at the last poll, so nothing older matters).
    after: Option<i64>,
    /// The highest sequence seen, past a gap not filled yet.
    newest: i64,
    gaps: GapGuard,
}

impl HistoryPoll {
    pub fn new() -> Self {
        Self {
            after: None,
            newest: 0,
            gaps: GapGuard::new(GAP_GRACE),
        }
    }

    /// Whether the last poll stopped at a gap in the sequence, which the
    /// next should look at again soon.
    pub fn at_gap(&self) -> bool {
        self.after.is_some_and(|after| self.newest > after)
    }

    /// The sequence after which the next poll reads (None: it has not
    /// looked since watches opened).
    pub(super) fn after(&self) -> Option<i64> {
        self.after
    }

    /// Nobody watches: what was seen no longer matters.
    pub(super) fn forget(&mut self) {
        self.after = None;
    }

    /// The first look: everything up to `settled` counts as seen.
    pub(super) fn start(&mut self, settled: i64) {
        (self.after, self.newest) = (Some(settled), settled);
    }

    /// Takes in what a poll read after [`Self::after`] (sequence and
    /// application of each event, lowest first) and returns the
    /// applications whose watches to wake: each event's when it is first
    /// seen, and again when the sequence up to it is settled (it may have
    /// filled a gap).
    pub(super) fn read<'a>(
        &mut self,
        written: &'a [(i64, String)],
        now: tokio::time::Instant,
    ) -> Vec<&'a str> {
        let (Some(after), Some(&(newest, _))) = (self.after, written.last()) else {
            return Vec::new();
        };
        let ready =
            self.gaps
                .deliverable(after, written.iter().map(|(sequence, _)| *sequence), now);
        let seen = self.newest;
        let woken = written
            .iter()
            .enumerate()
            .filter(|(index, (sequence, _))| *index < ready || *sequence > seen)
            .map(|(_, (_, application))| application.as_str())
            .collect();
        if let Some(last) = ready.checked_sub(1) {
            self.after = Some(written[last].0);
        }
        self.newest = seen.max(newest);
        woken
    }
}

impl Default for HistoryPoll {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn woken(subscription: &Subscription, write: impl FnOnce()) -> bool {
        let written = subscription.written();
        write();
        tokio::time::timeout(Duration::from_millis(50), written)
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_write_wakes_the_watches_of_everything_and_of_its_application_only() {
        let signals = Arc::new(Signals::default());
        let all = signals.subscribe(None);
        let a = signals.subscribe(Some("a"));
        let b = signals.subscribe(Some("b"));
        assert_eq!(signals.open(), 3);
        assert!(woken(&all, || signals.written(["a"])).await);
        assert!(woken(&a, || signals.written(["a"])).await);
        assert!(!woken(&b, || signals.written(["a"])).await);
        assert!(woken(&b, || signals.wake_all()).await);
    }

    #[test]
    fn the_poll_wakes_each_event_when_seen_and_when_its_gap_fills() {
        let written = |events: &[(i64, &str)]| -> Vec<(i64, String)> {
            events.iter().map(|(s, a)| (*s, (*a).to_owned())).collect()
        };
        let now = tokio::time::Instant::now();
        let mut poll = HistoryPoll::new();
        assert!(
            poll.read(&written(&[(1, "a")]), now).is_empty(),
            "not started"
        );
        poll.start(10);
        // 12 is seen before 11 commits: it wakes its watches, the poll
        // waits at the gap.
        let first = written(&[(12, "b")]);
        assert_eq!(poll.read(&first, now), ["b"]);
        assert!(poll.at_gap());
        assert_eq!(poll.after(), Some(10));
        // Read again, nothing new: nobody woken.
        assert!(poll.read(&first, now).is_empty());
        // 11 commits: both settle, and both wake again (11 for the first time).
        let filled = written(&[(11, "a"), (12, "b")]);
        assert_eq!(poll.read(&filled, now), ["a", "b"]);
        assert!(!poll.at_gap());
        assert_eq!(poll.after(), Some(12));
        poll.forget();
        assert_eq!(poll.after(), None);
    }

    #[tokio::test]
    async fn an_application_is_forgotten_with_its_last_watch() {
        let signals = Arc::new(Signals::default());
        let first = signals.subscribe(Some("a"));
        let second = signals.subscribe(Some("a"));
        drop(first);
        assert!(woken(&second, || signals.written(["a"])).await);
        drop(second);
        assert!(signals.applications().is_empty());
        assert_eq!(signals.open(), 0);
    }
}
