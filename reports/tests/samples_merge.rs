//! Latency samples built from parts of a dataset and merged equal the samples of the whole,
//! whichever way the rows are split: the property that lets a day's samples be kept.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use spanbill_collector::Invocation;
use spanbill_reports::PriceBook;
use spanbill_reports::downstream::{DownstreamCall, Service};
use spanbill_reports::lambda::LambdaOptions;
use spanbill_reports::samples::Samples;
use spanbill_reports::table::Tables;
use spanbill_reports::traces::TraceSpan;
use spanbill_reports::usage::Usage;

use crate::support::template;

/// 2026-11-01T00:00:00Z in nanoseconds.
const START_NS: i64 = 1_793_491_200_000_000_000;
const HOUR_NS: i64 = 3_600_000_000_000;

/// Rows over three days, with repeated durations and starts, rows without a start or a
/// version, and spans of two names.
fn dataset(rng: &mut StdRng) -> (Vec<Invocation>, Vec<TraceSpan>) {
    let functions = ["createOrder", "handlePayment", "updateInventory"];
    let versions = [None, Some("1"), Some("2"), Some("$LATEST")];
    let mut invocations = Vec::new();
    let mut spans = Vec::new();
    for index in 0..1500 {
        let function = functions[rng.random_range(0..functions.len())];
        let version = versions[rng.random_range(0..versions.len())];
        // A coarse grid of starts gives rows that start together.
        let start_ns = START_NS + rng.random_range(0..72 * 60) * (HOUR_NS / 60);
        let start = (rng.random_range(0..20) != 0).then(|| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(start_ns)).unwrap()
        });
        let duration_ms = f64::from(rng.random_range(1..400_u32)) / 4.0;
        invocations.push(Invocation {
            request_id: format!("request-{index}"),
            function: Some(function.to_owned()),
            version: version.map(str::to_owned),
            start,
            duration_ms,
            billed_ms: duration_ms.ceil() as u64,
            init_ms: None,
            cold_start: false,
            trace: None,
            ..template()
        });
        if rng.random_range(0..3) == 0 {
            spans.push(TraceSpan {
                trace_id: format!("{index:032x}"),
                name: ["send orders", "query stock"][rng.random_range(0..2)].to_owned(),
                function: Some(function.to_owned()),
                version: version.map(str::to_owned),
                invocation_id: None,
                trigger: None,
                start_ns,
                duration_ms: f64::from(rng.random_range(1..50_u32)) / 2.0,
                error: false,
                downstream: (index % 2 == 0).then(|| {
                    DownstreamCall::new(Service::Sqs, Some("send"), 100 * (index % 3) as u64, 1)
                }),
            });
        }
    }
    (invocations, spans)
}

fn tables(invocations: &[Invocation], spans: &[TraceSpan]) -> Tables {
    Tables::from_records(
        invocations,
        spans,
        &[],
        &PriceBook::built_in(),
        LambdaOptions::default(),
    )
}

fn samples(invocations: &[Invocation], spans: &[TraceSpan]) -> Samples {
    Samples::of(&tables(invocations, spans))
}

/// Splits the rows at random into `parts` parts, in random order.
fn split(
    rng: &mut StdRng,
    invocations: &[Invocation],
    spans: &[TraceSpan],
    parts: usize,
) -> Vec<(Vec<Invocation>, Vec<TraceSpan>)> {
    let mut split = vec![(Vec::new(), Vec::new()); parts];
    for invocation in invocations {
        split[rng.random_range(0..parts)].0.push(invocation.clone());
    }
    for span in spans {
        split[rng.random_range(0..parts)].1.push(span.clone());
    }
    split.shuffle(rng);
    split
}

#[test]
fn merged_samples_equal_the_whole() {
    let mut rng = StdRng::seed_from_u64(9);
    let (invocations, spans) = dataset(&mut rng);
    let whole = samples(&invocations, &spans);
    assert_eq!(whole.functions().count(), 3);
    assert_eq!(whole.spans().count(), 6);

    for parts in [2, 3, 7] {
        // Each row goes to a random part, so parts share series, versions and hours.
        let mut merged = Samples::default();
        for (invocations, spans) in &split(&mut rng, &invocations, &spans, parts) {
            merged.merge(samples(invocations, spans));
        }
        assert_eq!(merged, whole, "merge of {parts} parts");
    }
}

#[test]
fn versions_order_by_first_start() {
    let at = |hours: i64| {
        Some(
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(START_NS + hours * HOUR_NS))
                .unwrap(),
        )
    };
    let row = |version: &str, start, duration_ms| Invocation {
        function: Some("createOrder".to_owned()),
        version: Some(version.to_owned()),
        start,
        duration_ms,
        ..template()
    };
    let invocations = [
        row("2", at(5), 10.0),
        row("1", at(1), 20.0),
        row("1", at(6), 30.0),
        row("3", at(3), 40.0),
    ];
    let samples = samples(&invocations, &[]);
    let (_, series) = samples.functions().next().unwrap();
    assert_eq!(series.versions_in_order(), ["1", "3", "2"]);
    assert_eq!(series.latest_version(), Some(Some("1")));
    assert_eq!(series.version_durations("1"), [20.0, 30.0]);
    assert_eq!(series.hours().len(), 4);
    assert_eq!(series.percentiles()[0].to_bits(), 25.0_f64.to_bits());
}

#[test]
fn merged_usage_equals_the_whole() {
    let mut rng = StdRng::seed_from_u64(4);
    let (mut invocations, spans) = dataset(&mut rng);
    for (index, invocation) in invocations.iter_mut().enumerate() {
        invocation.memory_mb = [128, 512, 1024][index % 3];
        invocation.cold_start = index % 7 == 0;
        invocation.init_ms = invocation.cold_start.then_some(150.25);
        invocation.max_memory_used_mb = (index % 90) as u32;
    }
    let whole = Usage::of(&tables(&invocations, &spans));
    assert_eq!(whole.functions.len(), 3);
    assert!(whole.entries.len() > 100, "{}", whole.entries.len());
    assert_eq!(whole.calls.len(), 3);

    for parts in [2, 5] {
        let mut merged = Usage::default();
        for (invocations, spans) in &split(&mut rng, &invocations, &spans, parts) {
            merged.merge(Usage::of(&tables(invocations, spans)));
        }
        assert_eq!(merged, whole, "merge of {parts} parts");
    }
}
