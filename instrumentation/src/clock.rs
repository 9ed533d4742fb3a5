//! Time sources for span timestamps.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// A source of wall-clock time for span and metric timestamps.
///
/// Production code uses [`SystemClock`]. A simulated platform can install its own clock
/// through [`Environment`](crate::Environment) so that a run covers days of traffic in
/// minutes while spans keep consistent timestamps.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Returns the current time of this clock.
    fn now(&self) -> SystemTime;

    /// Returns whether this clock is the operating system's wall clock, whose time needs no
    /// translation.
    fn is_system(&self) -> bool {
        false
    }
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn is_system(&self) -> bool {
        true
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

pub(crate) fn system() -> SharedClock {
    Arc::new(SystemClock)
}
