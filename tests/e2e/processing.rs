//! End to end: one agent.json with LOGTOJSON (combined Apache log), SINGLELINE over multi-line
//! pretty-printed JSON, ADDMETADATA and ADDEC2METADATA (against the local IMDS test server with
//! the IMDSv2 token flow), each into its own stream, read back and compared byte for byte.

use crate::common::imds::FakeImds;
use crate::common::*;
use std::path::Path;
use std::time::Duration;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures").join(name)).unwrap()
}

async fn read_stream(c: &aws_sdk_kinesis::Client, stream: &str, n: usize) -> Vec<String> {
    let mut r = StreamReader::new(c, stream).await;
    r.wait_for(n, Duration::from_secs(60)).await;
    r.settle(Duration::from_millis(300)).await;
    r.records
        .iter()
        .map(|x| String::from_utf8(x.data.clone()).unwrap())
        .collect()
}

fn flow(dir: &Path, sub: &str, stream: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut f = serde_json::json!({
        "filePattern": format!("{}/{sub}/*", dir.display()),
        "kinesisStream": stream,
        "initialPosition": "START_OF_FILE",
        "maxBufferAgeMillis": 1000,
        "partitionKeyOption": "DETERMINISTIC",
    });
    for (k, v) in extra.as_object().unwrap() {
        f[k] = v.clone();
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_converter_matches_the_java_agent_end_to_end() {
    let k = Kinesalite::start();
    let imds = FakeImds::start(&["v2"]);
    let c = client(&k.endpoint()).await;
    for s in ["apache", "json", "meta", "ec2"] {
        create_stream(&c, s, 1).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    for sub in ["apache", "json", "meta", "ec2"] {
        std::fs::create_dir_all(logs.join(sub)).unwrap();
    }

    // Apache combined log: two matching lines and one the pattern does not match (no bytes).
    append(
        &logs.join("apache/access.log"),
        concat!(
            "123.45.67.89 - - [27/Oct/2000:09:27:09 -0400] \"GET /java/javaResources.html HTTP/1.0\" 200 10450 \"-\" \"Mozilla/4.6 [en] (X11; U; OpenBSD 2.8 i386; Nav)\"\n",
            "123.45.67.89 - - [27/Oct/2000:09:27:09 -0400] \"GET /java/javaResources.html HTTP/1.0\" 200\n",
            "10.1.2.3 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 404 2326 \"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"\n",
        ),
    );
    // Pretty-printed JSON, written in two parts with a pause inside a record: it must still be
    // one record (the Java agent would split it).
    let pretty = fixture("pretty_printed_json");
    let cut = pretty
        .find("\"eventName\": \"ObjectRemoved:Delete\"")
        .unwrap();
    append(&logs.join("json/events.json"), &pretty[..cut]);
    // Plain lines for ADDMETADATA, one with characters JSON must escape.
    append(
        &logs.join("meta/app.log"),
        "first line\nsecond \"quoted\"\ttabbed line\n",
    );
    // JSON-lines records for ADDEC2METADATA, one that is not an object (sent raw).
    append(
        &logs.join("ec2/app.log"),
        "{\"msg\":\"hello\",\"n\":1}\n{\"msg\":\"second\",\"region\":\"mine\"}\nnot json\n",
    );

    let flows = serde_json::json!([
        flow(
            &logs,
            "apache",
            "apache",
            serde_json::json!({
                "dataProcessingOptions": [{ "optionName": "LOGTOJSON", "logFormat": "COMBINEDAPACHELOG" }]
            })
        ),
        flow(
            &logs,
            "json",
            "json",
            serde_json::json!({
                "multiLineStartPattern": "    \\{",
                "multiLineFlushMillis": 1000,
                "skipHeaderLines": 2,
                "dataProcessingOptions": [{ "optionName": "SINGLELINE" }]
            })
        ),
        flow(
            &logs,
            "meta",
            "meta",
            serde_json::json!({
                "dataProcessingOptions": [{
                    "optionName": "ADDMETADATA",
                    "timestamp": true,
                    "metadata": { "host": "web-1", "env": { "tier": "prod", "zone": 2 }, "tags": ["a", "b"] }
                }]
            })
        ),
        flow(
            &logs,
            "ec2",
            "ec2",
            serde_json::json!({
                "dataProcessingOptions": [{ "optionName": "ADDEC2METADATA", "metadataTTL": 3600 }]
            })
        ),
    ]);
    let cfg = write_config(dir.path(), &k.endpoint(), flows, serde_json::json!({}));
    let imds_url = imds.url();
    let agent = Agent::start_with_env(
        &cfg,
        &dir.path().join("agent.log"),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds_url.as_str())],
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    append(&logs.join("json/events.json"), &pretty[cut..]);

    let apache = read_stream(&c, "apache", 2).await;
    let json = read_stream(&c, "json", 3).await;
    let meta = read_stream(&c, "meta", 2).await;
    let ec2 = read_stream(&c, "ec2", 3).await;
    agent.signal(libc::SIGTERM);
    let log = agent.log_text();
    assert_eq!(agent.wait(Duration::from_secs(15)), Some(0), "{log}");

    assert_eq!(
        apache,
        vec![
            "{\"host\":\"123.45.67.89\",\"ident\":null,\"authuser\":null,\"datetime\":\"27/Oct/2000:09:27:09 -0400\",\"request\":\"GET /java/javaResources.html HTTP/1.0\",\"response\":\"200\",\"bytes\":\"10450\",\"referer\":null,\"agent\":\"Mozilla/4.6 [en] (X11; U; OpenBSD 2.8 i386; Nav)\"}\n",
            "{\"host\":\"10.1.2.3\",\"ident\":null,\"authuser\":\"frank\",\"datetime\":\"10/Oct/2000:13:55:36 -0700\",\"request\":\"GET /apache_pb.gif HTTP/1.0\",\"response\":\"404\",\"bytes\":\"2326\",\"referer\":\"http://www.example.com/start.html\",\"agent\":\"Mozilla/4.08 [en] (Win98; I ;Nav)\"}\n",
        ],
        "log:\n{log}"
    );

    let expected_json: Vec<String> = fixture("parsed_singleline_json")
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(json, expected_json, "log:\n{log}");

    assert_eq!(meta.len(), 2);
    let tail = [
        ",\"metadata\":{\"host\":\"web-1\",\"env\":{\"tier\":\"prod\",\"zone\":2},\"tags\":[\"a\",\"b\"]},\"data\":\"first line\"}\n",
        ",\"metadata\":{\"host\":\"web-1\",\"env\":{\"tier\":\"prod\",\"zone\":2},\"tags\":[\"a\",\"b\"]},\"data\":\"second \\\"quoted\\\"\\ttabbed line\"}\n",
    ];
    for (got, tail) in meta.iter().zip(tail) {
        // {"ts":"yyyy-MM-ddTHH:mm:ss.SSSZ" then the rest, byte for byte.
        let (head, rest) = got.split_at(32);
        assert!(
            head.starts_with("{\"ts\":\"") && head.ends_with("Z\""),
            "{got}"
        );
        assert_eq!(head.len(), 32);
        assert_eq!(rest, tail);
    }

    let identity = "\"privateIp\":\"10.0.0.5\",\"availabilityZone\":\"us-east-1a\",\"instanceId\":\"i-0123456789abcdef0\",\"instanceType\":\"m5.large\",\"accountId\":\"123456789012\",\"amiId\":\"ami-0abcdef1234567890\"";
    let mask = |s: &str| {
        // metadataTimestamp is the fetch time: check its shape, then compare the rest.
        let at = s
            .find("\"metadataTimestamp\":\"")
            .map(|i| i + 21)
            .unwrap_or(0);
        let mut out = s.to_owned();
        if at > 0 {
            let ts = &s[at..at + 24];
            assert!(
                ts.len() == 24 && ts.ends_with("+0000") && &ts[10..11] == "T",
                "{ts}"
            );
            out.replace_range(at..at + 24, "<ts>");
        }
        out
    };
    let ec2: Vec<String> = ec2.iter().map(|s| mask(s)).collect();
    assert_eq!(
        ec2,
        vec![
            format!("{{\"msg\":\"hello\",\"n\":1,{identity},\"region\":\"us-east-1\",\"metadataTimestamp\":\"<ts>\",\"tags\":{{\"name\":\"web-1\",\"env\":\"Test\"}}}}\n"),
            format!("{{\"msg\":\"second\",\"region\":\"us-east-1\",{identity},\"metadataTimestamp\":\"<ts>\",\"tags\":{{\"name\":\"web-1\",\"env\":\"Test\"}}}}\n"),
            "not json\n".to_owned(),
        ],
        "log:\n{log}"
    );
    let stats = imds.stats();
    assert!(stats["tokensIssued"].as_u64().unwrap() >= 1, "{stats}");
    assert_eq!(stats["getsWithoutToken"], 0, "IMDSv1 was used: {stats}");
}
