//! End to end through Firehose: moto's delivery stream into its S3, read back call by call
//! (`common/moto.rs`). The taxi rows with CSVTOJSON arrive in order byte for byte; with
//! `aggregatedRecordSizeBytes` lines are joined exactly as the Java agent joins them; a record
//! over 1,024,000 bytes is cut to that; entries failed inside a 200 reply are the only ones sent
//! again; and a stream flow and a Firehose flow over the same file keep separate checkpoints
//! across a restart.
//!
//! moto loses records under concurrent calls, so every flow here keeps one request in flight
//! (`maxSendingThreads` 1), which also makes the arrival order the file order.

use crate::common::moto::{Delivered, Moto};
use crate::common::proxy::{Fault, FaultProxy};
use crate::common::*;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// An agent.json whose Firehose client goes to `firehose` (and whose Kinesis client, unused
/// unless a flow names a stream, to `kinesis`).
fn config(
    dir: &Path,
    kinesis: &str,
    firehose: &str,
    flows: serde_json::Value,
) -> std::path::PathBuf {
    write_config(
        dir,
        kinesis,
        flows,
        serde_json::json!({ "firehose.endpoint": firehose, "maxSendingThreads": 1 }),
    )
}

/// Waits for moto without holding up the runtime's other tasks (the fault proxy runs on it).
fn wait_for(moto: &mut Moto, stream: &str, n: usize, timeout: Duration) -> Delivered {
    tokio::task::block_in_place(|| moto.wait_for(stream, n, timeout))
}

fn stop(agent: Agent) -> String {
    agent.signal(libc::SIGTERM);
    let log = agent.log_text();
    assert_eq!(
        agent.wait(Duration::from_secs(15)),
        Some(0),
        "kinetail did not exit cleanly:\n{log}"
    );
    log
}

/// The Java agent's `AggregationSplitter` over complete lines: a line joins the record while the
/// record stays within `hint` bytes; a longer line is a record of its own.
fn java_join(lines: &[String], hint: usize) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    for l in lines {
        if !cur.is_empty() && cur.len() + l.len() > hint {
            out.push(std::mem::take(&mut cur));
        }
        cur.push_str(l);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxi_rows_arrive_in_order_as_java_identical_json() {
    const ROWS: usize = 20_000;
    let mut moto = Moto::start();
    moto.create_delivery_stream("taxi");
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read_to_string(taxi_120k(dir.path())).unwrap();
    let slice: Vec<&str> = full.split_inclusive('\n').take(ROWS + 1).collect();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("taxi.csv"), slice.concat()).unwrap();
    let cfg = config(
        dir.path(),
        &moto.endpoint(),
        &moto.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/*.csv", data.display()),
            "deliveryStream": "taxi",
            "initialPosition": "START_OF_FILE",
            "skipHeaderLines": 1,
            "maxBufferAgeMillis": 1000,
            "dataProcessingOptions": [{ "optionName": "CSVTOJSON", "customFieldNames": TAXI_FIELDS }]
        }]),
    );
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    let got = wait_for(&mut moto, "taxi", ROWS, Duration::from_secs(50));
    let log = stop(agent);
    assert_eq!(got.count(), ROWS, "log:\n{log}");

    let expected: Vec<Vec<u8>> = slice[1..]
        .iter()
        .map(|l| crate::taxi::expected_json(l.trim_end_matches('\n')))
        .collect();
    let records = got.records();
    let first_wrong = (0..ROWS).find(|&i| records[i] != expected[i].as_slice());
    assert!(
        first_wrong.is_none(),
        "record {} differs: got {:?}, expected {:?}",
        first_wrong.unwrap_or(0),
        String::from_utf8_lossy(records[first_wrong.unwrap_or(0)]),
        String::from_utf8_lossy(&expected[first_wrong.unwrap_or(0)])
    );
    assert_eq!(got.bytes(), expected.concat());
    for call in &got.calls {
        assert!(
            call.len() <= 500,
            "a PutRecordBatch of {} records",
            call.len()
        );
        assert!(call.iter().map(Vec::len).sum::<usize>() <= 4 * 1024 * 1024);
    }
    assert!(
        moto.delivered("taxi").count() == ROWS,
        "records arrived after the agent stopped"
    );
    println!(
        "{ROWS} taxi rows in {} PutRecordBatch calls, in file order, byte for byte",
        got.calls.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_records_join_lines_within_the_size_hint() {
    const HINT: usize = 2000;
    let mut moto = Moto::start();
    moto.create_delivery_stream("joined");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let file = dir.path().join("logs/app.log");
    // Lines of many lengths, some empty, some longer than the hint (they go alone).
    let line = |i: usize| -> String {
        if i.is_multiple_of(211) {
            "\n".to_owned()
        } else if i.is_multiple_of(97) {
            format!("long {i:05} {}\n", "L".repeat(2500))
        } else {
            format!("agg {i:05} {}\n", "y".repeat(i * 7919 % 180))
        }
    };
    let first: Vec<String> = (0..3000).map(line).collect();
    append(&file, &first.concat());
    let cfg = config(
        dir.path(),
        &moto.endpoint(),
        &moto.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "deliveryStream": "joined",
            "initialPosition": "START_OF_FILE",
            "aggregatedRecordSizeBytes": HINT,
            "maxBufferAgeMillis": 1000
        }]),
    );
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));

    // The file was complete before the start and is read in one pass, so the records are exactly
    // the Java agent's joins of its lines.
    let expected = java_join(&first, HINT);
    let got = wait_for(&mut moto, "joined", expected.len(), Duration::from_secs(30));
    let records: Vec<String> = got
        .records()
        .iter()
        .map(|r| String::from_utf8(r.to_vec()).unwrap())
        .collect();
    assert_eq!(
        records.len(),
        expected.len(),
        "log:\n{}",
        std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default()
    );
    let first_wrong = (0..records.len()).find(|&i| records[i] != expected[i]);
    assert!(
        first_wrong.is_none(),
        "record {first_wrong:?} is not the Java agent's join"
    );

    // Lines appended while it runs: joined within the hint, nothing lost or repeated.
    let more: Vec<String> = (3000..4000).map(line).collect();
    for part in more.chunks(250) {
        append(&file, &part.concat());
        std::thread::sleep(Duration::from_millis(200));
    }
    let all = [first.concat(), more.concat()].concat();
    let got = tokio::task::block_in_place(|| {
        moto.wait_for_bytes("joined", all.len(), Duration::from_secs(30))
    });
    stop(agent);
    assert_eq!(String::from_utf8(got.bytes()).unwrap(), all);
    let lines = first.len() + more.len();
    for r in got.records() {
        assert!(r.ends_with(b"\n"), "a record does not end a line");
        let n = r.iter().filter(|b| **b == b'\n').count();
        assert!(
            r.len() <= HINT || n == 1,
            "a record of {} bytes joins {n} lines",
            r.len()
        );
    }
    assert!(
        got.count() * 5 < lines,
        "{} records for {lines} lines: lines were not joined",
        got.count()
    );
    println!(
        "{lines} lines arrived as {} Firehose records of at most {HINT} bytes (longer lines alone) in {} calls",
        got.count(),
        got.calls.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_longer_than_the_firehose_limit_are_cut_to_it() {
    const LIMIT: usize = 1_024_000;
    let mut moto = Moto::start();
    moto.create_delivery_stream("big");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let long = format!("{}\n", "X".repeat(LIMIT + 50_000));
    append(
        &dir.path().join("logs/app.log"),
        &format!("before\n{long}after\n"),
    );
    let cfg = config(
        dir.path(),
        &moto.endpoint(),
        &moto.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "deliveryStream": "big",
            "initialPosition": "START_OF_FILE",
            "truncatedRecordTerminator": "<cut>\n",
            "maxBufferAgeMillis": 1000
        }]),
    );
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    let got = wait_for(&mut moto, "big", 3, Duration::from_secs(30));
    let log = stop(agent);
    let records = got.records();
    assert_eq!(records.len(), 3, "log:\n{log}");
    assert_eq!(records[0], b"before\n");
    // Firehose counts the data alone (no partition key): cut to exactly the limit, terminator last.
    let cut = format!("{}<cut>\n", "X".repeat(LIMIT - 6));
    assert!(records[1] == cut.as_bytes(), "{} bytes", records[1].len());
    assert_eq!(records[2], b"after\n");
    assert!(log.contains("truncated"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_entries_are_resent_alone_and_nothing_is_lost() {
    const N: usize = 3000;
    let mut moto = Moto::start();
    moto.create_delivery_stream("faulty");
    let code = "ServiceUnavailableException";
    let plan = vec![
        Fault::FailEntries { nth: 3, code },
        Fault::FailEntries { nth: 2, code },
        Fault::FailEntries { nth: 1, code },
        Fault::FailEntries { nth: 5, code },
    ];
    let proxy = FaultProxy::start(moto.port, plan).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let lines: Vec<String> = (0..N)
        .map(|i| format!("firehose fault line {i:05}\n"))
        .collect();
    append(&dir.path().join("logs/app.log"), &lines.concat());
    let cfg = config(
        dir.path(),
        &proxy.endpoint(),
        &proxy.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "deliveryStream": "faulty",
            "initialPosition": "START_OF_FILE",
            "maxBufferSizeRecords": 250,
            "maxBufferAgeMillis": 1000,
            "retryInitialBackoffMillis": 50,
            "retryMaxBackoffMillis": 500
        }]),
    );
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    let got = wait_for(&mut moto, "faulty", N, Duration::from_secs(40));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = stop(agent);
    let got_after = moto.delivered("faulty");
    assert_eq!(got_after.count(), got.count(), "records arrived late");
    let plog = proxy.log();
    assert_eq!(
        proxy.pending(),
        0,
        "faults not exercised: {:?}",
        plog.requests
    );

    let mut counts: HashMap<&[u8], usize> = HashMap::new();
    for r in got.records() {
        *counts.entry(r).or_default() += 1;
    }
    for l in &lines {
        assert_eq!(
            counts.get(l.as_bytes()),
            Some(&1),
            "{l:?} did not arrive exactly once\n{log}"
        );
    }
    assert_eq!(got.count(), N, "records that are not lines arrived");
    let sent: usize = plog.requests.iter().map(|(n, _)| n).sum();
    assert!(plog.failed_entries > 0);
    assert_eq!(
        sent,
        N + plog.failed_entries,
        "entries sent other than each line once plus each failed entry once more: {:?}",
        plog.requests
    );
    assert!(
        log.contains("were rejected") && log.contains(code),
        "partial failures were not reported:\n{log}"
    );
    println!(
        "{} PutRecordBatch calls, {} entries failed inside 200 replies and were re-sent alone",
        plog.requests.len(),
        plog.failed_entries
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_flow_and_a_firehose_flow_over_one_file_keep_their_own_checkpoints() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "both", 1).await;
    let mut moto = Moto::start();
    moto.create_delivery_stream("both");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let file = dir.path().join("logs/app.log");
    let line = |i: usize| format!("shared line {i:05}\n");
    append(&file, &(0..2000).map(line).collect::<String>());
    let pattern = format!("{}/logs/*.log", dir.path().display());
    let flow = |dest: &str| {
        serde_json::json!({
            "filePattern": pattern,
            dest: "both",
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000
        })
    };
    let cfg = config(
        dir.path(),
        &k.endpoint(),
        &moto.endpoint(),
        serde_json::json!([flow("kinesisStream"), flow("deliveryStream")]),
    );
    let log_path = dir.path().join("agent.log");
    let mut reader = StreamReader::new(&c, "both").await;

    let agent = Agent::start(&cfg, &log_path);
    assert_eq!(reader.wait_for(2000, Duration::from_secs(30)).await, 2000);
    assert_eq!(
        wait_for(&mut moto, "both", 2000, Duration::from_secs(30)).count(),
        2000
    );
    stop(agent);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/checkpoints")).unwrap())
            .unwrap();
    let size = std::fs::metadata(&file).unwrap().len();
    for id in [
        format!("kinesis:both:{pattern}"),
        format!("fh:both:{pattern}"),
    ] {
        assert_eq!(
            state["flows"][&id]["files"][0]["offset"].as_u64(),
            Some(size),
            "no checkpoint at the end of the file for {id}: {state:#}"
        );
    }

    // After a restart each flow sends only what is new to it.
    append(&file, &(2000..2500).map(line).collect::<String>());
    let agent = Agent::start(&cfg, &log_path);
    reader.wait_for(2500, Duration::from_secs(30)).await;
    wait_for(&mut moto, "both", 2500, Duration::from_secs(30));
    reader.settle(Duration::from_millis(1500)).await;
    let log = stop(agent);
    let delivered = moto.delivered("both");
    let expected: Vec<Vec<u8>> = (0..2500).map(|i| line(i).into_bytes()).collect();
    let mut from_stream: Vec<Vec<u8>> = reader.records.iter().map(|r| r.data.clone()).collect();
    from_stream.sort();
    assert_eq!(
        from_stream, expected,
        "the stream lost or repeated lines\n{log}"
    );
    let from_firehose: Vec<Vec<u8>> = delivered.records().iter().map(|r| r.to_vec()).collect();
    // One request in flight: the delivery stream holds the file in order.
    assert_eq!(
        from_firehose, expected,
        "the delivery stream lost or repeated lines\n{log}"
    );
}
