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

/// Builds the report of `invocations` with a budget of $1 and the window `window_ns`.
fn budget_report(
    invocations: &[Invocation],
    window_ns: Option<(i64, i64)>,
) -> spanbill_reports::report::Report {
    build(
        &Inputs {
            invocations,
            ..Inputs::default()
        },
        &PriceBook::built_in(),
        &ReportSettings {
            budget: Some(1.into()),
            window_ns,
            ..ReportSettings::default()
        },
    )
}

#[test]
fn projection_needs_an_hour_of_data() {
    let mut invocations = two_versions();
    invocations.truncate(1);
    // An invocation without a start time adds cost but no time.
    invocations.push(Invocation {
        request_id: "no-start".to_owned(),
        start: None,
        ..invocations[0].clone()
    });
    let report = budget_report(&invocations, None);

    assert_eq!(report.projected_monthly_usd, None);
    let note = report.projection_note.as_deref().unwrap_or_default();
    assert!(
        note.starts_with("the invocations span 0 s, shorter than the 1 h minimum"),
        "{note}"
    );
    assert!(!report.over_budget());
    let text = render(&report, Format::Table { color: false });
    assert!(
        text.contains("projected monthly Lambda spend: none, because the invocations span 0 s"),
        "{text}"
    );
}

#[test]
fn projection_needs_an_hour_of_window() {
    let invocations = two_versions();
    let start = invocations[0].start.unwrap().unix_timestamp_nanos() as i64;
    let report = budget_report(&invocations, Some((start, start + 1_800_000_000_000)));

    assert_eq!(report.projected_monthly_usd, None);
    let note = report.projection_note.as_deref().unwrap_or_default();
    assert!(
        note.starts_with("the window covers 30 min, shorter than the 1 h minimum"),
        "{note}"
    );
    assert!(!report.over_budget());
}

#[test]
fn projection_scales_the_window() {
    let invocations = two_versions();
    let start = invocations[0].start.unwrap().unix_timestamp_nanos() as i64;
    // The invocation starts span 1,999 minutes, and the window is 4,000 minutes.
    let by_data = budget_report(&invocations, None);
    let by_window = budget_report(&invocations, Some((start, start + 240_000_000_000_000)));

    assert_eq!(by_data.projection_note, None);
    assert_eq!(by_window.projection_note, None);
    let by_data: f64 = by_data.projected_monthly_usd.unwrap().try_into().unwrap();
    let by_window: f64 = by_window.projected_monthly_usd.unwrap().try_into().unwrap();
    let ratio = by_window / by_data;
    assert!(
        (ratio - 1999.0 / 4000.0).abs() < 1e-3,
        "{by_window} / {by_data}"
    );
}
