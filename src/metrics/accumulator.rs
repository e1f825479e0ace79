//! Samples merged into statistic sets per (metric, dimensions), as the Java agent's
//! `MetricAccumulatingQueue` does, until the publisher takes them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// `RecordSendAttempts`: records in a request, counted before it is made.
pub const RECORD_SEND_ATTEMPTS: &str = "RecordSendAttempts";
/// `ServiceErrors`: 1 for a request that failed as a whole, else 0.
pub const SERVICE_ERRORS: &str = "ServiceErrors";
/// `RecordsSent`: entries of a returned request the destination stored.
pub const RECORDS_SENT: &str = "RecordsSent";
/// `RecordSendErrors`: entries of a returned request the destination rejected.
pub const RECORD_SEND_ERRORS: &str = "RecordSendErrors";
/// `BytesSent`: data bytes of the stored entries.
pub const BYTES_SENT: &str = "BytesSent";
/// `ConsecutiveProcessingErrors`: tailer passes in a row that failed to read a file.
pub const CONSECUTIVE_PROCESSING_ERRORS: &str = "ConsecutiveProcessingErrors";
/// Not in the Java agent: bytes in tracked files the destination has not acknowledged yet.
pub const BYTES_NOT_ACKNOWLEDGED: &str = "BytesNotAcknowledged";
/// Not in the Java agent: tracked files with bytes not read yet.
pub const FILES_BEHIND: &str = "FilesBehind";
/// Not in the Java agent: age of the oldest record read and not acknowledged yet.
pub const OLDEST_UNACKNOWLEDGED_RECORD_AGE: &str = "OldestUnacknowledgedRecordAge";

/// The unit of a metric, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// `Count`.
    Count,
    /// `Bytes`.
    Bytes,
    /// `Seconds`.
    Seconds,
}

/// Dimension names and values, in the order they are sent.
pub type Dimensions = Arc<[(&'static str, String)]>;

/// What identifies one datum: samples with the same key are merged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// Metric name.
    pub name: &'static str,
    /// Its unit.
    pub unit: Unit,
    /// Its dimensions.
    pub dimensions: Dimensions,
}

/// A CloudWatch statistic set: sum, minimum, maximum and number of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Sum of the samples.
    pub sum: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Number of samples.
    pub count: f64,
}

impl Stats {
    fn one(v: f64) -> Stats {
        Stats {
            sum: v,
            min: v,
            max: v,
            count: 1.0,
        }
    }

    fn add(&mut self, v: f64) {
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.count += 1.0;
    }
}

/// The Java agent flushes as soon as this many distinct datums wait.
pub const FLUSH_AT_DATUMS: usize = 200;

/// Statistic sets waiting to be published, bounded in how many distinct datums it holds.
#[derive(Debug)]
pub struct Accumulator {
    sets: Mutex<Pending>,
    /// Woken when [`FLUSH_AT_DATUMS`] distinct datums wait.
    pub full: Notify,
}

#[derive(Debug, Default)]
struct Pending {
    sets: HashMap<Key, Stats>,
    capacity: usize,
    dropped: u64,
}

impl Accumulator {
    /// An accumulator holding at most `capacity` distinct datums (`cloudwatch.metricsQueueSize`).
    pub fn new(capacity: usize) -> Accumulator {
        Accumulator {
            sets: Mutex::new(Pending {
                capacity,
                ..Pending::default()
            }),
            full: Notify::new(),
        }
    }

    /// Adds one sample of each `(name, unit, value)` under `dimensions`, under one lock.
    pub fn record(&self, dimensions: &Dimensions, samples: &[(&'static str, Unit, f64)]) {
        let mut p = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        for &(name, unit, value) in samples {
            let key = Key {
                name,
                unit,
                dimensions: dimensions.clone(),
            };
            if let Some(s) = p.sets.get_mut(&key) {
                s.add(value);
            } else if p.sets.len() < p.capacity {
                p.sets.insert(key, Stats::one(value));
            } else {
                p.dropped += 1;
            }
        }
        if p.sets.len() >= FLUSH_AT_DATUMS {
            self.full.notify_one();
        }
    }

    /// Takes everything waiting, and how many samples were dropped because it was full.
    pub fn take(&self) -> (Vec<(Key, Stats)>, u64) {
        let mut p = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = std::mem::take(&mut p.dropped);
        (p.sets.drain().collect(), dropped)
    }
}

/// Where one flow's samples go, with its dimensions made once.
#[derive(Debug, Clone)]
pub struct FlowMetrics {
    acc: Arc<Accumulator>,
    /// `Destination` = `KinesisStream:<name>` or `DeliveryStream:<name>` (+ `Instance`).
    destination: Dimensions,
    /// `Destination` = the bare name (+ `Instance`), as the Java agent tags
    /// `ConsecutiveProcessingErrors`.
    bare_destination: Dimensions,
}

/// What one PutRecords / PutRecordBatch call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// The call returned: entries stored and rejected, and the data bytes stored.
    Returned {
        /// Entries stored.
        sent: usize,
        /// Entries rejected.
        failed: usize,
        /// Data bytes of the stored entries.
        bytes: u64,
    },
    /// The call failed as a whole (error reply, timeout, connection lost).
    Failed {
        /// Records in the request.
        attempted: usize,
    },
}

/// How far behind a flow is, sampled at each status report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    /// Tailer passes in a row that failed to read a file.
    pub consecutive_errors: u64,
    /// Bytes not acknowledged yet.
    pub bytes_not_acknowledged: u64,
    /// Files with unread bytes.
    pub files_behind: u64,
    /// Age of the oldest record read and not acknowledged, in milliseconds.
    pub oldest_unacknowledged_millis: u64,
}

impl FlowMetrics {
    /// The samples of a flow to `kind:name` (`KinesisStream` or `DeliveryStream`), tagged
    /// with `instance` when `cloudwatch.tagInstance` asks for it.
    pub fn new(
        acc: Arc<Accumulator>,
        kind: &str,
        name: &str,
        instance: Option<&str>,
    ) -> FlowMetrics {
        let dims = |destination: String| -> Dimensions {
            let mut d = vec![("Destination", destination)];
            if let Some(i) = instance {
                d.push(("Instance", i.to_owned()));
            }
            d.into()
        };
        FlowMetrics {
            acc,
            destination: dims(format!("{kind}:{name}")),
            bare_destination: dims(name.to_owned()),
        }
    }

    /// Records one call's samples, as the Java agent's senders do for each call.
    pub fn call(&self, call: Call) {
        use Unit::{Bytes, Count};
        match call {
            Call::Returned {
                sent,
                failed,
                bytes,
            } => self.acc.record(
                &self.destination,
                &[
                    (RECORD_SEND_ATTEMPTS, Count, (sent + failed) as f64),
                    (SERVICE_ERRORS, Count, 0.0),
                    (RECORDS_SENT, Count, sent as f64),
                    (RECORD_SEND_ERRORS, Count, failed as f64),
                    (BYTES_SENT, Bytes, bytes as f64),
                ],
            ),
            Call::Failed { attempted } => self.acc.record(
                &self.destination,
                &[
                    (RECORD_SEND_ATTEMPTS, Count, attempted as f64),
                    (SERVICE_ERRORS, Count, 1.0),
                ],
            ),
        }
    }

    /// Records the flow's lag: the Java agent's `ConsecutiveProcessingErrors`, and the gauges
    /// it lacks.
    pub fn lag(&self, lag: Lag) {
        self.acc.record(
            &self.bare_destination,
            &[(
                CONSECUTIVE_PROCESSING_ERRORS,
                Unit::Count,
                lag.consecutive_errors as f64,
            )],
        );
        self.acc.record(
            &self.destination,
            &[
                (
                    BYTES_NOT_ACKNOWLEDGED,
                    Unit::Bytes,
                    lag.bytes_not_acknowledged as f64,
                ),
                (FILES_BEHIND, Unit::Count, lag.files_behind as f64),
                (
                    OLDEST_UNACKNOWLEDGED_RECORD_AGE,
                    Unit::Seconds,
                    lag.oldest_unacknowledged_millis as f64 / 1000.0,
                ),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_of(taken: &[(Key, Stats)], name: &str, dest: &str) -> Stats {
        taken
            .iter()
            .find(|(k, _)| k.name == name && k.dimensions[0].1 == dest)
            .map(|(_, s)| *s)
            .unwrap_or_else(|| panic!("no {name} for {dest}"))
    }

    #[test]
    fn calls_merge_into_statistic_sets_per_metric_and_destination() {
        let acc = Arc::new(Accumulator::new(100));
        let a = FlowMetrics::new(acc.clone(), "KinesisStream", "a", None);
        let b = FlowMetrics::new(acc.clone(), "DeliveryStream", "b", Some("i-0abc"));
        a.call(Call::Returned {
            sent: 498,
            failed: 2,
            bytes: 1000,
        });
        a.call(Call::Failed { attempted: 2 });
        a.call(Call::Returned {
            sent: 2,
            failed: 0,
            bytes: 10,
        });
        b.call(Call::Returned {
            sent: 7,
            failed: 0,
            bytes: 70,
        });
        let (taken, dropped) = acc.take();
        assert_eq!(dropped, 0);
        let attempts = stats_of(&taken, RECORD_SEND_ATTEMPTS, "KinesisStream:a");
        assert_eq!(
            attempts,
            Stats {
                sum: 504.0,
                min: 2.0,
                max: 500.0,
                count: 3.0
            }
        );
        let errors = stats_of(&taken, SERVICE_ERRORS, "KinesisStream:a");
        assert_eq!(
            (errors.sum, errors.min, errors.max, errors.count),
            (1.0, 0.0, 1.0, 3.0)
        );
        // Only calls that returned have RecordsSent, RecordSendErrors and BytesSent samples.
        let sent = stats_of(&taken, RECORDS_SENT, "KinesisStream:a");
        assert_eq!(
            (sent.sum, sent.min, sent.max, sent.count),
            (500.0, 2.0, 498.0, 2.0)
        );
        let failed = stats_of(&taken, RECORD_SEND_ERRORS, "KinesisStream:a");
        assert_eq!((failed.sum, failed.count), (2.0, 2.0));
        let bytes = stats_of(&taken, BYTES_SENT, "KinesisStream:a");
        assert_eq!((bytes.sum, bytes.max), (1010.0, 1000.0));
        let (k, _) = taken
            .iter()
            .find(|(k, _)| k.dimensions[0].1 == "DeliveryStream:b" && k.name == BYTES_SENT)
            .unwrap();
        assert_eq!(k.unit, Unit::Bytes);
        assert_eq!(&k.dimensions[1], &("Instance", "i-0abc".to_owned()));
        // 5 metrics of a, 5 of b; taking empties it.
        assert_eq!(taken.len(), 10);
        assert!(acc.take().0.is_empty());
    }

    #[test]
    fn processing_errors_are_tagged_with_the_bare_destination_name() {
        let acc = Arc::new(Accumulator::new(100));
        let a = FlowMetrics::new(acc.clone(), "KinesisStream", "a", None);
        a.lag(Lag {
            consecutive_errors: 3,
            bytes_not_acknowledged: 4096,
            files_behind: 2,
            oldest_unacknowledged_millis: 1500,
        });
        let (taken, _) = acc.take();
        assert_eq!(
            stats_of(&taken, CONSECUTIVE_PROCESSING_ERRORS, "a").sum,
            3.0
        );
        assert_eq!(
            stats_of(&taken, BYTES_NOT_ACKNOWLEDGED, "KinesisStream:a").sum,
            4096.0
        );
        assert_eq!(stats_of(&taken, FILES_BEHIND, "KinesisStream:a").sum, 2.0);
        let age = taken
            .iter()
            .find(|(k, _)| k.name == OLDEST_UNACKNOWLEDGED_RECORD_AGE)
            .unwrap();
        assert_eq!((age.0.unit, age.1.sum), (Unit::Seconds, 1.5));
    }

    #[test]
    fn a_full_accumulator_drops_new_datums_but_still_merges_known_ones() {
        let acc = Arc::new(Accumulator::new(3));
        let a = FlowMetrics::new(acc.clone(), "KinesisStream", "a", None);
        // Five datums, room for three: the last two of the first call are dropped.
        a.call(Call::Returned {
            sent: 1,
            failed: 0,
            bytes: 1,
        });
        a.call(Call::Failed { attempted: 4 });
        let (taken, dropped) = acc.take();
        assert_eq!(taken.len(), 3);
        assert_eq!(dropped, 2);
        let attempts = stats_of(&taken, RECORD_SEND_ATTEMPTS, "KinesisStream:a");
        assert_eq!((attempts.sum, attempts.count), (5.0, 2.0));
    }

    #[tokio::test]
    async fn two_hundred_distinct_datums_wake_the_publisher() {
        let acc = Arc::new(Accumulator::new(10_000));
        let flows: Vec<FlowMetrics> = (0..40)
            .map(|i| FlowMetrics::new(acc.clone(), "KinesisStream", &format!("s{i}"), None))
            .collect();
        for f in &flows[..39] {
            f.call(Call::Failed { attempted: 1 });
            f.call(Call::Returned {
                sent: 1,
                failed: 0,
                bytes: 1,
            });
        }
        // 195 datums: not yet.
        let woken = tokio::time::timeout(std::time::Duration::from_millis(20), acc.full.notified());
        assert!(woken.await.is_err());
        flows[39].call(Call::Returned {
            sent: 1,
            failed: 0,
            bytes: 1,
        });
        tokio::time::timeout(std::time::Duration::from_secs(5), acc.full.notified())
            .await
            .expect("woken at 200 datums");
    }
}
