//! End to end: the local status endpoint (`status.port`): `/metrics` parses as Prometheus text
//! and its counters equal what was read back; `/health` turns unhealthy while the stream is
//! deleted and healthy again once it is back.

use crate::common::*;
use http_body_util::BodyExt;
use std::time::{Duration, Instant};

/// GETs `path` from 127.0.0.1:`port`; returns the status code and the body.
pub(crate) async fn get(port: u16, path: &str) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the status endpoint");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", "127.0.0.1")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of `name` (summed over its series) in a Prometheus text exposition.
pub(crate) fn metric(text: &str, name: &str) -> f64 {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_what_arrived_and_health_follows_the_stream() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "watched", 1).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let path = dir.path().join("logs/app.log");
    append(&path, &(0..1000).map(numbered_line).collect::<String>());
    let port = free_port();
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "kinesisStream": "watched",
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000,
            "retryMaxBackoffMillis": 1000,
        }]),
        serde_json::json!({
            "status.port": port,
            "status.unhealthyAfterMillis": 1000,
        }),
    );
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    let mut reader = StreamReader::new(&c, "watched").await;
    assert_eq!(reader.wait_for(1000, Duration::from_secs(30)).await, 1000);
    let (code, text) = get(port, "/metrics").await;
    assert_eq!(code, 200);
    assert_eq!(
        metric(&text, "kinetail_records_sent_total"),
        reader.records.len() as f64,
        "{text}"
    );
    assert_eq!(
        metric(&text, "kinetail_records_parsed_total"),
        1000.0,
        "{text}"
    );
    assert_eq!(metric(&text, "kinetail_bytes_behind"), 0.0, "{text}");
    // Acknowledged to the end: the gauges of what the destination still owes are back to 0.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, text) = get(port, "/metrics").await;
        if metric(&text, "kinetail_bytes_unacknowledged") == 0.0 {
            assert_eq!(metric(&text, "kinetail_oldest_unacknowledged_seconds"), 0.0);
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get(port, "/health").await.0, 200);

    // The stream goes away while lines keep coming: unhealthy after 1 s of failures.
    c.delete_stream()
        .stream_name("watched")
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 1000;
    let unhealthy = loop {
        append(&path, &numbered_line(i));
        i += 1;
        let (code, body) = get(port, "/health").await;
        if code == 503 {
            break body;
        }
        assert!(Instant::now() < deadline, "/health never turned unhealthy");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(unhealthy.contains("could not send"), "{unhealthy}");

    create_stream(&c, "watched", 1).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(port, "/health").await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "/health never turned healthy again; log:\n{}",
            agent.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Everything written meanwhile arrives in the new stream.
    let mut reader = StreamReader::new(&c, "watched").await;
    let written = i - 1000;
    assert_eq!(
        reader.wait_for(written, Duration::from_secs(30)).await,
        written
    );
    agent.stop(Duration::from_secs(15));
}
