//! The local Lambda platform: environments, cold starts, throttling, timeouts, billing and
//! REPORT lines that the collector's reader reads back with the same numbers.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_sdk::trace::InMemorySpanExporter;
use spanbill_collector::Status;
use spanbill_collector::platform::{ReadOptions, read_file};
use spanbill_functions::platform::{
    Failure, FunctionSpec, InvokeError, Platform, PlatformLog, PlatformSettings,
};

/// 2026-12-01T00:00:00Z, after INIT billing began.
fn day_one() -> SystemTime {
    UNIX_EPOCH + Duration::from_hours(498_912)
}

fn spec(name: &str) -> FunctionSpec {
    FunctionSpec {
        name: name.to_owned(),
        version: "3".to_owned(),
        memory_mb: 512,
        architecture: spanbill::Architecture::Arm64,
        timeout: Duration::from_millis(300),
        concurrency_limit: 2,
        simulated_init: Duration::from_millis(120),
    }
}

fn platform(dir: &std::path::Path, spans: &InMemorySpanExporter) -> Platform {
    let spans = spans.clone();
    let telemetry: spanbill_functions::platform::TelemetryFactory = Arc::new(move |function| {
        spanbill::Telemetry::builder()
            .resource(spanbill::function_resource(
                function,
                spanbill::InitType::OnDemand,
            ))
            .simple_exporter(spans.clone())
            .build()
    });
    let log = PlatformLog::create(dir).unwrap();
    let platform = Platform::new(PlatformSettings::default(), telemetry, log);
    platform.register(spec("orders"));
    platform
}

#[spanbill::handler(name = "orders")]
async fn sleepy(
    event: serde_json::Value,
    _context: lambda_runtime::Context,
) -> Result<u64, lambda_runtime::Error> {
    let millis = event["sleep_ms"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(millis)).await;
    if event["fail"].as_bool() == Some(true) {
        return Err("payment gateway refused".into());
    }
    Ok(millis)
}

#[tokio::test]
async fn cold_then_warm_and_report_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let spans = InMemorySpanExporter::default();
    let platform = platform(dir.path(), &spans);

    let first = platform
        .invoke("orders", day_one(), |context| {
            sleepy(serde_json::json!({"sleep_ms": 20}), context)
        })
        .await
        .unwrap();
    let second = platform
        .invoke("orders", day_one() + Duration::from_mins(1), |context| {
            sleepy(serde_json::json!({"sleep_ms": 5}), context)
        })
        .await
        .unwrap();
    platform.log().flush().unwrap();

    assert_eq!(first.output.unwrap(), 20);
    assert!(first.record.cold_start);
    let init = first.record.init_ms.unwrap();
    assert!(
        init >= 120.0,
        "init {init} includes the simulated runtime start-up"
    );
    assert_eq!(
        first.record.billed_ms,
        (first.record.duration_ms + init).ceil() as u64
    );
    assert!(!second.record.cold_start);
    assert_eq!(second.record.init_ms, None);
    assert_eq!(
        second.record.billed_ms,
        second.record.duration_ms.ceil() as u64
    );

    // The collector's reader gets the same numbers back from the log.
    let options = ReadOptions {
        function: Some("orders".to_owned()),
        ..ReadOptions::default()
    };
    let read = read_file(&platform.log().path("orders"), &options).unwrap();
    assert_eq!(read.invocations.len(), 2);
    for (written, parsed) in [&first.record, &second.record]
        .into_iter()
        .zip(&read.invocations)
    {
        assert_eq!(parsed.request_id, written.request_id);
        assert_eq!(parsed.billed_ms, written.billed_ms);
        assert!((parsed.duration_ms - (written.duration_ms * 100.0).round() / 100.0).abs() < 1e-9);
        assert_eq!(parsed.memory_mb, 512);
        assert_eq!(parsed.max_memory_used_mb, written.max_memory_used_mb);
        assert_eq!(parsed.cold_start, written.cold_start);
        assert_eq!(parsed.status, Status::Success);
        assert_eq!(
            parsed.trace.as_ref().map(|trace| &trace.xray_trace_id),
            written.trace.as_ref().map(|trace| &trace.xray_trace_id)
        );
    }
    let init_read = read.invocations[0].init_ms.unwrap();
    assert!((init_read - (init * 100.0).round() / 100.0).abs() < 1e-9);
}

#[tokio::test]
async fn spans_use_virtual_time_and_xray_trace() {
    let dir = tempfile::tempdir().unwrap();
    let spans = InMemorySpanExporter::default();
    let platform = platform(dir.path(), &spans);
    let arrival = day_one() + Duration::from_hours(3 * 24);

    let invoked = platform
        .invoke("orders", arrival, |context| {
            sleepy(serde_json::json!({}), context)
        })
        .await
        .unwrap();

    let finished = spans.get_finished_spans().unwrap();
    let span = finished.iter().find(|span| span.name == "orders").unwrap();
    assert!(
        span.start_time >= arrival,
        "the span starts at the virtual arrival time"
    );
    assert!(span.start_time < arrival + Duration::from_secs(5));
    let xray = invoked.record.trace.unwrap();
    assert_eq!(
        Some(format!("{:032x}", span.span_context.trace_id())),
        xray.w3c_trace_id
    );
    let init = finished
        .iter()
        .find(|span| span.name == "orders init")
        .unwrap();
    assert_eq!(init.start_time, arrival);
}

#[tokio::test]
async fn concurrency_limit_throttles() {
    let dir = tempfile::tempdir().unwrap();
    let spans = InMemorySpanExporter::default();
    let platform = platform(dir.path(), &spans);
    let slow = || serde_json::json!({"sleep_ms": 100});

    let (a, b, c) = tokio::join!(
        platform.invoke("orders", day_one(), |context| sleepy(slow(), context)),
        platform.invoke("orders", day_one(), |context| sleepy(slow(), context)),
        platform.invoke("orders", day_one(), |context| sleepy(slow(), context)),
    );
    let outcomes = [a, b, c];
    let throttled = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Err(InvokeError::Throttled { limit: 2, .. })))
        .count();
    assert_eq!(throttled, 1);
    let cold = outcomes
        .iter()
        .filter_map(|outcome| outcome.as_ref().ok())
        .filter(|done| done.record.cold_start)
        .count();
    assert_eq!(
        cold, 2,
        "two environments started for two concurrent invocations"
    );
}

#[tokio::test]
async fn idle_environment_is_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let spans = InMemorySpanExporter::default();
    let platform = platform(dir.path(), &spans);

    let first = platform
        .invoke("orders", day_one(), |context| {
            sleepy(serde_json::json!({}), context)
        })
        .await
        .unwrap();
    let later = day_one() + Duration::from_mins(30);
    let second = platform
        .invoke("orders", later, |context| {
            sleepy(serde_json::json!({}), context)
        })
        .await
        .unwrap();

    assert!(first.record.cold_start);
    assert!(
        second.record.cold_start,
        "an environment idle for 30 minutes is gone"
    );
}

#[tokio::test]
async fn timeout_and_error_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let spans = InMemorySpanExporter::default();
    let platform = platform(dir.path(), &spans);

    let timed_out = platform
        .invoke("orders", day_one(), |context| {
            sleepy(serde_json::json!({"sleep_ms": 2_000}), context)
        })
        .await
        .unwrap();
    let failed = platform
        .invoke("orders", day_one() + Duration::from_secs(1), |context| {
            sleepy(serde_json::json!({"fail": true}), context)
        })
        .await
        .unwrap();
    platform.log().flush().unwrap();

    assert!(matches!(timed_out.output, Err(Failure::Timeout)));
    assert_eq!(timed_out.record.status, Status::Timeout);
    assert!((timed_out.record.duration_ms - 300.0).abs() < 1e-9);
    assert!(matches!(failed.output, Err(Failure::Error(_))));
    assert_eq!(failed.record.status, Status::Error);

    let options = ReadOptions {
        function: Some("orders".to_owned()),
        ..ReadOptions::default()
    };
    let read = read_file(&platform.log().path("orders"), &options).unwrap();
    let statuses: Vec<Status> = read
        .invocations
        .iter()
        .map(|invocation| invocation.status)
        .collect();
    assert_eq!(statuses, [Status::Timeout, Status::Error]);
}

#[tokio::test]
async fn unknown_function_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let spans = InMemorySpanExporter::default();
    let platform = platform(dir.path(), &spans);
    let error = platform
        .invoke("nope", day_one(), |context| {
            sleepy(serde_json::json!({}), context)
        })
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown function `nope`: register it with `Platform::register` first"
    );
}
