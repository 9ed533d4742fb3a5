//! Text platform lines written from invocation records: byte for byte as Lambda writes them,
//! and read back into the same numbers.

use std::path::PathBuf;

use serde_json::Value;
use spanbill_collector::format::{
    format_end_line, format_platform_lines, format_report_line, format_start_line,
};
use spanbill_collector::platform::{ReadOptions, read_bytes, read_file};
use spanbill_collector::{ColdStartSource, Invocation, MemoryUnit, Source, Status, TraceContext};

fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Returns the `message` of every log event in a file of CloudWatch Logs events or
/// subscription deliveries.
fn event_messages(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(data_path(name)).unwrap();
    let items: Vec<Value> = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(items)) => items,
        _ => text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect(),
    };
    let mut messages = Vec::new();
    for item in items {
        let events = match item.get("logEvents") {
            Some(Value::Array(events)) => events.clone(),
            _ => vec![item],
        };
        for event in events {
            messages.push(event["message"].as_str().unwrap().to_owned());
        }
    }
    messages
}

fn assert_reformats(name: &str) {
    let messages = event_messages(name);
    let read = read_file(&data_path(name), &ReadOptions::default()).unwrap();
    assert!(!read.invocations.is_empty(), "{name}");
    for invocation in &read.invocations {
        let id = &invocation.request_id;
        let original = |prefix: &str| {
            messages
                .iter()
                .find(|message| message.starts_with(&format!("{prefix} RequestId: {id}")))
                .unwrap_or_else(|| panic!("{name}: no {prefix} line for {id}"))
        };
        assert_eq!(
            &format_start_line(invocation),
            original("START"),
            "{name} {id}"
        );
        assert_eq!(&format_end_line(invocation), original("END"), "{name} {id}");
        assert_eq!(
            &format_report_line(invocation),
            original("REPORT"),
            "{name} {id}"
        );
    }
}

#[test]
fn cloudwatch_events_reformat_byte_for_byte() {
    assert_reformats("lambda_events_cold_start_init_duration_xray_second_line.jsonl");
}

#[test]
fn subscription_events_reformat_byte_for_byte() {
    assert_reformats("cloudwatch_subscription_lambda_event_decoded.json");
}

#[test]
fn snapstart_report_reformats_byte_for_byte() {
    let log = std::fs::read_to_string(data_path(
        "lambda_samlogs_snapstart_restore_duration_odd_memory.log",
    ))
    .unwrap();
    let read = read_file(
        &data_path("lambda_samlogs_snapstart_restore_duration_odd_memory.log"),
        &ReadOptions::default(),
    )
    .unwrap();
    for invocation in &read.invocations {
        // `sam logs` prints one line per event, without the final line break.
        let report = format_report_line(invocation);
        let line = report.trim_end_matches('\n');
        assert!(
            log.lines().any(|logged| logged.ends_with(line)),
            "no line ends with {line:?}"
        );
    }
}

fn record(request_id: &str) -> Invocation {
    Invocation {
        request_id: request_id.to_owned(),
        function: None,
        version: Some("12".to_owned()),
        start: None,
        date: None,
        duration_ms: 133.61,
        billed_ms: 214,
        memory_mb: 1769,
        memory_unit: MemoryUnit::Mb,
        max_memory_used_mb: 91,
        init_ms: None,
        restore_ms: None,
        billed_restore_ms: None,
        status: Status::Success,
        error_type: None,
        out_of_memory: false,
        cold_start: false,
        cold_start_source: ColdStartSource::Platform,
        initialization_type: None,
        architecture: None,
        region: None,
        account: None,
        trace: None,
        source: Source::Simulator,
        billing_era: None,
    }
}

#[test]
fn format_then_read_keeps_numbers() {
    let trace = TraceContext {
        segment_id: Some("3822071b209cf858".to_owned()),
        sampled: Some(false),
        ..TraceContext::from_xray_trace_id("1-663367c2-ad6a0f14a3cdc9d8a02e9f81")
    };
    let records = [
        record("2e0a1cbe-9a49-4b43-9f5c-7d4a1e0b6c01"),
        Invocation {
            init_ms: Some(80.0),
            cold_start: true,
            trace: Some(trace),
            ..record("2e0a1cbe-9a49-4b43-9f5c-7d4a1e0b6c02")
        },
        Invocation {
            restore_ms: Some(511.25),
            billed_restore_ms: Some(303),
            cold_start: true,
            billed_ms: 610,
            ..record("2e0a1cbe-9a49-4b43-9f5c-7d4a1e0b6c03")
        },
        Invocation {
            status: Status::Timeout,
            duration_ms: 3000.0,
            billed_ms: 3000,
            ..record("2e0a1cbe-9a49-4b43-9f5c-7d4a1e0b6c04")
        },
        Invocation {
            status: Status::Error,
            error_type: Some("Runtime.OutOfMemory".to_owned()),
            max_memory_used_mb: 1769,
            out_of_memory: true,
            version: None,
            ..record("2e0a1cbe-9a49-4b43-9f5c-7d4a1e0b6c05")
        },
        Invocation {
            duration_ms: 0.0,
            billed_ms: 1,
            ..record("2e0a1cbe-9a49-4b43-9f5c-7d4a1e0b6c06")
        },
    ];
    let log: String = records.iter().map(format_platform_lines).collect();
    let read = read_bytes("simulator.log", log.as_bytes(), &ReadOptions::default()).unwrap();
    assert_eq!(read.invocations.len(), records.len());
    assert_eq!(read.summary.problem_count, 0);
    assert!(
        read.summary.skipped.is_empty(),
        "{:?}",
        read.summary.skipped
    );

    for (written, parsed) in records.iter().zip(&read.invocations) {
        let id = &written.request_id;
        assert_eq!(parsed.request_id, *id);
        assert_eq!(
            parsed.version.as_deref(),
            Some(written.version.as_deref().unwrap_or("$LATEST")),
            "{id}"
        );
        assert!(
            (parsed.duration_ms - written.duration_ms).abs() < 1e-9,
            "{id}"
        );
        assert_eq!(parsed.billed_ms, written.billed_ms, "{id}");
        assert_eq!(parsed.memory_mb, written.memory_mb, "{id}");
        assert_eq!(
            parsed.max_memory_used_mb, written.max_memory_used_mb,
            "{id}"
        );
        assert_eq!(parsed.init_ms, written.init_ms, "{id}");
        assert_eq!(parsed.restore_ms, written.restore_ms, "{id}");
        assert_eq!(parsed.billed_restore_ms, written.billed_restore_ms, "{id}");
        assert_eq!(parsed.status, written.status, "{id}");
        assert_eq!(parsed.error_type, written.error_type, "{id}");
        assert_eq!(parsed.out_of_memory, written.out_of_memory, "{id}");
        assert_eq!(parsed.cold_start, written.cold_start, "{id}");
        assert_eq!(parsed.trace, written.trace, "{id}");
        assert!(
            (parsed.gb_seconds() - written.gb_seconds()).abs() < 1e-12,
            "{id}"
        );
    }
}

#[test]
fn report_line_layout() {
    let invocation = Invocation {
        init_ms: Some(516.31),
        status: Status::Timeout,
        error_type: Some("Sandbox.Timedout".to_owned()),
        duration_ms: 600_000.0,
        billed_ms: 600_517,
        memory_mb: 1024,
        max_memory_used_mb: 1024,
        trace: Some(TraceContext {
            segment_id: Some("6fd57f39786f0372".to_owned()),
            sampled: Some(true),
            ..TraceContext::from_xray_trace_id("1-6a4552cb-a9153e4bf31e5f8634aefd61")
        }),
        ..record("742e7257-5358-43d6-8328-452e76754ca6")
    };
    assert_eq!(
        format_report_line(&invocation),
        "REPORT RequestId: 742e7257-5358-43d6-8328-452e76754ca6\tDuration: 600000.00 ms\t\
         Billed Duration: 600517 ms\tMemory Size: 1024 MB\tMax Memory Used: 1024 MB\t\
         Init Duration: 516.31 ms\tStatus: timeout\tError Type: Sandbox.Timedout\t\n\
         XRAY TraceId: 1-6a4552cb-a9153e4bf31e5f8634aefd61\tSegmentId: 6fd57f39786f0372\t\
         Sampled: true\t\n"
    );
    assert_eq!(
        format_start_line(&invocation),
        "START RequestId: 742e7257-5358-43d6-8328-452e76754ca6 Version: 12\n"
    );
    assert_eq!(
        format_end_line(&invocation),
        "END RequestId: 742e7257-5358-43d6-8328-452e76754ca6\n"
    );
}
