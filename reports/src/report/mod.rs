//! The report: cost and latency per function, regressions with the version that brought
//! them, change points, cost spirals, and the figures CI gates on.
//!
//! [`build`] is pure: it takes invocation records and a price book, so tests and other
//! front ends build reports without a dataset. [`render`] writes a report as a terminal
//! table, Markdown or JSON. The JSON carries `schema_version`; its fields are the ones of
//! [`Report`] and its parts, with amounts as decimal strings.

mod compare;
mod config;
mod html;
mod render;
mod timeline;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use spanbill_collector::{Invocation, Status};

pub use config::{ConfigError, ReportConfig};
pub use render::{Format, render};
pub use timeline::{Bucket, Timeline};

use crate::aggregate::{self, GroupCost, UnitCost};
use crate::cost::Basis;
use crate::detect::change_point::{ChangePoint, ChangePointSettings};
use crate::detect::latency::{LatencyComparison, LatencySettings, Verdict};
use crate::detect::quantile;
use crate::detect::spiral::{self, Finding, SpiralSettings};
use crate::downstream::price_call;
use crate::lambda::{InvocationCost, LambdaOptions, LambdaUsage, price_invocations, project_month};
use crate::pricing::PriceBook;
use crate::snapshot::Snapshot;
use crate::traces::{self, TraceCosts, TraceSpan, UnitCount};

/// Version of the JSON layout; it changes when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// The thresholds of a report's tests and checks.
#[derive(Debug, Clone)]
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
    /// KPIs to report cost per unit for; `None` takes every counter the instrumentation
    /// recorded.
    pub business_units: Option<Vec<String>>,
    /// Most expensive traces listed.
    pub top_traces: usize,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            latency: LatencySettings::default(),
            spiral: SpiralSettings::default(),
            change_points: ChangePointSettings::default(),
            budget: None,
            free_tier: false,
            business_units: None,
            top_traces: 5,
        }
    }
}

/// The data a report is built from. Only `invocations` is required, and the rest may be
/// empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// Invocation records, from platform data.
    pub invocations: &'a [Invocation],
    /// Spans, which give invocations their trace, downstream calls and span latencies.
    pub spans: &'a [TraceSpan],
    /// Business KPI counts.
    pub units: &'a [UnitCount],
    /// A baseline snapshot to compare latencies against, in place of the previous
    /// version in the window.
    pub baseline: Option<&'a Snapshot>,
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

/// A latency comparison of one function, or of one span name inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// The function.
    pub function: String,
    /// The span name, for a comparison of spans inside the function; `None` for the
    /// function's invocations.
    pub span: Option<String>,
    /// The baseline: `version 1`, or `baseline of <time>` for a snapshot.
    pub baseline: String,
    /// The current window: `version 2`.
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
    /// Downstream calls priced from spans, per service.
    pub downstream: Vec<ServiceCost>,
    /// Cost per trace, when invocations or calls carry trace ids.
    pub traces: Option<TraceCosts>,
    /// Cost per business unit, such as per order created.
    pub units: Vec<UnitCost>,
    /// The baseline snapshot compared against, described for people.
    pub baseline: Option<String>,
    /// Latency comparisons: per function and per span name that ran a new version in the
    /// window, or against the baseline snapshot.
    pub regressions: Vec<Regression>,
    /// Shifts in hourly p95 latency, by function and time.
    pub shifts: Vec<LatencyShift>,
    /// Cost spirals, waste and budget findings.
    pub findings: Vec<Finding>,
    /// Latency and cost per function over time.
    pub timeline: Timeline,
}

/// Calls to one downstream service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCost {
    /// Service name, such as `sqs`.
    pub service: String,
    /// Calls.
    pub calls: u64,
    /// Cost in USD, an estimate at first-tier prices.
    pub cost_usd: Decimal,
}

impl Report {
    /// Returns whether any function regressed.
    #[must_use]
    pub fn has_regression(&self) -> bool {
        self.regressions
            .iter()
            .any(|regression| regression.comparison.verdict == Verdict::Regression)
    }

    /// Returns whether a cost spiral was found: a recursive loop, a retry storm, or cost
    /// per invocation or per business unit rising faster than traffic.
    #[must_use]
    pub fn has_spiral(&self) -> bool {
        self.findings.iter().any(|finding| {
            matches!(
                finding.kind,
                spiral::FindingKind::RecursiveLoop
                    | spiral::FindingKind::RetryStorm
                    | spiral::FindingKind::CostPerInvocationRising
                    | spiral::FindingKind::CostPerUnitRising
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

/// Builds the report of `inputs`.
#[must_use]
pub fn build(inputs: &Inputs<'_>, book: &PriceBook, settings: &ReportSettings) -> Report {
    let invocations = inputs.invocations;
    let trace_ids = traces::trace_ids(invocations, inputs.spans);
    let usages: Vec<LambdaUsage> = invocations
        .iter()
        .zip(trace_ids)
        .map(|(invocation, trace_id)| LambdaUsage {
            trace_id,
            ..LambdaUsage::from_invocation(invocation)
        })
        .collect();
    let options = LambdaOptions {
        free_tier: settings.free_tier,
    };
    let costs = price_invocations(&usages, book, options).invocations;
    let downstream: Vec<_> = traces::downstream_calls(inputs.spans)
        .iter()
        .map(|call| price_call(call, book))
        .collect();

    let mut by_function: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, invocation) in invocations.iter().enumerate() {
        by_function
            .entry(invocation.function.as_deref().unwrap_or("unknown"))
            .or_default()
            .push(index);
    }
    let all: Vec<usize> = (0..invocations.len()).collect();
    let totals = figures(invocations, &costs, &usages, &all);
    let functions = by_function
        .iter()
        .map(|(function, indexes)| {
            (
                (*function).to_owned(),
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

    let units = unit_costs(
        inputs.units,
        &aggregate::total(&costs, &downstream),
        settings,
    );

    let findings = findings(inputs, &costs, &units, projected_monthly_usd, settings);

    let rfc3339 = |at: time::OffsetDateTime| {
        at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    Report {
        period: period.map(|(first, last)| (rfc3339(first), rfc3339(last))),
        totals,
        functions,
        projected_monthly_usd,
        downstream: service_costs(&downstream),
        traces: traces::trace_costs(&costs, &downstream, settings.top_traces),
        units,
        baseline: inputs.baseline.map(describe_snapshot),
        regressions: regressions(inputs, &settings.latency),
        shifts: by_function
            .iter()
            .flat_map(|(function, indexes)| {
                compare::latency_shifts(function, invocations, indexes, &settings.change_points)
            })
            .collect(),
        findings,
        timeline: timeline::timeline(invocations, &costs),
    }
}

/// Runs the spiral and waste checks.
fn findings(
    inputs: &Inputs<'_>,
    costs: &[InvocationCost],
    units: &[UnitCost],
    projected_monthly_usd: Option<Decimal>,
    settings: &ReportSettings,
) -> Vec<Finding> {
    let invocations = inputs.invocations;
    let mut findings = spiral::recursive_loops(&traces::hops(inputs.spans), &settings.spiral);
    let cost_of: foldhash::HashMap<&str, Decimal> = costs
        .iter()
        .map(|cost| (cost.request_id.as_str(), cost.total))
        .collect();
    findings.extend(spiral::retry_storms(
        inputs.spans,
        &cost_of,
        &settings.spiral,
    ));
    findings.extend(spiral::cost_per_invocation_trend(
        invocations,
        costs,
        &settings.spiral,
    ));
    for unit in units {
        findings.extend(spiral::cost_per_unit_trend(
            &unit.kpi,
            invocations,
            costs,
            inputs.units,
            &settings.spiral,
        ));
    }
    findings.extend(spiral::timeouts(invocations, costs));
    findings.extend(spiral::oversized_memory(
        invocations,
        costs,
        &settings.spiral,
    ));
    findings.extend(spiral::init_share(invocations, costs, &settings.spiral));
    if let (Some(budget), Some(projected)) = (settings.budget, projected_monthly_usd) {
        findings.extend(spiral::budget(projected, budget));
    }

    findings
}

/// Compares each function, then each span name, with the previous version in the window,
/// or with the baseline snapshot when there is one.
fn regressions(inputs: &Inputs<'_>, settings: &LatencySettings) -> Vec<Regression> {
    let mut regressions = Vec::new();
    for (function, samples) in compare::function_samples(inputs.invocations) {
        let regression = match inputs.baseline {
            Some(snapshot) => snapshot.functions.get(function).and_then(|series| {
                compare::against_snapshot(
                    function,
                    None,
                    &samples,
                    series,
                    &snapshot.created,
                    settings,
                )
            }),
            None => compare::between_versions(function, None, &samples, settings),
        };
        regressions.extend(regression);
    }
    for ((function, span), samples) in compare::span_samples(inputs.spans) {
        let regression = match inputs.baseline {
            Some(snapshot) => snapshot
                .spans
                .get(function)
                .and_then(|names| names.get(span))
                .and_then(|series| {
                    compare::against_snapshot(
                        function,
                        Some(span),
                        &samples,
                        series,
                        &snapshot.created,
                        settings,
                    )
                }),
            None => compare::between_versions(function, Some(span), &samples, settings),
        };
        regressions.extend(regression);
    }
    regressions
}

fn describe_snapshot(snapshot: &Snapshot) -> String {
    match &snapshot.period {
        Some((first, last)) => format!(
            "baseline snapshot of {}, covering {first} to {last}",
            snapshot.created
        ),
        None => format!("baseline snapshot of {}", snapshot.created),
    }
}

fn service_costs(downstream: &[crate::downstream::DownstreamCost]) -> Vec<ServiceCost> {
    let mut services: BTreeMap<&str, (u64, Decimal)> = BTreeMap::new();
    for cost in downstream {
        let entry = services.entry(cost.call.service.as_str()).or_default();
        entry.0 += cost.call.count;
        entry.1 += cost.amount;
    }
    services
        .into_iter()
        .map(|(service, (calls, cost_usd))| ServiceCost {
            service: service.to_owned(),
            calls,
            cost_usd,
        })
        .collect()
}

/// Divides the window's whole cost, Lambda and downstream, by the units of each business
/// KPI.
fn unit_costs(counts: &[UnitCount], total: &GroupCost, settings: &ReportSettings) -> Vec<UnitCost> {
    traces::unit_totals(counts)
        .into_iter()
        .filter(|(kpi, _)| {
            settings
                .business_units
                .as_ref()
                .is_none_or(|wanted| wanted.contains(kpi))
        })
        .map(|(kpi, units)| {
            aggregate::per_business_unit(&kpi, units.round().max(0.0) as u64, total)
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
