use super::*;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

const F: &str = "/etc/kinetail/agent.json";

fn ok(text: &str) -> AgentConfig {
    match parse_str(Path::new(F), text) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn err(text: &str) -> String {
    match parse_str(Path::new(F), text) {
        Ok(c) => panic!("accepted {c:?}"),
        Err(e) => e.to_string(),
    }
}

/// `tst/config/agentconfig1.json` of the Java agent, verbatim in shape.
const AGENTCONFIG1: &str = r#"{
  "log.level": "ERROR",
  "log.file": "/tmp/agent-test.log",
  "log.maxBackupIndex": 12,
  "log.maxFileSize": 1234,
  "maxConnections": 1,
  "connectionTimeoutMillis": 12,
  "connectionTTLMillis": 123,
  "socketTimeoutMillis": 1234,
  "useHttpGzip": true,
  "useTcpKeepAlive": true,
  "checkpointFile": "/var/run/aws-kinesis-agent/checkpoints",
  "maxSendingThreads": 8,
  /*
   * Flag for emitting Cloudwatch Metrics.
   */
  "cloudwatch.emitMetrics": false,
  "cloudwatch.metricsBufferTimeMillis": 25,
  "cloudwatch.metricsQueueSize": 100,
  "log.emitInternalMetrics": true,
  "log.statusReportingPeriodSeconds": 12,
  "firehose.endpoint": "https://firehose.us-east-1.amazonaws.com",
  "kinesis.endpoint": "",
  "sendingThreadsKeepAliveMillis": 123000,
  "sendingThreadsMaxQueueSize": "21",
  "maxSendingThreadsPerCore": 1,
  "awsAccessKeyId": "ACCESS_ID",
  "awsSecretAccessKey": "SECRET_KEY",
  "flows": [
    {
      "maxBufferAgeMillis": 10000,
      // A glob of the files that need to be watched by this agent.
      "filePattern": "/var/log/prefix1*",
      "deliveryStream": "fh1"
    },
    {
      "filePattern": "/prefix2*",
      "deliveryStream": "fh2"
    }
  ]
}
"#;

#[test]
fn java_agentconfig1() {
    let c = ok(AGENTCONFIG1);
    assert_eq!(c.aws_access_key_id.as_deref(), Some("ACCESS_ID"));
    assert_eq!(
        c.aws_secret_access_key.as_ref().map(Secret::expose),
        Some("SECRET_KEY")
    );
    assert!(!c.cloudwatch_emit_metrics);
    assert_eq!(c.cloudwatch_metrics_buffer_time_millis, 25);
    assert_eq!(c.cloudwatch_metrics_queue_size, 100);
    assert!(c.log_emit_internal_metrics);
    assert_eq!(c.log_status_reporting_period_seconds, 12);
    assert_eq!(c.sending_threads_keep_alive_millis, 123_000);
    assert_eq!(c.sending_threads_max_queue_size, 21);
    assert_eq!(c.max_sending_threads_per_core, 1);
    assert_eq!(c.max_sending_threads, 8);
    assert_eq!(c.max_connections, 1);
    assert_eq!(c.connection_timeout_millis, 12);
    assert_eq!(c.connection_ttl_millis, 123);
    assert_eq!(c.socket_timeout_millis, 1234);
    assert!(c.use_http_gzip);
    assert!(c.use_tcp_keep_alive);
    assert_eq!(
        c.checkpoint_file,
        PathBuf::from("/var/run/aws-kinesis-agent/checkpoints")
    );
    assert_eq!(
        c.firehose_endpoint.as_deref(),
        Some("https://firehose.us-east-1.amazonaws.com")
    );
    assert_eq!(c.kinesis_endpoint, None);
    assert_eq!(c.cloudwatch_endpoint, None);
    assert_eq!(
        c.unknown_keys,
        vec![
            format!("{F}: log.level"),
            format!("{F}: log.file"),
            format!("{F}: log.maxBackupIndex"),
            format!("{F}: log.maxFileSize"),
        ]
    );
    let ids: Vec<&str> = c.flows.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, vec!["fh:fh1:/var/log/prefix1*", "fh:fh2://prefix2*"]);
    assert_eq!(c.flows[0].max_buffer_age_millis, 10_000);
    assert!(
        c.flows[0].log_emit_internal_metrics,
        "inherited from the agent key"
    );
}

#[test]
fn syntax_error_has_file_line_and_column() {
    let e = err("{\n  // comment\n  \"flows\": [\n    {\"filePattern\": \"/a/b\",, }\n  ]\n}");
    assert!(e.starts_with(&format!("{F}:4:28: invalid JSON: ")), "{e}");
    let e = err("{\"flows\": [");
    assert!(
        e.starts_with(&format!("{F}:1:11: invalid JSON: EOF while parsing")),
        "{e}"
    );
}

#[test]
fn no_flows() {
    assert_eq!(
        err("{}"),
        format!("{F}: flows: There are no flows configured in configuration file.")
    );
    assert_eq!(
        err(r#"{"flows": []}"#),
        format!("{F}: flows: There are no flows configured in configuration file.")
    );
    assert_eq!(
        err(r#"{"flows": null}"#),
        format!("{F}: flows: There are no flows configured in configuration file.")
    );
    assert_eq!(
        err(r#"{"flows": {}}"#),
        format!("{F}: flows: expected a list of objects, found an object")
    );
}

#[test]
fn duplicate_flow_ids() {
    let e = err(r#"{"flows": [
                {"filePattern": "/var/log/a.log", "kinesisStream": "s"},
                {"filePattern": "/var//log/a.log", "kinesisStream": "s", "initialPosition": "START_OF_FILE"}
            ]}"#);
    assert_eq!(
            e,
            format!("{F}: flows[1]: Duplicate flow: kinesis:s:/var/log/a.log (first defined in {F}: flows[0])")
        );
}

#[test]
fn same_pattern_different_destinations_allowed() {
    let c = ok(r#"{"flows": [
                {"filePattern": "/var/log/a.log", "kinesisStream": "s1"},
                {"filePattern": "/var/log/a.log", "kinesisStream": "s2"},
                {"filePattern": "/var/log/a.log", "deliveryStream": "s1"}
            ]}"#);
    let ids: Vec<&str> = c.flows.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "kinesis:s1:/var/log/a.log",
            "kinesis:s2:/var/log/a.log",
            "fh:s1:/var/log/a.log"
        ]
    );
}

#[test]
fn errors_carry_flow_index() {
    assert_eq!(
            err(r#"{"flows": [
                {"filePattern": "/a/1", "kinesisStream": "s"},
                {"filePattern": "/a/2", "kinesisStream": "s", "maxBufferSizeRecords": 501}
            ]}"#),
            format!("{F}: flows[1].maxBufferSizeRecords: 'maxBufferSizeRecords' value 501 is outside of valid range ([1, 500])")
        );
    assert_eq!(
        err(r#"{"flows": [{"filePattern": "/a/1", "kinesisStream": "s"}, "oops"]}"#),
        format!("{F}: flows[1]: expected an object, found a string")
    );
}

#[test]
fn unknown_keys_everywhere_in_document_order() {
    let c = ok(r#"{
            "cloudwatch": {"emitMetrics": false},
            "flows": [{
                "filePattern": "/a/*.log", "kinesisStream": "s", "initialPostion": "START_OF_FILE",
                "dataProcessingOptions": [{"optionName": "CSVTOJSON", "customFieldNames": ["a"], "delimeter": ";"}]
            }],
            "checkpointFIle": "/x"
        }"#);
    assert!(c.cloudwatch_emit_metrics);
    assert_eq!(
        c.unknown_keys,
        vec![
            format!("{F}: cloudwatch"),
            format!("{F}: checkpointFIle"),
            format!("{F}: flows[0].dataProcessingOptions[0].delimeter"),
            format!("{F}: flows[0].initialPostion"),
        ]
    );
    assert_eq!(c.flows[0].initial_position, InitialPosition::EndOfFile);
}

#[test]
fn resolved_json_combines_agent_and_flows() {
    let c = ok(
        r#"{"awsSecretAccessKey": "topsecret", "flows": [{"filePattern": "/a/*.log", "kinesisStream": "s"}]}"#,
    );
    let j = c.resolved_json();
    assert_eq!(j["awsSecretAccessKey"], serde_json::json!("****"));
    assert_eq!(j["maxSendingThreadsPerCore"], serde_json::json!(12));
    assert_eq!(j["flows"][0]["id"], serde_json::json!("kinesis:s:/a/*.log"));
    assert_eq!(
        j["flows"][0]["maxBufferSizeBytes"],
        serde_json::json!(5_242_880)
    );
    assert_eq!(
        j["flows"][0]["multiLineFlushMillis"],
        serde_json::json!(1000)
    );
    assert!(!j.to_string().contains("topsecret"));
    assert!(!format!("{c:?}").contains("topsecret"));
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = parse_str(Path::new(F), &text);
    }

    #[test]
    fn arbitrary_flow_values_never_panic(
        key in proptest::sample::select(vec![
            "filePattern", "kinesisStream", "deliveryStream", "maxBufferSizeBytes", "initialPosition",
            "truncatedRecordTerminator", "dataProcessingOptions", "skipHeaderLines", "log.emitInternalMetrics",
        ]),
        value in proptest::prop_oneof![
            proptest::prelude::any::<i64>().prop_map(serde_json::Value::from),
            proptest::prelude::any::<f64>().prop_map(serde_json::Value::from),
            ".{0,20}".prop_map(serde_json::Value::from),
            proptest::prelude::any::<bool>().prop_map(serde_json::Value::from),
            proptest::strategy::Just(serde_json::json!([{"optionName": "LOGTOJSON"}])),
        ],
    ) {
        let mut flow = serde_json::json!({"filePattern": "/a/b", "kinesisStream": "s"});
        flow[key] = value;
        let doc = serde_json::json!({"flows": [flow]}).to_string();
        let _ = parse_str(Path::new(F), &doc);
    }
}
