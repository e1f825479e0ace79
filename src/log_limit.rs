//! Log lines that could repeat for every record, file or retry are written at most once per
//! period, so that a stuck endpoint or a bad file cannot flood the journal over months.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One rate-limited message: due at most once per period, counting what was held back.
#[derive(Debug)]
pub struct LogLimiter {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// A limiter that lets one line through per `every`; the first is always due.
    pub fn new(every: Duration) -> LogLimiter {
        LogLimiter {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// When a line is due now, how many were held back since the last one; otherwise counts one
    /// more held back and returns None.
    pub fn due(&mut self) -> Option<u64> {
        self.due_at(Instant::now())
    }

    fn due_at(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_none_or(|t| now.saturating_duration_since(t) >= self.every)
        {
            self.last = Some(now);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// Rate-limited messages about many subjects (one per file path): each subject has its own
/// period, and subjects not heard of for a period are forgotten, so the map does not grow with
/// every file ever rotated away.
#[derive(Debug)]
pub struct KeyedLogLimiter<K> {
    every: Duration,
    last: HashMap<K, Instant>,
}

impl<K: Hash + Eq + Clone> KeyedLogLimiter<K> {
    /// A limiter that lets one line per subject through per `every`.
    pub fn new(every: Duration) -> KeyedLogLimiter<K> {
        KeyedLogLimiter {
            every,
            last: HashMap::new(),
        }
    }

    /// True when a line about `key` is due now (and marks it written).
    pub fn due(&mut self, key: &K) -> bool {
        self.due_at(key, Instant::now())
    }

    fn due_at(&mut self, key: &K, now: Instant) -> bool {
        let every = self.every;
        self.last
            .retain(|_, t| now.saturating_duration_since(*t) < every);
        if self.last.contains_key(key) {
            return false;
        }
        self.last.insert(key.clone(), now);
        true
    }

    /// Subjects currently remembered.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// True when no subject is remembered.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

/// A rate-limited message shared between threads (a converter called through `&self`).
#[derive(Debug)]
pub struct SharedLogLimiter {
    every_ms: u64,
    epoch: Instant,
    /// Milliseconds after `epoch` when the last line was written, plus one (0 = never).
    last_ms: AtomicU64,
}

impl SharedLogLimiter {
    /// A limiter that lets one line through per `every`, from any thread.
    pub fn new(every: Duration) -> SharedLogLimiter {
        SharedLogLimiter {
            every_ms: every.as_millis() as u64,
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// True for exactly one caller per period.
    pub fn due(&self) -> bool {
        self.due_at(Instant::now())
    }

    fn due_at(&self, now: Instant) -> bool {
        let now_ms = now.saturating_duration_since(self.epoch).as_millis() as u64 + 1;
        let last = self.last_ms.load(Ordering::Relaxed);
        if last != 0 && now_ms.saturating_sub(last) < self.every_ms {
            return false;
        }
        self.last_ms
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn one_line_per_period_with_the_count_held_back() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(MIN);
        assert_eq!(l.due_at(t0), Some(0));
        assert_eq!(l.due_at(t0 + Duration::from_secs(1)), None);
        assert_eq!(l.due_at(t0 + Duration::from_secs(59)), None);
        assert_eq!(l.due_at(t0 + MIN), Some(2));
        assert_eq!(l.due_at(t0 + MIN), None);
        assert_eq!(l.due_at(t0 + 3 * MIN), Some(1));
    }

    #[test]
    fn keyed_subjects_are_independent_and_forgotten_when_quiet() {
        let t0 = Instant::now();
        let mut l = KeyedLogLimiter::new(MIN);
        assert!(l.due_at(&"a", t0));
        assert!(l.due_at(&"b", t0));
        assert!(!l.due_at(&"a", t0 + Duration::from_secs(30)));
        assert_eq!(l.len(), 2);
        assert!(l.due_at(&"a", t0 + MIN));
        assert_eq!(l.len(), 1, "b was quiet for a period and is forgotten");
    }

    #[test]
    fn shared_limiter_lets_one_caller_through_per_period() {
        let l = SharedLogLimiter::new(MIN);
        let t0 = l.epoch;
        assert!(l.due_at(t0));
        assert!(!l.due_at(t0 + Duration::from_secs(59)));
        assert!(l.due_at(t0 + MIN));
        assert!(!l.due_at(t0 + MIN));
        let passed = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|_| s.spawn(|| l.due_at(t0 + 3 * MIN))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|ok| *ok)
                .count()
        });
        assert_eq!(passed, 1);
    }
}
