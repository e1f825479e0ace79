//! The agent process: start every flow, report status, and shut down cleanly on a signal.

use crate::checkpoint::Checkpoints;
use crate::config::{AgentConfig, AggregationOption, Destination};
use crate::metrics::accumulator::{Accumulator, FlowMetrics, Lag};
use crate::metrics::cloudwatch::{instance_tag, Publisher};
use crate::metrics::{peak_rss_bytes, status, FlowCounters};
use crate::pipeline::{start_flow, FileLimits, FlowHandle, Sending};
use crate::sink::aws::{
    endpoint_region_or_us_east_1, load_config, AwsConfig, AwsSettings, DataPlane,
};
use crate::sink::batch::Aggregation;
use crate::sink::credentials::{CredentialSettings, SharedCredentials};
use crate::sink::firehose::DeliveryStream;
use crate::sink::kinesis::KinesisStream;
use crate::sink::shape::{Shaper, ShardLimits, SharedShaper};
use crate::sink::shards::{ListShards, ShardMap};
use crate::sink::{InFlight, SharedBudget, FLOW_IN_FLIGHT_BYTES, FLOW_MAX_REQUESTS};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Time kept from the shutdown budget for the final checkpoint write.
const FINAL_WRITE_MARGIN: Duration = Duration::from_millis(500);
/// Time the last CloudWatch metrics may take to publish after the flows stopped.
const FINAL_METRICS_WAIT: Duration = Duration::from_secs(2);

/// Errors that stop the agent from starting.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration asks for something kinetail does not do (yet).
    #[error("the configuration uses features kinetail does not support:\n  {}", .0.join("\n  "))]
    Unsupported(Vec<String>),
    /// The checkpoint file cannot be used.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::StoreError),
    /// AWS client settings are incomplete.
    #[error(transparent)]
    Aws(#[from] crate::sink::aws::AwsError),
    /// Flows whose patterns or converter parameters cannot be used, one message each.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// A flow could not start.
    #[error(transparent)]
    Flow(#[from] crate::pipeline::FlowError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signal(std::io::Error),
    /// The status endpoint cannot listen on its port.
    #[error("status.port: cannot listen on 127.0.0.1:{0}: {1}")]
    StatusPort(u16, std::io::Error),
    /// The Java agent's checkpoint database cannot be read.
    #[error(transparent)]
    Migrate(#[from] crate::migrate::MigrateError),
    /// A one-off load (`--once`) could not finish.
    #[error(transparent)]
    Once(#[from] crate::once::OnceError),
}

/// The AWS settings of the Kinesis client.
fn kinesis_settings(c: &AgentConfig, credentials: &SharedCredentials) -> AwsSettings {
    AwsSettings {
        endpoint: c.kinesis_endpoint.clone(),
        region: c.kinesis_region.clone(),
        ..client_settings(c, credentials)
    }
}

/// The AWS settings of the Firehose client: `firehose.endpoint`, and the region it names.
fn firehose_settings(c: &AgentConfig, credentials: &SharedCredentials) -> AwsSettings {
    AwsSettings {
        endpoint: c.firehose_endpoint.clone(),
        region: Some(endpoint_region_or_us_east_1(c.firehose_endpoint.as_deref())),
        ..client_settings(c, credentials)
    }
}

/// The AWS settings of the CloudWatch client: `cloudwatch.endpoint`, and the region it names.
fn cloudwatch_settings(c: &AgentConfig, credentials: &SharedCredentials) -> AwsSettings {
    AwsSettings {
        endpoint: c.cloudwatch_endpoint.clone(),
        region: Some(endpoint_region_or_us_east_1(
            c.cloudwatch_endpoint.as_deref(),
        )),
        ..client_settings(c, credentials)
    }
}

/// CloudWatch publishing, when `cloudwatch.emitMetrics` asks for it: the samples' accumulator,
/// the `Instance` tag, and the publisher's task.
struct CloudWatch {
    acc: Arc<Accumulator>,
    instance: Option<String>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CloudWatch {
    async fn start(
        c: &AgentConfig,
        credentials: &SharedCredentials,
    ) -> Result<Option<CloudWatch>, AgentError> {
        if !c.cloudwatch_emit_metrics {
            return Ok(None);
        }
        let sdk = load_config(&cloudwatch_settings(c, credentials)).await?;
        let instance = match c.cloudwatch_tag_instance {
            true => Some(instance_tag().await),
            false => None,
        };
        let acc = Arc::new(Accumulator::new(c.cloudwatch_metrics_queue_size as usize));
        let publisher = Publisher::new(
            sdk.sdk(),
            &c.cloudwatch_namespace,
            Duration::from_millis(c.cloudwatch_metrics_buffer_time_millis),
        );
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(publisher.run(acc.clone(), stopped));
        tracing::info!(
            "CloudWatch metrics to namespace {} every {} ms{}",
            c.cloudwatch_namespace,
            c.cloudwatch_metrics_buffer_time_millis,
            match &instance {
                Some(i) => format!(", tagged Instance={i}"),
                None => String::new(),
            }
        );
        Ok(Some(CloudWatch {
            acc,
            instance,
            stop,
            task,
        }))
    }

    fn flow(&self, kind: &str, name: &str) -> FlowMetrics {
        FlowMetrics::new(self.acc.clone(), kind, name, self.instance.as_deref())
    }

    /// Publishes what is left, within [`FINAL_METRICS_WAIT`].
    async fn finish(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(FINAL_METRICS_WAIT, self.task)
            .await
            .is_err()
        {
            tracing::warn!("the last CloudWatch metrics could not be published in time");
        }
    }
}

/// The client of one service, made at its first flow and shared by the others (one
/// credentials cache entry per service).
async fn data_plane(
    slot: &mut Option<(AwsConfig, DataPlane)>,
    settings: &AwsSettings,
) -> Result<(AwsConfig, DataPlane), AgentError> {
    if let Some(made) = slot {
        return Ok(made.clone());
    }
    let config = load_config(settings).await?;
    let plane = DataPlane::new(&config)?;
    *slot = Some((config.clone(), plane.clone()));
    Ok((config, plane))
}

/// What every client shares: credentials, timeouts, User-Agent.
fn client_settings(c: &AgentConfig, credentials: &SharedCredentials) -> AwsSettings {
    AwsSettings {
        endpoint: None,
        region: None,
        credentials: Some(credentials.clone()),
        connect_timeout: Duration::from_millis(c.connection_timeout_millis.max(1) as u64),
        read_timeout: Duration::from_millis(c.socket_timeout_millis.max(1) as u64),
        user_agent: c.user_agent.clone(),
    }
}

/// Where the credentials of every client come from.
fn credential_settings(c: &AgentConfig) -> CredentialSettings {
    CredentialSettings {
        access_key_id: c.aws_access_key_id.clone(),
        secret_access_key: c
            .aws_secret_access_key
            .as_ref()
            .map(|s| s.expose().to_owned()),
        assume_role_arn: c.assume_role_arn.clone(),
        external_id: c.assume_role_external_id.clone(),
        session_length: Duration::from_secs(c.assume_role_duration_seconds as u64),
        sts_endpoint: c.sts_endpoint.clone(),
        region: c.kinesis_region.clone(),
        connect_timeout: Duration::from_millis(c.connection_timeout_millis.max(1) as u64),
        read_timeout: Duration::from_millis(c.socket_timeout_millis.max(1) as u64),
    }
}

/// At the first start (no checkpoint file of kinetail's yet), turns the Java agent's checkpoint
/// database, when there is one, into kinetail's checkpoint file.
fn import_java_checkpoints(config: &AgentConfig) -> Result<(), AgentError> {
    let Some(import) = crate::migrate::pending(config)? else {
        return Ok(());
    };
    for s in import.skipped {
        tracing::warn!("Java agent checkpoints: {s}");
    }
    crate::checkpoint::store::write(&config.checkpoint_file, &import.state)?;
    tracing::info!(
        "imported the Java agent's checkpoints from {} ({} rows) into {}",
        import.db.display(),
        import.rows,
        config.checkpoint_file.display()
    );
    for line in import.report {
        tracing::info!("Java agent checkpoints: {line}");
    }
    Ok(())
}

/// Everything that can be refused before a run touches AWS or the files: features kinetail does
/// not support, then each flow's file pattern, regular expressions and converter parameters.
/// `check` and `run` both call this, so they accept and refuse the same configurations.
pub fn validate(config: &AgentConfig) -> Result<(), AgentError> {
    let unsupported = config.unsupported();
    if !unsupported.is_empty() {
        return Err(AgentError::Unsupported(unsupported));
    }
    let invalid: Vec<String> = config
        .flows
        .iter()
        .filter_map(|flow| crate::pipeline::validate_flow(flow).err())
        .map(|e| e.to_string())
        .collect();
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(AgentError::Invalid(invalid))
    }
}

/// The signals that stop the agent: SIGTERM and SIGINT.
pub fn stop_signals() -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGTERM);
    set.add(nix::sys::signal::Signal::SIGINT);
    set
}

/// Runs the agent until SIGTERM or SIGINT, then drains within `shutdownTimeoutMillis`. With
/// `once` (how long without progress ends it), it stops by itself once the files matched at the
/// start are shipped to the end of their last complete line.
pub async fn run(config: AgentConfig, once: Option<Duration>) -> Result<(), AgentError> {
    let started = Instant::now();
    validate(&config)?;
    if !config.unknown_keys.is_empty() {
        tracing::warn!(
            "unknown configuration keys (ignored, as the Java agent does): {}",
            config.unknown_keys.join(", ")
        );
    }
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(AgentError::Signal)?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(AgentError::Signal)?;
    // Listened for now: a stop that came while starting (held back by `main`) is taken here.
    stop_signals().thread_unblock().ok();

    import_java_checkpoints(&config)?;
    let checkpoints = Checkpoints::open(&config.checkpoint_file, config.checkpoint_ttl_days)?;
    // Bound before any flow starts: a port in use stops the start before anything is read.
    let status_listener = match config.status_port {
        0 => None,
        port => Some(
            tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
                .await
                .map_err(|e| AgentError::StatusPort(port, e))?,
        ),
    };
    let once = once.map(|give_up_after| {
        let o = crate::once::Once::at_start(&config.flows, give_up_after);
        tracing::info!(
            "--once: shipping {} bytes of {} files, then stopping",
            o.total(),
            o.files()
        );
        o
    });
    if crate::checkpoint::store::on_tmpfs(&config.checkpoint_file) {
        tracing::warn!(
            "checkpointFile {} is on tmpfs: the checkpoints will be lost at reboot and files re-read or skipped; use a persistent path such as /var/lib/kinetail/checkpoints",
            config.checkpoint_file.display()
        );
    }
    // A client is built only for the kinds of flow present: a Firehose-only configuration needs no
    // Kinesis region, and the reverse.
    // One DataPlane per service, so that every flow to it shares one credentials cache entry.
    let mut kinesis: Option<(AwsConfig, DataPlane)> = None;
    // One control-plane client, and what it read of each stream, for all the flows.
    let mut control: Option<aws_sdk_kinesis::Client> = None;
    let mut streams: std::collections::HashMap<String, StreamFacts> = Default::default();
    let mut firehose: Option<(AwsConfig, DataPlane)> = None;
    let threads = config.max_sending_threads as usize;
    let shared_budget = SharedBudget::new(config.flows.len(), threads);
    let (drain_tx, drain_rx) = watch::channel(None);
    let (stop_tx, stop_rx) = watch::channel(false);
    tracing::info!(
        "Agent: Agent will use up to {} threads for sending data.",
        config.max_sending_threads
    );

    for w in config.credential_warnings() {
        tracing::warn!("{w}");
    }
    let credential_settings = credential_settings(&config);
    tracing::info!("AWS credentials: {credential_settings}");
    if let Some(proxy) = crate::sink::aws::proxy_in_use() {
        tracing::info!("AWS requests go through the proxy of {proxy} (hosts in NO_PROXY excepted)");
    }
    let credentials = crate::sink::credentials::shared(&credential_settings).await;
    let cloudwatch = CloudWatch::start(&config, &credentials).await?;
    let file_limits = FileLimits::of(&config);
    let mut flows: Vec<FlowHandle> = Vec::new();
    let mut flow_metrics: Vec<Option<FlowMetrics>> = Vec::new();
    for flow in &config.flows {
        tracing::info!(
            "Starting tailer for file {}: {} -> {} {}, initialPosition {:?}, {}dataProcessingOptions [{}]",
            flow.id,
            flow.file_pattern,
            flow.destination.key(),
            flow.destination.name(),
            flow.initial_position,
            match flow.is_firehose() {
                true => format!("aggregatedRecordSizeBytes {}, ", flow.aggregated_record_size_bytes),
                false => format!("partitionKeyOption {:?}, ", flow.partition_key_option),
            },
            flow.data_processing_options.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
        );
        if flow.aggregated_record_size_bytes > 0 {
            if flow.multi_line_start_pattern.is_some() {
                tracing::warn!(
                    "{}: aggregatedRecordSizeBytes is ignored because multiLineStartPattern is set, as in the Java agent",
                    flow.id
                );
            } else if !flow.data_processing_options.is_empty() {
                tracing::warn!(
                    "{}: with aggregatedRecordSizeBytes the dataProcessingOptions see each joined record (several lines) as one record, as in the Java agent",
                    flow.id
                );
            }
        }
        let in_flight = InFlight::new(
            threads.min(FLOW_MAX_REQUESTS),
            FLOW_IN_FLIGHT_BYTES,
            &shared_budget,
        );
        let metrics = cloudwatch.as_ref().map(|cw| {
            let (kind, name) = match &flow.destination {
                Destination::KinesisStream(s) => ("KinesisStream", s),
                Destination::DeliveryStream(d) => ("DeliveryStream", d),
            };
            cw.flow(kind, name)
        });
        flow_metrics.push(metrics.clone());
        let handle = match &flow.destination {
            Destination::KinesisStream(stream) => {
                let (sdk, plane) =
                    data_plane(&mut kinesis, &kinesis_settings(&config, &credentials)).await?;
                let mut dest = KinesisStream::new(&sdk, &plane, stream).await?;
                if !streams.contains_key(stream) {
                    let client =
                        control.get_or_insert_with(|| aws_sdk_kinesis::Client::new(sdk.sdk()));
                    let facts = stream_facts(client, stream).await;
                    streams.insert(stream.clone(), facts);
                }
                let Some(facts) = streams.get_mut(stream) else {
                    unreachable!("read just above");
                };
                let limits = ShardLimits {
                    bytes_per_sec: f64::from(flow.shard_write_bytes_per_second),
                    records_per_sec: f64::from(flow.shard_write_records_per_second),
                };
                let (first, shaper) = facts
                    .shaper
                    .get_or_insert_with(|| (limits, Shaper::shared(limits)))
                    .clone();
                if first != limits {
                    tracing::warn!(
                        "{}: shardWriteBytesPerSecond and shardWriteRecordsPerSecond differ from an earlier flow's to KinesisStream:{stream}; a stream's shards are shaped once for all the flows to it, at the first flow's limits ({} bytes and {} records per second)",
                        flow.id,
                        first.bytes_per_sec,
                        first.records_per_sec
                    );
                }
                let shards = facts.shards.clone();
                let mut flow = flow.clone();
                if let Some(bytes) = facts.max_record_bytes {
                    flow.max_record_size_bytes = bytes;
                }
                let flow = &flow;
                let aggregation = match flow.aggregation {
                    AggregationOption::None => None,
                    AggregationOption::Kpl => {
                        dest = dest.with_shards(shards.clone());
                        Some(Aggregation {
                            max_size: flow.aggregation_max_size_bytes as usize,
                            shards: shards.clone(),
                        })
                    }
                };
                start_flow(
                    flow,
                    checkpoints.clone(),
                    Sending {
                        dest: Arc::new(dest),
                        in_flight: in_flight.clone(),
                        metrics,
                        aggregation,
                        shard_map: Some(shards),
                        shaper: Some(shaper),
                    },
                    drain_rx.clone(),
                    &file_limits,
                )?
            }
            Destination::DeliveryStream(name) => {
                let (cfg, plane) =
                    data_plane(&mut firehose, &firehose_settings(&config, &credentials)).await?;
                let dest = Arc::new(DeliveryStream::new(&cfg, &plane, name).await?);
                start_flow(
                    flow,
                    checkpoints.clone(),
                    Sending {
                        dest,
                        in_flight: in_flight.clone(),
                        metrics,
                        aggregation: None,
                        shard_map: None,
                        shaper: None,
                    },
                    drain_rx.clone(),
                    &file_limits,
                )?
            }
        };
        flows.push(handle);
    }
    let writer = tokio::spawn(checkpoints.clone().run_writer(stop_rx.clone()));
    let statuses: Vec<FlowStatus> = flows
        .iter()
        .map(|f| (f.id.clone(), f.tail_stats.clone(), f.counters.clone()))
        .collect();
    if let Some(listener) = status_listener {
        let view = crate::metrics::endpoint::StatusView {
            flows: statuses.clone(),
            unhealthy_after: Duration::from_millis(config.status_unhealthy_after_millis),
        };
        tokio::spawn(crate::metrics::endpoint::serve(
            listener,
            Arc::new(view),
            stop_rx.clone(),
        ));
        tracing::info!(
            "status endpoint on http://127.0.0.1:{}/metrics and /health",
            config.status_port
        );
    }
    let reporter = tokio::spawn(report_status(
        statuses,
        flow_metrics,
        Duration::from_secs(config.log_status_reporting_period_seconds.max(1) as u64),
        started,
        stop_rx,
    ));
    tracing::info!(
        "Agent: Startup completed in {} ms. Checkpoints in {}",
        started.elapsed().as_millis(),
        checkpoints.path().display()
    );

    let counters: Vec<Arc<FlowCounters>> = flows.iter().map(|f| f.counters.clone()).collect();
    let once_done = async {
        match &once {
            Some(o) => o.wait(&checkpoints, &counters).await,
            None => std::future::pending().await,
        }
    };
    let once_result = tokio::select! {
        _ = sigterm.recv() => { tracing::info!("SIGTERM received: stopping"); None }
        _ = sigint.recv() => { tracing::info!("SIGINT received: stopping"); None }
        r = once_done => {
            match &r {
                Ok(()) => tracing::info!("--once: everything shipped; stopping"),
                Err(e) => tracing::error!("{e}"),
            }
            Some(r)
        }
    };
    let stopping = Instant::now();
    let budget = Duration::from_millis(config.shutdown_timeout_millis.max(1));
    let drain_deadline = stopping + budget.saturating_sub(FINAL_WRITE_MARGIN);
    for f in &flows {
        f.stop_reading();
    }
    let _ = drain_tx.send(Some(drain_deadline));
    let mut abandoned = 0;
    // Whatever a flow is stuck in, the agent exits in time: what it had not sent is not
    // checkpointed, and is read again after a restart.
    let give_up_at = tokio::time::Instant::from_std(stopping + budget);
    for f in &mut flows {
        match tokio::time::timeout_at(give_up_at, f.finish()).await {
            Ok(left) => abandoned += left,
            Err(_) => tracing::error!(
                "{}: did not stop within shutdownTimeoutMillis; exiting without waiting for it",
                f.id
            ),
        }
        tracing::debug!(
            "{}: stopped {} ms after the signal",
            f.id,
            stopping.elapsed().as_millis()
        );
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(FINAL_WRITE_MARGIN, writer).await;
    let _ = reporter.await;
    tracing::debug!(
        "checkpoint writer stopped {} ms after the signal",
        stopping.elapsed().as_millis()
    );
    let final_write = {
        let cp = checkpoints.clone();
        tokio::task::spawn_blocking(move || cp.persist(true)).await
    };
    match final_write {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("final checkpoint write failed: {e}"),
        Err(e) => tracing::error!("final checkpoint write failed: {e}"),
    }
    if let Some(cw) = cloudwatch {
        cw.finish().await;
    }
    if abandoned > 0 {
        tracing::warn!(
            "{abandoned} records (or requests) were not sent within shutdownTimeoutMillis; they will be read again after a restart"
        );
    }
    log_totals(&flows, started);
    if let Some(Err(e)) = once_result {
        return Err(e.into());
    }
    tracing::info!(
        "Agent: Shut down completed in {} ms. Uptime: {} ms. Peak memory: {} KiB",
        stopping.elapsed().as_millis(),
        started.elapsed().as_millis(),
        peak_rss_bytes() / 1024
    );
    Ok(())
}

fn log_totals(flows: &[FlowHandle], started: Instant) {
    let mut parsed = 0;
    let mut bytes = 0;
    let mut sent = 0;
    for f in flows {
        parsed += f.tail_stats.records_parsed.load(Ordering::Relaxed);
        bytes += f.tail_stats.bytes_consumed.load(Ordering::Relaxed);
        sent += FlowCounters::get(&f.counters.records_sent);
    }
    tracing::info!(
        "{}",
        status::agent_progress(parsed, bytes, sent, started.elapsed().as_millis() as u64)
    );
}

type FlowStatus = (String, Arc<crate::tail::TailStats>, Arc<FlowCounters>);

/// Logs the Java agent's progress lines every `period` until `stop`.
async fn report_status(
    flows: Vec<FlowStatus>,
    metrics: Vec<Option<FlowMetrics>>,
    period: Duration,
    started: Instant,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let (mut parsed, mut bytes, mut sent, mut behind) = (0, 0, 0, 0);
        for ((id, t, c), m) in flows.iter().zip(&metrics) {
            if let Some(m) = m {
                m.lag(Lag {
                    consecutive_errors: t.consecutive_errors.load(Ordering::Relaxed),
                    bytes_not_acknowledged: t.bytes_unacknowledged.load(Ordering::Relaxed),
                    files_behind: t.files_behind.load(Ordering::Relaxed),
                    oldest_unacknowledged_millis: t
                        .oldest_unacknowledged_millis
                        .load(Ordering::Relaxed),
                });
            }
            let p = t.records_parsed.load(Ordering::Relaxed);
            let b = t.bytes_consumed.load(Ordering::Relaxed);
            let s = FlowCounters::get(&c.records_sent);
            let bh = t.bytes_behind.load(Ordering::Relaxed);
            parsed += p;
            bytes += b;
            sent += s;
            behind += bh;
            tracing::info!(
                "{}",
                status::tailer_progress(
                    id,
                    p,
                    b,
                    FlowCounters::get(&c.records_processed),
                    FlowCounters::get(&c.records_skipped),
                    s
                )
            );
            if let Some(level) = status::behind_level(bh) {
                log_at(level, &status::tailer_behind(id, bh));
            }
        }
        tracing::info!(
            "{}",
            status::agent_progress(parsed, bytes, sent, started.elapsed().as_millis() as u64)
        );
        if let Some(level) = status::behind_level(behind) {
            log_at(level, &status::agent_behind(behind, 0));
        }
    }
}

fn log_at(level: tracing::Level, msg: &str) {
    match level {
        tracing::Level::WARN => tracing::warn!("{msg}"),
        tracing::Level::INFO => tracing::info!("{msg}"),
        _ => tracing::debug!("{msg}"),
    }
}

/// How long reading a stream's maximum record size and its shard map may hold up the start of
/// its first flow; after that the flow starts with records cut at 1 MiB, unshaped, with
/// aggregates that pin their records' hash keys, until the map is read.
const STREAM_FACTS_WAIT: Duration = Duration::from_secs(3);

/// What the agent reads of a stream before its flows start, once per stream.
struct StreamFacts {
    /// The stream's shard map, shared by its flows.
    shards: Arc<ShardMap>,
    /// `MaxRecordSizeInKiB` in bytes (at most 10 MiB), when the stream takes more than 1 MiB.
    max_record_bytes: Option<u32>,
    /// The token buckets of its shards, shared by its flows (a shard's limits are the stream's,
    /// whoever writes), at the limits of the first flow to it.
    shaper: Option<(ShardLimits, SharedShaper)>,
}

/// Reads `stream`'s shard map (`ListShards`) and record size limit (`DescribeStreamSummary`)
/// together, each within [`STREAM_FACTS_WAIT`].
async fn stream_facts(client: &aws_sdk_kinesis::Client, stream: &str) -> StreamFacts {
    let shards = Arc::new(ShardMap::new(
        stream,
        Box::new(ListShards {
            client: client.clone(),
            stream: stream.to_owned(),
        }),
    ));
    let asked = client.describe_stream_summary().stream_name(stream).send();
    let (mapped, described) = tokio::join!(
        tokio::time::timeout(STREAM_FACTS_WAIT, shards.refresh("start")),
        tokio::time::timeout(STREAM_FACTS_WAIT, asked)
    );
    if mapped.is_err() {
        tracing::warn!(
            "KinesisStream:{stream}: ListShards did not answer within {STREAM_FACTS_WAIT:?}; requests are not shaped, and aggregates pin their records' hash keys, until it does"
        );
    }
    let max_record_bytes = match described {
        Ok(Ok(out)) => out
            .stream_description_summary()
            .and_then(|s| s.max_record_size_in_kib())
            .filter(|&kib| kib > 1024)
            .map(|kib| {
                let bytes = (kib as u32).min(10 * 1024) * 1024;
                tracing::info!(
                    "KinesisStream:{stream} takes records of up to {} KiB",
                    bytes / 1024
                );
                bytes
            }),
        Ok(Err(e)) => {
            tracing::debug!(
                "DescribeStreamSummary of {stream} failed ({}); records are cut at 1 MiB",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            );
            None
        }
        Err(_) => {
            tracing::debug!(
                "DescribeStreamSummary of {stream} did not answer; records are cut at 1 MiB"
            );
            None
        }
    };
    StreamFacts {
        shards,
        max_record_bytes,
        shaper: None,
    }
}
