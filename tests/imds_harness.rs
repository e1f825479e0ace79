//! The IMDS client and ADDEC2METADATA against the Node.js IMDS test server
//! (`tests/harness/imds.js`, built-in modules only: needs `node`, no `npm ci`).

mod common;

use common::imds::FakeImds;
use std::time::Duration;

use kinetail::config::JsonFormat;
use kinetail::process::ec2metadata::AddEc2Metadata;
use kinetail::process::imds::ImdsClient;
use kinetail::process::Converter;

const IDENTITY: &str = r#""privateIp":"10.0.0.5","availabilityZone":"us-east-1a","instanceId":"i-0123456789abcdef0","instanceType":"m5.large","accountId":"123456789012","amiId":"ami-0abcdef1234567890","region":"us-east-1","metadataTimestamp":""#;

fn convert_when_ready(url: &str) -> String {
    let client = ImdsClient::new(url).unwrap();
    let c = AddEc2Metadata::with_source(client, Duration::from_secs(3600), JsonFormat::Compact);
    assert!(
        c.wait_ready(Duration::from_secs(30)),
        "no metadata from {url}"
    );
    let mut out = Vec::new();
    assert!(c.convert(b"{\"msg\":\"hello\"}\n", &mut out).unwrap());
    String::from_utf8(out).unwrap()
}

#[test]
fn imdsv2_token_flow() {
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
    assert_eq!(stats["requests"]["PUT /latest/api/token"], 1, "{stats}");
    assert_eq!(stats["tokensIssued"], 1, "{stats}");
    // Identity document, tag list, two tag values.
    assert_eq!(stats["getsWithToken"], 4, "{stats}");
    assert_eq!(stats["getsWithoutToken"], 0, "{stats}");
    assert_eq!(stats["rejected"], 0, "{stats}");
}

#[test]
fn imdsv1_fallback() {
    let imds = FakeImds::start(&["v1"]);
    let got = convert_when_ready(&imds.url());
    assert!(
        got.contains(IDENTITY) && got.contains("\"tags\":{\"name\":\"web-1\",\"env\":\"Test\"}"),
        "{got}"
    );
    let stats = imds.stats();
    assert_eq!(stats["requests"]["PUT /latest/api/token"], 1, "{stats}");
    assert_eq!(stats["tokensIssued"], 0, "{stats}");
    assert_eq!(stats["getsWithoutToken"], 4, "{stats}");
}

#[test]
fn tags_not_exposed() {
    let imds = FakeImds::start(&["v2", "notags"]);
    let got = convert_when_ready(&imds.url());
    assert!(got.ends_with("\"tags\":{}}\n"), "{got}");
    assert!(got.contains(IDENTITY), "{got}");
}
