//! Added cost of an instrumented invocation, export excluded.
//!
//! The handler versions in `shared/mod.rs` run to completion with `block_on` on a current-thread
//! Tokio runtime. `spanbill` uses the global pipeline and environment, as on Lambda;
//! `spanbill_in_environment` runs each invocation inside an environment of its own, as a
//! simulated platform does.
//!
//! Run with `cargo bench -p spanbill-instrumentation --bench invocation`.

mod shared;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use shared::{bare, context, with_spanbill, with_tracing_opentelemetry};
use spanbill_instrumentation as spanbill;

fn invocation(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let event = serde_json::json!({"orderId": "o-1", "quantity": 2});
    let base = context();
    let mut group = c.benchmark_group("invocation");

    group.bench_function("bare", |b| {
        b.iter(|| {
            runtime
                .block_on(bare(black_box(event.clone()), base.clone()))
                .unwrap()
        });
    });

    shared::install_dropping_global();
    group.bench_function("spanbill", |b| {
        b.iter(|| {
            runtime
                .block_on(with_spanbill(black_box(event.clone()), base.clone()))
                .unwrap()
        });
    });

    let environment = shared::dropping_environment();
    group.bench_function("spanbill_in_environment", |b| {
        b.iter(|| {
            let invocation = with_spanbill(black_box(event.clone()), base.clone());
            let scoped = spanbill::Environment::scope(Arc::clone(&environment), invocation);
            runtime.block_on(scoped).unwrap()
        });
    });

    let _guard = shared::tracing_opentelemetry_subscriber();
    group.bench_function("tracing_opentelemetry", |b| {
        b.iter(|| {
            let invocation = with_tracing_opentelemetry(black_box(event.clone()), base.clone());
            runtime.block_on(invocation).unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, invocation);
criterion_main!(benches);
