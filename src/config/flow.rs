//! One entry of `flows` (`FileFlow.java`, `KinesisFileFlow.java`, `FirehoseFileFlow.java`).

use std::path::PathBuf;

use globset::GlobMatcher;
use serde::Serialize;
use serde_json::Value;

use super::error::ConfigError;
use super::options::ProcessingOption;
use super::pattern;
use super::processing;
use super::reader::{JavaEnum, Section};

/// `maxBufferSizeBytes` of Kinesis flows by default: the Java agent's limit (PutRecords' limit
/// before large records).
pub const KINESIS_MAX_BUFFER_SIZE_BYTES: u32 = 5 * 1024 * 1024;
/// PutRecords' limit on the bytes of one call today, the most `maxBufferSizeBytes` may ask for.
pub const KINESIS_PUT_RECORDS_MAX_BYTES: u32 = 10 * 1024 * 1024;
/// Kinesis limit on one record (data plus partition key).
pub const KINESIS_MAX_RECORD_SIZE_BYTES: u32 = 1024 * 1024;
/// Firehose `PutRecordBatch` limit on the bytes of one batch.
pub const FIREHOSE_MAX_BUFFER_SIZE_BYTES: u32 = 4 * 1024 * 1024;
/// Firehose limit on one record.
pub const FIREHOSE_MAX_RECORD_SIZE_BYTES: u32 = 1000 * 1024;
/// Both services' limit on the records of one batch.
pub const MAX_BUFFER_SIZE_RECORDS: u32 = 500;

const MILLIS_RANGE: (u64, u64) = (1_000, 900_000);
const LONG_MAX: u64 = i64::MAX as u64;
const INT_MAX: u32 = i32::MAX as u32;

/// Where a flow sends its records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Destination {
    /// A Kinesis Data Streams stream name (`kinesisStream`).
    #[serde(rename = "kinesisStream")]
    KinesisStream(String),
    /// A Firehose delivery stream name (`deliveryStream`).
    #[serde(rename = "deliveryStream")]
    DeliveryStream(String),
}

impl Destination {
    /// The stream or delivery stream name, without its kind.
    pub fn name(&self) -> &str {
        match self {
            Destination::KinesisStream(s) | Destination::DeliveryStream(s) => s,
        }
    }

    /// The Java config key that names this kind of destination.
    pub fn key(&self) -> &'static str {
        match self {
            Destination::KinesisStream(_) => "kinesisStream",
            Destination::DeliveryStream(_) => "deliveryStream",
        }
    }

    /// The flow-id prefix (`kinesis` or `fh`).
    fn id_prefix(&self) -> &'static str {
        match self {
            Destination::KinesisStream(_) => "kinesis",
            Destination::DeliveryStream(_) => "fh",
        }
    }
}

/// `partitionKeyOption` of Kinesis flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum PartitionKeyOption {
    /// A random key per record (default).
    #[default]
    #[serde(rename = "RANDOM")]
    Random,
    /// A key derived from the record data.
    #[serde(rename = "DETERMINISTIC")]
    Deterministic,
}

/// `aggregationMaxSizeBytes` by default: the KPL's `AggregationMaxSize`.
pub const DEFAULT_AGGREGATION_MAX_SIZE_BYTES: u32 = 51_200;

/// The smallest `aggregationMaxSizeBytes`: the aggregate's frame (magic and MD5, 20 bytes) and
/// room for a short record.
pub const MIN_AGGREGATION_MAX_SIZE_BYTES: u32 = 64;

/// kinetail's `aggregation` of Kinesis flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum AggregationOption {
    /// Each record is a Kinesis record of its own (default, as the Java agent).
    #[default]
    #[serde(rename = "NONE")]
    None,
    /// Records are packed into KPL aggregates, one shard's records per aggregate; consumers
    /// must deaggregate (the KCL does).
    #[serde(rename = "KPL")]
    Kpl,
}

impl JavaEnum for AggregationOption {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("NONE", AggregationOption::None),
        ("KPL", AggregationOption::Kpl),
    ];
}

impl JavaEnum for PartitionKeyOption {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("RANDOM", PartitionKeyOption::Random),
        ("DETERMINISTIC", PartitionKeyOption::Deterministic),
    ];
}

/// `initialPosition`: where to start a file that has no checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum InitialPosition {
    /// Read the file from its beginning.
    #[serde(rename = "START_OF_FILE")]
    StartOfFile,
    /// Skip what the file holds now (default).
    #[default]
    #[serde(rename = "END_OF_FILE")]
    EndOfFile,
}

impl JavaEnum for InitialPosition {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("START_OF_FILE", InitialPosition::StartOfFile),
        ("END_OF_FILE", InitialPosition::EndOfFile),
    ];
}

/// One validated flow with every default filled in.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// Java flow id (`kinesis:<stream>:<dir>/<glob>` or `fh:...`), the checkpoint key.
    pub id: String,
    /// File (main file or `agent.d` file) that defined this flow.
    pub source: PathBuf,
    /// `filePattern` as written.
    pub file_pattern: String,
    /// Absolute directory of the pattern, normalised like `java.nio.file.Path`.
    pub directory: PathBuf,
    /// The file-name glob (last component of the pattern).
    pub file_glob: String,
    /// `file_glob` compiled for matching file names.
    pub file_matcher: GlobMatcher,
    /// Kinesis stream or Firehose delivery stream.
    pub destination: Destination,
    /// `partitionKeyOption` (Kinesis only; always the default for Firehose).
    pub partition_key_option: PartitionKeyOption,
    /// kinetail's `aggregation` (Kinesis only).
    pub aggregation: AggregationOption,
    /// kinetail's `aggregationMaxSizeBytes`: the largest KPL aggregate.
    pub aggregation_max_size_bytes: u32,
    /// kinetail's `shardWriteBytesPerSecond`: a shard's byte limit that aggregated sends keep to.
    pub shard_write_bytes_per_second: u32,
    /// kinetail's `shardWriteRecordsPerSecond`: a shard's record limit likewise.
    pub shard_write_records_per_second: u32,
    /// `initialPosition`.
    pub initial_position: InitialPosition,
    /// `maxBufferAgeMillis`.
    pub max_buffer_age_millis: u64,
    /// `maxBufferSizeRecords`.
    pub max_buffer_size_records: u32,
    /// `maxBufferSizeBytes`.
    pub max_buffer_size_bytes: u32,
    /// Hard-coded record size limit of the destination (not a key).
    pub max_record_size_bytes: u32,
    /// `multiLineStartPattern` (a Java regex, compiled elsewhere).
    pub multi_line_start_pattern: Option<String>,
    /// `skipHeaderLines`.
    pub skip_header_lines: u32,
    /// `truncatedRecordTerminator`.
    pub truncated_record_terminator: String,
    /// `fileFooterPattern` (a Java regex, compiled elsewhere).
    pub file_footer_pattern: Option<String>,
    /// `dataProcessingOptions`, in order.
    pub data_processing_options: Vec<ProcessingOption>,
    /// `aggregatedRecordSizeBytes` (Firehose only; always 0 for Kinesis).
    pub aggregated_record_size_bytes: u32,
    /// `minTimeBetweenFilePollsMillis`.
    pub min_time_between_file_polls_millis: u64,
    /// `maxTimeBetweenFileTrackerRefreshMillis`.
    pub max_time_between_file_tracker_refresh_millis: u64,
    /// `retryInitialBackoffMillis`.
    pub retry_initial_backoff_millis: u64,
    /// `retryMaxBackoffMillis`.
    pub retry_max_backoff_millis: u64,
    /// `publishQueueCapacity`.
    pub publish_queue_capacity: u32,
    /// `waitOnFullPublishQueueMillis`.
    pub wait_on_full_publish_queue_millis: u64,
    /// `waitOnEmptyPublishQueueMillis`.
    pub wait_on_empty_publish_queue_millis: u64,
    /// `log.emitInternalMetrics` (inherits the agent value when absent).
    pub log_emit_internal_metrics: bool,
    /// kinetail's `multiLineFlushMillis`: quiet period after which a pending multi-line record is emitted.
    pub multi_line_flush_millis: u64,
}

impl FlowConfig {
    /// True for Firehose flows.
    pub fn is_firehose(&self) -> bool {
        matches!(self.destination, Destination::DeliveryStream(_))
    }

    /// Every key by its Java name with resolved values, plus `id`.
    pub fn resolved_json(&self) -> Value {
        serde_json::to_value(ResolvedFlow::of(self))
            .expect("the resolved configuration has only string map keys")
    }
}

/// `check`'s view of one flow: Java names in the Java agent's order, and only the keys its kind
/// of flow reads (`partitionKeyOption` for Kinesis, `aggregatedRecordSizeBytes` for Firehose).
#[derive(Serialize)]
pub(super) struct ResolvedFlow<'a> {
    id: &'a str,
    /// As resolved: absolute, its directory normalised (`/var//log/` is `/var/log/`).
    #[serde(rename = "filePattern")]
    file_pattern: String,
    /// `kinesisStream` or `deliveryStream`.
    #[serde(flatten)]
    destination: &'a Destination,
    #[serde(rename = "partitionKeyOption", skip_serializing_if = "Option::is_none")]
    partition_key_option: Option<PartitionKeyOption>,
    #[serde(rename = "aggregation", skip_serializing_if = "Option::is_none")]
    aggregation: Option<AggregationOption>,
    #[serde(
        rename = "aggregationMaxSizeBytes",
        skip_serializing_if = "Option::is_none"
    )]
    aggregation_max_size_bytes: Option<u32>,
    #[serde(
        rename = "shardWriteBytesPerSecond",
        skip_serializing_if = "Option::is_none"
    )]
    shard_write_bytes_per_second: Option<u32>,
    #[serde(
        rename = "shardWriteRecordsPerSecond",
        skip_serializing_if = "Option::is_none"
    )]
    shard_write_records_per_second: Option<u32>,
    #[serde(rename = "initialPosition")]
    initial_position: InitialPosition,
    #[serde(rename = "maxBufferAgeMillis")]
    max_buffer_age_millis: u64,
    #[serde(rename = "maxBufferSizeRecords")]
    max_buffer_size_records: u32,
    #[serde(rename = "maxBufferSizeBytes")]
    max_buffer_size_bytes: u32,
    #[serde(rename = "multiLineStartPattern")]
    multi_line_start_pattern: &'a Option<String>,
    #[serde(rename = "skipHeaderLines")]
    skip_header_lines: u32,
    #[serde(rename = "truncatedRecordTerminator")]
    truncated_record_terminator: &'a str,
    #[serde(rename = "fileFooterPattern")]
    file_footer_pattern: &'a Option<String>,
    #[serde(rename = "dataProcessingOptions")]
    data_processing_options: &'a [ProcessingOption],
    #[serde(
        rename = "aggregatedRecordSizeBytes",
        skip_serializing_if = "Option::is_none"
    )]
    aggregated_record_size_bytes: Option<u32>,
    #[serde(rename = "minTimeBetweenFilePollsMillis")]
    min_time_between_file_polls_millis: u64,
    #[serde(rename = "maxTimeBetweenFileTrackerRefreshMillis")]
    max_time_between_file_tracker_refresh_millis: u64,
    #[serde(rename = "retryInitialBackoffMillis")]
    retry_initial_backoff_millis: u64,
    #[serde(rename = "retryMaxBackoffMillis")]
    retry_max_backoff_millis: u64,
    #[serde(rename = "publishQueueCapacity")]
    publish_queue_capacity: u32,
    #[serde(rename = "waitOnFullPublishQueueMillis")]
    wait_on_full_publish_queue_millis: u64,
    #[serde(rename = "waitOnEmptyPublishQueueMillis")]
    wait_on_empty_publish_queue_millis: u64,
    #[serde(rename = "log.emitInternalMetrics")]
    log_emit_internal_metrics: bool,
    #[serde(rename = "multiLineFlushMillis")]
    multi_line_flush_millis: u64,
}

impl<'a> ResolvedFlow<'a> {
    pub(super) fn of(f: &'a FlowConfig) -> Self {
        let firehose = f.is_firehose();
        ResolvedFlow {
            id: &f.id,
            file_pattern: f
                .directory
                .join(&f.file_glob)
                .to_string_lossy()
                .into_owned(),
            destination: &f.destination,
            partition_key_option: (!firehose).then_some(f.partition_key_option),
            aggregation: (!firehose).then_some(f.aggregation),
            aggregation_max_size_bytes: (!firehose).then_some(f.aggregation_max_size_bytes),
            shard_write_bytes_per_second: (!firehose).then_some(f.shard_write_bytes_per_second),
            shard_write_records_per_second: (!firehose).then_some(f.shard_write_records_per_second),
            initial_position: f.initial_position,
            max_buffer_age_millis: f.max_buffer_age_millis,
            max_buffer_size_records: f.max_buffer_size_records,
            max_buffer_size_bytes: f.max_buffer_size_bytes,
            multi_line_start_pattern: &f.multi_line_start_pattern,
            skip_header_lines: f.skip_header_lines,
            truncated_record_terminator: &f.truncated_record_terminator,
            file_footer_pattern: &f.file_footer_pattern,
            data_processing_options: &f.data_processing_options,
            aggregated_record_size_bytes: firehose.then_some(f.aggregated_record_size_bytes),
            min_time_between_file_polls_millis: f.min_time_between_file_polls_millis,
            max_time_between_file_tracker_refresh_millis: f
                .max_time_between_file_tracker_refresh_millis,
            retry_initial_backoff_millis: f.retry_initial_backoff_millis,
            retry_max_backoff_millis: f.retry_max_backoff_millis,
            publish_queue_capacity: f.publish_queue_capacity,
            wait_on_full_publish_queue_millis: f.wait_on_full_publish_queue_millis,
            wait_on_empty_publish_queue_millis: f.wait_on_empty_publish_queue_millis,
            log_emit_internal_metrics: f.log_emit_internal_metrics,
            multi_line_flush_millis: f.multi_line_flush_millis,
        }
    }
}

/// Reads one flow; `unknown` receives the keys nobody read, including inside `dataProcessingOptions`.
pub(crate) fn parse(
    sec: &mut Section<'_>,
    agent_log_emit_internal_metrics: bool,
    unknown: &mut Vec<String>,
) -> Result<FlowConfig, ConfigError> {
    let kinesis = sec.string("kinesisStream")?;
    let firehose = sec.string("deliveryStream")?;
    let destination = match (firehose, kinesis) {
        (Some(fh), kinesis) => {
            if kinesis.is_some() {
                tracing::warn!(
                    "{}: {}: both deliveryStream and kinesisStream are set; the flow goes to Firehose and kinesisStream is ignored, as in the Java agent",
                    sec.file().display(),
                    sec.key_path("")
                );
            }
            Destination::DeliveryStream(fh)
        }
        (None, Some(k)) => Destination::KinesisStream(k),
        (None, None) => return Err(sec.error(
            "",
            "Could not create flow from the given configuration. Could not recognize flow type.",
        )),
    };
    let firehose = matches!(destination, Destination::DeliveryStream(_));

    let file_pattern = sec.required_string("filePattern")?;
    let fp = pattern::parse(&file_pattern, &std::env::current_dir)
        .map_err(|m| sec.error("filePattern", m))?;
    let id = format!(
        "{}:{}:{}",
        destination.id_prefix(),
        destination.name(),
        fp.source_string()
    );

    let (default_bytes, max_bytes, max_record) = if firehose {
        (
            FIREHOSE_MAX_BUFFER_SIZE_BYTES,
            FIREHOSE_MAX_BUFFER_SIZE_BYTES,
            FIREHOSE_MAX_RECORD_SIZE_BYTES,
        )
    } else {
        (
            KINESIS_MAX_BUFFER_SIZE_BYTES,
            KINESIS_PUT_RECORDS_MAX_BYTES,
            KINESIS_MAX_RECORD_SIZE_BYTES,
        )
    };

    let partition_key_option = if firehose {
        ignored(sec, "partitionKeyOption", "Firehose");
        PartitionKeyOption::default()
    } else {
        sec.enumeration("partitionKeyOption")?.unwrap_or_default()
    };
    let aggregation = sec.enumeration("aggregation")?.unwrap_or_default();
    if firehose && aggregation == AggregationOption::Kpl {
        return Err(sec.error(
            "aggregation",
            "KPL aggregation is for Kinesis streams only: Firehose stores an aggregate as it is, unreadable, unless its source is a Kinesis stream; remove the key or set it to NONE",
        ));
    }
    let aggregation_max_size_bytes = sec.int_in(
        "aggregationMaxSizeBytes",
        DEFAULT_AGGREGATION_MAX_SIZE_BYTES,
        MIN_AGGREGATION_MAX_SIZE_BYTES,
        max_record,
    )?;
    // A shard's write limits, which Kinesis applies in provisioned and on-demand mode alike.
    let shard_write_bytes_per_second =
        sec.int_in("shardWriteBytesPerSecond", 1024 * 1024, 1024, INT_MAX)?;
    let shard_write_records_per_second =
        sec.int_in("shardWriteRecordsPerSecond", 1000, 1, INT_MAX)?;
    let aggregated_record_size_bytes = if firehose {
        sec.int_in(
            "aggregatedRecordSizeBytes",
            0,
            0,
            FIREHOSE_MAX_RECORD_SIZE_BYTES,
        )?
    } else {
        // The Java Kinesis flow never reads this key, so any value is accepted and has no effect.
        ignored(sec, "aggregatedRecordSizeBytes", "Kinesis");
        0
    };

    let truncated_record_terminator = sec
        .string("truncatedRecordTerminator")?
        .unwrap_or_else(|| "\n".to_string());
    if truncated_record_terminator.len() >= max_record as usize {
        return Err(sec.error(
            "truncatedRecordTerminator",
            "Record terminator not specified or exceeds the maximum record size",
        ));
    }

    let mut data_processing_options = Vec::new();
    for mut opt in sec.sections("dataProcessingOptions")? {
        data_processing_options.push(processing::parse(&mut opt)?);
        unknown.extend(opt.unknown_keys());
    }

    let flow = FlowConfig {
        id,
        source: sec.file().to_path_buf(),
        file_pattern,
        directory: fp.directory,
        file_glob: fp.glob,
        file_matcher: fp.matcher,
        destination,
        partition_key_option,
        aggregation,
        aggregation_max_size_bytes,
        shard_write_bytes_per_second,
        shard_write_records_per_second,
        initial_position: sec.enumeration("initialPosition")?.unwrap_or_default(),
        max_buffer_age_millis: sec.long_in(
            "maxBufferAgeMillis",
            60_000,
            MILLIS_RANGE.0,
            MILLIS_RANGE.1,
        )?,
        max_buffer_size_records: sec.int_in(
            "maxBufferSizeRecords",
            MAX_BUFFER_SIZE_RECORDS,
            1,
            MAX_BUFFER_SIZE_RECORDS,
        )?,
        max_buffer_size_bytes: sec.int_in("maxBufferSizeBytes", default_bytes, 1, max_bytes)?,
        max_record_size_bytes: max_record,
        multi_line_start_pattern: sec.string("multiLineStartPattern")?,
        skip_header_lines: sec.int_in("skipHeaderLines", 0, 0, INT_MAX)?,
        truncated_record_terminator,
        file_footer_pattern: sec.string("fileFooterPattern")?,
        data_processing_options,
        aggregated_record_size_bytes,
        min_time_between_file_polls_millis: sec.long_in(
            "minTimeBetweenFilePollsMillis",
            100,
            0,
            LONG_MAX,
        )?,
        max_time_between_file_tracker_refresh_millis: sec.long_in(
            "maxTimeBetweenFileTrackerRefreshMillis",
            10_000,
            0,
            LONG_MAX,
        )?,
        retry_initial_backoff_millis: sec.long_in("retryInitialBackoffMillis", 100, 0, LONG_MAX)?,
        retry_max_backoff_millis: sec.long_in("retryMaxBackoffMillis", 10_000, 0, LONG_MAX)?,
        // A zero-capacity queue makes Java's LinkedBlockingQueue constructor throw.
        publish_queue_capacity: sec.int_in("publishQueueCapacity", 100, 1, INT_MAX)?,
        wait_on_full_publish_queue_millis: sec.long_in(
            "waitOnFullPublishQueueMillis",
            60_000,
            MILLIS_RANGE.0,
            MILLIS_RANGE.1,
        )?,
        wait_on_empty_publish_queue_millis: sec.long_in(
            "waitOnEmptyPublishQueueMillis",
            60_000,
            MILLIS_RANGE.0,
            MILLIS_RANGE.1,
        )?,
        log_emit_internal_metrics: sec
            .boolean("log.emitInternalMetrics", agent_log_emit_internal_metrics)?,
        multi_line_flush_millis: sec.long_in("multiLineFlushMillis", 1_000, 1, 3_600_000)?,
    };
    unknown.extend(sec.unknown_keys());
    Ok(flow)
}

/// Accepts a key the Java agent does not read for this kind of flow, and says so when it is set.
fn ignored(sec: &mut Section<'_>, key: &str, kind: &str) {
    if sec.ignore(key) {
        tracing::warn!(
            "{}: {}: ignored for {kind} flows, as in the Java agent",
            sec.file().display(),
            sec.key_path(key)
        );
    }
}

#[cfg(test)]
mod tests;
