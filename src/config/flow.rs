//! One entry of `flows` (`FileFlow.java`, `KinesisFileFlow.java`, `FirehoseFileFlow.java`).

use std::path::PathBuf;

use globset::GlobMatcher;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::error::ConfigError;
use super::options::ProcessingOption;
use super::pattern;
use super::processing;
use super::reader::{JavaEnum, Section};

/// Kinesis `PutRecords` limit on the bytes of one batch.
pub const KINESIS_MAX_BUFFER_SIZE_BYTES: u32 = 5 * 1024 * 1024;
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
    /// The stream name.
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
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert(
            "filePattern".into(),
            json!(self.directory.join(&self.file_glob).to_string_lossy()),
        );
        m.insert(
            self.destination.key().into(),
            json!(self.destination.name()),
        );
        if !self.is_firehose() {
            m.insert(
                "partitionKeyOption".into(),
                json!(self.partition_key_option),
            );
        }
        m.insert("initialPosition".into(), json!(self.initial_position));
        m.insert(
            "maxBufferAgeMillis".into(),
            json!(self.max_buffer_age_millis),
        );
        m.insert(
            "maxBufferSizeRecords".into(),
            json!(self.max_buffer_size_records),
        );
        m.insert(
            "maxBufferSizeBytes".into(),
            json!(self.max_buffer_size_bytes),
        );
        m.insert(
            "multiLineStartPattern".into(),
            json!(self.multi_line_start_pattern),
        );
        m.insert("skipHeaderLines".into(), json!(self.skip_header_lines));
        m.insert(
            "truncatedRecordTerminator".into(),
            json!(self.truncated_record_terminator),
        );
        m.insert("fileFooterPattern".into(), json!(self.file_footer_pattern));
        m.insert(
            "dataProcessingOptions".into(),
            serde_json::to_value(&self.data_processing_options).unwrap_or(Value::Null),
        );
        if self.is_firehose() {
            m.insert(
                "aggregatedRecordSizeBytes".into(),
                json!(self.aggregated_record_size_bytes),
            );
        }
        m.insert(
            "minTimeBetweenFilePollsMillis".into(),
            json!(self.min_time_between_file_polls_millis),
        );
        m.insert(
            "maxTimeBetweenFileTrackerRefreshMillis".into(),
            json!(self.max_time_between_file_tracker_refresh_millis),
        );
        m.insert(
            "retryInitialBackoffMillis".into(),
            json!(self.retry_initial_backoff_millis),
        );
        m.insert(
            "retryMaxBackoffMillis".into(),
            json!(self.retry_max_backoff_millis),
        );
        m.insert(
            "publishQueueCapacity".into(),
            json!(self.publish_queue_capacity),
        );
        m.insert(
            "waitOnFullPublishQueueMillis".into(),
            json!(self.wait_on_full_publish_queue_millis),
        );
        m.insert(
            "waitOnEmptyPublishQueueMillis".into(),
            json!(self.wait_on_empty_publish_queue_millis),
        );
        m.insert(
            "log.emitInternalMetrics".into(),
            json!(self.log_emit_internal_metrics),
        );
        m.insert(
            "multiLineFlushMillis".into(),
            json!(self.multi_line_flush_millis),
        );
        Value::Object(m)
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

    let (max_bytes, max_record) = if firehose {
        (
            FIREHOSE_MAX_BUFFER_SIZE_BYTES,
            FIREHOSE_MAX_RECORD_SIZE_BYTES,
        )
    } else {
        (KINESIS_MAX_BUFFER_SIZE_BYTES, KINESIS_MAX_RECORD_SIZE_BYTES)
    };

    let partition_key_option = if firehose {
        ignored(sec, "partitionKeyOption", "Firehose");
        PartitionKeyOption::default()
    } else {
        sec.enumeration("partitionKeyOption")?.unwrap_or_default()
    };
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
        max_buffer_size_bytes: sec.int_in("maxBufferSizeBytes", max_bytes, 1, max_bytes)?,
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
mod tests {
    use super::*;
    use crate::config::options::JsonFormat;
    use std::path::Path;

    const F: &str = "/etc/kinetail/agent.json";

    fn run(v: Value, agent_metrics: bool) -> Result<(FlowConfig, Vec<String>), String> {
        let map = match v {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let mut root = Map::new();
        root.insert("flows".into(), Value::Array(vec![Value::Object(map)]));
        let mut top = Section::root(Path::new(F), &root);
        let mut secs = top.sections("flows").map_err(|e| e.to_string())?;
        let mut unknown = Vec::new();
        let flow = parse(&mut secs[0], agent_metrics, &mut unknown).map_err(|e| e.to_string())?;
        Ok((flow, unknown))
    }

    fn ok(v: Value) -> FlowConfig {
        match run(v, false) {
            Ok((f, _)) => f,
            Err(e) => panic!("{e}"),
        }
    }

    fn err(v: Value) -> String {
        match run(v, false) {
            Ok((f, _)) => panic!("accepted {f:?}"),
            Err(e) => e,
        }
    }

    fn kinesis(extra: Value) -> Value {
        let mut base = json!({"filePattern": "/var/log/app/*.log", "kinesisStream": "s"});
        if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
            b.extend(e);
        }
        base
    }

    fn firehose(extra: Value) -> Value {
        let mut base = json!({"filePattern": "/var/log/app/*.log", "deliveryStream": "d"});
        if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
            b.extend(e);
        }
        base
    }

    #[test]
    fn kinesis_defaults() {
        let f = ok(kinesis(json!({})));
        assert_eq!(f.id, "kinesis:s:/var/log/app/*.log");
        assert_eq!(f.source, PathBuf::from(F));
        assert_eq!(f.file_pattern, "/var/log/app/*.log");
        assert_eq!(f.directory, PathBuf::from("/var/log/app"));
        assert_eq!(f.file_glob, "*.log");
        assert!(f.file_matcher.is_match("x.log"));
        assert_eq!(f.destination, Destination::KinesisStream("s".into()));
        assert!(!f.is_firehose());
        assert_eq!(f.partition_key_option, PartitionKeyOption::Random);
        assert_eq!(f.initial_position, InitialPosition::EndOfFile);
        assert_eq!(f.max_buffer_age_millis, 60_000);
        assert_eq!(f.max_buffer_size_records, 500);
        assert_eq!(f.max_buffer_size_bytes, 5_242_880);
        assert_eq!(f.max_record_size_bytes, 1_048_576);
        assert_eq!(f.multi_line_start_pattern, None);
        assert_eq!(f.skip_header_lines, 0);
        assert_eq!(f.truncated_record_terminator, "\n");
        assert_eq!(f.file_footer_pattern, None);
        assert!(f.data_processing_options.is_empty());
        assert_eq!(f.aggregated_record_size_bytes, 0);
        assert_eq!(f.min_time_between_file_polls_millis, 100);
        assert_eq!(f.max_time_between_file_tracker_refresh_millis, 10_000);
        assert_eq!(f.retry_initial_backoff_millis, 100);
        assert_eq!(f.retry_max_backoff_millis, 10_000);
        assert_eq!(f.publish_queue_capacity, 100);
        assert_eq!(f.wait_on_full_publish_queue_millis, 60_000);
        assert_eq!(f.wait_on_empty_publish_queue_millis, 60_000);
        assert!(!f.log_emit_internal_metrics);
        assert_eq!(f.multi_line_flush_millis, 1_000);
    }

    #[test]
    fn firehose_defaults() {
        let f = ok(firehose(json!({})));
        assert_eq!(f.id, "fh:d:/var/log/app/*.log");
        assert!(f.is_firehose());
        assert_eq!(f.destination, Destination::DeliveryStream("d".into()));
        assert_eq!(f.max_buffer_size_bytes, 4_194_304);
        assert_eq!(f.max_record_size_bytes, 1_024_000);
        assert_eq!(f.max_buffer_size_records, 500);
        assert_eq!(f.aggregated_record_size_bytes, 0);
        assert_eq!(f.max_buffer_age_millis, 60_000);
        assert_eq!(f.publish_queue_capacity, 100);
    }

    #[test]
    fn log_emit_internal_metrics_inherits_agent_value() {
        let (f, _) = run(kinesis(json!({})), true).unwrap();
        assert!(f.log_emit_internal_metrics);
        let (f, _) = run(kinesis(json!({"log.emitInternalMetrics": "no"})), true).unwrap();
        assert!(!f.log_emit_internal_metrics);
        let (f, _) = run(kinesis(json!({"log.emitInternalMetrics": "y"})), false).unwrap();
        assert!(f.log_emit_internal_metrics);
    }

    fn check_range(make: fn(Value) -> Value, key: &str, lo: i64, hi: i64) {
        for v in [lo, hi] {
            let f = ok(make(json!({ key: v })));
            let got = f.resolved_json()[key].as_i64();
            assert_eq!(got, Some(v), "{key}={v}");
            ok(make(json!({ key: v.to_string() })));
        }
        for v in [lo - 1, hi + 1] {
            let e = err(make(json!({ key: v })));
            if v > i64::from(i32::MAX) {
                // Past the Java int domain the conversion itself fails, as in Java.
                assert!(
                    e.ends_with(&format!(
                        "Failed to convert value ({v}) to desired type (int): {key}"
                    )),
                    "{e}"
                );
                continue;
            }
            assert_eq!(
                e,
                format!("{F}: flows[0].{key}: '{key}' value {v} is outside of valid range ([{lo}, {hi}])")
            );
        }
    }

    #[test]
    fn range_boundaries() {
        check_range(kinesis, "maxBufferAgeMillis", 1000, 900_000);
        check_range(firehose, "maxBufferAgeMillis", 1000, 900_000);
        check_range(kinesis, "maxBufferSizeRecords", 1, 500);
        check_range(firehose, "maxBufferSizeRecords", 1, 500);
        check_range(kinesis, "maxBufferSizeBytes", 1, 5_242_880);
        check_range(firehose, "maxBufferSizeBytes", 1, 4_194_304);
        check_range(firehose, "aggregatedRecordSizeBytes", 0, 1_024_000);
        check_range(kinesis, "waitOnFullPublishQueueMillis", 1000, 900_000);
        check_range(kinesis, "waitOnEmptyPublishQueueMillis", 1000, 900_000);
        check_range(kinesis, "multiLineFlushMillis", 1, 3_600_000);
        check_range(kinesis, "skipHeaderLines", 0, i64::from(i32::MAX));
        check_range(kinesis, "publishQueueCapacity", 1, i64::from(i32::MAX));
    }

    #[test]
    fn unvalidated_java_longs_only_reject_negatives() {
        for key in [
            "minTimeBetweenFilePollsMillis",
            "maxTimeBetweenFileTrackerRefreshMillis",
            "retryInitialBackoffMillis",
            "retryMaxBackoffMillis",
        ] {
            assert_eq!(
                ok(kinesis(json!({ key: 0 }))).resolved_json()[key],
                json!(0)
            );
            assert_eq!(
                ok(kinesis(json!({ key: "123456789012" }))).resolved_json()[key],
                json!(123_456_789_012u64)
            );
            assert!(err(kinesis(json!({ key: -1 })))
                .contains("outside of valid range ([0, 9223372036854775807])"));
        }
    }

    #[test]
    fn bad_values_name_file_and_key() {
        assert_eq!(
            err(kinesis(json!({"maxBufferSizeRecords": "lots"}))),
            format!("{F}: flows[0].maxBufferSizeRecords: Failed to convert value (lots) to desired type (int): maxBufferSizeRecords")
        );
        assert_eq!(
            err(kinesis(json!({"initialPosition": "start_of_file"}))),
            format!("{F}: flows[0].initialPosition: Value(start_of_file) is not legally accepted by key: initialPosition. Legal values are START_OF_FILE,END_OF_FILE")
        );
        assert_eq!(
            err(kinesis(json!({"partitionKeyOption": "random"}))),
            format!("{F}: flows[0].partitionKeyOption: Value(random) is not legally accepted by key: partitionKeyOption. Legal values are RANDOM,DETERMINISTIC")
        );
        assert!(err(kinesis(json!({"log.emitInternalMetrics": "sure"})))
            .ends_with("Cannot convert value to boolean: sure"));
    }

    #[test]
    fn enums_read() {
        let f = ok(kinesis(
            json!({"initialPosition": "START_OF_FILE", "partitionKeyOption": "DETERMINISTIC"}),
        ));
        assert_eq!(f.initial_position, InitialPosition::StartOfFile);
        assert_eq!(f.partition_key_option, PartitionKeyOption::Deterministic);
    }

    #[test]
    fn destination_rules() {
        assert_eq!(
            err(json!({"filePattern": "/a/b"})),
            format!("{F}: flows[0]: Could not create flow from the given configuration. Could not recognize flow type.")
        );
        assert!(err(json!({"filePattern": "/a/b", "kinesisStream": ""}))
            .contains("Could not recognize flow type"));
        let f = ok(json!({"filePattern": "/a/b", "kinesisStream": "k", "deliveryStream": "d"}));
        assert_eq!(f.destination, Destination::DeliveryStream("d".into()));
        assert_eq!(f.id, "fh:d:/a/b");
        let f = ok(json!({"filePattern": "/a/b", "kinesisStream": "k", "deliveryStream": null}));
        assert_eq!(f.id, "kinesis:k:/a/b");
    }

    #[test]
    fn file_pattern_rules() {
        assert_eq!(
            err(json!({"kinesisStream": "s"})),
            format!("{F}: flows[0].filePattern: Required configuration value missing: filePattern")
        );
        assert!(err(json!({"kinesisStream": "s", "filePattern": ""}))
            .contains("Required configuration value missing"));
        assert_eq!(
            err(kinesis(json!({"filePattern": "/var/log/"}))),
            format!("{F}: flows[0].filePattern: File name component is empty!")
        );
        assert!(
            err(kinesis(json!({"filePattern": "/var/*/x.log"}))).starts_with(&format!(
                "{F}: flows[0].filePattern: globs are allowed only in the file name"
            ))
        );
        let f = ok(kinesis(json!({"filePattern": "/var//log///app.log"})));
        assert_eq!(f.id, "kinesis:s:/var/log/app.log");
        assert_eq!(f.file_pattern, "/var//log///app.log");
        let f = ok(kinesis(json!({"filePattern": "/app.log"})));
        assert_eq!(f.id, "kinesis:s://app.log");
        let f = ok(kinesis(json!({"filePattern": "rel/app.log"})));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(f.directory, cwd.join("rel"));
        assert!(f.directory.is_absolute());
    }

    #[test]
    fn terminator_rules() {
        assert_eq!(
            ok(kinesis(json!({"truncatedRecordTerminator": "..."}))).truncated_record_terminator,
            "..."
        );
        assert_eq!(
            ok(kinesis(json!({"truncatedRecordTerminator": ""}))).truncated_record_terminator,
            "\n"
        );
        let big = "x".repeat(1_024_000);
        assert!(err(firehose(json!({"truncatedRecordTerminator": big.clone()})))
            .ends_with("truncatedRecordTerminator: Record terminator not specified or exceeds the maximum record size"));
        ok(kinesis(json!({"truncatedRecordTerminator": big})));
    }

    #[test]
    fn kinesis_ignores_aggregation_and_firehose_ignores_partition_key() {
        let (f, unknown) = run(
            kinesis(json!({"aggregatedRecordSizeBytes": "garbage"})),
            false,
        )
        .unwrap();
        assert_eq!(f.aggregated_record_size_bytes, 0);
        assert!(unknown.is_empty());
        let (f, unknown) = run(firehose(json!({"partitionKeyOption": "nonsense"})), false).unwrap();
        assert_eq!(f.partition_key_option, PartitionKeyOption::Random);
        assert!(unknown.is_empty());
        assert_eq!(
            ok(firehose(json!({"aggregatedRecordSizeBytes": 1000}))).aggregated_record_size_bytes,
            1000
        );
    }

    #[test]
    fn strings_and_processing_options() {
        let f = ok(kinesis(json!({
            "multiLineStartPattern": "^\\d",
            "fileFooterPattern": "END",
            "dataProcessingOptions": [
                {"optionName": "SINGLELINE"},
                {"optionName": "CSVTOJSON", "customFieldNames": ["a"], "jsonFormat": "PRETTYPRINT"}
            ]
        })));
        assert_eq!(f.multi_line_start_pattern.as_deref(), Some("^\\d"));
        assert_eq!(f.file_footer_pattern.as_deref(), Some("END"));
        assert_eq!(f.data_processing_options.len(), 2);
        assert!(matches!(
            &f.data_processing_options[1],
            ProcessingOption::CsvToJson {
                json_format: JsonFormat::PrettyPrint,
                ..
            }
        ));
        assert_eq!(
            ok(kinesis(json!({"multiLineStartPattern": ""}))).multi_line_start_pattern,
            None
        );
        let e = err(kinesis(
            json!({"dataProcessingOptions": [{"optionName": "SINGLELINE"}, {"optionName": "CSVTOJSON"}]}),
        ));
        assert_eq!(
            e,
            format!("{F}: flows[0].dataProcessingOptions[1].customFieldNames: Required list missing: customFieldNames")
        );
        assert!(err(kinesis(
            json!({"dataProcessingOptions": {"optionName": "SINGLELINE"}})
        ))
        .contains("expected a list of objects"));
    }

    #[test]
    fn unknown_keys_in_flow_and_options() {
        let (_, unknown) = run(
            kinesis(json!({"initialPostion": "START_OF_FILE", "dataProcessingOptions": [{"optionName": "SINGLELINE", "parseOption": ["NO_TRIM"]}]})),
            false,
        )
        .unwrap();
        assert_eq!(
            unknown,
            vec![
                format!("{F}: flows[0].dataProcessingOptions[0].parseOption"),
                format!("{F}: flows[0].initialPostion"),
            ]
        );
    }

    #[test]
    fn resolved_json_has_every_key() {
        let j = ok(kinesis(json!({}))).resolved_json();
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            vec![
                "id",
                "filePattern",
                "kinesisStream",
                "partitionKeyOption",
                "initialPosition",
                "maxBufferAgeMillis",
                "maxBufferSizeRecords",
                "maxBufferSizeBytes",
                "multiLineStartPattern",
                "skipHeaderLines",
                "truncatedRecordTerminator",
                "fileFooterPattern",
                "dataProcessingOptions",
                "minTimeBetweenFilePollsMillis",
                "maxTimeBetweenFileTrackerRefreshMillis",
                "retryInitialBackoffMillis",
                "retryMaxBackoffMillis",
                "publishQueueCapacity",
                "waitOnFullPublishQueueMillis",
                "waitOnEmptyPublishQueueMillis",
                "log.emitInternalMetrics",
                "multiLineFlushMillis",
            ]
        );
        assert_eq!(j["partitionKeyOption"], json!("RANDOM"));
        assert_eq!(j["initialPosition"], json!("END_OF_FILE"));
        let j = ok(firehose(json!({"dataProcessingOptions": [{"optionName": "SINGLELINE", "parseOptions": ["NO_TRIM"]}]}))).resolved_json();
        assert_eq!(j["deliveryStream"], json!("d"));
        assert_eq!(j["aggregatedRecordSizeBytes"], json!(0));
        assert!(j.get("partitionKeyOption").is_none());
        assert_eq!(
            j["dataProcessingOptions"],
            json!([{"optionName": "SINGLELINE", "noTrim": true, "escapeNewLine": false}])
        );
    }

    #[test]
    fn enums_serialize_with_java_spellings() {
        assert_eq!(
            serde_json::to_value(Destination::KinesisStream("s".into())).unwrap(),
            json!({"kinesisStream": "s"})
        );
        assert_eq!(
            serde_json::to_value(Destination::DeliveryStream("d".into())).unwrap(),
            json!({"deliveryStream": "d"})
        );
        assert_eq!(
            serde_json::to_value(PartitionKeyOption::Deterministic).unwrap(),
            json!("DETERMINISTIC")
        );
        assert_eq!(
            serde_json::to_value(InitialPosition::StartOfFile).unwrap(),
            json!("START_OF_FILE")
        );
    }
}
