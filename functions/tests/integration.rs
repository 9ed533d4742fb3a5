//! The integration tests, linked into one binary: each file is a module. One binary per
//! file linked polars into every one of them, and a clean build ran out of disk.

mod support;

mod create_order;
mod in_memory_bus;
mod payment_resilience;
mod platform;
mod releases;
mod scenario;
#[cfg(feature = "sqs")]
mod sqs_moto;
mod trace_propagation;
