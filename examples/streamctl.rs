//! Development helper for the demo: create a stream on a local endpoint, or read it back.
//!
//! `streamctl create ENDPOINT STREAM SHARDS`
//! `streamctl read ENDPOINT STREAM EXPECTED SHOW TIMEOUT_SECS` — waits for EXPECTED records,
//! prints SHOW of them and the count.
//! `streamctl latency ENDPOINT STREAM FILE N` — N times: append a line to FILE and time how long
//! until it can be read back from the stream; prints p50/p90/max in ms.

#[path = "../tests/common/stream.rs"]
mod stream;

use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: streamctl create ENDPOINT STREAM SHARDS | streamctl read ENDPOINT STREAM EXPECTED SHOW TIMEOUT_SECS | streamctl latency ENDPOINT STREAM FILE N";
    match args.first().map(String::as_str) {
        Some("create") if args.len() == 4 => {
            let c = stream::client(&args[1]).await;
            stream::create_stream(&c, &args[2], args[3].parse().expect("SHARDS")).await;
            println!(
                "created stream {} with {} shards at {}",
                args[2], args[3], args[1]
            );
        }
        Some("read") if args.len() == 6 => {
            let c = stream::client(&args[1]).await;
            let expected: usize = args[3].parse().expect("EXPECTED");
            let show: usize = args[4].parse().expect("SHOW");
            let timeout = Duration::from_secs(args[5].parse().expect("TIMEOUT_SECS"));
            let mut r = stream::StreamReader::new(&c, &args[2]).await;
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
            let c = stream::client(&args[1]).await;
            let n: usize = args[4].parse().expect("N");
            let mut r = stream::StreamReader::new(&c, &args[2]).await;
            r.poll().await;
            let mut samples = vec![];
            for i in 0..n {
                let line = format!("latency-probe {i} {}\n", std::process::id());
                let t = std::time::Instant::now();
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
