//! Pairing of platform records by RequestId and execution environment, and the dates of
//! `aws logs tail` output.

use std::fs::File;

use spanbill_collector::platform::{DateSource, ReadOptions, read_bytes, read_file};
use spanbill_collector::{InitializationType, Invocation, Status};
use time::macros::{date, datetime};

fn read(input: &str) -> Vec<Invocation> {
    read_bytes("test.log", input.as_bytes(), &ReadOptions::default())
        .unwrap()
        .invocations
}

fn report(request_id: &str, billed_ms: u64, extra: &str) -> String {
    format!(
        "REPORT RequestId: {request_id}\tDuration: {billed_ms}.00 ms\tBilled Duration: {billed_ms} ms\t\
         Memory Size: 512 MB\tMax Memory Used: 512 MB\t{extra}"
    )
}

#[test]
fn interleaved_environments_pair_by_request_id() {
    let input = [
        "START RequestId: a Version: 3".to_owned(),
        "START RequestId: b Version: 4".to_owned(),
        "RequestId: a Error: Runtime exited with error: signal: killed".to_owned(),
        "Runtime.ExitError".to_owned(),
        report("b", 20, "Init Duration: 100.00 ms\t"),
        "END RequestId: a".to_owned(),
        report("a", 10, ""),
    ]
    .join("\n");
    let invocations = read(&input);
    assert_eq!(invocations.len(), 2);

    let crashed = &invocations[0];
    assert_eq!(crashed.request_id, "a");
    assert_eq!(crashed.version.as_deref(), Some("3"));
    assert_eq!(crashed.billed_ms, 10);
    assert_eq!(crashed.status, Status::Error);
    assert_eq!(crashed.error_type.as_deref(), Some("Runtime.ExitError"));
    assert!(crashed.out_of_memory);
    assert!(!crashed.cold_start);

    let cold = &invocations[1];
    assert_eq!(cold.request_id, "b");
    assert_eq!(cold.version.as_deref(), Some("4"));
    assert_eq!(cold.billed_ms, 20);
    assert_eq!(cold.status, Status::Success);
    assert!(!cold.out_of_memory);
    assert!(cold.cold_start);
}

#[test]
fn retried_request_id_is_two_invocations() {
    let input = [
        "START RequestId: r Version: $LATEST".to_owned(),
        report("r", 30, "Status: error\tError Type: Runtime.Unknown\t"),
        "START RequestId: r Version: $LATEST".to_owned(),
        report("r", 40, ""),
    ]
    .join("\n");
    let invocations = read(&input);
    assert_eq!(invocations.len(), 2);
    assert_eq!(invocations[0].billed_ms, 30);
    assert_eq!(invocations[0].status, Status::Error);
    assert_eq!(
        invocations[0].error_type.as_deref(),
        Some("Runtime.Unknown")
    );
    assert_eq!(invocations[1].billed_ms, 40);
    assert_eq!(invocations[1].status, Status::Success);
}

#[test]
fn crash_line_after_report_counts() {
    let input = [
        report("late", 50, ""),
        "RequestId: late Process exited before completing request".to_owned(),
    ]
    .join("\n");
    let invocations = read(&input);
    assert_eq!(invocations[0].status, Status::Error);
    assert!(invocations[0].out_of_memory);
}

#[test]
fn timeout_line_sets_timeout() {
    let input = [
        "2026-07-01T17:53:27.402Z 5b1f0c8e-3a57-4f7b-8f7e-2b8c55a1c9d4 Task timed out after 3.00 seconds"
            .to_owned(),
        report("5b1f0c8e-3a57-4f7b-8f7e-2b8c55a1c9d4", 3000, ""),
    ]
    .join("\n");
    let invocations = read(&input);
    assert_eq!(invocations[0].status, Status::Timeout);
    assert!(!invocations[0].out_of_memory);
}

#[test]
fn invoke_phase_init_report_marks_cold_start() {
    // Two environments (log streams) interleave; the INIT_REPORT names no request, so it
    // belongs to the request running in its own stream.
    let stream_one = "2024/07/05/[7]aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let stream_two = "2024/07/05/[7]bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let input = [
        format!("{stream_one} 2024-07-05T10:00:00.000000 START RequestId: one Version: 7"),
        format!("{stream_two} 2024-07-05T10:00:00.100000 START RequestId: two Version: 7"),
        format!(
            "{stream_one} 2024-07-05T10:00:03.000000 INIT_REPORT Init Duration: 3000.12 ms\t\
             Phase: invoke\tStatus: error\tError Type: Runtime.Unknown"
        ),
        format!(
            "{stream_two} 2024-07-05T10:00:03.100000 {}",
            report("two", 5, "")
        ),
        format!(
            "{stream_one} 2024-07-05T10:00:03.200000 {}",
            report("one", 3201, "Status: error\tError Type: Runtime.Unknown\t")
        ),
    ]
    .join("\n");
    let invocations = read(&input);
    assert_eq!(invocations.len(), 2);

    let reinitialised = &invocations[0];
    assert_eq!(reinitialised.request_id, "one");
    assert!(reinitialised.cold_start);
    assert_eq!(reinitialised.init_ms, Some(3000.12));
    assert_eq!(reinitialised.status, Status::Error);
    assert_eq!(
        reinitialised.start,
        Some(datetime!(2024-07-05 10:00:00 UTC))
    );

    let warm = &invocations[1];
    assert_eq!(warm.request_id, "two");
    assert!(!warm.cold_start);
    assert_eq!(warm.init_ms, None);
}

#[test]
fn provisioned_concurrency_init_is_not_cold() {
    let batch = r#"[
        {"time":"2024-02-09T08:00:00.000Z","type":"platform.initStart","record":{"initializationType":"provisioned-concurrency","phase":"init","functionName":"orders-api","functionVersion":"8"}},
        {"time":"2024-02-09T08:00:00.400Z","type":"platform.initReport","record":{"initializationType":"provisioned-concurrency","phase":"init","status":"success","metrics":{"durationMs":389.77}}},
        {"time":"2024-02-09T08:42:44.078Z","type":"platform.start","record":{"requestId":"pc-1","version":"8"}},
        {"time":"2024-02-09T08:42:44.080Z","type":"platform.report","record":{"requestId":"pc-1","status":"success","metrics":{"durationMs":1.317,"billedDurationMs":2,"memorySizeMB":1024,"maxMemoryUsedMB":68,"initDurationMs":389.77}}}
    ]"#;
    let invocations = read(batch);
    assert_eq!(invocations.len(), 1);
    assert_eq!(
        invocations[0].initialization_type,
        Some(InitializationType::ProvisionedConcurrency)
    );
    assert!(!invocations[0].cold_start);
    assert_eq!(invocations[0].init_ms, Some(389.77));
}

#[test]
fn tail_dates_cross_midnight_backwards_from_mtime() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("tail.log");
    let log = [
        "23:59:58 START RequestId: before Version: $LATEST".to_owned(),
        format!("23:59:59 {}", report("before", 1, "")),
        "00:00:01 START RequestId: after Version: $LATEST".to_owned(),
        format!("00:00:02 {}", report("after", 1, "")),
    ]
    .join("\n");
    std::fs::write(&path, log).unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(datetime!(2025-08-01 00:05 UTC).into())
        .unwrap();

    let read = read_file(&path, &ReadOptions::default()).unwrap();
    assert_eq!(
        read.summary.date_source,
        DateSource::FileModified(date!(2025 - 08 - 01))
    );
    assert_eq!(
        read.invocations[0].start,
        Some(datetime!(2025-07-31 23:59:58 UTC))
    );
    assert_eq!(
        read.invocations[1].start,
        Some(datetime!(2025-08-01 00:00:01 UTC))
    );
    assert_eq!(
        read.invocations[0].billing_era,
        Some(spanbill_collector::BillingEra::Rounded1Ms)
    );
    assert_eq!(
        read.invocations[1].billing_era,
        Some(spanbill_collector::BillingEra::InitBilled)
    );

    let options = ReadOptions {
        date: Some(date!(2025 - 07 - 31)),
        ..ReadOptions::default()
    };
    let read = read_file(&path, &options).unwrap();
    assert_eq!(
        read.summary.date_source,
        DateSource::Option(date!(2025 - 07 - 31))
    );
    assert_eq!(
        read.invocations[1].start,
        Some(datetime!(2025-08-01 00:00:01 UTC))
    );
}

#[test]
fn names_from_options_fill_gaps_only() {
    let options = ReadOptions {
        function: Some("from-option".to_owned()),
        region: Some("ap-south-1".to_owned()),
        ..ReadOptions::default()
    };
    let delivery = format!(
        r#"{{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/us-east-1.edge-auth","logStream":"2025/01/14/[3]8ef72cc5ba9e42c12bfd9d899c1756d5","logEvents":[{{"id":"1","timestamp":1736825143044,"message":"{}"}}]}}"#,
        report("e1", 4, "").replace('\t', "\\t")
    );
    let read = read_bytes("delivery.json", delivery.as_bytes(), &options).unwrap();
    let invocation = &read.invocations[0];
    assert_eq!(invocation.function.as_deref(), Some("edge-auth"));
    assert_eq!(invocation.region.as_deref(), Some("us-east-1"));
    assert_eq!(invocation.version.as_deref(), Some("3"));
    assert_eq!(invocation.account.as_deref(), Some("123456789012"));

    let read = read_bytes("bare.log", report("e2", 4, "").as_bytes(), &options).unwrap();
    let invocation = &read.invocations[0];
    assert_eq!(invocation.function.as_deref(), Some("from-option"));
    assert_eq!(invocation.region.as_deref(), Some("ap-south-1"));
}
