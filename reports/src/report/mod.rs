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
pub use timeline::{Bucket, Timeline, hourly};

use crate::aggregate::{self, GroupCost, UnitCost};
use crate::cost::Basis;
use crate::detect::change_point::{ChangePoint, ChangePointSettings};
use crate::detect::latency::{LatencyComparison, LatencySettings, Verdict};
use crate::detect::spiral::{self, Finding, SpiralSettings};
use crate::lambda::{LambdaOptions, project_month};
use crate::pricing::PriceBook;
use crate::rollup::Rollup;
use crate::samples::{Samples, Series};
use crate::shapes::TraceFigures;
use crate::snapshot::Snapshot;
use crate::table::{self, Shared, Tables};
use crate::traces::{self, TraceCosts, TraceSpan, UnitCount};
use crate::usage::{Counts, Entry, PricedUsage};

/// Version of the JSON layout; it changes when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// Minimum length, in seconds, of the time that a monthly projection scales. Scaling a
/// shorter span to a month multiplies a few invocations into a spend that a budget gate
/// would fail on.
pub const MIN_PROJECTION_SECONDS: u64 = 3600;

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
    /// Start and end of the window that the user selected, in ns since the Unix epoch, with
    /// the end no later than now. The monthly projection scales the window's length when
    /// it is set, else the time from the first to the last invocation start.
    pub window_ns: Option<(i64, i64)>,
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
            window_ns: None,
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
    /// Projected monthly Lambda spend in USD, from the length of the window or else of the
    /// period. `None` when that length is under [`MIN_PROJECTION_SECONDS`] or, without a
    /// window, when no invocation has a start time.
    pub projected_monthly_usd: Option<Decimal>,
    /// The reason there is no projection, such as `the invocations span 12 s, shorter than
    /// the 1 h minimum ...`, when `projected_monthly_usd` is `None`.
    pub projection_note: Option<String>,
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
    let tables = Tables::from_records(
        inputs.invocations,
        inputs.spans,
        inputs.units,
        book,
        LambdaOptions {
            free_tier: settings.free_tier,
        },
    );
    build_tables(&tables, inputs.baseline, book, settings)
}

/// Builds the report of priced tables, comparing latencies with `baseline` when given. The
/// tables must be priced with the same free tier setting as `settings`.
#[must_use]
pub fn build_tables(
    tables: &Tables,
    baseline: Option<&Snapshot>,
    book: &PriceBook,
    settings: &ReportSettings,
) -> Report {
    let rollup = Rollup::of(tables, &Shared::default(), settings.top_traces);
    build_rollup(&rollup, &tables.units, baseline, book, settings)
}

/// Builds the report of a rollup and the KPI counts `units` of the same window, comparing
/// latencies with `baseline` when given. The rollup must keep at least
/// `settings.top_traces` ids per trace shape.
#[must_use]
pub fn build_rollup(
    rollup: &Rollup,
    units: &[UnitCount],
    baseline: Option<&Snapshot>,
    book: &PriceBook,
    settings: &ReportSettings,
) -> Report {
    let options = LambdaOptions {
        free_tier: settings.free_tier,
    };
    let (samples, usage) = (&rollup.samples, &rollup.usage);
    let priced = usage.price(book, options);
    let period = samples.period();
    let (projected_monthly_usd, projection_note) = match projection_seconds(period, settings) {
        Ok(seconds) => {
            let usages = usage.lambda_usages(&usage.group_counts(|_| true));
            let projection = project_month(&usages, seconds, book, options);
            (Some(projection.bill.total), None)
        }
        Err(note) => (None, Some(note)),
    };
    let unit_counts = units;
    let units = unit_costs(unit_counts, &priced.total(), settings);
    let resolved = crate::timed("shared traces", || rollup.traces.resolve());
    let trace_figures = rollup.traces.figures(&resolved);

    // Cost per trace, the timeline and the percentiles run on a second thread while the
    // main one runs the checks and latency comparisons.
    let report = std::thread::scope(|scope| {
        let second = scope.spawn(|| {
            let traces = crate::timed("cost per trace", || {
                traces::trace_costs(&rollup.traces, &resolved, &priced, settings.top_traces)
            });
            let timeline = crate::timed("timeline", || timeline::timeline(&priced, samples));
            let (totals, functions) = crate::timed("figures", || {
                let entries: BTreeMap<&str, &[Entry]> = usage.by_function().collect();
                let functions = samples
                    .functions()
                    .filter_map(|(function, series)| {
                        let figures =
                            figures(&priced, entries.get(function)?, series.percentiles());
                        Some((function.to_owned(), figures))
                    })
                    .collect();
                let durations = samples.total_percentiles();
                (figures(&priced, &usage.entries, durations), functions)
            });
            (traces, timeline, totals, functions)
        });
        let findings = crate::timed("spiral checks", || {
            let traces = (&trace_figures, rollup.traces.functions.as_slice());
            let inputs = (&priced, unit_counts);
            findings(
                traces,
                inputs,
                period,
                &units,
                projected_monthly_usd,
                settings,
            )
        });

        let regressions = crate::timed("latency tests", || {
            regressions(samples, baseline, &settings.latency)
        });
        let shifts = crate::timed("change points", || {
            samples
                .functions()
                .flat_map(|(function, series)| {
                    compare::latency_shifts(function, series, &settings.change_points)
                })
                .collect()
        });
        let (traces, timeline, totals, functions) = second
            .join()
            .expect("the cost-per-trace and timeline thread does not panic");

        Report {
            period: period.map(|(first, last)| (table::rfc3339(first), table::rfc3339(last))),
            totals,
            functions,
            projected_monthly_usd,
            projection_note,
            downstream: service_costs(&priced),
            traces,
            // Set below: the second thread borrows the units until the scope ends.
            units: Vec::new(),
            baseline: baseline.map(describe_snapshot),
            regressions,
            shifts,
            findings,
            timeline,
        }
    });
    Report { units, ..report }
}

/// Returns the seconds that a monthly projection scales from: the selected window's length,
/// or else the time from the first to the last invocation start (`period`, in ns). Returns
/// the reason for no projection when that is under [`MIN_PROJECTION_SECONDS`].
fn projection_seconds(
    period: Option<(i64, i64)>,
    settings: &ReportSettings,
) -> Result<u64, String> {
    let (what, nanos) = match (settings.window_ns, period) {
        (Some((start, end)), _) => ("the window covers", end.saturating_sub(start)),
        (None, Some((first, last))) => ("the invocations span", last.saturating_sub(first)),
        (None, None) => {
            return Err("no invocation has a start time to measure a span from".to_owned());
        }
    };
    let seconds = u64::try_from(nanos / 1_000_000_000).unwrap_or(0);
    if seconds < MIN_PROJECTION_SECONDS {
        let minimum = describe_seconds(MIN_PROJECTION_SECONDS);
        return Err(format!(
            "{what} {}, shorter than the {minimum} minimum to project a month from \
             (select a window of at least {minimum})",
            describe_seconds(seconds),
        ));
    }
    Ok(seconds)
}

/// Formats a length of time as whole seconds, minutes or hours.
fn describe_seconds(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        _ => format!("{} h", seconds / 3600),
    }
}

/// Runs the spiral and waste checks.
fn findings(
    (figures, names): (&TraceFigures, &[String]),
    (priced, unit_counts): (&PricedUsage<'_>, &[UnitCount]),
    period: Option<(i64, i64)>,
    units: &[UnitCost],
    projected_monthly_usd: Option<Decimal>,
    settings: &ReportSettings,
) -> Vec<Finding> {
    let mut findings = spiral::recursive_loops(figures, names, &settings.spiral);
    findings.extend(spiral::retry_storms(
        figures,
        names,
        priced,
        &settings.spiral,
    ));
    findings.extend(spiral::cost_per_invocation_trend(
        priced,
        period,
        &settings.spiral,
    ));
    for unit in units {
        findings.extend(spiral::cost_per_unit_trend(
            &unit.kpi,
            priced,
            period,
            unit_counts,
            &settings.spiral,
        ));
    }
    findings.extend(spiral::timeouts(priced));
    findings.extend(spiral::oversized_memory(priced, &settings.spiral));
    findings.extend(spiral::init_share(priced, &settings.spiral));
    if let (Some(budget), Some(projected)) = (settings.budget, projected_monthly_usd) {
        findings.extend(spiral::budget(projected, budget));
    }

    findings
}

/// Compares each function, then each span name, with the previous version in the window,
/// or with the baseline snapshot when there is one.
fn regressions(
    samples: &Samples,
    baseline: Option<&Snapshot>,
    settings: &LatencySettings,
) -> Vec<Regression> {
    // Each function's series, then each span name's: (function, span name, series).
    let series: Vec<(&str, Option<&str>, Series<'_>)> = samples
        .functions()
        .map(|(function, series)| (function, None, series))
        .chain(
            samples
                .spans()
                .map(|((function, span), series)| (function, Some(span), series)),
        )
        .collect();
    let compare = |(function, span, series): &(&str, Option<&str>, Series<'_>)| match baseline {
        Some(snapshot) => {
            let baseline = match span {
                None => snapshot.functions.get(*function),
                Some(span) => snapshot
                    .spans
                    .get(*function)
                    .and_then(|names| names.get(*span)),
            };
            baseline.and_then(|baseline| {
                compare::against_snapshot(
                    function,
                    *span,
                    *series,
                    baseline,
                    &snapshot.created,
                    settings,
                )
            })
        }
        None => compare::between_versions(function, *span, *series, settings),
    };
    // Two threads take every other series, each searching the sorted days of the versions
    // it compares. The results keep the order of the series.
    let compare_every_other = |offset: usize| -> Vec<(usize, Regression)> {
        series
            .iter()
            .enumerate()
            .skip(offset)
            .step_by(2)
            .filter_map(|(at, series)| Some((at, compare(series)?)))
            .collect()
    };
    let mut regressions = std::thread::scope(|scope| {
        let odd = scope.spawn(|| compare_every_other(1));
        let mut regressions = compare_every_other(0);
        regressions.extend(odd.join().expect("latency comparisons do not panic"));
        regressions
    });
    regressions.sort_by_key(|(at, _)| *at);
    regressions
        .into_iter()
        .map(|(_, regression)| regression)
        .collect()
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

fn service_costs(priced: &PricedUsage<'_>) -> Vec<ServiceCost> {
    let mut services: BTreeMap<&str, (u64, Decimal)> = BTreeMap::new();
    for (cost, (_, spans)) in priced.calls.iter().zip(&priced.usage.calls) {
        let entry = services.entry(cost.call.service.as_str()).or_default();
        entry.0 += cost.call.count * spans;
        entry.1 += table::times(cost.amount, *spans);
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

fn figures(priced: &PricedUsage<'_>, entries: &[Entry], duration_ms: [f64; 3]) -> Figures {
    let mut count = 0_u64;
    let mut cold = 0_u64;
    let mut errors = 0_u64;
    let mut timeouts = 0_u64;
    let mut billed_mb_ms = 0_u128;
    let mut groups = Counts::default();
    for entry in entries {
        let group = &priced.usage.groups[entry.group as usize];
        let invocations = entry.invocations;
        count += invocations;
        cold += if entry.cold_start { invocations } else { 0 };
        errors += if entry.status == Status::Error {
            invocations
        } else {
            0
        };
        timeouts += if entry.status == Status::Timeout {
            invocations
        } else {
            0
        };
        billed_mb_ms +=
            u128::from(group.billed_ms) * u128::from(group.memory_mb) * u128::from(invocations);
        groups.add(entry);
    }
    let cost_usd = priced.sum(&groups, |cost| cost.total);
    let basis = priced.basis(&groups);
    Figures {
        invocations: count as usize,
        gb_seconds: Decimal::from_i128_with_scale(
            i128::try_from(billed_mb_ms).unwrap_or(i128::MAX),
            0,
        ) / Decimal::from(1_024_000),
        cost_usd,
        basis,
        duration_ms,
        cold_start_rate: if count == 0 {
            0.0
        } else {
            cold as f64 / count as f64
        },
        errors: errors as usize,
        timeouts: timeouts as usize,
    }
}
