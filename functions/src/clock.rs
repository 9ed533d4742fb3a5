//! Time for visibility timeouts, circuit breaker intervals and retry delays, with a manual
//! clock that tests advance by hand.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

/// A source of time and a way to wait.
#[async_trait]
pub trait Clock: Send + Sync + fmt::Debug {
    /// Returns the current monotonic time, for timeouts and intervals.
    fn now(&self) -> Instant;

    /// Returns the current wall-clock time, for message timestamps.
    fn system_time(&self) -> SystemTime;

    /// Waits for `duration` of this clock's time.
    async fn sleep(&self, duration: Duration);
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clocks and Tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Returns the system clock as a shared handle.
#[must_use]
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when [`ManualClock::advance`] or [`Clock::sleep`] is called.
///
/// `sleep` returns at once after moving the clock forward by the requested duration, and
/// records that duration, so tests can check retry delays without waiting for them.
#[derive(Debug)]
pub struct ManualClock {
    started: Instant,
    started_system: SystemTime,
    state: Mutex<ManualState>,
}

#[derive(Debug, Default)]
struct ManualState {
    elapsed: Duration,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// Creates a clock that starts at the current time.
    #[must_use]
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            started_system: SystemTime::now(),
            state: Mutex::new(ManualState::default()),
        }
    }

    /// Creates a clock whose wall time starts at `at`.
    #[must_use]
    pub fn starting_at(at: SystemTime) -> Self {
        Self {
            started: Instant::now(),
            started_system: at,
            state: Mutex::new(ManualState::default()),
        }
    }

    /// Moves the clock forward by `duration`.
    pub fn advance(&self, duration: Duration) {
        self.lock().elapsed += duration;
    }

    /// Returns the time that passed since the clock was created.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }

    /// Returns the durations passed to [`Clock::sleep`], in call order.
    #[must_use]
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.started + self.elapsed()
    }

    fn system_time(&self) -> SystemTime {
        self.started_system + self.elapsed()
    }

    async fn sleep(&self, duration: Duration) {
        {
            let mut state = self.lock();
            state.elapsed += duration;
            state.sleeps.push(duration);
        }
        tokio::task::yield_now().await;
    }
}

/// The manual clock can also drive span timestamps, so spans and queue timing agree.
impl spanbill::clock::Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.system_time()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new();
        let start = clock.now();

        assert_eq!(clock.now(), start);

        clock.advance(Duration::from_secs(5));
        clock.sleep(Duration::from_millis(250)).await;

        assert_eq!(clock.now() - start, Duration::from_millis(5250));
        assert_eq!(clock.sleeps(), vec![Duration::from_millis(250)]);
    }
}
