//! Per-shard rate shaping: a token bucket per shard at its write limits, so that a backlog
//! drains at the shards' speed instead of in storms of `ProvisionedThroughputExceededException`;
//! a shard that throttles anyway slows down on its own (AIMD), the others keep their pace.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A shard's write limits (Kinesis: 1 MiB/s and 1,000 records/s, counting partition keys).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardLimits {
    /// Bytes (data and partition keys) per second.
    pub bytes_per_sec: f64,
    /// Records per second.
    pub records_per_sec: f64,
}

/// The share of its limits a shard is sent at: a request's travel time varies, so a sender at
/// exactly the limit finds the service's bucket a few records short now and then, and each
/// throttled entry halves the shard's rate for seconds (a plain backlog measured 92 % of the
/// capacity with one throttled entry in 24,000, 100 % with none).
const HEADROOM: f64 = 0.97;

/// The smallest share of its limits a throttled shard slows down to.
const MIN_FACTOR: f64 = 1.0 / 16.0;

/// What a shard's rate regains per request stored without throttling.
const INCREASE: f64 = 1.0 / 32.0;

/// The error code with which Kinesis throttles an entry.
pub const THROTTLED: &str = "ProvisionedThroughputExceededException";

#[derive(Debug)]
struct Bucket {
    bytes: f64,
    records: f64,
    at: Instant,
    /// Share of the limits this shard is sent at now: 1 until it throttles.
    factor: f64,
    /// When it last slowed down: replies to requests sent before then tell nothing new.
    slowed_at: Option<Instant>,
}

/// A stream's token buckets, shared by the flows to it.
pub type SharedShaper = std::sync::Arc<std::sync::Mutex<Shaper>>;

/// The token buckets of one stream's shards, by shard id.
#[derive(Debug)]
pub struct Shaper {
    limits: ShardLimits,
    buckets: HashMap<String, Bucket>,
    /// When a shard last slowed down.
    last_slowdown: Option<Instant>,
}

/// What one request takes from a shard.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    /// The shard.
    pub shard: String,
    /// Bytes (data and partition keys).
    pub bytes: f64,
    /// Records (aggregates count as one).
    pub records: f64,
}

impl Shaper {
    /// Buckets at `limits` to be shared by a stream's flows.
    pub fn shared(limits: ShardLimits) -> SharedShaper {
        std::sync::Arc::new(std::sync::Mutex::new(Shaper::new(limits)))
    }

    /// Buckets at [`HEADROOM`] of `limits`, each starting full (a second's worth).
    pub fn new(limits: ShardLimits) -> Shaper {
        Shaper {
            limits: ShardLimits {
                bytes_per_sec: limits.bytes_per_sec * HEADROOM,
                records_per_sec: limits.records_per_sec * HEADROOM,
            },
            buckets: HashMap::new(),
            last_slowdown: None,
        }
    }

    fn bucket(&mut self, shard: &str, now: Instant) -> &mut Bucket {
        let limits = self.limits;
        let b = self
            .buckets
            .entry(shard.to_owned())
            .or_insert_with(|| Bucket {
                bytes: limits.bytes_per_sec,
                records: limits.records_per_sec,
                at: now,
                factor: 1.0,
                slowed_at: None,
            });
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.bytes = (b.bytes + dt * limits.bytes_per_sec * b.factor).min(limits.bytes_per_sec);
        b.records =
            (b.records + dt * limits.records_per_sec * b.factor).min(limits.records_per_sec);
        b.at = now;
        b
    }

    /// When a request needing `needs` may go: once every shard it writes to has the tokens.
    /// A need larger than a bucket waits for a full bucket.
    pub fn ready_at(&mut self, needs: &[Need], now: Instant) -> Instant {
        let limits = self.limits;
        let mut at = now;
        for n in needs {
            let b = self.bucket(&n.shard, now);
            let wait = |have: f64, need: f64, rate: f64| {
                let short = need.min(rate) - have;
                if short <= 0.0 {
                    0.0
                } else {
                    short / (rate * b.factor)
                }
            };
            let secs = wait(b.bytes, n.bytes, limits.bytes_per_sec).max(wait(
                b.records,
                n.records,
                limits.records_per_sec,
            ));
            at = at.max(now + Duration::from_secs_f64(secs));
        }
        at
    }

    /// Takes a request's tokens if it may go now; false if it must wait.
    pub fn take_if_ready(&mut self, needs: &[Need], now: Instant) -> bool {
        let ready = self.ready_at(needs, now) <= now;
        if ready {
            self.take(needs, now);
        }
        ready
    }

    /// Takes a request's tokens, as it is sent.
    pub fn take(&mut self, needs: &[Need], now: Instant) {
        for n in needs {
            let b = self.bucket(&n.shard, now);
            b.bytes -= n.bytes;
            b.records -= n.records;
        }
    }

    /// A shard's entries of a request sent at `sent_at` came back: throttled ones halve its
    /// rate, a request stored whole gives a little of it back. Once per congestion, as TCP does:
    /// requests that left before the last slow-down were sent at the old rate, so their replies
    /// neither slow it again (four requests in flight into one storm would otherwise cut it to a
    /// sixteenth) nor speed it up.
    pub fn settled(&mut self, shard: &str, throttled: bool, sent_at: Instant, now: Instant) {
        let b = self.bucket(shard, now);
        if b.slowed_at.is_some_and(|t| sent_at <= t) {
            return;
        }
        if throttled {
            b.slowed_at = Some(now);
            b.factor = (b.factor / 2.0).max(MIN_FACTOR);
            // What the service refused is not spent: start again from an empty bucket.
            b.bytes = b.bytes.min(0.0);
            b.records = b.records.min(0.0);
            self.last_slowdown = Some(now);
        } else {
            b.factor = (b.factor + INCREASE).min(1.0);
        }
    }

    /// The bytes and records a shard's bucket holds now: what may be sent to it at once.
    pub fn room(&mut self, shard: &str, now: Instant) -> (f64, f64) {
        let b = self.bucket(shard, now);
        (b.bytes, b.records)
    }

    /// The bytes and records of a full bucket (a second of the limits, with the headroom).
    pub fn capacity(&self) -> (f64, f64) {
        (self.limits.bytes_per_sec, self.limits.records_per_sec)
    }

    /// When a shard last slowed down.
    pub fn last_slowdown(&self) -> Option<Instant> {
        self.last_slowdown
    }

    /// The share of its limits a shard is sent at now (1 until it throttles).
    pub fn factor(&self, shard: &str) -> f64 {
        self.buckets.get(shard).map_or(1.0, |b| b.factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1_048_576.0;

    fn shaper() -> Shaper {
        Shaper::new(ShardLimits {
            bytes_per_sec: MIB,
            records_per_sec: 1000.0,
        })
    }

    fn need(shard: &str, bytes: f64, records: f64) -> Need {
        Need {
            shard: shard.into(),
            bytes,
            records,
        }
    }

    /// Sending whenever allowed for 10 simulated seconds never exceeds a shard's limits over any
    /// second, and uses at least 90 % of them.
    #[test]
    fn a_backlog_goes_at_the_shard_limit_and_not_above() {
        let mut s = shaper();
        let t0 = Instant::now();
        let mut now = t0;
        let mut sent: Vec<(Instant, f64)> = Vec::new();
        let n = need("a", 300_000.0, 40.0);
        while now < t0 + Duration::from_secs(10) {
            let at = s.ready_at(std::slice::from_ref(&n), now);
            now = at;
            s.take(std::slice::from_ref(&n), now);
            sent.push((now, n.bytes));
        }
        let total: f64 = sent.iter().map(|(_, b)| b).sum();
        let secs = now.duration_since(t0).as_secs_f64();
        assert!(total / secs >= 0.9 * MIB, "{} B/s", total / secs);
        // Kinesis's own bucket (a second of burst) would have admitted all of it.
        for (i, (t, _)) in sent.iter().enumerate() {
            let window: f64 = sent[..=i]
                .iter()
                .filter(|(u, _)| t.duration_since(*u) < Duration::from_secs(1))
                .map(|(_, b)| b)
                .sum();
            assert!(window <= 2.0 * MIB, "{window} bytes within a second");
        }
        let cumulative: f64 = sent.iter().map(|(_, b)| b).sum();
        assert!(cumulative <= MIB * (secs + 1.0) + 1.0);
    }

    #[test]
    fn a_throttled_shard_slows_down_alone_and_recovers() {
        let mut s = shaper();
        let t0 = Instant::now();
        let mut clock = t0;
        // Each reply to a request sent after the last one came back.
        let mut now = || {
            clock += Duration::from_millis(10);
            clock
        };
        let at = now();
        s.settled("hot", true, at, now());
        let at = now();
        s.settled("hot", true, at, now());
        assert_eq!(s.factor("hot"), 0.25);
        assert_eq!(s.factor("cold"), 1.0);
        let t = now();
        let hot = s.ready_at(&[need("hot", 100_000.0, 1.0)], t);
        let cold = s.ready_at(&[need("cold", 100_000.0, 1.0)], t);
        assert_eq!(cold, t, "the other shard goes at once");
        assert!(hot > t + Duration::from_millis(300), "{:?}", hot - t);
        for _ in 0..100 {
            let at = now();
            s.settled("hot", false, at, now());
        }
        assert_eq!(s.factor("hot"), 1.0);
        for _ in 0..20 {
            let at = now();
            s.settled("hot", true, at, now());
        }
        assert_eq!(s.factor("hot"), MIN_FACTOR);
    }

    #[test]
    fn replies_to_requests_sent_before_a_slow_down_do_not_move_the_rate() {
        let mut s = shaper();
        let sent = Instant::now();
        let later = sent + Duration::from_millis(50);
        // Four requests in flight together, all throttled: one slow-down, not four.
        for _ in 0..4 {
            s.settled("hot", true, sent, later);
        }
        assert_eq!(s.factor("hot"), 0.5);
        s.settled("hot", false, sent, later);
        assert_eq!(
            s.factor("hot"),
            0.5,
            "stored at the old rate: no increase either"
        );
        s.settled("hot", true, later + Duration::from_millis(1), later);
        assert_eq!(
            s.factor("hot"),
            0.25,
            "sent after the slow-down: a new congestion"
        );
    }

    #[test]
    fn records_limit_as_well_as_bytes() {
        let mut s = shaper();
        let now = Instant::now();
        let n = need("a", 10.0, 600.0);
        assert_eq!(s.ready_at(std::slice::from_ref(&n), now), now);
        s.take(std::slice::from_ref(&n), now);
        let next = s.ready_at(std::slice::from_ref(&n), now);
        // 970 a second: 370 left, 230 short.
        let wait = next.duration_since(now).as_secs_f64();
        assert!((0.23..0.245).contains(&wait), "{wait}");
    }
}
