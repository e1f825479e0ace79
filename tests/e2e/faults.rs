//! End to end through the project's fault-injecting proxy in front of kinesalite: partial
//! failures inside a 200 reply, 5xx, throttling, dropped connections, slow replies, and replies
//! that are not what the API promises (an HTML 502, an HTML 200, a truncated or cut-off body,
//! fewer entries than records). Nothing is lost, nothing of a malformed reply counts as stored,
//! only the failed entries are sent again, and the only duplicates are the records the server
//! stored while the agent was told the call failed: one each, since nothing retries beneath the
//! agent's own loop.

use crate::common::proxy::{Fault, FaultProxy};
use crate::common::*;
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_lose_nothing_and_retry_only_failed_entries() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "faults", 2).await;
    let plan = vec![
        Fault::FailEntries {
            nth: 3,
            code: "ProvisionedThroughputExceededException",
        },
        Fault::FailEntries {
            nth: 2,
            code: "InternalFailure",
        },
        Fault::Status {
            status: 500,
            code: "InternalFailure",
        },
        Fault::Status {
            status: 400,
            code: "ProvisionedThroughputExceededException",
        },
        Fault::DropBefore,
        Fault::Status {
            status: 503,
            code: "ServiceUnavailable",
        },
        Fault::FailEntries {
            nth: 1,
            code: "ProvisionedThroughputExceededException",
        },
        Fault::DropAfter,
        Fault::Reply {
            status: 502,
            content_type: "text/html",
            body: "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>",
        },
        Fault::TruncatedReply,
        Fault::Reply {
            status: 200,
            content_type: "text/html",
            body: "<html><body>Please log in to the corporate proxy</body></html>",
        },
        Fault::MissingEntry,
        Fault::CutOffReply,
        Fault::Delay(Duration::from_millis(1500)),
        Fault::FailEntries {
            nth: 5,
            code: "ProvisionedThroughputExceededException",
        },
    ];
    let proxy = FaultProxy::start(k.port, plan).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let n = 6000;
    let text: String = (0..n)
        .map(|i| format!("fault-test line {i:05}\n"))
        .collect();
    append(&dir.path().join("logs/app.log"), &text);
    let cfg = write_config(
        dir.path(),
        &proxy.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "kinesisStream": "faults",
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000,
            "retryInitialBackoffMillis": 50,
            "retryMaxBackoffMillis": 500
        }]),
        serde_json::json!({ "maxSendingThreads": 2 }),
    );
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    let mut reader = StreamReader::new(&c, "faults").await;
    let got = reader.wait_for(n, Duration::from_secs(90)).await;
    reader.settle(Duration::from_millis(1500)).await;
    agent.signal(libc::SIGTERM);
    let log_text = agent.log_text();
    assert_eq!(agent.wait(Duration::from_secs(15)), Some(0));
    let plog = proxy.log();
    assert_eq!(
        proxy.pending(),
        0,
        "not every fault was exercised: {:?}",
        plog.requests
    );
    assert!(
        got >= n,
        "only {got} of {n} arrived; proxy saw {:?}\n{log_text}",
        plog.requests
    );

    let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
    for r in &reader.records {
        *counts.entry(r.data.clone()).or_default() += 1;
    }
    for i in 0..n {
        let line = format!("fault-test line {i:05}\n").into_bytes();
        assert!(counts.contains_key(&line), "line {i} is missing");
    }
    assert_eq!(
        counts.len(),
        n,
        "records that are not lines of the file arrived"
    );
    let dups = reader.records.len() - n;
    // Records stored by a call whose reply was lost or malformed are the only ones that repeat,
    // once each: no retry layer beneath the agent's sends such a call again.
    assert!(
        dups > 0 && dups == plog.stored_but_unacknowledged,
        "{dups} duplicates, but {} entries were stored without acknowledgement; proxy saw {:?}",
        plog.stored_but_unacknowledged,
        plog.requests
    );
    assert!(plog.failed_entries > 0);
    assert!(
        log_text.contains("were rejected"),
        "partial failures were not reported:\n{log_text}"
    );
    println!(
        "proxy saw {} PutRecords calls; {} entries failed inside 200 replies; {dups} duplicates from {} stored-but-unacknowledged entries",
        plog.requests.len(),
        plog.failed_entries,
        plog.stored_but_unacknowledged
    );
}
