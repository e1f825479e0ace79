//! ADDEC2METADATA: merge EC2 instance metadata into JSON-object records.
//!
//! The Java agent (`AddEC2MetadataConverter`) fetches the metadata at construction and then,
//! inside `convert`, whenever it is older than `metadataTTL`, i.e. on the record path. Here a
//! background thread fetches at once and then every TTL, and keeps the metadata pre-rendered
//! (in this converter's `jsonFormat`) behind an `Arc`; a record only clones that `Arc`, so the
//! record path never waits for the network.
//!
//! Per record, as in Java: without metadata the record is passed on unchanged (before any
//! parsing, so even a non-JSON record); otherwise it must parse as a JSON object (else the
//! conversion fails and the chain sends the raw record), and the nine metadata keys are
//! `putAll`-ed into it: a key the record already has keeps its position and takes the new value,
//! the others are appended in the fixed order of [`KEYS`]. Output is Jackson-compatible JSON and
//! one `\n`.
//!
//! Deliberate differences: `logFormat` is not required; tags come from IMDS (see [`super::imds`])
//! rather than EC2 `DescribeTags`; `metadataTimestamp` is in UTC (`+0000`) rather than the JVM's
//! time zone; when a refresh fails the previous metadata stays in use; the "no metadata" warning
//! is logged at most once a minute with its reason instead of once per record; trailing garbage
//! after the object (`{"a":1} x`), which Jackson ignores, fails the conversion; records that
//! arrive before the first fetch has finished pass unchanged (Java blocks its constructor on
//! the fetch; [`AddEc2Metadata::wait_ready`] offers that to callers who want it).
//!
//! As in Java, `tags` is always present: `{}` when the instance has no tags or does not expose
//! them in IMDS (Java's empty `DescribeTags` result), and an identity field missing from the
//! document is `null` (Java's `InstanceInfo` getter returning `null`).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::imds::{Ec2Metadata, ImdsClient, ImdsError};
use super::json::JsonWriter;
use super::{utf8, ConvertError, Converter};
use crate::config::JsonFormat;

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
const WARN_EVERY_MS: u64 = 60_000;

/// Something that fetches EC2 metadata: the IMDS client, or a test double.
pub trait MetadataSource: Send {
    /// One fetch.
    fn fetch(&mut self) -> Result<Ec2Metadata, ImdsError>;
}

impl MetadataSource for ImdsClient {
    fn fetch(&mut self) -> Result<Ec2Metadata, ImdsError> {
        ImdsClient::fetch(self)
    }
}

impl<F> MetadataSource for F
where
    F: FnMut() -> Result<Ec2Metadata, ImdsError> + Send,
{
    fn fetch(&mut self) -> Result<Ec2Metadata, ImdsError> {
        self()
    }
}

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

/// `yyyy-MM-dd'T'HH:mm:ssZ` in UTC, e.g. `2024-05-01T10:00:00+0000`.
pub fn format_timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (y, m, d) = super::addmetadata::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Fetch bookkeeping, for the warning and for [`AddEc2Metadata::wait_ready`].
#[derive(Debug, Default)]
struct Status {
    attempts: u64,
    last_error: Option<String>,
}

#[derive(Debug)]
struct Shared {
    current: RwLock<Option<Arc<Rendered>>>,
    status: Mutex<Status>,
    fetched: Condvar,
    /// Start of the clock for `next_warn_ms`.
    clock: Instant,
    /// No "metadata not available" warning before this many ms on `clock`.
    next_warn_ms: AtomicU64,
}

impl Shared {
    fn new(initial: Option<Arc<Rendered>>) -> Shared {
        Shared {
            current: RwLock::new(initial),
            status: Mutex::new(Status::default()),
            fetched: Condvar::new(),
            clock: Instant::now(),
            next_warn_ms: AtomicU64::new(0),
        }
    }

    fn current(&self) -> Option<Arc<Rendered>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The ADDEC2METADATA converter.
#[derive(Debug)]
pub struct AddEc2Metadata {
    format: JsonFormat,
    shared: Arc<Shared>,
    /// Dropping it tells the refresh thread to stop.
    _stop: Option<mpsc::Sender<()>>,
}

impl AddEc2Metadata {
    /// Fetch from IMDS (endpoint from the environment) now and then every `ttl` (at least
    /// [`MIN_TTL`]) on a background thread.
    pub fn new(ttl: Duration, format: JsonFormat) -> AddEc2Metadata {
        let ttl = ttl.max(MIN_TTL);
        match ImdsClient::from_env() {
            Ok(client) => AddEc2Metadata::with_source(client, ttl, format),
            Err(e) => {
                let reason = e.to_string();
                AddEc2Metadata::with_source(move || Err(error_again(&reason)), ttl, format)
            }
        }
    }

    /// Fetch from `source` now and then every `ttl` on a background thread.
    pub fn with_source(
        source: impl MetadataSource + 'static,
        ttl: Duration,
        format: JsonFormat,
    ) -> AddEc2Metadata {
        let ttl = ttl.max(Duration::from_millis(1));
        let shared = Arc::new(Shared::new(None));
        let (stop_tx, stop_rx) = mpsc::channel();
        let thread_shared = shared.clone();
        let mut source = source;
        let spawned = std::thread::Builder::new()
            .name("ec2-metadata".into())
            .spawn(move || refresh_loop(&thread_shared, &mut source, ttl, format, &stop_rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "ADDEC2METADATA: cannot start the metadata thread");
            let mut status = shared.status();
            status.attempts = 1;
            status.last_error = Some(format!("cannot start the metadata thread: {e}"));
        }
        AddEc2Metadata {
            format,
            shared,
            _stop: Some(stop_tx),
        }
    }

    /// A converter with fixed metadata (`None`: never available) and no background thread.
    pub fn fixed(metadata: Option<Ec2Metadata>, format: JsonFormat) -> AddEc2Metadata {
        let rendered = metadata.map(|m| Arc::new(Rendered::new(&m, None, format)));
        let shared = Shared::new(rendered);
        {
            let mut status = shared.status();
            status.attempts = 1;
            if shared.current().is_none() {
                status.last_error = Some("no metadata source".into());
            }
        }
        AddEc2Metadata {
            format,
            shared: Arc::new(shared),
            _stop: None,
        }
    }

    /// Wait up to `timeout` for the first fetch to finish; whether metadata is available.
    ///
    /// For callers that prefer the Java agent's behaviour (metadata on the very first
    /// records) and can afford to block at startup.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut status = self.shared.status();
        while status.attempts == 0 {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                break;
            }
            status = match self.shared.fetched.wait_timeout(status, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        drop(status);
        self.is_ready()
    }

    /// Whether metadata is available (records get it).
    pub fn is_ready(&self) -> bool {
        self.shared.current().is_some()
    }

    /// Fetches finished so far, successful or not.
    pub fn fetch_attempts(&self) -> u64 {
        self.shared.status().attempts
    }

    fn warn_unavailable(&self) {
        let now = u64::try_from(self.shared.clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.shared.next_warn_ms.load(Ordering::Relaxed);
        if now < next
            || self
                .shared
                .next_warn_ms
                .compare_exchange(
                    next,
                    now.saturating_add(WARN_EVERY_MS),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        let reason = {
            let status = self.shared.status();
            match (&status.last_error, status.attempts) {
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

/// A setup failure, reported again by every fetch.
fn error_again(reason: &str) -> ImdsError {
    ImdsError::Repeated(reason.to_owned())
}

fn refresh_loop(
    shared: &Shared,
    source: &mut dyn MetadataSource,
    ttl: Duration,
    format: JsonFormat,
    stop: &mpsc::Receiver<()>,
) {
    let mut failing = false;
    loop {
        let result = source.fetch();
        let delay = match result {
            Ok(metadata) => {
                let previous = shared.current();
                let rendered = Rendered::new(&metadata, previous.as_ref().map(|r| &r.tags), format);
                *shared
                    .current
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(rendered));
                if failing || previous.is_none() {
                    tracing::info!(
                        instance_id = metadata.identity.instance_id.as_deref().unwrap_or("?"),
                        "ADDEC2METADATA: EC2 instance metadata fetched"
                    );
                }
                failing = false;
                shared.status().last_error = None;
                ttl
            }
            Err(e) => {
                let kept = shared.current().is_some();
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
                shared.status().last_error = Some(e.to_string());
                ttl.min(RETRY_AFTER_FAILURE)
            }
        };
        shared.status().attempts += 1;
        shared.fetched.notify_all();
        match stop.recv_timeout(delay) {
            Err(RecvTimeoutError::Timeout) => {}
            // The converter was dropped (or, never, sent a message).
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Position of `key` in [`KEYS`].
fn key_index(key: &str) -> Option<usize> {
    KEYS.iter().position(|k| *k == key)
}

impl Converter for AddEc2Metadata {
    fn name(&self) -> &'static str {
        "ADDEC2METADATA"
    }

    fn wait_ready(&self, timeout: Duration) {
        // The Java agent fetches in its constructor; waiting here keeps the first records
        // from going out without metadata when IMDS answers promptly.
        if !AddEc2Metadata::wait_ready(self, timeout) {
            tracing::warn!("instance metadata not available after {timeout:?}; records pass unchanged until it is");
        }
    }

    fn convert(&self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, ConvertError> {
        let Some(metadata) = self.shared.current() else {
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
mod tests {
    use super::super::imds::test_server::{Imds, Server};
    use super::super::imds::IdentityDocument;
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::AtomicUsize;

    const AT: u64 = 1_714_557_600; // 2024-05-01T10:00:00Z

    fn metadata() -> Ec2Metadata {
        Ec2Metadata {
            identity: crate::process::imds::tests::expected_identity(),
            tags: Some(vec![
                ("Name".into(), "web-1".into()),
                ("Env".into(), "Test".into()),
            ]),
            fetched_at: UNIX_EPOCH + Duration::from_secs(AT),
        }
    }

    const META: &str = r#""privateIp":"10.0.0.5","availabilityZone":"us-east-1a","instanceId":"i-0123456789abcdef0","instanceType":"m5.large","accountId":"123456789012","amiId":"ami-0abcdef1234567890","region":"us-east-1","metadataTimestamp":"2024-05-01T10:00:00+0000","tags":{"name":"web-1","env":"Test"}"#;

    fn convert(c: &AddEc2Metadata, input: &[u8]) -> Result<String, ConvertError> {
        let mut out = Vec::new();
        assert!(c.convert(input, &mut out)?);
        Ok(String::from_utf8(out).unwrap())
    }

    fn compact() -> AddEc2Metadata {
        AddEc2Metadata::fixed(Some(metadata()), JsonFormat::Compact)
    }

    /// Polls `f` until it returns `Some`, for at most 20 s.
    fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn appends_metadata_in_java_order() {
        let c = compact();
        assert_eq!(c.name(), "ADDEC2METADATA");
        assert_eq!(
            convert(&c, b"{\"a\":1}\n").unwrap(),
            format!("{{\"a\":1,{META}}}\n")
        );
        assert_eq!(convert(&c, b"{}").unwrap(), format!("{{{META}}}\n"));
        assert_eq!(
            convert(&c, b" \t{\"a\":[1,{\"b\":null}],\"c\":\"x\\ny\"}\r\n\n  ").unwrap(),
            format!("{{\"a\":[1,{{\"b\":null}}],\"c\":\"x\\ny\",{META}}}\n")
        );
    }

    #[test]
    fn existing_keys_are_overwritten_in_place() {
        let c = compact();
        let got = convert(
            &c,
            br#"{"region":"mars","a":1,"tags":[1],"privateIp":null,"z":true}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            concat!(
                r#"{"region":"us-east-1","a":1,"tags":{"name":"web-1","env":"Test"},"privateIp":"10.0.0.5","z":true,"#,
                r#""availabilityZone":"us-east-1a","instanceId":"i-0123456789abcdef0","instanceType":"m5.large","accountId":"123456789012","amiId":"ami-0abcdef1234567890","metadataTimestamp":"2024-05-01T10:00:00+0000"}"#,
                "\n"
            )
        );
        // Duplicate keys in the record: last value, first position (LinkedHashMap).
        let got = convert(&c, br#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert!(got.starts_with(r#"{"a":3,"b":2,"privateIp""#), "{got}");
    }

    #[test]
    fn pretty_print() {
        let c = AddEc2Metadata::fixed(Some(metadata()), JsonFormat::PrettyPrint);
        let got = convert(&c, b"{\"a\":{\"b\":[1,2]},\"region\":\"x\"}\n").unwrap();
        let want = "{\n  \"a\" : {\n    \"b\" : [ 1, 2 ]\n  },\n  \"region\" : \"us-east-1\",\n  \"privateIp\" : \"10.0.0.5\",\n  \"availabilityZone\" : \"us-east-1a\",\n  \"instanceId\" : \"i-0123456789abcdef0\",\n  \"instanceType\" : \"m5.large\",\n  \"accountId\" : \"123456789012\",\n  \"amiId\" : \"ami-0abcdef1234567890\",\n  \"metadataTimestamp\" : \"2024-05-01T10:00:00+0000\",\n  \"tags\" : {\n    \"name\" : \"web-1\",\n    \"env\" : \"Test\"\n  }\n}\n";
        assert_eq!(got, want);
        let mut m = metadata();
        m.tags = Some(Vec::new());
        let c = AddEc2Metadata::fixed(Some(m), JsonFormat::PrettyPrint);
        assert!(convert(&c, b"{}").unwrap().ends_with("\"tags\" : { }\n}\n"));
    }

    #[test]
    fn tags_are_lower_cased_and_missing_tags_are_empty() {
        let mut m = metadata();
        m.tags = Some(vec![
            ("Name".into(), "a".into()),
            ("ÉQUIPE".into(), "b".into()),
            ("name".into(), "c".into()),
            ("aws:cloudformation:stack-name".into(), "s".into()),
        ]);
        let got = convert(&AddEc2Metadata::fixed(Some(m), JsonFormat::Compact), b"{}").unwrap();
        assert!(
            got.ends_with(
                "\"tags\":{\"name\":\"c\",\"équipe\":\"b\",\"aws:cloudformation:stack-name\":\"s\"}}\n"
            ),
            "{got}"
        );
        for tags in [Some(Vec::new()), None] {
            let mut m = metadata();
            m.tags = tags;
            let got = convert(&AddEc2Metadata::fixed(Some(m), JsonFormat::Compact), b"{}").unwrap();
            assert!(got.ends_with("\"tags\":{}}\n"), "{got}");
        }
    }

    #[test]
    fn missing_identity_fields_are_null_and_values_escaped() {
        let mut m = metadata();
        m.identity = IdentityDocument {
            instance_id: Some("i-\"1\"\n".into()),
            ..IdentityDocument::default()
        };
        m.tags = Some(vec![("K\t".into(), "v/é".into())]);
        let got = convert(&AddEc2Metadata::fixed(Some(m), JsonFormat::Compact), b"{}").unwrap();
        assert_eq!(
            got,
            "{\"privateIp\":null,\"availabilityZone\":null,\"instanceId\":\"i-\\\"1\\\"\\n\",\"instanceType\":null,\"accountId\":null,\"amiId\":null,\"region\":null,\"metadataTimestamp\":\"2024-05-01T10:00:00+0000\",\"tags\":{\"k\\t\":\"v/é\"}}\n"
        );
    }

    #[test]
    fn non_object_records_fail() {
        let c = compact();
        for bad in [
            &b"[1,2]\n"[..],
            b"42",
            b"\"str\"",
            b"null",
            b"",
            b"\n",
            b"not json",
            b"{\"a\":",
            b"{\"a\":1} trailing",
            b"{\"a\":1}{}",
            b"\xff{",
        ] {
            let mut out = Vec::new();
            let err = c.convert(bad, &mut out).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("Error converting json line to map"),
                "{err}"
            );
        }
        let deep = "[".repeat(10_000);
        let mut out = Vec::new();
        assert!(c
            .convert(format!("{{\"a\":{deep}").as_bytes(), &mut out)
            .is_err());
    }

    #[test]
    fn invalid_utf8_is_decoded_like_java() {
        let got = convert(&compact(), b"{\"a\":\"x\xed\xa0\x80y\"}").unwrap();
        assert!(got.starts_with("{\"a\":\"x\u{FFFD}y\","), "{got}");
    }

    #[test]
    fn without_metadata_records_pass_unchanged() {
        let c = AddEc2Metadata::fixed(None, JsonFormat::Compact);
        assert!(!c.is_ready());
        for input in [&b"{\"a\":1}\n"[..], b"not json\n", b"\xff\xfe", b""] {
            let mut out = Vec::new();
            assert!(c.convert(input, &mut out).unwrap());
            assert_eq!(out, input);
        }
    }

    #[test]
    fn warning_is_rate_limited() {
        let c = AddEc2Metadata::fixed(None, JsonFormat::Compact);
        let mut out = Vec::new();
        c.convert(b"x", &mut out).unwrap();
        let next = c.shared.next_warn_ms.load(Ordering::Relaxed);
        assert!(next >= WARN_EVERY_MS);
        for _ in 0..100 {
            c.convert(b"x", &mut out).unwrap();
        }
        assert_eq!(c.shared.next_warn_ms.load(Ordering::Relaxed), next);
    }

    #[test]
    fn timestamps() {
        let at = |s: u64| format_timestamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00+0000");
        assert_eq!(at(AT), "2024-05-01T10:00:00+0000");
        assert_eq!(at(951_825_599), "2000-02-29T11:59:59+0000");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59+0000");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00+0000");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59+0000");
        assert_eq!(
            format_timestamp(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00+0000"
        );
        let far = UNIX_EPOCH.checked_add(Duration::from_secs(i64::MAX as u64));
        if let Some(far) = far {
            assert!(format_timestamp(far).ends_with("+0000"));
        }
    }

    #[test]
    fn fetches_from_imds_in_the_background() {
        let imds = Imds::v2();
        let server = Server::start(move |r| imds.handle(r));
        let client = ImdsClient::new(&server.url()).unwrap();
        let c = AddEc2Metadata::with_source(client, Duration::from_secs(3600), JsonFormat::Compact);
        assert!(c.wait_ready(Duration::from_secs(20)));
        let got = convert(&c, b"{\"a\":1}\n").unwrap();
        let stamp = got
            .split("\"metadataTimestamp\":\"")
            .nth(1)
            .and_then(|s| s.get(..24))
            .unwrap();
        assert!(
            stamp.ends_with("+0000") && stamp.as_bytes()[10] == b'T',
            "{stamp}"
        );
        assert_eq!(
            got,
            format!(
                "{{\"a\":1,{}}}\n",
                META.replace("2024-05-01T10:00:00+0000", stamp)
            )
        );
        assert!(server.requests()[1..]
            .iter()
            .all(|r| r.header("X-aws-ec2-metadata-token") == Some("TOKEN-1")));
    }

    #[test]
    fn imdsv1_fallback_in_the_background() {
        let imds = Imds::v1(403);
        let server = Server::start(move |r| imds.handle(r));
        let client = ImdsClient::new(&server.url()).unwrap();
        let c = AddEc2Metadata::with_source(client, Duration::from_secs(3600), JsonFormat::Compact);
        assert!(c.wait_ready(Duration::from_secs(20)));
        assert!(convert(&c, b"{}")
            .unwrap()
            .contains("\"tags\":{\"name\":\"web-1\",\"env\":\"Test\"}"));
    }

    #[test]
    fn unreachable_imds_leaves_records_unchanged() {
        let server = Server::start(|_| super::super::imds::test_server::Reply::Hang);
        let client = ImdsClient::new(&server.url())
            .unwrap()
            .with_timeouts(Duration::from_secs(2), Duration::from_millis(100));
        let c = AddEc2Metadata::with_source(client, Duration::from_secs(3600), JsonFormat::Compact);
        // The record path does not wait for the fetch in progress.
        let mut out = Vec::new();
        assert!(c.convert(b"{\"a\":1}\n", &mut out).unwrap());
        assert_eq!(out, b"{\"a\":1}\n");
        assert!(!c.wait_ready(Duration::from_secs(20)));
        assert_eq!(c.fetch_attempts(), 1);
        let reason = c.shared.status().last_error.clone().unwrap();
        assert!(reason.contains("timeout"), "{reason}");
        out.clear();
        assert!(c.convert(b"[not an object]", &mut out).unwrap());
        assert_eq!(out, b"[not an object]");
    }

    #[test]
    fn ttl_refresh_and_stale_metadata_on_failure() {
        let calls = Arc::new(AtomicUsize::new(0));
        let n = calls.clone();
        let source = move || {
            let i = n.fetch_add(1, Ordering::SeqCst);
            let mut m = metadata();
            match i {
                0 => {}
                // Tags unreadable: the previous ones stay.
                1 => {
                    m.tags = None;
                    m.identity.instance_type = Some("m5.xlarge".into());
                }
                2..=4 => return Err(error_again("down")),
                _ => m.tags = Some(vec![("Name".into(), format!("web-{i}"))]),
            }
            Ok(m)
        };
        let c = AddEc2Metadata::with_source(source, Duration::from_millis(5), JsonFormat::Compact);
        assert!(c.wait_ready(Duration::from_secs(20)));
        let after_second = eventually("second fetch", || {
            let got = convert(&c, b"{}").unwrap();
            got.contains("m5.xlarge").then_some(got)
        });
        assert!(after_second.contains("\"tags\":{\"name\":\"web-1\",\"env\":\"Test\"}"));
        // Fetches 3 to 5 fail and keep the metadata of fetch 2; fetch 6 on has new tags.
        let refreshed = eventually("a later fetch", || {
            let got = convert(&c, b"{}").unwrap();
            (!got.contains("\"env\"")).then_some(got)
        });
        assert!(refreshed.contains("m5.large"), "{refreshed}");
        assert!(calls.load(Ordering::SeqCst) >= 6);
    }

    #[test]
    fn dropping_the_converter_stops_the_thread() {
        let token = Arc::new(());
        let held = token.clone();
        let source = move || {
            let _keep = &held;
            Ok(metadata())
        };
        let c = AddEc2Metadata::with_source(source, Duration::from_millis(1), JsonFormat::Compact);
        assert!(c.wait_ready(Duration::from_secs(20)));
        drop(c);
        eventually("the thread to drop its source", || {
            (Arc::strong_count(&token) == 1).then_some(())
        });
    }

    #[test]
    fn new_uses_the_environment_and_never_blocks() {
        // Whatever the environment says (normally no IMDS here), construction and the record
        // path return at once; the record is either unchanged or has metadata.
        let c = AddEc2Metadata::new(Duration::ZERO, JsonFormat::Compact);
        let mut out = Vec::new();
        assert!(c.convert(b"{\"a\":1}\n", &mut out).unwrap());
        assert!(out.starts_with(b"{\"a\":1"));
    }

    /// The reference merge: Java's `recordMap.putAll(metadata)` on an ordered map.
    fn reference(record: &Map<String, Value>, format: JsonFormat) -> String {
        let mut merged = record.clone();
        let m = metadata();
        let id = &m.identity;
        let s = |v: &Option<String>| Value::String(v.clone().unwrap());
        let tags: Map<String, Value> = m
            .tags
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), Value::String(v)))
            .collect();
        for (k, v) in KEYS.iter().zip([
            s(&id.private_ip),
            s(&id.availability_zone),
            s(&id.instance_id),
            s(&id.instance_type),
            s(&id.account_id),
            s(&id.image_id),
            s(&id.region),
            Value::String("2024-05-01T10:00:00+0000".into()),
            Value::Object(tags),
        ]) {
            merged.insert((*k).to_owned(), v);
        }
        let mut out = Vec::new();
        JsonWriter::new(&mut out, format).value(&Value::Object(merged));
        out.push(b'\n');
        String::from_utf8(out).unwrap()
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z\"\\\\\n é]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(("[a-z]{1,3}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn same_as_java_put_all(
            pairs in proptest::collection::vec(
                (prop_oneof![
                    "[a-z]{1,3}",
                    proptest::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
                ], arb_json()),
                0..8,
            ),
            pretty in any::<bool>(),
        ) {
            let format = if pretty { JsonFormat::PrettyPrint } else { JsonFormat::Compact };
            let record: Map<String, Value> = pairs.into_iter().collect();
            let input = serde_json::to_string(&record).unwrap() + "\n";
            let c = AddEc2Metadata::fixed(Some(metadata()), format);
            prop_assert_eq!(convert(&c, input.as_bytes()).unwrap(), reference(&record, format));
        }
    }
}
