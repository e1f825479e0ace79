//! Counters of each flow and the periodic status lines in the Java agent's wording.

pub mod accumulator;
pub mod cloudwatch;
pub mod endpoint;
pub mod status;

use std::sync::atomic::{AtomicU64, Ordering};

/// What a flow's processing and sending did so far (monotonic counters).
#[derive(Debug, Default)]
pub struct FlowCounters {
    /// Records that went through the converter chain.
    pub records_processed: AtomicU64,
    /// Records a converter chose not to send.
    pub records_skipped: AtomicU64,
    /// Records sent raw because a converter failed.
    pub processing_errors: AtomicU64,
    /// Records cut to the maximum record size.
    pub records_truncated: AtomicU64,
    /// Records the destination stored.
    pub records_sent: AtomicU64,
    /// Data bytes the destination stored.
    pub bytes_sent: AtomicU64,
    /// Entries the destination rejected (and that will be retried).
    pub records_failed: AtomicU64,
    /// Records included in requests, retries counted again.
    pub records_attempted: AtomicU64,
    /// PutRecords calls made.
    pub put_calls: AtomicU64,
    /// PutRecords calls that failed as a whole.
    pub put_call_errors: AtomicU64,
    /// Unix time (ms) since when no request stored anything (0: the last one did).
    pub failing_since_millis: AtomicU64,
}

/// The wall clock as Unix time in milliseconds (0 for a clock before 1970), as the checkpoint
/// file and the status outputs record times.
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl FlowCounters {
    /// A request stored records (`stored`), or stored none: tracks since when sending fails.
    pub fn note_request(&self, stored: bool) {
        if stored {
            self.failing_since_millis.store(0, Ordering::Relaxed);
        } else if self.failing_since_millis.load(Ordering::Relaxed) == 0 {
            // Never 0, which means "not failing".
            let now = unix_millis().max(1);
            self.failing_since_millis.store(now, Ordering::Relaxed);
        }
    }

    /// Adds `n` to a counter; relaxed, as the counters only feed status lines.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter, possibly a little behind the other threads' additions.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Peak resident memory of this process in bytes (`ru_maxrss`).
pub fn peak_rss_bytes() -> u64 {
    use nix::sys::resource::{getrusage, UsageWho};
    // Linux reports `ru_maxrss` in KiB.
    getrusage(UsageWho::RUSAGE_SELF).map_or(0, |u| u64::try_from(u.max_rss()).unwrap_or(0) * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_that_of_a_running_process() {
        let rss = peak_rss_bytes();
        // More than a page, less than the 64 GiB a unit-test process never gets near.
        assert!(rss > 4096, "{rss}");
        assert!(rss < 64 << 30, "{rss}");
        assert_eq!(rss % 1024, 0);
    }

    #[test]
    fn counters_add_up() {
        let c = FlowCounters::default();
        FlowCounters::add(&c.records_sent, 2);
        FlowCounters::add(&c.records_sent, 3);
        assert_eq!(FlowCounters::get(&c.records_sent), 5);
        assert_eq!(FlowCounters::get(&c.bytes_sent), 0);
    }
}
