//! Exponential backoff with full jitter: the delay before retry `n` is drawn uniformly
//! between zero and `min(max_delay, initial_delay * 2^(n-1))`, so clients that failed
//! together do not retry together.

use std::time::Duration;

use rand::Rng;

/// How many attempts a call gets and how long to wait between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts including the first, at least 1.
    pub max_attempts: u32,
    /// Upper bound of the delay before the first retry.
    pub initial_delay: Duration,
    /// Upper bound of any delay.
    pub max_delay: Duration,
    /// Time one gateway call may take before it counts as failed.
    pub call_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            call_timeout: Duration::from_secs(3),
        }
    }
}

impl RetryPolicy {
    /// Returns the upper bound of the delay before retry `retry` (1 for the first retry).
    #[must_use]
    pub fn delay_ceiling(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        self.initial_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    /// Draws the delay before retry `retry` from `rng`.
    pub fn delay(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.delay_ceiling(retry);
        ceiling.mul_f64(rng.random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            call_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn ceiling_doubles_up_to_max_delay() {
        let ceilings: Vec<u128> = (1..=6)
            .map(|retry| policy().delay_ceiling(retry).as_millis())
            .collect();

        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn ceiling_survives_huge_retry_numbers() {
        assert_eq!(policy().delay_ceiling(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn jittered_delay_stays_below_ceiling_and_varies() {
        let mut rng = StdRng::seed_from_u64(7);
        let delays: Vec<Duration> = (0..200).map(|_| policy().delay(3, &mut rng)).collect();

        assert!(
            delays
                .iter()
                .all(|delay| *delay <= Duration::from_millis(400))
        );
        assert!(
            delays
                .iter()
                .any(|delay| *delay < Duration::from_millis(200))
        );
        assert!(
            delays
                .iter()
                .any(|delay| *delay > Duration::from_millis(200))
        );
    }
}
