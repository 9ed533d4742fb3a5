//! The handlers and set-up shared by the `invocation` bench and the `invocation_loop`
//! example: one handler in three versions (bare, `#[spanbill::handler]`, hand-written
//! `tracing` with `tracing-opentelemetry`), recording into a span processor that drops
//! finished spans, so that no export is measured.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use spanbill_instrumentation as spanbill;
use tracing_subscriber::layer::SubscriberExt as _;

/// Records spans and drops them when they end.
#[derive(Debug)]
pub(crate) struct DropProcessor;

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

pub(crate) fn work(event: &serde_json::Value) -> u64 {
    event["quantity"].as_u64().unwrap_or(1) * 3
}

// The same shape as the instrumented handlers, so all three run under `block_on`.
#[allow(clippy::unused_async)]
pub(crate) async fn bare(
    event: serde_json::Value,
    _context: Context,
) -> Result<u64, lambda_runtime::Error> {
    Ok(work(&event))
}

#[spanbill::handler(name = "updateInventory")]
pub(crate) async fn with_spanbill(
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
pub(crate) async fn with_tracing_opentelemetry(
    event: serde_json::Value,
    context: Context,
) -> Result<u64, lambda_runtime::Error> {
    Ok(work(&event))
}

pub(crate) fn context() -> Context {
    let mut context = Context::default();
    "8f5b2c1e-54d3-4f0e-9a57-0d1c8f1b9e42".clone_into(&mut context.request_id);
    "arn:aws:lambda:us-east-1:123456789012:function:updateInventory"
        .clone_into(&mut context.invoked_function_arn);
    let deadline = SystemTime::now() + Duration::from_mins(15);
    context.deadline = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    context
}

/// Installs a global pipeline that drops spans, as `Telemetry::init` installs one on Lambda.
pub(crate) fn install_dropping_global() {
    spanbill::Telemetry::builder()
        .span_processor(DropProcessor)
        .flush_after_invocation(false)
        .build()
        .set_global();
}

/// Builds an environment of its own that drops spans, as a simulated platform runs one per
/// execution environment.
pub(crate) fn dropping_environment() -> Arc<spanbill::Environment> {
    let telemetry = spanbill::Telemetry::builder()
        .span_processor(DropProcessor)
        .flush_after_invocation(false)
        .build();
    let function = spanbill::FunctionConfig::from_env();
    Arc::new(
        spanbill::Environment::builder(function)
            .telemetry(telemetry)
            .build(),
    )
}

/// Sets a `tracing` subscriber with the `tracing-opentelemetry` layer for this thread.
pub(crate) fn tracing_opentelemetry_subscriber() -> tracing::subscriber::DefaultGuard {
    let provider = SdkTracerProvider::builder()
        .with_span_processor(DropProcessor)
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    tracing::subscriber::set_default(subscriber)
}
