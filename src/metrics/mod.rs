//! Counters of each flow and the periodic status lines in the Java agent's wording.

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
}

impl FlowCounters {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Peak resident memory of this process in bytes (`ru_maxrss`).
pub fn peak_rss_bytes() -> u64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc == 0 {
        (ru.ru_maxrss as u64) * 1024
    } else {
        0
    }
}
