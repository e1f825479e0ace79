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

/// Every row of `csv` (after its header) arrived exactly once, as the Java agent's JSON.
fn assert_exactly_the_taxi_rows(csv: &std::path::Path, records: &[ReadRecord]) {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut expected: HashMap<Vec<u8>, i64> = HashMap::new();
    for line in text.lines().skip(1) {
        *expected.entry(expected_json(line)).or_default() += 1;
    }
    for r in records {
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
}

/// The CSV files of `data` to the stream `taxi` as JSON with the 17 taxi field names.
fn taxi_flow(data: &std::path::Path) -> serde_json::Value {
    serde_json::json!([{
        "filePattern": format!("{}/*.csv", data.display()),
        "kinesisStream": "taxi",
        "initialPosition": "START_OF_FILE",
        "skipHeaderLines": 1,
        "maxBufferAgeMillis": 1000,
        "dataProcessingOptions": [{ "optionName": "CSVTOJSON", "customFieldNames": TAXI_FIELDS }]
    }])
}

/// kinesalite with a 2-shard stream `taxi`, and a directory holding the 120,000-row file and an
/// agent.json for it: (server, client, directory, CSV file, agent.json).
async fn taxi_setup() -> (
    Kinesalite,
    aws_sdk_kinesis::Client,
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
) {
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
        taxi_flow(&data),
        serde_json::json!({}),
    );
    (k, c, dir, csv, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxi_120k_rows_arrive_once_as_java_identical_json() {
    let (_server, c, dir, csv, config) = taxi_setup().await;
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

    assert_exactly_the_taxi_rows(&csv, &reader.records);
    assert_eq!(reader.records.len(), 120_000);
    println!("peak resident memory of kinetail while shipping 120,000 rows: {peak_kib} KiB");
    assert!(
        peak_kib > 0 && peak_kib < 32 * 1024,
        "peak RSS {peak_kib} KiB is not below 32 MiB"
    );
}

/// `run --once` on the 120,000-row file under a pseudo-terminal (`script`): it draws its progress
/// bar, exits 0 by itself, and every row is in the stream exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_ships_the_taxi_file_exactly_once_with_a_progress_bar_on_a_terminal() {
    let (_server, c, dir, csv, config) = taxi_setup().await;
    let typescript = dir.path().join("typescript");
    let command = format!(
        "{} -c {} run --once",
        env!("CARGO_BIN_EXE_kinetail"),
        config.display()
    );
    // -e: script exits with the command's code; -f: flush as it goes.
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-f", "-c", &command])
        .arg(&typescript)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("script (util-linux) runs");
    let code = wait_for_exit(&mut child, Duration::from_secs(240));
    let screen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    assert_eq!(code, Some(0), "{screen}");
    // The bar's template: bytes of total, rate, ETA; drawn over itself with carriage returns.
    assert!(
        screen.contains("ETA"),
        "no progress bar on the terminal:\n{screen}"
    );
    assert!(
        screen.contains("MiB/s") || screen.contains("KiB/s"),
        "{screen}"
    );
    assert!(screen.contains("--once: everything shipped"), "{screen}");
    let mut reader = StreamReader::new(&c, "taxi").await;
    reader.wait_for(120_000, Duration::from_secs(60)).await;
    reader.settle(Duration::from_secs(1)).await;
    assert_exactly_the_taxi_rows(&csv, &reader.records);
    assert_eq!(reader.records.len(), 120_000);
}
