//! Batching: records accumulate until the request limits or the age limit seal them; with KPL
//! aggregation, into one open aggregate per shard, each counted as the entry it will be.

use super::aggregate;
use super::route::Router;
use super::shape::Need;
use super::shards::{ShardMap, Shards};
use crate::record::{PartitionKey, Record};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The limits of one request (`maxBufferSizeRecords`, `maxBufferSizeBytes`, `maxBufferAgeMillis`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Records per request.
    pub max_records: usize,
    /// Bytes per request, counted as the service does (data + partition key).
    pub max_bytes: usize,
    /// How long the first record may wait for the batch to fill.
    pub max_age: Duration,
}

/// KPL aggregation of a flow (`"aggregation": "KPL"`).
#[derive(Debug, Clone)]
pub struct Aggregation {
    /// `aggregationMaxSizeBytes`: the largest aggregate, frame included.
    pub max_size: usize,
    /// The stream's shard map, which groups records by the shard their keys hash to.
    pub shards: Arc<ShardMap>,
}

/// The entries of a sealed batch that are aggregates: records `[previous end, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// Just past its last record.
    pub end: usize,
    /// The shard (index into [`Sealed::shards`]) its records' keys hash to; None when the map
    /// did not know (its records then carry the aggregate's hash key).
    pub shard: Option<usize>,
    /// False for a record too large to aggregate, sent as it is.
    pub aggregate: bool,
}

/// A batch ready to send: its records, and how they are grouped into entries.
#[derive(Debug, Default)]
pub struct Sealed {
    /// The user records, grouped entry after entry.
    pub records: Vec<Record>,
    /// One per entry, in order; empty when every record is an entry of its own.
    pub groups: Vec<Group>,
    /// The shard map the groups were made with, or the needs reckoned by.
    pub shards: Option<Arc<Shards>>,
    /// What it takes from each shard's write limits (shaped flows only).
    pub needs: Vec<Need>,
    /// When its first RANDOM record was given a shard, if any was.
    pub routed_at: Option<Instant>,
}

impl Sealed {
    /// A batch of records sent one entry each.
    pub fn plain(records: Vec<Record>) -> Sealed {
        Sealed {
            records,
            groups: Vec::new(),
            shards: None,
            needs: Vec::new(),
            routed_at: None,
        }
    }

    /// Each group with its records, in order.
    pub fn grouped(&self) -> impl Iterator<Item = (&Group, &[Record])> {
        let starts = std::iter::once(0).chain(self.groups.iter().map(|g| g.end));
        self.groups
            .iter()
            .zip(starts)
            .map(|(g, start)| (g, &self.records[start..g.end]))
    }

    /// Record bytes (data and keys) of the user records.
    pub fn bytes(&self) -> usize {
        self.records.iter().map(Record::size).sum()
    }

    /// Per user record, the shard (index into [`Sealed::shards`]) its entry goes to: its
    /// aggregate's, else the one its key hashes to; None without a map.
    pub fn shard_of_each(&self) -> Vec<Option<usize>> {
        let Some(shards) = &self.shards else {
            return vec![None; self.records.len()];
        };
        if self.groups.is_empty() {
            return self
                .records
                .iter()
                .map(|r| shards.index_of(aggregate::hash_key(&r.partition_key)))
                .collect();
        }
        let mut out = Vec::with_capacity(self.records.len());
        for g in &self.groups {
            out.resize(g.end, g.shard);
        }
        out.resize(self.records.len(), None);
        out
    }
}

/// What a batch of records sent one entry each takes from each shard of `shards`. A
/// DETERMINISTIC key is placed by its hash; RANDOM keys, which go anywhere, are spread by each
/// shard's share of the hash keys, plus one standard deviation of that guess: over many
/// requests the guess runs ahead of what the shards really got, so a shard is not sent more than
/// it takes, and is used within a few percent of its limit.
pub fn plain_needs(records: &[Record], shards: &Shards) -> Vec<Need> {
    let mut exact = vec![(0.0f64, 0.0f64); shards.len()];
    let (mut spread_bytes, mut spread_records) = (0.0f64, 0.0f64);
    for r in records {
        match r.partition_key {
            PartitionKey::Md5(_) if !shards.covers_everything() => {
                if let Some(i) = shards.index_of(aggregate::hash_key(&r.partition_key)) {
                    exact[i].0 += r.size() as f64;
                    exact[i].1 += 1.0;
                }
            }
            _ => {
                spread_bytes += r.size() as f64;
                spread_records += 1.0;
            }
        }
    }
    (0..shards.len())
        .filter_map(|i| {
            let share = shards.share(i);
            let expected = spread_records * share;
            let margin = if expected > 0.0 {
                (expected + (expected * (1.0 - share)).sqrt()) / expected
            } else {
                1.0
            };
            let bytes = exact[i].0 + spread_bytes * share * margin;
            let records = exact[i].1 + (expected * margin).min(spread_records);
            let shard = shards.get(i)?;
            (records > 0.0).then(|| Need {
                shard: shard.id.clone(),
                bytes: bytes.min(spread_bytes + exact[i].0),
                records,
            })
        })
        .collect()
}

/// One shard's records in a batch being filled, and the aggregates they make.
#[derive(Debug, Default)]
struct Bucket {
    records: Vec<Record>,
    /// (records, is an aggregate) of each entry, the last one possibly still open.
    groups: Vec<(usize, bool)>,
    /// Planned size of the open aggregate (the last group), 0 when none is open.
    open: usize,
}

/// How a record joins the batch.
#[derive(Debug, Clone, Copy)]
enum Step {
    Plain,
    Join,
    Open,
}

/// The aggregating side of a batch.
#[derive(Debug)]
struct Grouping {
    agg: Aggregation,
    /// The map this batch groups by; taken with the batch's first record.
    shards: Option<Arc<Shards>>,
    /// One per shard of the map, plus one for keys the map does not place.
    buckets: Vec<Bucket>,
    /// The last key placed and its bucket: a record is placed twice (does it fit, then add it)
    /// and its key's MD5 was a third of the aggregating flow's CPU.
    last: Option<(PartitionKey, usize)>,
}

impl Grouping {
    /// The bucket of `rec`; `routed` is the shard a router chose for it, by the router's map.
    fn bucket_of(&mut self, rec: &Record, routed: Option<(usize, &Arc<Shards>)>) -> usize {
        if let Some((i, by)) = routed {
            let shards = self.shards.get_or_insert_with(|| by.clone());
            if Arc::ptr_eq(shards, by) {
                let n = shards.len();
                if self.buckets.len() != n + 1 {
                    self.buckets.resize_with(n + 1, Bucket::default);
                }
                return i;
            }
        }
        if let Some((key, b)) = self.last {
            if key == rec.partition_key {
                return b;
            }
        }
        let shards = self
            .shards
            .get_or_insert_with(|| self.agg.shards.snapshot())
            .clone();
        if self.buckets.len() != shards.len() + 1 {
            self.buckets.resize_with(shards.len() + 1, Bucket::default);
        }
        let b = if shards.covers_everything() {
            0
        } else {
            shards
                .index_of(aggregate::hash_key(&rec.partition_key))
                .unwrap_or(shards.len())
        };
        self.last = Some((rec.partition_key, b));
        b
    }

    /// How `rec` joins bucket `b`: the step, the entries and the bytes it adds.
    fn plan(&self, b: usize, rec: &Record) -> (Step, usize, usize) {
        let pinned = b + 1 == self.buckets.len();
        // A pinned aggregate also holds one hash key (at most 39 digits) and an index per record.
        let (frame, per_record) = if pinned {
            (aggregate::FRAME_BYTES + 41, 2)
        } else {
            (aggregate::FRAME_BYTES, 0)
        };
        let cost = aggregate::record_cost(rec) + per_record;
        let open = self.buckets[b].open;
        if frame + cost > self.agg.max_size {
            (Step::Plain, 1, rec.size())
        } else if open > 0 && open + cost <= self.agg.max_size {
            (Step::Join, 0, cost)
        } else {
            (Step::Open, 1, frame + cost + rec.partition_key.len())
        }
    }

    fn push(&mut self, b: usize, step: Step, size: usize, rec: Record) {
        let bucket = &mut self.buckets[b];
        match step {
            Step::Plain => {
                bucket.groups.push((1, false));
                bucket.open = 0;
            }
            Step::Join => {
                if let Some(g) = bucket.groups.last_mut() {
                    g.0 += 1;
                }
                bucket.open += size;
            }
            Step::Open => {
                bucket.groups.push((1, true));
                bucket.open = size - rec.partition_key.len();
            }
        }
        bucket.records.push(rec);
    }

    fn take(&mut self) -> Sealed {
        self.last = None;
        let shards = self.shards.take();
        let known = shards.as_ref().map_or(0, |s| s.len());
        let mut sealed = Sealed {
            records: Vec::with_capacity(self.buckets.iter().map(|b| b.records.len()).sum()),
            groups: Vec::new(),
            needs: Vec::new(),
            shards,
            routed_at: None,
        };
        for (i, bucket) in self.buckets.iter_mut().enumerate() {
            // Taken whole, so that a bucket keeps no capacity between batches.
            let mut records = std::mem::take(&mut bucket.records).into_iter();
            for &(n, aggregate) in &bucket.groups {
                let end = sealed.records.len() + n;
                sealed.groups.push(Group {
                    end,
                    shard: (i < known).then_some(i),
                    aggregate,
                });
                let start = sealed.records.len();
                sealed.records.extend(records.by_ref().take(n));
                if let Some(shard) = sealed.shards.as_ref().and_then(|s| s.get(i)) {
                    let group = &sealed.records[start..];
                    let bytes = group.iter().map(Record::size).sum::<usize>()
                        + if aggregate {
                            aggregate::FRAME_BYTES + 8 * n
                        } else {
                            0
                        };
                    match sealed.needs.last_mut() {
                        Some(need) if need.shard == shard.id => {
                            need.bytes += bytes as f64;
                            need.records += 1.0;
                        }
                        _ => sealed.needs.push(Need {
                            shard: shard.id.clone(),
                            bytes: bytes as f64,
                            records: 1.0,
                        }),
                    }
                }
            }
            bucket.groups.clear();
            bucket.open = 0;
        }
        sealed
    }
}

/// A batch being filled.
#[derive(Debug)]
pub struct Batch {
    records: Vec<Record>,
    /// Entries of the request it makes (records, or aggregates when aggregating).
    entries: usize,
    /// User records held.
    count: usize,
    bytes: usize,
    first_at: Option<Instant>,
    grouping: Option<Grouping>,
    /// The map a batch of plain records reckons its shards' needs by (shaped flows).
    shaped_by: Option<Arc<ShardMap>>,
    /// Chooses the shards of RANDOM records, when the flow has a shard map.
    router: Option<Router>,
    /// Plain batches: (bytes, records) routed to each shard of the router's map, and how many
    /// records were routed in all.
    routed: Vec<(f64, f64)>,
    routed_records: usize,
    /// When the first record of this batch was given a shard.
    routed_at: Option<Instant>,
}

impl Batch {
    /// An empty batch whose records are entries of their own.
    pub fn new() -> Batch {
        Batch {
            records: Vec::new(),
            entries: 0,
            count: 0,
            bytes: 0,
            first_at: None,
            grouping: None,
            shaped_by: None,
            router: None,
            routed: Vec::new(),
            routed_records: 0,
            routed_at: None,
        }
    }

    /// An empty batch of KPL aggregates when `agg` is set, else of records whose needs per
    /// shard are reckoned with `shaped_by`.
    pub fn with(agg: Option<&Aggregation>, shaped_by: Option<&Arc<ShardMap>>) -> Batch {
        Batch {
            grouping: agg.map(|a| Grouping {
                agg: a.clone(),
                shards: None,
                buckets: Vec::new(),
                last: None,
            }),
            shaped_by: shaped_by.cloned(),
            router: agg
                .map(|a| &a.shards)
                .or(shaped_by)
                .map(|map| Router::new(map.clone())),
            ..Batch::new()
        }
    }

    /// Gives a RANDOM record a key in the shard chosen for it (see `route`); the shard's index
    /// goes with the record into [`Batch::would_overflow`] and [`Batch::push`]. An empty batch
    /// first takes the newest shard map, so that all records of a batch are placed by one map.
    pub fn route(&mut self, rec: &mut Record) -> Option<usize> {
        let Some(router) = self.router.as_mut() else {
            if rec.partition_key == PartitionKey::Undrawn {
                rec.partition_key = PartitionKey::draw();
            }
            return None;
        };
        if self.count == 0 {
            router.refresh();
        }
        let routed = router.route(rec);
        if routed.is_some() && self.routed_at.is_none() {
            self.routed_at = Some(Instant::now());
        }
        routed
    }

    /// Tells the router at which share of its limits each shard is sent now.
    pub fn reweigh(&mut self, factor: impl Fn(&str) -> f64) {
        if let Some(r) = &mut self.router {
            r.reweigh(factor);
        }
    }

    /// True when it holds no record.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of user records held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Where `rec` goes and what it adds: (bucket, step, entries, bytes).
    fn plan(&mut self, rec: &Record, routed: Option<usize>) -> (usize, Step, usize, usize) {
        match &mut self.grouping {
            None => (0, Step::Plain, 1, rec.size()),
            Some(g) => {
                let by = self.router.as_ref().map(Router::shards);
                let b = g.bucket_of(rec, routed.zip(by));
                let (step, entries, bytes) = g.plan(b, rec);
                (b, step, entries, bytes)
            }
        }
    }

    /// True when `rec` (routed to `routed`) cannot join without breaking a limit (a lone record
    /// always fits).
    pub fn would_overflow(&mut self, rec: &Record, routed: Option<usize>, limits: &Limits) -> bool {
        if self.count == 0 {
            return false;
        }
        let (_, _, entries, bytes) = self.plan(rec, routed);
        self.entries + entries > limits.max_records || self.bytes + bytes > limits.max_bytes
    }

    /// True when no further record can join.
    pub fn is_full(&self, limits: &Limits) -> bool {
        self.entries >= limits.max_records || self.bytes >= limits.max_bytes
    }

    /// Adds a record (routed to `routed`).
    pub fn push(&mut self, rec: Record, routed: Option<usize>) {
        if self.first_at.is_none() {
            self.first_at = Some(Instant::now());
        }
        let (b, step, entries, bytes) = self.plan(&rec, routed);
        self.entries += entries;
        self.bytes += bytes;
        self.count += 1;
        match &mut self.grouping {
            None => {
                if let Some(i) = routed {
                    if self.routed.len() <= i {
                        self.routed.resize(i + 1, (0.0, 0.0));
                    }
                    self.routed[i].0 += rec.size() as f64;
                    self.routed[i].1 += 1.0;
                    self.routed_records += 1;
                }
                self.records.push(rec)
            }
            Some(g) => g.push(b, step, bytes, rec),
        }
    }

    /// When the age limit seals this batch.
    pub fn deadline(&self, limits: &Limits) -> Option<Instant> {
        self.first_at.map(|t| t + limits.max_age)
    }

    /// Takes the records out, leaving an empty batch.
    pub fn take(&mut self) -> Sealed {
        self.bytes = 0;
        self.entries = 0;
        self.count = 0;
        self.first_at = None;
        let routed_at = self.routed_at.take();
        let sealed = match (&mut self.grouping, &self.shaped_by) {
            (Some(g), _) => g.take(),
            (None, None) => Sealed::plain(take_keeping_room(&mut self.records)),
            (None, Some(map)) => {
                let records = take_keeping_room(&mut self.records);
                let routed = std::mem::take(&mut self.routed);
                let all_routed = std::mem::take(&mut self.routed_records) == records.len();
                let (needs, shards) = match &self.router {
                    Some(router) if all_routed => (
                        routed_needs(&routed, router.shards()),
                        router.shards().clone(),
                    ),
                    _ => {
                        let shards = map.snapshot();
                        (plain_needs(&records, &shards), shards)
                    }
                };
                Sealed {
                    needs,
                    shards: Some(shards),
                    ..Sealed::plain(records)
                }
            }
        };
        Sealed {
            routed_at,
            ..sealed
        }
    }
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

/// The records, leaving room for as many again (a batch grown record by record from nothing
/// reallocated and copied its records eight times).
fn take_keeping_room(records: &mut Vec<Record>) -> Vec<Record> {
    let room = records.len();
    std::mem::replace(records, Vec::with_capacity(room))
}

/// What a batch of routed records takes from each shard: exactly what was routed there.
fn routed_needs(routed: &[(f64, f64)], shards: &Shards) -> Vec<Need> {
    routed
        .iter()
        .enumerate()
        .filter(|(_, (_, records))| *records > 0.0)
        .filter_map(|(i, &(bytes, records))| {
            Some(Need {
                shard: shards.get(i)?.id.clone(),
                bytes,
                records,
            })
        })
        .collect()
}

/// Adds `rec`, sealing the current batch into `sealed` first when `rec` would not fit, and after
/// when the batch is full.
pub fn add(batch: &mut Batch, mut rec: Record, limits: &Limits, sealed: &mut impl Extend<Sealed>) {
    let mut routed = batch.route(&mut rec);
    if batch.would_overflow(&rec, routed, limits) {
        sealed.extend(std::iter::once(batch.take()));
        // Placed again by the empty batch, which may have taken a newer map.
        routed = batch.route(&mut rec);
    }
    batch.push(rec, routed);
    if batch.is_full(limits) {
        sealed.extend(std::iter::once(batch.take()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::AckToken;

    fn rec(n: usize) -> Record {
        Record {
            data: vec![b'x'; n].into(),
            partition_key: crate::record::PartitionKey::None,
            ack: AckToken {
                fid: 1,
                start: 0,
                end: n as u64,
            },
        }
    }

    fn limits(records: usize, bytes: usize) -> Limits {
        Limits {
            max_records: records,
            max_bytes: bytes,
            max_age: Duration::from_secs(1),
        }
    }

    #[test]
    fn seals_on_record_count() {
        let l = limits(3, 1000);
        let mut b = Batch::new();
        let mut sealed: Vec<Sealed> = vec![];
        for _ in 0..7 {
            add(&mut b, rec(10), &l, &mut sealed);
        }
        assert_eq!(
            sealed.iter().map(|s| s.records.len()).collect::<Vec<_>>(),
            vec![3, 3]
        );
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn seals_before_a_record_that_would_overflow_bytes() {
        let l = limits(500, 100);
        let mut b = Batch::new();
        let mut sealed: Vec<Sealed> = vec![];
        add(&mut b, rec(60), &l, &mut sealed);
        add(&mut b, rec(50), &l, &mut sealed); // 110 would overflow
        assert_eq!(sealed.len(), 1);
        assert_eq!(sealed[0].records.len(), 1);
        add(&mut b, rec(50), &l, &mut sealed); // exactly 100: full
        assert_eq!(sealed.len(), 2);
        assert!(b.is_empty());
        for s in &sealed {
            assert!(s.bytes() <= 100);
        }
    }

    #[test]
    fn age_deadline_starts_with_the_first_record() {
        let l = limits(10, 1000);
        let mut b = Batch::new();
        assert!(b.deadline(&l).is_none());
        b.push(rec(1), None);
        assert!(b.deadline(&l).unwrap() > Instant::now());
        b.take();
        assert!(b.deadline(&l).is_none());
    }

    /// A shaped plain batch of RANDOM records: each key hashes into the shard it was routed
    /// to, and the needs are exactly the bytes and records each shard gets.
    #[tokio::test]
    async fn routed_plain_batches_need_what_their_keys_hash_to() {
        use crate::sink::aggregate::hash_key;
        use crate::sink::shards::{even, Fixed, ShardMap};
        let map = Arc::new(ShardMap::new("s", Box::new(Fixed(even(3)))));
        map.refresh("test").await;
        let mut b = Batch::with(None, Some(&map));
        let l = limits(500, 1 << 20);
        let mut sealed: Vec<Sealed> = vec![];
        let mut scratch = Vec::new();
        for i in 0..1200 {
            let mut r = rec(10 + i % 7);
            r.partition_key = PartitionKey::random(i as f64 * 13.7, &mut scratch);
            add(&mut b, r, &l, &mut sealed);
        }
        assert_eq!(sealed.len(), 2);
        for s in &sealed {
            let shards = s.shards.as_ref().unwrap();
            let mut want = [(0.0, 0.0); 3];
            for r in &s.records {
                let i = shards.index_of(hash_key(&r.partition_key)).unwrap();
                want[i].0 += r.size() as f64;
                want[i].1 += 1.0;
            }
            assert_eq!(s.needs.len(), 3);
            for n in &s.needs {
                let i = (0..3)
                    .find(|&i| shards.get(i).unwrap().id == n.shard)
                    .unwrap();
                assert_eq!((n.bytes, n.records), want[i], "shard {i}");
            }
            assert!(s.routed_at.is_some());
        }
    }

    mod aggregated {
        use super::super::*;
        use crate::record::{AckToken, PartitionKey};
        use crate::sink::aggregate::tests::decode;
        use crate::sink::aggregate::{hash_key, Encoder};
        use crate::sink::shards::{even, Fixed, ShardMap, Shards};
        use proptest::prelude::*;

        async fn aggregation(shards: u128, max_size: usize) -> Aggregation {
            let map = Arc::new(ShardMap::new("s", Box::new(Fixed(even(shards)))));
            map.refresh("test").await;
            Aggregation {
                max_size,
                shards: map,
            }
        }

        fn record(i: usize, len: usize, deterministic: bool) -> Record {
            let data = format!("{i:08}").repeat(len / 8 + 1)[..len.max(8)].to_string();
            let mut scratch = Vec::new();
            let key = if deterministic {
                PartitionKey::md5_of(data.as_bytes())
            } else {
                PartitionKey::random((i as f64) * 7.31, &mut scratch)
            };
            Record {
                data: data.into_bytes().into(),
                partition_key: key,
                ack: AckToken {
                    fid: 1,
                    start: i as u64,
                    end: i as u64 + 1,
                },
            }
        }

        fn check(sealed: &Sealed, agg: &Aggregation, limits: &Limits) -> Vec<u64> {
            let shards = sealed.shards.as_ref().expect("the map grouped by");
            let mut encoder = Encoder::default();
            let mut out = Vec::new();
            let mut start = 0;
            let mut request_bytes = 0;
            assert!(sealed.groups.len() <= limits.max_records);
            for g in &sealed.groups {
                let records = &sealed.records[start..g.end];
                assert!(!records.is_empty());
                if g.aggregate {
                    let s = shards
                        .get(g.shard.expect("a known map places every key"))
                        .unwrap();
                    for r in records {
                        let h = hash_key(&r.partition_key);
                        assert!(
                            s.start <= h && h <= s.end,
                            "a record outside its aggregate's shard"
                        );
                    }
                    encoder.encode(records, None, &mut out);
                    assert!(
                        out.len() <= agg.max_size,
                        "{} > {}",
                        out.len(),
                        agg.max_size
                    );
                    let (_, pairs) = decode(&out);
                    assert_eq!(pairs.len(), records.len());
                    request_bytes += out.len() + records[0].partition_key.len();
                } else {
                    assert_eq!(records.len(), 1);
                    request_bytes += records[0].size();
                }
                start = g.end;
            }
            assert_eq!(start, sealed.records.len());
            if sealed.groups.len() > 1 {
                assert!(
                    request_bytes <= limits.max_bytes,
                    "{request_bytes} > {}",
                    limits.max_bytes
                );
            }
            sealed.records.iter().map(|r| r.ack.start).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            /// Whatever the sizes, keys and limits: every record sealed once, in its shard's
            /// aggregate, no aggregate over its size, no request over its limits, and each
            /// shard's records in the order they came.
            #[test]
            fn batches_of_aggregates_keep_every_limit(
                lens in proptest::collection::vec(prop_oneof![1usize..200, 1usize..3000, Just(60_000usize)], 1..400),
                shards in 1u128..9,
                max_size in 200usize..60_000,
                max_records in 1usize..40,
                max_bytes in 1000usize..200_000,
                deterministic in any::<bool>(),
            ) {
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let agg = rt.block_on(aggregation(shards, max_size));
                let limits = Limits { max_records, max_bytes, max_age: Duration::from_secs(1) };
                let mut batch = Batch::with(Some(&agg), None);
                let mut sealed: Vec<Sealed> = vec![];
                for (i, &len) in lens.iter().enumerate() {
                    add(&mut batch, record(i, len, deterministic), &limits, &mut sealed);
                }
                if !batch.is_empty() {
                    sealed.push(batch.take());
                }
                let mut seen = Vec::new();
                for s in &sealed {
                    seen.extend(check(s, &agg, &limits));
                }
                let mut sorted = seen.clone();
                sorted.sort();
                prop_assert_eq!(sorted, (0..lens.len() as u64).collect::<Vec<_>>());
                let map = agg.shards.snapshot();
                for s in &sealed {
                    let mut last = vec![None; map.len()];
                    for r in &s.records {
                        let shard = map.index_of(hash_key(&r.partition_key)).unwrap();
                        prop_assert!(last[shard] < Some(r.ack.start));
                        last[shard] = Some(r.ack.start);
                    }
                }
            }
        }

        #[test]
        fn plain_needs_place_deterministic_keys_and_spread_random_ones() {
            let shards = Shards::new(even(2));
            let records: Vec<Record> = (0..1000).map(|i| record(i, 100, true)).collect();
            let needs = plain_needs(&records, &shards);
            for (i, n) in needs.iter().enumerate() {
                let mine: Vec<&Record> = records
                    .iter()
                    .filter(|r| shards.index_of(hash_key(&r.partition_key)) == Some(i))
                    .collect();
                assert_eq!(n.shard, shards.get(i).unwrap().id);
                assert_eq!(n.records, mine.len() as f64);
                assert_eq!(n.bytes, mine.iter().map(|r| r.size()).sum::<usize>() as f64);
            }
            let records: Vec<Record> = (0..1000).map(|i| record(i, 100, false)).collect();
            let needs = plain_needs(&records, &shards);
            assert_eq!(needs.len(), 2);
            for n in &needs {
                // 500 expected, plus one standard deviation (sqrt(1000 * 0.5 * 0.5) = 15.8).
                assert!((515.0..517.0).contains(&n.records), "{n:?}");
            }
            let one = Shards::new(even(1));
            let needs = plain_needs(&records, &one);
            assert_eq!(needs[0].records, 1000.0, "one shard gets all, exactly");
        }

        #[tokio::test]
        async fn small_records_fill_aggregates_not_entries() {
            let agg = aggregation(4, 51_200).await;
            let limits = Limits {
                max_records: 500,
                max_bytes: 5 << 20,
                max_age: Duration::from_secs(1),
            };
            let mut batch = Batch::with(Some(&agg), None);
            let mut sealed: Vec<Sealed> = vec![];
            for i in 0..20_000 {
                add(&mut batch, record(i, 100, true), &limits, &mut sealed);
            }
            sealed.push(batch.take());
            let entries: usize = sealed.iter().map(|s| s.groups.len()).sum();
            // 20,000 records of ~130 bytes: ~2.6 MB in aggregates of 50 KiB, a few per shard.
            assert!(entries <= 60, "{entries} entries");
            assert_eq!(sealed.len(), 1);
            check(&sealed[0], &agg, &limits);
        }
    }
}
