//! Backoff after failed sends: the Java agent's `AsyncPublisherThrottler` formula, with jitter.

use std::time::Duration;

/// Failure memory of one flow's sender.
#[derive(Debug, Clone)]
pub struct Backoff {
    failures: f64,
    initial: Duration,
    max: Duration,
}

/// Relative jitter applied to each delay (±30 %, as the Java agent).
pub const JITTER: f64 = 0.30;

impl Backoff {
    /// A backoff growing from `initial` up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            failures: 0.0,
            initial,
            max: max.max(initial),
        }
    }

    /// A request was fully accepted: failures decay tenfold.
    pub fn on_success(&mut self) {
        self.failures /= 10.0;
        if self.failures < 1.0 {
            self.failures = 0.0;
        }
    }

    /// A whole request failed.
    pub fn on_failure(&mut self) {
        self.failures += 1.0;
    }

    /// `failed` of `total` entries of a request failed.
    pub fn on_partial(&mut self, failed: usize, total: usize) {
        if total > 0 {
            self.failures += failed as f64 / total as f64;
        }
    }

    /// A failure that retrying soon cannot fix: wait the longest delay.
    pub fn on_persistent_failure(&mut self) {
        let to_cap = (self.max.as_secs_f64() / self.initial.as_secs_f64().max(1e-9))
            .log2()
            .ceil()
            + 1.0;
        self.failures = self.failures.max(to_cap).max(1.0);
    }

    /// The delay before the next send, or None; `unit` in [-1, 1] picks the jitter.
    pub fn delay(&self, unit: f64) -> Option<Duration> {
        let f = self.failures.round();
        if f <= 0.0 {
            return None;
        }
        let exp = (f - 1.0).min(62.0) as i32;
        let base = (self.initial.as_secs_f64() * 2f64.powi(exp)).min(self.max.as_secs_f64());
        let jittered = base * (1.0 + unit.clamp(-1.0, 1.0) * JITTER);
        Some(Duration::from_secs_f64(jittered.max(0.0)))
    }

    /// The delay before the next send with random jitter.
    pub fn next_delay(&self) -> Option<Duration> {
        use rand::RngExt;
        self.delay(rand::rng().random_range(-1.0..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn grows_exponentially_to_the_cap_and_decays_on_success() {
        let mut b = Backoff::new(ms(100), ms(10_000));
        assert_eq!(b.delay(0.0), None);
        b.on_failure();
        assert_eq!(b.delay(0.0), Some(ms(100)));
        b.on_failure();
        assert_eq!(b.delay(0.0), Some(ms(200)));
        for _ in 0..20 {
            b.on_failure();
        }
        assert_eq!(b.delay(0.0), Some(ms(10_000)));
        b.on_success();
        assert_eq!(b.delay(0.0), Some(ms(200)));
        b.on_success();
        assert_eq!(b.delay(0.0), None);
    }

    #[test]
    fn jitter_stays_within_thirty_percent() {
        let mut b = Backoff::new(ms(100), ms(10_000));
        b.on_failure();
        assert_eq!(b.delay(1.0), Some(ms(130)));
        assert_eq!(b.delay(-1.0), Some(ms(70)));
        for _ in 0..100 {
            let d = b.next_delay().unwrap();
            assert!(d >= ms(70) && d <= ms(130), "{d:?}");
        }
    }

    #[test]
    fn partial_failures_count_fractionally() {
        let mut b = Backoff::new(ms(100), ms(10_000));
        b.on_partial(1, 10);
        assert_eq!(b.delay(0.0), None);
        b.on_partial(5, 10);
        assert_eq!(b.delay(0.0), Some(ms(100)));
    }

    #[test]
    fn persistent_failure_jumps_to_the_cap() {
        let mut b = Backoff::new(ms(100), ms(10_000));
        b.on_persistent_failure();
        assert_eq!(b.delay(0.0), Some(ms(10_000)));
    }
}
