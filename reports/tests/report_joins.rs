//! Reports that join invocations with spans and KPI counts: cost per trace and per order,
//! downstream calls, retry storms, span latencies, baseline snapshots and the HTML page.

use rust_decimal::Decimal;
use spanbill_collector::Invocation;
use spanbill_reports::PriceBook;
use spanbill_reports::detect::latency::Verdict;
use spanbill_reports::detect::spiral::FindingKind;
use spanbill_reports::downstream::{DownstreamCall, Service};
use spanbill_reports::lambda::LambdaOptions;
use spanbill_reports::report::{Format, Inputs, Report, ReportSettings, build, render};
use spanbill_reports::snapshot::{Snapshot, SnapshotError};
use spanbill_reports::table::Tables;
use spanbill_reports::traces::{TraceSpan, UnitCount};
use support::template;

use crate::support;

/// 2026-11-01T00:00:00Z in nanoseconds.
const START_NS: i64 = 1_793_491_200_000_000_000;
const MINUTE_NS: i64 = 60_000_000_000;
const HOUR_NS: i64 = 60 * MINUTE_NS;

fn invocation(index: usize, function: &str, version: &str, duration_ms: f64) -> Invocation {
    Invocation {
        request_id: format!("{function}-{index}"),
        function: Some(function.to_owned()),
        version: Some(version.to_owned()),
        start: Some(
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(
                START_NS + index as i64 * MINUTE_NS,
            ))
            .unwrap(),
        ),
        duration_ms,
        billed_ms: duration_ms.ceil() as u64,
        init_ms: None,
        cold_start: false,
        trace: None,
        ..template()
    }
}

fn span(trace: &str, function: &str, name: &str, invocation: Option<&str>) -> TraceSpan {
    TraceSpan {
        trace_id: trace.to_owned(),
        name: name.to_owned(),
        function: Some(function.to_owned()),
        version: Some("1".to_owned()),
        invocation_id: invocation.map(str::to_owned),
        trigger: invocation.map(|_| "pubsub".to_owned()),
        start_ns: START_NS,
        duration_ms: 1.0,
        error: false,
        downstream: None,
    }
}

fn report(inputs: &Inputs<'_>) -> Report {
    build(inputs, &PriceBook::built_in(), &ReportSettings::default())
}

#[test]
fn trace_cost_joins_spans_by_request_id() {
    let invocations = vec![
        invocation(0, "createOrder", "1", 100.0),
        invocation(1, "handlePayment", "1", 200.0),
        invocation(2, "createOrder", "1", 100.0),
    ];
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut send = span(trace, "createOrder", "send orders", None);
    send.downstream = Some(DownstreamCall::new(Service::Sqs, Some("send"), 100, 1));
    let spans = vec![
        span(trace, "createOrder", "createOrder", Some("createOrder-0")),
        span(
            trace,
            "handlePayment",
            "handlePayment",
            Some("handlePayment-1"),
        ),
        send,
        span(
            "00000000000000000000000000000002",
            "createOrder",
            "createOrder",
            Some("createOrder-2"),
        ),
    ];
    let report = report(&Inputs {
        invocations: &invocations,
        spans: &spans,
        ..Inputs::default()
    });

    let traces = report.traces.clone().expect("trace costs");
    assert_eq!(traces.traces, 2);
    let top = &traces.top[0];
    assert_eq!(top.trace_id, trace);
    assert_eq!(top.invocations, 2);
    assert_eq!(top.downstream_calls, 1);
    assert_eq!(top.functions["createOrder"], 1);
    assert_eq!(top.functions["handlePayment"], 1);
    let lambda = report.functions["createOrder"].cost_usd / Decimal::from(2)
        + report.functions["handlePayment"].cost_usd;
    assert_eq!(top.lambda_usd, lambda);
    // One SQS request at $0.40 per million.
    assert_eq!(top.downstream_usd, "0.0000004".parse::<Decimal>().unwrap());
    assert_eq!(top.cost_usd, lambda + top.downstream_usd);

    assert_eq!(report.downstream.len(), 1);
    assert_eq!(report.downstream[0].service, "sqs");
    assert_eq!(report.downstream[0].calls, 1);

    let table = render(&report, Format::Table { color: false });
    assert!(table.contains("most expensive traces:"), "{table}");
    assert!(table.contains("downstream sqs: 1 calls"), "{table}");
}

#[test]
fn cost_per_order_divides_whole_spend() {
    let invocations: Vec<Invocation> = (0..40)
        .map(|index| invocation(index, "createOrder", "1", 50.0))
        .collect();
    let units = vec![
        UnitCount {
            name: "orders.created".to_owned(),
            time_ns: START_NS,
            units: 30.0,
        },
        UnitCount {
            name: "orders.created".to_owned(),
            time_ns: START_NS + 30 * MINUTE_NS,
            units: 10.0,
        },
    ];
    let report = report(&Inputs {
        invocations: &invocations,
        units: &units,
        ..Inputs::default()
    });

    assert_eq!(report.units.len(), 1);
    let unit = &report.units[0];
    assert_eq!(unit.kpi, "orders.created");
    assert_eq!(unit.units, 40);
    assert_eq!(unit.total, report.totals.cost_usd);
    assert_eq!(
        unit.per_unit,
        Some(report.totals.cost_usd / Decimal::from(40))
    );
    let json = render(&report, Format::Json);
    assert!(json.contains("\"kpi\": \"orders.created\""), "{json}");
}

#[test]
fn cost_per_order_rising_is_a_spiral() {
    // The same spend in both halves, but half the orders in the second. The halves split
    // at an hour boundary, so the rows are an hour apart.
    let invocations: Vec<Invocation> = (0..200)
        .map(|index| {
            let mut invocation = invocation(index, "createOrder", "1", 50.0);
            invocation.start = Some(
                time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(
                    START_NS + index as i64 * HOUR_NS,
                ))
                .unwrap(),
            );
            invocation
        })
        .collect();
    let units: Vec<UnitCount> = (0..200)
        .filter(|index| *index < 100 || index % 2 == 0)
        .map(|index| UnitCount {
            name: "orders.created".to_owned(),
            time_ns: START_NS + i64::from(index) * HOUR_NS,
            units: 1.0,
        })
        .collect();
    let report = report(&Inputs {
        invocations: &invocations,
        units: &units,
        ..Inputs::default()
    });

    let finding = report
        .findings
        .iter()
        .find(|finding| finding.kind == FindingKind::CostPerUnitRising)
        .expect("a cost-per-unit finding");
    assert!(
        finding
            .summary
            .starts_with("cost per orders.created rose 10"),
        "{}",
        finding.summary
    );
    assert!(report.has_spiral());
}

#[test]
fn reruns_after_failure_are_a_retry_storm() {
    let mut invocations = Vec::new();
    let mut spans = Vec::new();
    for order in 0..100 {
        let trace = format!("{order:032x}");
        let first = format!("updateInventory-{order}");
        invocations.push(invocation(order, "updateInventory", "1", 40.0));
        let mut run = span(&trace, "updateInventory", "updateInventory", Some(&first));
        // Every tenth order fails twice before it goes through.
        if order % 10 == 0 {
            run.error = true;
            spans.push(run);
            for attempt in 1..=2 {
                let id = format!("updateInventory-{}", 1000 + order * 2 + attempt);
                invocations.push(invocation(
                    1000 + order * 2 + attempt,
                    "updateInventory",
                    "1",
                    40.0,
                ));
                let mut rerun = span(&trace, "updateInventory", "updateInventory", Some(&id));
                rerun.start_ns = START_NS + attempt as i64 * MINUTE_NS;
                rerun.error = attempt == 1;
                spans.push(rerun);
            }
        } else {
            spans.push(run);
        }
    }
    let report = report(&Inputs {
        invocations: &invocations,
        spans: &spans,
        ..Inputs::default()
    });

    let finding = report
        .findings
        .iter()
        .find(|finding| finding.kind == FindingKind::RetryStorm)
        .expect("a retry storm");
    assert_eq!(finding.function.as_deref(), Some("updateInventory"));
    assert!(
        finding
            .evidence
            .contains(&("reruns".to_owned(), "20".to_owned())),
        "{finding:?}"
    );
    assert!(
        finding
            .evidence
            .contains(&("invocations".to_owned(), "120".to_owned())),
        "{finding:?}"
    );
    let per_invocation = report.functions["updateInventory"].cost_usd / Decimal::from(120);
    assert_eq!(finding.cost_usd, Some(per_invocation * Decimal::from(20)));
    assert!(report.has_spiral());
}

/// Spans named `UPDATE stock` in updateInventory: version 2 makes the slowest tenth 60%
/// slower, as a lost index would for large orders.
fn stock_spans(count: usize) -> Vec<TraceSpan> {
    (0..count)
        .map(|index| {
            let second = index >= count / 2;
            let mut duration = 2.0 + ((index * 7919) % 1000) as f64 / 100.0;
            if second && duration >= 11.0 {
                duration *= 1.6;
            }
            TraceSpan {
                version: Some(if second { "2" } else { "1" }.to_owned()),
                start_ns: START_NS + index as i64 * MINUTE_NS,
                duration_ms: duration,
                ..span(
                    &format!("{index:032x}"),
                    "updateInventory",
                    "UPDATE stock",
                    None,
                )
            }
        })
        .collect()
}

#[test]
fn span_latency_compared_per_version() {
    let invocations = vec![invocation(0, "updateInventory", "1", 40.0)];
    let spans = stock_spans(2000);
    let report = report(&Inputs {
        invocations: &invocations,
        spans: &spans,
        ..Inputs::default()
    });

    let regression = report
        .regressions
        .iter()
        .find(|regression| regression.span.is_some())
        .expect("a span comparison");
    assert_eq!(regression.function, "updateInventory");
    assert_eq!(regression.span.as_deref(), Some("UPDATE stock"));
    assert_eq!(regression.baseline, "version 1");
    assert_eq!(regression.current, "version 2");
    assert_eq!(regression.comparison.verdict, Verdict::Regression);
    let markdown = render(&report, Format::Markdown);
    assert!(
        markdown.contains("`updateInventory / UPDATE stock`: **REGRESSION**"),
        "{markdown}"
    );
}

/// Invocations with a fixed spread of 20 to 120 ms; `slower` stretches the slowest tenth.
fn window(offset: usize, version: &str, slower: f64) -> Vec<Invocation> {
    (0..1000)
        .map(|index| {
            let mut duration = 20.0 + ((index * 7919) % 1000) as f64 / 10.0;
            if duration >= 110.0 {
                duration *= slower;
            }
            invocation(offset + index, "updateInventory", version, duration)
        })
        .collect()
}

#[test]
fn baseline_snapshot_flags_slower_window() {
    let baseline = window(0, "1", 1.0);
    let tables = Tables::from_records(
        &baseline,
        &[],
        &[],
        &PriceBook::built_in(),
        LambdaOptions::default(),
    );
    let snapshot = Snapshot::build(&tables, "2026-11-01T00:00:00Z".to_owned());
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("baseline.json");
    snapshot.write(&path).unwrap();
    let snapshot = Snapshot::read(&path).unwrap();
    assert_eq!(snapshot.functions["updateInventory"].count, 1000);
    assert_eq!(snapshot.functions["updateInventory"].versions, vec!["1"]);

    // The same code a day later: no regression.
    let same = window(1440, "1", 1.0);
    let report_same = report(&Inputs {
        invocations: &same,
        baseline: Some(&snapshot),
        ..Inputs::default()
    });
    assert_eq!(report_same.regressions.len(), 1);
    assert_eq!(
        report_same.regressions[0].comparison.verdict,
        Verdict::NoRegression
    );
    assert!(!report_same.has_regression());

    // A slower release: a regression against the snapshot, without version 1 in the window.
    let slower = window(1440, "2", 1.6);
    let report_slower = report(&Inputs {
        invocations: &slower,
        baseline: Some(&snapshot),
        ..Inputs::default()
    });
    let regression = &report_slower.regressions[0];
    assert_eq!(
        regression.baseline,
        "baseline of 2026-11-01T00:00:00Z, version 1"
    );
    assert_eq!(regression.current, "version 2");
    assert_eq!(regression.comparison.verdict, Verdict::Regression);
    let table = render(&report_slower, Format::Table { color: false });
    assert!(
        table.contains("compared with the baseline snapshot of 2026-11-01T00:00:00Z"),
        "{table}"
    );
}

#[test]
fn snapshot_of_other_version_rejected() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("baseline.json");
    std::fs::write(&path, r#"{"snapshot_version": 9, "functions": {}}"#).unwrap();
    let error = Snapshot::read(&path).unwrap_err();
    assert!(
        matches!(error, SnapshotError::Version { found: 9, .. }),
        "{error}"
    );

    std::fs::write(&path, "not json").unwrap();
    let message = Snapshot::read(&path).unwrap_err().to_string();
    assert!(
        message.contains("is not a spanbill baseline snapshot"),
        "{message}"
    );
    assert!(message.contains("spanbill snapshot --output"), "{message}");
}

#[test]
fn html_page_has_charts_and_escapes_names() {
    let mut invocations = window(0, "1", 1.0);
    invocations.extend(window(1000, "2", 1.6));
    for invocation in invocations.iter_mut().step_by(3) {
        invocation.function = Some("<script>alert(1)</script>".to_owned());
    }
    let report = report(&Inputs {
        invocations: &invocations,
        ..Inputs::default()
    });
    let html = render(&report, Format::Html);

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        !html.contains("<script>"),
        "a function name reached the page unescaped"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // A latency chart per function, a cost chart and the breakdown.
    assert_eq!(html.matches("<svg ").count(), 4, "{html}");
    // Three percentile lines per latency chart and one cost line per function.
    assert_eq!(html.matches("<polyline ").count(), 2 * 3 + 2);
    assert!(html.contains("REGRESSION"));
    assert!(
        !html.contains("src="),
        "the page loads nothing from elsewhere"
    );
}
