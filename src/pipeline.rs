//! One flow's stages wired together: a tail thread (read, frame, process) feeding a sink task.

use crate::checkpoint::{Checkpoints, TrackedFileId};
use crate::config::{Destination, FlowConfig, InitialPosition, PartitionKeyOption};
use crate::java::regex::{self, RegexError};
use crate::log_limit::LogLimiter;
use crate::metrics::FlowCounters;
use crate::process::{Chain, Outcome};
use crate::record::{truncate_to_fit, AckSink, AckToken, PartitionKey, Record, RANDOM_KEY_MAX};
use crate::sink::batch::Limits;
use crate::sink::partition::random_value;
use crate::sink::{InFlight, Sink, SinkSettings};
use crate::tail::open_files::OpenFiles;
use crate::tail::{
    FilePattern, SplitSettings, StartAt, TailOutput, TailSettings, TailStats, Tailer,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Bytes read from a file per read call.
const READ_CHUNK: usize = 64 * 1024;
/// Chunks of records queued between the tail thread and the sink (the read-ahead bound).
const QUEUE_CHUNKS: usize = 4;
/// How long a flow waits for its converters' outside data (instance metadata) before reading.
pub const CONVERTER_READY_WAIT: Duration = Duration::from_secs(5);
/// How long a new file that starts like a followed, untruncated file waits before it is taken
/// as new: logrotate's copytruncate truncates right after copying.
const COPY_WAIT: Duration = Duration::from_secs(5);
/// Records handed to the sink at once at most.
const CHUNK_RECORDS: usize = 500;
/// A chunk is handed over once its arena holds this many bytes (so the queue between the tail
/// thread and the sink stays bounded in bytes too).
const CHUNK_BYTES: usize = 1 << 20;

/// A record of the chunk being filled: where its bytes are in the arena.
struct Pending {
    range: std::ops::Range<usize>,
    partition_key: PartitionKey,
    ack: AckToken,
}

/// Errors starting a flow.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The converter chain could not be built.
    #[error("flow {flow}: {source}")]
    Process {
        flow: String,
        source: crate::process::ProcessError,
    },
    /// The file pattern is invalid.
    #[error("flow {flow}: {source}")]
    Pattern {
        flow: String,
        source: crate::tail::discover::PatternError,
    },
    /// A pattern of the flow cannot be honoured.
    #[error("flow {flow}: {key}: {source}")]
    Regex {
        flow: String,
        /// The configuration key of the pattern.
        key: &'static str,
        /// Where and why it cannot be compiled.
        source: RegexError,
    },
    /// The tail thread could not be started.
    #[error("flow {flow}: cannot start its thread: {source}")]
    Thread {
        flow: String,
        source: std::io::Error,
    },
}

/// The producing side of a flow: converts framed records and hands them to the sink.
struct Producer {
    chain: Chain,
    /// None for Firehose, whose records have no partition key.
    partition_keys: Option<PartitionKeyOption>,
    max_record_size: usize,
    terminator: Vec<u8>,
    /// The bytes of the chunk's records, one after the other: one allocation per chunk, not
    /// per record; the records sent are slices of it.
    arena: Vec<u8>,
    /// What the next arena is sized for: the largest recent chunk's bytes, decaying.
    arena_hint: usize,
    pending: Vec<Pending>,
    /// Ranges of the chunk's skipped records (back-to-back ones merged): acknowledged once the
    /// chunk is queued, so that skipping is held back by a stalled sink as sending is.
    skipped: Vec<AckToken>,
    /// How many records the chunk's skipped ranges cover.
    skipped_records: usize,
    tx: mpsc::Sender<Vec<Record>>,
    acks: Arc<Checkpoints>,
    counters: Arc<FlowCounters>,
    flow_id: String,
    warnings: LogLimiter,
    /// Where a random key's text is measured (reused: no allocation per record).
    key_scratch: Vec<u8>,
}

impl Producer {
    /// The producer of `flow`, converting with `chain` and queueing chunks into `tx`.
    fn new(
        chain: Chain,
        flow: &FlowConfig,
        tx: mpsc::Sender<Vec<Record>>,
        acks: Arc<Checkpoints>,
        counters: Arc<FlowCounters>,
    ) -> Producer {
        Producer {
            chain,
            partition_keys: (!flow.is_firehose()).then_some(flow.partition_key_option),
            max_record_size: flow.max_record_size_bytes as usize,
            terminator: flow.truncated_record_terminator.as_bytes().to_vec(),
            arena: Vec::new(),
            arena_hint: 0,
            pending: Vec::with_capacity(CHUNK_RECORDS),
            skipped: Vec::new(),
            skipped_records: 0,
            tx,
            acks,
            counters,
            flow_id: flow.id.clone(),
            warnings: LogLimiter::new(Duration::from_secs(10)),
            key_scratch: Vec::with_capacity(32),
        }
    }

    fn warn_rate_limited(&mut self, msg: impl FnOnce() -> String) {
        if let Some(suppressed) = self.warnings.due() {
            let more = if suppressed > 0 {
                format!(" ({suppressed} similar warnings not logged)")
            } else {
                String::new()
            };
            tracing::warn!("{}: {}{more}", self.flow_id, msg());
        }
    }

    /// A record not to be sent: counted in the chunk, acknowledged when the chunk is queued.
    fn skip(&mut self, ack: AckToken) {
        match self.skipped.last_mut() {
            Some(last) if last.fid == ack.fid && last.end == ack.start => last.end = ack.end,
            _ => self.skipped.push(ack),
        }
        self.skipped_records += 1;
        if self.pending.len() + self.skipped_records >= CHUNK_RECORDS {
            self.flush();
        }
    }

    fn release_skipped(&mut self) {
        AckSink::ack_many(&*self.acks, &self.skipped);
        self.skipped.clear();
        self.skipped_records = 0;
    }
}

impl TailOutput for Producer {
    fn record(&mut self, fid: TrackedFileId, start: u64, end: u64, data: &[u8]) {
        let ack = AckToken { fid, start, end };
        let from = self.arena.len();
        // Converted straight into the arena: no copy of the converted record.
        match self.chain.process(data, &mut self.arena) {
            Outcome::Unchanged => self.arena.extend_from_slice(data),
            Outcome::Converted => FlowCounters::add(&self.counters.records_processed, 1),
            Outcome::Skipped(_) => {
                FlowCounters::add(&self.counters.records_skipped, 1);
                self.skip(ack);
                return;
            }
            Outcome::Failed(reason) => {
                FlowCounters::add(&self.counters.processing_errors, 1);
                self.warn_rate_limited(|| {
                    format!("cannot process input data: {reason}, falling back to raw data")
                });
                self.arena.extend_from_slice(data);
            }
        }
        let partition_key = match self.partition_keys {
            Some(PartitionKeyOption::Deterministic) => PartitionKey::md5_of(&self.arena[from..]),
            // Drawn by the sender from the keys of the shard it chooses; a record that may be
            // cut gets its key now, so that it is cut by the key it is sent with.
            Some(PartitionKeyOption::Random)
                if self.arena.len() - from + RANDOM_KEY_MAX <= self.max_record_size =>
            {
                PartitionKey::Undrawn
            }
            Some(PartitionKeyOption::Random) => {
                PartitionKey::random(random_value(), &mut self.key_scratch)
            }
            None => PartitionKey::None,
        };
        if truncate_to_fit(
            &mut self.arena,
            from,
            partition_key.len(),
            self.max_record_size,
            &self.terminator,
        ) {
            FlowCounters::add(&self.counters.records_truncated, 1);
            let max = self.max_record_size;
            self.warn_rate_limited(|| {
                format!("a record at offset {start} was longer than {max} bytes and was truncated")
            });
        }
        self.pending.push(Pending {
            range: from..self.arena.len(),
            partition_key,
            ack,
        });
        if self.pending.len() + self.skipped_records >= CHUNK_RECORDS
            || self.arena.len() >= CHUNK_BYTES
        {
            self.flush();
        }
    }

    fn skipped(&mut self, fid: TrackedFileId, start: u64, end: u64) {
        self.skip(AckToken { fid, start, end });
    }

    fn flush(&mut self) -> bool {
        if self.pending.is_empty() {
            if self.skipped.is_empty() {
                return !self.tx.is_closed();
            }
            // Only skipped records: an empty chunk still takes its place in the queue.
            let queued = self.tx.blocking_send(Vec::new()).is_ok();
            self.release_skipped();
            return queued;
        }
        let used = self.arena.len();
        // Sized like the larger of the last chunks, which the next one most likely resembles:
        // sized like the last one alone, a full chunk after a turn's short remainder made the
        // arena grow, copying it whole (2 % of the CPU of a converting flow).
        self.arena_hint = used.max(self.arena_hint - self.arena_hint / 8);
        let capacity = (self.arena_hint + self.arena_hint / 8).min(CHUNK_BYTES + CHUNK_BYTES / 4);
        let arena = bytes::Bytes::from(std::mem::replace(
            &mut self.arena,
            Vec::with_capacity(capacity),
        ));
        let chunk = self
            .pending
            .drain(..)
            .map(|p| Record {
                data: arena.slice(p.range),
                partition_key: p.partition_key,
                ack: p.ack,
            })
            .collect();
        let queued = self.tx.blocking_send(chunk).is_ok();
        self.release_skipped();
        queued
    }
}

/// A running flow.
pub struct FlowHandle {
    pub id: String,
    stop: Arc<AtomicBool>,
    waker: crate::tail::discover::Waker,
    tail_thread: Option<std::thread::JoinHandle<()>>,
    sink: Option<tokio::task::JoinHandle<usize>>,
    /// Tailing counters.
    pub tail_stats: Arc<TailStats>,
    /// Processing and sending counters.
    pub counters: Arc<FlowCounters>,
}

impl FlowHandle {
    /// Stops reading new data (the sink goes on sending what was read).
    pub fn stop_reading(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.waker.wake();
    }

    /// Waits for the sink to finish; returns how many records were left unsent.
    pub async fn finish(&mut self) -> usize {
        let left = match self.sink.take() {
            Some(h) => h.await.unwrap_or(0),
            None => 0,
        };
        tracing::debug!("{}: sink finished, {left} records left unsent", self.id);
        if let Some(t) = self.tail_thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        left
    }
}

/// Checks everything about a flow that can be refused before it runs (file pattern, regular
/// expressions, converter parameters), without side effects.
pub fn validate_flow(flow: &FlowConfig) -> Result<(), FlowError> {
    let limits = FileLimits {
        open_files: OpenFiles::new(1),
        close_rotated_after: Duration::ZERO,
    };
    tail_settings(flow, &limits)?;
    Chain::validate(&flow.data_processing_options).map_err(|source| FlowError::Process {
        flow: flow.id.clone(),
        source,
    })
}

/// How a flow turns lines into records; its patterns are compiled (and refused) here, at startup.
pub fn split_settings(flow: &FlowConfig) -> Result<SplitSettings, FlowError> {
    let compile_err = |key: &'static str, source: RegexError| FlowError::Regex {
        flow: flow.id.clone(),
        key,
        source,
    };
    let multi_line_start = match &flow.multi_line_start_pattern {
        Some(p) => Some(Arc::new(
            regex::looking_at(p).map_err(|e| compile_err("multiLineStartPattern", e))?,
        )),
        None => None,
    };
    let footer = match &flow.file_footer_pattern {
        Some(p) => Some(Arc::new(
            regex::full_match(p, true).map_err(|e| compile_err("fileFooterPattern", e))?,
        )),
        None => None,
    };
    Ok(SplitSettings {
        skip_header_lines: u64::from(flow.skip_header_lines),
        multi_line_start,
        multi_line_quiet: Duration::from_millis(flow.multi_line_flush_millis),
        footer,
        max_record: framing_limit(flow),
        // The Java agent joins lines only in place of its single-line splitter.
        aggregate_bytes: match flow.multi_line_start_pattern {
            None => flow.aggregated_record_size_bytes as usize,
            Some(_) => 0,
        },
    })
}

/// What the flows share about open files: the descriptor cap and when rotated files close.
#[derive(Debug, Clone)]
pub struct FileLimits {
    /// The descriptors all flows' followed files may hold.
    pub open_files: Arc<OpenFiles>,
    /// How long a rotated file read to its end and acknowledged stays open without growing.
    pub close_rotated_after: Duration,
}

impl FileLimits {
    /// The limits of `config` (`maxOpenFiles`, 0: three quarters of the open-file limit, and
    /// `rotatedFileCloseMillis`).
    pub fn of(config: &crate::config::AgentConfig) -> FileLimits {
        let cap = match config.max_open_files {
            0 => nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map(|(soft, _)| soft.saturating_mul(3) / 4)
                .unwrap_or(768)
                .clamp(16, 1 << 20) as usize,
            n => n as usize,
        };
        FileLimits {
            open_files: OpenFiles::new(cap),
            close_rotated_after: Duration::from_millis(config.rotated_file_close_millis),
        }
    }
}

/// The tailing settings of a flow.
pub fn tail_settings(flow: &FlowConfig, limits: &FileLimits) -> Result<TailSettings, FlowError> {
    let pattern = FilePattern::new(&flow.directory, &flow.file_glob).map_err(|source| {
        FlowError::Pattern {
            flow: flow.id.clone(),
            source,
        }
    })?;
    Ok(TailSettings {
        flow_id: flow.id.clone(),
        pattern,
        start_at: match flow.initial_position {
            InitialPosition::StartOfFile => StartAt::Beginning,
            InitialPosition::EndOfFile => StartAt::End,
        },
        split: split_settings(flow)?,
        poll_interval: Duration::from_millis(flow.min_time_between_file_polls_millis.max(1)),
        refresh_interval: Duration::from_millis(
            flow.max_time_between_file_tracker_refresh_millis.max(100),
        ),
        read_chunk: READ_CHUNK,
        copy_wait: COPY_WAIT,
        open_files: limits.open_files.clone(),
        close_rotated_after: limits.close_rotated_after,
    })
}

/// The most bytes of KPL aggregates one PutRecords carries (less when `maxBufferSizeBytes` says
/// so): a shard takes 1 MiB/s, so a larger request only holds more in memory. Measured on the
/// bench (100 MB, one flow): peak RSS 89 MiB with 5 MiB requests, 35 MiB with 1 MiB, 27 MiB with
/// 512 KiB (two of them fit the flow's in-flight budget), at the same CPU and speed.
pub const AGGREGATED_REQUEST_BYTES: usize = 512 * 1024;

/// Where and how one flow sends.
pub struct Sending<D> {
    /// The stream or delivery stream.
    pub dest: Arc<D>,
    /// The flow's in-flight budget, within the agent's.
    pub in_flight: InFlight,
    /// CloudWatch samples of each call, when metrics are emitted.
    pub metrics: Option<crate::metrics::accumulator::FlowMetrics>,
    /// KPL aggregation, when the flow asks for it.
    pub aggregation: Option<crate::sink::batch::Aggregation>,
    /// The stream's shard map, by which requests are shaped to the shards' write limits
    /// (Kinesis flows; none for Firehose).
    pub shard_map: Option<Arc<crate::sink::shards::ShardMap>>,
    /// The token buckets of the stream's shards, shared by the flows to it (with `shard_map`).
    pub shaper: Option<crate::sink::shape::SharedShaper>,
}

/// Starts one flow sending as `sending` says.
pub fn start_flow<D: crate::sink::Destination>(
    flow: &FlowConfig,
    checkpoints: Arc<Checkpoints>,
    sending: Sending<D>,
    drain_by: watch::Receiver<Option<Instant>>,
    limits: &FileLimits,
) -> Result<FlowHandle, FlowError> {
    let Sending {
        dest,
        in_flight,
        metrics,
        aggregation,
        shard_map,
        shaper,
    } = sending;
    let chain = Chain::new(&flow.data_processing_options).map_err(|source| FlowError::Process {
        flow: flow.id.clone(),
        source,
    })?;
    let settings = tail_settings(flow, limits)?;
    let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
    let counters = Arc::new(FlowCounters::default());
    let tail_stats = Arc::new(TailStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let tailer = Tailer::new(
        settings,
        checkpoints.clone(),
        stop.clone(),
        tail_stats.clone(),
    );
    let waker = tailer.waker();
    let stopped = stop.clone();
    let mut producer = Producer::new(chain, flow, tx, checkpoints.clone(), counters.clone());
    let tail_thread = std::thread::Builder::new()
        .name(format!("tail-{}", short_name(&flow.id)))
        .spawn(move || {
            producer
                .chain
                .wait_ready(CONVERTER_READY_WAIT, &|| stopped.load(Ordering::Relaxed));
            tailer.run(&mut producer);
            producer.flush();
            tracing::debug!("{}: reader stopped", producer.flow_id);
        })
        .map_err(|source| FlowError::Thread {
            flow: flow.id.clone(),
            source,
        })?;
    let sink = Sink::new(
        SinkSettings {
            flow_id: flow.id.clone(),
            limits: Limits {
                max_records: flow.max_buffer_size_records as usize,
                max_bytes: match aggregation {
                    // Room for one aggregate of the largest size asked for, whatever the cap.
                    Some(_) => (flow.max_buffer_size_bytes as usize).min(
                        AGGREGATED_REQUEST_BYTES
                            .max(flow.aggregation_max_size_bytes as usize + 1024),
                    ),
                    None => flow.max_buffer_size_bytes as usize,
                },
                max_age: Duration::from_millis(flow.max_buffer_age_millis),
            },
            retry_initial: Duration::from_millis(flow.retry_initial_backoff_millis.max(1)),
            retry_max: Duration::from_millis(flow.retry_max_backoff_millis.max(1)),
            max_sealed: 1,
            shaping: shaper,
            aggregation,
            shard_map,
        },
        dest,
        in_flight,
        checkpoints as Arc<dyn AckSink>,
        counters.clone(),
    )
    .with_metrics(metrics);
    let sink = tokio::spawn(sink.run(rx, drain_by));
    Ok(FlowHandle {
        id: flow.id.clone(),
        stop,
        waker,
        tail_thread: Some(tail_thread),
        sink: Some(sink),
        tail_stats,
        counters,
    })
}

/// Lines longer than this are cut while framing: the Java agent's read buffer size.
fn framing_limit(flow: &FlowConfig) -> usize {
    let buffer = match flow.destination {
        Destination::KinesisStream(_) => 5 * 1024 * 1024,
        Destination::DeliveryStream(_) => 4 * 1024 * 1024,
    };
    // A stream that takes larger records (up to 10 MiB) gets them whole.
    buffer.max(flow.max_record_size_bytes as usize)
}

/// A thread-name-sized tag of a flow id (thread names are limited to 15 bytes).
fn short_name(id: &str) -> String {
    let tail: String = id
        .rsplit('/')
        .next()
        .unwrap_or(id)
        .chars()
        .take(10)
        .collect();
    tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::FileIdentity;
    use std::path::Path;

    fn flow() -> FlowConfig {
        let text = r#"{"flows": [{"filePattern": "/x/*.log", "kinesisStream": "s"}]}"#;
        crate::config::parse_str(Path::new("agent.json"), text)
            .unwrap()
            .flows
            .remove(0)
    }

    /// Skipped records (headers, LOGTOJSON non-matches) wait for a stalled sink as sent ones do:
    /// they pass through the queue, and their acknowledgements with them.
    #[test]
    fn skipped_records_are_held_back_by_a_full_queue() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoints::open(&dir.path().join("cp"), 7).unwrap();
        let ident = FileIdentity {
            dev: 1,
            ino: 2,
            fingerprint_len: 0,
            fingerprint: String::new(),
        };
        let fid = cp.track("f", ident, Path::new("/x/a.log"), 0);
        let (tx, mut rx) = mpsc::channel(2);
        let counters = Arc::new(FlowCounters::default());
        let mut producer =
            Producer::new(Chain::new(&[]).unwrap(), &flow(), tx, cp.clone(), counters);
        let line = 10u64;
        let skip = move |p: &mut Producer, from: u64, n: u64| {
            for i in from..from + n {
                p.skipped(fid, i * line, (i + 1) * line);
            }
        };
        // Two chunks' worth fill the queue's two places, and are acknowledged as they enter it.
        skip(&mut producer, 0, 2 * CHUNK_RECORDS as u64);
        assert_eq!(rx.len(), 2, "skipped records did not go through the queue");
        assert_eq!(cp.committed(fid), Some(2 * CHUNK_RECORDS as u64 * line));
        // The next chunk waits for room: nothing more is skipped (or acknowledged) meanwhile.
        let more = std::thread::spawn(move || {
            skip(
                &mut producer,
                2 * CHUNK_RECORDS as u64,
                CHUNK_RECORDS as u64,
            );
            producer
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(!more.is_finished());
        assert_eq!(cp.committed(fid), Some(2 * CHUNK_RECORDS as u64 * line));
        assert_eq!(rx.blocking_recv().map(|c| c.len()), Some(0));
        let _producer = more.join().unwrap();
        assert_eq!(cp.committed(fid), Some(3 * CHUNK_RECORDS as u64 * line));
    }
}
