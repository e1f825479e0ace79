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

/// How long the stream is missing in the outage test.
const OUTAGE: Duration = Duration::from_secs(60);
/// The writer's pace during the outage (bounded so that the test's disk use is: ~300 MB).
const OUTAGE_WRITE_BYTES_PER_SEC: usize = 5 << 20;
/// One line in this many matches the flow's pattern; the others are skipped.
const MATCH_EVERY: usize = 1000;

/// A minute without the stream while a writer appends fast to a LOGTOJSON flow whose pattern
/// rarely matches (so nearly every line is skipped): memory stays flat, and once the stream
/// exists every matching line arrives, converted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_under_a_fast_writer_keeps_memory_flat_and_loses_nothing() {
    let _heavy = HEAVY.lock().await;
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let log_path = dir.path().join("logs/app.log");
    let cfg = write_config(
        dir.path(),
        &k.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "kinesisStream": "outage",
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000,
            "retryInitialBackoffMillis": 100,
            "retryMaxBackoffMillis": 2000,
            "dataProcessingOptions": [{
                "optionName": "LOGTOJSON",
                "logFormat": "COMMONAPACHELOG",
                "matchPattern": "^MATCH (\\d+) (\\S+)$",
                "customFieldNames": ["n", "word"]
            }]
        }]),
        serde_json::json!({}),
    );
    append(&log_path, "");
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    let writer = {
        let path = log_path.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            let started = std::time::Instant::now();
            let (mut line, mut matches, mut written) = (0usize, 0usize, 0usize);
            let mut block = String::new();
            while started.elapsed() < OUTAGE {
                let due =
                    (started.elapsed().as_secs_f64() * OUTAGE_WRITE_BYTES_PER_SEC as f64) as usize;
                if written >= due {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                block.clear();
                while block.len() < 64 * 1024 {
                    if line % MATCH_EVERY == 0 {
                        block.push_str(&format!("MATCH {matches} w{matches}\n"));
                        matches += 1;
                    } else {
                        block.push_str(&format!(
                            "127.0.0.1 noise line {line} that the pattern does not match\n"
                        ));
                    }
                    line += 1;
                }
                f.write_all(block.as_bytes()).unwrap();
                written += block.len();
            }
            (matches, written)
        })
    };
    let (matches, written) = tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();
    let rss_during_outage = agent.peak_rss_kib();
    create_stream(&c, "outage", 1).await;
    let mut reader = StreamReader::new(&c, "outage").await;
    let n = reader.wait_for(matches, Duration::from_secs(120)).await;
    let peak = agent.peak_rss_kib();
    agent.signal(libc::SIGTERM);
    let log = agent.log_text();
    assert_eq!(agent.wait(Duration::from_secs(15)), Some(0));
    eprintln!(
        "outage: {written} bytes written in {OUTAGE:?}, {matches} matching lines; peak RSS \
         {rss_during_outage} KiB during the outage, {peak} KiB in all"
    );
    assert_eq!(
        n,
        matches,
        "log:\n{}",
        &log[log.len().saturating_sub(4000)..]
    );
    reader.settle(Duration::from_millis(500)).await;
    let got: std::collections::HashSet<Vec<u8>> =
        reader.records.iter().map(|r| r.data.clone()).collect();
    for m in 0..matches {
        let want = format!("{{\"n\":\"{m}\",\"word\":\"w{m}\"}}\n");
        assert!(got.contains(want.as_bytes()), "missing {want}");
    }
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB");
}
