//! One machine's share of a test split over several (`suite run --segment i/n`, or
//! `--segment a:b --segment-sequence 0,a,b,...,1` for unequal shares), with no coordinator.
//!
//! Whatever an execution hands out one at a time (its virtual users, the open model's arrivals,
//! a data source's rows) is numbered 0, 1, 2, ... as in the unsplit test, and item `k` belongs to
//! exactly one segment. The items are striped: each goes to the segment owed the most so far
//! (its share of the items up to `k`, minus what it already holds; ties to the first), so every
//! prefix of the items is split as evenly as integers allow, 3 segments of 10 users get 4/3/3,
//! and the union over all segments is exactly the unsplit test. With shares `w_j / D` the pattern
//! repeats every `D` items, each segment holding `w_j` of them.

use std::fmt;

use thiserror::Error;

/// Most items in one period of the stripe pattern (the common denominator of the shares).
pub const MAX_PERIOD: u64 = 100_000;

/// A segment flag that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SegmentError {
    /// Not `i/n` or `a:b`.
    #[error(
        "`{0}` is not a segment: write `i/n` (the i-th of n equal shares, 1-based) or `a:b` with `--segment-sequence`"
    )]
    Syntax(String),
    /// A fraction that does not read.
    #[error("`{0}` is not a fraction: write `1/3`, `0.25`, `0` or `1`")]
    Fraction(String),
    /// i outside 1..=n.
    #[error("segment {index} of {count} does not exist: `i/n` counts from 1 to n")]
    Index { index: u64, count: u64 },
    /// A sequence that does not rise from 0 to 1.
    #[error("`--segment-sequence` must rise strictly from 0 to 1, found `{0}`")]
    Sequence(String),
    /// `a:b` not two neighbours of the sequence.
    #[error("segment `{0}` is not one of the sequence's shares ({1})")]
    NotInSequence(String, String),
    /// Shares whose pattern is too long.
    #[error("the shares' common denominator is {0}; at most {MAX_PERIOD} is supported")]
    Period(u64),
}

/// A share of the items: which segment of a sequence this run is, and the stripe pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct Segment {
    /// This segment's position in the sequence, 0-based.
    pub index: usize,
    /// The sequence's points as fractions `p / period`, 0 first and `period` last.
    points: Vec<u64>,
    /// Items per period.
    period: u64,
    /// Positions within a period that this segment holds, in order.
    held: Vec<u64>,
}

impl Segment {
    /// `--segment` and, for `a:b`, `--segment-sequence` (`0,1/4,1/2,1`); `i/n` alone is the
    /// i-th of n equal shares (a sequence, when also given, must then have n equal shares).
    pub fn parse(segment: &str, sequence: Option<&str>) -> Result<Segment, SegmentError> {
        let segment = segment.trim();
        if let Some((a, b)) = segment.split_once(':') {
            let (a, b) = (fraction(a)?, fraction(b)?);
            let points = match sequence {
                Some(s) => s.split(',').map(fraction).collect::<Result<Vec<_>, _>>()?,
                None => vec![(0, 1), a, b, (1, 1)],
            };
            let period = points.iter().fold(1u64, |d, &(_, q)| lcm(d, q));
            if period > MAX_PERIOD {
                return Err(SegmentError::Period(period));
            }
            let mut scaled: Vec<u64> = points.iter().map(|&(p, q)| p * (period / q)).collect();
            if sequence.is_none() {
                // `0:b` and `a:1` alone: the sequence has the share and what is left around it.
                scaled.dedup();
            }
            let rising = scaled.windows(2).all(|w| w[0] < w[1]);
            if scaled.first() != Some(&0) || scaled.last() != Some(&period) || !rising {
                return Err(SegmentError::Sequence(sequence.unwrap_or(segment).to_string()));
            }
            let (from, to) = (a.0 * (period / a.1), b.0 * (period / b.1));
            let index = scaled.windows(2).position(|w| w[0] == from && w[1] == to).ok_or_else(|| {
                SegmentError::NotInSequence(segment.to_string(), sequence.unwrap_or_default().to_string())
            })?;
            return Ok(Segment::new(index, scaled, period));
        }
        let (i, n) = segment.split_once('/').ok_or_else(|| SegmentError::Syntax(segment.to_string()))?;
        let parse = |t: &str| t.trim().parse::<u64>().map_err(|_| SegmentError::Syntax(segment.to_string()));
        let (i, n) = (parse(i)?, parse(n)?);
        if n == 0 || i == 0 || i > n {
            return Err(SegmentError::Index { index: i, count: n });
        }
        if n > MAX_PERIOD {
            return Err(SegmentError::Period(n));
        }
        let points: Vec<u64> = (0..=n).collect();
        if let Some(s) = sequence {
            let given = s.split(',').map(fraction).collect::<Result<Vec<_>, _>>()?;
            let equal =
                given.len() as u64 == n + 1 && given.iter().enumerate().all(|(k, &(p, q))| p * n == k as u64 * q);
            if !equal {
                return Err(SegmentError::NotInSequence(segment.to_string(), s.to_string()));
            }
        }
        Ok(Segment::new((i - 1) as usize, points, n))
    }

    fn new(index: usize, points: Vec<u64>, period: u64) -> Segment {
        let weights: Vec<u64> = points.windows(2).map(|w| w[1] - w[0]).collect();
        let mut counts = vec![0u64; weights.len()];
        let mut held = Vec::new();
        for k in 0..period {
            // The segment owed the most after item k: w_j (k + 1) / period - count_j.
            let owner = (0..weights.len())
                .max_by_key(|&j| {
                    (weights[j] as i128 * (k as i128 + 1) - period as i128 * counts[j] as i128, -(j as i64))
                })
                .unwrap_or(0);
            counts[owner] += 1;
            if owner == index {
                held.push(k);
            }
        }
        Segment { index, points, period, held }
    }

    /// Segments in the sequence.
    pub fn count(&self) -> usize {
        self.points.len() - 1
    }

    /// This segment's share of the items.
    pub fn share(&self) -> f64 {
        self.held.len() as f64 / self.period as f64
    }

    /// Whether item `k` is this segment's.
    pub fn holds(&self, k: u64) -> bool {
        self.held.binary_search(&(k % self.period)).is_ok()
    }

    /// How many of the items `0..n` are this segment's.
    pub fn held_below(&self, n: u64) -> u64 {
        let full = n / self.period * self.held.len() as u64;
        full + self.held.partition_point(|&k| k < n % self.period) as u64
    }

    /// The number of this segment's `m`-th item (0-based) among all items.
    pub fn nth(&self, m: u64) -> u64 {
        let per = self.held.len() as u64;
        if per == 0 {
            return u64::MAX;
        }
        m / per * self.period + self.held[(m % per) as usize]
    }

    /// The first item at or after `k` that is this segment's.
    pub fn next_held(&self, k: u64) -> u64 {
        self.nth(self.held_below(k))
    }

    /// The share as `a:b` and the sequence, as k6's `--execution-segment` and
    /// `--execution-segment-sequence` take them.
    pub fn k6_args(&self) -> (String, String) {
        let f = |p: u64| {
            let g = gcd(p, self.period);
            if p == 0 {
                "0".to_string()
            } else if p == self.period {
                "1".to_string()
            } else {
                format!("{}/{}", p / g, self.period / g)
            }
        };
        let share = format!("{}:{}", f(self.points[self.index]), f(self.points[self.index + 1]));
        let sequence = self.points.iter().map(|&p| f(p)).collect::<Vec<_>>().join(",");
        (share, sequence)
    }

    /// Whether two segments split the items the same way (same sequence).
    pub fn same_sequence(&self, other: &Segment) -> bool {
        self.points == other.points && self.period == other.period
    }
}

impl fmt::Display for Segment {
    /// `2/3` for equal shares, else `1/4:1/2 of 0,1/4,1/2,1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.count() as u64;
        if self.period == n && self.points.iter().enumerate().all(|(k, &p)| p == k as u64) {
            write!(f, "{}/{}", self.index + 1, n)
        } else {
            let (share, sequence) = self.k6_args();
            write!(f, "{share} of {sequence}")
        }
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Segment({self})")
    }
}

/// `p/q`, a decimal such as `0.25`, `0` or `1`, in lowest terms, within [0, 1].
fn fraction(text: &str) -> Result<(u64, u64), SegmentError> {
    let t = text.trim();
    let bad = || SegmentError::Fraction(t.to_string());
    let (p, q) = if let Some((p, q)) = t.split_once('/') {
        (p.trim().parse::<u64>().map_err(|_| bad())?, q.trim().parse::<u64>().map_err(|_| bad())?)
    } else if let Some((whole, decimals)) = t.split_once('.') {
        if decimals.is_empty() || decimals.len() > 6 || !decimals.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
        let q = 10u64.pow(decimals.len() as u32);
        (whole * q + decimals.parse::<u64>().map_err(|_| bad())?, q)
    } else {
        (t.parse::<u64>().map_err(|_| bad())?, 1)
    };
    if q == 0 || p > q {
        return Err(bad());
    }
    let g = gcd(p, q).max(1);
    Ok((p / g, q / g))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b).max(1) * b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(n: u64) -> Vec<Segment> {
        (1..=n).map(|i| Segment::parse(&format!("{i}/{n}"), None).unwrap()).collect()
    }

    #[test]
    fn equal_shares_stripe_round_robin_and_cover_every_item_once() {
        let segs = all(3);
        let users: Vec<u64> = segs.iter().map(|s| s.held_below(10)).collect();
        assert_eq!(users, vec![4, 3, 3]);
        for k in 0..1000 {
            assert_eq!(segs.iter().filter(|s| s.holds(k)).count(), 1, "item {k}");
            assert!(segs[(k % 3) as usize].holds(k));
        }
        assert_eq!(segs[1].nth(0), 1);
        assert_eq!(segs[1].nth(2), 7);
        assert_eq!(segs[2].next_held(3), 5);
        assert_eq!(segs[0].to_string(), "1/3");
    }

    #[test]
    fn unequal_shares_hold_their_share_of_every_prefix() {
        let seq = "0,1/4,1/2,1";
        let segs: Vec<Segment> =
            ["0:1/4", "1/4:1/2", "1/2:1"].iter().map(|s| Segment::parse(s, Some(seq)).unwrap()).collect();
        assert_eq!(segs.iter().map(|s| s.held_below(4)).collect::<Vec<_>>(), vec![1, 1, 2]);
        assert_eq!(segs.iter().map(|s| s.held_below(400)).collect::<Vec<_>>(), vec![100, 100, 200]);
        for n in 1..200u64 {
            for s in &segs {
                let exact = s.share() * n as f64;
                assert!((s.held_below(n) as f64 - exact).abs() < 1.0, "{s} below {n}");
            }
            assert_eq!(segs.iter().map(|s| s.held_below(n)).sum::<u64>(), n);
        }
        assert_eq!(segs[2].to_string(), "1/2:1 of 0,1/4,1/2,1");
        assert_eq!(segs[1].k6_args(), ("1/4:1/2".to_string(), "0,1/4,1/2,1".to_string()));
        // Without a sequence, a:b is a share of 0,a,b,1.
        let alone = Segment::parse("0.5:1", None).unwrap();
        assert_eq!((alone.index, alone.share()), (1, 0.5));
    }

    #[test]
    fn bad_segments_say_what_is_expected() {
        assert_eq!(Segment::parse("0/3", None), Err(SegmentError::Index { index: 0, count: 3 }));
        assert_eq!(Segment::parse("4/3", None), Err(SegmentError::Index { index: 4, count: 3 }));
        assert!(matches!(Segment::parse("two", None), Err(SegmentError::Syntax(_))));
        assert!(matches!(Segment::parse("1/4:1/3", Some("0,1/4,1/2,1")), Err(SegmentError::NotInSequence(..))));
        assert!(matches!(Segment::parse("0:1/2", Some("0,1/2,1/3,1")), Err(SegmentError::Sequence(_))));
        assert!(matches!(Segment::parse("0:x", None), Err(SegmentError::Fraction(_))));
        assert!(matches!(Segment::parse("1/3", Some("0,1/2,1")), Err(SegmentError::NotInSequence(..))));
        assert!(Segment::parse("2/3", Some("0,1/3,2/3,1")).is_ok());
    }
}
