//! `spanbill report` over a dataset that `spanbill ingest` wrote from real platform logs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

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
fn bad_flags_exit_2() {
    let dir = dataset();
    for args in [
        vec!["--since", "7 weeks"],
        vec!["--from", "2026-13-01"],
        vec!["--fail-on", "budget"],
        vec!["--budget", "lots"],
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
