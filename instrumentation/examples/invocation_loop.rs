//! Runs one handler version in a loop, for instruction counts under
//! `valgrind --tool=callgrind`, which do not depend on machine load.
//!
//! `invocation_loop VERSION ITERATIONS`, VERSION one of `bare`, `spanbill`,
//! `spanbill_in_environment`, `tracing_opentelemetry`. The handlers and set-up are those of
//! the `invocation` bench. Instructions per invocation = (total for N iterations - total
//! for 0 iterations) / N.

#[path = "../benches/shared/mod.rs"]
mod shared;

use std::hint::black_box;
use std::sync::Arc;

use shared::{bare, context, with_spanbill, with_tracing_opentelemetry};
use spanbill_instrumentation as spanbill;

fn main() {
    let mut args = std::env::args().skip(1);
    let version = args.next().unwrap_or_default();
    let iterations: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let event = serde_json::json!({"orderId": "o-1", "quantity": 2});
    let base = context();

    match version.as_str() {
        "bare" => {
            for _ in 0..iterations {
                black_box(runtime.block_on(bare(event.clone(), base.clone())).unwrap());
            }
        }
        "spanbill" => {
            shared::install_dropping_global();
            for _ in 0..iterations {
                let invocation = with_spanbill(event.clone(), base.clone());
                black_box(runtime.block_on(invocation).unwrap());
            }
        }
        "spanbill_in_environment" => {
            let environment = shared::dropping_environment();
            for _ in 0..iterations {
                let invocation = with_spanbill(event.clone(), base.clone());
                let scoped = spanbill::Environment::scope(Arc::clone(&environment), invocation);
                black_box(runtime.block_on(scoped).unwrap());
            }
        }
        "tracing_opentelemetry" => {
            let _guard = shared::tracing_opentelemetry_subscriber();
            for _ in 0..iterations {
                let invocation = with_tracing_opentelemetry(event.clone(), base.clone());
                black_box(runtime.block_on(invocation).unwrap());
            }
        }
        other => {
            eprintln!(
                "unknown version `{other}`: pass `bare`, `spanbill`, `spanbill_in_environment` \
                 or `tracing_opentelemetry`"
            );
            std::process::exit(2);
        }
    }
}
