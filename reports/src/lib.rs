//! spanbill's cost model: prices as data, and the cost of Lambda invocations, the
//! downstream services a trace touches, Azure Functions and Google Cloud Run functions.
//!
//! - [`pricing::PriceBook`] holds the prices in force: one embedded TOML file per provider
//!   (`pricing/aws.toml`, `azure.toml`, `gcp.toml`) with unit, region, tiers, free tier,
//!   source address and the date each price was read, and a user file merged over them by
//!   key.
//! - [`lambda`] prices invocations from `Billed Duration` (never adding init or restore
//!   time on top) month by month, applies the volume tiers and the optional free tier to
//!   monthly totals and gives each invocation its share by the average rule.
//! - [`downstream`] prices calls to SQS, SNS, EventBridge, API Gateway, DynamoDB, Step
//!   Functions, X-Ray and CloudWatch from a small [`downstream::DownstreamCall`] record.
//! - [`azure`] and [`gcp`] price Azure Functions and Cloud Run functions usage.
//! - [`aggregate`] sums costs per function, per trace and per business unit, and
//!   projects a window to a month.
//!
//! Amounts are [`rust_decimal::Decimal`] values in the price's currency (USD in the
//! built-in files), so sums of prices such as $0.0000166667 are exact. Every cost says
//! whether it rests on a billed figure or an estimate ([`Basis`]).
//!
//! ```
//! use rust_decimal::Decimal;
//! use spanbill_collector::platform::{ReadOptions, read_bytes};
//! use spanbill_reports::lambda::{LambdaUsage, price_invocation};
//! use spanbill_reports::{Basis, PriceBook};
//!
//! let log = "REPORT RequestId: 3f1d4a9e-8e7c-4c55-9d2b-0d6f1e2a7b10\tDuration: 133.61 ms\t\
//!            Billed Duration: 214 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\t\
//!            Init Duration: 80.00 ms\t\n";
//! let read = read_bytes("example.log", log.as_bytes(), &ReadOptions::default())?;
//!
//! let usage = LambdaUsage::from_invocation(&read.invocations[0]);
//! let cost = price_invocation(&usage, &PriceBook::built_in());
//! assert_eq!(cost.gb_seconds, "0.02675".parse::<Decimal>()?);
//! assert_eq!(cost.total, "0.000000645834225".parse::<Decimal>()?);
//! assert_eq!(cost.basis, Basis::Billed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod aggregate;
pub mod azure;
pub mod cost;
pub mod dataset;
pub mod detect;
pub mod downstream;
pub mod gcp;
pub mod lambda;
mod le_bytes;
pub mod pricing;
pub mod report;
pub mod rollup;
pub mod rollup_cache;
pub mod samples;
pub mod shapes;
pub mod snapshot;
pub mod table;
pub mod traces;
pub mod usage;

pub use cost::{Basis, BillingMonth};
pub use pricing::{Price, PriceBook, PricingError};
pub use rust_decimal::Decimal;

/// Runs one phase of reading or reporting and logs its wall time at debug level, under the
/// `spanbill_reports` target, so `SPANBILL_LOG=spanbill_reports=debug` shows where a slow
/// report spends its time.
pub(crate) fn timed<T>(phase: &str, work: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let value = work();
    tracing::debug!(
        phase,
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        "report phase finished"
    );
    value
}
