//! End to end: `kill -9` at random moments and SIGTERM during a backlog lose nothing.

use crate::common::*;
use rand::RngExt;
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn write_lines(path: &std::path::Path, from: usize, to: usize) {
    let text: String = (from..to).map(numbered_line).collect();
    append(path, &text);
}

fn tally(records: &[ReadRecord]) -> HashMap<Vec<u8>, usize> {
    let mut m = HashMap::new();
    for r in records {
        *m.entry(r.data.clone()).or_default() += 1;
    }
    m
}

/// Asserts every line 0..n arrived; returns how many extra copies arrived.
fn check_complete(records: &[ReadRecord], n: usize) -> usize {
    let got = tally(records);
    let mut missing = vec![];
    for i in 0..n {
        let line = numbered_line(i).into_bytes();
        if !got.contains_key(&line) {
            missing.push(i);
        }
    }
    assert!(
        missing.is_empty(),
        "{} lines missing, first: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(
        got.len(),
        n,
        "records that are not lines of the file arrived"
    );
    records.len() - n
}

/// Waits (at most 2 minutes) until every line 0..n arrived. Every line, not as many records:
/// duplicates alone may reach the count while the last lines are still to be sent, and a stop
/// then rightly leaves those for the next start.
async fn wait_for_every_line(reader: &mut StreamReader, n: usize) -> bool {
    reader
        .wait_until(Duration::from_secs(120), |records| {
            tally(records).len() >= n
        })
        .await
}

const MAX_SENDING: usize = 4;
const BATCH: usize = 500;

fn config(
    dir: &std::path::Path,
    endpoint: &str,
    stream: &str,
    shutdown_ms: u64,
) -> std::path::PathBuf {
    write_config(
        dir,
        endpoint,
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.display()),
            "kinesisStream": stream,
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000,
            "maxBufferSizeRecords": BATCH,
        }]),
        serde_json::json!({ "maxSendingThreads": MAX_SENDING, "shutdownTimeoutMillis": shutdown_ms }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_nothing() {
    let _heavy = HEAVY.lock().await;
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "crash", 2).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let a = dir.path().join("logs/a.log");
    let b = dir.path().join("logs/b.log");
    let total = 80_000;
    write_lines(&a, 0, 40_000);
    let cfg = config(dir.path(), &k.endpoint(), "crash", 10_000);
    let log = dir.path().join("agent.log");
    let mut reader = StreamReader::new(&c, "crash").await;
    let mut rng = rand::rng();
    let kills = 6;
    let mut sent_before_kill = vec![];
    for round in 0..kills {
        let agent = Agent::start(&cfg, &log);
        // More data keeps arriving across the restarts, in a second file.
        let per_round = (total - 40_000) / kills;
        let end = if round + 1 == kills {
            total
        } else {
            40_000 + (round + 1) * per_round
        };
        write_lines(&b, 40_000 + round * per_round, end);
        let wait_ms = rng.random_range(250..1200);
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        agent.kill9();
        reader.poll().await;
        sent_before_kill.push(reader.records.len());
    }
    let agent = Agent::start(&cfg, &log);
    let all = wait_for_every_line(&mut reader, total).await;
    assert!(
        all,
        "only {} distinct of {total} lines arrived; log:\n{}",
        tally(&reader.records).len(),
        agent.log_text()
    );
    agent.stop(Duration::from_secs(15));
    reader.settle(Duration::from_millis(800)).await;
    let dups = check_complete(&reader.records, total);
    println!(
        "kill -9 x{kills}: {} records read for {total} lines, {dups} duplicates (stream size after each kill: {sent_before_kill:?})",
        reader.records.len()
    );
    let bound = kill_duplicate_bound(kills, MAX_SENDING, BATCH);
    assert!(
        dups <= bound,
        "{dups} duplicates exceed the in-flight bound {bound}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_backlog_exits_in_time_and_loses_nothing() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "drain", 1).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let total = 100_000;
    write_lines(&dir.path().join("logs/big.log"), 0, total);
    let shutdown_ms = 3_000;
    let cfg = config(dir.path(), &k.endpoint(), "drain", shutdown_ms);
    let log = dir.path().join("agent.log");
    let agent = Agent::start(&cfg, &log);
    // Let it ship for a while, then stop it in the middle of the backlog.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t = Instant::now();
    agent.signal(libc::SIGTERM);
    let code = agent.wait(Duration::from_millis(shutdown_ms + 5_000));
    let took = t.elapsed();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, Some(0), "log:\n{text}");
    // The budget plus process exit slack on a loaded 2-core machine.
    assert!(
        took < Duration::from_millis(shutdown_ms + 1_000),
        "shutdown took {took:?}"
    );
    assert!(text.contains("Shut down completed"), "{text}");
    let mut reader = StreamReader::new(&c, "drain").await;
    reader.poll().await;
    let after_stop = reader.records.len();
    assert!(
        after_stop > 0 && after_stop < total,
        "no backlog at the signal: {after_stop} of {total} stored"
    );

    let agent = Agent::start(&cfg, &log);
    let all = wait_for_every_line(&mut reader, total).await;
    assert!(
        all,
        "only {} distinct of {total} lines arrived after the restart",
        tally(&reader.records).len()
    );
    agent.stop(Duration::from_secs(15));
    reader.settle(Duration::from_millis(800)).await;
    let dups = check_complete(&reader.records, total);
    println!(
        "SIGTERM 1.5 s into a backlog of {total} lines: exited 0 in {took:?} with {after_stop} stored, {dups} duplicates after the restart"
    );
}
