//! Record-to-column conversion: one polars `DataFrame` per table and date.
//!
//! Nested values (attributes, links, events, histogram buckets) are stored as JSON text, so
//! any Parquet reader can use them without knowing a nested schema. Every row carries `seq`,
//! the sequence number of the write that stored it, which the buffer appends as the last
//! column when it joins frames into row groups.

use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::array::{MutableBinaryViewArray, View};
use serde::Serialize;
use serde_json::json;
use time::{Date, OffsetDateTime};

use crate::invocation::{
    Architecture, BillingEra, ColdStartSource, InitializationType, MemoryUnit, Source,
};
use crate::model::attribute::{JsonObject, write_json_object};
use crate::model::{
    Attributes, Event, Invocation, Link, MetricPoint, PointValue, Span, Temporality,
};

/// Returns the UTC date of a time in ns since the Unix epoch; times past the range `time`
/// supports fall on 1970-01-01.
pub(crate) fn date_of_ns(ns: u64) -> Date {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .map_or(OffsetDateTime::UNIX_EPOCH.date(), OffsetDateTime::date)
}

fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

/// A link as the `links` column stores it. Fields are in key order, as in a
/// `serde_json::Value` object, so the text matches what earlier versions wrote.
#[derive(Serialize)]
struct LinkJson<'a> {
    attributes: JsonObject<'a>,
    flags: u32,
    span_id: String,
    trace_id: String,
    trace_state: &'a Option<String>,
}

/// An event as the `events` column stores it, fields in key order.
#[derive(Serialize)]
struct EventJson<'a> {
    attributes: JsonObject<'a>,
    name: &'a str,
    time_ns: u64,
}

fn write_links(links: &[Link], out: &mut String) {
    if links.is_empty() {
        out.push_str("[]");
        return;
    }
    let links: Vec<LinkJson<'_>> = links
        .iter()
        .map(|link| LinkJson {
            attributes: JsonObject(&link.attributes),
            flags: link.flags,
            span_id: link.span_id.to_hex(),
            trace_id: link.trace_id.to_hex(),
            trace_state: &link.trace_state,
        })
        .collect();
    out.push_str(&serde_json::to_string(&links).expect("links serialize to JSON"));
}

fn write_events(events: &[Event], out: &mut String) {
    if events.is_empty() {
        out.push_str("[]");
        return;
    }
    let events: Vec<EventJson<'_>> = events
        .iter()
        .map(|event| EventJson {
            attributes: JsonObject(&event.attributes),
            name: &event.name,
            time_ns: event.time_ns,
        })
        .collect();
    out.push_str(&serde_json::to_string(&events).expect("events serialize to JSON"));
}

/// Builds a text column value by value. Each value is copied into the column's own buffers,
/// so no `String` is allocated per row.
fn text_column<'a, T: 'a>(
    name: &str,
    rows: &[&'a T],
    value: impl Fn(&'a T) -> Option<&'a str>,
) -> Column {
    let mut builder = StringChunkedBuilder::new(name.into(), rows.len());
    for &row in rows {
        builder.append_option(value(row));
    }
    builder.finish().into_column()
}

/// Builds a text column from values that `write` puts into one scratch `String`, reused for
/// every row; `write` returns `false` for a null.
fn written_column<'a, T: 'a>(
    name: &str,
    rows: &[&'a T],
    mut write: impl FnMut(&'a T, &mut String) -> bool,
) -> Column {
    let mut builder = StringChunkedBuilder::new(name.into(), rows.len());
    let mut scratch = String::new();
    for &row in rows {
        scratch.clear();
        if write(row, &mut scratch) {
            builder.append_value(&scratch);
        } else {
            builder.append_null();
        }
    }
    builder.finish().into_column()
}

/// Builds the `resource_attributes` column. Rows that share one resource (the spans of one
/// request) share one JSON encoding of it, and their values point at one copy of that text
/// instead of each holding its own.
fn resource_column<'a, T: 'a>(
    rows: &[&'a T],
    resource: impl Fn(&'a T) -> &'a Arc<Attributes>,
) -> Column {
    let mut array = MutableBinaryViewArray::<str>::with_capacity(rows.len());
    // The last resource, the view of its text, and the array buffer that holds the text.
    let mut previous: Option<(&Arc<Attributes>, View, _)> = None;
    for &row in rows {
        let attributes = resource(row);
        match &previous {
            Some((shared, view, text)) if Arc::ptr_eq(shared, attributes) => {
                array.push_view(*view, std::slice::from_ref(text));
            }
            _ => {
                let mut json = String::new();
                write_json_object(attributes, &mut json);
                array.push_value(&json);
                // The text goes into a completed buffer, so later rows can point at it.
                array.finish_in_progress();
                let view: View = *array.views().last().expect("a value was just pushed");
                previous = if json.len() > View::MAX_INLINE_SIZE as usize {
                    let text = array.completed_buffers()[view.buffer_idx as usize].clone();
                    // `push_view` reads the buffer index against the one-buffer slice.
                    let shared_view = View {
                        buffer_idx: 0,
                        ..view
                    };
                    Some((attributes, shared_view, text))
                } else {
                    None
                };
            }
        }
    }
    StringChunked::with_chunk("resource_attributes".into(), array.freeze()).into_column()
}

/// Builds the `spans` table rows.
pub(crate) fn spans_frame(rows: &[&Span]) -> PolarsResult<DataFrame> {
    let mut hex = [0_u8; 32];
    DataFrame::new_infer_height(vec![
        written_column("trace_id", rows, |span, out| {
            out.push_str(span.trace_id.hex_in(&mut hex));
            true
        }),
        written_column("span_id", rows, |span, out| {
            out.push_str(span.span_id.hex_in(&mut hex));
            true
        }),
        written_column("parent_span_id", rows, |span, out| {
            span.parent_span_id.is_some_and(|id| {
                out.push_str(id.hex_in(&mut hex));
                true
            })
        }),
        text_column("trace_state", rows, |span| span.trace_state.as_deref()),
        Column::new(
            "flags".into(),
            rows.iter().map(|span| span.flags).collect::<Vec<_>>(),
        ),
        text_column("name", rows, |span| Some(span.name.as_str())),
        text_column("kind", rows, |span| Some(span.kind.as_str())),
        Column::new(
            "start_ns".into(),
            rows.iter().map(|span| span.start_ns).collect::<Vec<_>>(),
        ),
        Column::new(
            "end_ns".into(),
            rows.iter().map(|span| span.end_ns).collect::<Vec<_>>(),
        ),
        Column::new(
            "duration_ns".into(),
            rows.iter()
                .map(|span| span.duration_ns())
                .collect::<Vec<_>>(),
        ),
        text_column("status", rows, |span| Some(span.status.as_str())),
        text_column("status_message", rows, |span| {
            span.status_message.as_deref()
        }),
        text_column("service_name", rows, |span| span.service_name.as_deref()),
        text_column("service_version", rows, |span| {
            span.service_version.as_deref()
        }),
        text_column("faas_name", rows, |span| span.faas_name.as_deref()),
        text_column("faas_invocation_id", rows, |span| {
            span.faas_invocation_id.as_deref()
        }),
        Column::new(
            "faas_coldstart".into(),
            rows.iter()
                .map(|span| span.faas_coldstart)
                .collect::<Vec<_>>(),
        ),
        text_column("faas_trigger", rows, |span| span.faas_trigger.as_deref()),
        written_column("links", rows, |span, out| {
            write_links(&span.links, out);
            true
        }),
        written_column("events", rows, |span, out| {
            write_events(&span.events, out);
            true
        }),
        written_column("attributes", rows, |span, out| {
            write_json_object(&span.attributes, out);
            true
        }),
        resource_column(rows, |span| &span.resource_attributes),
        text_column("scope_name", rows, |span| span.scope_name.as_deref()),
        text_column("scope_version", rows, |span| span.scope_version.as_deref()),
    ])
}

/// Returns the bucket part of a point as JSON; `None` for gauges and sums.
fn histogram_json(value: &PointValue) -> Option<String> {
    let value = match value {
        PointValue::Histogram(histogram) => json!({
            "explicit_bounds": histogram.explicit_bounds,
            "bucket_counts": histogram.bucket_counts,
        }),
        PointValue::ExponentialHistogram(histogram) => json!({
            "scale": histogram.scale,
            "zero_count": histogram.zero_count,
            "zero_threshold": histogram.zero_threshold,
            "positive": {
                "offset": histogram.positive.offset,
                "bucket_counts": histogram.positive.bucket_counts,
            },
            "negative": {
                "offset": histogram.negative.offset,
                "bucket_counts": histogram.negative.bucket_counts,
            },
        }),
        PointValue::Summary(summary) => json!({
            "quantiles": summary
                .quantiles
                .iter()
                .map(|(quantile, value)| json!({"quantile": quantile, "value": value}))
                .collect::<Vec<_>>(),
        }),
        _ => return None,
    };
    Some(json_text(&value))
}

/// Count, sum, min and max of a histogram or summary point.
fn aggregates(value: &PointValue) -> (Option<u64>, Option<f64>, Option<f64>, Option<f64>) {
    match value {
        PointValue::Histogram(histogram) => (
            Some(histogram.count),
            histogram.sum,
            histogram.min,
            histogram.max,
        ),
        PointValue::ExponentialHistogram(histogram) => (
            Some(histogram.count),
            histogram.sum,
            histogram.min,
            histogram.max,
        ),
        PointValue::Summary(summary) => (Some(summary.count), summary.sum, None, None),
        _ => (None, None, None, None),
    }
}

/// Builds the `metrics` table rows.
pub(crate) fn metrics_frame(rows: &[&MetricPoint]) -> PolarsResult<DataFrame> {
    let text = |f: fn(&MetricPoint) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(|point| f(point)).collect()
    };
    let aggregate: Vec<_> = rows.iter().map(|point| aggregates(&point.value)).collect();
    DataFrame::new_infer_height(vec![
        Column::new("name".into(), text(|point| Some(point.name.as_str()))),
        Column::new(
            "description".into(),
            text(|point| point.description.as_deref()),
        ),
        Column::new("unit".into(), text(|point| point.unit.as_deref())),
        Column::new("kind".into(), text(|point| Some(point.kind.as_str()))),
        Column::new(
            "temporality".into(),
            text(|point| point.temporality.map(Temporality::as_str)),
        ),
        Column::new(
            "monotonic".into(),
            rows.iter().map(|point| point.monotonic).collect::<Vec<_>>(),
        ),
        Column::new(
            "start_ns".into(),
            rows.iter().map(|point| point.start_ns).collect::<Vec<_>>(),
        ),
        Column::new(
            "time_ns".into(),
            rows.iter().map(|point| point.time_ns).collect::<Vec<_>>(),
        ),
        Column::new(
            "value_state".into(),
            text(|point| Some(point.value.state())),
        ),
        Column::new(
            "value_int".into(),
            rows.iter()
                .map(|point| match point.value {
                    PointValue::Int(value) => Some(value),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "value_double".into(),
            rows.iter()
                .map(|point| match point.value {
                    PointValue::Double(value) => Some(value),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "count".into(),
            aggregate.iter().map(|values| values.0).collect::<Vec<_>>(),
        ),
        Column::new(
            "sum".into(),
            aggregate.iter().map(|values| values.1).collect::<Vec<_>>(),
        ),
        Column::new(
            "min".into(),
            aggregate.iter().map(|values| values.2).collect::<Vec<_>>(),
        ),
        Column::new(
            "max".into(),
            aggregate.iter().map(|values| values.3).collect::<Vec<_>>(),
        ),
        Column::new(
            "buckets".into(),
            rows.iter()
                .map(|point| histogram_json(&point.value))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "flags".into(),
            rows.iter().map(|point| point.flags).collect::<Vec<_>>(),
        ),
        written_column("attributes", rows, |point, out| {
            write_json_object(&point.attributes, out);
            true
        }),
        resource_column(rows, |point| &point.resource_attributes),
        Column::new(
            "service_name".into(),
            text(|point| point.service_name.as_deref()),
        ),
        Column::new(
            "scope_name".into(),
            text(|point| point.scope_name.as_deref()),
        ),
    ])
}

fn memory_unit_name(unit: MemoryUnit) -> &'static str {
    match unit {
        MemoryUnit::Mb => "mb",
        MemoryUnit::Mib => "mib",
        MemoryUnit::Bytes => "bytes",
    }
}

fn cold_start_source_name(source: ColdStartSource) -> &'static str {
    match source {
        ColdStartSource::Platform => "platform",
        ColdStartSource::AppFlag => "app_flag",
    }
}

fn initialization_type_name(kind: InitializationType) -> &'static str {
    match kind {
        InitializationType::OnDemand => "on-demand",
        InitializationType::ProvisionedConcurrency => "provisioned-concurrency",
        InitializationType::SnapStart => "snap-start",
    }
}

fn architecture_name(architecture: Architecture) -> &'static str {
    match architecture {
        Architecture::X86_64 => "x86_64",
        Architecture::Arm64 => "arm64",
    }
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::ReportLine => "report_line",
        Source::PlatformReport => "platform_report",
        Source::Simulator => "simulator",
    }
}

fn billing_era_name(era: BillingEra) -> &'static str {
    match era {
        BillingEra::Rounded100Ms => "rounded_100ms",
        BillingEra::Rounded1Ms => "rounded_1ms",
        BillingEra::InitBilled => "init_billed",
    }
}

/// Builds the `invocations` table rows.
#[expect(
    clippy::too_many_lines,
    reason = "one entry per column, in table order"
)]
pub(crate) fn invocations_frame(rows: &[&Invocation]) -> PolarsResult<DataFrame> {
    let text = |f: fn(&Invocation) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(|invocation| f(invocation)).collect()
    };
    let numbers = |f: fn(&Invocation) -> Option<f64>| -> Vec<Option<f64>> {
        rows.iter().map(|invocation| f(invocation)).collect()
    };
    DataFrame::new_infer_height(vec![
        Column::new(
            "request_id".into(),
            text(|invocation| Some(invocation.request_id.as_str())),
        ),
        Column::new(
            "function".into(),
            text(|invocation| invocation.function.as_deref()),
        ),
        Column::new(
            "version".into(),
            text(|invocation| invocation.version.as_deref()),
        ),
        Column::new(
            "start_ns".into(),
            rows.iter()
                .map(|invocation| {
                    invocation
                        .start
                        .and_then(|start| i64::try_from(start.unix_timestamp_nanos()).ok())
                })
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "duration_ms".into(),
            numbers(|invocation| Some(invocation.duration_ms)),
        ),
        Column::new(
            "billed_ms".into(),
            rows.iter()
                .map(|invocation| invocation.billed_ms)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "memory_mb".into(),
            rows.iter()
                .map(|invocation| invocation.memory_mb)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "memory_unit".into(),
            text(|invocation| Some(memory_unit_name(invocation.memory_unit))),
        ),
        Column::new(
            "max_memory_used_mb".into(),
            rows.iter()
                .map(|invocation| invocation.max_memory_used_mb)
                .collect::<Vec<_>>(),
        ),
        Column::new("init_ms".into(), numbers(|invocation| invocation.init_ms)),
        Column::new(
            "restore_ms".into(),
            numbers(|invocation| invocation.restore_ms),
        ),
        Column::new(
            "billed_restore_ms".into(),
            rows.iter()
                .map(|invocation| invocation.billed_restore_ms)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "status".into(),
            text(|invocation| Some(invocation.status.as_str())),
        ),
        Column::new(
            "error_type".into(),
            text(|invocation| invocation.error_type.as_deref()),
        ),
        Column::new(
            "out_of_memory".into(),
            rows.iter()
                .map(|invocation| invocation.out_of_memory)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "cold_start".into(),
            rows.iter()
                .map(|invocation| invocation.cold_start)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "cold_start_source".into(),
            text(|invocation| Some(cold_start_source_name(invocation.cold_start_source))),
        ),
        Column::new(
            "initialization_type".into(),
            text(|invocation| invocation.initialization_type.map(initialization_type_name)),
        ),
        Column::new(
            "architecture".into(),
            text(|invocation| invocation.architecture.map(architecture_name)),
        ),
        Column::new(
            "region".into(),
            text(|invocation| invocation.region.as_deref()),
        ),
        Column::new(
            "account".into(),
            text(|invocation| invocation.account.as_deref()),
        ),
        Column::new(
            "trace_id".into(),
            text(|invocation| {
                invocation
                    .trace
                    .as_ref()
                    .and_then(|trace| trace.w3c_trace_id.as_deref())
            }),
        ),
        Column::new(
            "xray_trace_id".into(),
            text(|invocation| {
                invocation
                    .trace
                    .as_ref()
                    .map(|trace| trace.xray_trace_id.as_str())
            }),
        ),
        Column::new(
            "source".into(),
            text(|invocation| Some(source_name(invocation.source))),
        ),
        Column::new(
            "billing_era".into(),
            text(|invocation| invocation.billing_era.map(billing_era_name)),
        ),
    ])
}
