//! The contiguous-prefix watermark of one tracked file's acknowledged byte ranges.

use std::collections::BTreeMap;

/// Highest offset below which every byte of a file has been acknowledged.
///
/// Batches complete in any order; a range acknowledged ahead of a gap is parked until the gap
/// closes, so the watermark never passes a record that the stream has not accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watermark {
    committed: u64,
    parked: BTreeMap<u64, u64>,
}

impl Watermark {
    /// A watermark whose prefix up to `offset` is already done (where reading started).
    pub fn new(offset: u64) -> Self {
        Watermark {
            committed: offset,
            parked: BTreeMap::new(),
        }
    }

    /// The offset up to which everything is acknowledged.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Number of acknowledged ranges waiting for an earlier gap to close.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Marks `[start, end)` acknowledged; returns true when the watermark moved.
    pub fn ack(&mut self, start: u64, end: u64) -> bool {
        if end <= self.committed || end <= start {
            return false;
        }
        if start > self.committed {
            self.park(start, end);
            return false;
        }
        self.committed = end;
        while let Some((&s, &e)) = self.parked.first_key_value() {
            if s > self.committed {
                break;
            }
            self.parked.pop_first();
            self.committed = self.committed.max(e);
        }
        true
    }

    /// Parks `[start, end)` merged with the parked ranges it touches or overlaps, so that the
    /// parked ranges are at most as many as the gaps: a record stuck in retry followed by a
    /// million acknowledged (or skipped) ones costs one entry, not a million.
    fn park(&mut self, mut start: u64, mut end: u64) {
        if let Some((&s, &e)) = self.parked.range(..=start).next_back() {
            if e >= start {
                start = s;
                end = end.max(e);
            }
        }
        while let Some((&s, &e)) = self.parked.range(start..).next() {
            if s > end {
                break;
            }
            self.parked.remove(&s);
            end = end.max(e);
        }
        self.parked.insert(start, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_order_acks_advance() {
        let mut w = Watermark::new(0);
        assert!(w.ack(0, 10));
        assert!(w.ack(10, 25));
        assert_eq!(w.committed(), 25);
    }

    #[test]
    fn gap_holds_the_watermark_until_filled() {
        let mut w = Watermark::new(5);
        assert!(!w.ack(10, 20));
        assert!(!w.ack(25, 30));
        assert_eq!(w.committed(), 5);
        assert_eq!(w.parked(), 2);
        assert!(!w.ack(20, 25));
        assert_eq!(w.parked(), 1);
        assert!(w.ack(5, 10));
        assert_eq!(w.committed(), 30);
        assert_eq!(w.parked(), 0);
    }

    #[test]
    fn ranges_behind_a_gap_merge_into_one() {
        let mut w = Watermark::new(0);
        for i in 1..10_000u64 {
            assert!(!w.ack(i * 10, i * 10 + 10));
        }
        assert_eq!(w.parked(), 1);
        // Out of order, overlapping and inside: still one range per gap.
        let mut w = Watermark::new(0);
        for (s, e) in [
            (50, 60),
            (30, 40),
            (40, 50),
            (35, 45),
            (70, 80),
            (60, 70),
            (20, 30),
        ] {
            w.ack(s, e);
        }
        assert_eq!(w.parked(), 1);
        assert!(w.ack(0, 20));
        assert_eq!((w.committed(), w.parked()), (80, 0));
    }

    #[test]
    fn duplicate_and_stale_acks_are_ignored() {
        let mut w = Watermark::new(0);
        w.ack(0, 10);
        assert!(!w.ack(0, 10));
        assert!(!w.ack(3, 7));
        assert_eq!(w.committed(), 10);
    }

    /// Splits `[start, start + total)` into consecutive ranges of the given lengths.
    fn ranges(start: u64, lens: &[u64]) -> Vec<(u64, u64)> {
        let mut at = start;
        lens.iter()
            .map(|&l| {
                let r = (at, at + l);
                at += l;
                r
            })
            .collect()
    }

    proptest! {
        /// No order of acknowledgements moves the checkpoint past an unacknowledged record,
        /// and once everything is acknowledged the checkpoint is at the end.
        #[test]
        fn never_passes_an_unacknowledged_record(
            start in 0u64..1000,
            lens in proptest::collection::vec(1u64..200, 1..60),
            order in proptest::collection::vec(any::<proptest::sample::Index>(), 60),
            acked_fraction in 0usize..=100,
        ) {
            let rs = ranges(start, &lens);
            let mut idx: Vec<usize> = (0..rs.len()).collect();
            // A random permutation driven by proptest's indices.
            for (i, pick) in order.iter().enumerate().take(idx.len()) {
                let j = i + pick.index(idx.len() - i);
                idx.swap(i, j);
            }
            let n_acked = rs.len() * acked_fraction / 100;
            let mut w = Watermark::new(start);
            let mut acked = vec![false; rs.len()];
            for &k in idx.iter().take(n_acked) {
                w.ack(rs[k].0, rs[k].1);
                acked[k] = true;
                // The checkpoint equals the end of the longest fully acknowledged prefix.
                let prefix = acked.iter().take_while(|a| **a).count();
                let expect = if prefix == 0 { start } else { rs[prefix - 1].1 };
                prop_assert_eq!(w.committed(), expect);
                for (r, a) in rs.iter().zip(&acked) {
                    if !*a {
                        prop_assert!(w.committed() <= r.0, "passed unacked record {:?}", r);
                    }
                }
            }
            if n_acked == rs.len() {
                prop_assert_eq!(w.committed(), rs.last().unwrap().1);
                prop_assert_eq!(w.parked(), 0);
            }
        }
    }
}
