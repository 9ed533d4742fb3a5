//! `Telemetry::from_env` with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` exports spans and KPI
//! metrics over OTLP/gRPC to `spanbill collect`, and the report reads them back.
//!
//! The test runs itself again as a child process with the `OTEL_*` variables set, because
//! the set-up reads process-wide environment variables.

use std::process::Command;

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, SpanKind, Tracer as _};
use spanbill_reports::dataset::{Window, load_spans, load_unit_counts};
use support::Collector;

use crate::support;

const CHILD: &str = "SPANBILL_GRPC_EXPORT_CHILD";
const SPANS: usize = 12;

/// Returns the test's name as the test harness filters it: the module path without the
/// crate name.
fn test_name() -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::grpc_export_reaches_collector"),
        None => "grpc_export_reaches_collector".to_owned(),
    }
}

#[test]
fn grpc_export_reaches_collector() {
    if std::env::var_os(CHILD).is_some() {
        run_child();
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path());
    let grpc = collector.grpc;
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test_name(), "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{grpc}"),
        )
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "5000")
        .env("AWS_LAMBDA_FUNCTION_NAME", "checkout")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "7")
        .env("AWS_REGION", "eu-west-1")
        .output()
        .unwrap();
    let log = collector.terminate();
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        stdout.contains("running 1 test"),
        "the child process ran no test named {}: {stdout}",
        test_name()
    );
    assert!(
        child.status.success(),
        "the exporting process failed: {stdout}\n{}\ncollector log: {log}",
        String::from_utf8_lossy(&child.stderr)
    );

    let spans = load_spans(dir.path(), Window::default()).unwrap();
    assert_eq!(spans.len(), SPANS, "{spans:?}");
    for index in 0..SPANS {
        let name = format!("grpc-span-{index}");
        let span = spans
            .iter()
            .find(|span| span.name == name)
            .unwrap_or_else(|| panic!("{name} missing from {spans:?}"));
        assert_eq!(span.function.as_deref(), Some("checkout"));
        assert_eq!(span.version.as_deref(), Some("7"));
        assert_eq!(
            span.invocation_id.as_deref(),
            Some(format!("request-{index}").as_str())
        );
    }

    // The set-up requests delta temporality, so each point is an increment.
    let names = vec!["orders.created".to_owned()];
    let counts = load_unit_counts(dir.path(), Window::default(), Some(&names)).unwrap();
    let total: f64 = counts.iter().map(|count| count.units).sum();
    assert!((total - SPANS as f64).abs() < 1e-9, "{counts:?}");
}

/// Exports `SPANS` invocation spans and as many counted orders through the pipeline that
/// the environment describes, then flushes and shuts it down.
fn run_child() {
    // A current-thread runtime, the harder case: the flush must not block the thread that
    // drives the gRPC channel.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let telemetry = spanbill_instrumentation::Telemetry::from_env().unwrap();
        let tracer = telemetry.tracer();
        let orders = telemetry
            .meter_provider()
            .meter("spanbill")
            .u64_counter("orders.created")
            .build();
        for index in 0..SPANS {
            let mut span = tracer
                .span_builder(format!("grpc-span-{index}"))
                .with_kind(SpanKind::Server)
                .with_attributes([
                    KeyValue::new("faas.invocation_id", format!("request-{index}")),
                    KeyValue::new("faas.trigger", "http"),
                ])
                .start(tracer);
            orders.add(1, &[]);
            span.end();
        }
        telemetry.flush().await;
        telemetry.shutdown().unwrap();
    });
}
