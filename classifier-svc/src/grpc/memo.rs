//! Answers already given, kept by request. An answer is a pure function of
//! the request's bytes and the date (today's date stands in for an absent
//! `as_of`), since the rules and the catalogue are built in: a service
//! screening its items again and again asks the same questions, and a
//! remembered answer skips the request's decoding, the rules, and the
//! answer's building and encoding, which are most of a BASIC call's cost
//! beside the transport's. Only the decision id is new for each call.
//!
//! The memo is bounded by the bytes it holds (quick_cache's weighted
//! CLOCK-Pro eviction); a refusal is never kept.

use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDate;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use service_kit::metrics::Counter;

/// What is kept of an answer: its encoding, and what the call's metric,
/// span and log line name.
#[derive(Debug)]
pub struct Remembered {
    pub body: Bytes,
    pub item_name: String,
    pub as_of: NaiveDate,
    pub rule_set: String,
    pub paragraph: String,
    pub review_policy: &'static str,
    /// The decisions counted under this answer's paragraph and policy.
    pub decisions: Counter,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    today: NaiveDate,
    request: Bytes,
}

#[derive(Debug, Clone)]
struct ByBytes;

/// Roughly what an entry costs: its two encodings and the bookkeeping.
const ENTRY_OVERHEAD: u64 = 160;

impl Weighter<Key, Arc<Remembered>> for ByBytes {
    fn weight(&self, key: &Key, value: &Arc<Remembered>) -> u64 {
        (key.request.len() + value.body.len() + value.item_name.len()) as u64 + ENTRY_OVERHEAD
    }
}

/// The memo; `capacity_bytes` 0 keeps nothing.
#[derive(Clone)]
pub struct Memo {
    cache: Option<Arc<Cache<Key, Arc<Remembered>, ByBytes>>>,
}

/// A typical BASIC answer and request, to size the cache's table.
const TYPICAL_ENTRY_BYTES: u64 = 1_200;

impl Memo {
    pub fn new(capacity_bytes: u64) -> Self {
        let cache = (capacity_bytes > 0).then(|| {
            let items = (capacity_bytes / TYPICAL_ENTRY_BYTES).max(1) as usize;
            Arc::new(Cache::with_weighter(items, capacity_bytes, ByBytes))
        });
        Self { cache }
    }

    pub fn enabled(&self) -> bool {
        self.cache.is_some()
    }

    pub fn get(&self, today: NaiveDate, request: &Bytes) -> Option<Arc<Remembered>> {
        let cache = self.cache.as_ref()?;
        cache.get(&Key {
            today,
            request: request.clone(),
        })
    }

    pub fn keep(&self, today: NaiveDate, request: Bytes, answer: Arc<Remembered>) {
        if let Some(cache) = &self.cache {
            cache.insert(Key { today, request }, answer);
        }
    }

    /// The bytes held now (by the weigher's estimate).
    #[cfg(test)]
    fn weight(&self) -> u64 {
        self.cache.as_ref().map_or(0, |cache| cache.weight())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    fn answer(size: usize) -> Arc<Remembered> {
        Arc::new(Remembered {
            body: Bytes::from(vec![7u8; size]),
            item_name: "H200".to_owned(),
            as_of: day(6),
            rule_set: "2026-07-10".to_owned(),
            paragraph: "3A090.a".to_owned(),
            review_policy: "CASE_BY_CASE",
            decisions: Counter::default(),
        })
    }

    #[test]
    fn an_answer_is_found_by_the_same_bytes_on_the_same_day_only() {
        let memo = Memo::new(1 << 20);
        let request = Bytes::from_static(b"\x12\x04H200");
        memo.keep(day(6), request.clone(), answer(900));
        assert_eq!(memo.get(day(6), &request).unwrap().body.len(), 900);
        assert!(memo.get(day(7), &request).is_none(), "another day");
        assert!(memo
            .get(day(6), &Bytes::from_static(b"\x12\x04H100"))
            .is_none());
    }

    #[test]
    fn the_memo_holds_no_more_than_its_capacity() {
        let memo = Memo::new(64 * 1024);
        for n in 0..1_000u32 {
            memo.keep(day(6), Bytes::from(n.to_be_bytes().to_vec()), answer(1_000));
        }
        assert!(memo.weight() <= 64 * 1024, "{} bytes held", memo.weight());
        assert!(memo.weight() > 32 * 1024, "{} bytes held", memo.weight());
    }

    #[test]
    fn a_memo_of_no_bytes_keeps_nothing() {
        let memo = Memo::new(0);
        let request = Bytes::from_static(b"\x12\x04H200");
        memo.keep(day(6), request.clone(), answer(10));
        assert!(!memo.enabled());
        assert!(memo.get(day(6), &request).is_none());
    }
}
