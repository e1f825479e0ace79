//! End to end: the 120,000-row NYC taxi file, CSVTOJSON with the workshop's 17 field names,
//! into kinesalite; every row arrives exactly once, byte for byte.

use crate::common::*;
use std::collections::HashMap;
use std::time::Duration;

/// The Java agent's CSVTOJSON output for one line, computed independently with serde_json
/// (fields as strings, in configured order, missing ones null, extra ones dropped).
pub(crate) fn expected_json(line: &str) -> Vec<u8> {
    let values: Vec<&str> = line.split(',').collect();
    let mut obj = serde_json::Map::new();
    for (i, name) in TAXI_FIELDS.iter().enumerate() {
        let v = values.get(i).map_or(serde_json::Value::Null, |s| {
            serde_json::Value::String((*s).to_owned())
        });
        obj.insert((*name).to_owned(), v);
    }
    let mut out = serde_json::to_vec(&serde_json::Value::Object(obj)).unwrap();
    out.push(b'\n');
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxi_120k_rows_arrive_once_as_java_identical_json() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "taxi", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let csv = taxi_120k(&data);
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/*.csv", data.display()),
            "kinesisStream": "taxi",
            "initialPosition": "START_OF_FILE",
            "skipHeaderLines": 1,
            "maxBufferAgeMillis": 1000,
            "dataProcessingOptions": [{ "optionName": "CSVTOJSON", "customFieldNames": TAXI_FIELDS }]
        }]),
        serde_json::json!({}),
    );
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    let mut reader = StreamReader::new(&c, "taxi").await;
    let got = reader.wait_for(120_000, Duration::from_secs(240)).await;
    let peak_kib = agent.peak_rss_kib();
    agent.signal(libc::SIGTERM);
    let log = agent.log_text();
    let code = agent.wait(Duration::from_secs(15));
    assert_eq!(code, Some(0), "agent did not exit cleanly; log:\n{log}");
    reader.settle(Duration::from_secs(1)).await;
    assert_eq!(got, 120_000, "log:\n{log}");

    let text = std::fs::read_to_string(&csv).unwrap();
    let mut expected: HashMap<Vec<u8>, i64> = HashMap::new();
    for line in text.lines().skip(1) {
        *expected.entry(expected_json(line)).or_default() += 1;
    }
    for r in &reader.records {
        *expected.entry(r.data.clone()).or_default() -= 1;
    }
    let wrong: Vec<_> = expected.iter().filter(|(_, n)| **n != 0).take(5).collect();
    assert!(
        wrong.is_empty(),
        "{} records differ from the expected JSON (count +missing/-extra), e.g. {:?}",
        expected.values().filter(|n| **n != 0).count(),
        wrong
            .iter()
            .map(|(k, n)| (String::from_utf8_lossy(k).into_owned(), **n))
            .collect::<Vec<_>>()
    );
    assert_eq!(reader.records.len(), 120_000);
    println!("peak resident memory of kinetail while shipping 120,000 rows: {peak_kib} KiB");
    assert!(
        peak_kib > 0 && peak_kib < 32 * 1024,
        "peak RSS {peak_kib} KiB is not below 32 MiB"
    );
}
