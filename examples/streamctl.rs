//! Development helper for the demo: create a stream on a local endpoint, or read it back.
//!
//! `streamctl create ENDPOINT STREAM SHARDS`
//! `streamctl read ENDPOINT STREAM EXPECTED SHOW TIMEOUT_SECS` — waits for EXPECTED records,
//! prints SHOW of them and the count.
//! `streamctl latency ENDPOINT STREAM FILE N` — N times: append a line to FILE and time how long
//! until it can be read back from the stream; prints p50/p90/max in ms.

use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: streamctl create ENDPOINT STREAM SHARDS | streamctl read ENDPOINT STREAM EXPECTED SHOW TIMEOUT_SECS | streamctl latency ENDPOINT STREAM FILE N";
    match args.first().map(String::as_str) {
        Some("create") if args.len() == 4 => {
            let c = client(&args[1]).await;
            create_stream(&c, &args[2], args[3].parse().expect("SHARDS")).await;
            println!(
                "created stream {} with {} shards at {}",
                args[2], args[3], args[1]
            );
        }
        Some("read") if args.len() == 6 => {
            let c = client(&args[1]).await;
            let expected: usize = args[3].parse().expect("EXPECTED");
            let show: usize = args[4].parse().expect("SHOW");
            let timeout = Duration::from_secs(args[5].parse().expect("TIMEOUT_SECS"));
            let mut r = StreamReader::new(&c, &args[2]).await;
            let n = r.wait_for(expected, timeout).await;
            for rec in r.records.iter().take(show) {
                print!(
                    "  [{} key {}] {}",
                    rec.shard_id,
                    rec.partition_key,
                    String::from_utf8_lossy(&rec.data)
                );
            }
            let distinct: std::collections::HashSet<&[u8]> =
                r.records.iter().map(|x| x.data.as_slice()).collect();
            println!(
                "records read back from {}: {n} ({} distinct), expected {expected}",
                args[2],
                distinct.len()
            );
            if n < expected {
                std::process::exit(1);
            }
        }
        Some("latency") if args.len() == 5 => {
            let c = client(&args[1]).await;
            let n: usize = args[4].parse().expect("N");
            let mut r = StreamReader::new(&c, &args[2]).await;
            r.poll().await;
            let mut samples = vec![];
            for i in 0..n {
                let line = format!("latency-probe {i} {}\n", std::process::id());
                let t = Instant::now();
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&args[3])
                    .expect("FILE");
                std::io::Write::write_all(&mut f, line.as_bytes()).expect("append");
                let before = r.records.len();
                loop {
                    r.poll().await;
                    // The record may be converted (CSVTOJSON): look for the probe's text inside it.
                    let probe = line.trim_end().as_bytes();
                    if r.records[before..]
                        .iter()
                        .any(|x| x.data.windows(probe.len()).any(|w| w == probe))
                    {
                        break;
                    }
                    assert!(
                        t.elapsed() < Duration::from_secs(30),
                        "probe {i} never arrived"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                samples.push(t.elapsed().as_secs_f64() * 1000.0);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            samples.sort_by(f64::total_cmp);
            let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
            println!("latency file append -> readable in stream over {n} probes: p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms", pct(0.5), pct(0.9), pct(1.0));
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}

/// A Kinesis client for the local endpoint with fixed test credentials, retries off.
async fn client(endpoint: &str) -> aws_sdk_kinesis::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDLOCALTEST",
            "localtestsecret",
            None,
            None,
            "streamctl",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    aws_sdk_kinesis::Client::new(&conf)
}

/// Creates a stream and waits until it is ACTIVE.
async fn create_stream(c: &aws_sdk_kinesis::Client, name: &str, shards: i32) {
    c.create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("CreateStream");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = c
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .expect("DescribeStreamSummary");
        if d.stream_description_summary().map(|s| s.stream_status()) == Some(&StreamStatus::Active)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stream {name} never became ACTIVE"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One record read back.
struct ReadRecord {
    shard_id: String,
    partition_key: String,
    data: Vec<u8>,
}

/// Reads a stream from TRIM_HORIZON, incrementally, across every shard.
struct StreamReader {
    client: aws_sdk_kinesis::Client,
    stream: String,
    iterators: Vec<(String, Option<String>)>,
    /// Everything read so far, in per-shard order.
    records: Vec<ReadRecord>,
}

impl StreamReader {
    /// A reader positioned at the start of every shard.
    async fn new(c: &aws_sdk_kinesis::Client, stream: &str) -> StreamReader {
        let shards = c
            .list_shards()
            .stream_name(stream)
            .send()
            .await
            .expect("ListShards");
        let mut iterators = vec![];
        for s in shards.shards() {
            let it = c
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(s.shard_id())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("GetShardIterator");
            iterators.push((
                s.shard_id().to_owned(),
                it.shard_iterator().map(str::to_owned),
            ));
        }
        StreamReader {
            client: c.clone(),
            stream: stream.to_owned(),
            iterators,
            records: vec![],
        }
    }

    /// Reads whatever arrived since the last call.
    async fn poll(&mut self) {
        for (shard, it) in self.iterators.iter_mut() {
            while let Some(cur) = it.clone() {
                let out = self
                    .client
                    .get_records()
                    .shard_iterator(cur)
                    .limit(10_000)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("GetRecords on {}: {e:?}", self.stream));
                let n = out.records().len();
                for r in out.records() {
                    self.records.push(ReadRecord {
                        shard_id: shard.clone(),
                        partition_key: r.partition_key().unwrap_or_default().to_owned(),
                        data: r.data().as_ref().to_vec(),
                    });
                }
                *it = out.next_shard_iterator().map(str::to_owned);
                if n == 0 {
                    break;
                }
            }
        }
    }

    /// Polls until at least `n` records were read or `timeout` passed; returns the count.
    async fn wait_for(&mut self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            self.poll().await;
            if self.records.len() >= n || Instant::now() >= deadline {
                return self.records.len();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
