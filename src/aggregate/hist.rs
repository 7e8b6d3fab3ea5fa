//! A response-time histogram that costs what it holds. An HDR histogram with 3 significant
//! digits is an array of at least 2,048 counters (16 KB), 188 KB over the whole range up to an
//! hour; a test keeps one per label for the open second, the totals and the report's timeline,
//! so 10,000 labels cost gigabytes although most saw a handful of samples. [`Hist`] keeps its
//! first [`FEW`] values in a short list and only then becomes an HDR histogram that grows to the
//! largest value recorded. Every figure read from it is exactly the HDR histogram's: values are
//! put in HDR buckets when read, with the same bounds and precision.

use std::borrow::Cow;
use std::sync::LazyLock;

use hdrhistogram::Histogram;

/// Values a [`Hist`] keeps as a list before it becomes an HDR histogram.
pub const FEW: usize = 32;

/// Highest value recorded (one hour in microseconds); larger values are clamped to it.
pub const MAX_VALUE: u64 = 3_600_000_000;

/// Significant digits of every histogram (0.1 % relative precision).
const SIGFIG: u8 = 3;

/// A histogram of microseconds: a list of `(value, count)` while it holds few entries, an HDR
/// histogram after.
#[derive(Clone, Debug, Default)]
pub struct Hist(Repr);

#[derive(Clone, Debug)]
enum Repr {
    /// At most [`FEW`] entries, in the order recorded.
    Few(Vec<(u64, u64)>),
    /// More: an auto-resizing HDR histogram.
    Many(Box<Histogram<u64>>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Few(Vec::new())
    }
}

/// An empty HDR histogram with the bounds and precision every KPI histogram shares; it grows to
/// the largest value recorded, so histograms of any range can be added.
pub fn empty_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 2, SIGFIG).expect("static histogram bounds are valid");
    h.auto(true);
    h
}

/// The bucket arithmetic of every KPI histogram (it depends on precision, not on counts).
static BUCKETS: LazyLock<Histogram<u64>> = LazyLock::new(empty_histogram);

impl Hist {
    /// Records one value.
    #[inline]
    pub fn record(&mut self, value: u64) {
        self.record_n(value, 1);
    }

    /// Records `count` times `value`.
    #[inline]
    pub fn record_n(&mut self, value: u64, count: u64) {
        let value = value.min(MAX_VALUE);
        match &mut self.0 {
            Repr::Many(h) => {
                let _ = h.record_n(value, count);
            }
            Repr::Few(_) => self.record_few(value, count),
        }
    }

    /// The list's side of [`Hist::record_n`], kept out of line: a busy label is past it after 32 samples.
    #[cold]
    #[inline(never)]
    fn record_few(&mut self, value: u64, count: u64) {
        match &mut self.0 {
            Repr::Few(list) if list.len() < FEW => list.push((value, count)),
            _ => {
                let _ = self.make_many().record_n(value, count);
            }
        }
    }

    /// Turns the list into an HDR histogram (if it is not one yet) and returns it.
    fn make_many(&mut self) -> &mut Histogram<u64> {
        if let Repr::Few(list) = &self.0 {
            let mut h = empty_histogram();
            for &(value, count) in list {
                let _ = h.record_n(value, count);
            }
            self.0 = Repr::Many(Box::new(h));
        }
        match &mut self.0 {
            Repr::Many(h) => h,
            Repr::Few(_) => unreachable!("just made many"),
        }
    }

    /// Adds every value of `other`.
    pub fn add(&mut self, other: &Hist) {
        match (&mut self.0, &other.0) {
            (Repr::Few(mine), Repr::Few(theirs)) if mine.len() + theirs.len() <= FEW => mine.extend_from_slice(theirs),
            (_, Repr::Few(theirs)) => {
                let h = self.make_many();
                for &(value, count) in theirs {
                    let _ = h.record_n(value, count);
                }
            }
            (_, Repr::Many(theirs)) => {
                let _ = self.make_many().add(&**theirs);
            }
        }
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        match &self.0 {
            Repr::Few(list) => list.iter().fold(0u64, |n, (_, c)| n.saturating_add(*c)),
            Repr::Many(h) => h.len(),
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lowest value recorded, as [`Histogram::min`] gives it (the bottom of its bucket; 0 if a 0
    /// was recorded or nothing was).
    pub fn min(&self) -> u64 {
        match &self.0 {
            Repr::Few(list) => match list.iter().filter(|(_, c)| *c > 0).map(|(v, _)| *v).min() {
                None | Some(0) => 0,
                Some(v) => BUCKETS.lowest_equivalent(v),
            },
            Repr::Many(h) => h.min(),
        }
    }

    /// Highest value recorded, as [`Histogram::max`] gives it (the top of its bucket; 0 if nothing was).
    pub fn max(&self) -> u64 {
        match &self.0 {
            Repr::Few(list) => {
                list.iter().filter(|(_, c)| *c > 0).map(|(v, _)| *v).max().map_or(0, |v| BUCKETS.highest_equivalent(v))
            }
            Repr::Many(h) => h.max(),
        }
    }

    /// The value at `quantile` (0..=1), exactly as [`Histogram::value_at_quantile`] computes it.
    pub fn value_at_quantile(&self, quantile: f64) -> u64 {
        let list = match &self.0 {
            Repr::Many(h) => return h.value_at_quantile(quantile),
            Repr::Few(list) => list,
        };
        // HDR's rule: the first bucket whose running count reaches ceil(q × total), at least 1.
        // Buckets are ordered like the values in them, so the value found is in that bucket.
        let quantile = quantile.min(1.0);
        let total = self.len();
        let target = ((quantile * total as f64).ceil() as u64).max(1);
        let mut sorted = [(0u64, 0u64); FEW];
        sorted[..list.len()].copy_from_slice(list);
        let sorted = &mut sorted[..list.len()];
        sorted.sort_unstable_by_key(|(v, _)| *v);
        let mut running = 0u64;
        for &(value, count) in sorted.iter() {
            running = running.saturating_add(count);
            if count > 0 && running >= target {
                return if quantile == 0.0 {
                    BUCKETS.lowest_equivalent(value)
                } else {
                    BUCKETS.highest_equivalent(value)
                };
            }
        }
        0
    }

    /// `(middle of bucket, count)` of every non-empty HDR bucket, in value order: the values as
    /// the HDR histogram holds them, for reports that put them in coarser buckets of their own
    /// (Locust's rounded response times). The same however the histogram is held.
    pub fn bucket_medians(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut push = |value: u64, count: u64| match out.last_mut() {
            Some((last, n)) if *last == value => *n += count,
            _ => out.push((value, count)),
        };
        match &self.0 {
            Repr::Many(h) => {
                for v in h.iter_recorded() {
                    push(h.median_equivalent(v.value_iterated_to()), v.count_at_value());
                }
            }
            Repr::Few(list) => {
                let mut sorted = list.clone();
                sorted.sort_unstable();
                for (value, count) in sorted.into_iter().filter(|(_, c)| *c > 0) {
                    push(BUCKETS.median_equivalent(value), count);
                }
            }
        }
        out
    }

    /// The values as an HDR histogram (for writing it out).
    pub fn to_histogram(&self) -> Cow<'_, Histogram<u64>> {
        match &self.0 {
            Repr::Many(h) => Cow::Borrowed(h),
            Repr::Few(list) => {
                let mut h = empty_histogram();
                for &(value, count) in list {
                    let _ = h.record_n(value, count);
                }
                Cow::Owned(h)
            }
        }
    }

    /// `(bottom of bucket, count)` of every non-empty bucket, in value order: what two equal
    /// histograms have in common however they are held.
    fn buckets(&self) -> Vec<(u64, u64)> {
        let h = self.to_histogram();
        h.iter_recorded().map(|v| (h.lowest_equivalent(v.value_iterated_to()), v.count_at_value())).collect()
    }

    /// Bytes this histogram holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Few(list) => list.capacity() * std::mem::size_of::<(u64, u64)>(),
            Repr::Many(h) => std::mem::size_of::<Histogram<u64>>() + h.distinct_values() * 8,
        }
    }
}

impl Hist {
    /// The histogram as text: HdrHistogram's V2 encoding, deflated, base64 (the form of its
    /// interval logs, about half the size of the plain one).
    pub fn encode(&self) -> Result<String, String> {
        use base64::Engine as _;
        use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
        let mut bytes = Vec::new();
        V2DeflateSerializer::new().serialize(&self.to_histogram(), &mut bytes).map_err(|e| format!("{e:?}"))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// A histogram encoded by [`Hist::encode`], re-bucketed into a KPI histogram (one written
    /// with other bounds still merges with the live ones).
    pub fn decode(text: &str) -> Result<Hist, String> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| e.to_string())?;
        let stored: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut std::io::Cursor::new(bytes))
            .map_err(|e| format!("{e:?}"))?;
        Ok(Hist::from(stored))
    }
}

impl From<Histogram<u64>> for Hist {
    /// A histogram read back (from `seconds.jsonl`): kept as a list when it has few buckets.
    fn from(h: Histogram<u64>) -> Self {
        let buckets: Vec<(u64, u64)> =
            h.iter_recorded().take(FEW + 1).map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
        if buckets.len() <= FEW {
            return Hist(Repr::Few(buckets));
        }
        let mut many = empty_histogram();
        let _ = many.add(&h);
        Hist(Repr::Many(Box::new(many)))
    }
}

impl PartialEq for Hist {
    fn eq(&self, other: &Hist) -> bool {
        self.len() == other.len() && self.buckets() == other.buckets()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: one dense HDR histogram with the old fixed bounds.
    fn dense(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, MAX_VALUE, SIGFIG).unwrap();
        for v in values {
            h.saturating_record(*v);
        }
        h
    }

    fn hist(values: &[u64]) -> Hist {
        let mut h = Hist::default();
        for v in values {
            h.record(*v);
        }
        h
    }

    const QUANTILES: [f64; 10] = [0.0, 0.001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0, 1.5];

    fn assert_same(h: &Hist, d: &Histogram<u64>, what: &str) {
        assert_eq!(h.len(), d.len(), "{what}");
        assert_eq!((h.min(), h.max()), (d.min(), d.max()), "{what}");
        for q in QUANTILES {
            assert_eq!(h.value_at_quantile(q), d.value_at_quantile(q), "{what} q={q}");
        }
    }

    #[test]
    fn figures_equal_a_dense_histogram_few_or_many() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            seed >> 33
        };
        for n in [1usize, 2, 3, 10, 31, 32, 33, 200, 5000] {
            let values: Vec<u64> = (0..n).map(|i| if i % 7 == 3 { 0 } else { 1 + next() % 5_000_000 }).collect();
            let h = hist(&values);
            assert_same(&h, &dense(&values), &format!("{n} values"));
            // Merging in every combination of few and many.
            for split in [0, 1, n / 2, n.saturating_sub(1)] {
                let mut a = hist(&values[..split]);
                a.add(&hist(&values[split..]));
                assert_same(&a, &dense(&values), &format!("{n} values split at {split}"));
                assert_eq!(a, h);
            }
            // Written out and read back.
            let back = Hist::from(h.to_histogram().into_owned());
            assert_same(&back, &dense(&values), &format!("{n} values read back"));
            let d = dense(&values);
            let medians: Vec<(u64, u64)> =
                d.iter_recorded().map(|v| (d.median_equivalent(v.value_iterated_to()), v.count_at_value())).collect();
            assert_eq!(h.bucket_medians(), medians, "{n} values");
            assert_eq!(back.bucket_medians(), medians, "{n} values read back");
        }
        let huge = hist(&[u64::MAX, 5]);
        assert_eq!(huge.max(), dense(&[MAX_VALUE]).max());
        assert_eq!(Hist::default().len(), 0);
        assert_eq!(Hist::default().max(), 0);
    }

    #[test]
    fn a_histogram_of_a_few_values_is_a_few_hundred_bytes() {
        let one = hist(&[1234]);
        assert!(one.heap_bytes() <= 64, "{}", one.heap_bytes());
        let few = hist(&[1234; FEW]);
        assert!(few.heap_bytes() <= FEW * 16, "{}", few.heap_bytes());
        // Many values of up to 100 ms: an HDR histogram sized to them, not to an hour.
        let many = hist(&(1..=100_000).step_by(7).collect::<Vec<_>>());
        assert!(many.heap_bytes() < 70_000, "{}", many.heap_bytes());
        assert!(std::mem::size_of::<Hist>() <= 24);
    }
}
