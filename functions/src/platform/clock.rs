//! The virtual clock of a simulated execution environment.

use std::sync::{Mutex, PoisonError};
use std::time::{Instant, SystemTime};

/// A wall clock that the platform sets to an invocation's arrival time, after which it runs
/// at real speed.
///
/// One environment runs one invocation at a time, so anchoring its clock at each arrival
/// lets a run place invocations days apart while the spans of each invocation keep their
/// real durations.
#[derive(Debug)]
pub struct AnchoredClock {
    anchor: Mutex<(SystemTime, Instant)>,
}

impl AnchoredClock {
    /// Creates a clock that reads `at` now.
    #[must_use]
    pub fn new(at: SystemTime) -> Self {
        Self {
            anchor: Mutex::new((at, Instant::now())),
        }
    }

    /// Sets the clock to read `at` now.
    pub fn set(&self, at: SystemTime) {
        *self.anchor.lock().unwrap_or_else(PoisonError::into_inner) = (at, Instant::now());
    }
}

impl spanbill::clock::Clock for AnchoredClock {
    fn now(&self) -> SystemTime {
        let (at, real) = *self.anchor.lock().unwrap_or_else(PoisonError::into_inner);
        at + real.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use spanbill::clock::Clock as _;

    use super::*;

    #[test]
    fn anchored_clock_runs_from_the_anchor() {
        let day = UNIX_EPOCH + Duration::from_hours(498_936);
        let clock = AnchoredClock::new(day);
        let first = clock.now();
        assert!(first >= day);
        assert!(first < day + Duration::from_secs(1));

        let next_day = day + Duration::from_hours(24);
        clock.set(next_day);
        let second = clock.now();
        assert!(second >= next_day);
        assert!(second < next_day + Duration::from_secs(1));
    }
}
