//! End to end: PutRecords of up to the API's 10 MiB when `maxBufferSizeBytes` asks for it, and
//! the Java agent's 5 MiB by default. kinesalite refuses bodies over 7 MiB (a 5 MiB request in
//! base64), so the proxy stores these requests itself (`Fault::Store`) and the lines are read
//! back from what it received.

use crate::common::proxy::{Fault, FaultProxy};
use crate::common::*;
use std::time::Duration;

/// The records (data, partition key) of each PutRecords the proxy saw.
fn requests(proxy: &FaultProxy) -> Vec<Vec<(Vec<u8>, String)>> {
    proxy
        .log()
        .seen
        .iter()
        .map(|r| {
            let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            json["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        base64_simd::STANDARD
                            .decode_to_vec(e["Data"].as_str().unwrap())
                            .unwrap(),
                        e["PartitionKey"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

async fn ship(max_buffer_size_bytes: Option<u64>) -> Vec<usize> {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "big", 1).await;
    let proxy = FaultProxy::start(k.port, vec![Fault::Store; 100]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let n = 800;
    let text: String = (0..n)
        .map(|i| format!("{i:05} {}\n", "L".repeat(30_000 + i)))
        .collect();
    append(&dir.path().join("logs/big.log"), &text);
    let mut flow = serde_json::json!({
        "filePattern": format!("{}/logs/*.log", dir.path().display()),
        "kinesisStream": "big",
        "initialPosition": "START_OF_FILE",
        "maxBufferAgeMillis": 1000
    });
    if let Some(b) = max_buffer_size_bytes {
        flow["maxBufferSizeBytes"] = b.into();
    }
    let cfg = write_config(
        dir.path(),
        &proxy.endpoint(),
        serde_json::json!([flow]),
        serde_json::json!({}),
    );
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while requests(&proxy).iter().map(Vec::len).sum::<usize>() < n {
        assert!(std::time::Instant::now() < deadline, "{}", agent.log_text());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    agent.stop(Duration::from_secs(15));
    let seen = requests(&proxy);
    let mut got: Vec<&[u8]> = seen.iter().flatten().map(|(d, _)| &d[..]).collect();
    got.sort();
    let mut want: Vec<&[u8]> = text.split_inclusive('\n').map(str::as_bytes).collect();
    want.sort();
    assert!(got == want, "lines missing, repeated or changed");
    seen.iter()
        .map(|r| r.iter().map(|(d, k)| d.len() + k.len()).sum())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_records_carry_up_to_10_mib_when_asked_and_5_mib_by_default() {
    const MIB: usize = 1024 * 1024;
    let large = ship(Some(10 * MIB as u64)).await;
    println!("maxBufferSizeBytes 10 MiB: requests of {large:?} bytes");
    assert!(large.iter().all(|&b| b <= 10 * MIB), "{large:?}");
    assert!(
        large.iter().any(|&b| b > 9 * MIB),
        "no request over 9 MiB: {large:?}"
    );
    let default = ship(None).await;
    println!("by default: requests of {default:?} bytes");
    assert!(default.iter().all(|&b| b <= 5 * MIB), "{default:?}");
    assert!(default.iter().any(|&b| b > 4 * MIB), "{default:?}");
}

/// A stream that takes records of up to 2 MiB (its `MaxRecordSizeInKiB`, which kinesalite does
/// not report: the proxy adds it to DescribeStreamSummary, and stores the puts itself, since
/// kinesalite refuses records over 1 MiB) gets a 1.5 MiB line whole and a 3 MiB line cut at
/// 2 MiB, not at the default 1 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_cut_at_the_streams_own_maximum_record_size() {
    const MIB: usize = 1024 * 1024;
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "large", 1).await;
    let stored = Fault::Reply {
        status: 200,
        content_type: "application/x-amz-json-1.1",
        body: r#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"}]}"#,
    };
    let proxy = FaultProxy::start_editing(
        k.port,
        vec![stored.clone(), stored],
        vec![(
            "DescribeStreamSummary",
            Box::new(|reply: &mut serde_json::Value| {
                reply["StreamDescriptionSummary"]["MaxRecordSizeInKiB"] = 2048.into();
            }),
        )],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let a = format!("{}\n", "a".repeat(3 * MIB / 2));
    let b = format!("{}\n", "b".repeat(3 * MIB));
    append(&dir.path().join("logs/large.log"), &format!("{a}{b}"));
    let cfg = write_config(
        dir.path(),
        &proxy.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "kinesisStream": "large",
            "initialPosition": "START_OF_FILE",
            "partitionKeyOption": "DETERMINISTIC",
            "maxBufferSizeRecords": 1,
            "maxBufferAgeMillis": 1000
        }]),
        serde_json::json!({}),
    );
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while proxy.log().seen.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "{}", agent.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    agent.stop(Duration::from_secs(15));
    let entries: Vec<(Vec<u8>, String)> = proxy
        .log()
        .seen
        .iter()
        .map(|r| {
            let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let e = &json["Records"][0];
            (
                base64_simd::STANDARD
                    .decode_to_vec(e["Data"].as_str().unwrap())
                    .unwrap(),
                e["PartitionKey"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        entries[0].0,
        a.as_bytes(),
        "the 1.5 MiB line was not sent whole"
    );
    let (cut, key) = &entries[1];
    assert_eq!(
        cut.len() + key.len(),
        2 * MIB,
        "the 3 MiB line was not cut at 2 MiB"
    );
    assert!(cut.ends_with(b"b\n") && cut.iter().filter(|&&c| c == b'b').count() == cut.len() - 1);
}
