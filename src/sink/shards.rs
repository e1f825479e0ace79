//! A stream's shard map: which open shard takes which range of hash keys, read with
//! `ListShards` and read again when a reply shows that the stream was resharded.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How old a map may get before the next request reads it again, even with no sign of a reshard.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// Reads of `ListShards` are at least this far apart, whatever asks for them.
pub const MIN_GAP: Duration = Duration::from_secs(1);

/// One open shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRange {
    /// `shardId-000000000001`.
    pub id: String,
    /// First hash key it takes.
    pub start: u128,
    /// Last hash key it takes.
    pub end: u128,
}

/// The open shards at one moment, by hash key (empty while unknown).
#[derive(Debug, Clone)]
pub struct Shards {
    list: Vec<ShardRange>,
}

impl Shards {
    /// A map of these open shards, read now.
    pub fn new(mut list: Vec<ShardRange>) -> Shards {
        list.sort_by_key(|s| s.start);
        Shards { list }
    }

    /// No map yet (the stream could not be read).
    pub fn unknown() -> Shards {
        Shards::new(Vec::new())
    }

    /// True while no shard is known.
    pub fn is_unknown(&self) -> bool {
        self.list.is_empty()
    }

    /// Number of open shards.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when no shard is known.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The shard at `i`.
    pub fn get(&self, i: usize) -> Option<&ShardRange> {
        self.list.get(i)
    }

    /// The index of the shard taking `hash`.
    pub fn index_of(&self, hash: u128) -> Option<usize> {
        let i = self
            .list
            .partition_point(|s| s.start <= hash)
            .checked_sub(1)?;
        (hash <= self.list[i].end).then_some(i)
    }

    /// The share of all hash keys that the shard at `i` takes (what it gets of random keys).
    pub fn share(&self, i: usize) -> f64 {
        self.list
            .get(i)
            .map_or(0.0, |s| ((s.end - s.start) as f64 + 1.0) / 2f64.powi(128))
    }

    /// True for one open shard taking every hash key (no key needs hashing to be placed).
    pub fn covers_everything(&self) -> bool {
        matches!(&self.list[..], [only] if only.start == 0 && only.end == u128::MAX)
    }

    /// The shard named `id`.
    pub fn by_id(&self, id: &str) -> Option<&ShardRange> {
        self.list.iter().find(|s| s.id == id)
    }
}

/// Where a map comes from: `ListShards` on the stream, or a test's script.
pub trait ShardSource: Send + Sync + std::fmt::Debug + 'static {
    /// The open shards now.
    fn read(&self) -> ReadFuture<'_>;
}

/// A read of the open shards under way.
pub type ReadFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<ShardRange>, String>> + Send + 'a>,
>;

/// The current map of one stream, shared by the batches that group records by shard and the
/// requests that find out where their aggregates landed.
#[derive(Debug)]
pub struct ShardMap {
    stream: String,
    source: Box<dyn ShardSource>,
    current: RwLock<Arc<Shards>>,
    /// Serialises reads; holds when the last one started.
    reading: tokio::sync::Mutex<Option<Instant>>,
    /// When the last read started, successful or not.
    tried_at: std::sync::Mutex<Option<Instant>>,
}

impl ShardMap {
    /// A map of `stream`, unknown until [`ShardMap::refresh`].
    pub fn new(stream: &str, source: Box<dyn ShardSource>) -> ShardMap {
        ShardMap {
            stream: stream.to_owned(),
            source,
            current: RwLock::new(Arc::new(Shards::unknown())),
            reading: tokio::sync::Mutex::new(None),
            tried_at: std::sync::Mutex::new(None),
        }
    }

    /// The map as last read.
    pub fn snapshot(&self) -> Arc<Shards> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True when the last read (successful or not) is older than [`MAX_AGE`], or there was none.
    pub fn is_due(&self) -> bool {
        self.tried_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|t| t.elapsed() >= MAX_AGE)
    }

    /// Reads the map again in the background when it is due and no read is under way.
    pub fn refresh_if_due(self: &Arc<Self>) {
        if self.is_due() && self.reading.try_lock().is_ok() {
            let map = self.clone();
            tokio::spawn(async move { map.refresh("periodic").await });
        }
    }

    /// Reads the map again, unless another read started less than [`MIN_GAP`] ago (then waits
    /// for that one); returns the map as it then is.
    pub async fn refresh(&self, why: &str) -> Arc<Shards> {
        let mut last = self.reading.lock().await;
        if last.is_some_and(|t| t.elapsed() < MIN_GAP) {
            return self.snapshot();
        }
        *last = Some(Instant::now());
        *self.tried_at.lock().unwrap_or_else(|e| e.into_inner()) = *last;
        match self.source.read().await {
            Ok(list) if !list.is_empty() => {
                let fresh = Shards::new(list);
                let before = self.snapshot();
                if before.list != fresh.list {
                    tracing::info!(
                        "KinesisStream:{}: {} open shards ({why}): {}",
                        self.stream,
                        fresh.len(),
                        fresh
                            .list
                            .iter()
                            .map(|s| s.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                let fresh = Arc::new(fresh);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
                fresh
            }
            Ok(_) => {
                tracing::warn!(
                    "KinesisStream:{}: ListShards shows no open shard; requests are not shaped, and aggregates pin their records' hash keys, until it does",
                    self.stream
                );
                self.snapshot()
            }
            Err(e) => {
                tracing::warn!(
                    "KinesisStream:{}: the shard map could not be read ({e}); requests are not shaped, and aggregates pin their records' hash keys, until it can (read again every minute)",
                    self.stream
                );
                self.snapshot()
            }
        }
    }
}

/// `ListShards` through the SDK (all pages; only open shards are kept).
#[derive(Debug)]
pub struct ListShards {
    /// A control-plane client.
    pub client: aws_sdk_kinesis::Client,
    /// The stream.
    pub stream: String,
}

impl ShardSource for ListShards {
    fn read(&self) -> ReadFuture<'_> {
        Box::pin(async move {
            let mut open = Vec::new();
            let mut next: Option<String> = None;
            // A stream has at most a few thousand shards, 1,000 per page.
            for _ in 0..100 {
                let req = match &next {
                    Some(token) => self.client.list_shards().next_token(token),
                    None => self.client.list_shards().stream_name(&self.stream),
                };
                let out = req.send().await.map_err(|e| {
                    aws_smithy_types::error::display::DisplayErrorContext(&e).to_string()
                })?;
                for s in out.shards() {
                    let closed = s
                        .sequence_number_range()
                        .and_then(|r| r.ending_sequence_number())
                        .is_some();
                    let Some(range) = s.hash_key_range() else {
                        continue;
                    };
                    let parse = |v: &str| {
                        v.parse::<u128>()
                            .map_err(|_| format!("shard {} has hash key {v:?}", s.shard_id()))
                    };
                    if !closed {
                        open.push(ShardRange {
                            id: s.shard_id().to_owned(),
                            start: parse(range.starting_hash_key())?,
                            end: parse(range.ending_hash_key())?,
                        });
                    }
                }
                next = out.next_token().map(str::to_owned);
                if next.is_none() {
                    return Ok(open);
                }
            }
            Err("ListShards did not end after 100 pages".into())
        })
    }
}

/// A fixed list of shards (tests, and a stream whose map is given).
#[derive(Debug, Clone)]
pub struct Fixed(pub Vec<ShardRange>);

impl ShardSource for Fixed {
    fn read(&self) -> ReadFuture<'_> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

/// `n` shards splitting the hash key space evenly, as CreateStream makes them.
pub fn even(n: u128) -> Vec<ShardRange> {
    let step = u128::MAX / n;
    (0..n)
        .map(|i| ShardRange {
            id: format!("shardId-{i:012}"),
            start: step * i,
            end: if i == n - 1 {
                u128::MAX
            } else {
                step * (i + 1) - 1
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quarters() -> Vec<ShardRange> {
        let q = u128::MAX / 4 + 1;
        (0..4)
            .map(|i| ShardRange {
                id: format!("shardId-00000000000{i}"),
                start: q * i,
                end: if i == 3 { u128::MAX } else { q * (i + 1) - 1 },
            })
            .rev()
            .collect()
    }

    #[test]
    fn hash_keys_find_their_shard() {
        let s = Shards::new(quarters());
        let q = u128::MAX / 4 + 1;
        assert_eq!(s.index_of(0), Some(0));
        assert_eq!(s.index_of(q - 1), Some(0));
        assert_eq!(s.index_of(q), Some(1));
        assert_eq!(s.index_of(u128::MAX), Some(3));
        assert_eq!(s.get(2).unwrap().id, "shardId-000000000002");
        assert_eq!(Shards::unknown().index_of(5), None);
        // A gap (a shard read as closed while its children are not yet listed) finds nothing.
        let mut gap = quarters();
        gap.retain(|s| s.id != "shardId-000000000001");
        assert_eq!(Shards::new(gap).index_of(q + 5), None);
    }

    #[derive(Debug)]
    struct Counting(Arc<std::sync::atomic::AtomicUsize>);
    impl ShardSource for Counting {
        fn read(&self) -> ReadFuture<'_> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async { Ok(quarters()) })
        }
    }

    #[tokio::test]
    async fn reads_are_spaced_out() {
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let map = ShardMap::new("s", Box::new(Counting(reads.clone())));
        assert!(map.is_due());
        assert_eq!(map.refresh("start").await.len(), 4);
        assert!(!map.is_due());
        map.refresh("again").await;
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
