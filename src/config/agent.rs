//! Agent-level keys (`AgentConfiguration.java`).

use std::path::PathBuf;

use serde_json::{json, Map, Value};

use super::error::ConfigError;
use super::flow::FlowConfig;
use super::reader::Section;

/// kinetail's checkpoint database; the Java default under `/var/run` is a tmpfs and loses checkpoints at reboot.
pub const DEFAULT_CHECKPOINT_FILE: &str = "/var/lib/kinetail/checkpoints";
/// `ClientConfiguration.DEFAULT_MAX_CONNECTIONS` of the AWS SDK for Java v1.
const SDK_DEFAULT_MAX_CONNECTIONS: u32 = 50;
const INT_MAX: u32 = i32::MAX as u32;
const LONG_MAX: u64 = i64::MAX as u64;

/// A secret string that never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for handing to the credentials provider only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"****\"")
    }
}

/// The whole validated configuration: agent keys, merged flows and the unknown keys seen.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The main configuration file.
    pub source: PathBuf,
    /// The `agent.d` files whose flows were merged, in merge order.
    pub agent_d_files: Vec<PathBuf>,
    /// Every flow: the main file's first, then each `agent.d` file's.
    pub flows: Vec<FlowConfig>,
    /// Keys the Java agent would silently ignore, as `"<file>: <key path>"`.
    pub unknown_keys: Vec<String>,
    /// `awsAccessKeyId`.
    pub aws_access_key_id: Option<String>,
    /// `awsSecretAccessKey` (masked in `Debug` and `resolved_json`).
    pub aws_secret_access_key: Option<Secret>,
    /// `assumeRoleARN`.
    pub assume_role_arn: Option<String>,
    /// `assumeRoleExternalId`.
    pub assume_role_external_id: Option<String>,
    /// `sts.endpoint`.
    pub sts_endpoint: Option<String>,
    /// `userDefinedCredentialsProvider.classname`.
    pub user_defined_credentials_provider_classname: Option<String>,
    /// `userDefinedCredentialsProvider.location`.
    pub user_defined_credentials_provider_location: Option<String>,
    /// `kinesis.endpoint`.
    pub kinesis_endpoint: Option<String>,
    /// `kinesis.region`.
    pub kinesis_region: Option<String>,
    /// `firehose.endpoint`.
    pub firehose_endpoint: Option<String>,
    /// `cloudwatch.endpoint`.
    pub cloudwatch_endpoint: Option<String>,
    /// `cloudwatch.emitMetrics`.
    pub cloudwatch_emit_metrics: bool,
    /// `cloudwatch.namespace`.
    pub cloudwatch_namespace: String,
    /// `cloudwatch.tagInstance`.
    pub cloudwatch_tag_instance: bool,
    /// `cloudwatch.metricsBufferTimeMillis`.
    pub cloudwatch_metrics_buffer_time_millis: u64,
    /// `cloudwatch.metricsQueueSize`.
    pub cloudwatch_metrics_queue_size: u32,
    /// `log.emitMetrics`.
    pub log_emit_metrics: bool,
    /// `log.emitInternalMetrics`.
    pub log_emit_internal_metrics: bool,
    /// `log.statusReportingPeriodSeconds`.
    pub log_status_reporting_period_seconds: u32,
    /// `checkpointFile`.
    pub checkpoint_file: PathBuf,
    /// `checkpointTimeToLiveDays`.
    pub checkpoint_ttl_days: u32,
    /// `checkpoints.queryTimeoutSeconds`.
    pub checkpoints_query_timeout_seconds: u32,
    /// `checkpoints.connectionTimeoutSeconds`.
    pub checkpoints_connection_timeout_seconds: u32,
    /// `shutdownTimeoutMillis`.
    pub shutdown_timeout_millis: u64,
    /// `maxSendingThreadsPerCore`.
    pub max_sending_threads_per_core: u32,
    /// `maxSendingThreads`, resolved (default `max(2, perCore × cores)`).
    pub max_sending_threads: u32,
    /// `sendingThreadsKeepAliveMillis`.
    pub sending_threads_keep_alive_millis: u64,
    /// `sendingThreadsMaxQueueSize`.
    pub sending_threads_max_queue_size: u32,
    /// `maxConnections`, resolved (default `max(50, maxSendingThreads)`).
    pub max_connections: u32,
    /// `connectionTimeoutMillis`.
    pub connection_timeout_millis: u32,
    /// `socketTimeoutMillis`.
    pub socket_timeout_millis: u32,
    /// `connectionTTLMillis` (-1 = infinite).
    pub connection_ttl_millis: i64,
    /// `useTcpKeepAlive`.
    pub use_tcp_keep_alive: bool,
    /// `useHttpGzip`.
    pub use_http_gzip: bool,
    /// `userAgent` (prefix).
    pub user_agent: Option<String>,
    /// `userAgentOverride` (whole string).
    pub user_agent_override: Option<String>,
}

/// `AgentConfiguration.defaultMaxSendingThreads()`.
pub fn default_max_sending_threads(per_core: u32) -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cores = u32::try_from(cores).unwrap_or(u32::MAX);
    per_core.saturating_mul(cores).clamp(2, INT_MAX)
}

/// Reads every agent key from the top-level section; flows are added by the caller.
pub(crate) fn parse(sec: &mut Section<'_>) -> Result<AgentConfig, ConfigError> {
    let max_sending_threads_per_core = sec.int_in("maxSendingThreadsPerCore", 12, 0, INT_MAX)?;
    // Thread pools and bounded queues of size 0 make the Java constructors throw, so those start at 1.
    let max_sending_threads = sec.int_in(
        "maxSendingThreads",
        default_max_sending_threads(max_sending_threads_per_core),
        1,
        INT_MAX,
    )?;
    Ok(AgentConfig {
        source: sec.file().to_path_buf(),
        agent_d_files: Vec::new(),
        flows: Vec::new(),
        unknown_keys: Vec::new(),
        aws_access_key_id: sec.string("awsAccessKeyId")?,
        aws_secret_access_key: sec.string("awsSecretAccessKey")?.map(Secret),
        assume_role_arn: sec.string("assumeRoleARN")?,
        assume_role_external_id: sec.string("assumeRoleExternalId")?,
        sts_endpoint: sec.string("sts.endpoint")?,
        user_defined_credentials_provider_classname: sec
            .string("userDefinedCredentialsProvider.classname")?,
        user_defined_credentials_provider_location: sec
            .string("userDefinedCredentialsProvider.location")?,
        kinesis_endpoint: sec.string("kinesis.endpoint")?,
        kinesis_region: sec.string("kinesis.region")?,
        firehose_endpoint: sec.string("firehose.endpoint")?,
        cloudwatch_endpoint: sec.string("cloudwatch.endpoint")?,
        cloudwatch_emit_metrics: sec.boolean("cloudwatch.emitMetrics", true)?,
        cloudwatch_namespace: sec
            .string("cloudwatch.namespace")?
            .unwrap_or_else(|| "AWSKinesisAgent".to_string()),
        cloudwatch_tag_instance: sec.boolean("cloudwatch.tagInstance", false)?,
        cloudwatch_metrics_buffer_time_millis: sec.long_in(
            "cloudwatch.metricsBufferTimeMillis",
            30_000,
            0,
            LONG_MAX,
        )?,
        cloudwatch_metrics_queue_size: sec.int_in(
            "cloudwatch.metricsQueueSize",
            10_000,
            0,
            INT_MAX,
        )?,
        log_emit_metrics: sec.boolean("log.emitMetrics", false)?,
        log_emit_internal_metrics: sec.boolean("log.emitInternalMetrics", false)?,
        // scheduleAtFixedRate rejects a zero period.
        log_status_reporting_period_seconds: sec.int_in(
            "log.statusReportingPeriodSeconds",
            30,
            1,
            INT_MAX,
        )?,
        checkpoint_file: sec
            .string("checkpointFile")?
            .map_or_else(|| PathBuf::from(DEFAULT_CHECKPOINT_FILE), PathBuf::from),
        checkpoint_ttl_days: sec.int_in("checkpointTimeToLiveDays", 7, 0, INT_MAX)?,
        checkpoints_query_timeout_seconds: sec.int_in(
            "checkpoints.queryTimeoutSeconds",
            30,
            0,
            INT_MAX,
        )?,
        checkpoints_connection_timeout_seconds: sec.int_in(
            "checkpoints.connectionTimeoutSeconds",
            5,
            0,
            INT_MAX,
        )?,
        shutdown_timeout_millis: sec.long_in("shutdownTimeoutMillis", 10_000, 0, LONG_MAX)?,
        max_sending_threads_per_core,
        max_sending_threads,
        sending_threads_keep_alive_millis: sec.long_in(
            "sendingThreadsKeepAliveMillis",
            60_000,
            0,
            LONG_MAX,
        )?,
        sending_threads_max_queue_size: sec.int_in(
            "sendingThreadsMaxQueueSize",
            100,
            1,
            INT_MAX,
        )?,
        max_connections: sec.int_in(
            "maxConnections",
            max_sending_threads.max(SDK_DEFAULT_MAX_CONNECTIONS),
            1,
            INT_MAX,
        )?,
        connection_timeout_millis: sec.int_in("connectionTimeoutMillis", 10_000, 0, INT_MAX)?,
        socket_timeout_millis: sec.int_in("socketTimeoutMillis", 50_000, 0, INT_MAX)?,
        connection_ttl_millis: sec.long_any("connectionTTLMillis", -1)?,
        use_tcp_keep_alive: sec.boolean("useTcpKeepAlive", false)?,
        use_http_gzip: sec.boolean("useHttpGzip", false)?,
        user_agent: sec.string("userAgent")?,
        user_agent_override: sec.string("userAgentOverride")?,
    })
}

impl AgentConfig {
    /// Every agent key and every flow key by its Java name, defaults filled in, the secret key masked.
    pub fn resolved_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put("awsAccessKeyId", json!(self.aws_access_key_id));
        put(
            "awsSecretAccessKey",
            json!(self.aws_secret_access_key.as_ref().map(|_| "****")),
        );
        put("assumeRoleARN", json!(self.assume_role_arn));
        put("assumeRoleExternalId", json!(self.assume_role_external_id));
        put("sts.endpoint", json!(self.sts_endpoint));
        put(
            "userDefinedCredentialsProvider.classname",
            json!(self.user_defined_credentials_provider_classname),
        );
        put(
            "userDefinedCredentialsProvider.location",
            json!(self.user_defined_credentials_provider_location),
        );
        put("kinesis.endpoint", json!(self.kinesis_endpoint));
        put("kinesis.region", json!(self.kinesis_region));
        put("firehose.endpoint", json!(self.firehose_endpoint));
        put("cloudwatch.endpoint", json!(self.cloudwatch_endpoint));
        put(
            "cloudwatch.emitMetrics",
            json!(self.cloudwatch_emit_metrics),
        );
        put("cloudwatch.namespace", json!(self.cloudwatch_namespace));
        put(
            "cloudwatch.tagInstance",
            json!(self.cloudwatch_tag_instance),
        );
        put(
            "cloudwatch.metricsBufferTimeMillis",
            json!(self.cloudwatch_metrics_buffer_time_millis),
        );
        put(
            "cloudwatch.metricsQueueSize",
            json!(self.cloudwatch_metrics_queue_size),
        );
        put("log.emitMetrics", json!(self.log_emit_metrics));
        put(
            "log.emitInternalMetrics",
            json!(self.log_emit_internal_metrics),
        );
        put(
            "log.statusReportingPeriodSeconds",
            json!(self.log_status_reporting_period_seconds),
        );
        put(
            "checkpointFile",
            json!(self.checkpoint_file.to_string_lossy()),
        );
        put("checkpointTimeToLiveDays", json!(self.checkpoint_ttl_days));
        put(
            "checkpoints.queryTimeoutSeconds",
            json!(self.checkpoints_query_timeout_seconds),
        );
        put(
            "checkpoints.connectionTimeoutSeconds",
            json!(self.checkpoints_connection_timeout_seconds),
        );
        put("shutdownTimeoutMillis", json!(self.shutdown_timeout_millis));
        put("maxSendingThreads", json!(self.max_sending_threads));
        put(
            "maxSendingThreadsPerCore",
            json!(self.max_sending_threads_per_core),
        );
        put(
            "sendingThreadsKeepAliveMillis",
            json!(self.sending_threads_keep_alive_millis),
        );
        put(
            "sendingThreadsMaxQueueSize",
            json!(self.sending_threads_max_queue_size),
        );
        put("maxConnections", json!(self.max_connections));
        put(
            "connectionTimeoutMillis",
            json!(self.connection_timeout_millis),
        );
        put("socketTimeoutMillis", json!(self.socket_timeout_millis));
        put("connectionTTLMillis", json!(self.connection_ttl_millis));
        put("useTcpKeepAlive", json!(self.use_tcp_keep_alive));
        put("useHttpGzip", json!(self.use_http_gzip));
        put("userAgent", json!(self.user_agent));
        put("userAgentOverride", json!(self.user_agent_override));
        put(
            "flows",
            Value::Array(self.flows.iter().map(FlowConfig::resolved_json).collect()),
        );
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            run(json!({"cloudwatch": {"emitMetrics": false}, "cloudwatch.namespace": "X"}))
                .unwrap();
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
        assert!(
            err(json!({"log.statusReportingPeriodSeconds": 0})).contains("outside of valid range")
        );
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
        assert_eq!(obj.len(), 37);
        assert_eq!(j["cloudwatch.namespace"], json!("AWSKinesisAgent"));
        assert_eq!(j["checkpointFile"], json!("/var/lib/kinetail/checkpoints"));
        assert_eq!(j["connectionTTLMillis"], json!(-1));
        assert_eq!(j["kinesis.endpoint"], Value::Null);
        assert_eq!(j["flows"], json!([]));
    }
}
