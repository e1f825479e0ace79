//! End to end: DETERMINISTIC partition keys on a 4-shard stream land in the shard whose hash
//! range holds MD5 of the key, and the key is MD5 of the record.

use crate::common::*;
use md5::{Digest, Md5};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deterministic_keys_route_by_md5_hash_range() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "sharded", 4).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let n = 4000;
    let text: String = (0..n).map(|i| format!("record number {i}\n")).collect();
    append(&dir.path().join("logs/k.log"), &text);
    let cfg = write_config(
        dir.path(),
        &k.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/logs/*.log", dir.path().display()),
            "kinesisStream": "sharded",
            "initialPosition": "START_OF_FILE",
            "partitionKeyOption": "DETERMINISTIC",
            "maxBufferAgeMillis": 1000
        }]),
        serde_json::json!({}),
    );
    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    let mut reader = StreamReader::new(&c, "sharded").await;
    assert_eq!(
        reader.wait_for(n, Duration::from_secs(60)).await,
        n,
        "{}",
        agent.log_text()
    );
    agent.stop(Duration::from_secs(15));

    let ranges = shard_ranges(&c, "sharded").await;
    assert_eq!(ranges.len(), 4);
    let mut per_shard = std::collections::HashMap::<String, usize>::new();
    for r in &reader.records {
        assert_eq!(
            r.partition_key,
            hex::encode(Md5::digest(&r.data)),
            "key is not MD5 of the record"
        );
        let h = hash_key_of(&r.partition_key);
        let (id, _, _) = ranges
            .iter()
            .find(|(_, lo, hi)| *lo <= h && h <= *hi)
            .expect("hash in some range");
        assert_eq!(
            id,
            &r.shard_id,
            "record {:?} is in the wrong shard",
            String::from_utf8_lossy(&r.data)
        );
        *per_shard.entry(r.shard_id.clone()).or_default() += 1;
    }
    assert_eq!(
        per_shard.len(),
        4,
        "records did not spread over all shards: {per_shard:?}"
    );
    println!("records per shard: {per_shard:?}");
}
