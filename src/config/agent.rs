//! Agent-level keys (`AgentConfiguration.java`).

use std::borrow::Cow;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use super::error::ConfigError;
use super::flow::{FlowConfig, ResolvedFlow};
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
    /// `assumeRoleDurationSeconds` (kinetail; the Java agent's fixed 3600 by default).
    pub assume_role_duration_seconds: u32,
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
    /// `checkpointFile`: kinetail's own checkpoints (the default path when the configured file
    /// is the Java agent's SQLite database).
    pub checkpoint_file: PathBuf,
    /// `javaCheckpointFile` (kinetail): the Java agent's checkpoint database to import.
    pub java_checkpoint_file: Option<PathBuf>,
    /// The Java agent's SQLite checkpoint database, imported at the first start (see
    /// [`AgentConfig::find_java_checkpoints`]).
    pub java_checkpoint_db: Option<PathBuf>,
    /// `checkpointTimeToLiveDays`.
    pub checkpoint_ttl_days: u32,
    /// `checkpoints.queryTimeoutSeconds`.
    pub checkpoints_query_timeout_seconds: u32,
    /// `checkpoints.connectionTimeoutSeconds`.
    pub checkpoints_connection_timeout_seconds: u32,
    /// `shutdownTimeoutMillis`.
    pub shutdown_timeout_millis: u64,
    /// `maxOpenFiles` (kinetail): descriptors all flows' followed files may hold; 0 = three
    /// quarters of the open-file limit.
    pub max_open_files: u32,
    /// `rotatedFileCloseMillis` (kinetail): a rotated file read to its end and acknowledged is
    /// closed after this long without growing.
    pub rotated_file_close_millis: u64,
    /// `status.port` (kinetail): the local status endpoint (`/metrics`, `/health`) on
    /// 127.0.0.1 at this port; 0 = off.
    pub status_port: u16,
    /// `status.unhealthyAfterMillis` (kinetail): `/health` turns unhealthy when a flow has not
    /// been able to send for this long.
    pub status_unhealthy_after_millis: u64,
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
        // STS itself refuses what the role does not allow (900 s to its maximum, at most 12 h);
        // shorter sessions are accepted here for local test servers.
        assume_role_duration_seconds: sec.int_in("assumeRoleDurationSeconds", 3600, 1, 43_200)?,
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
        java_checkpoint_file: sec.string("javaCheckpointFile")?.map(PathBuf::from),
        java_checkpoint_db: None,
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
        max_open_files: sec.int_in("maxOpenFiles", 0, 0, INT_MAX)?,
        rotated_file_close_millis: sec.long_in("rotatedFileCloseMillis", 5_000, 0, LONG_MAX)?,
        status_port: sec.int_in("status.port", 0, 0, 65_535)? as u16,
        status_unhealthy_after_millis: sec.long_in(
            "status.unhealthyAfterMillis",
            300_000,
            1,
            LONG_MAX,
        )?,
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
        serde_json::to_value(Resolved::of(self))
            .expect("the resolved configuration has only string map keys")
    }
}

/// `check`'s view of the agent keys: Java names in the Java agent's order, the secret masked.
#[derive(Serialize)]
struct Resolved<'a> {
    #[serde(rename = "awsAccessKeyId")]
    aws_access_key_id: &'a Option<String>,
    /// Only whether it is set: the value never leaves [`Secret`].
    #[serde(rename = "awsSecretAccessKey")]
    aws_secret_access_key: Option<&'static str>,
    #[serde(rename = "assumeRoleARN")]
    assume_role_arn: &'a Option<String>,
    #[serde(rename = "assumeRoleExternalId")]
    assume_role_external_id: &'a Option<String>,
    #[serde(rename = "assumeRoleDurationSeconds")]
    assume_role_duration_seconds: u32,
    #[serde(rename = "sts.endpoint")]
    sts_endpoint: &'a Option<String>,
    #[serde(rename = "userDefinedCredentialsProvider.classname")]
    user_defined_credentials_provider_classname: &'a Option<String>,
    #[serde(rename = "userDefinedCredentialsProvider.location")]
    user_defined_credentials_provider_location: &'a Option<String>,
    #[serde(rename = "kinesis.endpoint")]
    kinesis_endpoint: &'a Option<String>,
    #[serde(rename = "kinesis.region")]
    kinesis_region: &'a Option<String>,
    #[serde(rename = "firehose.endpoint")]
    firehose_endpoint: &'a Option<String>,
    #[serde(rename = "cloudwatch.endpoint")]
    cloudwatch_endpoint: &'a Option<String>,
    #[serde(rename = "cloudwatch.emitMetrics")]
    cloudwatch_emit_metrics: bool,
    #[serde(rename = "cloudwatch.namespace")]
    cloudwatch_namespace: &'a str,
    #[serde(rename = "cloudwatch.tagInstance")]
    cloudwatch_tag_instance: bool,
    #[serde(rename = "cloudwatch.metricsBufferTimeMillis")]
    cloudwatch_metrics_buffer_time_millis: u64,
    #[serde(rename = "cloudwatch.metricsQueueSize")]
    cloudwatch_metrics_queue_size: u32,
    #[serde(rename = "log.emitMetrics")]
    log_emit_metrics: bool,
    #[serde(rename = "log.emitInternalMetrics")]
    log_emit_internal_metrics: bool,
    #[serde(rename = "log.statusReportingPeriodSeconds")]
    log_status_reporting_period_seconds: u32,
    /// Lossy: serde refuses paths that are not UTF-8, and `check` must still print the rest.
    #[serde(rename = "checkpointFile")]
    checkpoint_file: Cow<'a, str>,
    #[serde(rename = "javaCheckpointFile")]
    java_checkpoint_file: Option<Cow<'a, str>>,
    #[serde(rename = "checkpointTimeToLiveDays")]
    checkpoint_ttl_days: u32,
    #[serde(rename = "checkpoints.queryTimeoutSeconds")]
    checkpoints_query_timeout_seconds: u32,
    #[serde(rename = "checkpoints.connectionTimeoutSeconds")]
    checkpoints_connection_timeout_seconds: u32,
    #[serde(rename = "shutdownTimeoutMillis")]
    shutdown_timeout_millis: u64,
    #[serde(rename = "maxOpenFiles")]
    max_open_files: u32,
    #[serde(rename = "rotatedFileCloseMillis")]
    rotated_file_close_millis: u64,
    #[serde(rename = "status.port")]
    status_port: u16,
    #[serde(rename = "status.unhealthyAfterMillis")]
    status_unhealthy_after_millis: u64,
    #[serde(rename = "maxSendingThreads")]
    max_sending_threads: u32,
    #[serde(rename = "maxSendingThreadsPerCore")]
    max_sending_threads_per_core: u32,
    #[serde(rename = "sendingThreadsKeepAliveMillis")]
    sending_threads_keep_alive_millis: u64,
    #[serde(rename = "sendingThreadsMaxQueueSize")]
    sending_threads_max_queue_size: u32,
    #[serde(rename = "maxConnections")]
    max_connections: u32,
    #[serde(rename = "connectionTimeoutMillis")]
    connection_timeout_millis: u32,
    #[serde(rename = "socketTimeoutMillis")]
    socket_timeout_millis: u32,
    #[serde(rename = "connectionTTLMillis")]
    connection_ttl_millis: i64,
    #[serde(rename = "useTcpKeepAlive")]
    use_tcp_keep_alive: bool,
    #[serde(rename = "useHttpGzip")]
    use_http_gzip: bool,
    #[serde(rename = "userAgent")]
    user_agent: &'a Option<String>,
    #[serde(rename = "userAgentOverride")]
    user_agent_override: &'a Option<String>,
    flows: Vec<ResolvedFlow<'a>>,
}

impl<'a> Resolved<'a> {
    fn of(c: &'a AgentConfig) -> Self {
        Resolved {
            aws_access_key_id: &c.aws_access_key_id,
            aws_secret_access_key: c.aws_secret_access_key.as_ref().map(|_| "****"),
            assume_role_arn: &c.assume_role_arn,
            assume_role_external_id: &c.assume_role_external_id,
            assume_role_duration_seconds: c.assume_role_duration_seconds,
            sts_endpoint: &c.sts_endpoint,
            user_defined_credentials_provider_classname: &c
                .user_defined_credentials_provider_classname,
            user_defined_credentials_provider_location: &c
                .user_defined_credentials_provider_location,
            kinesis_endpoint: &c.kinesis_endpoint,
            kinesis_region: &c.kinesis_region,
            firehose_endpoint: &c.firehose_endpoint,
            cloudwatch_endpoint: &c.cloudwatch_endpoint,
            cloudwatch_emit_metrics: c.cloudwatch_emit_metrics,
            cloudwatch_namespace: &c.cloudwatch_namespace,
            cloudwatch_tag_instance: c.cloudwatch_tag_instance,
            cloudwatch_metrics_buffer_time_millis: c.cloudwatch_metrics_buffer_time_millis,
            cloudwatch_metrics_queue_size: c.cloudwatch_metrics_queue_size,
            log_emit_metrics: c.log_emit_metrics,
            log_emit_internal_metrics: c.log_emit_internal_metrics,
            log_status_reporting_period_seconds: c.log_status_reporting_period_seconds,
            checkpoint_file: c.checkpoint_file.to_string_lossy(),
            java_checkpoint_file: c.java_checkpoint_db.as_deref().map(|p| p.to_string_lossy()),
            checkpoint_ttl_days: c.checkpoint_ttl_days,
            checkpoints_query_timeout_seconds: c.checkpoints_query_timeout_seconds,
            checkpoints_connection_timeout_seconds: c.checkpoints_connection_timeout_seconds,
            shutdown_timeout_millis: c.shutdown_timeout_millis,
            max_open_files: c.max_open_files,
            rotated_file_close_millis: c.rotated_file_close_millis,
            status_port: c.status_port,
            status_unhealthy_after_millis: c.status_unhealthy_after_millis,
            max_sending_threads: c.max_sending_threads,
            max_sending_threads_per_core: c.max_sending_threads_per_core,
            sending_threads_keep_alive_millis: c.sending_threads_keep_alive_millis,
            sending_threads_max_queue_size: c.sending_threads_max_queue_size,
            max_connections: c.max_connections,
            connection_timeout_millis: c.connection_timeout_millis,
            socket_timeout_millis: c.socket_timeout_millis,
            connection_ttl_millis: c.connection_ttl_millis,
            use_tcp_keep_alive: c.use_tcp_keep_alive,
            use_http_gzip: c.use_http_gzip,
            user_agent: &c.user_agent,
            user_agent_override: &c.user_agent_override,
            flows: c.flows.iter().map(ResolvedFlow::of).collect(),
        }
    }
}

#[cfg(test)]
mod tests;
