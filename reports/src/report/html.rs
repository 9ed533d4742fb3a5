//! A report as one self-contained HTML page: inline CSS and SVG charts, no scripts and no
//! external resources, so it can be attached to a CI run or mailed as is.
//!
//! Charts: per function, p50, p95 and p99 latency over time; cost per function over time;
//! and the cost breakdown by function and downstream service. Every value taken from the
//! data (function names, span names, trace ids) is HTML-escaped.

use std::fmt::Write as _;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;

use super::render::{
    HEADERS, cost_lines, evidence, money, no_comparison, quiet_spans, rows, shift_text, shown,
    subject, trace_text, unchanged, verdict_text,
};
use super::{Report, Timeline};
use crate::detect::latency::Verdict;

/// Line colors, picked to stay apart for the common forms of color blindness.
const PALETTE: [&str; 8] = [
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000",
];

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 150.0;
const MARGIN_TOP: f64 = 16.0;
const MARGIN_BOTTOM: f64 = 40.0;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}\
.bad{color:#b00020;font-weight:bold}svg{display:block;margin:0.5em 0 1.5em}\
svg text{font-size:11px;fill:#333}code{font-size:0.95em}";

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(character),
        }
    }
    out
}

/// Renders the page.
pub(super) fn page(report: &Report) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        out,
        "<title>spanbill report</title><style>{STYLE}</style></head><body><h1>spanbill report</h1>"
    );
    if let Some((first, last)) = &report.period {
        let _ = write!(out, "<p>Period: {} to {}</p>", escape(first), escape(last));
    }

    out.push_str("<h2>Functions</h2><table><tr>");
    for header in HEADERS {
        let _ = write!(out, "<th>{}</th>", escape(header));
    }
    out.push_str("</tr>");
    for row in rows(report) {
        out.push_str("<tr>");
        for (column, cell) in row.iter().enumerate() {
            let class = if column == 0 { "" } else { " class=\"n\"" };
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    if let Some(projected) = report.projected_monthly_usd {
        let _ = write!(
            out,
            "<p>Projected monthly Lambda spend: {} (estimate).</p>",
            escape(&money(projected))
        );
    } else if let Some(note) = &report.projection_note {
        let _ = write!(
            out,
            "<p>Projected monthly Lambda spend: none, because {}.</p>",
            escape(note)
        );
    }
    list(&mut out, &cost_lines(report));

    out.push_str("<h2>Cost breakdown</h2>");
    out.push_str(&breakdown_chart(report));
    out.push_str("<h2>Cost over time</h2>");
    out.push_str(&cost_chart(&report.timeline));
    out.push_str("<h2>Latency over time</h2>");
    for (index, (function, buckets)) in report.timeline.functions.iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let points = |percentile: usize| -> Vec<(f64, f64)> {
            buckets
                .iter()
                .map(|bucket| (bucket.start as f64, bucket.duration_ms[percentile]))
                .collect()
        };
        let _ = write!(out, "<h3>{}</h3>", escape(function));
        out.push_str(&line_chart(
            &[
                Series::new("p50", color, "", points(0)),
                Series::new("p95", color, "6 3", points(1)),
                Series::new("p99", color, "2 3", points(2)),
            ],
            &format!("{function} latency percentiles"),
            "ms",
        ));
    }

    if let Some(traces) = report
        .traces
        .as_ref()
        .filter(|traces| !traces.top.is_empty())
    {
        out.push_str("<h2>Most expensive traces</h2>");
        let lines: Vec<String> = traces.top.iter().map(trace_text).collect();
        list(&mut out, &lines);
    }

    latency_section(&mut out, report);
    out.push_str("<h2>Findings</h2>");
    if report.findings.is_empty() {
        out.push_str("<p>None.</p>");
    }
    out.push_str("<ul>");
    for finding in &report.findings {
        let _ = write!(
            out,
            "<li><b>{}</b>: {}</li>",
            escape(finding.kind.as_str()),
            escape(&finding.summary)
        );
    }
    out.push_str("</ul></body></html>\n");
    out
}

fn latency_section(out: &mut String, report: &Report) {
    out.push_str("<h2>Latency</h2>");
    if let Some(baseline) = &report.baseline {
        let _ = write!(out, "<p>Compared with the {}.</p>", escape(baseline));
    }
    out.push_str("<ul>");
    for regression in shown(report) {
        let verdict = verdict_text(regression);
        let verdict = if regression.comparison.verdict == Verdict::Regression {
            format!("<span class=\"bad\">{verdict}</span>")
        } else {
            escape(verdict)
        };
        let _ = write!(
            out,
            "<li><code>{}</code>: {verdict}: {}</li>",
            escape(&subject(regression)),
            escape(&evidence(regression))
        );
    }
    for function in unchanged(report) {
        let _ = write!(out, "<li>{}</li>", escape(&no_comparison(report, function)));
    }
    if let Some(line) = quiet_spans(report) {
        let _ = write!(out, "<li>{}</li>", escape(&line));
    }
    for shift in &report.shifts {
        let _ = write!(out, "<li>{}</li>", escape(&shift_text(shift)));
    }
    out.push_str("</ul>");
}

fn list(out: &mut String, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    out.push_str("<ul>");
    for line in lines {
        let _ = write!(out, "<li>{}</li>", escape(line));
    }
    out.push_str("</ul>");
}

/// One line of a chart.
struct Series<'a> {
    name: &'a str,
    color: &'a str,
    /// SVG `stroke-dasharray`; empty for a solid line.
    dash: &'a str,
    points: Vec<(f64, f64)>,
}

impl<'a> Series<'a> {
    fn new(name: &'a str, color: &'a str, dash: &'a str, points: Vec<(f64, f64)>) -> Self {
        Self {
            name,
            color,
            dash,
            points,
        }
    }
}

fn cost_chart(timeline: &Timeline) -> String {
    let series: Vec<Series<'_>> = timeline
        .functions
        .iter()
        .enumerate()
        .map(|(index, (function, buckets))| {
            Series::new(
                function,
                PALETTE[index % PALETTE.len()],
                "",
                buckets
                    .iter()
                    .map(|bucket| {
                        (
                            bucket.start as f64,
                            bucket.cost_usd.to_f64().unwrap_or_default(),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    let unit = if timeline.bucket_seconds == 3600 {
        "USD per hour"
    } else {
        "USD per day"
    };
    line_chart(&series, "Lambda cost per function over time", unit)
}

/// Draws a line chart with time on the x axis (Unix seconds, labelled in UTC) and a value
/// axis from 0.
fn line_chart(series: &[Series<'_>], title: &str, unit: &str) -> String {
    let points = || series.iter().flat_map(|line| line.points.iter());
    let finite = |value: &f64| value.is_finite();
    let x_min = points()
        .map(|point| point.0)
        .filter(finite)
        .fold(f64::INFINITY, f64::min);
    let x_max = points()
        .map(|point| point.0)
        .filter(finite)
        .fold(f64::NEG_INFINITY, f64::max);
    let y_max = points()
        .map(|point| point.1)
        .filter(finite)
        .fold(0.0, f64::max);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\"><title>{}</title>",
        escape(title)
    );
    if !x_min.is_finite() {
        out.push_str("<text x=\"10\" y=\"20\">no data</text></svg>");
        return out;
    }
    let x_span = (x_max - x_min).max(1.0);
    let y_top = nice_ceiling(y_max);
    let plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let x_of = |x: f64| MARGIN_LEFT + (x - x_min) / x_span * plot_width;
    let y_of = |y: f64| MARGIN_TOP + plot_height - y / y_top * plot_height;

    // Axes, value grid and labels.
    let bottom = MARGIN_TOP + plot_height;
    let right = MARGIN_LEFT + plot_width;
    let _ = write!(
        out,
        "<line x1=\"{MARGIN_LEFT}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" stroke=\"#888\"/>\
         <line x1=\"{MARGIN_LEFT}\" y1=\"{MARGIN_TOP}\" x2=\"{MARGIN_LEFT}\" y2=\"{bottom}\" stroke=\"#888\"/>"
    );
    for step in 0..=4 {
        let value = y_top * f64::from(step) / 4.0;
        let y = y_of(value);
        let _ = write!(
            out,
            "<line x1=\"{MARGIN_LEFT}\" y1=\"{y:.1}\" x2=\"{right}\" y2=\"{y:.1}\" stroke=\"#eee\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            MARGIN_LEFT - 4.0,
            y + 4.0,
            axis_number(value)
        );
    }
    for step in 0..=4 {
        let x = x_min + x_span * f64::from(step) / 4.0;
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x_of(x),
            bottom + 16.0,
            time_label(x)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{MARGIN_LEFT}\" y=\"{:.1}\">{} (UTC)</text>",
        HEIGHT - 4.0,
        escape(unit)
    );

    for (index, line) in series.iter().enumerate() {
        let path: Vec<String> = line
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", x_of(x), y_of(y)))
            .collect();
        let dash = if line.dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{}\"", line.dash)
        };
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"{dash} points=\"{}\"/>",
            line.color,
            path.join(" ")
        );
        // Legend on the right.
        let y = MARGIN_TOP + 14.0 * index as f64 + 6.0;
        let _ = write!(
            out,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{}\" stroke-width=\"2\"{dash}/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            right + 10.0,
            right + 30.0,
            line.color,
            right + 34.0,
            y + 4.0,
            escape(line.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// Draws horizontal bars of spend per function and per downstream service.
fn breakdown_chart(report: &Report) -> String {
    let mut bars: Vec<(String, Decimal)> = report
        .functions
        .iter()
        .map(|(function, figures)| (format!("{function} (Lambda)"), figures.cost_usd))
        .collect();
    bars.extend(report.downstream.iter().map(|service| {
        (
            format!("{} (downstream)", service.service),
            service.cost_usd,
        )
    }));
    bars.sort_by_key(|(_, amount)| std::cmp::Reverse(*amount));
    let total: Decimal = bars.iter().map(|(_, amount)| *amount).sum();
    let largest = bars
        .first()
        .and_then(|(_, amount)| amount.to_f64())
        .unwrap_or(0.0);
    let row = 22.0;
    let height = row * bars.len() as f64 + 10.0;
    let label_width = 220.0;
    let bar_width = WIDTH - label_width - 200.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" role=\"img\"><title>Cost breakdown</title>"
    );
    for (index, (name, amount)) in bars.iter().enumerate() {
        let y = 5.0 + row * index as f64;
        let value = amount.to_f64().unwrap_or_default();
        let length = if largest > 0.0 {
            value / largest * bar_width
        } else {
            0.0
        };
        let share = if total.is_zero() {
            0.0
        } else {
            (*amount / total).to_f64().unwrap_or_default() * 100.0
        };
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label_width}\" y=\"{y:.1}\" width=\"{length:.1}\" height=\"{:.1}\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{} ({share:.1}%)</text>",
            label_width - 6.0,
            y + 14.0,
            escape(name),
            row - 6.0,
            PALETTE[index % PALETTE.len()],
            label_width + length + 6.0,
            y + 14.0,
            escape(&money(*amount))
        );
    }
    out.push_str("</svg>");
    out
}

/// Rounds up to 1, 2 or 5 times a power of ten, for the top of a value axis.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10_f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|top| *top >= value)
        .unwrap_or(10.0 * magnitude)
}

fn axis_number(value: f64) -> String {
    if value == 0.0 {
        "0".to_owned()
    } else if value.abs() >= 0.01 && value.abs() < 100_000.0 {
        format!("{}", (value * 1000.0).round() / 1000.0)
    } else {
        format!("{value:.1e}")
    }
}

/// Formats Unix seconds as `MM-DD HH:MM` in UTC.
fn time_label(seconds: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds as i64)
        .map(|at| {
            format!(
                "{:02}-{:02} {:02}:{:02}",
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute()
            )
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn nice_ceiling_steps() {
        for (value, top) in [
            (0.0, 1.0),
            (3.2, 5.0),
            (17.0, 20.0),
            (100.0, 100.0),
            (0.00042, 0.0005),
        ] {
            assert!((nice_ceiling(value) - top).abs() < 1e-12, "{value}");
        }
    }
}
