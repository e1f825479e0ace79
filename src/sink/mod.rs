//! Sending: batch records, keep a bounded number of requests in flight, retry what failed, ack what was stored.

pub mod aggregate;
pub mod aws;
pub mod batch;
pub mod credentials;
pub mod errors;
pub mod firehose;
pub mod kinesis;
pub mod md5_lanes;
pub mod partition;
pub mod reply;
pub mod reply_scan;
pub mod request;
pub mod retry;
pub mod route;
pub mod send;
pub mod shape;
pub mod shards;

use crate::log_limit::LogLimiter;
use crate::metrics::accumulator::{Call, FlowMetrics};
use crate::metrics::FlowCounters;
use crate::record::{AckSink, Record};
use batch::{Aggregation, Batch, Limits, Sealed};
use retry::Backoff;
use shape::{Shaper, SharedShaper, THROTTLED};

/// The stream's token buckets, which another flow's send loop may have left poisoned: the
/// buckets are plain numbers, still usable.
fn lock(shaper: &SharedShaper) -> std::sync::MutexGuard<'_, Shaper> {
    shaper.lock().unwrap_or_else(|e| e.into_inner())
}

/// The map plain batches are shaped by: the flow's, when it is shaped and not aggregated.
fn plain_map(settings: &SinkSettings) -> Option<&Arc<shards::ShardMap>> {
    match (&settings.shaping, &settings.aggregation) {
        (Some(_), None) => settings.shard_map.as_ref(),
        _ => None,
    }
}
use std::collections::{HashMap, VecDeque};
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
    /// Sends one batch; the future owns what it needs. The results are per user record, also
    /// when the records went out aggregated.
    fn put(
        &self,
        batch: &Sealed,
    ) -> impl Future<Output = Result<EntryResults, SendError>> + Send + 'static;
}

/// Record bytes one flow may have in flight: four requests of 500 JSON records of ~500 bytes,
/// eight of 500 log lines. Each request in flight costs several times its body in process
/// memory (TLS and HTTP buffers, allocator slack; measured on the bench: 2 MiB gave a 33 MiB
/// peak with CSVTOJSON, 1 MiB 27 MiB, at the same throughput).
pub const FLOW_IN_FLIGHT_BYTES: usize = 1024 * 1024;

/// Requests one flow may have in flight at most, whatever `maxSendingThreads` allows: each one
/// holds a connection with its TLS and HTTP buffers (measured: ~0.5 MiB of process memory per
/// extra request in flight), and 8 already carry 15 MB/s of 500-line requests at a 30 ms round
/// trip, far above what a shard takes (1 MB/s); more only paid memory on the bench.
pub const FLOW_MAX_REQUESTS: usize = 8;

/// The budget all flows share: record bytes in flight across the agent.
///
/// Sized so that a single flow, even one whose destination is slow or down and holds its whole
/// budget, leaves at least one flow's worth to the others: `FLOW_IN_FLIGHT_BYTES` times
/// `min(flows, maxSendingThreads)`, at least two flows' worth.
#[derive(Debug, Clone)]
pub struct SharedBudget {
    kib: Arc<Semaphore>,
    kib_total: u32,
}

impl SharedBudget {
    /// The agent-wide budget for `flows` flows sending with up to `max_sending_threads` requests each.
    pub fn new(flows: usize, max_sending_threads: usize) -> SharedBudget {
        let flows_worth = flows.min(max_sending_threads).max(2);
        SharedBudget::with_bytes(FLOW_IN_FLIGHT_BYTES * flows_worth)
    }

    /// A budget of exactly `bytes` of records.
    pub fn with_bytes(bytes: usize) -> SharedBudget {
        let kib_total = (bytes / 1024).clamp(1, Semaphore::MAX_PERMITS) as u32;
        SharedBudget {
            kib: Arc::new(Semaphore::new(kib_total as usize)),
            kib_total,
        }
    }

    /// Record bytes the whole agent may have in flight.
    pub fn bytes(&self) -> usize {
        self.kib_total as usize * 1024
    }
}

/// What one flow may have in flight: requests and record bytes of its own, within the shared
/// budget. Each request costs a few times its record bytes while in flight (the records and the
/// base64 JSON body), so bytes, not only a request count, keep memory flat; a budget per flow
/// means a slow destination delays only its own flow.
#[derive(Debug, Clone)]
pub struct InFlight {
    requests: Arc<Semaphore>,
    kib: Arc<Semaphore>,
    kib_total: u32,
    shared: SharedBudget,
}

/// Held while a request is in flight; dropping it returns the room.
pub struct InFlightPermit {
    _request: OwnedSemaphorePermit,
    _flow_kib: OwnedSemaphorePermit,
    _shared_kib: OwnedSemaphorePermit,
}

impl InFlight {
    /// At most `requests` concurrent requests carrying at most `bytes` of records, within
    /// `shared` (a single request larger than either budget may still go alone).
    pub fn new(requests: usize, bytes: usize, shared: &SharedBudget) -> InFlight {
        let kib_total = (bytes / 1024).clamp(1, Semaphore::MAX_PERMITS) as u32;
        InFlight {
            requests: Arc::new(Semaphore::new(requests.max(1))),
            kib: Arc::new(Semaphore::new(kib_total as usize)),
            kib_total,
            shared: shared.clone(),
        }
    }

    /// Waits for room for a request of `bytes`; the flow's own budget first, so that a flow
    /// waiting on its own slow requests holds nothing of the shared budget meanwhile.
    async fn acquire(&self, bytes: usize) -> Option<InFlightPermit> {
        let want = (bytes / 1024) as u32 + 1;
        let request = self.requests.clone().acquire_owned().await.ok()?;
        let flow_kib = self
            .kib
            .clone()
            .acquire_many_owned(want.min(self.kib_total))
            .await
            .ok()?;
        let shared_kib = self
            .shared
            .kib
            .clone()
            .acquire_many_owned(want.min(self.shared.kib_total))
            .await
            .ok()?;
        Some(InFlightPermit {
            _request: request,
            _flow_kib: flow_kib,
            _shared_kib: shared_kib,
        })
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
    /// KPL aggregation, when the flow asks for it.
    pub aggregation: Option<Aggregation>,
    /// The token buckets of the stream's shards that requests are shaped to, shared by the
    /// flows to the stream.
    pub shaping: Option<SharedShaper>,
    /// The stream's shard map, by which batches of plain records are shaped (aggregated ones
    /// use their aggregation's).
    pub shard_map: Option<Arc<shards::ShardMap>>,
}

/// Rate limit for error log lines.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(60);
const WARN_LOG_EVERY: Duration = Duration::from_secs(10);

struct Flight {
    records: Vec<Record>,
    groups: ShardGroups,
    result: Result<EntryResults, SendError>,
}

/// Which shard the entries of a request in flight went to, so that throttled entries slow
/// down their shard alone.
#[derive(Debug, Default)]
enum ShardGroups {
    /// Not shaped.
    #[default]
    None,
    /// Aggregated: the end of each shard's run of records, and the shard; when it was sent.
    Runs(Vec<(usize, String)>, Instant),
    /// Plain records: the map they were reckoned by, and the shards they were to go to (a
    /// throttled record's shard is found from its key when it comes back); when it was sent.
    Plain(Arc<shards::Shards>, Vec<String>, Instant),
}

impl ShardGroups {
    fn of(batch: &Sealed, sent_at: Instant) -> ShardGroups {
        let Some(shards) = &batch.shards else {
            return ShardGroups::None;
        };
        if batch.groups.is_empty() {
            return ShardGroups::Plain(
                shards.clone(),
                batch.needs.iter().map(|n| n.shard.clone()).collect(),
                sent_at,
            );
        }
        ShardGroups::Runs(
            batch
                .groups
                .iter()
                .filter_map(|g| Some((g.end, shards.get(g.shard?)?.id.clone())))
                .collect(),
            sent_at,
        )
    }

    /// Tells `shaper` which shards throttled entries of this request and which did not.
    fn settle(&self, shaper: &mut Shaper, records: &[Record], results: &EntryResults) {
        let now = Instant::now();
        let throttled = |c: &Option<String>| c.as_deref() == Some(THROTTLED);
        match self {
            ShardGroups::None => {}
            ShardGroups::Runs(runs, sent_at) => {
                let mut start = 0;
                for (end, shard) in runs {
                    let hit = results
                        .get(start..*end)
                        .is_some_and(|r| r.iter().any(throttled));
                    shaper.settled(shard, hit, *sent_at, now);
                    start = *end;
                }
            }
            ShardGroups::Plain(shards, touched, sent_at) => {
                let hit: Vec<&str> = records
                    .iter()
                    .zip(results)
                    .filter(|(_, c)| throttled(c))
                    .filter_map(|(r, _)| {
                        let i = shards.index_of(aggregate::hash_key(&r.partition_key))?;
                        Some(shards.get(i)?.id.as_str())
                    })
                    .collect();
                for shard in touched {
                    shaper.settled(shard, hit.contains(&shard.as_str()), *sent_at, now);
                }
            }
        }
    }
}

/// The error and warning lines of one flow's sender, each written at most once per period.
struct SendLogs {
    persistent: LogLimiter,
    transient: LogLimiter,
    entries: LogLimiter,
}

impl SendLogs {
    fn new() -> SendLogs {
        SendLogs {
            persistent: LogLimiter::new(ERROR_LOG_EVERY),
            transient: LogLimiter::new(WARN_LOG_EVERY),
            entries: LogLimiter::new(WARN_LOG_EVERY),
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
    /// CloudWatch samples of each call (`cloudwatch.emitMetrics`).
    metrics: Option<FlowMetrics>,
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
            metrics: None,
        }
    }

    /// Also records each call's CloudWatch samples into `metrics`.
    pub fn with_metrics(mut self, metrics: Option<FlowMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    fn record_call(&self, call: Call) {
        if let Some(m) = &self.metrics {
            m.call(call);
        }
    }

    /// Runs until the input is closed and everything is sent, or until the drain deadline passes.
    ///
    /// `drain_by` receives the shutdown deadline: from then on batches are sent without waiting
    /// for their age, and whatever is still unsent at the deadline is abandoned (not acknowledged,
    /// so it is read again after a restart). Returns how many records (or requests) were abandoned.
    pub async fn run(
        self,
        mut input: mpsc::Receiver<Vec<Record>>,
        mut drain_by: watch::Receiver<Option<Instant>>,
    ) -> usize {
        let mut state = SendLoop::new(&self.settings);
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            let now = Instant::now();
            let held_at = state.release_held(now);
            state.seal_ready(&self.settings.limits);
            if state.finished() {
                return 0;
            }
            if state.deadline.is_some_and(|d| now >= d) {
                return state.abandon();
            }
            let shaped_at = match (&state.shaper, state.sealed.front()) {
                (Some(shaper), Some(front)) => lock(shaper).ready_at(&front.needs, now),
                _ => now,
            };
            if shaped_at > now && (state.reroute_stale_front() || state.hold_blocked_front(now)) {
                continue;
            }
            let can_send = !state.sealed.is_empty() && now >= state.send_after && now >= shaped_at;
            let want_input = state.input_open
                && state.sealed.len() < self.settings.max_sealed.max(1)
                && state.retry.is_empty();
            let age_deadline = state.batch.deadline(&self.settings.limits).unwrap_or(far);
            // Summed only when it can go: the loop turns once per event, not once per request.
            let next_bytes = match state.sealed.front() {
                Some(front) if can_send => front.bytes(),
                _ => 0,
            };
            tokio::select! {
                Some(done) = state.flights.join_next_with_id(), if !state.flights.is_empty() => {
                    match done {
                        Ok((id, result)) => {
                            let (records, groups) = state.sending.remove(&id).unwrap_or_default();
                            self.settle(Flight { records, groups, result }, &mut state);
                        }
                        Err(e) => {
                            // Its records were not sent, as far as anyone knows: send them again.
                            let (records, _) = state.sending.remove(&e.id()).unwrap_or_default();
                            if !e.is_cancelled() {
                                self.record_call(Call::Failed { attempted: records.len() });
                                tracing::error!(
                                    "{}: a send task failed ({e}); its {} records are sent again",
                                    self.settings.flow_id,
                                    records.len()
                                );
                                state.backoff.on_failure();
                            }
                            state.retry.extend(records);
                        }
                    }
                    if let Some(d) = state.backoff.next_delay() {
                        state.send_after = Instant::now() + d;
                    }
                }
                permit = self.in_flight.acquire(next_bytes), if can_send => {
                    let Some(permit) = permit else { return state.sealed.len() };
                    // Another flow to the stream may have taken the tokens while this one
                    // waited for its permit: then the permit goes back and the loop waits again.
                    if state.take_tokens() {
                        self.launch(&mut state, permit);
                    }
                }
                chunk = input.recv(), if want_input => match chunk {
                    Some(records) => {
                        for r in records {
                            batch::add(&mut state.batch, r, &self.settings.limits, &mut state.sealed);
                        }
                    }
                    None => state.input_open = false,
                },
                _ = sleep_until(age_deadline.into()), if !state.batch.is_empty() => {
                    state.sealed.push_back(state.batch.take());
                }
                _ = sleep_until(state.send_after.into()), if !state.sealed.is_empty() && now < state.send_after => {}
                _ = sleep_until(shaped_at.into()), if !state.sealed.is_empty() && now < shaped_at => {}
                _ = sleep_until(held_at.unwrap_or(far).into()), if held_at.is_some_and(|t| t > now) => {}
                changed = drain_by.changed(), if state.deadline.is_none() => {
                    state.start_draining(match changed {
                        Ok(()) => *drain_by.borrow(),
                        Err(_) => Some(Instant::now()),
                    });
                }
                _ = sleep_until(state.deadline.unwrap_or(far).into()), if state.deadline.is_some() => {}
            }
        }
    }

    /// Sends the oldest sealed batch as one request, holding `permit` until it completes.
    fn launch(&self, state: &mut SendLoop, permit: InFlightPermit) {
        let batch = state.sealed.pop_front().unwrap_or_default();
        FlowCounters::add(&self.counters.records_attempted, batch.records.len() as u64);
        FlowCounters::add(&self.counters.put_calls, 1);
        if let Some(map) = &state.plain_map {
            map.refresh_if_due();
        }
        // Boxed once here: the request's future is large, and moving it into the task by value
        // copied it (2 % of the CPU on raw lines).
        let fut = Box::pin(self.dest.put(&batch));
        let groups = ShardGroups::of(&batch, Instant::now());
        let records = batch.records;
        // The records stay here, not in the task: if the task fails they are still at hand.
        let task = state.flights.spawn(async move {
            let result = fut.await;
            drop(permit);
            result
        });
        state.sending.insert(task.id(), (records, groups));
    }

    /// Handles a finished request: acks the stored entries, queues the rejected ones for retry.
    fn settle(&self, f: Flight, state: &mut SendLoop) {
        let flow = &self.settings.flow_id;
        let dest = self.dest.name();
        let total = f.records.len();
        match f.result {
            Ok(results) => {
                if let Some(shaper) = &state.shaper {
                    let mut shaper = lock(shaper);
                    f.groups.settle(&mut shaper, &f.records, &results);
                    state.batch.reweigh(|id| shaper.factor(id));
                    state.retry_batch.reweigh(|id| shaper.factor(id));
                }
                let mut failed = 0usize;
                let mut codes: std::collections::BTreeMap<String, usize> = Default::default();
                let mut bytes = 0u64;
                state.stored.clear();
                for (rec, res) in f.records.into_iter().zip(results) {
                    match res {
                        None => {
                            bytes += rec.data.len() as u64;
                            state.stored.push(rec.ack);
                        }
                        Some(code) => {
                            failed += 1;
                            *codes.entry(code).or_default() += 1;
                            let mut rec = rec;
                            // The others of its chunk were stored: let their arena go.
                            rec.detach();
                            state.retry.push_back(rec);
                        }
                    }
                }
                self.acks.ack_many(&state.stored);
                self.record_call(Call::Returned {
                    sent: total - failed,
                    failed,
                    bytes,
                });
                FlowCounters::add(&self.counters.records_sent, (total - failed) as u64);
                self.counters.note_request(failed < total);
                FlowCounters::add(&self.counters.bytes_sent, bytes);
                if failed == 0 {
                    state.backoff.on_success();
                } else {
                    FlowCounters::add(&self.counters.records_failed, failed as u64);
                    state.backoff.on_partial(failed, total);
                    if let Some(suppressed) = state.logs.entries.due() {
                        tracing::warn!(
                            "{flow}: {dest}: {failed} of {total} records were rejected ({codes:?}); retrying them with backoff{}",
                            if suppressed > 0 { format!(" ({suppressed} similar batches not logged)") } else { String::new() }
                        );
                    }
                }
            }
            Err(err) => {
                self.record_call(Call::Failed { attempted: total });
                FlowCounters::add(&self.counters.put_call_errors, 1);
                self.counters.note_request(false);
                match &err {
                    SendError::Persistent(msg) => {
                        state.backoff.on_persistent_failure();
                        if let Some(suppressed) = state.logs.persistent.due() {
                            tracing::error!(
                                "{flow}: {dest}: request of {total} records failed and retrying will not help until this is fixed: {msg}; retrying every {:?}{}",
                                self.settings.retry_max,
                                if suppressed > 0 { format!(" ({suppressed} more failures since the last report)") } else { String::new() }
                            );
                        }
                    }
                    SendError::Transient(msg) => {
                        state.backoff.on_failure();
                        if let Some(suppressed) = state.logs.transient.due() {
                            tracing::warn!(
                                "{flow}: {dest}: request of {total} records failed: {msg}; retrying with backoff{}",
                                if suppressed > 0 { format!(" ({suppressed} more failures since the last report)") } else { String::new() }
                            );
                        }
                    }
                }
                state.retry.extend(f.records);
            }
        }
    }
}

/// The most record bytes a flow holds back for shards that are out of tokens while it sends the
/// other shards' records (a hot DETERMINISTIC key, a shard another producer keeps busy): about
/// four seconds of one shard's limits. Past it the flow waits for its slowest shard, as records
/// are read in file order and the file is the buffer. Held records are copied out of their
/// chunks, so this bounds what they cost.
pub const HELD_MAX_BYTES: usize = 4 << 20;

/// A released share of a shard's held records is at least this part of a full bucket (or all of
/// them), so that a busy shard's records go out in requests of a useful size.
const RELEASE_SHARE: f64 = 0.1;

/// What one flow's send loop holds between two events: the batch being filled, sealed batches
/// waiting for an in-flight slot, rejected records waiting for a retry, and requests in flight.
struct SendLoop {
    batch: Batch,
    sealed: VecDeque<Sealed>,
    retry: VecDeque<Record>,
    flights: JoinSet<Result<EntryResults, SendError>>,
    /// The records of each request in flight, by its task.
    sending: HashMap<tokio::task::Id, (Vec<Record>, ShardGroups)>,
    /// The stream's per-shard token buckets, when the flow is shaped.
    shaper: Option<SharedShaper>,
    backoff: Backoff,
    /// No request leaves before this (backoff after failures).
    send_after: Instant,
    input_open: bool,
    /// Set once shutdown began: unsent records are abandoned at this instant.
    deadline: Option<Instant>,
    logs: SendLogs,
    /// The acks of one reply, handed over at once (reused between replies).
    stored: Vec<crate::record::AckToken>,
    /// Where retried records are batched again (aggregated, with the map as it is by then).
    retry_batch: Batch,
    /// The map plain batches are shaped by.
    plain_map: Option<Arc<shards::ShardMap>>,
    /// Records held back for shards that were out of tokens, by shard id, oldest first.
    held: std::collections::BTreeMap<String, VecDeque<Record>>,
    /// Their bytes (at most [`HELD_MAX_BYTES`]).
    held_bytes: usize,
}

impl SendLoop {
    fn new(settings: &SinkSettings) -> SendLoop {
        SendLoop {
            batch: Batch::with(settings.aggregation.as_ref(), plain_map(settings)),
            retry_batch: Batch::with(settings.aggregation.as_ref(), plain_map(settings)),
            plain_map: plain_map(settings).cloned(),
            shaper: settings.shaping.clone(),
            sealed: VecDeque::new(),
            retry: VecDeque::new(),
            flights: JoinSet::new(),
            sending: HashMap::new(),
            backoff: Backoff::new(settings.retry_initial, settings.retry_max),
            send_after: Instant::now(),
            input_open: true,
            deadline: None,
            logs: SendLogs::new(),
            stored: Vec::new(),
            held: Default::default(),
            held_bytes: 0,
        }
    }

    /// Seals what must go out now: rejected records first, as full batches of their own, then
    /// the open batch once the input closed or shutdown began.
    fn seal_ready(&mut self, limits: &Limits) {
        if self.sealed.is_empty() && !self.retry.is_empty() {
            let b = &mut self.retry_batch;
            while let Some(mut r) = self.retry.pop_front() {
                // A RANDOM record may go to another shard than the one that refused it.
                let routed = b.route(&mut r);
                if b.would_overflow(&r, routed, limits) {
                    self.retry.push_front(r);
                    break;
                }
                b.push(r, routed);
            }
            self.sealed.push_back(b.take());
        }
        if (!self.input_open || self.deadline.is_some()) && !self.batch.is_empty() {
            self.sealed.push_back(self.batch.take());
        }
    }

    /// Takes the oldest sealed batch's tokens from the stream's buckets, if they are there (always
    /// true for a flow that is not shaped).
    fn take_tokens(&mut self) -> bool {
        let (Some(shaper), Some(front)) = (&self.shaper, self.sealed.front()) else {
            return true;
        };
        lock(shaper).take_if_ready(&front.needs, Instant::now())
    }

    /// When the oldest sealed batch has to wait for a shard that slowed down after its RANDOM
    /// records were given their shards, gives them shards again (as the next retry batch), by
    /// the rates as they are now: the shards with room take what the slowed one cannot.
    fn reroute_stale_front(&mut self) -> bool {
        let (Some(shaper), Some(front)) = (&self.shaper, self.sealed.front()) else {
            return false;
        };
        let stale = matches!(
            (front.routed_at, lock(shaper).last_slowdown()),
            (Some(routed), Some(slowed)) if routed < slowed
        );
        if !stale {
            return false;
        }
        let front = self.sealed.pop_front().unwrap_or_default();
        for r in front.records.into_iter().rev() {
            self.retry.push_front(r);
        }
        true
    }

    /// When the oldest sealed batch waits for shards that are out of tokens: holds back its
    /// records that cannot move (DETERMINISTIC keys) of those shards, per shard, up to
    /// [`HELD_MAX_BYTES`], and batches the rest again (RANDOM records placed anew, where there is
    /// room), so that one busy shard does not stall the others, nor the batches behind. False
    /// when nothing was held (not shaped, draining, only RANDOM records, or no room left).
    fn hold_blocked_front(&mut self, now: Instant) -> bool {
        if self.deadline.is_some() {
            return false;
        }
        let (Some(shaper), Some(front)) = (&self.shaper, self.sealed.front()) else {
            return false;
        };
        let Some(shards) = front.shards.clone() else {
            return false;
        };
        let blocked: Vec<&str> = {
            let mut shaper = lock(shaper);
            front
                .needs
                .iter()
                .filter(|n| shaper.ready_at(std::slice::from_ref(n), now) > now)
                .map(|n| n.shard.as_str())
                .collect()
        };
        // Per record, the shard it is held back for (an index into `shards`), if it is.
        let hold: Vec<Option<usize>> = front
            .shard_of_each()
            .into_iter()
            .zip(&front.records)
            .map(|(i, r)| {
                let i = i?;
                let id = shards.get(i)?.id.as_str();
                (blocked.contains(&id) && !r.partition_key.is_random()).then_some(i)
            })
            .collect();
        let held: usize = front
            .records
            .iter()
            .zip(&hold)
            .filter(|(_, i)| i.is_some())
            .map(|(r, _)| r.size())
            .sum();
        if held == 0 || self.held_bytes + held > HELD_MAX_BYTES {
            return false;
        }
        let front = self.sealed.pop_front().unwrap_or_default();
        let mut rest = Vec::new();
        for (mut r, i) in front.records.into_iter().zip(hold) {
            match i.and_then(|i| shards.get(i)) {
                Some(shard) => {
                    // Its chunk's other records go on: let their arena go.
                    r.detach();
                    self.held_bytes += r.size();
                    match self.held.get_mut(&shard.id) {
                        Some(queue) => queue.push_back(r),
                        None => {
                            self.held.insert(shard.id.clone(), VecDeque::from([r]));
                        }
                    }
                }
                None => rest.push(r),
            }
        }
        for r in rest.into_iter().rev() {
            self.retry.push_front(r);
        }
        true
    }

    /// Moves held records of shards whose buckets now have room for them (all of them, or at
    /// least [`RELEASE_SHARE`] of a full bucket) to the front of the retry queue, as much as the
    /// bucket holds; returns when the next shard will have such room, if any holds records.
    fn release_held(&mut self, now: Instant) -> Option<Instant> {
        if self.held.is_empty() {
            return None;
        }
        let Some(shaper) = &self.shaper else {
            return None;
        };
        if !self.sealed.is_empty() || !self.retry.is_empty() {
            // Released only into an empty queue: what is released is sent next.
            return None;
        }
        let mut shaper = lock(shaper);
        let (full_bytes, full_records) = shaper.capacity();
        let mut next: Option<Instant> = None;
        let mut released = Vec::new();
        for (shard, queue) in self.held.iter_mut() {
            let (room_bytes, room_records) = shaper.room(shard, now);
            let (mut bytes, mut records) = (0.0f64, 0.0f64);
            let mut take = 0;
            for r in queue.iter() {
                let size = r.size() as f64;
                // A record larger than a bucket goes when the bucket is full.
                let fits = bytes + size <= room_bytes || (take == 0 && room_bytes >= full_bytes);
                if !fits || records + 1.0 > room_records {
                    break;
                }
                bytes += size;
                records += 1.0;
                take += 1;
            }
            let enough = take == queue.len()
                || bytes >= RELEASE_SHARE * full_bytes
                || records >= RELEASE_SHARE * full_records;
            if take > 0 && enough {
                for r in queue.drain(..take) {
                    self.held_bytes -= r.size();
                    released.push(r);
                }
            }
            if !queue.is_empty() {
                // Summed only as far as the share: the queue may hold thousands of records,
                // and this runs at every turn of the loop while it does.
                let share_bytes = RELEASE_SHARE * full_bytes;
                let mut want_bytes = 0.0;
                for r in queue.iter() {
                    want_bytes += r.size() as f64;
                    if want_bytes >= share_bytes {
                        break;
                    }
                }
                let head = queue.front().map_or(0.0, |r| r.size() as f64);
                let need = shape::Need {
                    shard: shard.clone(),
                    bytes: want_bytes.min(share_bytes).max(head),
                    records: (queue.len() as f64).min(RELEASE_SHARE * full_records),
                };
                let mut at = shaper.ready_at(std::slice::from_ref(&need), now);
                if at <= now {
                    // Room for the share but not quite for whole records yet: look again soon.
                    at = now + Duration::from_millis(10);
                }
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        self.held.retain(|_, q| !q.is_empty());
        self.retry.extend(released);
        next
    }

    /// Puts every held record back in the retry queue (shutdown: no holding back any more).
    fn unhold_all(&mut self) {
        for (_, queue) in std::mem::take(&mut self.held) {
            self.retry.extend(queue);
        }
        self.held_bytes = 0;
    }

    /// True once the input closed and every record was acknowledged.
    fn finished(&self) -> bool {
        !self.input_open
            && self.batch.is_empty()
            && self.sealed.is_empty()
            && self.retry.is_empty()
            && self.held.is_empty()
            && self.flights.is_empty()
    }

    /// Gives up at the shutdown deadline; returns how many records (or requests) were unsent.
    fn abandon(&mut self) -> usize {
        let abandoned = self.batch.len()
            + self.sealed.iter().map(|s| s.records.len()).sum::<usize>()
            + self.retry.len()
            + self.held.values().map(VecDeque::len).sum::<usize>()
            + self.flights.len();
        self.flights.abort_all();
        abandoned
    }

    /// Shutdown began (or the agent went away): no backoff beyond the deadline, no waiting for
    /// batch age.
    fn start_draining(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        self.unhold_all();
        if deadline.is_some() {
            self.send_after = self
                .send_after
                .min(Instant::now() + Duration::from_millis(100));
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
        /// The futures of the first this many calls panic (a bug in a send task).
        panic_first: usize,
    }

    impl Destination for Scripted {
        fn name(&self) -> String {
            "test".into()
        }
        fn put(
            &self,
            batch: &Sealed,
        ) -> impl Future<Output = Result<EntryResults, SendError>> + Send + 'static {
            let records = &batch.records;
            let mut calls = self.calls.lock().unwrap();
            calls.push(records.len());
            let n = calls.len();
            let whole_fail = n <= self.fail_whole_first;
            let panics = n <= self.panic_first;
            let mut rej = self.reject_once.lock().unwrap();
            let results: EntryResults = records
                .iter()
                .map(|r| {
                    rej.remove(&r.data[..])
                        .then(|| "ProvisionedThroughputExceededException".to_string())
                })
                .collect();
            async move {
                if panics {
                    panic!("a send task failed");
                }
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
            data: format!("r{i}").into_bytes().into(),
            partition_key: crate::record::PartitionKey::md5_of(b"k"),
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
                aggregation: None,
                shaping: None,
                shard_map: None,
            },
            dest.clone(),
            InFlight::new(3, 1 << 20, &SharedBudget::with_bytes(1 << 20)),
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
            panic_first: 0,
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

    /// A send task that panics loses nothing: its records are sent again and acknowledged.
    #[tokio::test]
    async fn records_of_a_failed_send_task_are_retried() {
        let dest = Scripted {
            calls: Mutex::new(vec![]),
            fail_whole_first: 0,
            reject_once: Mutex::new(Default::default()),
            panic_first: 2,
        };
        let (dest, acks) = run_sink(dest, 30, 10).await;
        let mut starts: Vec<u64> = acks.iter().map(|a| a.start / 10).collect();
        starts.sort();
        assert_eq!(starts, (0..30).collect::<Vec<_>>());
        assert!(dest.calls.lock().unwrap().len() >= 5);
    }

    #[tokio::test]
    async fn a_partial_batch_is_sent_when_its_age_is_reached() {
        let dest = Scripted {
            calls: Mutex::new(vec![]),
            fail_whole_first: 0,
            reject_once: Mutex::new(Default::default()),
            panic_first: 0,
        };
        let (dest, acks) = run_sink(dest, 3, 500).await;
        assert_eq!(acks.len(), 3);
        assert!(dest.calls.lock().unwrap().iter().sum::<usize>() == 3);
    }

    /// A destination whose requests never complete: an endpoint that accepts connections and
    /// never answers.
    struct Stuck;

    impl Destination for Stuck {
        fn name(&self) -> String {
            "stuck".into()
        }
        fn put(
            &self,
            _batch: &Sealed,
        ) -> impl Future<Output = Result<EntryResults, SendError>> + Send + 'static {
            std::future::pending()
        }
    }

    fn settings(flow: &str) -> SinkSettings {
        SinkSettings {
            flow_id: flow.into(),
            limits: Limits {
                max_records: 10,
                max_bytes: 1 << 20,
                max_age: Duration::from_millis(20),
            },
            retry_initial: Duration::from_millis(1),
            retry_max: Duration::from_millis(5),
            max_sealed: 2,
            aggregation: None,
            shaping: None,
            shard_map: None,
        }
    }

    /// Two shards, s0 and s1, splitting the hash keys in half.
    fn two_shards() -> Arc<shards::Shards> {
        let half = u128::MAX / 2;
        Arc::new(shards::Shards::new(vec![
            shards::ShardRange {
                id: "s0".into(),
                start: 0,
                end: half,
            },
            shards::ShardRange {
                id: "s1".into(),
                start: half + 1,
                end: u128::MAX,
            },
        ]))
    }

    /// Record `i` with the key `key`: DETERMINISTIC (the MD5 of the text), or RANDOM (the
    /// double `key`, as placed by the router) when `random`.
    fn keyed(i: u64, key: &str, random: bool) -> Record {
        let partition_key = if random {
            crate::record::PartitionKey::random(key.parse().unwrap(), &mut Vec::new())
        } else {
            crate::record::PartitionKey::md5_of(key.as_bytes())
        };
        Record {
            partition_key,
            ..rec(i)
        }
    }

    /// A key text of the given kind for each shard, by shard index.
    fn keys_on(shards: &shards::Shards, random: bool) -> [String; 2] {
        let mut found: [Option<String>; 2] = [None, None];
        for n in 0..1000 {
            let key = format!("{n}.5");
            let r = keyed(0, &key, random);
            let i = shards
                .index_of(aggregate::hash_key(&r.partition_key))
                .unwrap();
            found[i].get_or_insert(key);
        }
        found.map(Option::unwrap)
    }

    /// Buckets of 10 records a second whose shard s0 has just been emptied: its records must
    /// wait a second.
    fn s0_out_of_tokens(now: Instant) -> SharedShaper {
        let shaper = Shaper::shared(shape::ShardLimits {
            bytes_per_sec: 1e6,
            records_per_sec: 10.0,
        });
        let empty = shape::Need {
            shard: "s0".into(),
            bytes: 0.0,
            records: 9.7,
        };
        lock(&shaper).take(&[empty], now);
        shaper
    }

    #[test]
    fn a_shard_out_of_tokens_holds_back_its_fixed_keys_and_the_rest_goes_on() {
        let map = two_shards();
        let [fixed0, fixed1] = keys_on(&map, false);
        let [random0, _] = keys_on(&map, true);
        let now = Instant::now();
        let shaper = s0_out_of_tokens(now);
        let mut state = SendLoop::new(&settings("f"));
        state.shaper = Some(shaper.clone());
        let records = vec![
            keyed(0, &fixed0, false),
            keyed(1, &fixed1, false),
            keyed(2, &random0, true),
            keyed(3, &fixed0, false),
        ];
        let needs = batch::plain_needs(&records, &map);
        state.sealed.push_back(Sealed {
            shards: Some(map.clone()),
            needs,
            ..Sealed::plain(records)
        });
        assert!(lock(&shaper).ready_at(&state.sealed[0].needs, now) > now);

        assert!(state.hold_blocked_front(now));
        assert!(state.sealed.is_empty());
        let held: Vec<u64> = state.held["s0"].iter().map(|r| r.ack.start / 10).collect();
        assert_eq!(held, [0, 3], "s0's DETERMINISTIC records wait");
        let rest: Vec<u64> = state.retry.iter().map(|r| r.ack.start / 10).collect();
        assert_eq!(rest, [1, 2], "s1's and the RANDOM one go on, in order");
        assert_eq!(
            state.held_bytes,
            state.held["s0"].iter().map(Record::size).sum::<usize>()
        );

        // Not released into a queue that has records (what is released is sent next), nor
        // while the bucket is empty.
        let later = now + Duration::from_secs(1);
        assert_eq!(state.release_held(later), None);
        assert_eq!(state.retry.len(), 2);
        state.retry.clear();
        let next = state.release_held(now).expect("a time to look again");
        assert!(next > now);
        assert!(state.retry.is_empty());
        // A second later the bucket holds all of them: both are released, oldest first.
        assert_eq!(state.release_held(later), None);
        let released: Vec<u64> = state.retry.iter().map(|r| r.ack.start / 10).collect();
        assert_eq!(released, [0, 3]);
        assert!(state.held.is_empty() && state.held_bytes == 0);
    }

    #[test]
    fn nothing_is_held_past_the_cap_nor_while_draining() {
        let map = two_shards();
        let [fixed0, _] = keys_on(&map, false);
        let now = Instant::now();
        let shaper = s0_out_of_tokens(now);
        let front = |state: &mut SendLoop| {
            let records = vec![keyed(0, &fixed0, false)];
            let needs = batch::plain_needs(&records, &map);
            state.sealed.push_back(Sealed {
                shards: Some(map.clone()),
                needs,
                ..Sealed::plain(records)
            });
        };
        let mut state = SendLoop::new(&settings("f"));
        state.shaper = Some(shaper.clone());
        state.held_bytes = HELD_MAX_BYTES;
        front(&mut state);
        assert!(!state.hold_blocked_front(now), "the cap is reached");
        assert_eq!(state.sealed.len(), 1);

        let mut state = SendLoop::new(&settings("f"));
        state.shaper = Some(shaper.clone());
        front(&mut state);
        assert!(state.hold_blocked_front(now));
        state.start_draining(Some(now + Duration::from_secs(5)));
        assert!(state.held.is_empty() && state.held_bytes == 0);
        assert_eq!(state.retry.len(), 1, "back in the queue at shutdown");
        front(&mut state);
        assert!(
            !state.hold_blocked_front(now),
            "no holding back while draining"
        );
    }

    #[tokio::test]
    async fn a_stuck_destination_does_not_delay_another_flow() {
        // Budgets as the agent sizes them for two flows; the stuck flow fills its own budget
        // (big records, so bytes run out before requests do).
        let shared = SharedBudget::new(2, 4);
        let stuck_acks = Arc::new(Acks::default());
        let stuck = Sink::new(
            settings("stuck"),
            Arc::new(Stuck),
            InFlight::new(4, FLOW_IN_FLIGHT_BYTES, &shared),
            stuck_acks.clone(),
            Arc::new(FlowCounters::default()),
        );
        let (stuck_tx, stuck_rx) = mpsc::channel(4);
        let (_dtx, drx) = watch::channel(None);
        let stuck_task = tokio::spawn(stuck.run(stuck_rx, drx.clone()));
        let big = |i: u64| Record {
            data: vec![b'x'; 300 * 1024].into(),
            ..rec(i)
        };
        let stuck_feeder = tokio::spawn(async move {
            for i in 0..100 {
                if stuck_tx.send(vec![big(i)]).await.is_err() {
                    break;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;

        let healthy = Arc::new(Scripted {
            calls: Mutex::new(vec![]),
            fail_whole_first: 0,
            reject_once: Mutex::new(Default::default()),
            panic_first: 0,
        });
        let acks = Arc::new(Acks::default());
        let sink = Sink::new(
            settings("healthy"),
            healthy.clone(),
            InFlight::new(4, FLOW_IN_FLIGHT_BYTES, &shared),
            acks.clone(),
            Arc::new(FlowCounters::default()),
        );
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            for i in 0..50 {
                tx.send(vec![big(i)]).await.unwrap();
            }
        });
        let left = tokio::time::timeout(Duration::from_secs(10), sink.run(rx, drx))
            .await
            .expect("the healthy flow was held up by the stuck one");
        assert_eq!(left, 0);
        assert_eq!(acks.0.lock().unwrap().len(), 50);
        assert!(stuck_acks.0.lock().unwrap().is_empty());
        stuck_task.abort();
        stuck_feeder.abort();
    }

    #[test]
    fn the_shared_budget_holds_at_least_two_flows_worth() {
        assert_eq!(SharedBudget::new(1, 24).bytes(), 2 * FLOW_IN_FLIGHT_BYTES);
        assert_eq!(SharedBudget::new(5, 24).bytes(), 5 * FLOW_IN_FLIGHT_BYTES);
        assert_eq!(SharedBudget::new(50, 24).bytes(), 24 * FLOW_IN_FLIGHT_BYTES);
    }
}
