//! Malformed and unexpected input: precise errors in strict reads, counted skips in lenient
//! ones.

use std::io::Write as _;

use base64::Engine as _;
use spanbill_collector::platform::{Limits, ReadError, ReadOptions, SkipReason, read_bytes};

const REPORT: &str = "REPORT RequestId: 0f6c2a43-0d3c-4b8e-9a59-3c1b2f0d7e11\tDuration: 12.34 ms\t\
                      Billed Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t";

fn strict() -> ReadOptions {
    ReadOptions {
        strict: true,
        ..ReadOptions::default()
    }
}

fn encoded_delivery(json: &[u8]) -> String {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(json).unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(encoder.finish().unwrap());
    format!(r#"[{{"awslogs":{{"data":"{data}"}}}}]"#)
}

/// Input that a strict read rejects, with the exact error message.
struct ErrorCase {
    name: &'static str,
    input: String,
    options: ReadOptions,
    expected: &'static str,
}

/// Input that a lenient read reads on past, with the skip it must count.
struct SkipCase {
    name: &'static str,
    input: Vec<u8>,
    options: ReadOptions,
    reason: SkipReason,
    skipped: usize,
    invocations: usize,
}

#[expect(clippy::too_many_lines, reason = "one table of cases")]
fn error_cases() -> Vec<ErrorCase> {
    let gzip_bomb = encoded_delivery(&vec![b' '; 64 * 1024]);
    let not_gzip = format!(
        r#"[{{"awslogs":{{"data":"{}"}}}}]"#,
        base64::engine::general_purpose::STANDARD.encode(b"plain text")
    );
    let small_payloads = ReadOptions {
        limits: Limits {
            max_decompressed_bytes: 1024,
            ..Limits::default()
        },
        ..strict()
    };
    let small_inputs = ReadOptions {
        limits: Limits {
            max_input_bytes: 16,
            ..Limits::default()
        },
        ..strict()
    };

    let cases = [
        (
            "missing.log",
            "START RequestId: r1 Version: $LATEST\nREPORT RequestId: r1\tDuration: 1.00 ms\t\
             Memory Size: 128 MB\tMax Memory Used: 20 MB\t\n"
                .to_owned(),
            strict(),
            "invalid REPORT line at `missing.log:2`: missing `Billed Duration`",
        ),
        (
            "truncated.log",
            "REPORT RequestId: r1\tDuration: 1.00 ms\tBilled Dur".to_owned(),
            strict(),
            "invalid REPORT line at `truncated.log:1`: missing `Billed Duration`",
        ),
        (
            "no-id.log",
            "REPORT Duration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\t\
             Max Memory Used: 20 MB"
                .to_owned(),
            strict(),
            "invalid REPORT line at `no-id.log:1`: missing `RequestId`",
        ),
        (
            "duration.log",
            "REPORT RequestId: r1\tDuration: abc ms\tBilled Duration: 1 ms\t\
             Memory Size: 128 MB\tMax Memory Used: 20 MB\t"
                .to_owned(),
            strict(),
            "invalid REPORT line at `duration.log:1`: invalid `Duration` value `abc ms`: \
             expected a number of milliseconds such as `693.92 ms`",
        ),
        (
            "billed.log",
            "REPORT RequestId: r1\tDuration: 1.00 ms\tBilled Duration: 1.5 ms\t\
             Memory Size: 128 MB\tMax Memory Used: 20 MB\t"
                .to_owned(),
            strict(),
            "invalid REPORT line at `billed.log:1`: invalid `Billed Duration` value `1.5 ms`: \
             expected a whole number of milliseconds such as `694 ms`",
        ),
        (
            "memory.log",
            "REPORT RequestId: r1\tDuration: 1.00 ms\tBilled Duration: 1 ms\t\
             Memory Size: 1 GB\tMax Memory Used: 20 MB\t"
                .to_owned(),
            strict(),
            "invalid REPORT line at `memory.log:1`: invalid `Memory Size` value `1 GB`: \
             expected a size such as `128 MB`, `128 MiB` or `134217728 bytes`",
        ),
        (
            "status.log",
            format!("{REPORT}Status: crashed\t"),
            strict(),
            "invalid REPORT line at `status.log:1`: invalid `Status` value `crashed`: \
             expected one of `success`, `error`, `failure` or `timeout`",
        ),
        (
            "report.jsonl",
            r#"{"timestamp":1791444629470,"message":"{\"time\":\"2026-10-08T07:30:29.470Z\",\"type\":\"platform.report\",\"record\":{\"requestId\":\"r1\",\"metrics\":{\"durationMs\":1.5,\"memorySizeMB\":256,\"maxMemoryUsedMB\":1}}}"}"#
                .to_owned(),
            strict(),
            "invalid platform.report record at `report.jsonl:1`: missing `billedDurationMs`",
        ),
        (
            "batch.json",
            r#"[{"time":"2024-02-09T08:42:44.080Z","type":"platform.report","record":{"requestId":"r1","metrics":{"durationMs":1.3,"billedDurationMs":2,"maxMemoryUsedMB":68}}}]"#
                .to_owned(),
            strict(),
            "invalid platform.report record at `batch.json record 1`: missing `memorySizeMB`",
        ),
        (
            "base64.json",
            r#"[{"awslogs":{"data":"***"}}]"#.to_owned(),
            strict(),
            "invalid `awslogs.data` payload at `base64.json record 1`: invalid base64: \
             Invalid symbol 42, offset 0.",
        ),
        (
            "not-gzip.json",
            not_gzip,
            strict(),
            "invalid `awslogs.data` payload at `not-gzip.json record 1`: invalid gzip data: \
             invalid gzip header",
        ),
        (
            "bomb.json",
            gzip_bomb,
            small_payloads,
            "`awslogs.data` payload at `bomb.json record 1` inflates to more than 1024 bytes; \
             raise `max_decompressed_bytes` if the payload is trusted",
        ),
        (
            "big.log",
            "x".repeat(60),
            small_inputs,
            "input `big.log` has 60 bytes, more than the limit of 16; raise `max_input_bytes` \
             or split the input",
        ),
    ];

    cases
        .into_iter()
        .map(|(name, input, options, expected)| ErrorCase {
            name,
            input,
            options,
            expected,
        })
        .collect()
}

#[test]
fn strict_read_errors() {
    for ErrorCase {
        name,
        input,
        options,
        expected,
    } in error_cases()
    {
        let error = read_bytes(name, input.as_bytes(), &options)
            .err()
            .unwrap_or_else(|| panic!("{name}: expected an error"));
        assert_eq!(error.to_string(), expected, "{name}");
    }
}

#[expect(clippy::too_many_lines, reason = "one table of cases")]
fn skip_cases() -> Vec<SkipCase> {
    let delivery = format!(
        r#"{{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/f","logStream":"s","logEvents":[{{"id":"1","timestamp":1,"message":"{REPORT}"}},{{"id":"1","timestamp":1,"message":"{REPORT}"}}]}}"#
    )
    .replace('\t', "\\t");
    let long_line = format!("{}\n{REPORT}\n", "x".repeat(300));
    let short_lines = ReadOptions {
        limits: Limits {
            max_line_bytes: 200,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };

    let cases: [(_, Vec<u8>, _, _, _, _); 14] = [
        (
            "annotation",
            format!("# captured by hand\n{REPORT}\n").into_bytes(),
            ReadOptions::default(),
            SkipReason::Annotation,
            1,
            1,
        ),
        (
            "bad report beside a good one",
            format!("REPORT RequestId: r2\tDuration: 1 ms\n{REPORT}\n").into_bytes(),
            ReadOptions::default(),
            SkipReason::InvalidReport,
            1,
            1,
        ),
        (
            "long line",
            long_line.into_bytes(),
            short_lines,
            SkipReason::TooLong,
            1,
            1,
        ),
        (
            "invalid JSON line",
            format!(
                "{{\"timestamp\":1,\"message\":\"{}\"}}\n{{not json\n",
                REPORT.replace('\t', "\\t")
            )
            .into_bytes(),
            ReadOptions::default(),
            SkipReason::InvalidJson,
            1,
            1,
        ),
        (
            "unknown JSON shape",
            b"{\"foo\":1}\n{\"bar\":2}\n".to_vec(),
            ReadOptions::default(),
            SkipReason::UnknownJson,
            2,
            0,
        ),
        (
            "unknown platform type",
            br#"[{"time":"2024-02-09T08:42:43.512Z","type":"platform.future","record":{}}]"#
                .to_vec(),
            ReadOptions::default(),
            SkipReason::UnknownPlatformType,
            1,
            0,
        ),
        (
            "crash line without request id",
            b"Error: Runtime exited with error: signal: killed\nRuntime.ExitError\n".to_vec(),
            ReadOptions::default(),
            SkipReason::CrashWithoutRequestId,
            1,
            0,
        ),
        (
            "XRAY part without REPORT",
            b"XRAY TraceId: 1-663367c2-ad6a0f14a3cdc9d8a02e9f81\tSegmentId: 3822071b209cf858\t\n"
                .to_vec(),
            ReadOptions::default(),
            SkipReason::UnusablePlatformLine,
            1,
            0,
        ),
        (
            "INIT_REPORT with two open requests",
            b"START RequestId: r1 Version: 1\nSTART RequestId: r2 Version: 1\n\
              INIT_REPORT Init Duration: 10000.21 ms\tPhase: invoke\tStatus: timeout\n"
                .to_vec(),
            ReadOptions::default(),
            SkipReason::UnattributedInitReport,
            1,
            0,
        ),
        (
            "duplicate event id",
            delivery.into_bytes(),
            ReadOptions::default(),
            SkipReason::DuplicateEvent,
            1,
            1,
        ),
        (
            "duplicate REPORT",
            format!("{REPORT}\n{REPORT}\n").into_bytes(),
            ReadOptions::default(),
            SkipReason::DuplicateReport,
            1,
            1,
        ),
        (
            "invalid UTF-8 in an application line",
            [b"\xff\xfe garbage \xc3\n".as_slice(), REPORT.as_bytes()].concat(),
            ReadOptions::default(),
            SkipReason::ApplicationLog,
            1,
            1,
        ),
        (
            "truncated JSON document",
            br#"[{"time":"2024-02-09T08:42:43.512Z","type":"#.to_vec(),
            ReadOptions::default(),
            SkipReason::InvalidJson,
            1,
            0,
        ),
        (
            "undecodable payload",
            br#"[{"awslogs":{"data":"***"}}]"#.to_vec(),
            ReadOptions::default(),
            SkipReason::InvalidPayload,
            1,
            0,
        ),
    ];

    cases
        .into_iter()
        .map(
            |(name, input, options, reason, skipped, invocations)| SkipCase {
                name,
                input,
                options,
                reason,
                skipped,
                invocations,
            },
        )
        .collect()
}

#[test]
fn lenient_read_skips() {
    for SkipCase {
        name,
        input,
        options,
        reason,
        skipped,
        invocations,
    } in skip_cases()
    {
        let read = read_bytes(name, &input, &options)
            .unwrap_or_else(|error| panic!("{name}: unexpected error {error}"));
        assert_eq!(
            read.summary.skipped(reason),
            skipped,
            "{name}: {:?}",
            read.summary
        );
        assert_eq!(read.invocations.len(), invocations, "{name}");
        assert_eq!(read.summary.invocations, invocations, "{name}");
    }
}

#[test]
fn lenient_read_keeps_problems() {
    let input = format!("REPORT RequestId: r2\tDuration: 1.00 ms\n{REPORT}\n");
    let read = read_bytes("app.log", input.as_bytes(), &ReadOptions::default()).unwrap();
    assert_eq!(read.summary.problem_count, 1);
    assert_eq!(read.summary.problems.len(), 1);
    assert!(matches!(
        read.summary.problems[0],
        ReadError::InvalidReport { .. }
    ));
    assert_eq!(
        read.summary.problems[0].to_string(),
        "invalid REPORT line at `app.log:1`: missing `Billed Duration`"
    );
}

#[test]
fn impossible_report_values_are_problems() {
    let cases = [
        (
            "REPORT RequestId: r3\tDuration: 5.00 ms\tBilled Duration: 6 ms\t\
             Memory Size: 0 MB\tMax Memory Used: 0 MB\t",
            "invalid `Memory Size` value `0 MB`",
        ),
        (
            "REPORT RequestId: r4\tDuration: 5000.00 ms\tBilled Duration: 6 ms\t\
             Memory Size: 128 MB\tMax Memory Used: 40 MB\t",
            "invalid `Billed Duration` value `6 ms`: expected at least the Duration",
        ),
    ];
    for (line, message) in cases {
        let input = format!("{line}\n{REPORT}\n");
        let read = read_bytes("app.log", input.as_bytes(), &ReadOptions::default()).unwrap();
        assert_eq!(read.invocations.len(), 1, "{line}");
        assert_eq!(read.summary.problems.len(), 1, "{line}");
        let text = read.summary.problems[0].to_string();
        assert!(text.contains(message), "{text}");
    }
}

#[test]
fn problem_list_is_capped() {
    let input = "REPORT RequestId: r2\tDuration: 1.00 ms\n".repeat(5);
    let options = ReadOptions {
        limits: Limits {
            max_problems: 2,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    let read = read_bytes("app.log", input.as_bytes(), &options).unwrap();
    assert_eq!(read.summary.problem_count, 5);
    assert_eq!(read.summary.problems.len(), 2);
    assert_eq!(read.summary.skipped(SkipReason::InvalidReport), 5);
}

#[test]
fn start_without_report_is_listed() {
    let input = format!("START RequestId: r9 Version: $LATEST\n{REPORT}\n");
    let read = read_bytes("app.log", input.as_bytes(), &ReadOptions::default()).unwrap();
    assert_eq!(read.summary.requests_without_report, ["r9"]);
    assert_eq!(read.invocations.len(), 1);
}

#[test]
fn empty_input_reads_nothing() {
    for input in [&b""[..], b"\n\n  \n"] {
        let read = read_bytes("empty", input, &ReadOptions::default()).unwrap();
        assert!(read.invocations.is_empty());
        assert_eq!(read.summary.records_read, 0);
    }
}
