//! Batching: records accumulate until the request limits or the age limit seal them.

use crate::record::Record;
use std::time::{Duration, Instant};

/// The limits of one request (`maxBufferSizeRecords`, `maxBufferSizeBytes`, `maxBufferAgeMillis`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Records per request.
    pub max_records: usize,
    /// Bytes per request, counted as the service does (data + partition key).
    pub max_bytes: usize,
    /// How long the first record may wait for the batch to fill.
    pub max_age: Duration,
}

/// A batch being filled.
#[derive(Debug)]
pub struct Batch {
    records: Vec<Record>,
    bytes: usize,
    first_at: Option<Instant>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch {
            records: Vec::new(),
            bytes: 0,
            first_at: None,
        }
    }

    /// True when it holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when `rec` cannot join without breaking a limit (a lone record always fits).
    pub fn would_overflow(&self, rec: &Record, limits: &Limits) -> bool {
        !self.records.is_empty()
            && (self.records.len() >= limits.max_records
                || self.bytes + rec.size() > limits.max_bytes)
    }

    /// True when no further record can join.
    pub fn is_full(&self, limits: &Limits) -> bool {
        self.records.len() >= limits.max_records || self.bytes >= limits.max_bytes
    }

    /// Adds a record.
    pub fn push(&mut self, rec: Record) {
        if self.first_at.is_none() {
            self.first_at = Some(Instant::now());
        }
        self.bytes += rec.size();
        self.records.push(rec);
    }

    /// When the age limit seals this batch.
    pub fn deadline(&self, limits: &Limits) -> Option<Instant> {
        self.first_at.map(|t| t + limits.max_age)
    }

    /// Takes the records out, leaving an empty batch.
    pub fn take(&mut self) -> Vec<Record> {
        self.bytes = 0;
        self.first_at = None;
        std::mem::take(&mut self.records)
    }
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

/// Adds `rec`, sealing the current batch into `sealed` first when `rec` would not fit, and after
/// when the batch is full.
pub fn add(batch: &mut Batch, rec: Record, limits: &Limits, sealed: &mut impl Extend<Vec<Record>>) {
    if batch.would_overflow(&rec, limits) {
        sealed.extend(std::iter::once(batch.take()));
    }
    batch.push(rec);
    if batch.is_full(limits) {
        sealed.extend(std::iter::once(batch.take()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::AckToken;

    fn rec(n: usize) -> Record {
        Record {
            data: vec![b'x'; n].into(),
            partition_key: crate::record::PartitionKey::None,
            ack: AckToken {
                fid: 1,
                start: 0,
                end: n as u64,
            },
        }
    }

    fn limits(records: usize, bytes: usize) -> Limits {
        Limits {
            max_records: records,
            max_bytes: bytes,
            max_age: Duration::from_secs(1),
        }
    }

    #[test]
    fn seals_on_record_count() {
        let l = limits(3, 1000);
        let mut b = Batch::new();
        let mut sealed: Vec<Vec<Record>> = vec![];
        for _ in 0..7 {
            add(&mut b, rec(10), &l, &mut sealed);
        }
        assert_eq!(
            sealed.iter().map(|s| s.len()).collect::<Vec<_>>(),
            vec![3, 3]
        );
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn seals_before_a_record_that_would_overflow_bytes() {
        let l = limits(500, 100);
        let mut b = Batch::new();
        let mut sealed: Vec<Vec<Record>> = vec![];
        add(&mut b, rec(60), &l, &mut sealed);
        add(&mut b, rec(50), &l, &mut sealed); // 110 would overflow
        assert_eq!(sealed.len(), 1);
        assert_eq!(sealed[0].len(), 1);
        add(&mut b, rec(50), &l, &mut sealed); // exactly 100: full
        assert_eq!(sealed.len(), 2);
        assert!(b.is_empty());
        for s in &sealed {
            assert!(s.iter().map(|r| r.size()).sum::<usize>() <= 100);
        }
    }

    #[test]
    fn age_deadline_starts_with_the_first_record() {
        let l = limits(10, 1000);
        let mut b = Batch::new();
        assert!(b.deadline(&l).is_none());
        b.push(rec(1));
        assert!(b.deadline(&l).unwrap() > Instant::now());
        b.take();
        assert!(b.deadline(&l).is_none());
    }
}
