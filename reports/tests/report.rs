//! Building a report from invocation records: figures, the version a regression came with,
//! and spiral findings.

use spanbill_collector::Invocation;
use spanbill_reports::PriceBook;
use spanbill_reports::detect::latency::Verdict;
use spanbill_reports::report::{Format, Inputs, ReportSettings, build, render};
use spanbill_reports::traces::TraceSpan;
use support::template;

use crate::support;

/// 1,000 invocations of version 1, then 1,000 of version 2 whose slowest 10% take 60%
/// longer, one a minute.
fn two_versions() -> Vec<Invocation> {
    let base = template();
    // 2026-11-01T00:00:00Z.
    let start = time::OffsetDateTime::from_unix_timestamp(1_793_491_200).unwrap();
    (0..2000)
        .map(|i| {
            let second_version = i >= 1000;
            // A fixed scramble of 20 to 120 ms, the same spread in every hour.
            let mut duration = 20.0 + f64::from((i * 7919) % 1000) / 10.0;
            if second_version && duration >= 110.0 {
                duration *= 1.6;
            }
            Invocation {
                request_id: format!("r-{i}"),
                function: Some("updateInventory".to_owned()),
                version: Some(if second_version { "2" } else { "1" }.to_owned()),
                start: Some(start + time::Duration::minutes(i64::from(i))),
                duration_ms: duration,
                billed_ms: duration.ceil() as u64,
                ..base.clone()
            }
        })
        .collect()
}

#[test]
fn regression_names_the_versions() {
    let invocations = two_versions();
    let report = build(
        &Inputs {
            invocations: &invocations,
            ..Inputs::default()
        },
        &PriceBook::built_in(),
        &ReportSettings::default(),
    );

    assert_eq!(report.totals.invocations, 2000);
    assert_eq!(report.regressions.len(), 1);
    let regression = &report.regressions[0];
    assert_eq!(regression.baseline, "version 1");
    assert_eq!(regression.current, "version 2");
    assert_eq!(regression.comparison.verdict, Verdict::Regression);
    assert!(report.has_regression());
    assert!(!report.has_spiral());

    // The hourly p95 series shifts when version 2 starts, 1,000 minutes in.
    assert_eq!(report.shifts.len(), 1, "{:?}", report.shifts);
    let shift = &report.shifts[0];
    assert_eq!(shift.version.as_deref(), Some("2"));
    assert_eq!(shift.at, "2026-11-01T17:00:00Z");
    assert!(shift.change.relative_change > 0.3, "{shift:?}");
}

#[test]
fn loop_hops_make_a_spiral() {
    let invocations = two_versions();
    let spans: Vec<TraceSpan> = (0..16)
        .map(|pass| TraceSpan {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
            name: "handlePayment".to_owned(),
            function: Some("handlePayment".to_owned()),
            version: Some("2".to_owned()),
            invocation_id: Some(format!("loop-{pass}")),
            trigger: Some("pubsub".to_owned()),
            start_ns: i64::from(pass) * 1_000_000_000,
            duration_ms: 5.0,
            error: false,
            downstream: None,
        })
        .collect();
    let report = build(
        &Inputs {
            invocations: &invocations,
            spans: &spans,
            ..Inputs::default()
        },
        &PriceBook::built_in(),
        &ReportSettings::default(),
    );

    assert!(report.has_spiral());
    let markdown = render(&report, Format::Markdown);
    assert!(markdown.contains("**recursive_loop**: handlePayment re-enters itself through a queue: trace 4bf92f3577b34da6a3ce929d0e0e4736 passes through it 16 times"), "{markdown}");
    assert!(
        markdown.contains("`updateInventory`: **REGRESSION**: version 2 vs version 1"),
        "{markdown}"
    );
}
