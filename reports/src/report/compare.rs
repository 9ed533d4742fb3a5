//! Latency comparisons of a report: per function and per span name, between the two latest
//! versions in the window or against a baseline snapshot, and change points in the hourly
//! p95 series.

use std::collections::BTreeMap;

use super::{LatencyShift, Regression};
use crate::detect::change_point::{ChangePointSettings, change_points};
use crate::detect::latency::{self, LatencySettings};
use crate::detect::select_quantile;
use crate::snapshot::SeriesSnapshot;
use crate::table::Tables;

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

/// One duration with the version that produced it, in start order.
pub(super) struct Sample<'a> {
    pub(super) version: Option<&'a str>,
    pub(super) duration_ms: f64,
}

/// Returns the durations of a function's invocations, given its rows in start order.
pub(super) fn function_samples<'t>(tables: &'t Tables, rows: &[u32]) -> Vec<Sample<'t>> {
    rows.iter()
        .map(|&row| {
            let row = &tables.invocations[row as usize];
            Sample {
                version: tables.version(row.version),
                duration_ms: row.duration_ms,
            }
        })
        .collect()
}

/// Returns the durations of each span name inside each function, in start order. Spans of
/// whole invocations are left out, because the function series covers them.
pub(super) fn span_samples(tables: &Tables) -> BTreeMap<(&str, &str), Vec<Sample<'_>>> {
    // Sorting (start, index) pairs keeps spans that start together in table order, as a
    // stable sort by start would, without reading each span's row at every comparison.
    let mut ordered: Vec<(i64, u32)> = tables
        .spans
        .iter()
        .enumerate()
        .filter(|(_, span)| !span.is_invocation && span.function.is_some())
        .map(|(index, span)| (span.start_ns, index as u32))
        .collect();
    ordered.sort_unstable();
    let mut series: foldhash::HashMap<(u32, u32), Vec<Sample<'_>>> = foldhash::HashMap::default();
    for (_, index) in ordered {
        let span = &tables.spans[index as usize];
        let Some(function) = span.function else {
            continue;
        };
        series
            .entry((function, span.name))
            .or_default()
            .push(Sample {
                version: tables.version(span.version),
                duration_ms: span.duration_ms,
            });
    }
    series
        .into_iter()
        .map(|((function, name), samples)| {
            (
                (tables.function(function), tables.span_names.get(name)),
                samples,
            )
        })
        .collect()
}

fn version_of<'a>(sample: &Sample<'a>) -> &'a str {
    sample.version.unwrap_or("$LATEST")
}

/// Compares the latest version in `samples` with the version before it; `None` when the
/// window has one version.
///
/// A window with one version has no deploy to compare. Its two halves would differ by time
/// of day and machine load as much as by code, so they are not compared.
pub(super) fn between_versions(
    function: &str,
    span: Option<&str>,
    samples: &[Sample<'_>],
    settings: &LatencySettings,
) -> Option<Regression> {
    let mut versions: Vec<&str> = Vec::new();
    for sample in samples {
        let version = version_of(sample);
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    let [.., previous, latest] = versions.as_slice() else {
        return None;
    };
    let durations = |version: &str| -> Vec<f64> {
        samples
            .iter()
            .filter(|sample| version_of(sample) == version)
            .map(|sample| sample.duration_ms)
            .collect()
    };
    let baseline = durations(previous);
    let current = durations(latest);
    if baseline.is_empty() || current.is_empty() {
        return None;
    }
    Some(Regression {
        function: function.to_owned(),
        span: span.map(str::to_owned),
        baseline: format!("version {previous}"),
        current: format!("version {latest}"),
        comparison: latency::compare(&baseline, &current, settings),
    })
}

/// Compares the latest version in `samples` with a baseline snapshot of the same series.
pub(super) fn against_snapshot(
    function: &str,
    span: Option<&str>,
    samples: &[Sample<'_>],
    baseline: &SeriesSnapshot,
    created: &str,
    settings: &LatencySettings,
) -> Option<Regression> {
    let latest = samples.last()?.version;
    let current: Vec<f64> = samples
        .iter()
        .filter(|sample| sample.version == latest)
        .map(|sample| sample.duration_ms)
        .collect();
    let baseline_versions = if baseline.versions.is_empty() {
        String::new()
    } else {
        format!(", version {}", baseline.versions.join(", "))
    };
    Some(Regression {
        function: function.to_owned(),
        span: span.map(str::to_owned),
        baseline: format!("baseline of {created}{baseline_versions}"),
        current: latest.map_or_else(
            || "window".to_owned(),
            |version| format!("version {version}"),
        ),
        comparison: latency::compare(&baseline.durations_ms, &current, settings),
    })
}

/// Invocations an hour needs for its p95 to count in the series.
const MIN_PER_HOUR: usize = 5;

/// Finds change points in the hourly p95 of a function's durations, and names the version
/// that ran at the end of the first hour after each.
pub(super) fn latency_shifts(
    function: &str,
    tables: &Tables,
    rows: &[u32],
    settings: &ChangePointSettings,
) -> Vec<LatencyShift> {
    // `rows` are in start order, so each hour's rows are contiguous.
    let mut hours: Vec<(i64, &[u32])> = Vec::new();
    let started = rows
        .iter()
        .position(|&row| tables.invocations[row as usize].start_ns.is_some())
        .unwrap_or(rows.len());
    let mut rest = &rows[started..];
    while let Some(&first) = rest.first() {
        let hour_of = |row: u32| {
            tables.invocations[row as usize]
                .start_ns
                .unwrap_or_default()
                .div_euclid(NANOS_PER_HOUR)
        };
        let hour = hour_of(first);
        let end = rest.partition_point(|&row| hour_of(row) <= hour);
        hours.push((hour, &rest[..end]));
        rest = &rest[end..];
    }
    let hours: Vec<(i64, &[u32])> = hours
        .into_iter()
        .filter(|(_, members)| members.len() >= MIN_PER_HOUR)
        .collect();
    let series: Vec<f64> = hours
        .iter()
        .map(|(_, members)| {
            let mut durations: Vec<f64> = members
                .iter()
                .map(|&row| tables.invocations[row as usize].duration_ms)
                .collect();
            select_quantile(&mut durations, 0.95)
        })
        .collect();

    change_points(&series, settings)
        .into_iter()
        .map(|change| {
            let (hour, members) = hours[change.index];
            let at = time::OffsetDateTime::from_unix_timestamp(hour * 3600)
                .ok()
                .and_then(|at| {
                    at.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            // The version of the hour's last invocation: a deploy within the hour shows there.
            let version = members
                .iter()
                .max_by_key(|&&row| tables.invocations[row as usize].start_ns)
                .and_then(|&row| tables.version(tables.invocations[row as usize].version))
                .map(str::to_owned);
            LatencyShift {
                function: function.to_owned(),
                at,
                version,
                change,
            }
        })
        .collect()
}
