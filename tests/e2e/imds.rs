//! The IMDS client (`kinetail::ec2`) and ADDEC2METADATA against the Node.js IMDS test server
//! (`tests/harness/imds.js`, built-in modules only: needs `node`, no `npm ci`): the token flow,
//! the IMDSv1 fallback, tags, and `preview` of a flow with ADDEC2METADATA.

use crate::common::imds::FakeImds;
use std::process::{Command, Stdio};
use std::time::Duration;

use kinetail::config::JsonFormat;
use kinetail::ec2::{Ec2Error, IdentityDocument, ImdsClient, Timeouts};
use kinetail::process::addec2metadata::AddEc2Metadata;
use kinetail::process::Converter;

const IDENTITY: &str = r#""privateIp":"10.0.0.5","availabilityZone":"us-east-1a","instanceId":"i-0123456789abcdef0","instanceType":"m5.large","accountId":"123456789012","amiId":"ami-0abcdef1234567890","region":"us-east-1","metadataTimestamp":""#;

const TOKEN_PUT: &str = "PUT /latest/api/token";

fn identity() -> IdentityDocument {
    IdentityDocument {
        private_ip: Some("10.0.0.5".into()),
        availability_zone: Some("us-east-1a".into()),
        instance_id: Some("i-0123456789abcdef0".into()),
        instance_type: Some("m5.large".into()),
        account_id: Some("123456789012".into()),
        image_id: Some("ami-0abcdef1234567890".into()),
        region: Some("us-east-1".into()),
    }
}

fn tags(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn client(imds: &FakeImds) -> ImdsClient {
    ImdsClient::new(&imds.url()).unwrap()
}

#[tokio::test]
async fn imdsv2_token_flow() {
    let imds = FakeImds::start(&["v2"]);
    let m = client(&imds).fetch().await.unwrap();
    assert_eq!(m.identity, identity());
    assert_eq!(m.tags, tags(&[("Name", "web-1"), ("Env", "Test")]));
    let stats = imds.stats();
    assert_eq!(stats["requests"][TOKEN_PUT], 1, "{stats}");
    assert_eq!(stats["tokensIssued"], 1, "{stats}");
    for path in [
        "/latest/dynamic/instance-identity/document",
        "/latest/meta-data/tags/instance/",
        "/latest/meta-data/tags/instance/Name",
        "/latest/meta-data/tags/instance/Env",
    ] {
        assert_eq!(stats["requests"][format!("GET {path}")], 1, "{stats}");
    }
    assert_eq!(stats["getsWithToken"], 4, "{stats}");
    assert_eq!(stats["getsWithoutToken"], 0, "{stats}");
    assert_eq!(stats["rejected"], 0, "{stats}");
}

#[tokio::test]
async fn token_is_reused_across_fetches() {
    let imds = FakeImds::start(&["v2"]);
    let mut c = client(&imds);
    for _ in 0..3 {
        c.fetch().await.unwrap();
    }
    let stats = imds.stats();
    assert_eq!(stats["requests"][TOKEN_PUT], 1, "{stats}");
    assert_eq!(stats["getsWithToken"], 12, "{stats}");
    assert_eq!(stats["rejected"], 0, "{stats}");
}

#[tokio::test]
async fn imdsv1_fallback_when_the_token_request_is_refused() {
    for refusal in ["v1:403", "v1:404", "v1:405"] {
        let imds = FakeImds::start(&[refusal]);
        let mut c = client(&imds);
        for _ in 0..2 {
            let m = c.fetch().await.unwrap();
            assert_eq!(m.identity, identity(), "{refusal}");
            assert_eq!(m.tags, tags(&[("Name", "web-1"), ("Env", "Test")]));
        }
        let stats = imds.stats();
        // One token request for both fetches: IMDSv1 is remembered for a while.
        assert_eq!(stats["requests"][TOKEN_PUT], 1, "{refusal}: {stats}");
        assert_eq!(stats["tokensIssued"], 0, "{refusal}: {stats}");
        assert_eq!(stats["getsWithoutToken"], 8, "{refusal}: {stats}");
    }
}

#[tokio::test]
async fn imdsv1_fallback_when_the_token_request_fails_at_connection_level() {
    // `drop`: the connection is closed without a reply; `hang`: the reply never comes, as when
    // a hop limit of 1 drops it on its way to a container.
    for failure in ["v1:drop", "v1:hang"] {
        let imds = FakeImds::start(&[failure]);
        let timeouts = Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_millis(500),
        };
        let mut c = ImdsClient::with_timeouts(&imds.url(), timeouts).unwrap();
        let m = c.fetch().await.unwrap();
        assert_eq!(m.identity, identity(), "{failure}");
        assert_eq!(m.tags, tags(&[("Name", "web-1"), ("Env", "Test")]));
        let stats = imds.stats();
        assert_eq!(stats["requests"][TOKEN_PUT], 1, "{failure}: {stats}");
        assert_eq!(stats["getsWithoutToken"], 4, "{failure}: {stats}");
    }
}

#[tokio::test]
async fn missing_tags_are_empty() {
    let imds = FakeImds::start(&["v2", "notags"]);
    let m = client(&imds).fetch().await.unwrap();
    assert_eq!(m.identity, identity());
    assert_eq!(m.tags, Some(Vec::new()));
}

#[tokio::test]
async fn tag_keys_are_percent_encoded_and_vanished_tags_skipped() {
    let imds = FakeImds::start(&["v2", "tag=a b/c=1", "ghosttag=gone"]);
    let m = client(&imds).fetch().await.unwrap();
    assert_eq!(
        m.tags,
        tags(&[("Name", "web-1"), ("Env", "Test"), ("a b/c", "1")])
    );
    let stats = imds.stats();
    let requests = &stats["requests"];
    assert_eq!(
        requests["GET /latest/meta-data/tags/instance/a%20b%2Fc"], 1,
        "{stats}"
    );
    assert_eq!(
        requests["GET /latest/meta-data/tags/instance/gone"], 1,
        "{stats}"
    );
}

#[tokio::test]
async fn tag_errors_leave_tags_unknown() {
    let imds = FakeImds::start(&["v2", "failtag=Env"]);
    let m = client(&imds).fetch().await.unwrap();
    assert_eq!(m.identity, identity());
    assert_eq!(m.tags, None);
    let mut c = client(&imds);
    let err = c.instance_tags().await.unwrap_err();
    assert_eq!(
        err,
        Ec2Error::Status {
            path: "/latest/meta-data/tags/instance/Env".into(),
            status: 500
        }
    );
}

#[tokio::test]
async fn the_token_never_shows_in_debug_or_errors() {
    let imds = FakeImds::start(&["v2"]);
    let mut c = client(&imds);
    c.fetch().await.unwrap();
    let token = imds.stats()["lastToken"].as_str().unwrap().to_owned();
    assert!(!format!("{c:?}").contains(&token), "{c:?}");

    // The SDK keeps the raw reply of a token request it cannot use, token included.
    let imds = FakeImds::start(&["v2", "nottl"]);
    let mut c = client(&imds);
    let err = c.fetch().await.unwrap_err();
    let token = imds.stats()["lastToken"].as_str().unwrap().to_owned();
    assert!(matches!(err, Ec2Error::Token(_)), "{err}");
    let shown = format!("{err} {err:?} {c:?}");
    assert!(!shown.contains(&token), "{shown}");
}

/// A runtime with a worker thread of its own, as `run` and `preview` give the converter.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn convert_when_ready(url: &str) -> String {
    let rt = runtime();
    let client = ImdsClient::new(url).unwrap();
    let c = AddEc2Metadata::with_source(
        client,
        Duration::from_secs(3600),
        JsonFormat::Compact,
        rt.handle(),
    );
    assert!(
        c.wait_ready(Duration::from_secs(30)),
        "no metadata from {url}"
    );
    let mut out = Vec::new();
    assert!(c.convert(b"{\"msg\":\"hello\"}\n", &mut out).unwrap());
    String::from_utf8(out).unwrap()
}

#[test]
fn converter_with_imdsv2() {
    let imds = FakeImds::start(&["v2"]);
    let got = convert_when_ready(&imds.url());
    assert!(
        got.starts_with(&format!("{{\"msg\":\"hello\",{IDENTITY}")),
        "{got}"
    );
    assert!(
        got.ends_with("+0000\",\"tags\":{\"name\":\"web-1\",\"env\":\"Test\"}}\n"),
        "{got}"
    );
    let stats = imds.stats();
    assert_eq!(stats["requests"][TOKEN_PUT], 1, "{stats}");
    assert_eq!(stats["getsWithToken"], 4, "{stats}");
}

#[test]
fn converter_with_imdsv1() {
    let imds = FakeImds::start(&["v1"]);
    let got = convert_when_ready(&imds.url());
    assert!(
        got.contains(IDENTITY) && got.contains("\"tags\":{\"name\":\"web-1\",\"env\":\"Test\"}"),
        "{got}"
    );
    let stats = imds.stats();
    assert_eq!(stats["tokensIssued"], 0, "{stats}");
    assert_eq!(stats["getsWithoutToken"], 4, "{stats}");
}

#[test]
fn converter_without_tags() {
    let imds = FakeImds::start(&["v2", "notags"]);
    let got = convert_when_ready(&imds.url());
    assert!(got.ends_with("\"tags\":{}}\n"), "{got}");
    assert!(got.contains(IDENTITY), "{got}");
}

/// `preview` has no runtime of its own otherwise: ADDEC2METADATA must still fetch and show.
#[test]
fn preview_of_a_flow_with_addec2metadata() {
    let imds = FakeImds::start(&["v2"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.json");
    std::fs::write(
        &cfg,
        r#"{ "flows": [{ "filePattern": "/nonexistent/*.log", "kinesisStream": "s",
             "dataProcessingOptions": [{ "optionName": "ADDEC2METADATA" }] }] }"#,
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kinetail"))
        .args(["preview", "--stdin", "-c"])
        .arg(&cfg)
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"msg\":\"hello\"}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("SEND {{\"msg\":\"hello\",{IDENTITY}")),
        "{text}"
    );
    assert_eq!(imds.stats()["tokensIssued"], 1);
}
