//! Rollups built from parts of a dataset and merged give the report of the whole dataset,
//! whichever way the rows are split: the property that lets a day's rollup be kept.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use spanbill_collector::{Invocation, Status, TraceContext};
use spanbill_reports::PriceBook;
use spanbill_reports::downstream::{DownstreamCall, Service};
use spanbill_reports::lambda::LambdaOptions;
use spanbill_reports::report::{Format, ReportSettings, build_rollup, render};
use spanbill_reports::rollup::Rollup;
use spanbill_reports::samples::Samples;
use spanbill_reports::snapshot::Snapshot;
use spanbill_reports::table::Tables;
use spanbill_reports::table::{Shared, TableBuilder};
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

/// Splits the rows at random into `parts` parts, in random order. With `by_day`, the
/// invocations of one day go to one part, as latency samples need.
fn split(
    rng: &mut StdRng,
    invocations: &[Invocation],
    spans: &[TraceSpan],
    (parts, by_day): (usize, bool),
) -> Vec<(Vec<Invocation>, Vec<TraceSpan>)> {
    let mut split = vec![(Vec::new(), Vec::new()); parts];
    let mut days = std::collections::HashMap::new();
    for invocation in invocations {
        let part = match invocation.start {
            Some(start) if by_day => *days
                .entry(start.date())
                .or_insert_with(|| rng.random_range(0..parts)),
            _ => rng.random_range(0..parts),
        };
        split[part].0.push(invocation.clone());
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
        for (invocations, spans) in &split(&mut rng, &invocations, &spans, (parts, true)) {
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
    let durations = series.version_runs("1");
    assert_eq!(durations.len(), 2);
    assert_eq!(durations.kth(0).to_bits(), 20.0_f64.to_bits());
    assert_eq!(durations.kth(1).to_bits(), 30.0_f64.to_bits());
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
        for (invocations, spans) in &split(&mut rng, &invocations, &spans, (parts, false)) {
            merged.merge(Usage::of(&tables(invocations, spans)));
        }
        assert_eq!(merged, whole, "merge of {parts} parts");
    }
}

/// Traces of one to five invocations over two days: queue-triggered passes through one
/// function, failures followed by reruns, SQS sends, and invocations known only by their X-Ray
/// header.
fn traced_dataset(rng: &mut StdRng) -> (Vec<Invocation>, Vec<TraceSpan>) {
    let functions = ["createOrder", "handlePayment", "updateInventory"];
    let mut invocations = Vec::new();
    let mut spans = Vec::new();
    for trace in 0..400_u64 {
        let trace_id = format!("{:032x}", 0xabc0_0000 + trace);
        let start_ns = START_NS + rng.random_range(0..48 * 60) * (HOUR_NS / 60);
        let looping = trace % 9 == 0;
        let failing = trace % 7 == 0;
        for hop in 0..rng.random_range(1..6_i64) {
            let index = invocations.len();
            let function = if looping {
                "handlePayment"
            } else {
                functions[rng.random_range(0..functions.len())]
            };
            let start_ns = start_ns + hop * 90_000_000_000;
            let error = failing && hop == 0;
            let request_id = format!("request-{index}");
            let with_span = rng.random_range(0..6) != 0;
            invocations.push(Invocation {
                request_id: request_id.clone(),
                function: Some(function.to_owned()),
                version: Some(["1", "2"][rng.random_range(0..2)].to_owned()),
                start: Some(
                    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(start_ns)).unwrap(),
                ),
                duration_ms: f64::from(rng.random_range(1..2000_u32)) / 8.0,
                billed_ms: rng.random_range(1..260),
                memory_mb: [128, 1024][rng.random_range(0..2)],
                status: if error {
                    Status::Error
                } else {
                    Status::Success
                },
                init_ms: None,
                cold_start: false,
                // Invocations without a span carry their trace in the X-Ray header.
                trace: (!with_span).then(|| TraceContext {
                    xray_trace_id: String::new(),
                    w3c_trace_id: Some(trace_id.clone()),
                    segment_id: None,
                    parent_id: None,
                    sampled: None,
                }),
                ..template()
            });
            if with_span {
                spans.push(TraceSpan {
                    trace_id: trace_id.clone(),
                    name: function.to_owned(),
                    function: Some(function.to_owned()),
                    version: Some("1".to_owned()),
                    invocation_id: Some(request_id),
                    trigger: (looping || hop > 0).then(|| "pubsub".to_owned()),
                    start_ns,
                    duration_ms: 5.0,
                    error,
                    downstream: None,
                });
            }
            if rng.random_range(0..3) == 0 {
                spans.push(TraceSpan {
                    trace_id: trace_id.clone(),
                    name: "send orders".to_owned(),
                    function: Some(function.to_owned()),
                    version: Some("1".to_owned()),
                    invocation_id: None,
                    trigger: None,
                    start_ns: start_ns + 1_000_000,
                    duration_ms: 2.0,
                    error: false,
                    downstream: Some(DownstreamCall::new(Service::Sqs, Some("send"), 300, 1)),
                });
            }
        }
    }
    (invocations, spans)
}

/// Builds the rollup of each part, telling each which request ids and trace ids the other
/// parts have, and merges them.
fn merged_rollup(parts: &[(Vec<Invocation>, Vec<TraceSpan>)], top: usize) -> Rollup {
    let builders: Vec<TableBuilder> = parts
        .iter()
        .map(|(invocations, spans)| TableBuilder::of_records(invocations, spans))
        .collect();
    let hashes: Vec<(Vec<u64>, Vec<u64>)> = builders.iter().map(TableBuilder::key_hashes).collect();
    // Parts that have each hash.
    let mut owners: std::collections::HashMap<(bool, u64), std::collections::BTreeSet<usize>> =
        std::collections::HashMap::new();
    for (part, (requests, traces)) in hashes.iter().enumerate() {
        for &hash in requests {
            owners.entry((true, hash)).or_default().insert(part);
        }
        for &hash in traces {
            owners.entry((false, hash)).or_default().insert(part);
        }
    }
    let mut merged = Rollup::default();
    for (part, builder) in builders.into_iter().enumerate() {
        let mut shared = Shared {
            place: part as i64,
            ..Shared::default()
        };
        let (requests, traces) = &hashes[part];
        let elsewhere = |key| owners[&key].len() > 1;
        shared
            .requests
            .extend(requests.iter().filter(|&&hash| elsewhere((true, hash))));
        shared
            .traces
            .extend(traces.iter().filter(|&&hash| elsewhere((false, hash))));
        let tables = builder.finish_shared(
            &PriceBook::built_in(),
            LambdaOptions::default(),
            shared.clone(),
        );
        merged.merge(Rollup::of(&tables, &shared, top));
    }
    merged
}

fn report_json(rollup: &Rollup) -> String {
    let settings = ReportSettings {
        top_traces: 8,
        ..ReportSettings::default()
    };
    let mut settings = settings;
    settings.spiral.loop_passes = 3;
    settings.spiral.min_invocations = 5;
    let report = build_rollup(rollup, &[], None, &PriceBook::built_in(), &settings);
    render(&report, Format::Json)
}

#[test]
fn merged_rollups_give_the_whole_report() {
    let mut rng = StdRng::seed_from_u64(11);
    let (invocations, spans) = traced_dataset(&mut rng);
    let whole = Rollup::of(&tables(&invocations, &spans), &Shared::default(), 8);
    let expected = report_json(&whole);
    assert!(expected.contains("recursive_loop"), "{expected}");
    assert!(expected.contains("retry_storm"), "{expected}");
    assert!(expected.contains("\"top\""), "{expected}");

    for parts in [1, 2, 3, 6] {
        let split = split(&mut rng, &invocations, &spans, (parts, true));
        let merged = merged_rollup(&split, 8);
        if parts > 1 {
            assert!(
                !merged.traces.split.is_empty(),
                "{parts} parts share traces"
            );
            assert!(
                !merged.traces.loose.is_empty(),
                "{parts} parts share request ids"
            );
        }
        assert_eq!(report_json(&merged), expected, "merge of {parts} parts");
    }
}

/// Rollups built from rows, and their merges, are consistent. A rollup whose indexes point
/// past its tables, or whose whole traces outnumber its invocations and calls, is not.
#[test]
fn damaged_rollups_are_inconsistent() {
    let mut rng = StdRng::seed_from_u64(12);
    let (invocations, spans) = traced_dataset(&mut rng);
    let whole = Rollup::of(&tables(&invocations, &spans), &Shared::default(), 8);
    assert!(whole.is_consistent());
    let parts = split(&mut rng, &invocations, &spans, (3, true));
    assert!(merged_rollup(&parts, 8).is_consistent());
    assert!(!whole.traces.shapes.is_empty());
    assert!(!whole.usage.calls.is_empty());

    let mut groups = whole.clone();
    groups.usage.groups.pop();
    assert!(!groups.is_consistent());
    let mut calls = whole.clone();
    calls.usage.calls.pop();
    assert!(!calls.is_consistent());
    let mut functions = whole.clone();
    functions.traces.functions.pop();
    assert!(!functions.is_consistent());
    let mut counts = whole.clone();
    for entry in &mut counts.usage.entries {
        entry.invocations = 0;
    }
    for (_, spans) in &mut counts.usage.calls {
        *spans = 0;
    }
    assert!(!counts.is_consistent());
}

/// A snapshot from latency samples, built at once or merged from parts, equals the snapshot
/// from the rows, versions and their order included.
#[test]
fn snapshots_from_samples_equal_the_rows() {
    let mut rng = StdRng::seed_from_u64(13);
    let (invocations, spans) = dataset(&mut rng);
    let created = "2026-11-05T00:00:00Z".to_owned();
    let expected = Snapshot::build(&tables(&invocations, &spans), created.clone());
    assert_eq!(expected.functions["createOrder"].versions.len(), 3);
    assert!(!expected.spans.is_empty());

    let whole = Snapshot::from_samples(&samples(&invocations, &spans), created.clone());
    assert_eq!(whole, expected);
    let parts = split(&mut rng, &invocations, &spans, (3, true));
    let merged = Samples::merge_all(
        parts
            .iter()
            .map(|(invocations, spans)| samples(invocations, spans))
            .collect(),
    );
    assert_eq!(Snapshot::from_samples(&merged, created), expected);
}
