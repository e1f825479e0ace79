//! End to end: a destination error that retrying cannot fix (the stream does not exist) is
//! logged at ERROR with its cause, rate-limited, retried, and nothing is dropped once it is fixed.

use crate::common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_stream_is_reported_and_data_waits_for_it() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let text: String = (0..300).map(|i| format!("waiting line {i}\n")).collect();
    append(&dir.path().join("logs/app.log"), &text);
    let cfg = write_config(
        dir.path(),
        &k.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "kinesisStream": "not-yet",
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000,
            "retryInitialBackoffMillis": 100,
            "retryMaxBackoffMillis": 1000
        }]),
        serde_json::json!({}),
    );
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    // Several failed attempts happen in this window (one per second at most).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let log = agent.log_text();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one rate-limited ERROR line, got:\n{log}"
    );
    assert!(
        errors[0].contains("ResourceNotFoundException") && errors[0].contains("not-yet"),
        "{}",
        errors[0]
    );

    create_stream(&c, "not-yet", 1).await;
    let mut reader = StreamReader::new(&c, "not-yet").await;
    let n = reader.wait_for(300, Duration::from_secs(30)).await;
    agent.signal(libc::SIGTERM);
    let log = agent.log_text();
    assert_eq!(agent.wait(Duration::from_secs(15)), Some(0));
    assert_eq!(n, 300, "log:\n{log}");
    reader.settle(Duration::from_millis(500)).await;
    assert_eq!(reader.records.len(), 300);
}
