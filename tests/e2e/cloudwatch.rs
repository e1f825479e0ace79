//! CloudWatch metrics as the Java agent publishes them, read back from moto's CloudWatch
//! (`GetMetricStatistics`, `ListMetrics`): the agent ships through the fault proxy in front of
//! kinesalite, and every statistic of every datum must equal what the proxy saw sent and failed.
//! A CloudWatch endpoint that never answers must not hold up shipping, memory or the shutdown.

use crate::common::moto::Moto;
use crate::common::proxy::{Fault, FaultProxy, ProxyLog};
use crate::common::*;
use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, Statistic};
use std::time::{Duration, SystemTime};

const NAMESPACE: &str = "KinetailTest";

/// Sum, minimum, maximum and sample count of one metric over every datum moto holds for it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Totals {
    sum: f64,
    min: f64,
    max: f64,
    count: f64,
}

impl Totals {
    fn of(samples: &[f64]) -> Totals {
        Totals {
            sum: samples.iter().sum(),
            min: samples.iter().copied().fold(f64::INFINITY, f64::min),
            max: samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            count: samples.len() as f64,
        }
    }
}

async fn totals(
    cw: &aws_sdk_cloudwatch::Client,
    name: &str,
    destination: &str,
) -> Option<(Totals, String)> {
    let now = SystemTime::now();
    let out = cw
        .get_metric_statistics()
        .namespace(NAMESPACE)
        .metric_name(name)
        .dimensions(
            Dimension::builder()
                .name("Destination")
                .value(destination)
                .build(),
        )
        .start_time((now - Duration::from_secs(3600)).into())
        .end_time((now + Duration::from_secs(3600)).into())
        .period(60)
        .set_statistics(Some(vec![
            Statistic::Sum,
            Statistic::Minimum,
            Statistic::Maximum,
            Statistic::SampleCount,
        ]))
        .send()
        .await
        .expect("GetMetricStatistics");
    let points = out.datapoints();
    if points.is_empty() {
        return None;
    }
    let unit = points[0]
        .unit()
        .map(|u| u.as_str().to_owned())
        .unwrap_or_default();
    Some((
        Totals {
            sum: points.iter().filter_map(|p| p.sum()).sum(),
            min: points
                .iter()
                .filter_map(|p| p.minimum())
                .fold(f64::INFINITY, f64::min),
            max: points
                .iter()
                .filter_map(|p| p.maximum())
                .fold(f64::NEG_INFINITY, f64::max),
            count: points.iter().filter_map(|p| p.sample_count()).sum(),
        },
        unit,
    ))
}

/// Per call, from what the proxy saw and the fault it applied (its `Debug` form, logged with the
/// request): (records in the request, failed as a whole, entries stored, entries rejected,
/// data bytes stored).
fn calls(log: &ProxyLog) -> Vec<(usize, bool, usize, usize, u64)> {
    log.seen
        .iter()
        .enumerate()
        .map(|(i, req)| {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            let records = body["Records"].as_array().unwrap();
            let sizes: Vec<u64> = records
                .iter()
                .map(|r| {
                    base64_simd::STANDARD
                        .decode_to_vec(r["Data"].as_str().unwrap())
                        .unwrap()
                        .len() as u64
                })
                .collect();
            let fault = log.requests[i].1.as_deref();
            let nth = fault
                .and_then(|f| f.strip_prefix("FailEntries { nth: "))
                .and_then(|f| f.split(',').next())
                .map(|n| n.parse::<usize>().unwrap());
            match (fault, nth) {
                (Some(f), _) if f.starts_with("Status") => (records.len(), true, 0, 0, 0),
                (Some(_), Some(nth)) => {
                    let stored: Vec<u64> = sizes
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| (j + 1) % nth != 0)
                        .map(|(_, s)| *s)
                        .collect();
                    let failed = records.len() - stored.len();
                    (
                        records.len(),
                        false,
                        stored.len(),
                        failed,
                        stored.iter().sum(),
                    )
                }
                (None, _) => (records.len(), false, records.len(), 0, sizes.iter().sum()),
                (Some(f), None) => panic!("the test does not model {f}"),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datums_match_what_was_sent_and_failed() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "cw", 2).await;
    let plan = vec![
        Fault::FailEntries {
            nth: 3,
            code: "ProvisionedThroughputExceededException",
        },
        Fault::Status {
            status: 500,
            code: "InternalFailure",
        },
        Fault::FailEntries {
            nth: 2,
            code: "InternalFailure",
        },
        Fault::Status {
            status: 400,
            code: "ProvisionedThroughputExceededException",
        },
        Fault::FailEntries {
            nth: 1,
            code: "ProvisionedThroughputExceededException",
        },
    ];
    let proxy = FaultProxy::start(k.port, plan).await;
    let moto = Moto::start();
    let imds = crate::common::imds::FakeImds::start(&["v2"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    // Lines of different lengths, so that bytes per call differ from records per call.
    let lines: Vec<String> = (0..3000)
        .map(|i| format!("line-{i:07} {}", "x".repeat(i % 97)))
        .collect();
    append(&dir.path().join("logs/app.log"), &(lines.join("\n") + "\n"));
    let cfg = write_config(
        dir.path(),
        &proxy.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "kinesisStream": "cw",
            "initialPosition": "START_OF_FILE",
            "maxBufferSizeRecords": 400,
            "maxBufferAgeMillis": 1000,
            "retryInitialBackoffMillis": 50,
        }]),
        serde_json::json!({
            "cloudwatch.emitMetrics": true,
            "cloudwatch.endpoint": moto.endpoint(),
            "cloudwatch.namespace": NAMESPACE,
            "cloudwatch.tagInstance": true,
            "cloudwatch.metricsBufferTimeMillis": 500,
            "log.statusReportingPeriodSeconds": 1,
        }),
    );
    let agent = Agent::start_with_env(
        &cfg,
        &dir.path().join("agent.log"),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url())],
    );
    let mut reader = StreamReader::new(&c, "cw").await;
    assert_eq!(
        reader.wait_for(lines.len(), Duration::from_secs(60)).await,
        lines.len(),
        "{}",
        agent.log_text()
    );
    // Long enough for one status report (ConsecutiveProcessingErrors and the lag gauges).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    agent.stop(Duration::from_secs(15));
    reader.settle(Duration::from_millis(500)).await;
    assert_eq!(reader.records.len(), lines.len(), "no duplicates expected");
    assert_eq!(proxy.pending(), 0, "every fault was applied");

    let calls = calls(&proxy.log());
    let cw = aws_sdk_cloudwatch::Client::new(&local_config(&moto.endpoint()).await);
    let dest = "KinesisStream:cw";
    let all: Vec<_> = calls.iter().collect();
    let returned: Vec<_> = calls.iter().filter(|c| !c.1).collect();
    let expect = [
        (
            "RecordSendAttempts",
            "Count",
            Totals::of(&all.iter().map(|c| c.0 as f64).collect::<Vec<_>>()),
        ),
        (
            "ServiceErrors",
            "Count",
            Totals::of(&all.iter().map(|c| c.1 as u8 as f64).collect::<Vec<_>>()),
        ),
        (
            "RecordsSent",
            "Count",
            Totals::of(&returned.iter().map(|c| c.2 as f64).collect::<Vec<_>>()),
        ),
        (
            "RecordSendErrors",
            "Count",
            Totals::of(&returned.iter().map(|c| c.3 as f64).collect::<Vec<_>>()),
        ),
        (
            "BytesSent",
            "Bytes",
            Totals::of(&returned.iter().map(|c| c.4 as f64).collect::<Vec<_>>()),
        ),
    ];
    let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap();
    for (name, unit, want) in expect {
        let got = totals(&cw, name, dest).await;
        assert_eq!(
            got,
            Some((want, unit.to_owned())),
            "{name} (calls seen by the proxy: {calls:?})\n{log}"
        );
    }
    // What the proxy counted agrees with what arrived.
    let sent: usize = calls.iter().map(|c| c.2).sum();
    assert_eq!(sent, lines.len());
    let bytes: u64 = calls.iter().map(|c| c.4).sum();
    let arrived: u64 = reader.records.iter().map(|r| r.data.len() as u64).sum();
    assert_eq!(bytes, arrived);

    // The Java agent tags ConsecutiveProcessingErrors with the bare stream name; none here.
    let (errors, unit) = totals(&cw, "ConsecutiveProcessingErrors", "cw")
        .await
        .expect("ConsecutiveProcessingErrors published");
    assert_eq!((errors.sum, errors.max, unit.as_str()), (0.0, 0.0, "Count"));
    let (age, unit) = totals(&cw, "OldestUnacknowledgedRecordAge", dest)
        .await
        .expect("the lag gauges published");
    assert_eq!(unit, "Seconds");
    assert!(age.min >= 0.0, "{age:?}");

    // Each datum has exactly the Destination and Instance dimensions, Instance being the
    // instance id from the metadata service.
    let listed = cw
        .list_metrics()
        .namespace(NAMESPACE)
        .dimensions(
            DimensionFilter::builder()
                .name("Destination")
                .value(dest)
                .build(),
        )
        .send()
        .await
        .expect("ListMetrics");
    let mut names: Vec<&str> = listed
        .metrics()
        .iter()
        .filter_map(|m| m.metric_name())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        vec![
            "BytesNotAcknowledged",
            "BytesSent",
            "FilesBehind",
            "OldestUnacknowledgedRecordAge",
            "RecordSendAttempts",
            "RecordSendErrors",
            "RecordsSent",
            "ServiceErrors",
        ]
    );
    for m in listed.metrics() {
        let dims: Vec<(&str, &str)> = m
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap_or(""), d.value().unwrap_or("")))
            .collect();
        assert_eq!(
            dims,
            vec![("Destination", dest), ("Instance", "i-0123456789abcdef0")],
            "{m:?}"
        );
    }
}

/// Ships `lines` numbered lines to a fresh stream with `extra` settings; returns the agent's
/// peak RSS in KiB and its log.
async fn ship_numbered(lines: usize, extra: serde_json::Value) -> (u64, String) {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "s", 2).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let text: String = (0..lines).map(numbered_line).collect();
    append(&dir.path().join("logs/app.log"), &text);
    let cfg = write_config(
        dir.path(),
        &k.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "kinesisStream": "s",
            "initialPosition": "START_OF_FILE",
        }]),
        extra,
    );
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    let mut reader = StreamReader::new(&c, "s").await;
    assert_eq!(
        reader.wait_for(lines, Duration::from_secs(60)).await,
        lines,
        "{}",
        agent.log_text()
    );
    let rss = agent.peak_rss_kib();
    let log = agent.log_text();
    // Two seconds at most for the last metrics, on top of the usual drain.
    agent.stop(Duration::from_secs(8));
    reader.settle(Duration::from_millis(300)).await;
    assert_eq!(reader.records.len(), lines);
    (
        rss,
        log + &std::fs::read_to_string(dir.path().join("agent.log")).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudwatch_that_never_answers_holds_up_neither_shipping_nor_memory_nor_the_stop() {
    // Accepts connections, reads nothing, answers nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let hole = tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((sock, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            held.push(sock);
        }
    });
    const LINES: usize = 60_000;
    let (without, _) = ship_numbered(LINES, serde_json::json!({})).await;
    let (with, log) = ship_numbered(
        LINES,
        serde_json::json!({
            "cloudwatch.emitMetrics": true,
            "cloudwatch.endpoint": format!("http://127.0.0.1:{port}"),
            "cloudwatch.metricsBufferTimeMillis": 100,
        }),
    )
    .await;
    hole.abort();
    assert!(
        accepted.load(std::sync::atomic::Ordering::Relaxed) >= 1,
        "the publisher never tried: {log}"
    );
    assert!(
        log.contains("the last CloudWatch metrics could not be published in time"),
        "{log}"
    );
    // The publisher holds a bounded set of statistic sets, whatever the endpoint does.
    assert!(
        with <= without + 8 * 1024,
        "peak RSS {with} KiB with a dead CloudWatch endpoint, {without} KiB without metrics"
    );
}
