//! A proxy that makes a real stream behave like a provisioned one: per-shard write limits
//! (bytes and records per second, as token buckets with a second of burst) enforced entry by
//! entry with `ProvisionedThroughputExceededException` inside a 200 reply, as Kinesis does; or a
//! slow link to one stream (its requests forwarded one at a time at a fixed byte rate).
//!
//! Built on the fault proxy's HTTP plumbing; only admitted entries reach the server.

use super::proxy::{forward, read_request, respond};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};

/// How the proxy limits.
#[derive(Debug, Clone)]
pub enum Limit {
    /// Kinesis's per-shard write limits on every stream: `(shard id, first hash key, last hash
    /// key)` of the open shards. `spare` is the share of each shard's limits left to the agent,
    /// as if another producer used the rest (missing: all of them).
    PerShard {
        shards: Vec<(String, u128, u128)>,
        bytes_per_sec: f64,
        records_per_sec: f64,
        spare: Vec<f64>,
    },
    /// PutRecords to `stream` forwarded one at a time at `bytes_per_sec` of request body; other
    /// streams pass straight through.
    SlowStream { stream: String, bytes_per_sec: f64 },
}

/// What the proxy let through and throttled.
#[derive(Debug, Clone, Default)]
pub struct LimitStats {
    /// PutRecords calls.
    pub calls: usize,
    /// Entries received.
    pub entries: usize,
    /// Entries answered `ProvisionedThroughputExceededException`.
    pub throttled: usize,
    /// Bytes (data + partition key) of the admitted entries.
    pub admitted_bytes: u64,
    /// When the first and the last admitted entry came.
    pub first: Option<Instant>,
    pub last: Option<Instant>,
    /// Each PutRecords: when it came, its entries, how many were throttled.
    pub log: Vec<(Instant, usize, usize)>,
    /// Per shard (in hash-key order), when each of its admitted entries came, and its bytes.
    pub admitted_at: Vec<Vec<(Instant, u64)>>,
}

impl LimitStats {
    /// The share of entries throttled in calls that came `after` the first call.
    pub fn throttled_after(&self, after: Duration) -> f64 {
        let Some(&(t0, _, _)) = self.log.first() else {
            return 0.0;
        };
        let (entries, throttled) = self
            .log
            .iter()
            .filter(|(t, _, _)| t.duration_since(t0) > after)
            .fold((0, 0), |(e, t), (_, ce, ct)| (e + ce, t + ct));
        throttled as f64 / entries.max(1) as f64
    }
}

struct Bucket {
    bytes: f64,
    records: f64,
    at: Instant,
}

struct State {
    limit: Limit,
    buckets: Vec<Bucket>,
    stats: LimitStats,
    /// SlowStream: when the link is free again.
    free_at: Instant,
}

/// The running proxy.
pub struct LimitingProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl LimitingProxy {
    /// Starts a proxy to `upstream_port` on 127.0.0.1 enforcing `limit`.
    pub async fn start(upstream_port: u16, limit: Limit) -> LimitingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let now = Instant::now();
        let buckets = match &limit {
            Limit::PerShard {
                shards,
                bytes_per_sec,
                records_per_sec,
                spare,
            } => (0..shards.len())
                .map(|i| {
                    let spare = spare.get(i).copied().unwrap_or(1.0);
                    Bucket {
                        bytes: bytes_per_sec * spare,
                        records: records_per_sec * spare,
                        at: now,
                    }
                })
                .collect(),
            Limit::SlowStream { .. } => Vec::new(),
        };
        let state = Arc::new(Mutex::new(State {
            limit,
            buckets,
            stats: LimitStats::default(),
            free_at: now,
        }));
        let s = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, upstream_port, s).await;
                });
            }
        });
        LimitingProxy { port, state, task }
    }

    /// Its endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What it did so far.
    pub fn stats(&self) -> LimitStats {
        self.state.lock().unwrap().stats.clone()
    }
}

impl Drop for LimitingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The hash key an entry is routed by.
fn hash_of(entry: &serde_json::Value) -> u128 {
    match entry["ExplicitHashKey"].as_str() {
        Some(e) => e.parse().unwrap_or(0),
        None => super::stream::hash_key_of(entry["PartitionKey"].as_str().unwrap_or("")),
    }
}

/// Data bytes plus key bytes of an entry, as Kinesis counts them against a shard.
fn size_of(entry: &serde_json::Value) -> u64 {
    let b64 = entry["Data"].as_str().unwrap_or("");
    let pad = b64.bytes().rev().take_while(|&c| c == b'=').count();
    (b64.len() / 4 * 3 - pad) as u64 + entry["PartitionKey"].as_str().map_or(0, str::len) as u64
}

/// Per entry: admitted or throttled, by the shard buckets.
fn admit(state: &mut State, records: &[serde_json::Value]) -> Vec<bool> {
    let now = Instant::now();
    let State {
        limit,
        buckets,
        stats,
        ..
    } = state;
    let Limit::PerShard {
        shards,
        bytes_per_sec,
        records_per_sec,
        spare,
    } = limit
    else {
        return vec![true; records.len()];
    };
    for (i, b) in buckets.iter_mut().enumerate() {
        let spare = spare.get(i).copied().unwrap_or(1.0);
        let (bytes_per_sec, records_per_sec) = (*bytes_per_sec * spare, *records_per_sec * spare);
        let dt = now.duration_since(b.at).as_secs_f64();
        b.bytes = (b.bytes + dt * bytes_per_sec).min(bytes_per_sec);
        b.records = (b.records + dt * records_per_sec).min(records_per_sec);
        b.at = now;
    }
    stats.admitted_at.resize(shards.len(), Vec::new());
    let out: Vec<bool> = records
        .iter()
        .map(|r| {
            let h = hash_of(r);
            let Some(i) = shards.iter().position(|(_, lo, hi)| *lo <= h && h <= *hi) else {
                return false;
            };
            let size = size_of(r) as f64;
            let b = &mut buckets[i];
            if b.bytes >= size && b.records >= 1.0 {
                b.bytes -= size;
                b.records -= 1.0;
                stats.admitted_bytes += size as u64;
                stats.first.get_or_insert(now);
                stats.last = Some(now);
                stats.admitted_at[i].push((now, size as u64));
                true
            } else {
                stats.throttled += 1;
                false
            }
        })
        .collect();
    let throttled = out.iter().filter(|a| !**a).count();
    stats.log.push((now, records.len(), throttled));
    out
}

async fn serve(
    sock: TcpStream,
    upstream_port: u16,
    state: Arc<Mutex<State>>,
) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    while let Some(req) = read_request(&mut r).await? {
        let put = req.head.iter().any(|h| {
            h.to_ascii_lowercase().starts_with("x-amz-target:") && h.ends_with(".PutRecords")
        });
        if !put {
            let (status, body) = forward(upstream_port, &req, &req.body).await?;
            respond(&mut w, status, &body).await?;
            continue;
        }
        let mut json: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let records = json["Records"].as_array().cloned().unwrap_or_default();
        let wait = {
            let mut s = state.lock().unwrap();
            s.stats.calls += 1;
            s.stats.entries += records.len();
            match &s.limit {
                Limit::SlowStream {
                    stream,
                    bytes_per_sec,
                } if json["StreamName"].as_str() == Some(stream.as_str()) => {
                    let start = s.free_at.max(Instant::now());
                    s.free_at =
                        start + Duration::from_secs_f64(req.body.len() as f64 / bytes_per_sec);
                    Some(s.free_at)
                }
                _ => None,
            }
        };
        if let Some(until) = wait {
            tokio::time::sleep_until(until.into()).await;
            let (status, body) = forward(upstream_port, &req, &req.body).await?;
            respond(&mut w, status, &body).await?;
            continue;
        }
        let admitted = admit(&mut state.lock().unwrap(), &records);
        json["Records"] = records
            .iter()
            .zip(&admitted)
            .filter(|(_, a)| **a)
            .map(|(r, _)| r.clone())
            .collect();
        let (status, body) = if admitted.iter().any(|a| *a) {
            forward(upstream_port, &req, json.to_string().as_bytes()).await?
        } else {
            (200, br#"{"FailedRecordCount":0,"Records":[]}"#.to_vec())
        };
        if status != 200 {
            respond(&mut w, status, &body).await?;
            continue;
        }
        let reply: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let mut stored = reply["Records"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter();
        let throttled = admitted.iter().filter(|a| !**a).count();
        let merged: Vec<serde_json::Value> = admitted
            .iter()
            .map(|a| {
                if *a {
                    stored.next().unwrap_or_default()
                } else {
                    serde_json::json!({
                        "ErrorCode": "ProvisionedThroughputExceededException",
                        "ErrorMessage": "Rate exceeded for shard (test proxy)"
                    })
                }
            })
            .collect();
        let prior = reply["FailedRecordCount"].as_u64().unwrap_or(0);
        let out =
            serde_json::json!({"FailedRecordCount": prior + throttled as u64, "Records": merged});
        respond(&mut w, 200, out.to_string().as_bytes()).await?;
    }
    Ok(())
}
