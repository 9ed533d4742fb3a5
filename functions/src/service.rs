//! The dependencies the handlers share: store, bus, payment client and queue names.
//!
//! `#[spanbill::handler]` functions take only the event and the Lambda context, so a handler
//! finds its [`OrderService`] in a task-local set by [`OrderService::scope`]. Each test or
//! simulated environment scopes its own service, so several can run in one process, each
//! with its own database.

use std::fmt;
use std::sync::Arc;

use crate::bus::Bus;
use crate::payment::PaymentClient;
use crate::store::Store;

/// The queue names the functions send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queues {
    /// Queue for `order.created`, consumed by handlePayment.
    pub orders: String,
    /// Queue for `payment.succeeded` and `payment.failed`, consumed by updateInventory.
    pub payments: String,
}

impl Default for Queues {
    fn default() -> Self {
        Self {
            orders: "orders".to_owned(),
            payments: "payments".to_owned(),
        }
    }
}

/// The dependencies of the order functions.
pub struct OrderService {
    store: Store,
    bus: Arc<dyn Bus>,
    payments: PaymentClient,
    queues: Queues,
}

impl fmt::Debug for OrderService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderService")
            .field("store", &self.store.path())
            .field("bus", &self.bus)
            .field("queues", &self.queues)
            .finish_non_exhaustive()
    }
}

tokio::task_local! {
    static CURRENT: Arc<OrderService>;
}

/// A handler ran outside [`OrderService::scope`].
#[derive(Debug, thiserror::Error)]
#[error(
    "`{handler}` ran without an order service: call it inside `OrderService::scope`, \
     as the function binaries do"
)]
pub struct NoService {
    /// The handler's span name.
    pub handler: &'static str,
}

impl OrderService {
    /// Creates a service with the default queue names.
    #[must_use]
    pub fn new(store: Store, bus: Arc<dyn Bus>, payments: PaymentClient) -> Self {
        Self {
            store,
            bus,
            payments,
            queues: Queues::default(),
        }
    }

    /// Sets the queue names.
    #[must_use]
    pub fn with_queues(self, queues: Queues) -> Self {
        Self { queues, ..self }
    }

    /// Runs `future` (usually a handler call) with this service as the current one.
    pub async fn scope<F: Future>(self: Arc<Self>, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }

    /// Returns the service of the running task, for the handler named `handler`.
    pub fn current(handler: &'static str) -> Result<Arc<Self>, NoService> {
        CURRENT
            .try_with(Arc::clone)
            .map_err(|_| NoService { handler })
    }

    /// Returns the order database.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Returns the message bus.
    #[must_use]
    pub fn bus(&self) -> &dyn Bus {
        self.bus.as_ref()
    }

    /// Returns the payment gateway client.
    #[must_use]
    pub fn payments(&self) -> &PaymentClient {
        &self.payments
    }

    /// Returns the queue names.
    #[must_use]
    pub fn queues(&self) -> &Queues {
        &self.queues
    }
}
