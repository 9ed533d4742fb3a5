//! Writing a report as a terminal table, Markdown or JSON.

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
    }
}

fn money(amount: Decimal) -> String {
    format!("${}", amount.round_dp(10).normalize())
}

fn verdict_text(regression: &Regression) -> &'static str {
    match regression.comparison.verdict {
        Verdict::Regression => "REGRESSION",
        Verdict::NoRegression => "ok",
        Verdict::InsufficientSamples => "insufficient samples",
    }
}

fn evidence(regression: &Regression) -> String {
    let comparison = &regression.comparison;
    let interval = comparison
        .ratio_interval
        .map(|(low, high)| format!(" (95% CI {low:.2} to {high:.2})"))
        .unwrap_or_default();
    let p_value = comparison
        .p_value
        .map_or_else(|| "-".to_owned(), |p| format!("{p:.2e}"));
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

/// Returns the functions without a latency comparison, which ran one version.
fn unchanged(report: &Report) -> impl Iterator<Item = &String> {
    report.functions.keys().filter(|function| {
        !report
            .regressions
            .iter()
            .any(|regression| &regression.function == *function)
    })
}

fn shift_text(shift: &LatencyShift) -> String {
    let version = shift
        .version
        .as_deref()
        .map(|version| format!(" with version {version}"))
        .unwrap_or_default();
    format!(
        "{}: hourly p95 shifted {:+.0}% ({:.1} -> {:.1} ms) from {}{version} (E-divisive, Welch t-test p = {:.2e})",
        shift.function,
        shift.change.relative_change * 100.0,
        shift.change.before,
        shift.change.after,
        shift.at,
        shift.change.p_value
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

const HEADERS: [&str; 10] = [
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

fn rows(report: &Report) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = report
        .functions
        .iter()
        .map(|(name, figures)| figure_cells(name, figures))
        .collect();
    rows.push(figure_cells("total", &report.totals));
    rows
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
    }

    let _ = writeln!(out, "\nlatency:");
    for regression in &report.regressions {
        let verdict = match regression.comparison.verdict {
            Verdict::Regression => paint(verdict_text(regression), "1;31"),
            _ => verdict_text(regression).to_owned(),
        };
        let _ = writeln!(
            out,
            "  {}: {verdict} ({})",
            regression.function,
            evidence(regression)
        );
    }
    for function in unchanged(report) {
        let _ = writeln!(out, "  {function}: no new version in the window");
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
    }
    let _ = writeln!(out, "\n### Latency\n");
    for regression in &report.regressions {
        let marker = if regression.comparison.verdict == Verdict::Regression {
            "**REGRESSION**"
        } else {
            verdict_text(regression)
        };
        let _ = writeln!(
            out,
            "- `{}`: {marker}: {}",
            regression.function,
            evidence(regression)
        );
    }
    for function in unchanged(report) {
        let _ = writeln!(out, "- `{function}`: no new version in the window");
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
    json!({
        "schema_version": SCHEMA_VERSION,
        "period": report.period.as_ref().map(|(first, last)| json!({"from": first, "to": last})),
        "totals": figures_json(&report.totals),
        "functions": functions,
        "projected_monthly_usd": report.projected_monthly_usd.map(|amount| amount.normalize().to_string()),
        "regressions": regressions,
        "latency_shifts": shifts,
        "findings": findings,
    })
}
