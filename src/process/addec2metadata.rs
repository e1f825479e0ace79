//! ADDEC2METADATA: merge EC2 instance metadata into JSON-object records.
//!
//! The Java agent (`AddEC2MetadataConverter`) fetches the metadata at construction and then,
//! inside `convert`, whenever it is older than `metadataTTL`, i.e. on the record path. Here a
//! tokio task fetches at once and then every TTL, and publishes the metadata pre-rendered (in
//! this converter's `jsonFormat`) through a `watch` channel; a record only clones the `Arc` the
//! channel holds, so the record path never waits for the network.
//!
//! Per record, as in Java: without metadata the record is passed on unchanged (before any
//! parsing, so even a non-JSON record); otherwise it must parse as a JSON object (else the
//! conversion fails and the chain sends the raw record), and the nine metadata keys are
//! `putAll`-ed into it: a key the record already has keeps its position and takes the new value,
//! the others are appended in the fixed order of [`KEYS`]. Output is Jackson-compatible JSON and
//! one `\n`.
//!
//! Deliberate differences: `logFormat` is not required; tags come from IMDS (see
//! [`crate::ec2`]) rather than EC2 `DescribeTags`; `metadataTimestamp` is in UTC (`+0000`) rather
//! than the JVM's time zone; when a refresh fails the previous metadata stays in use; the "no
//! metadata" warning is logged at most once a minute with its reason instead of once per record;
//! trailing garbage after the object (`{"a":1} x`), which Jackson ignores, fails the conversion;
//! records that arrive before the first fetch has finished pass unchanged (Java blocks its
//! constructor on the fetch; [`AddEc2Metadata::wait_ready`] offers that to callers who want it).
//!
//! As in Java, `tags` is always present: `{}` when the instance has no tags or does not expose
//! them in IMDS (Java's empty `DescribeTags` result), and an identity field missing from the
//! document is `null` (Java's `InstanceInfo` getter returning `null`).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::runtime::Handle;
use tokio::sync::watch;

use super::{ConvertError, Converter};
use crate::config::JsonFormat;
use crate::ec2::{Ec2Metadata, ImdsClient, MetadataSource};
use crate::java::json::JsonWriter;
use crate::java::utf8;
use crate::log_limit::SharedLogLimiter;

/// The keys added to every record, in the order the Java agent puts them.
pub const KEYS: [&str; 9] = [
    "privateIp",
    "availabilityZone",
    "instanceId",
    "instanceType",
    "accountId",
    "amiId",
    "region",
    "metadataTimestamp",
    "tags",
];

/// The shortest TTL [`AddEc2Metadata::new`] accepts, so `metadataTTL: 0` cannot hammer IMDS.
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// After a failed fetch the next one comes after this (or the TTL if shorter), rather than a
/// whole TTL (an hour by default) without metadata.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// The "metadata not available" warning is logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The metadata values, each already rendered as JSON in the converter's format.
#[derive(Debug)]
struct Rendered {
    /// JSON text per entry of [`KEYS`], laid out for a value one object level deep.
    values: [String; 9],
    /// The lower-cased tags, kept to reuse when a later refresh cannot read them.
    tags: Map<String, Value>,
}

impl Rendered {
    fn new(
        metadata: &Ec2Metadata,
        previous_tags: Option<&Map<String, Value>>,
        format: JsonFormat,
    ) -> Rendered {
        let id = &metadata.identity;
        let tags = match &metadata.tags {
            Some(pairs) => {
                let mut tags = Map::new();
                for (key, value) in pairs {
                    // Like Java's LinkedHashMap.put: a later duplicate replaces the value in place.
                    tags.insert(key.to_lowercase(), Value::String(value.clone()));
                }
                tags
            }
            None => previous_tags.cloned().unwrap_or_default(),
        };
        let string = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        let values = [
            string(&id.private_ip),
            string(&id.availability_zone),
            string(&id.instance_id),
            string(&id.instance_type),
            string(&id.account_id),
            string(&id.image_id),
            string(&id.region),
            Value::String(format_timestamp(metadata.fetched_at)),
            Value::Object(tags.clone()),
        ]
        .map(|v| render_nested(&v, format));
        Rendered { values, tags }
    }
}

/// `value` as the writer lays it out as the value of a top-level field, so that it can be
/// copied verbatim after any `"name":` of a record.
fn render_nested(value: &Value, format: JsonFormat) -> String {
    let mut buf = Vec::new();
    let mut w = JsonWriter::new(&mut buf, format);
    w.begin_object();
    w.name("k");
    w.value(value);
    w.end_object();
    let (prefix, suffix): (&[u8], &[u8]) = match format {
        JsonFormat::Compact => (b"{\"k\":", b"}"),
        JsonFormat::PrettyPrint => (b"{\n  \"k\" : ", b"\n}"),
    };
    match buf
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
    {
        Some(inner) => String::from_utf8_lossy(inner).into_owned(),
        // Unreachable with the writer's layout; compact JSON is still valid JSON.
        None => value.to_string(),
    }
}

pub use super::timestamp::format_timestamp;

/// What the refresh task publishes.
#[derive(Debug, Default)]
struct State {
    /// The latest metadata, `None` until a fetch succeeds.
    current: Option<Arc<Rendered>>,
    /// Fetches finished so far, successful or not.
    attempts: u64,
    /// Why the latest fetch failed, `None` after a success.
    last_error: Option<String>,
}

/// The ADDEC2METADATA converter.
#[derive(Debug)]
pub struct AddEc2Metadata {
    format: JsonFormat,
    /// Dropping every receiver (this one and clones in `wait_ready`) ends the refresh task.
    state: watch::Receiver<State>,
    /// The runtime of the refresh task, for [`AddEc2Metadata::wait_ready`]; `None` when fixed.
    runtime: Option<Handle>,
    /// The "metadata not available" warning, at most once a minute from any thread.
    unavailable_log: SharedLogLimiter,
}

impl AddEc2Metadata {
    /// Fetch from IMDS (endpoint from the environment) now and then every `ttl` (at least
    /// [`MIN_TTL`]) on a task of `runtime`.
    pub fn new(ttl: Duration, format: JsonFormat, runtime: &Handle) -> AddEc2Metadata {
        let ttl = ttl.max(MIN_TTL);
        match ImdsClient::from_env() {
            Ok(client) => AddEc2Metadata::with_source(client, ttl, format, runtime),
            // Reported by every fetch, so that the warning names it.
            Err(e) => AddEc2Metadata::with_source(move || Err(e.clone()), ttl, format, runtime),
        }
    }

    /// Fetch from `source` now and then every `ttl` on a task of `runtime`.
    pub fn with_source(
        source: impl MetadataSource + 'static,
        ttl: Duration,
        format: JsonFormat,
        runtime: &Handle,
    ) -> AddEc2Metadata {
        let ttl = ttl.max(Duration::from_millis(1));
        let (tx, rx) = watch::channel(State::default());
        runtime.spawn(refresh(source, ttl, format, tx));
        AddEc2Metadata::from_parts(format, rx, Some(runtime.clone()))
    }

    /// A converter with fixed metadata (`None`: never available) and no refresh task.
    pub fn fixed(metadata: Option<Ec2Metadata>, format: JsonFormat) -> AddEc2Metadata {
        let current = metadata.map(|m| Arc::new(Rendered::new(&m, None, format)));
        let last_error = current.is_none().then(|| "no metadata source".to_owned());
        // The sender is dropped at once; receivers keep seeing its last value.
        let (_, rx) = watch::channel(State {
            current,
            attempts: 1,
            last_error,
        });
        AddEc2Metadata::from_parts(format, rx, None)
    }

    fn from_parts(
        format: JsonFormat,
        state: watch::Receiver<State>,
        runtime: Option<Handle>,
    ) -> AddEc2Metadata {
        AddEc2Metadata {
            format,
            state,
            runtime,
            unavailable_log: SharedLogLimiter::new(WARN_EVERY),
        }
    }

    /// Wait up to `timeout` for the first fetch to finish; whether metadata is available.
    ///
    /// For callers that prefer the Java agent's behaviour (metadata on the very first
    /// records) and can afford to block at startup. Blocks the calling thread, so it must be
    /// a thread of its own or a blocking one, not an async task; the runtime of the refresh
    /// task must be a multi-thread one (or be driven by another thread meanwhile).
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        if let (0, Some(runtime)) = (self.fetch_attempts(), &self.runtime) {
            let mut state = self.state.clone();
            // A closed channel (the runtime is shutting down) ends the wait like the timeout.
            let _ = runtime.block_on(async move {
                let first_fetch = async { state.wait_for(|s| s.attempts > 0).await.is_ok() };
                tokio::time::timeout(timeout, first_fetch).await
            });
        }
        self.is_ready()
    }

    /// Whether metadata is available (records get it).
    pub fn is_ready(&self) -> bool {
        self.state.borrow().current.is_some()
    }

    /// Fetches finished so far, successful or not.
    pub fn fetch_attempts(&self) -> u64 {
        self.state.borrow().attempts
    }

    fn warn_unavailable(&self) {
        if !self.unavailable_log.due() {
            return;
        }
        let reason = {
            let state = self.state.borrow();
            match (&state.last_error, state.attempts) {
                (Some(e), _) => e.clone(),
                (None, 0) => "not fetched yet".to_owned(),
                (None, _) => "unknown".to_owned(),
            }
        };
        tracing::warn!(
            reason = %reason,
            "ADDEC2METADATA: no EC2 instance metadata, records are sent without it (logged at most once a minute)"
        );
    }
}

/// The refresh task: fetch, publish, sleep, until the converter is dropped.
async fn refresh(
    mut source: impl MetadataSource,
    ttl: Duration,
    format: JsonFormat,
    tx: watch::Sender<State>,
) {
    let mut failing = false;
    loop {
        let result = tokio::select! {
            result = source.fetch() => result,
            () = tx.closed() => return,
        };
        let delay = match result {
            Ok(metadata) => {
                let previous = tx.borrow().current.clone();
                let rendered = Rendered::new(&metadata, previous.as_ref().map(|r| &r.tags), format);
                if failing || previous.is_none() {
                    tracing::info!(
                        instance_id = metadata.identity.instance_id.as_deref().unwrap_or("?"),
                        "ADDEC2METADATA: EC2 instance metadata fetched"
                    );
                }
                failing = false;
                tx.send_modify(|s| {
                    s.current = Some(Arc::new(rendered));
                    s.attempts += 1;
                    s.last_error = None;
                });
                ttl
            }
            Err(e) => {
                let kept = tx.borrow().current.is_some();
                if failing {
                    tracing::debug!(error = %e, "ADDEC2METADATA: EC2 metadata refresh failed again");
                } else {
                    tracing::warn!(
                        error = %e,
                        keeping_previous = kept,
                        "ADDEC2METADATA: cannot fetch EC2 instance metadata"
                    );
                }
                failing = true;
                tx.send_modify(|s| {
                    s.attempts += 1;
                    s.last_error = Some(e.to_string());
                });
                ttl.min(RETRY_AFTER_FAILURE)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = tx.closed() => return,
        }
    }
}

/// Position of `key` in [`KEYS`].
fn key_index(key: &str) -> Option<usize> {
    KEYS.iter().position(|k| *k == key)
}

/// How often a wait for the first fetch looks whether the flow was stopped.
const STOP_CHECK: Duration = Duration::from_millis(50);

impl Converter for AddEc2Metadata {
    fn name(&self) -> &'static str {
        "ADDEC2METADATA"
    }

    fn wait_ready(&self, timeout: Duration, stopped: &dyn Fn() -> bool) {
        // The Java agent fetches in its constructor; waiting here keeps the first records
        // from going out without metadata when IMDS answers promptly. The wait is sliced so
        // that a shutdown meanwhile is not held up by it.
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if AddEc2Metadata::wait_ready(self, left.min(STOP_CHECK)) || stopped() {
                return;
            }
            if left.is_zero() || self.fetch_attempts() > 0 {
                break;
            }
        }
        tracing::warn!(
            "instance metadata not available after {timeout:?}; records pass unchanged until it is"
        );
    }

    fn convert(&self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, ConvertError> {
        // Cloned so that the channel's lock is not held while the record is written.
        let current = self.state.borrow().current.clone();
        let Some(metadata) = current else {
            self.warn_unavailable();
            out.extend_from_slice(input);
            return Ok(true);
        };
        let text: Cow<'_, str> = utf8::decode(input);
        let record: Map<String, Value> = serde_json::from_str(&text)
            .map_err(|e| ConvertError::Other(format!("Error converting json line to map: {e}")))?;
        let mut w = JsonWriter::new(out, self.format);
        w.begin_object();
        for (key, value) in &record {
            match key_index(key) {
                Some(i) => w.field_raw_json(key, &metadata.values[i]),
                None => {
                    w.name(key);
                    w.value(value);
                }
            }
        }
        for (i, key) in KEYS.iter().enumerate() {
            if !record.contains_key(*key) {
                w.field_raw_json(key, &metadata.values[i]);
            }
        }
        w.end_object();
        out.push(b'\n');
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
