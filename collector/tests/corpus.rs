//! One test per sample platform log in `tests/data`, asserting every value a correct reader
//! must extract from it.
#![expect(
    clippy::float_cmp,
    reason = "a duration parsed from the same decimal text as the literal is the same f64"
)]

use std::fs::File;
use std::path::PathBuf;
use std::time::SystemTime;

use spanbill_collector::platform::{
    DateSource, InputFormat, PlatformRead, ReadOptions, SkipReason, read_bytes, read_file,
};
use spanbill_collector::{BillingEra, InitializationType, Invocation, MemoryUnit, Source, Status};
use time::macros::{date, datetime};

fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn read(name: &str, options: &ReadOptions) -> PlatformRead {
    read_file(&data_path(name), options).unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn find<'a>(read: &'a PlatformRead, request_id: &str) -> &'a Invocation {
    read.invocations
        .iter()
        .find(|invocation| invocation.request_id == request_id)
        .unwrap_or_else(|| panic!("no invocation {request_id}"))
}

fn assert_gb_seconds(invocation: &Invocation, expected: f64) {
    let actual = invocation.gb_seconds();
    assert!(
        (actual - expected).abs() < 1e-9,
        "{}: GB-seconds {actual}, expected {expected}",
        invocation.request_id
    );
}

fn w3c(invocation: &Invocation) -> Option<&str> {
    invocation.trace.as_ref()?.w3c_trace_id.as_deref()
}

#[test]
fn cloudwatch_events_with_xray_on_second_line() {
    let options = ReadOptions {
        function: Some("orders".to_owned()),
        ..ReadOptions::default()
    };
    let read = read(
        "lambda_events_cold_start_init_duration_xray_second_line.jsonl",
        &options,
    );
    assert_eq!(read.summary.format, InputFormat::CloudWatchEvents);
    assert_eq!(read.summary.records_read, 8);
    assert_eq!(read.summary.invocations, 2);
    assert_eq!(read.summary.skipped(SkipReason::ApplicationLog), 1);
    assert_eq!(read.summary.date_source, DateSource::Timestamps);
    assert_eq!(read.invocations.len(), 2);

    let cold = find(&read, "22646860-521e-4fdd-9344-c4440d5a2c22");
    assert_eq!(cold.function.as_deref(), Some("orders"));
    assert_eq!(cold.version.as_deref(), Some("$LATEST"));
    assert_eq!(cold.region.as_deref(), Some("eu-west-1"));
    assert_eq!(cold.start, Some(datetime!(2024-05-02 10:15:30 UTC)));
    assert_eq!(cold.duration_ms, 693.92);
    assert_eq!(cold.billed_ms, 694);
    assert_eq!(cold.memory_mb, 128);
    assert_eq!(cold.memory_unit, MemoryUnit::Mb);
    assert_eq!(cold.max_memory_used_mb, 84);
    assert_eq!(cold.init_ms, Some(397.68));
    assert_eq!(cold.restore_ms, None);
    assert!(cold.cold_start);
    assert_eq!(cold.status, Status::Success);
    assert_eq!(cold.source, Source::ReportLine);
    assert_eq!(cold.billing_era, Some(BillingEra::Rounded1Ms));
    let trace = cold.trace.as_ref().expect("trace on the second line");
    assert_eq!(trace.xray_trace_id, "1-663367c2-ad6a0f14a3cdc9d8a02e9f81");
    assert_eq!(w3c(cold), Some("663367c2ad6a0f14a3cdc9d8a02e9f81"));
    assert_eq!(trace.segment_id.as_deref(), Some("3822071b209cf858"));
    assert_eq!(trace.sampled, Some(true));
    // 2024 managed runtime: the init phase is not in Billed Duration.
    assert_gb_seconds(cold, 0.086_75);

    let warm = find(&read, "94afb67f-3b6c-4dd4-8b2a-6837411359d3");
    assert_eq!(warm.duration_ms, 40.17);
    assert_eq!(warm.billed_ms, 41);
    assert_eq!(warm.memory_mb, 128);
    assert_eq!(warm.max_memory_used_mb, 85);
    assert_eq!(warm.init_ms, None);
    assert!(!warm.cold_start);
    let trace = warm.trace.as_ref().expect("trace on the second line");
    assert_eq!(trace.xray_trace_id, "1-663367fe-fb363ed1100bcf415faa7d75");
    assert_eq!(w3c(warm), Some("663367fefb363ed1100bcf415faa7d75"));
    assert_eq!(trace.segment_id.as_deref(), Some("47f69dd95bfa9186"));
    assert_eq!(trace.sampled, Some(false));
    assert_gb_seconds(warm, 0.005_125);
}

#[test]
fn json_log_format_with_billed_init() {
    let read = read(
        "lambda_events_jsonlogformat_cold_start_init_billed.jsonl",
        &ReadOptions::default(),
    );
    assert_eq!(read.summary.format, InputFormat::CloudWatchEvents);
    assert_eq!(read.summary.records_read, 7);
    assert_eq!(read.summary.invocations, 2);
    // Two application records, one of them at level ERROR.
    assert_eq!(read.summary.skipped(SkipReason::ApplicationLog), 2);

    let cold = find(&read, "a81686a0-3812-41a4-875b-301bc3c11e64");
    assert_eq!(cold.function.as_deref(), Some("notifier-fn"));
    assert_eq!(cold.version.as_deref(), Some("$LATEST"));
    assert_eq!(cold.region.as_deref(), Some("eu-central-1"));
    assert_eq!(cold.account.as_deref(), Some("123456789012"));
    assert_eq!(cold.start, Some(datetime!(2026-10-08 07:30:28.235 UTC)));
    assert!(cold.cold_start);
    assert_eq!(cold.initialization_type, Some(InitializationType::OnDemand));
    assert_eq!(cold.init_ms, Some(463.512));
    assert_eq!(cold.duration_ms, 1233.96);
    // ceil(1233.96 + 463.512): since 2025-08-01 Billed Duration includes the init phase.
    assert_eq!(cold.billed_ms, 1698);
    assert_eq!(cold.memory_mb, 256);
    assert_eq!(cold.max_memory_used_mb, 123);
    assert_eq!(cold.status, Status::Success);
    assert_eq!(cold.error_type, None);
    assert_eq!(cold.source, Source::PlatformReport);
    assert_eq!(cold.billing_era, Some(BillingEra::InitBilled));
    assert_gb_seconds(cold, 0.4245);

    let warm = find(&read, "2c996b50-18c4-4aa4-bf92-4ec228618362");
    assert!(!warm.cold_start);
    assert_eq!(warm.init_ms, None);
    assert_eq!(warm.duration_ms, 1072.145);
    assert_eq!(warm.billed_ms, 1073);
    assert_eq!(warm.max_memory_used_mb, 125);
    assert_eq!(warm.status, Status::Success);
    assert_gb_seconds(warm, 0.268_25);
}

#[test]
fn json_log_format_memory_from_instance_max_memory() {
    // Without memorySizeMB the report takes the environment's instanceMaxMemory (bytes).
    let input = std::fs::read_to_string(data_path(
        "lambda_events_jsonlogformat_cold_start_init_billed.jsonl",
    ))
    .unwrap()
    .replace(r#"\"memorySizeMB\":256,"#, "");
    let read = read_bytes(
        "no-memory-size.jsonl",
        input.as_bytes(),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(read.invocations.len(), 2);
    for invocation in &read.invocations {
        assert_eq!(invocation.memory_mb, 256);
        assert_eq!(invocation.memory_unit, MemoryUnit::Bytes);
    }
}

fn set_modified(path: &std::path::Path, time: SystemTime) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

#[test]
fn tail_timeouts_interleaved_with_date_option() {
    let options = ReadOptions {
        date: Some(date!(2026 - 07 - 01)),
        ..ReadOptions::default()
    };
    let read = read(
        "lambda_tail_timeout_status_field_init_billed_interleaved.log",
        &options,
    );
    assert_eq!(read.summary.format, InputFormat::Text);
    assert_eq!(
        read.summary.date_source,
        DateSource::Option(date!(2026 - 07 - 01))
    );
    assert_eq!(read.summary.invocations, 2);
    assert_eq!(read.summary.skipped(SkipReason::ApplicationLog), 1);
    assert!(read.summary.requests_without_report.is_empty());

    let warm = find(&read, "09313c83-2360-4236-a1cc-a99e329562ed");
    assert_eq!(warm.status, Status::Timeout);
    assert_eq!(warm.duration_ms, 600_000.0);
    assert_eq!(warm.billed_ms, 600_000);
    assert_eq!(warm.memory_mb, 1024);
    assert_eq!(warm.max_memory_used_mb, 1024);
    assert!(!warm.cold_start);
    assert!(!warm.out_of_memory);
    assert_eq!(warm.start, Some(datetime!(2026-07-01 17:43:27 UTC)));
    assert_eq!(warm.region.as_deref(), Some("us-east-1"));
    assert_eq!(warm.billing_era, Some(BillingEra::InitBilled));
    let trace = warm.trace.as_ref().expect("XRAY on the next line");
    assert_eq!(trace.xray_trace_id, "1-6a4551bf-639270422fffaca642b2a5d4");
    assert_eq!(w3c(warm), Some("6a4551bf639270422fffaca642b2a5d4"));
    assert_eq!(trace.segment_id.as_deref(), Some("1ab251f19db4ff2d"));
    assert_eq!(trace.sampled, Some(true));
    assert_gb_seconds(warm, 600.0);

    let cold = find(&read, "742e7257-5358-43d6-8328-452e76754ca6");
    assert_eq!(cold.status, Status::Timeout);
    assert!(cold.cold_start);
    assert_eq!(cold.init_ms, Some(516.31));
    assert_eq!(cold.duration_ms, 600_000.0);
    // ceil(600000 + 516.31): the init phase is already in Billed Duration.
    assert_eq!(cold.billed_ms, 600_517);
    assert_eq!(cold.start, Some(datetime!(2026-07-01 17:47:55 UTC)));
    let trace = cold.trace.as_ref().expect("XRAY on the next line");
    assert_eq!(trace.xray_trace_id, "1-6a4552cb-a9153e4bf31e5f8634aefd61");
    assert_eq!(w3c(cold), Some("6a4552cba9153e4bf31e5f8634aefd61"));
    assert_eq!(trace.segment_id.as_deref(), Some("6fd57f39786f0372"));
    assert_gb_seconds(cold, 600.517);
}

#[test]
fn tail_date_from_file_modification_time() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("tail.log");
    std::fs::copy(
        data_path("lambda_tail_timeout_status_field_init_billed_interleaved.log"),
        &path,
    )
    .unwrap();
    set_modified(&path, datetime!(2026-07-01 18:00 UTC).into());

    let read = read_file(&path, &ReadOptions::default()).unwrap();
    assert_eq!(
        read.summary.date_source,
        DateSource::FileModified(date!(2026 - 07 - 01))
    );
    let warm = find(&read, "09313c83-2360-4236-a1cc-a99e329562ed");
    assert_eq!(warm.start, Some(datetime!(2026-07-01 17:43:27 UTC)));
    assert_eq!(warm.billing_era, Some(BillingEra::InitBilled));
}

#[test]
fn tail_without_date_leaves_start_unknown() {
    let input = std::fs::read(data_path(
        "lambda_tail_timeout_status_field_init_billed_interleaved.log",
    ))
    .unwrap();
    let read = read_bytes("stdin", &input, &ReadOptions::default()).unwrap();
    assert_eq!(read.summary.date_source, DateSource::Unknown);
    assert_eq!(read.invocations.len(), 2);
    for invocation in &read.invocations {
        assert_eq!(invocation.start, None);
        assert_eq!(invocation.billing_era, None);
        assert_eq!(invocation.status, Status::Timeout);
    }
}

#[test]
fn crash_reporting_three_generations() {
    let read = read(
        "lambda_text_crash_reporting_three_generations.log",
        &ReadOptions::default(),
    );
    assert_eq!(read.summary.format, InputFormat::Text);
    assert_eq!(read.summary.invocations, 3);
    assert_eq!(read.summary.skipped(SkipReason::Annotation), 3);
    assert_eq!(read.summary.skipped(SkipReason::ApplicationLog), 3);
    // The lines carry no time at all and the file's date is not theirs.
    assert_eq!(read.summary.date_source, DateSource::Unknown);

    let oom = find(&read, "8e009fe3-c1e3-4a53-b5ad-cdf1adaa0980");
    assert_eq!(oom.status, Status::Error);
    assert!(oom.out_of_memory);
    assert_eq!(oom.error_type, None);
    assert_eq!(oom.duration_ms, 5964.04);
    assert_eq!(oom.billed_ms, 6000);
    assert_eq!(oom.memory_mb, 128);
    assert_eq!(oom.max_memory_used_mb, 128);
    assert_eq!(oom.start, None);
    assert_eq!(oom.billing_era, None);
    assert_gb_seconds(oom, 0.75);

    let exit = find(&read, "667e8111-795f-4549-a837-d40ce20d734e");
    assert_eq!(exit.status, Status::Error);
    assert_eq!(exit.error_type.as_deref(), Some("Runtime.ExitError"));
    assert!(!exit.out_of_memory);
    assert_eq!(exit.billed_ms, 100);
    assert_eq!(exit.memory_mb, 128);
    assert_gb_seconds(exit, 0.0125);

    let killed = find(&read, "f5c141fe-d7a6-4f0b-b8d2-430c24478995");
    assert_eq!(killed.status, Status::Error);
    assert_eq!(killed.error_type.as_deref(), Some("Runtime.ExitError"));
    assert!(killed.out_of_memory);
    assert_eq!(killed.billed_ms, 2500);
    assert_eq!(killed.memory_mb, 256);
    assert_eq!(killed.max_memory_used_mb, 256);
    assert_gb_seconds(killed, 0.625);

    for invocation in &read.invocations {
        assert!(!invocation.cold_start);
        assert_eq!(invocation.init_ms, None);
    }
}

#[test]
fn crash_reporting_with_date_option() {
    let options = ReadOptions {
        date: Some(date!(2018 - 03 - 13)),
        ..ReadOptions::default()
    };
    let read = read(
        "lambda_text_crash_reporting_three_generations.log",
        &options,
    );
    assert_eq!(
        read.summary.date_source,
        DateSource::Option(date!(2018 - 03 - 13))
    );
    let oom = find(&read, "8e009fe3-c1e3-4a53-b5ad-cdf1adaa0980");
    assert_eq!(oom.start, None);
    assert_eq!(oom.billing_era, Some(BillingEra::Rounded100Ms));
}

#[test]
fn sam_logs_snapstart_restore() {
    let read = read(
        "lambda_samlogs_snapstart_restore_duration_odd_memory.log",
        &ReadOptions::default(),
    );
    assert_eq!(read.summary.format, InputFormat::Text);
    assert_eq!(read.summary.invocations, 4);
    assert_eq!(read.summary.date_source, DateSource::Timestamps);
    assert_eq!(read.summary.skipped(SkipReason::ApplicationLog), 2);

    let restored = find(&read, "d849612b-8c84-440e-9340-f42b210a7726");
    assert!(restored.cold_start);
    assert_eq!(restored.init_ms, None);
    assert_eq!(restored.duration_ms, 306.34);
    assert_eq!(restored.restore_ms, Some(511.25));
    assert_eq!(restored.billed_restore_ms, Some(303));
    // ceil(306.34 + 303): Billed Duration already includes Billed Restore Duration.
    assert_eq!(restored.billed_ms, 610);
    assert_eq!(restored.memory_mb, 3009);
    assert_eq!(restored.max_memory_used_mb, 155);
    assert_eq!(restored.version.as_deref(), Some("56"));
    // START was not captured: the start is the REPORT time minus Duration.
    assert_eq!(
        restored.start,
        Some(datetime!(2024-07-05 10:16:34.686 UTC) - time::Duration::microseconds(306_340))
    );
    let cold_start_latency = restored.duration_ms + restored.restore_ms.unwrap();
    assert!((cold_start_latency - 817.59).abs() < 1e-9);
    assert_gb_seconds(restored, 1.792_470_703);

    for (request_id, billed_ms, gb_seconds) in [
        ("bac72d63-e151-4001-a439-b2c7e2b56c1e", 139, 0.408_448_242),
        ("a3c4a8a5-107d-4e6f-b7fe-5047ce578426", 51, 0.149_862_305),
        ("bd184b25-256a-47f5-9068-376331a5ef6c", 11, 0.032_323_242),
    ] {
        let warm = find(&read, request_id);
        assert!(!warm.cold_start, "{request_id}");
        assert_eq!(warm.restore_ms, None, "{request_id}");
        assert_eq!(warm.billed_restore_ms, None, "{request_id}");
        assert_eq!(warm.billed_ms, billed_ms, "{request_id}");
        assert_eq!(warm.memory_mb, 3009, "{request_id}");
        assert_eq!(warm.version.as_deref(), Some("56"), "{request_id}");
        assert_gb_seconds(warm, gb_seconds);
    }
    assert_eq!(
        find(&read, "bac72d63-e151-4001-a439-b2c7e2b56c1e").start,
        Some(datetime!(2024-07-05 10:16:43.928 UTC))
    );
}

fn assert_subscription_values(read: &PlatformRead) {
    assert_eq!(read.summary.format, InputFormat::Subscription);
    assert_eq!(read.summary.invocations, 1);
    assert_eq!(read.summary.skipped(SkipReason::ControlMessage), 1);
    assert_eq!(read.summary.skipped(SkipReason::ApplicationLog), 1);
    assert_eq!(read.summary.problem_count, 0);

    let invocation = find(read, "18ec9f32-bd20-48e6-bcfd-862ea78242d5");
    assert_eq!(invocation.function.as_deref(), Some("image-resizer"));
    assert_eq!(invocation.account.as_deref(), Some("123456789012"));
    assert_eq!(invocation.duration_ms, 3.08);
    assert_eq!(invocation.billed_ms, 4);
    assert_eq!(invocation.memory_mb, 1024);
    assert_eq!(invocation.max_memory_used_mb, 33);
    assert!(!invocation.cold_start);
    assert_eq!(invocation.status, Status::Success);
    assert_eq!(
        invocation.start,
        Some(datetime!(2025-01-14 03:25:43.040 UTC))
    );
    assert_gb_seconds(invocation, 0.004);
}

#[test]
fn subscription_encoded_payloads() {
    let read = read(
        "cloudwatch_subscription_lambda_event_awslogs_gzip_base64.json",
        &ReadOptions::default(),
    );
    assert_subscription_values(&read);
}

#[test]
fn subscription_decoded_payloads() {
    let read = read(
        "cloudwatch_subscription_lambda_event_decoded.json",
        &ReadOptions::default(),
    );
    assert_subscription_values(&read);
}

#[test]
fn subscription_encoded_and_decoded_agree() {
    let encoded = read(
        "cloudwatch_subscription_lambda_event_awslogs_gzip_base64.json",
        &ReadOptions::default(),
    );
    let decoded = read(
        "cloudwatch_subscription_lambda_event_decoded.json",
        &ReadOptions::default(),
    );
    assert_eq!(encoded.invocations, decoded.invocations);
    assert_eq!(encoded.summary.records_read, decoded.summary.records_read);
    assert_eq!(encoded.summary.skipped, decoded.summary.skipped);
}

#[test]
fn telemetry_api_batch() {
    let read = read(
        "telemetry_api_batch_on_demand_cold_start_full.json",
        &ReadOptions::default(),
    );
    assert_eq!(read.summary.format, InputFormat::PlatformRecords);
    assert_eq!(read.summary.records_read, 10);
    // logsDropped is not an invocation.
    assert_eq!(read.summary.invocations, 1);
    assert_eq!(read.summary.logs_dropped.reports, 1);
    assert_eq!(read.summary.logs_dropped.records, 12);
    assert_eq!(read.summary.logs_dropped.bytes, 4096);
    assert_eq!(read.summary.skipped(SkipReason::ApplicationLog), 1);

    let subscription = read
        .summary
        .extensions
        .iter()
        .find(|state| state.kind == "telemetrySubscription")
        .expect("a telemetry subscription");
    assert_eq!(subscription.name, "cost-probe-extension");
    assert_eq!(subscription.state, "Subscribed");
    assert_eq!(subscription.types, ["platform", "function"]);

    let invocation = find(&read, "e820b58d-2044-4f0f-b77d-522c7d54ce33");
    assert_eq!(invocation.function.as_deref(), Some("orders-api"));
    assert_eq!(invocation.version.as_deref(), Some("8"));
    assert_eq!(invocation.region.as_deref(), Some("us-east-1"));
    assert!(invocation.cold_start);
    assert_eq!(
        invocation.initialization_type,
        Some(InitializationType::OnDemand)
    );
    assert_eq!(invocation.init_ms, Some(389.77));
    assert_eq!(invocation.duration_ms, 1.317);
    // February 2024, managed runtime: the init phase is not billed.
    assert_eq!(invocation.billed_ms, 2);
    assert_eq!(invocation.billing_era, Some(BillingEra::Rounded1Ms));
    assert_eq!(invocation.memory_mb, 1024);
    assert_eq!(invocation.max_memory_used_mb, 68);
    assert_eq!(invocation.status, Status::Success);
    assert_eq!(invocation.source, Source::PlatformReport);
    assert_eq!(
        invocation.start,
        Some(datetime!(2024-02-09 08:42:44.078 UTC))
    );
    let trace = invocation.trace.as_ref().expect("tracing in the report");
    assert_eq!(trace.xray_trace_id, "1-65c5e583-38e7d284ab70a208f4956b87");
    assert_eq!(w3c(invocation), Some("65c5e58338e7d284ab70a208f4956b87"));
    assert_eq!(trace.parent_id.as_deref(), Some("add816d1ab2d7835"));
    assert_eq!(trace.segment_id.as_deref(), Some("3bf0817c19689416"));
    assert_eq!(trace.sampled, Some(true));
    assert_gb_seconds(invocation, 0.002);
}
