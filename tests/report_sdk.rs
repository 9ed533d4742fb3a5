//! `spanbill report` on what a function instrumented with the OpenTelemetry Python SDK sent
//! through `spanbill collect`: spans and a counter over OTLP/HTTP, and platform reports
//! through the Telemetry API endpoint. The figures are checked against values computed from
//! the durations the script used.

use std::path::Path;
use std::process::Command;

use rust_decimal::Decimal;
use support::Collector;

use crate::support;

/// Invocations the script plays.
const COUNT: u64 = 40;

fn decimal(value: &serde_json::Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {value}"))
        .parse()
        .unwrap()
}

#[test]
fn report_prices_python_sdk_traces() {
    let python = support::python("opentelemetry.exporter.otlp.proto.http");
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path());
    let output = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/checkout_function.py"))
        .arg(collector.http_endpoint())
        .arg(COUNT.to_string())
        .output()
        .unwrap();
    let log = collector.terminate();
    assert!(
        output.status.success(),
        "the Python function failed: {}\ncollector log: {log}",
        String::from_utf8_lossy(&output.stderr)
    );
    let trace_ids: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(trace_ids.len(), COUNT as usize);

    // The counter is in the Python SDK's own scope, so the configuration names it.
    let config = dir.path().join("spanbill.toml");
    std::fs::write(
        &config,
        "[report]\nbusiness_units = [\"orders.created\"]\ntop_traces = 3\n",
    )
    .unwrap();
    let report = Command::new(env!("CARGO_BIN_EXE_spanbill"))
        .args(["report", "--format", "json", "--data-dir"])
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();

    // Lambda: 512 MB for 51 + i ms, x86_64 assumed, at $0.0000166667 per GB-s and
    // $0.20 per million requests.
    let gb_second_price: Decimal = "0.0000166667".parse().unwrap();
    let request_price: Decimal = "0.0000002".parse().unwrap();
    let lambda_cost = |index: u64| {
        Decimal::from(51 + index) / Decimal::from(1000) * Decimal::new(5, 1) * gb_second_price
            + request_price
    };
    let gb_seconds: Decimal = (0..COUNT)
        .map(|index| Decimal::from(51 + index) / Decimal::from(2000))
        .sum();
    let function = &json["functions"]["checkout"];
    assert_eq!(function["invocations"], COUNT);
    assert_eq!(decimal(&function["gb_seconds"]), gb_seconds);
    assert_eq!(function["cost_basis"], "billed");
    let lambda_total: Decimal = (0..COUNT).map(lambda_cost).sum();
    assert_eq!(decimal(&function["cost_usd"]), lambda_total);

    // Each trace: one invocation, one SQS send ($0.40 per million) and one API Gateway
    // HTTP API request ($1.00 per million).
    let downstream_per_trace: Decimal = "0.0000014".parse().unwrap();
    let traces = &json["traces"];
    assert_eq!(traces["traces"], COUNT);
    let top = traces["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    for (rank, trace) in top.iter().enumerate() {
        let index = COUNT - 1 - rank as u64;
        assert_eq!(trace["trace_id"], trace_ids[index as usize].as_str());
        assert_eq!(trace["invocations"], 1);
        assert_eq!(trace["downstream_calls"], 2);
        assert_eq!(decimal(&trace["lambda_usd"]), lambda_cost(index));
        assert_eq!(
            decimal(&trace["cost_usd"]),
            lambda_cost(index) + downstream_per_trace
        );
    }

    let downstream = json["downstream"].as_array().unwrap();
    let service = |name: &str| {
        downstream
            .iter()
            .find(|service| service["service"] == name)
            .unwrap_or_else(|| panic!("no {name} in {downstream:?}"))
    };
    assert_eq!(service("sqs")["calls"], COUNT);
    assert_eq!(service("apigateway-http")["calls"], COUNT);

    let unit = &json["business_units"][0];
    assert_eq!(unit["kpi"], "orders.created");
    assert_eq!(unit["units"], COUNT);
    let whole = lambda_total + downstream_per_trace * Decimal::from(COUNT);
    assert_eq!(decimal(&unit["total_usd"]), whole);
    assert_eq!(decimal(&unit["per_unit_usd"]), whole / Decimal::from(COUNT));
}
