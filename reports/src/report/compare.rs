//! Latency comparisons of a report: per function and per span name, between the two latest
//! versions in the window or against a baseline snapshot, and change points in the hourly
//! p95 series.

use super::{LatencyShift, Regression};
use crate::detect::change_point::{ChangePointSettings, change_points};
use crate::detect::latency::{self, LatencySettings};
use crate::detect::{SortedRuns, sorted_view};
use crate::samples::Series;
use crate::snapshot::SeriesSnapshot;

/// Compares the latest version in `series` with the version before it. Returns `None` when
/// the window has one version.
///
/// A window with one version has no deploy to compare. Its two halves would differ by time
/// of day and machine load as much as by code, so they are not compared.
pub(super) fn between_versions(
    function: &str,
    span: Option<&str>,
    series: Series<'_>,
    settings: &LatencySettings,
) -> Option<Regression> {
    let versions = series.versions_in_order();
    let [.., previous, latest] = versions.as_slice() else {
        return None;
    };
    let baseline = series.version_runs(previous);
    let current = series.version_runs(latest);
    if baseline.is_empty() || current.is_empty() {
        return None;
    }
    Some(Regression {
        function: function.to_owned(),
        span: span.map(str::to_owned),
        baseline: format!("version {previous}"),
        current: format!("version {latest}"),
        comparison: latency::compare_runs(&baseline, &current, settings),
    })
}

/// Compares the latest version in `series` with a baseline snapshot of the same series.
pub(super) fn against_snapshot(
    function: &str,
    span: Option<&str>,
    series: Series<'_>,
    baseline: &SeriesSnapshot,
    created: &str,
    settings: &LatencySettings,
) -> Option<Regression> {
    let latest = series.latest_version()?;
    let current = series.exact_version_runs(latest);
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
        comparison: latency::compare_runs(
            &SortedRuns::new([&*sorted_view(&baseline.durations_ms)]),
            &current,
            settings,
        ),
    })
}

/// Invocations an hour needs for its p95 to count in the series.
const MIN_PER_HOUR: u64 = 5;

/// Finds change points in the hourly p95 of a function's durations, and names the version
/// that ran at the end of the first hour after each.
pub(super) fn latency_shifts(
    function: &str,
    series: Series<'_>,
    settings: &ChangePointSettings,
) -> Vec<LatencyShift> {
    let hours: Vec<_> = series
        .hours()
        .iter()
        .filter(|hour| hour.count >= MIN_PER_HOUR)
        .collect();
    let p95s: Vec<f64> = hours.iter().map(|hour| hour.percentiles[1]).collect();

    change_points(&p95s, settings)
        .into_iter()
        .map(|change| {
            let hour = hours[change.index];
            let at = time::OffsetDateTime::from_unix_timestamp(hour.hour * 3600)
                .ok()
                .and_then(|at| {
                    at.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            LatencyShift {
                function: function.to_owned(),
                at,
                // The version of the hour's last invocation: a deploy within the hour shows
                // there.
                version: hour.last_version.clone(),
                change,
            }
        })
        .collect()
}
