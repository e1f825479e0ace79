use super::*;
use crate::ec2::{expected_identity, Ec2Error, IdentityDocument};
use proptest::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, UNIX_EPOCH};
use tokio::runtime::Runtime;

const AT: u64 = 1_714_557_600; // 2024-05-01T10:00:00Z

fn metadata() -> Ec2Metadata {
    Ec2Metadata {
        identity: expected_identity(),
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
    // The first record used up this minute's warning.
    assert!(!c.unavailable_log.due());
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

/// The runtime of a refresh task, as `run` and `preview` provide one: its own worker
/// thread, so that the test thread can block in `wait_ready`.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A setup failure, reported again by every fetch.
fn error_again(reason: &str) -> Ec2Error {
    Ec2Error::Token(reason.to_owned())
}

#[test]
fn unreachable_imds_leaves_records_unchanged() {
    let rt = runtime();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = ImdsClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let c = AddEc2Metadata::with_source(
        client,
        Duration::from_secs(3600),
        JsonFormat::Compact,
        rt.handle(),
    );
    let mut out = Vec::new();
    assert!(c.convert(b"{\"a\":1}\n", &mut out).unwrap());
    assert_eq!(out, b"{\"a\":1}\n");
    assert!(!c.wait_ready(Duration::from_secs(20)));
    assert_eq!(c.fetch_attempts(), 1);
    let reason = c.state.borrow().last_error.clone().unwrap();
    assert!(
        reason.contains("GET /latest/dynamic/instance-identity/document"),
        "{reason}"
    );
    out.clear();
    assert!(c.convert(b"[not an object]", &mut out).unwrap());
    assert_eq!(out, b"[not an object]");
}

/// A source whose first fetch finishes when the test says so.
struct Gated(Option<tokio::sync::oneshot::Receiver<()>>);

impl MetadataSource for Gated {
    fn fetch(&mut self) -> impl std::future::Future<Output = Result<Ec2Metadata, Ec2Error>> + Send {
        let gate = self.0.take();
        async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            Ok(metadata())
        }
    }
}

#[test]
fn record_path_does_not_wait_for_the_fetch_in_progress() {
    let rt = runtime();
    let (release, gate) = tokio::sync::oneshot::channel();
    let c = AddEc2Metadata::with_source(
        Gated(Some(gate)),
        Duration::from_secs(3600),
        JsonFormat::Compact,
        rt.handle(),
    );
    let mut out = Vec::new();
    assert!(c.convert(b"{}", &mut out).unwrap());
    assert_eq!(out, b"{}");
    assert!(!c.wait_ready(Duration::from_millis(50)));
    assert_eq!(c.fetch_attempts(), 0);
    release.send(()).unwrap();
    assert!(c.wait_ready(Duration::from_secs(20)));
    assert_eq!(convert(&c, b"{}").unwrap(), format!("{{{META}}}\n"));
}

#[test]
fn a_stopped_flow_does_not_wait_for_the_first_fetch() {
    let rt = runtime();
    let (_never, gate) = tokio::sync::oneshot::channel();
    let c = AddEc2Metadata::with_source(
        Gated(Some(gate)),
        Duration::from_secs(3600),
        JsonFormat::Compact,
        rt.handle(),
    );
    let stop = std::sync::atomic::AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            stop.store(true, Ordering::Relaxed);
        });
        // Without the stop, this waits the whole minute (the fetch never finishes).
        Converter::wait_ready(&c, Duration::from_secs(60), &|| {
            stop.load(Ordering::Relaxed)
        });
    });
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the wait outlived the stop: {:?}",
        started.elapsed()
    );
    assert_eq!(c.fetch_attempts(), 0);
}

#[test]
fn ttl_refresh_and_stale_metadata_on_failure() {
    let rt = runtime();
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
    let c = AddEc2Metadata::with_source(
        source,
        Duration::from_millis(5),
        JsonFormat::Compact,
        rt.handle(),
    );
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
fn failures_are_published_with_their_reason() {
    let rt = runtime();
    let c = AddEc2Metadata::with_source(
        || Err(error_again("down")),
        Duration::from_secs(3600),
        JsonFormat::Compact,
        rt.handle(),
    );
    assert!(!c.wait_ready(Duration::from_secs(20)));
    assert_eq!(c.fetch_attempts(), 1);
    assert_eq!(
        c.state.borrow().last_error.as_deref(),
        Some("IMDSv2 session token: down")
    );
}

#[test]
fn dropping_the_converter_ends_the_refresh_task() {
    let rt = runtime();
    let token = Arc::new(());
    let held = token.clone();
    let source = move || {
        let _keep = &held;
        Ok(metadata())
    };
    let c = AddEc2Metadata::with_source(
        source,
        Duration::from_secs(3600),
        JsonFormat::Compact,
        rt.handle(),
    );
    assert!(c.wait_ready(Duration::from_secs(20)));
    drop(c);
    // The task was sleeping for an hour: the closed channel, not the TTL, ends it.
    eventually("the task to drop its source", || {
        (Arc::strong_count(&token) == 1).then_some(())
    });
}

#[test]
fn new_uses_the_environment_and_never_blocks() {
    // Whatever the environment says (normally no IMDS here), construction and the record
    // path return at once; the record is either unchanged or has metadata.
    let rt = runtime();
    let c = AddEc2Metadata::new(Duration::ZERO, JsonFormat::Compact, rt.handle());
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
