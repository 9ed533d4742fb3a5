//! `spanbill ingest`: format detection, the summary and the dataset it writes.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("collector/tests/data")
        .join(name)
}

fn parts(dir: &Path, table: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(partitions) = std::fs::read_dir(dir.join(table)) else {
        return found;
    };
    for partition in partitions.flatten() {
        for entry in std::fs::read_dir(partition.path()).unwrap().flatten() {
            found.push(entry.path());
        }
    }
    found
}

#[test]
fn ingest_detects_formats_and_writes_parts() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::cargo_bin("spanbill")
        .unwrap()
        .arg("ingest")
        .arg("--data-dir")
        .arg(dir.path())
        .arg(corpus("otlp_protobuf_traces_export_request.binpb.gz"))
        .arg(corpus(
            "otlp_json_metrics_exponential_histogram_int64_precision_no_value_flag.json",
        ))
        .arg(corpus(
            "lambda_samlogs_snapstart_restore_duration_odd_memory.log",
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("OTLP protobuf traces, 2 records read, 2 stored, 0 rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OTLP JSON metrics, 5 records read, 5 stored"),
        "{stdout}"
    );
    assert!(stdout.contains("4 stored"), "{stdout}");
    assert!(stdout.contains("total: 3 files"), "{stdout}");

    let span_parts = parts(dir.path(), "spans");
    assert_eq!(span_parts.len(), 1, "{span_parts:?}");
    assert!(span_parts[0].to_string_lossy().contains("/date="));
    assert_eq!(parts(dir.path(), "metrics").len(), 1);
    assert_eq!(parts(dir.path(), "invocations").len(), 1);
    let segments: Vec<_> = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(
        segments.is_empty(),
        "log segments are deleted once parts are durable: {segments:?}"
    );
}

#[test]
fn ingest_stdin_and_unreadable_file() {
    let dir = tempfile::tempdir().unwrap();
    let json = std::fs::read(corpus("otlp_json_traces_twin_of_protobuf_sample.json")).unwrap();
    let output = Command::cargo_bin("spanbill")
        .unwrap()
        .arg("ingest")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("-")
        .arg(dir.path().join("missing.log"))
        .write_stdin(json)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stdout.contains("-: OTLP JSON traces, 2 records read, 2 stored"),
        "{stdout}"
    );
    assert!(stderr.contains("missing.log"), "{stderr}");
    assert_eq!(parts(dir.path(), "spans").len(), 1);
}

#[test]
fn byte_order_mark_and_unreadable_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut json = b"\xef\xbb\xbf".to_vec();
    json.extend(std::fs::read(corpus("otlp_json_traces_twin_of_protobuf_sample.json")).unwrap());
    let bom = dir.path().join("bom.json");
    std::fs::write(&bom, json).unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "started the deploy\nall good\n").unwrap();

    let output = Command::cargo_bin("spanbill")
        .unwrap()
        .args(["ingest", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg(&bom)
        .arg(&notes)
        .output()
        .unwrap();

    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("bom.json: OTLP JSON traces, 2 records read, 2 stored"),
        "{stdout}"
    );
    assert!(
        stdout.contains("notes.txt: platform log, text lines, 2 records read, 0 stored"),
        "{stdout}"
    );
    assert!(stdout.contains("warning: `"), "{stdout}");
    assert!(stdout.contains("notes.txt` holds no records"), "{stdout}");
    assert!(!stdout.contains("bom.json` holds no records"), "{stdout}");
}

#[test]
fn ingest_rejects_bad_date_flag() {
    let output = Command::cargo_bin("spanbill")
        .unwrap()
        .args(["ingest", "--date", "05/07/2024", "x.log"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("invalid `--date 05/07/2024`"), "{stderr}");
}

#[test]
fn date_flag_files_records_without_time() {
    let dir = tempfile::tempdir().unwrap();
    let report = "REPORT RequestId: 5c1e7d2a-1111-2222-3333-444455556666\tDuration: 12.34 ms\t\
                  Billed Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t\n";
    let output = Command::cargo_bin("spanbill")
        .unwrap()
        .args([
            "ingest",
            "--function",
            "f1",
            "--date",
            "2026-12-01",
            "--data-dir",
        ])
        .arg(dir.path())
        .arg("-")
        .write_stdin(report)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stored = parts(dir.path(), "invocations");
    assert_eq!(stored.len(), 1, "{stored:?}");
    let partition = stored[0].parent().unwrap().file_name().unwrap();
    assert_eq!(partition, "date=2026-12-01");
}

#[test]
fn ingest_rejected_records_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let json =
        std::fs::read_to_string(corpus("otlp_json_traces_twin_of_protobuf_sample.json")).unwrap();
    // A 7-byte span id is invalid, and that span is also the other span's parent, so both
    // spans of this file are rejected.
    let short_id = json.replace("b6398f586e9f4fe4", "b6398f586e9f4f");
    assert_ne!(short_id, json);

    let output = Command::cargo_bin("spanbill")
        .unwrap()
        .arg("ingest")
        .arg("--data-dir")
        .arg(dir.path())
        .arg(corpus("otlp_protobuf_traces_export_request.binpb.gz"))
        .arg("-")
        .write_stdin(short_id)
        .output()
        .unwrap();

    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(3), "{stdout}{stderr}");
    assert!(
        stdout.contains("-: OTLP JSON traces, 2 records read, 0 stored, 2 rejected"),
        "{stdout}"
    );
    assert!(stdout.contains("expected 8 bytes, found 7"), "{stdout}");
    assert!(
        stdout.contains("total: 2 files, 4 records read, 2 stored, 2 rejected"),
        "{stdout}"
    );
    assert!(stderr.is_empty(), "{stderr}");

    // The valid file's spans are stored all the same.
    assert_eq!(parts(dir.path(), "spans").len(), 1);
}
