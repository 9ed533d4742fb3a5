//! `spanbill collect` against real clients: the OpenTelemetry Python SDK over OTLP/HTTP and
//! OTLP/gRPC, the OpenTelemetry JS SDK over OTLP/HTTP JSON, DuckDB reading the dataset,
//! crashes by SIGKILL, and bad requests.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use spanbill_collector::store::{DateRange, Table, scan};
use support::{Collector, free_ports};

use crate::support;

const PYTHON_PACKAGES: &str = "opentelemetry-sdk==1.45.1 \
    opentelemetry-exporter-otlp-proto-http==1.45.1 opentelemetry-exporter-otlp-proto-grpc==1.45.1 \
    opentelemetry-proto==1.45.1 duckdb";

/// Returns the test virtualenv's Python, or fails naming the fix.
fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv-test/bin/python");
    let probe = Command::new(&python)
        .args([
            "-c",
            "import duckdb, opentelemetry.exporter.otlp.proto.http, \
             opentelemetry.exporter.otlp.proto.grpc, opentelemetry.proto",
        ])
        .output();
    match probe {
        Ok(output) if output.status.success() => python,
        _ => panic!(
            "the Python test environment is missing or incomplete at `{}`: run `scripts/test.sh`, \
             or `.venv-test/bin/pip install {PYTHON_PACKAGES}`",
            python.display()
        ),
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

/// Returns the directory of the Node.js test client, after checking that `node` runs and
/// that its npm packages are installed, or fails naming the fix.
fn node_client() -> PathBuf {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    let version = Command::new("node").arg("--version").output();
    assert!(
        version.is_ok_and(|output| output.status.success()),
        "`node` (Node.js 20.6 or later) is missing from PATH"
    );
    assert!(
        directory
            .join("node_modules/@opentelemetry/sdk-trace-base")
            .is_dir(),
        "the OpenTelemetry JS packages are missing from `{}`: run `scripts/test.sh`, or \
         `npm ci` in that directory",
        directory.display()
    );
    directory
}

/// An HTTP response: status, headers with lowercase names, and the body as text.
struct Response {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

/// Sends one HTTP/1.1 request and returns the response.
fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // A server may respond and close before reading a large body, which is not a failure.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let headers = lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body,
    }
}

fn span_names_from_duckdb(python: &Path, data_dir: &Path) -> serde_json::Value {
    let output = Command::new(python)
        .arg(script("read_duckdb.py"))
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn python_sdk_exports_land_in_dataset() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path());

    let output = Command::new(&python)
        .arg(script("export_sdk.py"))
        .arg(collector.http_endpoint())
        .arg(format!("127.0.0.1:{}", collector.grpc))
        .arg("25")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python exporter failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = collector.terminate();
    assert!(log.contains("collector listening"), "{log}");
    assert!(log.contains("collector stopped"), "{log}");
    assert!(log.contains(" spans=50 "), "{log}");

    let read = span_names_from_duckdb(&python, dir.path());
    let spans = read["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 50);
    for transport in ["http", "grpc"] {
        for index in 0..25 {
            let name = format!("{transport}-span-{index}");
            let matching: Vec<_> = spans
                .iter()
                .filter(|span| span[0] == name.as_str())
                .collect();
            assert_eq!(matching.len(), 1, "{name}");
            assert_eq!(matching[0][1], format!("python-{transport}").as_str());
        }
    }
    // The SDK exports the cumulative counter at flush and again at shutdown.
    let metrics = read["metrics"].as_array().unwrap();
    for transport in ["http", "grpc"] {
        let service = format!("python-{transport}");
        let points: Vec<_> = metrics
            .iter()
            .filter(|metric| metric[2] == service.as_str())
            .collect();
        assert!(!points.is_empty(), "no metric point from {service}");
        for point in points {
            assert_eq!(point[0], "orders.created");
            assert_eq!(point[1], 25);
        }
    }
}

/// Reads the span and metric rows of the dataset with DuckDB.
fn rows_from_duckdb(python: &Path, data_dir: &Path) -> serde_json::Value {
    let output = Command::new(python)
        .arg(script("read_rows.py"))
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Reads the span rows of the dataset with spanbill's own scan, keyed by span id.
fn spans_from_scan(data_dir: &Path) -> HashMap<String, serde_json::Value> {
    let frame = scan(data_dir, Table::Spans, DateRange::default())
        .unwrap()
        .expect("no span parts in the dataset")
        .collect()
        .unwrap();
    let text = |name: &str| -> Vec<Option<String>> {
        let column = frame.column(name).unwrap().str().unwrap();
        (0..column.len())
            .map(|row| column.get(row).map(str::to_owned))
            .collect()
    };
    let columns: Vec<_> = [
        "trace_id",
        "span_id",
        "parent_span_id",
        "name",
        "service_name",
        "attributes",
    ]
    .into_iter()
    .map(|name| (name, text(name)))
    .collect();
    let mut spans = HashMap::new();
    for row in 0..frame.height() {
        let mut span = serde_json::Map::new();
        for (name, values) in &columns {
            span.insert((*name).to_owned(), values[row].clone().into());
        }
        let span_id = span["span_id"].as_str().unwrap().to_owned();
        assert!(
            spans.insert(span_id.clone(), span.into()).is_none(),
            "span {span_id} stored twice"
        );
    }
    spans
}

#[test]
fn node_sdk_json_exports_land_in_dataset() {
    let python = python();
    let node_directory = node_client();
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path());

    let output = Command::new("node")
        .arg("export_sdk.mjs")
        .arg(collector.http_endpoint())
        .arg("10")
        .current_dir(&node_directory)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node exporter failed: {stderr}");
    // The SDK's diagnostic logger writes every failed export to standard error.
    assert!(stderr.is_empty(), "node exporter logged: {stderr}");
    let sent: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    // The hand-written request went out chunked, without a length, and was stored.
    let chunked = &sent["chunked"];
    assert_eq!(chunked["transferEncoding"], "chunked");
    assert_eq!(chunked["contentLength"], serde_json::Value::Null);
    assert_eq!(chunked["status"], 200, "{chunked}");
    assert_eq!(chunked["body"], "{}");

    let log = collector.terminate();
    assert!(log.contains(" spans=21 "), "{log}");
    assert!(log.contains("metric_points=4 "), "{log}");
    assert!(log.contains("rejected_items=0 bad_requests=0 "), "{log}");

    let sent_spans = sent["spans"].as_array().unwrap();
    assert_eq!(sent_spans.len(), 20);
    let scanned = spans_from_scan(dir.path());
    assert_eq!(scanned.len(), 21);
    let read = rows_from_duckdb(&python, dir.path());
    let duckdb_spans: HashMap<String, &serde_json::Value> = read["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|span| (span["span_id"].as_str().unwrap().to_owned(), span))
        .collect();
    assert_eq!(duckdb_spans.len(), 21);

    for sent_span in sent_spans {
        check_node_span(sent_span, &scanned, &duckdb_spans);
    }

    let chunked_span = &scanned["eee19b7ec3c1b174"];
    assert_eq!(chunked_span["trace_id"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(chunked_span["name"], "node-chunked-span");
    assert_eq!(chunked_span["service_name"], "node-chunked");
    assert_eq!(
        chunked_span["attributes"],
        r#"{"http.request.body.chunked":true}"#
    );

    check_node_metrics(read["metrics"].as_array().unwrap());
}

/// Checks the metric points that the JS SDK sent, as DuckDB reads them.
fn check_node_metrics(metrics: &[serde_json::Value]) {
    // The metrics exporter sends the cumulative points at flush and again at shutdown, gzip
    // compressed. The counter counts 10 orders, and the histogram has the values 10 to 19.
    assert_eq!(metrics.len(), 4);
    for point in metrics {
        assert_eq!(point["service_name"], "node-http-json");
        assert_eq!(point["attributes"], r#"{"order.channel":"web"}"#);
        match point["name"].as_str().unwrap() {
            "orders.created" => {
                assert_eq!(point["kind"], "sum");
                assert_eq!(point["unit"], "{order}");
                assert_eq!(point["value_int"], 10);
            }
            "order.value" => {
                assert_eq!(point["kind"], "histogram");
                assert_eq!(point["unit"], "USD");
                assert_eq!(point["count"], 10);
                assert_eq!(point["sum"], 145.0);
            }
            other => panic!("unexpected metric {other}"),
        }
    }
}

/// Checks one span that the JS SDK sent against spanbill's scan and DuckDB's reading.
fn check_node_span(
    sent_span: &serde_json::Value,
    scanned: &HashMap<String, serde_json::Value>,
    duckdb_spans: &HashMap<String, &serde_json::Value>,
) {
    let span_id = sent_span["spanId"].as_str().unwrap();
    let name = sent_span["name"].as_str().unwrap();
    let stored = &scanned[span_id];
    let parent = match sent_span["parentSpanId"].as_str().unwrap() {
        "" => serde_json::Value::Null,
        parent => parent.into(),
    };
    assert_eq!(stored["trace_id"], sent_span["traceId"], "{name}");
    assert_eq!(stored["parent_span_id"], parent, "{name}");
    assert_eq!(stored["name"], name);
    assert_eq!(stored["service_name"], "node-http-json", "{name}");

    let attributes: serde_json::Value =
        serde_json::from_str(stored["attributes"].as_str().unwrap()).unwrap();
    if let Some(index) = name.strip_prefix("node-span-") {
        let index: i64 = index.parse().unwrap();
        let expected = serde_json::json!({
            "faas.invocation_id": format!("node-{index}"),
            "order.items": index,
            "order.express": index % 2 == 0,
            "order.total": index as f64 + 0.25,
        });
        assert_eq!(attributes, expected, "{name}");
    } else {
        assert!(name.starts_with("node-child-"), "{name}");
        assert_eq!(attributes, serde_json::json!({}), "{name}");
    }

    // DuckDB reads the same values from the same files.
    let duckdb_span = duckdb_spans[span_id];
    for column in [
        "trace_id",
        "parent_span_id",
        "name",
        "service_name",
        "attributes",
    ] {
        assert_eq!(duckdb_span[column], stored[column], "{name}: {column}");
    }
    assert_eq!(duckdb_span["service_version"], "4.5.6", "{name}");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output.stdout
}

/// One row of the bad-input table: a request and the status it must get.
struct BadInput {
    name: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
    expected_status: u16,
}

impl BadInput {
    fn new(
        name: &'static str,
        headers: &[(&'static str, &'static str)],
        body: Vec<u8>,
        expected_status: u16,
    ) -> Self {
        Self {
            name,
            headers: headers.to_vec(),
            body,
            expected_status,
        }
    }
}

/// Checks the partial-success body of the bad-input case `name` that rejects spans.
fn check_partial_success(name: &str, body: &str) {
    if !matches!(name, "id of wrong length" | "span ending before start") {
        return;
    }
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "2", "{name}");
    let message = body["partialSuccess"]["errorMessage"].as_str().unwrap();
    // The message names the first span rejected for each reason.
    if name == "id of wrong length" {
        assert!(message.contains("expected 8 bytes"), "{message}");
        assert!(
            message.contains("(first: span id b6398f586e9f4f)"),
            "{message}"
        );
    } else {
        assert_eq!(
            message,
            "2 rejected: end time before start time (first: span id b6398f586e9f4fe4)"
        );
    }
}

#[test]
fn bad_requests_get_otlp_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let (http, grpc) = free_ports();
    let collector = Collector::start_on(
        dir.path(),
        http,
        grpc,
        &[
            "--max-body-bytes",
            "65536",
            "--max-decompressed-bytes",
            "1048576",
        ],
    );
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("collector/tests/data");
    let protobuf = std::fs::read(corpus.join("otlp_protobuf_traces_export_request.binpb")).unwrap();
    let json = std::fs::read(corpus.join("otlp_json_traces_twin_of_protobuf_sample.json")).unwrap();
    let json_text = String::from_utf8(json.clone()).unwrap();
    let bomb = gzip(&vec![b' '; 16 << 20]);
    let short_id = json_text.replace("b6398f586e9f4fe4", "b6398f586e9f4f");
    let negative = json_text.replace("\"endTimeUnixNano\"", "\"ignoredEnd\"");

    let protobuf_type = ("Content-Type", "application/x-protobuf");
    let json_type = ("Content-Type", "application/json");
    let gzip_encoding = ("Content-Encoding", "gzip");
    let cases = [
        BadInput::new(
            "truncated protobuf",
            &[protobuf_type],
            protobuf[..100].to_vec(),
            400,
        ),
        BadInput::new(
            "invalid JSON",
            &[json_type],
            b"{\"resourceSpans\": [".to_vec(),
            400,
        ),
        BadInput::new(
            "wrong content type",
            &[("Content-Type", "text/plain")],
            json,
            415,
        ),
        BadInput::new("oversized body", &[json_type], vec![b' '; 100_000], 413),
        BadInput::new("gzip bomb", &[json_type, gzip_encoding], bomb, 413),
        BadInput::new(
            "invalid UTF-8",
            &[json_type],
            b"{\"resourceSpans\": \"\xff\xfe\"}".to_vec(),
            400,
        ),
        BadInput::new(
            "id of wrong length",
            &[json_type],
            short_id.into_bytes(),
            200,
        ),
        BadInput::new(
            "span ending before start",
            &[json_type],
            negative.into_bytes(),
            200,
        ),
        BadInput::new("valid protobuf", &[protobuf_type], protobuf.clone(), 200),
        BadInput::new(
            "valid gzip protobuf",
            &[protobuf_type, gzip_encoding],
            gzip(&protobuf),
            200,
        ),
    ];
    for case in &cases {
        let response = post(collector.http, "/v1/traces", &case.headers, &case.body);
        assert_eq!(response.status, case.expected_status, "{}", case.name);
        check_partial_success(case.name, &response.body);
        if case.name == "valid protobuf" {
            assert_eq!(response.headers["content-type"], "application/x-protobuf");
        }
    }

    // GET on an OTLP path is not allowed.
    let mut stream = TcpStream::connect(("127.0.0.1", collector.http)).unwrap();
    stream
        .write_all(b"GET /v1/traces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 405"), "{response}");

    let log = collector.terminate();
    // Two valid requests of two spans each are stored. The short id and the missing end
    // time each reject both spans of their request: the short id is also the child's parent.
    assert!(log.contains(" spans=4 "), "{log}");
    assert!(log.contains("rejected_items=4 "), "{log}");
    assert!(log.contains("bad_requests=6 "), "{log}");
}

fn acknowledged_ids(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn sigkill_loses_no_acknowledged_span() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let ack_file = dir.path().join("acks");
    let stop_file = dir.path().join("stop");
    let (http, grpc) = free_ports();
    // Flushes every 30 ms write small parts, which the collector merges, so the kills also
    // land in flushes and merges.
    let flush_often = ["--flush-interval-ms", "30"];
    let mut collector = Collector::start_on(&data_dir, http, grpc, &flush_often);
    let mut client = Command::new(&python)
        .arg(script("send_until_stopped.py"))
        .arg(collector.http_endpoint())
        .arg(&ack_file)
        .arg(&stop_file)
        .spawn()
        .unwrap();

    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(400 + 150 * round));
        collector.kill();
        collector = Collector::start_on(&data_dir, http, grpc, &flush_often);
    }
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&stop_file, b"").unwrap();
    assert!(client.wait().unwrap().success());
    collector.terminate();

    let acknowledged = acknowledged_ids(&ack_file);
    assert!(
        acknowledged.len() > 100,
        "only {} spans acknowledged",
        acknowledged.len()
    );
    let merged_parts = std::fs::read_dir(data_dir.join("spans"))
        .unwrap()
        .flat_map(|partition| std::fs::read_dir(partition.unwrap().path()).unwrap())
        .filter(|part| {
            let name = part.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with("-merged.parquet")
        })
        .count();
    assert!(merged_parts > 0, "no small parts were merged");
    let output = Command::new(&python)
        .args([
            "-c",
            "import duckdb, sys; print('\\n'.join(r[0] for r in duckdb.sql(\
             f\"select span_id from read_parquet('{sys.argv[1]}/spans/*/*.parquet')\").fetchall()))",
        ])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut stored: HashMap<String, usize> = HashMap::new();
    for id in String::from_utf8(output.stdout).unwrap().lines() {
        *stored.entry(id.to_owned()).or_insert(0) += 1;
    }
    for id in &acknowledged {
        assert_eq!(stored.get(id), Some(&1), "acknowledged span {id}");
    }
    let duplicates = stored.values().filter(|&&count| count > 1).count();
    assert_eq!(duplicates, 0);
}

#[test]
fn telemetry_api_batch_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path());
    let batch = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("collector/tests/data/telemetry_api_batch_on_demand_cold_start_full.json"),
    )
    .unwrap();
    let response = post(
        collector.http,
        "/telemetry",
        &[("Content-Type", "application/json")],
        &batch,
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let log = collector.terminate();
    assert!(log.contains(" invocations=1 "), "{log}");

    let partitions: Vec<_> = std::fs::read_dir(dir.path().join("invocations"))
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(partitions, vec!["date=2024-02-09".to_owned()]);
}
