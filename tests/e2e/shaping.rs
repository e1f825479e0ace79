//! End to end: a backlog drains into a provisioned stream at the shards' write limits, without
//! a storm of throttled entries. The limits are enforced per shard, entry by entry, by a proxy
//! in front of kinesalite (`common::limits`), as Kinesis does.

use crate::common::limits::{Limit, LimitStats, LimitingProxy};
use crate::common::*;
use std::time::{Duration, Instant};

const MIB: f64 = 1_048_576.0;

/// Waits until `kinetail status` says every flow has nothing left to send.
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
        let flows = flows.as_array().cloned().unwrap_or_default();
        if !flows.is_empty() && flows.iter().all(|f| f["behind"].as_u64() == Some(0)) {
            return;
        }
        assert!(Instant::now() < deadline, "not shipped in time: {}", why());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Ships what `write` puts in `logs/` into a 2-shard stream behind a proxy enforcing Kinesis's
/// shard limits (of which another producer takes all but `spare`), the flow shaped to them (plus
/// `flow_keys`); returns what the proxy saw and how long, from the first admitted entry to the
/// last, it took.
async fn ship_through_limits(
    write: impl FnOnce(&std::path::Path),
    flow_keys: serde_json::Value,
    spare: Vec<f64>,
) -> (LimitStats, f64) {
    ship_flows_through_limits(write, &["*.log"], flow_keys, spare).await
}

/// The same with a flow for each of `patterns` (files in `logs/`), to the same stream.
async fn ship_flows_through_limits(
    write: impl FnOnce(&std::path::Path),
    patterns: &[&str],
    flow_keys: serde_json::Value,
    spare: Vec<f64>,
) -> (LimitStats, f64) {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "shaped", 2).await;
    let proxy = LimitingProxy::start(
        k.port,
        Limit::PerShard {
            shards: shard_ranges(&c, "shaped").await,
            bytes_per_sec: MIB,
            records_per_sec: 1000.0,
            spare,
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    write(&dir.path().join("logs"));
    let flows: Vec<serde_json::Value> = patterns
        .iter()
        .map(|pattern| {
            let mut flow = serde_json::json!({
                "filePattern": format!("{}/logs/{pattern}", dir.path().display()),
                "kinesisStream": "shaped",
                "initialPosition": "START_OF_FILE",
                "maxBufferAgeMillis": 1000,
                "shardWriteBytesPerSecond": 1_048_576,
                "shardWriteRecordsPerSecond": 1000
            });
            for (key, value) in flow_keys.as_object().into_iter().flatten() {
                flow[key] = value.clone();
            }
            flow
        })
        .collect();
    let cfg = write_config(
        dir.path(),
        &proxy.endpoint(),
        serde_json::Value::Array(flows),
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
    (s, secs)
}

/// Prints the figures of a shaped run and checks the throttled share (under `max_throttled`)
/// and the share of the shards' capacity used (at least `min_used`).
fn report(s: &LimitStats, secs: f64, what: &str, used: f64, max_throttled: f64, min_used: f64) {
    let throttled = s.throttled as f64 / s.entries as f64;
    println!(
        "{} calls, {} entries, {} throttled ({:.2} %); {what} in {secs:.1} s: {:.0} % of the shards' capacity",
        s.calls,
        s.entries,
        s.throttled,
        throttled * 100.0,
        used * 100.0
    );
    assert!(
        throttled < max_throttled,
        "{:.2} % of entries throttled",
        throttled * 100.0
    );
    assert!(
        used >= min_used,
        "only {:.0} % of the shards' capacity used",
        used * 100.0
    );
}

/// Writes a backlog of `bytes` in lines of ~200 bytes.
fn backlog(bytes: u64) -> impl FnOnce(&std::path::Path) {
    move |logs| {
        write_backlog(&logs.join("backlog.log"), bytes, |i| {
            format!("{i:010} {}\n", "s".repeat(180 + (i % 17) as usize))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_60_mb_backlog_drains_at_the_shard_limits_with_under_1_percent_throttled() {
    let (s, secs) = ship_through_limits(
        backlog(60_000_000),
        serde_json::json!({"aggregation": "KPL"}),
        vec![],
    )
    .await;
    // What two shards can take in that time: their rate, plus the second of burst each starts with.
    let used = s.admitted_bytes as f64 / (2.0 * MIB * (secs + 1.0));
    report(
        &s,
        secs,
        &format!("{:.1} MB", s.admitted_bytes as f64 / 1e6),
        used,
        0.01,
        0.9,
    );
}

/// Plain records (no aggregation) with RANDOM keys: 24,000 lines into a 2-shard stream go at
/// the shards' 1,000 records per second, with under 1 % of entries throttled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_records_drain_at_the_shard_record_limits_with_under_1_percent_throttled() {
    let n = 24_000;
    let write = |logs: &std::path::Path| {
        let text: String = (0..n)
            .map(|i| format!("{i:06} {}\n", "r".repeat(90)))
            .collect();
        append(&logs.join("records.log"), &text);
    };
    let (s, secs) = ship_through_limits(write, serde_json::json!({}), vec![]).await;
    let admitted = s.entries - s.throttled;
    assert_eq!(admitted, n);
    let used = admitted as f64 / (2.0 * 1000.0 * (secs + 1.0));
    report(&s, secs, &format!("{admitted} records"), used, 0.01, 0.9);
}

/// Another producer takes three quarters of shard 0's limits: the throttled shard slows down
/// alone, and RANDOM keys go where there is room, so plain records drain at what the two
/// shards have left (1,250 records a second), not at twice what the busy one has left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_keys_move_to_the_shard_with_room_when_another_producer_keeps_one_busy() {
    let n = 15_000;
    let write = |logs: &std::path::Path| {
        let text: String = (0..n)
            .map(|i| format!("{i:06} {}\n", "b".repeat(90)))
            .collect();
        append(&logs.join("records.log"), &text);
    };
    let (s, secs) = ship_through_limits(write, serde_json::json!({}), vec![0.25, 1.0]).await;
    let admitted = s.entries - s.throttled;
    assert_eq!(admitted, n);
    let used = admitted as f64 / (1250.0 * (secs + 1.0));
    busy_shard_report(&s, secs, &format!("{admitted} records"), used);
}

/// Checks a run into a stream with a busy shard. The requests in flight before the first
/// reply find out that it is busy (a twentieth of this short run's entries, the same for any
/// sender); after that, the agent only probes for room the other producer leaves (AIMD).
fn busy_shard_report(s: &LimitStats, secs: f64, what: &str, used: f64) {
    let later = s.throttled_after(Duration::from_secs(1));
    println!(
        "after the first second, {:.2} % of the entries were throttled",
        later * 100.0
    );
    report(s, secs, what, used, 0.08, 0.85);
    assert!(
        later < 0.05,
        "{:.2} % throttled after the first second",
        later * 100.0
    );
}

/// The same with KPL aggregates, bound by bytes: 20 MB drain at what the shards have left
/// (1.25 MiB a second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpl_aggregates_move_to_the_shard_with_room_when_another_producer_keeps_one_busy() {
    let (s, secs) = ship_through_limits(
        backlog(20_000_000),
        serde_json::json!({"aggregation": "KPL"}),
        vec![0.25, 1.0],
    )
    .await;
    let used = s.admitted_bytes as f64 / (1.25 * MIB * (secs + 1.0));
    busy_shard_report(
        &s,
        secs,
        &format!("{:.1} MB", s.admitted_bytes as f64 / 1e6),
        used,
    );
}

/// Two flows into one stream share its shards' buckets (a shard's limits are the stream's,
/// whoever writes): 2 × 12,000 plain lines drain at the shards' record limits with under 1 % of
/// entries throttled (measured 0.00 %, 89 % of the capacity); two flows that each assumed the
/// whole shards sent twice what the shards take until they throttled (10.7 %).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_flows_into_one_stream_share_its_shards_limits() {
    let n = 12_000;
    let write = |logs: &std::path::Path| {
        for name in ["a.one", "b.two"] {
            let text: String = (0..n)
                .map(|i| format!("{name} {i:06} {}\n", "t".repeat(84)))
                .collect();
            append(&logs.join(format!("{name}.log")), &text);
        }
    };
    let (s, secs) = ship_flows_through_limits(
        write,
        &["*.one.log", "*.two.log"],
        serde_json::json!({}),
        vec![],
    )
    .await;
    let admitted = s.entries - s.throttled;
    assert_eq!(admitted, 2 * n);
    let used = admitted as f64 / (2.0 * 1000.0 * (secs + 1.0));
    report(&s, secs, &format!("{admitted} records"), used, 0.01, 0.85);
}

/// Ships `n` identical lines of `len` bytes (one DETERMINISTIC key: three seconds of its shard)
/// ahead of `n` lines spread over both shards, and returns, per shard, the entries and bytes the
/// proxy admitted after the last one of the shard with fewer bytes (the cold one).
async fn hot_burst_then_spread(
    n: usize,
    len: usize,
    flow_keys: serde_json::Value,
) -> [(usize, u64); 2] {
    let write = move |logs: &std::path::Path| {
        let mut text = format!("{}\n", "h".repeat(len)).repeat(n);
        for i in 0..n {
            text.push_str(&format!("{i:06} {}\n", "c".repeat(len - 6)));
        }
        append(&logs.join("records.log"), &text);
    };
    let mut keys = serde_json::json!({"partitionKeyOption": "DETERMINISTIC"});
    for (key, value) in flow_keys.as_object().into_iter().flatten() {
        keys[key] = value.clone();
    }
    let (s, secs) = ship_through_limits(write, keys, vec![]).await;
    let bytes = |i: usize| s.admitted_at[i].iter().map(|(_, b)| b).sum::<u64>();
    let cold = if bytes(0) < bytes(1) { 0 } else { 1 };
    let cold_done = s.admitted_at[cold].last().unwrap().0;
    let after = |i: usize| {
        let late: Vec<u64> = s.admitted_at[i]
            .iter()
            .filter(|(t, _)| *t > cold_done)
            .map(|(_, b)| *b)
            .collect();
        (late.len(), late.iter().sum::<u64>())
    };
    let hot = 1 - cold;
    println!(
        "{secs:.1} s; entries per shard {:?}, bytes {:?}; after the cold shard's last, the hot one took {:?} (entries, bytes); {} throttled",
        [s.admitted_at[0].len(), s.admitted_at[1].len()],
        [bytes(0), bytes(1)],
        after(hot),
        s.throttled
    );
    assert_eq!(s.throttled, 0, "shaped: nothing throttled");
    [after(0), after(1)]
}

/// A burst of one DETERMINISTIC key (3,000 identical lines: three seconds of its shard's record
/// limit) ahead of 3,000 lines spread over both shards: the other shard's records are sent while
/// the hot one's wait for their shard's tokens, instead of waiting behind them in file order. The
/// hot shard still had more than a second of records to go when the other shard's last record
/// arrived (measured ~3,030 of its ~4,500; without holding back per shard, none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_one_hot_key_does_not_hold_up_the_other_shards_records() {
    let after = hot_burst_then_spread(3_000, 100, serde_json::json!({})).await;
    let (hot_after, _) = after[0].max(after[1]);
    assert!(
        hot_after >= 1_000,
        "the other shard's records waited behind the hot key: only {hot_after} of the hot shard's records came after its last"
    );
}

/// The same with KPL aggregates, where the bytes limit binds: 3 MB of one key ahead of 3 MB
/// spread; more than a second of the hot shard's bytes still to go when the other shard is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_one_hot_key_does_not_hold_up_the_other_shards_aggregates() {
    let after =
        hot_burst_then_spread(3_000, 1_000, serde_json::json!({"aggregation": "KPL"})).await;
    let (_, hot_bytes) = after[0].max(after[1]);
    assert!(
        hot_bytes as f64 >= MIB,
        "the other shard's aggregates waited behind the hot key: only {hot_bytes} bytes of the hot shard came after its last"
    );
}
