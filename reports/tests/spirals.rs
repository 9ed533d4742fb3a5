//! Cost-spiral and waste checks on invocations read from real platform logs.

use std::path::PathBuf;

use rust_decimal::Decimal;
use spanbill_collector::Invocation;
use spanbill_collector::platform::{ReadOptions, read_file};
use spanbill_reports::PriceBook;
use spanbill_reports::detect::spiral::{
    FindingKind, SpiralSettings, cost_per_invocation_trend, init_share, oversized_memory, timeouts,
};
use spanbill_reports::lambda::LambdaOptions;
use spanbill_reports::table::Tables;
use spanbill_reports::usage::Usage;

fn read(name: &str) -> Vec<Invocation> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let options = ReadOptions {
        function: Some("orders-api".to_owned()),
        date: Some(time::Date::from_calendar_date(2026, time::Month::March, 2).unwrap()),
        ..ReadOptions::default()
    };
    read_file(&path, &options)
        .unwrap_or_else(|error| panic!("{name}: {error}"))
        .invocations
}

fn price(invocations: &[Invocation]) -> Tables {
    Tables::from_records(
        invocations,
        &[],
        &[],
        &PriceBook::built_in(),
        LambdaOptions::default(),
    )
}

/// Returns the first and the last start of the invocations of `tables`.
fn period(tables: &Tables) -> Option<(i64, i64)> {
    let starts = || tables.invocations.iter().filter_map(|row| row.start_ns);
    starts().min().zip(starts().max())
}

/// Sums a cost component over every invocation of `tables`.
fn sum(
    tables: &Tables,
    part: impl Fn(&spanbill_reports::lambda::InvocationCost) -> Decimal,
) -> Decimal {
    tables
        .invocations
        .iter()
        .map(|row| part(tables.cost(row)))
        .sum()
}

#[test]
fn timeouts_billed_in_full_are_reported() {
    let invocations = read("lambda_tail_timeout_status_field_init_billed_interleaved.log");
    let tables = price(&invocations);
    let usage = Usage::of(&tables);
    let findings = timeouts(&usage.price(&PriceBook::built_in(), LambdaOptions::default()));

    assert_eq!(findings.len(), 1);
    let finding = &findings[0];
    assert_eq!(finding.kind, FindingKind::Timeouts);
    assert!(
        finding
            .evidence
            .contains(&("timeouts".to_owned(), "2".to_owned()))
    );
    // 600,000 ms + 600,517 ms, init included as billed and never added again.
    assert!(
        finding
            .evidence
            .contains(&("billed_ms".to_owned(), "1200517".to_owned()))
    );
    let spent = sum(&tables, |cost| cost.total);
    assert_eq!(finding.cost_usd, Some(spent));
}

#[test]
fn init_share_counts_billed_init_only() {
    let invocations = read("lambda_events_jsonlogformat_cold_start_init_billed.jsonl");
    let settings = SpiralSettings::default();
    let usage = Usage::of(&price(&invocations));
    let priced = usage.price(&PriceBook::built_in(), LambdaOptions::default());
    let findings = init_share(&priced, &settings);

    // Same memory size, so the share is 463.512 ms of 1,698 + 1,073 billed ms.
    assert_eq!(findings.len(), 1);
    let share: f64 = findings[0]
        .evidence
        .iter()
        .find(|(name, _)| name == "init_share")
        .map(|(_, value)| value.parse().unwrap())
        .unwrap();
    assert!((share - 463.512 / 2771.0).abs() < 1e-4, "{share}");

    // Before August 2025 INIT was not billed for this runtime, so nothing is reported.
    let old = read("lambda_events_cold_start_init_duration_xray_second_line.jsonl");
    let usage = Usage::of(&price(&old));
    let priced = usage.price(&PriceBook::built_in(), LambdaOptions::default());
    assert!(init_share(&priced, &settings).is_empty());
}

#[test]
fn oversized_memory_is_priced() {
    // The image resizer uses 33 of 1024 MB; 25 such invocations.
    let resizer = read("cloudwatch_subscription_lambda_event_decoded.json");
    assert_eq!(resizer.len(), 1);
    let invocations: Vec<Invocation> = (0..25)
        .map(|i| Invocation {
            request_id: format!("r-{i}"),
            ..resizer[0].clone()
        })
        .collect();
    let tables = price(&invocations);
    let usage = Usage::of(&tables);
    let priced = usage.price(&PriceBook::built_in(), LambdaOptions::default());
    let findings = oversized_memory(&priced, &SpiralSettings::default());

    assert_eq!(findings.len(), 1);
    assert!(
        findings[0]
            .evidence
            .contains(&("recommended_mb".to_owned(), "128".to_owned()))
    );
    let compute = sum(&tables, |cost| cost.compute);
    assert_eq!(findings[0].cost_usd, Some(compute * Decimal::new(875, 3)));
}

#[test]
fn rising_cost_per_invocation_with_flat_traffic() {
    let template = read("cloudwatch_subscription_lambda_event_decoded.json").remove(0);
    // 2026-11-01T00:00:00Z.
    let start = time::OffsetDateTime::from_unix_timestamp(1_793_491_200).unwrap();
    let invocations: Vec<Invocation> = (0..60)
        .map(|i| {
            let mut invocation = template.clone();
            invocation.request_id = format!("r-{i}");
            invocation.start = Some(start + time::Duration::hours(i));
            // The second half bills three times as long.
            invocation.billed_ms = if i < 30 { 100 } else { 300 };
            invocation
        })
        .collect();
    let trend = |invocations: &[Invocation]| {
        let tables = price(invocations);
        let usage = Usage::of(&tables);
        let priced = usage.price(&PriceBook::built_in(), LambdaOptions::default());
        cost_per_invocation_trend(&priced, period(&tables), &SpiralSettings::default())
    };
    let findings = trend(&invocations);

    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].kind, FindingKind::CostPerInvocationRising);
    assert!(
        findings[0]
            .evidence
            .contains(&("invocations_before".to_owned(), "30".to_owned()))
    );

    let steady: Vec<Invocation> = invocations
        .iter()
        .map(|i| Invocation {
            billed_ms: 100,
            ..i.clone()
        })
        .collect();
    assert!(trend(&steady).is_empty());
}
