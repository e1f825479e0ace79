//! Stream side of the harness: a client for a local endpoint, stream creation, reading back.

use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};
use std::time::{Duration, Instant};

/// A Kinesis client for the local endpoint, with retries off so that tests see every error.
pub async fn client(endpoint: &str) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(&local_config(endpoint).await)
}

/// SDK settings for a local endpoint: us-east-1, the tests' static keys, retries off.
pub async fn local_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDLOCALTEST",
            "localtestsecret",
            None,
            None,
            "test",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

/// Creates a stream and waits until it is ACTIVE.
pub async fn create_stream(c: &aws_sdk_kinesis::Client, name: &str, shards: i32) {
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

/// One shard, open or closed, as ListShards gives it.
#[derive(Debug, Clone)]
pub struct ShardInfo {
    /// `shardId-000000000001`.
    pub id: String,
    /// First hash key it takes.
    pub start: u128,
    /// Last hash key it takes.
    pub end: u128,
    /// The shard it was split or merged from.
    pub parent: Option<String>,
}

/// Every shard of `stream`, open or closed, from ListShards.
pub async fn list_shards(c: &aws_sdk_kinesis::Client, stream: &str) -> Vec<ShardInfo> {
    let listed = c
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .expect("ListShards");
    listed
        .shards()
        .iter()
        .map(|s| {
            let r = s.hash_key_range().unwrap();
            ShardInfo {
                id: s.shard_id().to_owned(),
                start: r.starting_hash_key().parse().unwrap(),
                end: r.ending_hash_key().parse().unwrap(),
                parent: s.parent_shard_id().map(str::to_owned),
            }
        })
        .collect()
}

/// Every shard of `stream` as (id, first hash key, last hash key).
pub async fn shard_ranges(c: &aws_sdk_kinesis::Client, stream: &str) -> Vec<(String, u128, u128)> {
    list_shards(c, stream)
        .await
        .into_iter()
        .map(|s| (s.id, s.start, s.end))
        .collect()
}

/// The hash key Kinesis routes a partition key by: the MD5 of its text, big-endian.
pub fn hash_key_of(partition_key: &str) -> u128 {
    use md5::{Digest, Md5};
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

/// One record read back.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    /// The shard it is in.
    pub shard_id: String,
    /// Its partition key.
    pub partition_key: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// Reads a stream from TRIM_HORIZON, incrementally, across every shard.
pub struct StreamReader {
    client: aws_sdk_kinesis::Client,
    stream: String,
    iterators: Vec<(String, Option<String>)>,
    /// Everything read so far, in per-shard order.
    pub records: Vec<ReadRecord>,
}

impl StreamReader {
    /// A reader positioned at the start of every shard.
    pub async fn new(c: &aws_sdk_kinesis::Client, stream: &str) -> StreamReader {
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
    pub async fn poll(&mut self) {
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
    pub async fn wait_for(&mut self, n: usize, timeout: Duration) -> usize {
        self.wait_until(timeout, |records| records.len() >= n).await;
        self.records.len()
    }

    /// Polls until `done` holds for the records read so far or `timeout` passed; returns `done`'s
    /// last answer.
    pub async fn wait_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[ReadRecord]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.poll().await;
            let ok = done(&self.records);
            if ok || Instant::now() >= deadline {
                return ok;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Polls until nothing new arrives for `quiet`.
    pub async fn settle(&mut self, quiet: Duration) {
        let mut last = self.records.len();
        let mut since = Instant::now();
        while since.elapsed() < quiet {
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.poll().await;
            if self.records.len() != last {
                last = self.records.len();
                since = Instant::now();
            }
        }
    }
}
