//! The order service: three Lambda functions instrumented with `#[spanbill::handler]`.
//!
//! - [`handlers::create_order`] (HTTP, API Gateway v2) validates an order, stores it once per
//!   `x-idempotency-key` and sends `order.created` to the orders queue.
//! - [`handlers::handle_payment`] (SQS) charges each order through a [`payment::PaymentClient`]
//!   with timeouts, retries and a circuit breaker, and sends `payment.succeeded` or
//!   `payment.failed` to the payments queue.
//! - [`handlers::update_inventory`] (SQS) takes each paid order out of stock once and counts
//!   stock-outs.
//!
//! Handlers are plain async functions of `(event, lambda_runtime::Context)`. They find their
//! dependencies, an [`OrderService`] holding the [`store::Store`] (SQLite), the
//! [`bus::Bus`] and the payment client, through [`OrderService::scope`]. The binaries in
//! `src/bin` build the service from environment variables ([`config`]) and run one handler
//! under `lambda_runtime`. Tests and a local simulator build their own service, send events
//! through an [`bus::InMemoryBus`] and hand batches to the consumers with
//! [`bus::deliver_batch`], as Lambda's SQS event source would.
//!
//! ```
//! use std::sync::Arc;
//!
//! use spanbill_functions::bus::{InMemoryBus, QueueSettings};
//! use spanbill_functions::payment::{BreakerSettings, PaymentClient, RetryPolicy, SandboxGateway};
//! use spanbill_functions::store::Store;
//! use spanbill_functions::{OrderService, clock, handlers};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("orders.db"))?;
//! let bus = Arc::new(InMemoryBus::new(clock::system(), QueueSettings::default()));
//! bus.create_queue("orders");
//! let gateway = Arc::new(SandboxGateway::new(100_000));
//! let payments = PaymentClient::new(gateway, RetryPolicy::default(), BreakerSettings::default(), clock::system());
//! let service = Arc::new(OrderService::new(store, bus.clone(), payments));
//!
//! let request = serde_json::from_value(serde_json::json!({
//!     "version": "2.0",
//!     "routeKey": "POST /orders",
//!     "rawPath": "/orders",
//!     "headers": { "x-idempotency-key": "first-order", "content-type": "application/json" },
//!     "requestContext": { "http": { "method": "POST", "path": "/orders" } },
//!     "body": r#"{"userId":"u-1","items":[{"sku":"BOOK-1","quantity":2,"price":12.5}]}"#,
//!     "isBase64Encoded": false
//! }))?;
//! let response = service.scope(handlers::create_order(request, lambda_runtime::Context::default())).await?;
//!
//! assert_eq!(response.status_code, 201);
//! assert_eq!(bus.message_counts("orders")?.visible, 1);
//! # Ok(())
//! # }
//! ```

pub mod bus;
pub mod clock;
#[cfg(feature = "sqs")]
pub mod config;
pub mod handlers;
pub mod model;
pub mod payment;
pub mod platform;
pub mod release;
pub mod scenario;
pub mod service;
pub mod store;
pub mod validate;

pub use service::{NoService, OrderService, Queues};
