//! RANDOM keys placed where there is room. A RANDOM key promises nothing about its shard, so
//! instead of letting each record's key fall anywhere, the sender chooses the shard, in
//! proportion to each shard's share of the hash keys times the share of its write limits it is
//! sent at now (AIMD, `shape`), and gives the record a RANDOM key from a pool of keys that hash
//! into that shard. A shard another producer keeps busy then gets fewer records and the others
//! more, instead of every request waiting for it; and a batch knows what it takes from each
//! shard without an MD5 per record.

use super::aggregate::hash_key;
use super::partition::random_value;
use super::shards::{ShardMap, Shards};
use crate::record::{PartitionKey, Record};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;

/// Keys kept per shard: enough that consecutive records rarely share one, few enough that the
/// pools of a large stream stay small (4,096 keys of 26 bytes in all, at least 8 per shard).
fn pool_size(shards: usize) -> usize {
    (4096 / shards.max(1)).clamp(8, 256)
}

/// Draws RANDOM keys until every shard has `per` that hash into it, or gives up after a bounded
/// number of draws (a shard too small to be hit gets none, and so no records).
fn fill_pools(shards: &Shards) -> Vec<Vec<PartitionKey>> {
    let n = shards.len();
    let per = pool_size(n);
    let mut pools = vec![Vec::with_capacity(per); n];
    let mut unfilled = n;
    let mut scratch = Vec::new();
    for _ in 0..per * n * 16 {
        if unfilled == 0 {
            break;
        }
        let key = PartitionKey::random(random_value(), &mut scratch);
        if let Some(pool) = shards.index_of(hash_key(&key)).map(|i| &mut pools[i]) {
            if pool.len() < per {
                pool.push(key);
                if pool.len() == per {
                    unfilled -= 1;
                }
            }
        }
    }
    pools
}

/// Chooses the shards of a flow's RANDOM records.
#[derive(Debug)]
pub struct Router {
    map: Arc<ShardMap>,
    /// The map the pools were drawn for (unknown until the first RANDOM record).
    shards: Arc<Shards>,
    /// Keys hashing into each shard, by index into `shards`.
    pools: Vec<Vec<PartitionKey>>,
    /// The share of its limits each shard is sent at (1 until it throttles), by index.
    factors: Vec<f64>,
    /// Running sums of the shards' weights; the last is the total.
    cumulative: Vec<f64>,
    /// Picks shards and keys (a fast generator: these draws need no cryptographic strength).
    rng: SmallRng,
}

impl Router {
    /// A router by `map`; the pools are drawn when the first RANDOM record comes.
    pub fn new(map: Arc<ShardMap>) -> Router {
        Router {
            map,
            shards: Arc::new(Shards::unknown()),
            pools: Vec::new(),
            factors: Vec::new(),
            cumulative: Vec::new(),
            rng: SmallRng::from_rng(&mut rand::rng()),
        }
    }

    /// The map the last routed records were placed by.
    pub fn shards(&self) -> &Arc<Shards> {
        &self.shards
    }

    /// Takes the current map, when it is newer than the pools (called between batches).
    pub fn refresh(&mut self) {
        let now = self.map.snapshot();
        if Arc::ptr_eq(&now, &self.shards) || now.is_unknown() {
            return;
        }
        let factors: Vec<f64> = (0..now.len())
            .map(|i| {
                let id = now.get(i).map(|s| s.id.as_str());
                (0..self.shards.len())
                    .find(|&j| self.shards.get(j).map(|s| s.id.as_str()) == id)
                    .map_or(1.0, |j| self.factors[j])
            })
            .collect();
        self.pools = fill_pools(&now);
        self.shards = now;
        self.factors = factors;
        self.reckon();
    }

    /// Tells the router at which share of its limits each shard is sent now.
    pub fn reweigh(&mut self, factor: impl Fn(&str) -> f64) {
        if self.shards.is_unknown() {
            return;
        }
        for (i, f) in self.factors.iter_mut().enumerate() {
            *f = self.shards.get(i).map_or(0.0, |s| factor(&s.id));
        }
        self.reckon();
    }

    fn reckon(&mut self) {
        let mut sum = 0.0;
        self.cumulative = (0..self.shards.len())
            .map(|i| {
                if !self.pools[i].is_empty() {
                    sum += self.shards.share(i) * self.factors[i];
                }
                sum
            })
            .collect();
    }

    /// Gives a RANDOM record a key in the shard chosen for it and returns that shard's index
    /// in [`Router::shards`]; other records are left alone, and while no map is known a RANDOM
    /// record keeps its key (an undrawn one is drawn).
    pub fn route(&mut self, rec: &mut Record) -> Option<usize> {
        if !rec.partition_key.is_random() {
            return None;
        }
        if self.shards.is_unknown() {
            self.refresh();
        }
        let Some(i) = self.pick() else {
            if rec.partition_key == PartitionKey::Undrawn {
                rec.partition_key = PartitionKey::draw();
            }
            return None;
        };
        let pool = &self.pools[i];
        rec.partition_key = pool[self.rng.random_range(0..pool.len())];
        Some(i)
    }

    /// A shard with keys, by weight.
    fn pick(&mut self) -> Option<usize> {
        let total = *self.cumulative.last()?;
        if total <= 0.0 {
            return None;
        }
        let i = match self.cumulative.len() {
            1 => 0,
            n => {
                let x = self.rng.random_range(0.0..total);
                self.cumulative.partition_point(|&c| c <= x).min(n - 1)
            }
        };
        (!self.pools[i].is_empty()).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::AckToken;
    use crate::sink::shards::{even, Fixed, ShardRange};

    fn record(key: PartitionKey) -> Record {
        Record {
            data: bytes::Bytes::from_static(b"line\n"),
            partition_key: key,
            ack: AckToken {
                fid: 1,
                start: 0,
                end: 5,
            },
        }
    }

    async fn map_of(list: Vec<ShardRange>) -> Arc<ShardMap> {
        let map = Arc::new(ShardMap::new("s", Box::new(Fixed(list))));
        map.refresh("test").await;
        map
    }

    fn random() -> PartitionKey {
        PartitionKey::random(random_value(), &mut Vec::new())
    }

    /// Routes `n` RANDOM records; how many went to each shard, checking each key hashes into
    /// the shard it was routed to.
    fn spread(router: &mut Router, n: usize) -> Vec<usize> {
        router.refresh();
        let mut counts = vec![0; router.shards().len()];
        for _ in 0..n {
            let mut rec = record(random());
            let i = router.route(&mut rec).unwrap();
            assert_eq!(
                router.shards().index_of(hash_key(&rec.partition_key)),
                Some(i),
                "the key {} does not hash into the shard it was routed to",
                rec.partition_key.text()
            );
            let v: f64 = rec.partition_key.text().parse().unwrap();
            assert!((0.0..1e6).contains(&v));
            counts[i] += 1;
        }
        counts
    }

    #[tokio::test]
    async fn random_records_get_keys_of_their_shard_in_proportion_to_its_share() {
        // Shard 0 takes half the hash keys, shards 1 and 2 a quarter each.
        let half = u128::MAX / 2;
        let quarter = u128::MAX / 4;
        let list = vec![
            ShardRange {
                id: "a".into(),
                start: 0,
                end: half,
            },
            ShardRange {
                id: "b".into(),
                start: half + 1,
                end: half + quarter,
            },
            ShardRange {
                id: "c".into(),
                start: half + quarter + 1,
                end: u128::MAX,
            },
        ];
        let mut router = Router::new(map_of(list).await);
        let counts = spread(&mut router, 40_000);
        for (i, want) in [(0, 0.5), (1, 0.25), (2, 0.25)] {
            let got = counts[i] as f64 / 40_000.0;
            assert!((got - want).abs() < 0.02, "shard {i}: {got} of the records");
        }
    }

    #[tokio::test]
    async fn a_slowed_shard_gets_its_factor_of_its_share_and_deterministic_keys_stay() {
        let mut router = Router::new(map_of(even(2)).await);
        spread(&mut router, 1);
        router.reweigh(|id| if id == router_id(0) { 0.25 } else { 1.0 });
        let counts = spread(&mut router, 20_000);
        let got = counts[0] as f64 / 20_000.0;
        // 0.25 × 0.5 against 1 × 0.5: a fifth of the records.
        assert!((got - 0.2).abs() < 0.02, "the slowed shard got {got}");
        let key = PartitionKey::md5_of(b"line\n");
        let mut rec = record(key);
        assert_eq!(router.route(&mut rec), None);
        assert_eq!(rec.partition_key, key);
    }

    fn router_id(i: usize) -> &'static str {
        ["shardId-000000000000", "shardId-000000000001"][i]
    }

    #[tokio::test]
    async fn without_a_map_records_keep_their_own_keys_and_undrawn_ones_are_drawn() {
        let map = Arc::new(ShardMap::new("s", Box::new(Fixed(Vec::new()))));
        let mut router = Router::new(map);
        let key = random();
        let mut rec = record(key);
        assert_eq!(router.route(&mut rec), None);
        assert_eq!(rec.partition_key, key);
        let mut rec = record(PartitionKey::Undrawn);
        assert_eq!(router.route(&mut rec), None);
        let v: f64 = rec.partition_key.text().parse().unwrap();
        assert!(
            matches!(rec.partition_key, PartitionKey::Random { .. }) && (0.0..1e6).contains(&v)
        );
    }

    #[tokio::test]
    async fn undrawn_keys_are_drawn_from_their_shards_pool() {
        let mut router = Router::new(map_of(even(4)).await);
        for _ in 0..1000 {
            let mut rec = record(PartitionKey::Undrawn);
            let i = router.route(&mut rec).unwrap();
            assert_eq!(
                router.shards().index_of(hash_key(&rec.partition_key)),
                Some(i)
            );
        }
    }

    #[tokio::test]
    async fn a_new_map_is_taken_between_batches_with_the_factors_of_the_shards_it_kept() {
        let map = map_of(even(2)).await;
        let mut router = Router::new(map.clone());
        spread(&mut router, 1);
        router.reweigh(|id| if id == router_id(0) { 0.5 } else { 1.0 });
        let before = router.shards().clone();
        router.refresh();
        assert!(
            Arc::ptr_eq(&before, router.shards()),
            "no new map, no new pools"
        );
        assert_eq!(router.factors, vec![0.5, 1.0]);
    }
}
