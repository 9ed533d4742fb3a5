//! Charging orders through a payment gateway, with a timeout per call, retries with
//! exponential backoff and jitter, and a circuit breaker.
//!
//! [`PaymentGateway`] is the interface to the provider, and [`PaymentClient`] wraps one.
//! Each attempt first requests a permit from the [`CircuitBreaker`] and then runs under
//! [`RetryPolicy::call_timeout`]. Timeouts and unavailability are retried up to
//! [`RetryPolicy::max_attempts`] times, but a decline is final at once. The gateway gets the order id as idempotency key, so a retry
//! after a timeout cannot charge twice at a gateway that honours the key.

mod backoff;
mod breaker;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rand::SeedableRng as _;
use rand::rngs::StdRng;

pub use backoff::RetryPolicy;
pub use breaker::{BreakerSettings, BreakerState, CircuitBreaker, CircuitOpen, Permit};

use crate::clock::SharedClock;

/// A request to charge an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// The order being paid.
    pub order_id: String,
    /// The amount in cents.
    pub amount_cents: i64,
    /// The key under which the gateway deduplicates charges.
    pub idempotency_key: String,
}

/// A completed charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The gateway's id for the charge.
    pub charge_id: String,
}

/// An error a gateway call returns instead of a charge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The charge was refused, for example for insufficient funds; retrying will not help.
    #[error("charge declined: {reason}")]
    Declined {
        /// The gateway's reason code.
        reason: String,
    },
    /// The gateway could not process the charge now; a retry may succeed.
    #[error("payment gateway unavailable: {message}")]
    Unavailable {
        /// The gateway's message.
        message: String,
    },
}

/// A payment provider.
#[async_trait]
pub trait PaymentGateway: Send + Sync + fmt::Debug {
    /// Charges `request.amount_cents` for `request.order_id`.
    async fn charge(&self, request: &ChargeRequest) -> Result<Charge, GatewayError>;
}

/// Why one attempt failed in a way worth retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptFailure {
    /// The gateway did not respond within the call timeout.
    #[error("payment gateway timed out after {} ms", timeout.as_millis())]
    Timeout {
        /// The call timeout.
        timeout: Duration,
    },
    /// The gateway reported itself unavailable.
    #[error("payment gateway unavailable: {message}")]
    Unavailable {
        /// The gateway's message.
        message: String,
    },
}

/// The reason [`PaymentClient::charge`] did not charge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The gateway declined the charge.
    #[error("charge for order `{order_id}` declined: {reason}")]
    Declined {
        /// The order.
        order_id: String,
        /// The gateway's reason code.
        reason: String,
    },
    /// The circuit breaker rejected the call.
    #[error("charge for order `{order_id}` not attempted")]
    CircuitOpen {
        /// The order.
        order_id: String,
        /// The breaker's rejection.
        #[source]
        source: CircuitOpen,
    },
    /// Every attempt failed.
    #[error("charge for order `{order_id}` failed after {attempts} attempts")]
    RetriesExhausted {
        /// The order.
        order_id: String,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's failure.
        #[source]
        last: AttemptFailure,
    },
}

impl PaymentError {
    /// Returns whether a later retry of the whole charge may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::Declined { .. })
    }
}

/// A successful [`PaymentClient::charge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeOutcome {
    /// The charge.
    pub charge: Charge,
    /// Attempts it took, at least 1.
    pub attempts: u32,
}

/// A gateway client with timeouts, retries and a circuit breaker. Share one per process, so
/// the breaker counts every call.
#[derive(Debug)]
pub struct PaymentClient {
    gateway: Arc<dyn PaymentGateway>,
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    clock: SharedClock,
    rng: Mutex<StdRng>,
}

impl PaymentClient {
    /// Creates a client; the breaker uses `clock`, and so do the waits between retries.
    #[must_use]
    pub fn new(
        gateway: Arc<dyn PaymentGateway>,
        policy: RetryPolicy,
        breaker: BreakerSettings,
        clock: SharedClock,
    ) -> Self {
        Self {
            gateway,
            policy,
            breaker: CircuitBreaker::new(Arc::clone(&clock), breaker),
            clock,
            rng: Mutex::new(StdRng::from_os_rng()),
        }
    }

    /// Seeds the jitter, so tests get the same delays on every run.
    #[must_use]
    pub fn with_jitter_seed(self, seed: u64) -> Self {
        Self {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            ..self
        }
    }

    /// Returns the circuit breaker.
    #[must_use]
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Returns the retry policy.
    #[must_use]
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Charges `request`, retrying timeouts and unavailability.
    ///
    /// The call timeout runs on Tokio's timer; the waits between attempts and the breaker's
    /// open interval run on the client's clock.
    pub async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, PaymentError> {
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let permit =
                self.breaker
                    .try_acquire()
                    .map_err(|source| PaymentError::CircuitOpen {
                        order_id: request.order_id.clone(),
                        source,
                    })?;

            let failure =
                match tokio::time::timeout(self.policy.call_timeout, self.gateway.charge(request))
                    .await
                {
                    Ok(Ok(charge)) => {
                        permit.succeeded();
                        return Ok(ChargeOutcome {
                            charge,
                            attempts: attempt,
                        });
                    }
                    Ok(Err(GatewayError::Declined { reason })) => {
                        // The gateway worked; only the card did not.
                        permit.succeeded();
                        return Err(PaymentError::Declined {
                            order_id: request.order_id.clone(),
                            reason,
                        });
                    }
                    Ok(Err(GatewayError::Unavailable { message })) => {
                        AttemptFailure::Unavailable { message }
                    }
                    Err(_) => AttemptFailure::Timeout {
                        timeout: self.policy.call_timeout,
                    },
                };
            permit.failed();

            if attempt >= max_attempts {
                return Err(PaymentError::RetriesExhausted {
                    order_id: request.order_id.clone(),
                    attempts: attempt,
                    last: failure,
                });
            }
            let delay = self.policy.delay(
                attempt,
                &mut *self.rng.lock().unwrap_or_else(PoisonError::into_inner),
            );
            tracing::warn!(
                order_id = request.order_id.as_str(),
                attempt,
                delay_ms = delay.as_millis() as u64,
                error = %failure,
                "payment attempt failed; retrying"
            );
            self.clock.sleep(delay).await;
            attempt += 1;
        }
    }
}

/// A stand-in for a payment provider's test mode: it approves every charge up to
/// `decline_above_cents` and declines larger ones with `card_declined`. A repeated
/// idempotency key returns the first charge again.
#[derive(Debug)]
pub struct SandboxGateway {
    decline_above_cents: i64,
    charges: Mutex<HashMap<String, Charge>>,
}

impl SandboxGateway {
    /// Creates a gateway that declines charges above `decline_above_cents`.
    #[must_use]
    pub fn new(decline_above_cents: i64) -> Self {
        Self {
            decline_above_cents,
            charges: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl PaymentGateway for SandboxGateway {
    async fn charge(&self, request: &ChargeRequest) -> Result<Charge, GatewayError> {
        if request.amount_cents > self.decline_above_cents {
            return Err(GatewayError::Declined {
                reason: "card_declined".to_owned(),
            });
        }
        let mut charges = self.charges.lock().unwrap_or_else(PoisonError::into_inner);
        let charge = charges
            .entry(request.idempotency_key.clone())
            .or_insert_with(|| Charge {
                charge_id: format!("ch_{}", uuid::Uuid::new_v4().simple()),
            });
        Ok(charge.clone())
    }
}
