//! The report: cost and latency per function, regressions with the version that brought
//! them, change points, cost spirals, and the figures CI gates on.
//!
//! [`build`] is pure: it takes invocation records and a price book, so tests and other
//! front ends build reports without a dataset. [`render`] writes a report as a terminal
//! table, Markdown or JSON. The JSON carries `schema_version`; its fields are the ones of
//! [`Report`] and its parts, with amounts as decimal strings.

mod render;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use spanbill_collector::{Invocation, Status};

pub use render::{Format, render};

use crate::cost::Basis;
use crate::detect::change_point::{ChangePoint, ChangePointSettings, change_points};
use crate::detect::latency::{self, LatencyComparison, LatencySettings, Verdict};
use crate::detect::quantile;
use crate::detect::spiral::{self, Finding, SpiralSettings, TraceHop};
use crate::lambda::{LambdaOptions, LambdaUsage, price_invocations, project_month};
use crate::pricing::PriceBook;

/// Version of the JSON layout; it changes when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// The thresholds of a report's tests and checks.
#[derive(Debug, Clone, Default)]
pub struct ReportSettings {
    /// Latency test thresholds.
    pub latency: LatencySettings,
    /// Cost-spiral thresholds.
    pub spiral: SpiralSettings,
    /// Change-point thresholds for the hourly p95 series.
    pub change_points: ChangePointSettings,
    /// Monthly budget in USD, for the budget check.
    pub budget: Option<Decimal>,
    /// Apply the AWS free tier.
    pub free_tier: bool,
}

/// Figures of one function, or of all together.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Invocations.
    pub invocations: usize,
    /// GB-seconds billed.
    pub gb_seconds: Decimal,
    /// Lambda cost in USD.
    pub cost_usd: Decimal,
    /// Whether the cost comes from billed durations or estimates.
    pub basis: Basis,
    /// Duration percentiles in ms: p50, p95, p99.
    pub duration_ms: [f64; 3],
    /// Share of invocations that were cold starts.
    pub cold_start_rate: f64,
    /// Invocations that ended in an error.
    pub errors: usize,
    /// Invocations that timed out.
    pub timeouts: usize,
}

/// A latency comparison of one function.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// The function.
    pub function: String,
    /// The baseline window: `version 1`, or `first half`.
    pub baseline: String,
    /// The current window: `version 2`, or `second half`.
    pub current: String,
    /// The test's result and evidence.
    pub comparison: LatencyComparison,
}

/// A shift in a function's hourly p95 latency.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyShift {
    /// The function.
    pub function: String,
    /// Start of the first hour after the shift, RFC 3339.
    pub at: String,
    /// The version that ran at the end of that hour, when known.
    pub version: Option<String>,
    /// The test's evidence.
    pub change: ChangePoint,
}

/// A report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// First and last invocation start, RFC 3339, when known.
    pub period: Option<(String, String)>,
    /// All functions together.
    pub totals: Figures,
    /// Per function, by name.
    pub functions: BTreeMap<String, Figures>,
    /// Projected monthly Lambda spend in USD, from the period's length.
    pub projected_monthly_usd: Option<Decimal>,
    /// Latency comparisons, one per function that ran a new version in the window.
    pub regressions: Vec<Regression>,
    /// Shifts in hourly p95 latency, by function and time.
    pub shifts: Vec<LatencyShift>,
    /// Cost spirals, waste and budget findings.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Returns whether any function regressed.
    #[must_use]
    pub fn has_regression(&self) -> bool {
        self.regressions
            .iter()
            .any(|regression| regression.comparison.verdict == Verdict::Regression)
    }

    /// Returns whether a cost spiral was found: a recursive loop or cost per invocation
    /// rising without traffic.
    #[must_use]
    pub fn has_spiral(&self) -> bool {
        self.findings.iter().any(|finding| {
            matches!(
                finding.kind,
                spiral::FindingKind::RecursiveLoop | spiral::FindingKind::CostPerInvocationRising
            )
        })
    }

    /// Returns whether the projection is above the budget.
    #[must_use]
    pub fn over_budget(&self) -> bool {
        self.findings
            .iter()
            .any(|finding| finding.kind == spiral::FindingKind::OverBudget)
    }
}

/// Builds the report of `invocations`, with `hops` (trace passes through functions, from
/// spans) for loop detection.
#[must_use]
pub fn build(
    invocations: &[Invocation],
    hops: &[TraceHop],
    book: &PriceBook,
    settings: &ReportSettings,
) -> Report {
    let usages: Vec<LambdaUsage> = invocations
        .iter()
        .map(LambdaUsage::from_invocation)
        .collect();
    let options = LambdaOptions {
        free_tier: settings.free_tier,
    };
    let costs = price_invocations(&usages, book, options).invocations;

    let mut by_function: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, invocation) in invocations.iter().enumerate() {
        by_function
            .entry(
                invocation
                    .function
                    .clone()
                    .unwrap_or_else(|| "unknown".to_owned()),
            )
            .or_default()
            .push(index);
    }
    let all: Vec<usize> = (0..invocations.len()).collect();
    let totals = figures(invocations, &costs, &usages, &all);
    let functions = by_function
        .iter()
        .map(|(function, indexes)| {
            (
                function.clone(),
                figures(invocations, &costs, &usages, indexes),
            )
        })
        .collect();

    let starts: Vec<time::OffsetDateTime> = invocations
        .iter()
        .filter_map(|invocation| invocation.start)
        .collect();
    let period = match (starts.iter().min(), starts.iter().max()) {
        (Some(first), Some(last)) => Some((*first, *last)),
        _ => None,
    };
    let projected_monthly_usd = period.map(|(first, last)| {
        let seconds = (last - first).whole_seconds().max(1) as u64;
        project_month(&usages, seconds, book, options).bill.total
    });

    let regressions = by_function
        .iter()
        .filter_map(|(function, indexes)| {
            regression(function, invocations, indexes, &settings.latency)
        })
        .collect();

    let shifts = by_function
        .iter()
        .flat_map(|(function, indexes)| {
            latency_shifts(function, invocations, indexes, &settings.change_points)
        })
        .collect();

    let mut findings = spiral::recursive_loops(hops, &settings.spiral);
    findings.extend(spiral::cost_per_invocation_trend(
        invocations,
        &costs,
        &settings.spiral,
    ));
    findings.extend(spiral::timeouts(invocations, &costs));
    findings.extend(spiral::oversized_memory(
        invocations,
        &costs,
        &settings.spiral,
    ));
    findings.extend(spiral::init_share(invocations, &costs, &settings.spiral));
    if let (Some(budget), Some(projected)) = (settings.budget, projected_monthly_usd) {
        findings.extend(spiral::budget(projected, budget));
    }

    let rfc3339 = |at: time::OffsetDateTime| {
        at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    Report {
        period: period.map(|(first, last)| (rfc3339(first), rfc3339(last))),
        totals,
        functions,
        projected_monthly_usd,
        regressions,
        shifts,
        findings,
    }
}

/// Invocations an hour needs for its p95 to count in the series.
const MIN_PER_HOUR: usize = 5;

/// Finds change points in the hourly p95 of a function's durations, and names the version
/// that ran at the end of the first hour after each.
fn latency_shifts(
    function: &str,
    invocations: &[Invocation],
    indexes: &[usize],
    settings: &ChangePointSettings,
) -> Vec<LatencyShift> {
    let mut hours: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for &index in indexes {
        if let Some(start) = invocations[index].start {
            hours
                .entry(start.unix_timestamp().div_euclid(3600))
                .or_default()
                .push(index);
        }
    }
    let hours: Vec<(i64, Vec<usize>)> = hours
        .into_iter()
        .filter(|(_, members)| members.len() >= MIN_PER_HOUR)
        .collect();
    let series: Vec<f64> = hours
        .iter()
        .map(|(_, members)| {
            let mut durations: Vec<f64> = members
                .iter()
                .map(|&index| invocations[index].duration_ms)
                .collect();
            durations.sort_by(f64::total_cmp);
            quantile(&durations, 0.95)
        })
        .collect();

    change_points(&series, settings)
        .into_iter()
        .map(|change| {
            let (hour, members) = &hours[change.index];
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
                .max_by_key(|&&index| invocations[index].start)
                .and_then(|&index| invocations[index].version.clone());
            LatencyShift {
                function: function.to_owned(),
                at,
                version,
                change,
            }
        })
        .collect()
}

fn figures(
    invocations: &[Invocation],
    costs: &[crate::lambda::InvocationCost],
    usages: &[LambdaUsage],
    indexes: &[usize],
) -> Figures {
    let mut durations: Vec<f64> = indexes
        .iter()
        .map(|&index| invocations[index].duration_ms)
        .collect();
    durations.sort_by(f64::total_cmp);
    let percentile = |q: f64| {
        if durations.is_empty() {
            f64::NAN
        } else {
            quantile(&durations, q)
        }
    };
    let count = indexes.len();
    let cold = indexes
        .iter()
        .filter(|&&index| invocations[index].cold_start)
        .count();
    Figures {
        invocations: count,
        gb_seconds: indexes
            .iter()
            .map(|&index| usages[index].gb_seconds())
            .sum(),
        cost_usd: indexes.iter().map(|&index| costs[index].total).sum(),
        basis: indexes.iter().fold(Basis::Billed, |basis, &index| {
            basis.combine(costs[index].basis)
        }),
        duration_ms: [percentile(0.50), percentile(0.95), percentile(0.99)],
        cold_start_rate: if count == 0 {
            0.0
        } else {
            cold as f64 / count as f64
        },
        errors: indexes
            .iter()
            .filter(|&&index| invocations[index].status == Status::Error)
            .count(),
        timeouts: indexes
            .iter()
            .filter(|&&index| invocations[index].status == Status::Timeout)
            .count(),
    }
}

/// Compares the latest version of a function with the version before it; `None` for a
/// function that ran one version in the window.
fn regression(
    function: &str,
    invocations: &[Invocation],
    indexes: &[usize],
    settings: &LatencySettings,
) -> Option<Regression> {
    let mut sorted: Vec<usize> = indexes.to_vec();
    sorted.sort_by_key(|&index| invocations[index].start);

    // Versions in the order they first ran.
    let mut versions: Vec<&str> = Vec::new();
    for &index in &sorted {
        let version = invocations[index].version.as_deref().unwrap_or("$LATEST");
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    let durations = |filter: &dyn Fn(usize) -> bool| -> Vec<f64> {
        sorted
            .iter()
            .copied()
            .filter(|&index| filter(index))
            .map(|index| invocations[index].duration_ms)
            .collect()
    };
    let version_of = |index: usize| invocations[index].version.as_deref().unwrap_or("$LATEST");

    // A window with one version has no deploy to compare. Its two halves would differ by
    // time of day and machine load as much as by code, so they are not compared.
    let [.., previous, latest] = versions.as_slice() else {
        return None;
    };
    let baseline = durations(&|index| version_of(index) == *previous);
    let current = durations(&|index| version_of(index) == *latest);
    let (baseline_name, current_name) =
        (format!("version {previous}"), format!("version {latest}"));
    if baseline.is_empty() || current.is_empty() {
        return None;
    }
    Some(Regression {
        function: function.to_owned(),
        baseline: baseline_name,
        current: current_name,
        comparison: latency::compare(&baseline, &current, settings),
    })
}
