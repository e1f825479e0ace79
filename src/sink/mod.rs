//! Sending: batch records, keep a bounded number of requests in flight, retry what failed, ack what was stored.

pub mod aws;
pub mod batch;
pub mod kinesis;
pub mod partition;
pub mod retry;

use crate::metrics::FlowCounters;
use crate::record::{AckSink, Record};
use batch::{Batch, Limits};
use retry::Backoff;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::sleep_until;

/// Per-entry outcome of a request: None = stored, Some(code) = rejected.
pub type EntryResults = Vec<Option<String>>;

/// Why a whole request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Throttling, a 5xx, a timeout, a dropped connection: retry soon.
    Transient(String),
    /// Missing stream, denied access, bad credentials: only an operator can fix it; retry slowly.
    Persistent(String),
}

/// A place records are sent to (a Kinesis stream, a Firehose delivery stream, a test double).
pub trait Destination: Send + Sync + 'static {
    /// A short name for logs, such as `KinesisStream:taxi`.
    fn name(&self) -> String;
    /// Sends one batch; the future owns what it needs.
    fn put(
        &self,
        records: &[Record],
    ) -> impl Future<Output = Result<EntryResults, SendError>> + Send + 'static;
}

/// Limits on what all flows together may have in flight: requests and bytes.
///
/// Each request costs several times its record bytes while in flight (the records, the SDK's
/// base64 JSON body, buffers), so a byte budget, not only a request count, keeps memory flat.
#[derive(Debug, Clone)]
pub struct InFlight {
    requests: Arc<Semaphore>,
    kib: Arc<Semaphore>,
    kib_total: u32,
}

impl InFlight {
    /// At most `requests` concurrent requests carrying at most `bytes` of records in total (a
    /// single request larger than that budget may still go alone).
    pub fn new(requests: usize, bytes: usize) -> InFlight {
        let kib_total = (bytes / 1024).clamp(1, Semaphore::MAX_PERMITS) as u32;
        InFlight {
            requests: Arc::new(Semaphore::new(requests.max(1))),
            kib: Arc::new(Semaphore::new(kib_total as usize)),
            kib_total,
        }
    }

    /// Waits for room for a request of `bytes`.
    async fn acquire(&self, bytes: usize) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let want = ((bytes / 1024) as u32 + 1).min(self.kib_total);
        let r = self.requests.clone().acquire_owned().await.ok()?;
        let b = self.kib.clone().acquire_many_owned(want).await.ok()?;
        Some((r, b))
    }
}

/// How a flow's sink behaves.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    /// The flow id, for logs.
    pub flow_id: String,
    /// Request limits.
    pub limits: Limits,
    /// `retryInitialBackoffMillis`.
    pub retry_initial: Duration,
    /// `retryMaxBackoffMillis`.
    pub retry_max: Duration,
    /// How many sealed batches may wait for an in-flight slot before the input pauses.
    pub max_sealed: usize,
}

/// Rate limit for error log lines.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(60);
const WARN_LOG_EVERY: Duration = Duration::from_secs(10);

struct Flight {
    records: Vec<Record>,
    result: Result<EntryResults, SendError>,
}

struct RateLimited {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    fn new() -> Self {
        RateLimited {
            last: None,
            suppressed: 0,
        }
    }
    /// Returns how many were suppressed since the last emitted line when one is due now.
    fn due(&mut self, every: Duration) -> Option<u64> {
        if self.last.is_none_or(|t| t.elapsed() >= every) {
            self.last = Some(Instant::now());
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// The sink of one flow.
pub struct Sink<D: Destination> {
    settings: SinkSettings,
    dest: Arc<D>,
    in_flight: InFlight,
    acks: Arc<dyn AckSink>,
    counters: Arc<FlowCounters>,
}

impl<D: Destination> Sink<D> {
    /// A sink sending to `dest`, within the shared `in_flight` limits.
    pub fn new(
        settings: SinkSettings,
        dest: Arc<D>,
        in_flight: InFlight,
        acks: Arc<dyn AckSink>,
        counters: Arc<FlowCounters>,
    ) -> Self {
        Sink {
            settings,
            dest,
            in_flight,
            acks,
            counters,
        }
    }

    /// Runs until the input is closed and everything is sent, or until the drain deadline passes.
    ///
    /// `drain_by` receives the shutdown deadline: from then on batches are sent without waiting
    /// for their age, and whatever is still unsent at the deadline is abandoned (not acknowledged,
    /// so it is read again after a restart).
    pub async fn run(
        self,
        mut input: mpsc::Receiver<Vec<Record>>,
        mut drain_by: watch::Receiver<Option<Instant>>,
    ) -> usize {
        let limits = self.settings.limits;
        let flow = self.settings.flow_id.clone();
        let mut batch = Batch::new();
        let mut sealed: VecDeque<Vec<Record>> = VecDeque::new();
        let mut retry: VecDeque<Record> = VecDeque::new();
        let mut flights: JoinSet<Flight> = JoinSet::new();
        let mut backoff = Backoff::new(self.settings.retry_initial, self.settings.retry_max);
        let mut send_after = Instant::now();
        let mut input_open = true;
        let mut deadline: Option<Instant> = None;
        let mut persistent_log = RateLimited::new();
        let mut transient_log = RateLimited::new();
        let mut entry_log = RateLimited::new();
        let far = Instant::now() + Duration::from_secs(86_400 * 365);

        loop {
            // Failed entries go first, as full batches of their own.
            if sealed.is_empty() && !retry.is_empty() {
                let mut b = Batch::new();
                while let Some(r) = retry.pop_front() {
                    if b.would_overflow(&r, &limits) {
                        retry.push_front(r);
                        break;
                    }
                    b.push(r);
                }
                sealed.push_back(b.take());
            }
            if (!input_open || deadline.is_some()) && !batch.is_empty() {
                sealed.push_back(batch.take());
            }
            if !input_open
                && batch.is_empty()
                && sealed.is_empty()
                && retry.is_empty()
                && flights.is_empty()
            {
                return 0;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                let abandoned = batch.len()
                    + sealed.iter().map(Vec::len).sum::<usize>()
                    + retry.len()
                    + flights.len();
                flights.abort_all();
                return abandoned;
            }
            let can_send = !sealed.is_empty() && now >= send_after;
            let want_input =
                input_open && sealed.len() < self.settings.max_sealed.max(1) && retry.is_empty();
            let age_deadline = batch.deadline(&limits).unwrap_or(far);
            tokio::select! {
                Some(done) = flights.join_next(), if !flights.is_empty() => {
                    match done {
                        Ok(f) => self.settle(f, &mut retry, &mut backoff, &mut persistent_log, &mut transient_log, &mut entry_log),
                        Err(e) if e.is_cancelled() => {}
                        Err(e) => tracing::error!("{flow}: send task failed: {e}"),
                    }
                    if let Some(d) = backoff.next_delay() {
                        send_after = Instant::now() + d;
                    }
                }
                permit = self.in_flight.acquire(sealed.front().map_or(0, |b| b.iter().map(Record::size).sum())), if can_send => {
                    let Some(permit) = permit else { return sealed.len() };
                    let records = sealed.pop_front().unwrap_or_default();
                    FlowCounters::add(&self.counters.records_attempted, records.len() as u64);
                    FlowCounters::add(&self.counters.put_calls, 1);
                    let fut = self.dest.put(&records);
                    flights.spawn(async move {
                        let result = fut.await;
                        drop(permit);
                        Flight { records, result }
                    });
                }
                chunk = input.recv(), if want_input => {
                    match chunk {
                        Some(records) => {
                            for r in records {
                                batch::add(&mut batch, r, &limits, &mut sealed);
                            }
                        }
                        None => input_open = false,
                    }
                }
                _ = sleep_until(age_deadline.into()), if !batch.is_empty() => {
                    sealed.push_back(batch.take());
                }
                _ = sleep_until(send_after.into()), if !sealed.is_empty() && now < send_after => {}
                changed = drain_by.changed(), if deadline.is_none() => {
                    match changed {
                        Ok(()) => deadline = *drain_by.borrow(),
                        Err(_) => deadline = Some(Instant::now()),
                    }
                    if deadline.is_some() {
                        // Draining: no more backoff beyond the deadline, no more waiting for batch age.
                        send_after = send_after.min(Instant::now() + Duration::from_millis(100));
                    }
                }
                _ = sleep_until(deadline.unwrap_or(far).into()), if deadline.is_some() => {}
            }
        }
    }

    /// Handles a finished request: acks the stored entries, queues the rejected ones for retry.
    fn settle(
        &self,
        f: Flight,
        retry: &mut VecDeque<Record>,
        backoff: &mut Backoff,
        persistent_log: &mut RateLimited,
        transient_log: &mut RateLimited,
        entry_log: &mut RateLimited,
    ) {
        let flow = &self.settings.flow_id;
        let dest = self.dest.name();
        let total = f.records.len();
        match f.result {
            Ok(results) => {
                let mut failed = 0usize;
                let mut codes: std::collections::BTreeMap<String, usize> = Default::default();
                let mut bytes = 0u64;
                for (rec, res) in f.records.into_iter().zip(results) {
                    match res {
                        None => {
                            bytes += rec.data.len() as u64;
                            self.acks.ack(rec.ack);
                        }
                        Some(code) => {
                            failed += 1;
                            *codes.entry(code).or_default() += 1;
                            retry.push_back(rec);
                        }
                    }
                }
                FlowCounters::add(&self.counters.records_sent, (total - failed) as u64);
                FlowCounters::add(&self.counters.bytes_sent, bytes);
                if failed == 0 {
                    backoff.on_success();
                } else {
                    FlowCounters::add(&self.counters.records_failed, failed as u64);
                    backoff.on_partial(failed, total);
                    if let Some(suppressed) = entry_log.due(WARN_LOG_EVERY) {
                        tracing::warn!(
                            "{flow}: {dest}: {failed} of {total} records were rejected ({codes:?}); retrying them with backoff{}",
                            if suppressed > 0 { format!(" ({suppressed} similar batches not logged)") } else { String::new() }
                        );
                    }
                }
            }
            Err(err) => {
                FlowCounters::add(&self.counters.put_call_errors, 1);
                match &err {
                    SendError::Persistent(msg) => {
                        backoff.on_persistent_failure();
                        if let Some(suppressed) = persistent_log.due(ERROR_LOG_EVERY) {
                            tracing::error!(
                                "{flow}: {dest}: request of {total} records failed and retrying will not help until this is fixed: {msg}; retrying every {:?}{}",
                                self.settings.retry_max,
                                if suppressed > 0 { format!(" ({suppressed} more failures since the last report)") } else { String::new() }
                            );
                        }
                    }
                    SendError::Transient(msg) => {
                        backoff.on_failure();
                        if let Some(suppressed) = transient_log.due(WARN_LOG_EVERY) {
                            tracing::warn!(
                                "{flow}: {dest}: request of {total} records failed: {msg}; retrying with backoff{}",
                                if suppressed > 0 { format!(" ({suppressed} more failures since the last report)") } else { String::new() }
                            );
                        }
                    }
                }
                retry.extend(f.records);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::AckToken;
    use std::sync::Mutex;

    /// A destination scripted per call: fails the entries whose data starts with a marker on the
    /// first attempts, or whole calls.
    struct Scripted {
        calls: Mutex<Vec<usize>>,
        fail_whole_first: usize,
        reject_once: Mutex<std::collections::HashSet<Vec<u8>>>,
    }

    impl Destination for Scripted {
        fn name(&self) -> String {
            "test".into()
        }
        fn put(
            &self,
            records: &[Record],
        ) -> impl Future<Output = Result<EntryResults, SendError>> + Send + 'static {
            let mut calls = self.calls.lock().unwrap();
            calls.push(records.len());
            let n = calls.len();
            let whole_fail = n <= self.fail_whole_first;
            let mut rej = self.reject_once.lock().unwrap();
            let results: EntryResults = records
                .iter()
                .map(|r| {
                    rej.remove(&r.data)
                        .then(|| "ProvisionedThroughputExceededException".to_string())
                })
                .collect();
            async move {
                if whole_fail {
                    Err(SendError::Transient("boom".into()))
                } else {
                    Ok(results)
                }
            }
        }
    }

    #[derive(Default)]
    struct Acks(Mutex<Vec<AckToken>>);
    impl AckSink for Acks {
        fn ack(&self, t: AckToken) {
            self.0.lock().unwrap().push(t);
        }
    }

    fn rec(i: u64) -> Record {
        Record {
            data: format!("r{i}").into_bytes(),
            partition_key: "k".into(),
            ack: AckToken {
                fid: 1,
                start: i * 10,
                end: i * 10 + 10,
            },
        }
    }

    async fn run_sink(dest: Scripted, n: u64, batches_of: usize) -> (Arc<Scripted>, Vec<AckToken>) {
        let dest = Arc::new(dest);
        let acks = Arc::new(Acks::default());
        let sink = Sink::new(
            SinkSettings {
                flow_id: "f".into(),
                limits: Limits {
                    max_records: batches_of,
                    max_bytes: 1 << 20,
                    max_age: Duration::from_millis(50),
                },
                retry_initial: Duration::from_millis(1),
                retry_max: Duration::from_millis(5),
                max_sealed: 2,
            },
            dest.clone(),
            InFlight::new(3, 1 << 20),
            acks.clone(),
            Arc::new(FlowCounters::default()),
        );
        let (tx, rx) = mpsc::channel(4);
        let (_dtx, drx) = watch::channel(None);
        let feeder = tokio::spawn(async move {
            for i in 0..n {
                tx.send(vec![rec(i)]).await.unwrap();
            }
        });
        let left = tokio::time::timeout(Duration::from_secs(20), sink.run(rx, drx))
            .await
            .unwrap();
        feeder.await.unwrap();
        assert_eq!(left, 0);
        let a = acks.0.lock().unwrap().clone();
        (dest, a)
    }

    #[tokio::test]
    async fn every_record_is_acked_once_despite_partial_and_whole_failures() {
        let reject: std::collections::HashSet<Vec<u8>> = [3u64, 7, 8, 41]
            .iter()
            .map(|i| format!("r{i}").into_bytes())
            .collect();
        let dest = Scripted {
            calls: Mutex::new(vec![]),
            fail_whole_first: 2,
            reject_once: Mutex::new(reject),
        };
        let (dest, acks) = run_sink(dest, 100, 10).await;
        let mut starts: Vec<u64> = acks.iter().map(|a| a.start / 10).collect();
        starts.sort();
        assert_eq!(starts, (0..100).collect::<Vec<_>>());
        let calls = dest.calls.lock().unwrap();
        assert!(calls.iter().all(|&c| c <= 10));
        // Only the rejected entries were resent on their own.
        assert!(
            calls.contains(&4) || calls.iter().filter(|&&c| c < 10).count() >= 1,
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn a_partial_batch_is_sent_when_its_age_is_reached() {
        let dest = Scripted {
            calls: Mutex::new(vec![]),
            fail_whole_first: 0,
            reject_once: Mutex::new(Default::default()),
        };
        let (dest, acks) = run_sink(dest, 3, 500).await;
        assert_eq!(acks.len(), 3);
        assert!(dest.calls.lock().unwrap().iter().sum::<usize>() == 3);
    }
}
