use super::*;
use crate::config::options::JsonFormat;
use serde_json::{json, Map};
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
            format!(
                "{F}: flows[0].{key}: '{key}' value {v} is outside of valid range ([{lo}, {hi}])"
            )
        );
    }
}

#[test]
fn range_boundaries() {
    check_range(kinesis, "maxBufferAgeMillis", 1000, 900_000);
    check_range(firehose, "maxBufferAgeMillis", 1000, 900_000);
    check_range(kinesis, "maxBufferSizeRecords", 1, 500);
    check_range(firehose, "maxBufferSizeRecords", 1, 500);
    check_range(kinesis, "maxBufferSizeBytes", 1, 10_485_760);
    assert_eq!(ok(kinesis(json!({}))).max_buffer_size_bytes, 5_242_880);
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
    // Globs in the directory part (a kinetail extension; the Java agent finds no files).
    let f = ok(kinesis(json!({"filePattern": "/var/*/x.log"})));
    assert_eq!(f.id, "kinesis:s:/var/*/x.log");
    assert_eq!(
        (f.directory.as_path(), f.file_glob.as_str()),
        (std::path::Path::new("/var"), "*/x.log")
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
            "aggregation",
            "aggregationMaxSizeBytes",
            "shardWriteBytesPerSecond",
            "shardWriteRecordsPerSecond",
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
    assert!(j.get("aggregation").is_none());
    assert_eq!(
        j["dataProcessingOptions"],
        json!([{"optionName": "SINGLELINE", "noTrim": true, "escapeNewLine": false}])
    );
}

#[test]
fn kpl_aggregation_is_opt_in_for_streams_and_refused_for_firehose() {
    let f = ok(kinesis(json!({})));
    assert_eq!(
        (f.aggregation, f.aggregation_max_size_bytes),
        (AggregationOption::None, 51_200)
    );
    let f = ok(kinesis(
        json!({"aggregation": "KPL", "aggregationMaxSizeBytes": "1048576"}),
    ));
    assert_eq!(
        (f.aggregation, f.aggregation_max_size_bytes),
        (AggregationOption::Kpl, 1_048_576)
    );
    assert_eq!(
        ok(kinesis(json!({"aggregation": "KPL"}))).resolved_json()["aggregation"],
        json!("KPL")
    );
    let e = err(kinesis(json!({"aggregationMaxSizeBytes": 1_048_577})));
    assert!(e.contains("flows[0].aggregationMaxSizeBytes"), "{e}");
    let e = err(kinesis(json!({"aggregation": "ZIP"})));
    assert!(e.contains("flows[0].aggregation"), "{e}");
    let e = err(firehose(json!({"aggregation": "KPL"})));
    assert!(
        e.contains("flows[0].aggregation") && e.contains("Kinesis streams only"),
        "{e}"
    );
    assert_eq!(
        ok(firehose(json!({"aggregation": "NONE"}))).aggregation,
        AggregationOption::None
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
