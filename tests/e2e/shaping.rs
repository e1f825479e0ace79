//! End to end: a backlog drains into a provisioned stream at the shards' write limits, without
//! a storm of throttled entries. The limits are enforced per shard, entry by entry, by a proxy
//! in front of kinesalite (`common::limits`), as Kinesis does.

use crate::common::limits::{Limit, LimitingProxy};
use crate::common::*;
use std::io::Write;
use std::time::{Duration, Instant};

const MIB: f64 = 1_048_576.0;

/// Waits until `kinetail status` says the flow has nothing left to send.
async fn wait_until_shipped(cfg: &std::path::Path, within: Duration, why: impl Fn() -> String) {
    let deadline = Instant::now() + within;
    loop {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kinetail"))
            .arg("-c")
            .arg(cfg)
            .args(["status", "--json"])
            .output()
            .unwrap();
        let flows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if flows[0]["behind"].as_u64() == Some(0) {
            return;
        }
        assert!(Instant::now() < deadline, "not shipped in time: {}", why());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_60_mb_backlog_drains_at_the_shard_limits_with_under_1_percent_throttled() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "shaped", 2).await;
    let shards = shard_ranges(&c, "shaped").await;
    let proxy = LimitingProxy::start(
        k.port,
        Limit::PerShard {
            shards,
            bytes_per_sec: MIB,
            records_per_sec: 1000.0,
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let path = dir.path().join("logs/backlog.log");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut i = 0u64;
        let mut written = 0u64;
        while written < 60_000_000 {
            let line = format!("{i:010} {}\n", "s".repeat(180 + (i % 17) as usize));
            f.write_all(line.as_bytes()).unwrap();
            written += line.len() as u64;
            i += 1;
        }
        f.flush().unwrap();
    }
    let cfg = write_config(
        dir.path(),
        &proxy.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "kinesisStream": "shaped",
            "initialPosition": "START_OF_FILE",
            "aggregation": "KPL",
            "maxBufferAgeMillis": 1000
        }]),
        serde_json::json!({}),
    );
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    wait_until_shipped(&cfg, Duration::from_secs(150), || {
        format!("{:?}; {}", proxy.stats(), agent.log_text())
    })
    .await;
    agent.stop(Duration::from_secs(15));
    let s = proxy.stats();
    let secs = s
        .last
        .unwrap()
        .duration_since(s.first.unwrap())
        .as_secs_f64();
    // What two shards can take in that time: their rate, plus the second of burst each starts with.
    let capacity = 2.0 * MIB * (secs + 1.0);
    let used = s.admitted_bytes as f64 / capacity;
    let throttled = s.throttled as f64 / s.entries as f64;
    println!(
        "{} calls, {} entries, {} throttled ({:.2} %); {:.1} MB in {secs:.1} s: {:.0} % of the shards' capacity",
        s.calls,
        s.entries,
        s.throttled,
        throttled * 100.0,
        s.admitted_bytes as f64 / 1e6,
        used * 100.0
    );
    assert!(
        throttled < 0.01,
        "{:.2} % of entries throttled",
        throttled * 100.0
    );
    assert!(
        used >= 0.9,
        "only {:.0} % of the shards' capacity used",
        used * 100.0
    );
}
