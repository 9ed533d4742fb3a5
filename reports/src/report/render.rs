//! Writing a report as a terminal table, Markdown, JSON or HTML.

use std::fmt::Write as _;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{Figures, LatencyShift, Regression, Report, SCHEMA_VERSION};
use crate::detect::latency::Verdict;

/// Output format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text for a terminal; `color` adds ANSI colors.
    Table {
        /// Whether to color the verdicts.
        color: bool,
    },
    /// GitHub-flavoured Markdown for a pull-request comment or a job summary.
    Markdown,
    /// JSON with `schema_version`.
    Json,
    /// A self-contained HTML page with SVG charts.
    Html,
}

/// Renders `report` in `format`.
#[must_use]
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table { color } => table(report, color),
        Format::Markdown => markdown(report),
        Format::Json => {
            serde_json::to_string_pretty(&json_value(report)).unwrap_or_default() + "\n"
        }
        Format::Html => super::html::page(report),
    }
}

/// Formats a p-value; one that underflowed to 0 is shown as below the smallest normal
/// double.
pub(super) fn p_value_text(p: f64) -> String {
    if p == 0.0 {
        format!("< {:.1e}", f64::MIN_POSITIVE)
    } else {
        format!("{p:.2e}")
    }
}

/// Names what a comparison covers: the function, or a span name inside it.
pub(super) fn subject(regression: &Regression) -> String {
    match &regression.span {
        Some(span) => format!("{} / {span}", regression.function),
        None => regression.function.clone(),
    }
}

pub(super) fn money(amount: Decimal) -> String {
    format!("${}", amount.round_dp(10).normalize())
}

pub(super) fn verdict_text(regression: &Regression) -> &'static str {
    match regression.comparison.verdict {
        Verdict::Regression => "REGRESSION",
        Verdict::NoRegression => "ok",
        Verdict::InsufficientSamples => "insufficient samples",
    }
}

pub(super) fn evidence(regression: &Regression) -> String {
    let comparison = &regression.comparison;
    let interval = comparison
        .ratio_interval
        .map(|(low, high)| format!(" (95% CI {low:.2} to {high:.2})"))
        .unwrap_or_default();
    let p_value = comparison
        .p_value
        .map_or_else(|| "-".to_owned(), p_value_text);
    format!(
        "{} vs {}: p95 {:.1} -> {:.1} ms, ratio {:.2}{interval}, exceedances {} vs {} of pooled p95 {:.1} ms, p = {p_value}, n = {} / {}",
        regression.current,
        regression.baseline,
        comparison.baseline_p95,
        comparison.current_p95,
        comparison.ratio,
        comparison.current_exceedances,
        comparison.baseline_exceedances,
        comparison.threshold,
        comparison.current_samples,
        comparison.baseline_samples,
    )
}

/// Returns the functions without a latency comparison of their invocations, which ran one
/// version.
pub(super) fn unchanged(report: &Report) -> impl Iterator<Item = &String> {
    report.functions.keys().filter(|function| {
        !report
            .regressions
            .iter()
            .any(|regression| &regression.function == *function && regression.span.is_none())
    })
}

pub(super) fn shift_text(shift: &LatencyShift) -> String {
    let version = shift
        .version
        .as_deref()
        .map(|version| format!(" with version {version}"))
        .unwrap_or_default();
    format!(
        "{}: hourly p95 shifted {:+.0}% ({:.1} -> {:.1} ms) from {}{version} (E-divisive, Welch t-test p = {})",
        shift.function,
        shift.change.relative_change * 100.0,
        shift.change.before,
        shift.change.after,
        shift.at,
        p_value_text(shift.change.p_value)
    )
}

/// Returns the comparisons that people read: every function, and the span names that
/// regressed. The JSON lists all of them.
pub(super) fn shown(report: &Report) -> impl Iterator<Item = &Regression> {
    report.regressions.iter().filter(|regression| {
        regression.span.is_none() || regression.comparison.verdict == Verdict::Regression
    })
}

/// Counts the span-name comparisons that [`shown`] leaves out, by verdict.
pub(super) fn quiet_spans(report: &Report) -> Option<String> {
    let quiet: Vec<&Regression> = report
        .regressions
        .iter()
        .filter(|regression| {
            regression.span.is_some() && regression.comparison.verdict != Verdict::Regression
        })
        .collect();
    if quiet.is_empty() {
        return None;
    }
    let insufficient = quiet
        .iter()
        .filter(|regression| regression.comparison.verdict == Verdict::InsufficientSamples)
        .count();
    Some(format!(
        "{} span names compared across versions: {} without a regression, {insufficient} with insufficient samples",
        quiet.len(),
        quiet.len() - insufficient
    ))
}

/// Says why a function has no comparison of its invocations.
pub(super) fn no_comparison(report: &Report, function: &str) -> String {
    if report.baseline.is_some() {
        format!("{function}: not in the baseline snapshot")
    } else {
        format!("{function}: no new version in the window")
    }
}

/// Lines on downstream spend, cost per trace and cost per business unit.
pub(super) fn cost_lines(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    for service in &report.downstream {
        lines.push(format!(
            "downstream {}: {} calls, {} (estimate)",
            service.service,
            service.calls,
            money(service.cost_usd)
        ));
    }
    if let Some(traces) = &report.traces {
        lines.push(format!(
            "cost per trace: mean {}, median {}, p95 {} over {} traces",
            money(traces.mean_usd),
            money(traces.median_usd),
            money(traces.p95_usd),
            traces.traces
        ));
    }
    for unit in &report.units {
        let per_unit = unit.per_unit.map_or_else(|| "-".to_owned(), money);
        lines.push(format!(
            "cost per {}: {per_unit} ({} of {} units, {})",
            unit.kpi,
            money(unit.total),
            unit.units,
            unit.basis.as_str()
        ));
    }
    lines
}

pub(super) fn trace_text(trace: &crate::traces::TraceCost) -> String {
    let functions = trace
        .functions
        .iter()
        .map(|(function, count)| format!("{function} x{count}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{} {}: {} invocations ({functions}), {} downstream calls",
        trace.trace_id,
        money(trace.cost_usd),
        trace.invocations,
        trace.downstream_calls
    )
}

fn figure_cells(name: &str, figures: &Figures) -> Vec<String> {
    vec![
        name.to_owned(),
        figures.invocations.to_string(),
        format!("{:.3}", figures.gb_seconds.round_dp(3)),
        money(figures.cost_usd),
        format!("{:.1}", figures.duration_ms[0]),
        format!("{:.1}", figures.duration_ms[1]),
        format!("{:.1}", figures.duration_ms[2]),
        format!("{:.1}%", figures.cold_start_rate * 100.0),
        figures.errors.to_string(),
        figures.timeouts.to_string(),
    ]
}

pub(super) const HEADERS: [&str; 10] = [
    "function",
    "invocations",
    "GB-s",
    "cost",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "cold",
    "errors",
    "timeouts",
];

pub(super) fn rows(report: &Report) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = report
        .functions
        .iter()
        .map(|(name, figures)| figure_cells(name, figures))
        .collect();
    rows.push(figure_cells("total", &report.totals));
    rows
}

/// Writes the most expensive traces under `heading`, one per line after `bullet`, or
/// nothing when the report lists none.
fn write_top_traces(out: &mut String, report: &Report, heading: &str, bullet: &str) {
    let Some(traces) = report.traces.as_ref() else {
        return;
    };
    if traces.top.is_empty() {
        return;
    }
    let _ = writeln!(out, "{heading}");
    for trace in &traces.top {
        let _ = writeln!(out, "{bullet}{}", trace_text(trace));
    }
}

fn table(report: &Report, color: bool) -> String {
    let paint = |text: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    if let Some((first, last)) = &report.period {
        let _ = writeln!(out, "period: {first} to {last}");
    }
    let rows = rows(report);
    let widths: Vec<usize> = (0..HEADERS.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].len())
                .chain([HEADERS[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(column, cell)| {
                if column == 0 {
                    format!("{cell:<width$}", width = widths[column])
                } else {
                    format!("{cell:>width$}", width = widths[column])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let _ = writeln!(
        out,
        "{}",
        line(HEADERS.iter().map(|header| (*header).to_owned()).collect())
    );
    for row in rows {
        let _ = writeln!(out, "{}", line(row));
    }
    if let Some(projected) = report.projected_monthly_usd {
        let _ = writeln!(
            out,
            "projected monthly Lambda spend: {} (estimate)",
            money(projected)
        );
    } else if let Some(note) = &report.projection_note {
        let _ = writeln!(out, "projected monthly Lambda spend: none, because {note}");
    }

    for line in cost_lines(report) {
        let _ = writeln!(out, "{line}");
    }
    write_top_traces(&mut out, report, "\nmost expensive traces:", "  ");

    let _ = writeln!(out, "\nlatency:");
    if let Some(baseline) = &report.baseline {
        let _ = writeln!(out, "  compared with the {baseline}");
    }
    for regression in shown(report) {
        let verdict = match regression.comparison.verdict {
            Verdict::Regression => paint(verdict_text(regression), "1;31"),
            _ => verdict_text(regression).to_owned(),
        };
        let _ = writeln!(
            out,
            "  {}: {verdict} ({})",
            subject(regression),
            evidence(regression)
        );
    }
    for function in unchanged(report) {
        let _ = writeln!(out, "  {}", no_comparison(report, function));
    }
    if let Some(line) = quiet_spans(report) {
        let _ = writeln!(out, "  {line}");
    }
    for shift in &report.shifts {
        let _ = writeln!(out, "  {}", shift_text(shift));
    }

    let _ = writeln!(out, "\nfindings:");
    if report.findings.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for finding in &report.findings {
        let _ = writeln!(
            out,
            "  {} {}",
            paint(finding.kind.as_str(), "1;33"),
            finding.summary
        );
    }
    out
}

fn markdown(report: &Report) -> String {
    let mut out = String::from("## spanbill report\n\n");
    if let Some((first, last)) = &report.period {
        let _ = writeln!(out, "Period: {first} to {last}\n");
    }
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(HEADERS.len()));
    for row in rows(report) {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    if let Some(projected) = report.projected_monthly_usd {
        let _ = writeln!(
            out,
            "\nProjected monthly Lambda spend: {} (estimate).",
            money(projected)
        );
    } else if let Some(note) = &report.projection_note {
        let _ = writeln!(
            out,
            "\nProjected monthly Lambda spend: none, because {note}."
        );
    }
    let costs = cost_lines(report);
    if !costs.is_empty() {
        let _ = writeln!(out);
    }
    for line in costs {
        let _ = writeln!(out, "- {line}");
    }
    write_top_traces(&mut out, report, "\n### Most expensive traces\n", "- ");
    let _ = writeln!(out, "\n### Latency\n");
    if let Some(baseline) = &report.baseline {
        let _ = writeln!(out, "Compared with the {baseline}.\n");
    }
    for regression in shown(report) {
        let marker = if regression.comparison.verdict == Verdict::Regression {
            "**REGRESSION**"
        } else {
            verdict_text(regression)
        };
        let _ = writeln!(
            out,
            "- `{}`: {marker}: {}",
            subject(regression),
            evidence(regression)
        );
    }
    for function in unchanged(report) {
        let _ = writeln!(out, "- {}", no_comparison(report, function));
    }
    if let Some(line) = quiet_spans(report) {
        let _ = writeln!(out, "- {line}");
    }
    for shift in &report.shifts {
        let _ = writeln!(out, "- {}", shift_text(shift));
    }

    let _ = writeln!(out, "\n### Findings\n");
    if report.findings.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for finding in &report.findings {
        let _ = writeln!(out, "- **{}**: {}", finding.kind.as_str(), finding.summary);
    }
    out
}

fn figures_json(figures: &Figures) -> Value {
    json!({
        "invocations": figures.invocations,
        "gb_seconds": figures.gb_seconds.normalize().to_string(),
        "cost_usd": figures.cost_usd.normalize().to_string(),
        "cost_basis": figures.basis.as_str(),
        "duration_ms": {"p50": figures.duration_ms[0], "p95": figures.duration_ms[1], "p99": figures.duration_ms[2]},
        "cold_start_rate": figures.cold_start_rate,
        "errors": figures.errors,
        "timeouts": figures.timeouts,
    })
}

fn json_value(report: &Report) -> Value {
    let functions: serde_json::Map<String, Value> = report
        .functions
        .iter()
        .map(|(name, figures)| (name.clone(), figures_json(figures)))
        .collect();
    let regressions: Vec<Value> = report
        .regressions
        .iter()
        .map(|regression| {
            let comparison = &regression.comparison;
            json!({
                "function": regression.function,
                "span": regression.span,
                "baseline": regression.baseline,
                "current": regression.current,
                "verdict": match comparison.verdict {
                    Verdict::Regression => "regression",
                    Verdict::NoRegression => "no_regression",
                    Verdict::InsufficientSamples => "insufficient_samples",
                },
                "test": "quantile exceedance, one-sided exact (hypergeometric)",
                "p_value": comparison.p_value,
                "baseline_p95_ms": comparison.baseline_p95,
                "current_p95_ms": comparison.current_p95,
                "p95_ratio": comparison.ratio,
                "p95_ratio_interval": comparison.ratio_interval.map(|(low, high)| [low, high]),
                "baseline_samples": comparison.baseline_samples,
                "current_samples": comparison.current_samples,
            })
        })
        .collect();
    let shifts: Vec<Value> = report
        .shifts
        .iter()
        .map(|shift| {
            json!({
                "function": shift.function,
                "at": shift.at,
                "version": shift.version,
                "before_p95_ms": shift.change.before,
                "after_p95_ms": shift.change.after,
                "relative_change": shift.change.relative_change,
                "test": "E-divisive means, Welch t-test",
                "p_value": shift.change.p_value,
            })
        })
        .collect();
    let findings: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            json!({
                "kind": finding.kind.as_str(),
                "function": finding.function,
                "summary": finding.summary,
                "evidence": finding
                    .evidence
                    .iter()
                    .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                    .collect::<serde_json::Map<String, Value>>(),
                "cost_usd": finding.cost_usd.map(|amount| amount.normalize().to_string()),
            })
        })
        .collect();
    let (downstream, traces, units) = costs_json(report);
    json!({
        "schema_version": SCHEMA_VERSION,
        "period": report.period.as_ref().map(|(first, last)| json!({"from": first, "to": last})),
        "totals": figures_json(&report.totals),
        "functions": functions,
        "projected_monthly_usd": report.projected_monthly_usd.map(|amount| amount.normalize().to_string()),
        "projection_note": report.projection_note,
        "downstream": downstream,
        "traces": traces,
        "business_units": units,
        "baseline": report.baseline,
        "regressions": regressions,
        "latency_shifts": shifts,
        "findings": findings,
        "timeline": timeline_json(&report.timeline),
    })
}

fn timeline_json(timeline: &super::Timeline) -> Value {
    let functions: serde_json::Map<String, Value> = timeline
        .functions
        .iter()
        .map(|(function, buckets)| {
            let buckets = buckets
                .iter()
                .map(|bucket| {
                    json!({
                        "start": bucket.start,
                        "invocations": bucket.invocations,
                        "cost_usd": bucket.cost_usd.normalize().to_string(),
                        "duration_ms": {
                            "p50": bucket.duration_ms[0],
                            "p95": bucket.duration_ms[1],
                            "p99": bucket.duration_ms[2],
                        },
                    })
                })
                .collect::<Vec<_>>();
            (function.clone(), Value::Array(buckets))
        })
        .collect();
    json!({
        "bucket_seconds": timeline.bucket_seconds,
        "functions": functions,
    })
}

/// Returns the downstream, per-trace and per-unit parts of the JSON.
fn costs_json(report: &Report) -> (Vec<Value>, Option<Value>, Vec<Value>) {
    let traces = report.traces.as_ref().map(|traces| {
        json!({
            "traces": traces.traces,
            "mean_usd": traces.mean_usd.normalize().to_string(),
            "median_usd": traces.median_usd.normalize().to_string(),
            "p95_usd": traces.p95_usd.normalize().to_string(),
            "top": traces.top.iter().map(|trace| json!({
                "trace_id": trace.trace_id,
                "invocations": trace.invocations,
                "functions": trace.functions,
                "downstream_calls": trace.downstream_calls,
                "lambda_usd": trace.lambda_usd.normalize().to_string(),
                "downstream_usd": trace.downstream_usd.normalize().to_string(),
                "cost_usd": trace.cost_usd.normalize().to_string(),
                "cost_basis": trace.basis.as_str(),
            })).collect::<Vec<_>>(),
        })
    });
    let downstream: Vec<Value> = report
        .downstream
        .iter()
        .map(|service| {
            json!({
                "service": service.service,
                "calls": service.calls,
                "cost_usd": service.cost_usd.normalize().to_string(),
            })
        })
        .collect();
    let units: Vec<Value> = report
        .units
        .iter()
        .map(|unit| {
            json!({
                "kpi": unit.kpi,
                "units": unit.units,
                "total_usd": unit.total.normalize().to_string(),
                "per_unit_usd": unit.per_unit.map(|amount| amount.normalize().to_string()),
                "cost_basis": unit.basis.as_str(),
            })
        })
        .collect();
    (downstream, traces, units)
}
