//! The integration tests, linked into one binary: each file is a module. One binary per
//! file linked polars into every one of them, and a clean build ran out of disk.

mod support;

mod aggregate;
mod corpus;
mod latency_simulation;
mod overrides;
mod pricing_cases;
mod report;
mod report_joins;
mod rollup_merge;
mod services;
mod spirals;
