//! End to end: KPL aggregation read back from kinesalite and deaggregated by awslabs' own
//! `aws_kinesis_agg` (tests/harness/deaggregate.py), on a 4-shard stream that is split while
//! the agent runs.

use crate::common::*;
use md5::{Digest, Md5};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One Kinesis record as stored.
struct Stored {
    shard: usize,
    seq: String,
    pk: String,
    data: Vec<u8>,
}

/// One user record, as the deaggregator gave it.
#[derive(Debug, Clone)]
struct User {
    pk: String,
    ehk: Option<String>,
    data: Vec<u8>,
    aggregated: bool,
}

/// Every shard of the stream and every record in it, from the start of each shard.
async fn read_everything(
    c: &aws_sdk_kinesis::Client,
    stream: &str,
) -> (Vec<ShardInfo>, Vec<Stored>) {
    let shards = list_shards(c, stream).await;
    let mut stored = Vec::new();
    for (i, s) in shards.iter().enumerate() {
        let mut it = c
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(&s.id)
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("GetShardIterator")
            .shard_iterator()
            .map(str::to_owned);
        // Bounded: a page holds up to 10,000 records; the test stores far fewer.
        for _ in 0..1000 {
            let Some(cur) = it else { break };
            let out = c
                .get_records()
                .shard_iterator(cur)
                .limit(10_000)
                .send()
                .await
                .expect("GetRecords");
            for r in out.records() {
                stored.push(Stored {
                    shard: i,
                    seq: r.sequence_number().to_owned(),
                    pk: r.partition_key().unwrap_or_default().to_owned(),
                    data: r.data().as_ref().to_vec(),
                });
            }
            if out.records().is_empty() {
                break;
            }
            it = out.next_shard_iterator().map(str::to_owned);
        }
    }
    (shards, stored)
}

/// Runs awslabs' deaggregator over `stored`: per stored record, its user records.
fn deaggregate(stored: &[Stored]) -> Vec<Vec<User>> {
    let b64 = base64_simd::STANDARD;
    let input: Vec<serde_json::Value> = stored
        .iter()
        .map(|s| serde_json::json!({"seq": s.seq, "pk": s.pk, "data": b64.encode_to_string(&s.data)}))
        .collect();
    let mut child = Command::new(root().join("tests/harness/venv/bin/python"))
        .arg(root().join("tests/harness/deaggregate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the harness venv's python (scripts/setup makes it)");
    let mut stdin = child.stdin.take().unwrap();
    let body = serde_json::to_vec(&input).unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "deaggregate.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Vec<serde_json::Value>> = serde_json::from_slice(&out.stdout).unwrap();
    parsed
        .into_iter()
        .map(|users| {
            users
                .into_iter()
                .map(|u| User {
                    pk: u["pk"].as_str().unwrap().to_owned(),
                    ehk: u["ehk"].as_str().map(str::to_owned),
                    data: b64.decode_to_vec(u["data"].as_str().unwrap()).unwrap(),
                    aggregated: u["aggregated"].as_bool().unwrap(),
                })
                .collect()
        })
        .collect()
}

/// What a KCL 2.x consumer of each shard delivers: the user records of every aggregate whose
/// sub-records all hash into the shard holding it; the other aggregates it drops whole.
struct Consumed {
    /// Line → how many times a consumer gets it.
    delivered: HashMap<Vec<u8>, usize>,
    /// Aggregates a KCL consumer would drop, by the shard holding them.
    dropped: Vec<String>,
    /// Kinesis records (aggregates) per shard.
    per_shard: HashMap<String, usize>,
    /// Every user record, with its key.
    users: Vec<User>,
    aggregates: usize,
}

async fn consume(c: &aws_sdk_kinesis::Client, stream: &str) -> (Vec<ShardInfo>, Consumed) {
    let (shards, stored) = read_everything(c, stream).await;
    let users = deaggregate(&stored);
    let mut out = Consumed {
        delivered: HashMap::new(),
        dropped: Vec::new(),
        per_shard: HashMap::new(),
        users: Vec::new(),
        aggregates: stored.len(),
    };
    for (s, users) in stored.iter().zip(users) {
        let shard = &shards[s.shard];
        *out.per_shard.entry(shard.id.clone()).or_default() += 1;
        let inside = users.iter().all(|u| {
            let h = match &u.ehk {
                Some(e) => e.parse().unwrap(),
                None => hash_key_of(&u.pk),
            };
            shard.start <= h && h <= shard.end
        });
        if !inside {
            out.dropped.push(shard.id.clone());
            continue;
        }
        for u in users {
            *out.delivered.entry(u.data.clone()).or_default() += 1;
            out.users.push(u);
        }
    }
    (shards, out)
}

fn line(kind: &str, i: usize) -> String {
    format!("{kind} line {i:06} {}\n", "x".repeat(60 + i % 50))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpl_aggregates_are_deaggregated_by_awslabs_into_their_shards_across_a_split() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "agg", 4).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let flow = |file: &str, key: &str| {
        serde_json::json!({
            "filePattern": format!("{}/logs/{file}", dir.path().display()),
            "kinesisStream": "agg",
            "initialPosition": "START_OF_FILE",
            "partitionKeyOption": key,
            "aggregation": "KPL",
            "aggregationMaxSizeBytes": 8192,
            "maxBufferAgeMillis": 1000
        })
    };
    let cfg = write_config(
        dir.path(),
        &k.endpoint(),
        serde_json::json!([flow("det.log", "DETERMINISTIC"), flow("rnd.log", "RANDOM")]),
        serde_json::json!({}),
    );
    let half = 4000;
    let write = |from: usize, to: usize| {
        let det: String = (from..to).map(|i| line("det", i)).collect();
        let rnd: String = (from..to).map(|i| line("rnd", i)).collect();
        append(&dir.path().join("logs/det.log"), &det);
        append(&dir.path().join("logs/rnd.log"), &rnd);
    };
    write(0, half);
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));

    let wait_all = |n: usize| {
        let c = c.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let (shards, got) = consume(&c, "agg").await;
                let all = (0..n).all(|i| {
                    got.delivered.contains_key(line("det", i).as_bytes())
                        && got.delivered.contains_key(line("rnd", i).as_bytes())
                });
                if all || Instant::now() >= deadline {
                    return (shards, got);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let (shards, got) = wait_all(half).await;
    assert_eq!(shards.len(), 4);
    assert!(
        got.dropped.is_empty(),
        "aggregates outside their shard: {:?}",
        got.dropped
    );
    assert!(
        (0..half).all(|i| got.delivered.contains_key(line("det", i).as_bytes())),
        "{}",
        agent.log_text()
    );

    // Split shard 1 in the middle of its range while the agent runs; the next lines are grouped
    // with the old map until a reply shows an aggregate landed in a child.
    let s1 = &shards[1];
    let mid = s1.start + (s1.end - s1.start) / 2;
    c.split_shard()
        .stream_name("agg")
        .shard_to_split(&s1.id)
        .new_starting_hash_key(mid.to_string())
        .send()
        .await
        .expect("SplitShard");
    write(half, 2 * half);
    let (shards, got) = wait_all(2 * half).await;
    agent.stop(Duration::from_secs(15));

    assert_eq!(shards.len(), 6, "the split made two children");
    let children: Vec<&ShardInfo> = shards
        .iter()
        .filter(|s| s.parent.as_deref() == Some(s1.id.as_str()))
        .collect();
    assert_eq!(children.len(), 2);
    for ch in &children {
        assert!(
            got.per_shard.get(&ch.id).copied().unwrap_or(0) > 0,
            "nothing was written to {} after the split: {:?}",
            ch.id,
            got.per_shard
        );
    }
    // Every line reaches a KCL consumer exactly once: aggregates that landed across the new
    // boundary (grouped with the old map) were sent again, grouped with the new one.
    for i in 0..2 * half {
        for kind in ["det", "rnd"] {
            let l = line(kind, i);
            assert_eq!(
                got.delivered.get(l.as_bytes()).copied(),
                Some(1),
                "{l:?} delivered to a KCL consumer {:?} times",
                got.delivered.get(l.as_bytes())
            );
        }
    }
    assert_eq!(got.delivered.len(), 4 * half, "lines nobody wrote");
    assert!(
        got.dropped
            .iter()
            .all(|id| children.iter().any(|c| &c.id == id)),
        "an aggregate outside its shard, not explained by the split: {:?}",
        got.dropped
    );
    println!(
        "{} user records in {} Kinesis records; {} aggregates across the split sent again; per shard {:?}",
        got.users.len(),
        got.aggregates,
        got.dropped.len(),
        got.per_shard
    );
    // Keys: DETERMINISTIC is MD5 of the record, RANDOM a Java double in [0, 1e6), drawn from
    // the keys of the shard chosen for the record (256 per shard); none pinned.
    let (mut det_keys, mut random_keys) = (HashSet::new(), HashSet::new());
    for u in &got.users {
        assert!(u.aggregated, "a record that is not an aggregate");
        assert_eq!(u.ehk, None, "sub-records carry their own keys");
        if u.data.starts_with(b"det ") {
            assert_eq!(u.pk, hex::encode(Md5::digest(&u.data)));
            det_keys.insert(u.pk.clone());
        } else {
            let v: f64 = u.pk.parse().unwrap();
            assert!((0.0..1_000_000.0).contains(&v), "{}", u.pk);
            random_keys.insert(u.pk.clone());
        }
    }
    assert_eq!(
        det_keys.len(),
        2 * half,
        "DETERMINISTIC keys are per record"
    );
    assert!(
        random_keys.len() > 4 * 200,
        "only {} distinct RANDOM keys",
        random_keys.len()
    );
    assert!(
        got.aggregates * 20 < got.users.len(),
        "{} Kinesis records for {} lines: not aggregated",
        got.aggregates,
        got.users.len()
    );
}
