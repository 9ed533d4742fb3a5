//! A circuit breaker that stops calls to a failing payment gateway for a while.
//!
//! Closed: calls pass, and `failure_threshold` consecutive failures open the circuit.
//! Open: calls are rejected until `open_for` has passed. Half-open: one trial call passes
//! and the others are rejected; its success closes the circuit, its failure opens it again.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::clock::SharedClock;

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Calls are rejected.
    Open,
    /// One trial call passes.
    HalfOpen,
}

/// The failure threshold and open interval of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before a trial call is let through.
    pub open_for: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// A rejected call: the circuit is open, or half-open with its trial call under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("payment gateway circuit is open; the next trial call is allowed in {} ms", retry_after.as_millis())]
pub struct CircuitOpen {
    /// Time until a trial call is allowed, or zero while a trial call is under way.
    pub retry_after: Duration,
}

/// A circuit breaker driven by a [`crate::clock::Clock`]. Cloning shares the state.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    clock: SharedClock,
    settings: BreakerSettings,
    state: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
}

impl CircuitBreaker {
    /// Creates a closed breaker.
    #[must_use]
    pub fn new(clock: SharedClock, settings: BreakerSettings) -> Self {
        let inner = Inner {
            state: BreakerState::Closed,
            consecutive_failures: 0,
            opened_at: None,
            trial_in_flight: false,
        };
        Self {
            clock,
            settings,
            state: Arc::new(Mutex::new(inner)),
        }
    }

    /// Returns the current state, moving from open to half-open once `open_for` has passed.
    #[must_use]
    pub fn state(&self) -> BreakerState {
        let mut inner = self.lock();
        self.refresh(&mut inner);
        inner.state
    }

    /// Requests permission for one call. Report the call's result through the returned permit.
    pub fn try_acquire(&self) -> Result<Permit, CircuitOpen> {
        let mut inner = self.lock();
        self.refresh(&mut inner);
        match inner.state {
            BreakerState::Closed => Ok(Permit {
                breaker: self.clone(),
                trial: false,
                recorded: false,
            }),
            BreakerState::HalfOpen if !inner.trial_in_flight => {
                inner.trial_in_flight = true;
                Ok(Permit {
                    breaker: self.clone(),
                    trial: true,
                    recorded: false,
                })
            }
            BreakerState::HalfOpen => Err(CircuitOpen {
                retry_after: Duration::ZERO,
            }),
            BreakerState::Open => {
                let opened_at = inner.opened_at.unwrap_or_else(|| self.clock.now());
                let elapsed = self.clock.now().saturating_duration_since(opened_at);
                Err(CircuitOpen {
                    retry_after: self.settings.open_for.saturating_sub(elapsed),
                })
            }
        }
    }

    fn refresh(&self, inner: &mut Inner) {
        if inner.state != BreakerState::Open {
            return;
        }
        let opened_at = inner.opened_at.unwrap_or_else(|| self.clock.now());
        if self.clock.now().saturating_duration_since(opened_at) >= self.settings.open_for {
            inner.state = BreakerState::HalfOpen;
            inner.trial_in_flight = false;
        }
    }

    fn record(&self, trial: bool, success: bool) {
        let mut inner = self.lock();
        if trial {
            inner.trial_in_flight = false;
        }
        if success {
            inner.state = BreakerState::Closed;
            inner.consecutive_failures = 0;
            inner.opened_at = None;
            return;
        }

        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        let reopen = trial && inner.state == BreakerState::HalfOpen;
        let trip = inner.state == BreakerState::Closed
            && inner.consecutive_failures >= self.settings.failure_threshold;
        if reopen || trip {
            inner.state = BreakerState::Open;
            inner.opened_at = Some(self.clock.now());
            tracing::warn!(
                consecutive_failures = inner.consecutive_failures,
                open_for_ms = self.settings.open_for.as_millis() as u64,
                "payment gateway circuit opened"
            );
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Permission for one call, reported with [`Permit::succeeded`] or [`Permit::failed`].
///
/// A permit dropped without a report counts as a failure, because a call that was abandoned
/// (for example on a timeout) suggests the gateway is in trouble.
#[derive(Debug)]
pub struct Permit {
    breaker: CircuitBreaker,
    trial: bool,
    recorded: bool,
}

impl Permit {
    /// Reports that the gateway responded with a charge or a decline.
    pub fn succeeded(mut self) {
        self.recorded = true;
        self.breaker.record(self.trial, true);
    }

    /// Reports that the gateway failed with a timeout, an error or no response.
    pub fn failed(mut self) {
        self.recorded = true;
        self.breaker.record(self.trial, false);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.recorded {
            self.breaker.record(self.trial, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn abandoned_permit_counts_as_failure() {
        let clock = Arc::new(ManualClock::new());
        let breaker = CircuitBreaker::new(
            clock,
            BreakerSettings {
                failure_threshold: 1,
                open_for: Duration::from_secs(1),
            },
        );

        drop(breaker.try_acquire().unwrap());

        assert_eq!(breaker.state(), BreakerState::Open);
    }
}
