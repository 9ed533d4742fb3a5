//! The collector: spanbill's record types, its readers of OTLP and Lambda platform data, the
//! durable Parquet store and the network receivers.
//!
//! - [`model`]: [`model::Span`], [`model::MetricPoint`] and [`Invocation`], the vocabulary
//!   that reports and the TUI read.
//! - [`otlp`]: OTLP export requests in protobuf or JSON, decoded and validated into records.
//! - [`platform`]: Lambda platform logs into invocations (see below).
//! - [`ingest`]: format detection for files of any supported kind.
//! - [`store`]: three Hive-partitioned Parquet tables behind a write-ahead log, with a live
//!   feed and polars queries.
//! - [`receiver`]: OTLP/HTTP, OTLP/gRPC and Telemetry API servers writing to the store.
//!
//! [`Invocation`] is one billed Lambda invocation: request id, function, durations, memory,
//! init and SnapStart restore times, status, cold start, trace id and the billing era of its
//! date. [`Invocation::gb_seconds`] prices it from `Billed Duration` as printed.
//!
//! [`platform::read_file`] and [`platform::read_bytes`] detect the layout of a platform log
//! and produce invocations with a [`platform::ReadSummary`]: how many records were read,
//! which were skipped and why, and where dates came from. The reader handles:
//!
//! - text REPORT, START, END, INIT_START, INIT_REPORT and RESTORE_REPORT lines of every
//!   era, bare or with `aws logs tail`, `HH:MM:SS` or `sam logs` prefixes;
//! - CloudWatch Logs events and subscription deliveries (base64 gzip or decoded);
//! - the JSON log format and Telemetry API batches (`platform.*` records).
//!
//! Records are paired by RequestId, because execution environments interleave in one log,
//! and REPORT fields are matched by label. Crash and timeout lines count for the request they
//! name. Input sizes, line lengths and inflated payload sizes have explicit limits
//! ([`platform::Limits`]).
//!
//! [`format`](mod@format) writes the START, END and REPORT lines of an invocation in Lambda's text format,
//! so a local Lambda simulator can print what the reader reads.
//!
//! ```
//! use spanbill_collector::platform::{ReadOptions, read_bytes};
//! use spanbill_collector::{BillingEra, Status};
//!
//! let log = "2024-07-05T10:16:43.928000 START RequestId: bac72d63-e151-4001-a439-b2c7e2b56c1e Version: 56\n\
//!            2024-07-05T10:16:44.067000 REPORT RequestId: bac72d63-e151-4001-a439-b2c7e2b56c1e\t\
//!            Duration: 138.27 ms\tBilled Duration: 139 ms\tMemory Size: 3009 MB\tMax Memory Used: 159 MB\t\n";
//! let options = ReadOptions {
//!     function: Some("voice-router".to_owned()),
//!     ..ReadOptions::default()
//! };
//! let read = read_bytes("example.log", log.as_bytes(), &options)?;
//!
//! let invocation = &read.invocations[0];
//! assert_eq!(invocation.function.as_deref(), Some("voice-router"));
//! assert_eq!(invocation.billed_ms, 139);
//! assert_eq!(invocation.status, Status::Success);
//! assert!(!invocation.cold_start);
//! assert_eq!(invocation.billing_era, Some(BillingEra::Rounded1Ms));
//! assert!((invocation.gb_seconds() - 139.0 / 1000.0 * 3009.0 / 1024.0).abs() < 1e-12);
//! # Ok::<(), spanbill_collector::platform::ReadError>(())
//! ```

pub mod format;
pub mod ingest;
mod invocation;
pub mod model;
pub mod otlp;
pub mod platform;
pub mod receiver;
pub mod store;

pub use invocation::{
    Architecture, BillingEra, ColdStartSource, InitializationType, Invocation, MemoryUnit, Source,
    Status, TraceContext, xray_to_w3c_trace_id,
};
