//! End to end: a 1 GB backlog drained through a link of ~1 MB/s keeps memory flat, and a
//! second flow to a healthy stream keeps flowing meanwhile.

use crate::common::limits::{Limit, LimitingProxy};
use crate::common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_with_a_1_gb_backlog_keeps_memory_flat_and_another_flow_flowing() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "slow", 1).await;
    create_stream(&c, "fast", 1).await;
    let proxy = LimitingProxy::start(
        k.port,
        Limit::SlowStream {
            stream: "slow".into(),
            bytes_per_sec: 1_000_000.0,
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    write_backlog(&dir.path().join("logs/big.log"), 1_000_000_000, |i| {
        format!(
            "{i:012} backlog line {}\n",
            "b".repeat(70 + (i % 13) as usize)
        )
    });
    let cfg = write_config(
        dir.path(),
        &proxy.endpoint(),
        serde_json::json!([
            {
                "filePattern": format!("{}/logs/big.log", dir.path().display()),
                "kinesisStream": "slow",
                "initialPosition": "START_OF_FILE"
            },
            {
                "filePattern": format!("{}/logs/small.log", dir.path().display()),
                "kinesisStream": "fast",
                "initialPosition": "START_OF_FILE",
                "maxBufferAgeMillis": 1000
            }
        ]),
        serde_json::json!({}),
    );
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    let mut reader = StreamReader::new(&c, "fast").await;
    // 20 s of draining; a line to the other flow every 0.5 s, each timed until it can be read.
    let mut latencies = Vec::new();
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(20) {
        let text = format!("fast line {n}\n");
        append(&dir.path().join("logs/small.log"), &text);
        let written = Instant::now();
        let arrived = reader
            .wait_until(Duration::from_secs(10), |r| {
                r.iter().any(|r| r.data == text.as_bytes())
            })
            .await;
        assert!(arrived, "{text:?} never arrived: {}", agent.log_text());
        latencies.push(written.elapsed());
        n += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rss_mib = agent.peak_rss_kib() as f64 / 1024.0;
    let stats = proxy.stats();
    agent.stop(Duration::from_secs(15));
    let worst = latencies.iter().max().unwrap();
    println!(
        "{n} lines of the healthy flow, slowest {worst:?}; peak RSS {rss_mib:.1} MiB; the slow stream took {} calls",
        stats.calls
    );
    assert!(
        *worst < Duration::from_secs(2),
        "a line of the healthy flow took {worst:?}: {latencies:?}"
    );
    assert!(
        rss_mib < 32.0,
        "peak RSS {rss_mib:.1} MiB while the backlog drained"
    );
    assert!(
        stats.calls >= 3,
        "the backlog was not being drained: {stats:?}"
    );
}
