//! Added cost of an instrumented invocation, export excluded.
//!
//! Three versions of one handler run on the same current-thread runtime: the bare handler,
//! the handler under `#[spanbill::handler]`, and the handler under a hand-written
//! `#[tracing::instrument]` with the `tracing-opentelemetry` layer recording the same
//! attributes. Both instrumented versions record into a span processor that drops finished
//! spans, so the figures hold span creation and ending but no export.
//!
//! Run with `cargo bench -p spanbill-instrumentation --bench invocation`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_runtime::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use spanbill_instrumentation as spanbill;
use tracing_subscriber::layer::SubscriberExt as _;

/// Records spans and drops them when they end.
#[derive(Debug)]
struct DropProcessor;

impl SpanProcessor for DropProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &opentelemetry::Context) {}
    fn on_end(&self, span: SpanData) {
        black_box(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn work(event: &serde_json::Value) -> u64 {
    event["quantity"].as_u64().unwrap_or(1) * 3
}

// The same shape as the instrumented handlers, so all three run under `block_on`.
#[allow(clippy::unused_async)]
async fn bare(event: serde_json::Value, _context: Context) -> Result<u64, lambda_runtime::Error> {
    Ok(work(&event))
}

#[spanbill::handler(name = "updateInventory")]
async fn with_spanbill(
    event: serde_json::Value,
    _context: Context,
) -> Result<u64, lambda_runtime::Error> {
    Ok(work(&event))
}

#[tracing::instrument(
    name = "updateInventory",
    skip_all,
    fields(
        otel.kind = "server",
        faas.invocation_id = %context.request_id,
        faas.trigger = "other",
        faas.coldstart = false,
        faas.max_memory = 536_870_912_i64,
        cloud.resource_id = %context.invoked_function_arn,
        cloud.account.id = "123456789012",
        aws.lambda.invoked_arn = %context.invoked_function_arn,
    )
)]
async fn with_tracing_opentelemetry(
    event: serde_json::Value,
    context: Context,
) -> Result<u64, lambda_runtime::Error> {
    Ok(work(&event))
}

fn context() -> Context {
    let mut context = Context::default();
    "8f5b2c1e-54d3-4f0e-9a57-0d1c8f1b9e42".clone_into(&mut context.request_id);
    "arn:aws:lambda:us-east-1:123456789012:function:updateInventory"
        .clone_into(&mut context.invoked_function_arn);
    // A deadline 15 minutes out, as Lambda sets one on every invocation.
    let deadline = SystemTime::now() + Duration::from_mins(15);
    context.deadline = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    context
}

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

    let telemetry = spanbill::Telemetry::builder()
        .span_processor(DropProcessor)
        .flush_after_invocation(false)
        .build();
    let function = spanbill::FunctionConfig {
        memory_mb: 512,
        ..spanbill::FunctionConfig::from_env()
    };
    let environment = Arc::new(
        spanbill::Environment::builder(function)
            .telemetry(telemetry)
            .build(),
    );
    group.bench_function("spanbill", |b| {
        b.iter(|| {
            let invocation = with_spanbill(black_box(event.clone()), base.clone());
            runtime
                .block_on(spanbill::Environment::scope(
                    Arc::clone(&environment),
                    invocation,
                ))
                .unwrap()
        });
    });

    // The same with redaction off and with no deadline, to show what each part costs.
    let plain = spanbill::Telemetry::builder()
        .span_processor(DropProcessor)
        .redactor(spanbill::redact::Redactor::disabled())
        .flush_after_invocation(false)
        .build();
    let plain_environment = Arc::new(
        spanbill::Environment::builder(spanbill::FunctionConfig {
            memory_mb: 512,
            ..spanbill::FunctionConfig::from_env()
        })
        .telemetry(plain)
        .build(),
    );
    group.bench_function("spanbill_without_redaction", |b| {
        b.iter(|| {
            let invocation = with_spanbill(black_box(event.clone()), base.clone());
            runtime
                .block_on(spanbill::Environment::scope(
                    Arc::clone(&plain_environment),
                    invocation,
                ))
                .unwrap()
        });
    });
    let mut no_deadline = base.clone();
    no_deadline.deadline = 0;
    group.bench_function("spanbill_without_deadline", |b| {
        b.iter(|| {
            let invocation = with_spanbill(black_box(event.clone()), no_deadline.clone());
            runtime
                .block_on(spanbill::Environment::scope(
                    Arc::clone(&environment),
                    invocation,
                ))
                .unwrap()
        });
    });

    let provider = SdkTracerProvider::builder()
        .with_span_processor(DropProcessor)
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    let _guard = tracing::subscriber::set_default(subscriber);
    group.bench_function("tracing_opentelemetry", |b| {
        b.iter(|| {
            runtime
                .block_on(with_tracing_opentelemetry(
                    black_box(event.clone()),
                    base.clone(),
                ))
                .unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, invocation);
criterion_main!(benches);
