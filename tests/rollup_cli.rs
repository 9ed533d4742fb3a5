//! Reports from kept rollups over a dataset whose traces and invocations cross midnight. The
//! report read from the rollups equals the report built from the rows, for the whole dataset
//! and for windows that cut a day, before and after more data arrives.

use std::path::Path;

use assert_cmd::Command;
use serde_json::json;
use spanbill_reports::PriceBook;
use spanbill_reports::dataset::{Window, load_tables, load_unit_counts};
use spanbill_reports::lambda::LambdaOptions;
use spanbill_reports::report::{Format, ReportSettings, build_rollup, build_tables, render};
use spanbill_reports::rollup_cache::load_rollup;
use spanbill_reports::snapshot::Snapshot;

/// 2026-11-01T00:00:00Z in ms.
const DAY_TWO_MS: i64 = 1_793_491_200_000;

fn spanbill() -> Command {
    Command::cargo_bin("spanbill").unwrap()
}

fn ingest(data_dir: &Path, function: Option<&str>, file: &Path) {
    let mut command = spanbill();
    command.arg("ingest").arg("--data-dir").arg(data_dir);
    if let Some(function) = function {
        command.args(["--function", function]);
    }
    let output = command.arg(file).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Ingests `file`, whose records have no time, as function `f` on `date`.
fn ingest_on(data_dir: &Path, date: &str, file: &Path) {
    let output = spanbill()
        .args(["ingest", "--function", "f", "--date", date, "--data-dir"])
        .arg(data_dir)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One run of a function in a trace: its request id, start in ms, and whether it failed or
/// was triggered by a queue.
struct Run<'a> {
    trace: String,
    function: &'a str,
    request: String,
    start_ms: i64,
    error: bool,
    from_queue: bool,
}

/// Runs of `count` traces around the midnight that starts `DAY_TWO_MS`, offset by
/// `first`: orders before midnight whose payments loop through a queue past it, failed
/// payments rerun after midnight, and REPORT lines a second later than their spans.
fn runs(first: usize, count: usize, days_later: i64) -> Vec<Run<'static>> {
    let mut runs = Vec::new();
    for trace in first..first + count {
        let trace_id = format!("{:032x}", 0x5eed_0000 + trace);
        let start = DAY_TWO_MS + days_later * 86_400_000 - 120_000 + (trace as i64 % 60) * 1_000;
        let mut number = trace * 100;
        let mut run = |function, offset_ms: i64, error, from_queue| {
            number += 1;
            runs.push(Run {
                trace: trace_id.clone(),
                function,
                request: format!("4d3c2b1a-0000-4000-8000-{number:012}"),
                start_ms: start + offset_ms,
                error,
                from_queue,
            });
        };
        run("createOrder", 0, false, false);
        let passes = if trace % 3 == 0 { 6 } else { 1 };
        for pass in 0..passes {
            run(
                "handlePayment",
                30_000 + pass * 25_000,
                trace % 5 == 0 && pass == 0,
                true,
            );
        }
    }
    runs
}

/// Writes the runs as OTLP/JSON spans and as CloudWatch Logs events per function.
fn write_inputs(
    dir: &Path,
    name: &str,
    runs: &[Run<'_>],
    billed_ms: u32,
) -> Vec<(Option<&'static str>, std::path::PathBuf)> {
    let spans: Vec<serde_json::Value> = runs
        .iter()
        .enumerate()
        .map(|(index, run)| {
            let start_ns = run.start_ms as u64 * 1_000_000;
            let mut attributes =
                vec![json!({"key": "faas.invocation_id", "value": {"stringValue": run.request}})];
            if run.from_queue {
                attributes.push(json!({"key": "faas.trigger", "value": {"stringValue": "pubsub"}}));
            }
            json!({
                "traceId": run.trace,
                "spanId": format!("{:016x}", 0x1000 + index),
                "name": run.function,
                "kind": 2,
                "startTimeUnixNano": start_ns.to_string(),
                "endTimeUnixNano": (start_ns + 40_000_000).to_string(),
                "attributes": attributes,
                "status": {"code": if run.error { 2 } else { 1 }},
                "resourceName": run.function,
            })
        })
        .collect();
    let mut resource_spans = Vec::new();
    for function in ["createOrder", "handlePayment"] {
        let spans: Vec<serde_json::Value> = spans
            .iter()
            .filter(|span| span["resourceName"] == function)
            .map(|span| {
                let mut span = span.clone();
                span.as_object_mut().unwrap().remove("resourceName");
                span
            })
            .collect();
        resource_spans.push(json!({
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": function}},
                {"key": "faas.name", "value": {"stringValue": function}},
            ]},
            "scopeSpans": [{"scope": {"name": "orders"}, "spans": spans}],
        }));
    }
    let traces = dir.join(format!("{name}-traces.json"));
    std::fs::write(
        &traces,
        json!({"resourceSpans": resource_spans}).to_string(),
    )
    .unwrap();

    let mut files = vec![(None, traces)];
    for function in ["createOrder", "handlePayment"] {
        let path = dir.join(format!("{name}-{function}.jsonl"));
        let runs: Vec<&Run<'_>> = runs.iter().filter(|run| run.function == function).collect();
        write_log(&path, &runs, billed_ms);
        files.push((Some(function), path));
    }
    files
}

/// Writes CloudWatch Logs events of the runs, each billed `billed_ms`. The platform logs a
/// second after the span starts.
fn write_log(path: &Path, runs: &[&Run<'_>], billed_ms: u32) {
    let mut lines = String::new();
    for run in runs {
        let at = run.start_ms + 1_000;
        let request = &run.request;
        let messages = [
            format!("START RequestId: {request} Version: 1\n"),
            format!("END RequestId: {request}\n"),
            format!(
                "REPORT RequestId: {request}\tDuration: 40.00 ms\tBilled Duration: {billed_ms} ms\tMemory Size: 512 MB\tMax Memory Used: 90 MB\t\n"
            ),
        ];
        for (offset, message) in messages.iter().enumerate() {
            let event = json!({
                "timestamp": at + offset as i64 * 40,
                "ingestionTime": at + 500,
                "logStreamName": "2026/10/31/[1]0f6c2a9e51d34b7c8a1e2f3d4c5b6a79",
                "message": message,
            });
            lines.push_str(&event.to_string());
            lines.push('\n');
        }
    }
    std::fs::write(path, lines).unwrap();
}

/// Renders the report of `data_dir` within `window` from kept rollups and from the rows.
fn reports(data_dir: &Path, window: Window) -> (String, String) {
    let book = PriceBook::built_in();
    let mut settings = ReportSettings::default();
    settings.spiral.min_invocations = 5;
    let units = load_unit_counts(data_dir, window, None).unwrap();
    let rollup = load_rollup(data_dir, window, 16).unwrap();
    let from_rollups = build_rollup(&rollup, &units, None, &book, &settings);
    let tables = load_tables(data_dir, window, units, &book, LambdaOptions::default()).unwrap();
    let from_rows = build_tables(&tables, None, &book, &settings);
    (
        render(&from_rollups, Format::Json),
        render(&from_rows, Format::Json),
    )
}

/// Returns the baseline snapshot of `data_dir` within `window` from kept rollups and from
/// the rows.
fn snapshots(data_dir: &Path, window: Window) -> (Snapshot, Snapshot) {
    let created = "2026-11-09T00:00:00Z".to_owned();
    let rollup = load_rollup(data_dir, window, 16).unwrap();
    let book = PriceBook::built_in();
    let tables = load_tables(
        data_dir,
        window,
        Vec::new(),
        &book,
        LambdaOptions::default(),
    )
    .unwrap();
    (
        Snapshot::from_samples(&rollup.samples, created.clone()),
        Snapshot::build(&tables, created),
    )
}

/// Checks that the report and the snapshot of each window are the same from kept rollups
/// as from the rows.
fn assert_windows_match(data_dir: &Path, windows: &[Window]) {
    for &window in windows {
        let (rollups, rows) = reports(data_dir, window);
        assert_eq!(rollups, rows, "{window:?}");
        let (kept, read) = snapshots(data_dir, window);
        assert_eq!(kept, read, "{window:?}");
    }
}

#[test]
fn rollups_match_rows_across_midnight() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    for (function, file) in write_inputs(dir.path(), "first", &runs(0, 60, 0), 40) {
        ingest(&data_dir, function, &file);
    }
    let days = std::fs::read_dir(data_dir.join("spans")).unwrap().count();
    assert_eq!(days, 2, "the traces cross midnight");

    let hour = 3_600_000_000_000_i64;
    let midnight = DAY_TWO_MS * 1_000_000;
    let windows = [
        Window::default(),
        // Cuts the second day, whose rest is built from rows.
        Window {
            start_ns: None,
            end_ns: Some(midnight + hour),
        },
        // Only the second day.
        Window {
            start_ns: Some(midnight),
            end_ns: None,
        },
    ];
    assert_windows_match(&data_dir, &windows);
    let (whole, _) = reports(&data_dir, Window::default());
    assert!(whole.contains("\"recursive_loop\""), "{whole}");
    assert!(whole.contains("\"retry_storm\""), "{whole}");
    assert!(data_dir.join("rollups").is_dir());

    // More traces arrive on both days: both rollups are built again.
    for (function, file) in write_inputs(dir.path(), "second", &runs(60, 30, 0), 40) {
        ingest(&data_dir, function, &file);
    }
    assert_windows_match(&data_dir, &windows);
    let (more, _) = reports(&data_dir, Window::default());
    assert_ne!(more, whole);

    // A week later: the timeline turns daily and the halves of the period meet on a day
    // between, so hourly counts are read for that day only. Invocations there bill longer,
    // so cost per invocation rises across the halves.
    for (name, runs) in [("later", runs(90, 40, 7)), ("middle", runs(130, 40, 3))] {
        for (function, file) in write_inputs(dir.path(), name, &runs, 400) {
            ingest(&data_dir, function, &file);
        }
    }
    assert_windows_match(&data_dir, &windows);
    let (later, _) = reports(&data_dir, Window::default());
    assert!(later.contains("\"bucket_seconds\": 86400"), "{later}");
    assert!(later.contains("\"cost_per_invocation_rising\""), "{later}");

    // Damaged or foreign files are built again: a flipped byte, a cut file, and text.
    let days: Vec<_> = std::fs::read_dir(data_dir.join("rollups"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    let mut rollup = std::fs::read(days[0].join("rollup.bin")).unwrap();
    let middle = rollup.len() / 2;
    rollup[middle] ^= 0x40;
    std::fs::write(days[0].join("rollup.bin"), rollup).unwrap();
    let keys = std::fs::read(days[1].join("keys.bin")).unwrap();
    std::fs::write(days[1].join("keys.bin"), &keys[..keys.len() / 3]).unwrap();
    std::fs::write(days[1].join("rollup.bin"), "not a rollup").unwrap();
    std::fs::write(days[2].join("hours.bin"), [0xff_u8; 64]).unwrap();
    assert_windows_match(&data_dir, &windows);

    // The command reads the same rollups.
    let output = spanbill()
        .args(["report", "--format", "json", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn retries_across_midnight_join_in_read_order() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let request = "4d3c2b1a-0000-4000-8000-0000000000a1";
    // Three attempts of one request, each with a span in a trace of its own; the first is
    // before midnight.
    let attempt = |trace: u32, offset_ms: i64, error: bool| Run {
        trace: format!("{trace:032x}"),
        function: "handlePayment",
        request: request.to_owned(),
        start_ms: DAY_TWO_MS + offset_ms,
        error,
        from_queue: true,
    };
    let attempts = [
        attempt(0xa1, -30_000, true),
        attempt(0xa2, 30_000, true),
        attempt(0xa3, 120_000, false),
    ];
    let files = write_inputs(dir.path(), "spans", &attempts, 40);
    ingest(&data_dir, None, &files[0].1);
    // The last attempt's log stream arrives first, and bills longest.
    let last = dir.path().join("last.jsonl");
    write_log(&last, &[&attempts[2]], 3000);
    ingest(&data_dir, Some("handlePayment"), &last);
    for (index, billed_ms) in [(0, 100), (1, 200)] {
        let log = dir.path().join(format!("attempt-{index}.jsonl"));
        write_log(&log, &[&attempts[index]], billed_ms);
        ingest(&data_dir, Some("handlePayment"), &log);
    }
    // Two spans name a request whose record is logged just before midnight: the one listed
    // last starts first.
    let late = |trace: u32, offset_ms: i64| Run {
        trace: format!("{trace:032x}"),
        function: "createOrder",
        request: "4d3c2b1a-0000-4000-8000-0000000000b1".to_owned(),
        start_ms: DAY_TWO_MS + offset_ms,
        error: false,
        from_queue: false,
    };
    let spans = [late(0xbbb1, 500), late(0xbbb2, 100)];
    let files = write_inputs(dir.path(), "late", &spans, 40);
    ingest(&data_dir, None, &files[0].1);
    let record = Run {
        start_ms: DAY_TWO_MS - 1_010,
        ..late(0xbbb1, 0)
    };
    let log = dir.path().join("late.jsonl");
    write_log(&log, &[&record], 40);
    ingest(&data_dir, Some("createOrder"), &log);

    let (rollups, rows) = reports(&data_dir, Window::default());
    assert_eq!(rollups, rows);
    let (kept, _) = reports(&data_dir, Window::default());
    assert_eq!(kept, rows);
}

#[test]
fn records_repeated_on_several_days_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    // A REPORT line without a time, ingested for three days, as from a cumulative log.
    let log = dir.path().join("app.log");
    std::fs::write(
        &log,
        "REPORT RequestId: 3f1d4a9e-8e7c-4c55-9d2b-0d6f1e2a7b10\tDuration: 133.61 ms\t\
         Billed Duration: 214 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\t\
         Init Duration: 80.00 ms\t\n",
    )
    .unwrap();
    for date in ["2026-10-31", "2026-11-01", "2026-11-02"] {
        ingest_on(&data_dir, date, &log);
    }

    let (rollups, rows) = reports(&data_dir, Window::default());
    assert_eq!(rollups, rows);
    assert!(rows.contains("\"invocations\": 1,"), "{rows}");
    let (kept, _) = reports(&data_dir, Window::default());
    assert_eq!(kept, rows);
}

/// A day's lost hourly counts are counted again with the ids that the day's rollup kept
/// apart. Here a record without a start repeats a request id of the day before, at a memory
/// size of its own, so counting it would give the day's usage groups other numbers.
#[test]
fn lost_hourly_counts_match_the_rollup() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let request = |number: usize| format!("3f1d4a9e-8e7c-4c55-9d2b-{number:012x}");
    let run = |number: usize, start_ms: i64| Run {
        trace: String::new(),
        function: "f",
        request: request(number),
        start_ms,
        error: false,
        from_queue: false,
    };
    // Six invocations an hour before midnight, one of them the shared request, and six an
    // hour after.
    let before: Vec<Run<'_>> = (0..6)
        .map(|number| run(number, DAY_TWO_MS - 3_600_000 + number as i64 * 60_000))
        .collect();
    let after: Vec<Run<'_>> = (10..16)
        .map(|number| run(number, DAY_TWO_MS + 3_600_000 + number as i64 * 60_000))
        .collect();
    for (name, runs) in [("before.log", &before), ("after.log", &after)] {
        let path = dir.path().join(name);
        write_log(&path, &runs.iter().collect::<Vec<_>>(), 41);
        ingest(&data_dir, Some("f"), &path);
    }
    let log = dir.path().join("app.log");
    std::fs::write(
        &log,
        format!(
            "REPORT RequestId: {}\tDuration: 44.00 ms\tBilled Duration: 45 ms\t\
             Memory Size: 3008 MB\tMax Memory Used: 70 MB\t\n",
            request(0)
        ),
    )
    .unwrap();
    ingest_on(&data_dir, "2026-11-01", &log);

    let (rollups, rows) = reports(&data_dir, Window::default());
    assert_eq!(rollups, rows);
    let hours = data_dir.join("rollups/date=2026-11-01/hours.bin");
    std::fs::remove_file(&hours).unwrap();
    let (recounted, _) = reports(&data_dir, Window::default());
    assert_eq!(recounted, rows);
    assert!(hours.exists(), "the recounted hours are kept");
    let (kept, _) = reports(&data_dir, Window::default());
    assert_eq!(kept, rows);
}
