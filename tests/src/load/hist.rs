//! Latency histograms from `hdrhistogram` (3 significant figures, so any
//! recorded value is reported within 0.1 % of its true value; the exact
//! minimum and maximum are kept), under the few names the load generator
//! uses.

#[derive(Clone)]
pub struct Histogram {
    counts: hdrhistogram::Histogram<u64>,
    /// Exact, where the histogram keeps only its buckets' bounds.
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            // Grows as needed: any u64 can be recorded.
            counts: hdrhistogram::Histogram::new(3).expect("3 significant figures are valid"),
            min: u64::MAX,
            max: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, value: u64) {
        // `record` grows the histogram; clamping is only a fallback.
        if self.counts.record(value).is_err() {
            self.counts.saturating_record(value);
        }
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    pub fn merge(&mut self, other: &Histogram) {
        // Both auto-resize, so adding never fails on range.
        let _ = self.counts.add(&other.counts);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.counts.len()
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn min(&self) -> u64 {
        if self.counts.is_empty() {
            0
        } else {
            self.min
        }
    }

    pub fn mean(&self) -> f64 {
        self.counts.mean()
    }

    /// The value at `quantile` (0..=1), never more than the exact maximum.
    pub fn quantile(&self, quantile: f64) -> u64 {
        if self.counts.is_empty() {
            return 0;
        }
        self.counts
            .value_at_quantile(quantile.clamp(0.0, 1.0))
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_thousandth_and_never_past_the_maximum() {
        let mut h = Histogram::default();
        assert_eq!(
            (h.count(), h.min(), h.max(), h.quantile(0.99)),
            (0, 0, 0, 0)
        );
        for value in 1..=100_000u64 {
            h.record(value * 1_000);
        }
        assert_eq!(h.count(), 100_000);
        assert_eq!((h.min(), h.max()), (1_000, 100_000_000));
        for (q, exact) in [(0.5, 50_000_000u64), (0.99, 99_000_000), (1.0, 100_000_000)] {
            let got = h.quantile(q) as f64;
            assert!(
                (got - exact as f64).abs() <= exact as f64 * 0.001,
                "{q}: {got}"
            );
        }
        assert!(h.quantile(1.0) <= h.max());
    }

    #[test]
    fn merged_histograms_count_both() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        a.record(5);
        b.record(u64::MAX / 2);
        a.merge(&b);
        assert_eq!((a.count(), a.min()), (2, 5));
        assert!(a.max() >= u64::MAX / 2 - u64::MAX / 1000);
        assert!((a.mean() - (u64::MAX / 4) as f64).abs() < (u64::MAX / 1000) as f64);
    }
}
