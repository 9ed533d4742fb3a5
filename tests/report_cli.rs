//! `spanbill report` over a dataset that `spanbill ingest` wrote from real platform logs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

use crate::support;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("collector/tests/data")
        .join(name)
}

fn spanbill() -> Command {
    Command::cargo_bin("spanbill").unwrap()
}

/// Ingests the interleaved tail log (two 600 s timeouts, 1024 MB) and the JSON log format
/// sample (two invocations, 256 MB).
fn dataset() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = spanbill()
        .args(["ingest", "--data-dir"])
        .arg(dir.path())
        .args(["--function", "worker", "--date", "2026-07-01"])
        .arg(corpus(
            "lambda_tail_timeout_status_field_init_billed_interleaved.log",
        ))
        .arg(corpus(
            "lambda_events_jsonlogformat_cold_start_init_billed.jsonl",
        ))
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    dir
}

fn report_json(dir: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let output = spanbill()
        .args(["report", "--format", "json", "--data-dir"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code(), json)
}

#[test]
fn report_totals_match_the_logs() {
    let dir = dataset();
    let (code, json) = report_json(dir.path(), &[]);

    assert_eq!(code, Some(0));
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["totals"]["invocations"], 4);
    // 600 + 600.517 GB-s of the timeouts, 0.4245 + 0.26825 of the JSON log format sample.
    assert_eq!(json["totals"]["gb_seconds"], "1201.20975");
    let worker = &json["functions"]["worker"];
    assert_eq!(worker["invocations"], 2);
    assert_eq!(worker["timeouts"], 2);
    assert_eq!(worker["cost_basis"], "billed");
    let kinds: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"timeouts"), "{kinds:?}");
}

#[test]
fn input_ingested_twice_counts_once() {
    let dir = dataset();
    let again = spanbill()
        .args(["ingest", "--data-dir"])
        .arg(dir.path())
        .arg(corpus(
            "lambda_events_jsonlogformat_cold_start_init_billed.jsonl",
        ))
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");

    let output = spanbill()
        .args(["report", "--format", "json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["totals"]["invocations"], 4);
    assert_eq!(json["totals"]["gb_seconds"], "1201.20975");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("records=2"), "{stderr}");
}

#[test]
fn budget_gate_exits_1() {
    let dir = dataset();
    let (code, json) = report_json(dir.path(), &["--budget", "0.001", "--fail-on", "budget"]);
    assert_eq!(code, Some(1));
    let kinds: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"over_budget"), "{kinds:?}");

    let (code, _) = report_json(dir.path(), &["--budget", "1000000", "--fail-on", "budget"]);
    assert_eq!(code, Some(0));
}

#[test]
fn markdown_has_a_table() {
    let dir = dataset();
    let output = spanbill()
        .args(["report", "--format", "markdown", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("## spanbill report\n"), "{text}");
    assert!(
        text.contains("| function | invocations | GB-s | cost |"),
        "{text}"
    );
    assert!(text.contains("| worker | 2 |"), "{text}");
}

#[test]
fn empty_dataset_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = spanbill()
        .args(["report", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(text.starts_with("error: no invocations in `"), "{text}");
    assert!(
        text.contains("run `spanbill ingest` or `spanbill collect` first"),
        "{text}"
    );
}

#[test]
fn missing_data_dir_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let cases = [
        (dir.path().join("missing"), "does not exist"),
        (file, "is not a directory"),
    ];
    for (path, problem) in cases {
        let output = spanbill()
            .args(["report", "--data-dir"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", path.display());
        let text = String::from_utf8(output.stderr).unwrap();
        assert!(
            text.contains(&format!("data directory `{}` {problem}", path.display())),
            "{text}"
        );
    }
}

#[test]
fn bad_flags_exit_2() {
    let dir = dataset();
    for args in [
        vec!["--since", "7 weeks"],
        vec!["--from", "2026-13-01"],
        vec!["--fail-on", "budget"],
        vec!["--budget", "lots"],
        vec!["--budget=-5"],
    ] {
        let output = spanbill()
            .args(["report", "--data-dir"])
            .arg(dir.path())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let text = String::from_utf8(output.stderr).unwrap();
        assert!(text.starts_with("error: "), "{args:?}: {text}");
    }
}

/// Writes CloudWatch Logs events (`filter-log-events` JSON lines) of `count` updateInventory
/// invocations of `version`, one a minute from `start` (Unix ms), lasting 20 to 120 ms.
/// `slower` stretches the slowest tenth.
fn platform_log(path: &Path, version: &str, start: i64, count: i64, slower: f64) {
    let mut lines = String::new();
    let stream = format!("2026/11/01/[{version}]0f6c2a9e51d34b7c8a1e2f3d4c5b6a79");
    for index in 0..count {
        let at = start + index * 60_000;
        let mut duration = 20.0 + ((index * 7919) % 1000) as f64 / 10.0;
        if duration >= 110.0 {
            duration *= slower;
        }
        let request = format!("5d1e2c3b-0000-4000-8000-{index:012}");
        let events = [
            format!("START RequestId: {request} Version: {version}\n"),
            format!("END RequestId: {request}\n"),
            format!(
                "REPORT RequestId: {request}\tDuration: {duration:.2} ms\tBilled Duration: {} ms\tMemory Size: 1024 MB\tMax Memory Used: 90 MB\t\n",
                duration.ceil()
            ),
        ];
        for (offset, message) in events.iter().enumerate() {
            let event = serde_json::json!({
                "timestamp": at + offset as i64,
                "ingestionTime": at + 500,
                "logStreamName": stream,
                "message": message,
            });
            lines.push_str(&event.to_string());
            lines.push('\n');
        }
    }
    std::fs::write(path, lines).unwrap();
}

/// Ingests 1,000 invocations of `version` on 2026-11-01, or 2026-11-02 when `day` is 2, into
/// a new dataset.
fn version_dataset(version: &str, day: i64, slower: f64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("platform.jsonl");
    // 2026-11-01T00:00:00Z.
    let start = 1_793_491_200_000 + (day - 1) * 86_400_000;
    platform_log(&log, version, start, 1000, slower);
    let output = spanbill()
        .args(["ingest", "--function", "updateInventory", "--data-dir"])
        .arg(dir.path())
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

/// Writes CloudWatch Logs events of one 50 ms invocation per entry of `starts` (Unix ms).
fn invocations_log(path: &Path, starts: &[i64]) {
    let mut lines = String::new();
    for (index, at) in starts.iter().enumerate() {
        let request = format!("7a2b3c4d-0000-4000-8000-{index:012}");
        let events = [
            format!("START RequestId: {request} Version: 1\n"),
            format!("END RequestId: {request}\n"),
            format!(
                "REPORT RequestId: {request}\tDuration: 50.00 ms\tBilled Duration: 50 ms\tMemory Size: 1024 MB\tMax Memory Used: 90 MB\t\n"
            ),
        ];
        for (offset, message) in events.iter().enumerate() {
            let event = serde_json::json!({
                "timestamp": at + offset as i64,
                "ingestionTime": at + 500,
                "logStreamName": "2026/11/01/[1]0f6c2a9e51d34b7c8a1e2f3d4c5b6a79",
                "message": message,
            });
            lines.push_str(&event.to_string());
            lines.push('\n');
        }
    }
    std::fs::write(path, lines).unwrap();
}

#[test]
fn since_hours_is_not_whole_days() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("platform.jsonl");
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let hour_ms = 3_600_000;
    // Before 02:00 UTC the older invocation falls on the previous day. The test still
    // checks that it is excluded, and `window_filters_rows_by_start` in the dataset module
    // checks the filter inside one partition.
    invocations_log(&log, &[now_ms - 2 * hour_ms, now_ms - hour_ms / 2]);
    let output = spanbill()
        .args(["ingest", "--function", "recent", "--data-dir"])
        .arg(dir.path())
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let (code, json) = report_json(dir.path(), &["--since", "1h"]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["totals"]["invocations"], 1, "{json}");
    let (code, json) = report_json(dir.path(), &["--since", "3h"]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["totals"]["invocations"], 2, "{json}");
}

#[test]
fn one_invocation_passes_budget_gate() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("platform.jsonl");
    // 2026-11-01T00:00:00Z.
    invocations_log(&log, &[1_793_491_200_000]);
    let output = spanbill()
        .args(["ingest", "--function", "single", "--data-dir"])
        .arg(dir.path())
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let (code, json) = report_json(dir.path(), &["--fail-on", "budget", "--budget", "1"]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["projected_monthly_usd"], serde_json::Value::Null);
    let note = json["projection_note"].as_str().unwrap_or_default();
    assert!(note.starts_with("the invocations span 0 s"), "{json}");

    // A selected window of a day projects the invocation over the day.
    let (code, json) = report_json(
        dir.path(),
        &[
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-01",
            "--fail-on",
            "budget",
            "--budget",
            "1",
        ],
    );
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["projection_note"], serde_json::Value::Null);
    let projected: f64 = json["projected_monthly_usd"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(projected > 0.0, "{json}");
    assert!(projected < 0.01, "{json}");
}

#[test]
fn from_and_to_times_are_exact() {
    // One invocation a minute from 2026-11-01T00:00:00Z.
    let dir = version_dataset("1", 1, 1.0);
    let (code, json) = report_json(
        dir.path(),
        &[
            "--from",
            "2026-11-01T01:00:00Z",
            "--to",
            "2026-11-01T02:00:00Z",
        ],
    );
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["totals"]["invocations"], 60, "{json}");
    assert_eq!(json["period"]["from"], "2026-11-01T01:00:00Z", "{json}");

    // A date covers its whole day.
    let (code, json) = report_json(dir.path(), &["--from", "2026-11-01", "--to", "2026-11-01"]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["totals"]["invocations"], 1000, "{json}");

    let output = spanbill()
        .args(["report", "--data-dir"])
        .arg(dir.path())
        .args([
            "--from",
            "2026-11-01T02:00:00Z",
            "--to",
            "2026-11-01T01:00:00Z",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.contains("`--from 2026-11-01T02:00:00Z` is not before `--to 2026-11-01T01:00:00Z`"),
        "{text}"
    );
}

#[test]
fn snapshot_then_baseline_gate() {
    let baseline_data = version_dataset("1", 1, 1.0);
    let snapshot = baseline_data.path().join("baseline.json");
    let output = spanbill()
        .args(["snapshot", "--data-dir"])
        .arg(baseline_data.path())
        .arg("--output")
        .arg(&snapshot)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("1 functions and 0 span names from 1000 invocations"),
        "{stderr}"
    );

    let baseline = snapshot.to_str().unwrap();
    let same = version_dataset("1", 2, 1.0);
    let (code, json) = report_json(
        same.path(),
        &["--baseline", baseline, "--fail-on", "regression"],
    );
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["regressions"][0]["verdict"], "no_regression");

    let slower = version_dataset("2", 2, 1.6);
    let (code, json) = report_json(
        slower.path(),
        &["--baseline", baseline, "--fail-on", "regression"],
    );
    assert_eq!(code, Some(1), "{json}");
    let regression = &json["regressions"][0];
    assert_eq!(regression["function"], "updateInventory");
    assert_eq!(regression["verdict"], "regression");
    assert_eq!(regression["current"], "version 2");
    assert!(
        regression["baseline"]
            .as_str()
            .unwrap()
            .ends_with(", version 1"),
        "{regression}"
    );
    assert!(
        json["baseline"]
            .as_str()
            .unwrap()
            .starts_with("baseline snapshot of "),
        "{json}"
    );
}

#[test]
fn config_file_sets_gates() {
    let dir = version_dataset("1", 1, 1.0);
    let config = dir.path().join("spanbill.toml");
    std::fs::write(
        &config,
        "[report]\nbudget_usd = 0.0001\nfail_on = [\"budget\"]\n",
    )
    .unwrap();
    let (code, json) = report_json(dir.path(), &["--config", config.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{json}");

    // A flag overrides the file.
    let (code, _) = report_json(
        dir.path(),
        &["--config", config.to_str().unwrap(), "--budget", "1000000"],
    );
    assert_eq!(code, Some(0));

    std::fs::write(&config, "[latency]\nalpah = 0.01\n").unwrap();
    let output = spanbill()
        .args(["report", "--data-dir"])
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(text.contains("invalid configuration file"), "{text}");
    assert!(text.contains("alpah"), "{text}");
}

#[test]
fn no_top_traces_and_unknown_unit() {
    let dir = version_dataset("1", 1, 1.0);
    let config = dir.path().join("spanbill.toml");
    std::fs::write(
        &config,
        "[report]\ntop_traces = 0\nbusiness_units = [\"orders.craeted\"]\n",
    )
    .unwrap();
    let output = spanbill()
        .args(["report", "--format", "markdown", "--data-dir"])
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));

    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains("Most expensive traces"), "{stdout}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("warning: business unit `orders.craeted` has no counter points"),
        "{stderr}"
    );
}

#[test]
fn out_of_range_settings_exit_2() {
    let dir = dataset();
    let config = dir.path().join("spanbill.toml");
    std::fs::write(&config, "[latency]\nalpha = -1\n").unwrap();
    let output = spanbill()
        .args(["report", "--data-dir"])
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.contains("`latency.alpha` is -1, but it must be greater than 0 and less than 1"),
        "{text}"
    );

    let output = spanbill()
        .args(["report", "--budget=-5", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.contains("invalid budget `-5`: pass an amount of 0 or more USD"),
        "{text}"
    );
}

#[test]
fn bad_baseline_exits_2() {
    let dir = dataset();
    let path = dir.path().join("not-a-snapshot.json");
    std::fs::write(&path, "{}").unwrap();
    let output = spanbill()
        .args(["report", "--data-dir"])
        .arg(dir.path())
        .arg("--baseline")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.contains("is not a spanbill baseline snapshot"),
        "{text}"
    );
}

#[test]
fn negative_baseline_duration_exits_2() {
    let dir = version_dataset("1", 1, 1.0);
    let snapshot = dir.path().join("baseline.json");
    let output = spanbill()
        .args(["snapshot", "--data-dir"])
        .arg(dir.path())
        .arg("--output")
        .arg(&snapshot)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&snapshot).unwrap()).unwrap();
    json["functions"]["updateInventory"]["durations_ms"][0] = serde_json::json!(-5.0);
    std::fs::write(&snapshot, json.to_string()).unwrap();

    let output = spanbill()
        .args(["report", "--data-dir"])
        .arg(dir.path())
        .arg("--baseline")
        .arg(&snapshot)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.contains("`functions.updateInventory.durations_ms[0]` is -5"),
        "{text}"
    );
    assert!(
        text.contains("Write the baseline again with `spanbill snapshot`."),
        "{text}"
    );
}

#[test]
fn html_report_is_written() {
    let dir = version_dataset("1", 1, 1.0);
    let path = dir.path().join("report.html");
    let output = spanbill()
        .args(["report", "--format", "html", "--data-dir"])
        .arg(dir.path())
        .arg("--output")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<h3>updateInventory</h3>"), "{html}");
    // Latency, cost over time and breakdown.
    assert_eq!(html.matches("<svg ").count(), 3, "{html}");
    assert!(html.ends_with("</html>\n"));
}

#[test]
fn corrupt_part_is_named() {
    let dir = version_dataset("1", 1, 1.0);
    let partition = dir.path().join("invocations/date=2026-11-01");
    let part = std::fs::read_dir(&partition)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.extension()
                .is_some_and(|extension| extension == "parquet")
        })
        .unwrap();
    let bytes = std::fs::read(&part).unwrap();
    std::fs::write(&part, &bytes[..bytes.len() / 2]).unwrap();

    let output = spanbill()
        .args(["report", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.contains("failed to read the invocations under"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "`{}` is not a complete Parquet file",
            part.display()
        )),
        "{text}"
    );
}

#[test]
fn corrupt_part_outside_window_is_not_read() {
    let dir = version_dataset("1", 1, 1.0);
    let old = dir.path().join("invocations/date=2020-01-01");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("part-x.parquet"), b"PAR1 not a part").unwrap();

    let output = spanbill()
        .args(["report", "--from", "2026-10-01", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "{text}");

    let output = spanbill()
        .args(["report", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(text.contains("part-x.parquet"), "{text}");
}

#[test]
fn decimal_column_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let partition = dir.path().join("invocations/date=2026-11-01");
    std::fs::create_dir_all(&partition).unwrap();
    let part = partition.join("part-0.parquet");
    // polars, as spanbill builds it, has no DECIMAL type, and DuckDB writes one.
    let copy = format!(
        "import duckdb; duckdb.sql(\"COPY (SELECT 'r-1' AS request_id, \
         CAST(12.5 AS DECIMAL(10, 2)) AS duration_ms) TO '{}' (FORMAT parquet)\")",
        part.display()
    );
    let status = std::process::Command::new(support::python("duckdb"))
        .args(["-c", &copy])
        .status()
        .unwrap();
    assert!(status.success());

    let output = spanbill()
        .args(["report", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.contains("failed to read the invocations under"),
        "{text}"
    );
    assert!(text.contains("Decimal(10, 2)"), "{text}");
    assert!(text.contains("durations as DOUBLE"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}
