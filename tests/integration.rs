//! The integration tests, linked into one binary: each file is a module. One binary per
//! file linked polars into every one of them, and a clean build ran out of disk. The demo's
//! tests (`demo_cli.rs`) are a binary of their own, because they compare real durations.

mod support;

mod cli;
mod collect_cli;
mod grpc_export;
mod ingest_cli;
mod pricing_cli;
mod report_cli;
mod report_sdk;
mod rollup_cli;
