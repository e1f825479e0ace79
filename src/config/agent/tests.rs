use super::*;
use serde_json::{json, Map};
use std::path::Path;

const F: &str = "/etc/kinetail/agent.json";

fn run(v: Value) -> Result<(AgentConfig, Vec<String>), String> {
    let map = match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut sec = Section::root(Path::new(F), &map);
    let cfg = parse(&mut sec).map_err(|e| e.to_string())?;
    Ok((cfg, sec.unknown_keys()))
}

fn ok(v: Value) -> AgentConfig {
    match run(v) {
        Ok((c, _)) => c,
        Err(e) => panic!("{e}"),
    }
}

fn err(v: Value) -> String {
    match run(v) {
        Ok((c, _)) => panic!("accepted {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn every_default() {
    let c = ok(json!({}));
    assert_eq!(c.source, PathBuf::from(F));
    assert_eq!(c.aws_access_key_id, None);
    assert_eq!(c.aws_secret_access_key, None);
    assert_eq!(c.assume_role_arn, None);
    assert_eq!(c.assume_role_duration_seconds, 3600);
    assert_eq!(c.assume_role_external_id, None);
    assert_eq!(c.sts_endpoint, None);
    assert_eq!(c.user_defined_credentials_provider_classname, None);
    assert_eq!(c.user_defined_credentials_provider_location, None);
    assert_eq!(c.kinesis_endpoint, None);
    assert_eq!(c.kinesis_region, None);
    assert_eq!(c.firehose_endpoint, None);
    assert_eq!(c.cloudwatch_endpoint, None);
    assert!(c.cloudwatch_emit_metrics);
    assert_eq!(c.cloudwatch_namespace, "AWSKinesisAgent");
    assert!(!c.cloudwatch_tag_instance);
    assert_eq!(c.cloudwatch_metrics_buffer_time_millis, 30_000);
    assert_eq!(c.cloudwatch_metrics_queue_size, 10_000);
    assert!(!c.log_emit_metrics);
    assert!(!c.log_emit_internal_metrics);
    assert_eq!(c.log_status_reporting_period_seconds, 30);
    assert_eq!(
        c.checkpoint_file,
        PathBuf::from("/var/lib/kinetail/checkpoints")
    );
    assert_eq!(c.checkpoint_ttl_days, 7);
    assert_eq!(c.checkpoints_query_timeout_seconds, 30);
    assert_eq!(c.checkpoints_connection_timeout_seconds, 5);
    assert_eq!(c.shutdown_timeout_millis, 10_000);
    assert_eq!(c.max_sending_threads_per_core, 12);
    assert_eq!(c.sending_threads_keep_alive_millis, 60_000);
    assert_eq!(c.sending_threads_max_queue_size, 100);
    assert_eq!(c.connection_timeout_millis, 10_000);
    assert_eq!(c.socket_timeout_millis, 50_000);
    assert_eq!(c.connection_ttl_millis, -1);
    assert!(!c.use_tcp_keep_alive);
    assert!(!c.use_http_gzip);
    assert_eq!(c.user_agent, None);
    assert_eq!(c.user_agent_override, None);
}

#[test]
fn default_max_sending_threads_and_connections() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let c = ok(json!({}));
    assert_eq!(c.max_sending_threads, (12 * cores).max(2));
    assert_eq!(c.max_connections, c.max_sending_threads.max(50));
    let c = ok(json!({"maxSendingThreadsPerCore": 0}));
    assert_eq!(c.max_sending_threads, 2);
    assert_eq!(c.max_connections, 50);
    let c = ok(json!({"maxSendingThreads": 100}));
    assert_eq!(c.max_connections, 100);
    let c = ok(json!({"maxSendingThreads": 10}));
    assert_eq!(c.max_connections, 50);
    let c = ok(json!({"maxSendingThreads": 10, "maxConnections": 3}));
    assert_eq!(c.max_connections, 3);
    assert_eq!(default_max_sending_threads(u32::MAX), INT_MAX);
}

#[test]
fn flat_dotted_keys_only() {
    let (c, unknown) =
        run(json!({"cloudwatch": {"emitMetrics": false}, "cloudwatch.namespace": "X"})).unwrap();
    assert!(c.cloudwatch_emit_metrics);
    assert_eq!(c.cloudwatch_namespace, "X");
    assert_eq!(unknown, vec![format!("{F}: cloudwatch")]);
    assert!(!ok(json!({"cloudwatch.emitMetrics": false})).cloudwatch_emit_metrics);
}

#[test]
fn empty_and_null_mean_default() {
    let c = ok(
        json!({"kinesis.endpoint": "", "cloudwatch.namespace": null, "maxConnections": "", "useHttpGzip": null, "checkpointFile": ""}),
    );
    assert_eq!(c.kinesis_endpoint, None);
    assert_eq!(c.cloudwatch_namespace, "AWSKinesisAgent");
    assert_eq!(c.max_connections, c.max_sending_threads.max(50));
    assert!(!c.use_http_gzip);
    assert_eq!(c.checkpoint_file, PathBuf::from(DEFAULT_CHECKPOINT_FILE));
}

#[test]
fn legacy_log_keys_are_unknown() {
    let (_, unknown) =
            run(json!({"log.level": "ERROR", "log.file": "/tmp/x", "log.maxBackupIndex": 12, "log.maxFileSize": 1234})).unwrap();
    assert_eq!(
        unknown,
        vec![
            format!("{F}: log.level"),
            format!("{F}: log.file"),
            format!("{F}: log.maxBackupIndex"),
            format!("{F}: log.maxFileSize"),
        ]
    );
}

#[test]
fn errors_name_file_and_key() {
    assert_eq!(
            err(json!({"sendingThreadsMaxQueueSize": "21.5"})),
            format!("{F}: sendingThreadsMaxQueueSize: Failed to convert value (21.5) to desired type (int): sendingThreadsMaxQueueSize")
        );
    assert_eq!(
        err(json!({"cloudwatch.emitMetrics": "nope"})),
        format!("{F}: cloudwatch.emitMetrics: Cannot convert value to boolean: nope")
    );
    assert_eq!(
            err(json!({"maxSendingThreads": 0})),
            format!("{F}: maxSendingThreads: 'maxSendingThreads' value 0 is outside of valid range ([1, 2147483647])")
        );
    assert!(err(json!({"log.statusReportingPeriodSeconds": 0})).contains("outside of valid range"));
    assert!(err(json!({"shutdownTimeoutMillis": -5})).contains("outside of valid range"));
    assert!(err(json!({"kinesis.region": ["us-east-1"]}))
        .contains("to desired type (string): kinesis.region"));
}

#[test]
fn connection_ttl_accepts_negative() {
    assert_eq!(
        ok(json!({"connectionTTLMillis": "-1"})).connection_ttl_millis,
        -1
    );
    assert_eq!(
        ok(json!({"connectionTTLMillis": 123})).connection_ttl_millis,
        123
    );
}

#[test]
fn secret_is_masked() {
    let c = ok(json!({"awsAccessKeyId": "AKIDEXAMPLE", "awsSecretAccessKey": "wJalrXUtnFEMI"}));
    assert_eq!(
        c.aws_secret_access_key.as_ref().map(Secret::expose),
        Some("wJalrXUtnFEMI")
    );
    let debug = format!("{c:?}");
    assert!(!debug.contains("wJalrXUtnFEMI"), "{debug}");
    assert!(debug.contains("AKIDEXAMPLE"));
    let j = c.resolved_json();
    assert_eq!(j["awsSecretAccessKey"], json!("****"));
    assert_eq!(j["awsAccessKeyId"], json!("AKIDEXAMPLE"));
    assert!(!j.to_string().contains("wJalrXUtnFEMI"));
    assert_eq!(
        ok(json!({})).resolved_json()["awsSecretAccessKey"],
        Value::Null
    );
    assert_eq!(format!("{:?}", Secret::new("x")), "\"****\"");
}

#[test]
fn resolved_json_lists_every_agent_key_with_defaults() {
    let j = ok(json!({})).resolved_json();
    let obj = j.as_object().unwrap();
    assert_eq!(obj.len(), 43);
    assert_eq!(j["cloudwatch.namespace"], json!("AWSKinesisAgent"));
    assert_eq!(j["maxOpenFiles"], json!(0));
    assert_eq!(j["rotatedFileCloseMillis"], json!(5000));
    assert_eq!(j["status.port"], json!(0));
    assert_eq!(j["status.unhealthyAfterMillis"], json!(300000));
    assert_eq!(j["checkpointFile"], json!("/var/lib/kinetail/checkpoints"));
    assert_eq!(j["connectionTTLMillis"], json!(-1));
    assert_eq!(j["kinesis.endpoint"], Value::Null);
    assert_eq!(j["flows"], json!([]));
}
