//! Record-to-column conversion: one polars `DataFrame` per table and date.
//!
//! Nested values (attributes, links, events, histogram buckets) are stored as JSON text, so
//! any Parquet reader can use them without knowing a nested schema. Every row carries `seq`,
//! the sequence number of the write that stored it.

use std::sync::Arc;

use polars::prelude::*;
use serde::Serialize;
use serde_json::json;
use time::{Date, OffsetDateTime};

use crate::invocation::{
    Architecture, BillingEra, ColdStartSource, InitializationType, MemoryUnit, Source,
};
use crate::model::attribute::JsonObject;
use crate::model::{
    Attributes, Event, Invocation, Link, MetricPoint, PointValue, Span, Temporality,
    attributes_to_json_text,
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

fn links_json(links: &[Link]) -> String {
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
    serde_json::to_string(&links).expect("links serialize to JSON")
}

fn events_json(events: &[Event]) -> String {
    let events: Vec<EventJson<'_>> = events
        .iter()
        .map(|event| EventJson {
            attributes: JsonObject(&event.attributes),
            name: &event.name,
            time_ns: event.time_ns,
        })
        .collect();
    serde_json::to_string(&events).expect("events serialize to JSON")
}

/// Returns the JSON text of each row's resource attributes. Rows that share one resource
/// (the spans or points of one request) share one encoding.
fn resource_json<'a>(resources: impl Iterator<Item = &'a Arc<Attributes>>) -> Vec<String> {
    let mut previous: Option<(&Arc<Attributes>, String)> = None;
    resources
        .map(|resource| {
            if let Some((shared, text)) = &previous
                && Arc::ptr_eq(shared, resource)
            {
                return text.clone();
            }
            let text = attributes_to_json_text(resource);
            previous = Some((resource, text.clone()));
            text
        })
        .collect()
}

/// Builds the `spans` table rows.
#[expect(
    clippy::too_many_lines,
    reason = "one entry per column, in table order"
)]
pub(crate) fn spans_frame(rows: &[(u64, &Span)]) -> PolarsResult<DataFrame> {
    let text = |f: fn(&Span) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(|(_, span)| f(span)).collect()
    };
    let links: Vec<String> = rows
        .iter()
        .map(|(_, span)| links_json(&span.links))
        .collect();
    let events: Vec<String> = rows
        .iter()
        .map(|(_, span)| events_json(&span.events))
        .collect();
    DataFrame::new_infer_height(vec![
        Column::new(
            "trace_id".into(),
            rows.iter()
                .map(|(_, span)| span.trace_id.to_hex())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "span_id".into(),
            rows.iter()
                .map(|(_, span)| span.span_id.to_hex())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "parent_span_id".into(),
            rows.iter()
                .map(|(_, span)| span.parent_span_id.map(|id| id.to_hex()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "trace_state".into(),
            text(|span| span.trace_state.as_deref()),
        ),
        Column::new(
            "flags".into(),
            rows.iter().map(|(_, span)| span.flags).collect::<Vec<_>>(),
        ),
        Column::new("name".into(), text(|span| Some(span.name.as_str()))),
        Column::new("kind".into(), text(|span| Some(span.kind.as_str()))),
        Column::new(
            "start_ns".into(),
            rows.iter()
                .map(|(_, span)| span.start_ns)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "end_ns".into(),
            rows.iter().map(|(_, span)| span.end_ns).collect::<Vec<_>>(),
        ),
        Column::new(
            "duration_ns".into(),
            rows.iter()
                .map(|(_, span)| span.duration_ns())
                .collect::<Vec<_>>(),
        ),
        Column::new("status".into(), text(|span| Some(span.status.as_str()))),
        Column::new(
            "status_message".into(),
            text(|span| span.status_message.as_deref()),
        ),
        Column::new(
            "service_name".into(),
            text(|span| span.service_name.as_deref()),
        ),
        Column::new(
            "service_version".into(),
            text(|span| span.service_version.as_deref()),
        ),
        Column::new("faas_name".into(), text(|span| span.faas_name.as_deref())),
        Column::new(
            "faas_invocation_id".into(),
            text(|span| span.faas_invocation_id.as_deref()),
        ),
        Column::new(
            "faas_coldstart".into(),
            rows.iter()
                .map(|(_, span)| span.faas_coldstart)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "faas_trigger".into(),
            text(|span| span.faas_trigger.as_deref()),
        ),
        Column::new("links".into(), links),
        Column::new("events".into(), events),
        Column::new(
            "attributes".into(),
            rows.iter()
                .map(|(_, span)| attributes_to_json_text(&span.attributes))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "resource_attributes".into(),
            resource_json(rows.iter().map(|(_, span)| &span.resource_attributes)),
        ),
        Column::new("scope_name".into(), text(|span| span.scope_name.as_deref())),
        Column::new(
            "scope_version".into(),
            text(|span| span.scope_version.as_deref()),
        ),
        seq_column(rows.iter().map(|(seq, _)| *seq)),
    ])
}

fn seq_column(seqs: impl Iterator<Item = u64>) -> Column {
    Column::new("seq".into(), seqs.collect::<Vec<_>>())
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
#[expect(
    clippy::too_many_lines,
    reason = "one entry per column, in table order"
)]
pub(crate) fn metrics_frame(rows: &[(u64, &MetricPoint)]) -> PolarsResult<DataFrame> {
    let text = |f: fn(&MetricPoint) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(|(_, point)| f(point)).collect()
    };
    let aggregate: Vec<_> = rows
        .iter()
        .map(|(_, point)| aggregates(&point.value))
        .collect();
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
            rows.iter()
                .map(|(_, point)| point.monotonic)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "start_ns".into(),
            rows.iter()
                .map(|(_, point)| point.start_ns)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "time_ns".into(),
            rows.iter()
                .map(|(_, point)| point.time_ns)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "value_state".into(),
            text(|point| Some(point.value.state())),
        ),
        Column::new(
            "value_int".into(),
            rows.iter()
                .map(|(_, point)| match point.value {
                    PointValue::Int(value) => Some(value),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "value_double".into(),
            rows.iter()
                .map(|(_, point)| match point.value {
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
                .map(|(_, point)| histogram_json(&point.value))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "flags".into(),
            rows.iter()
                .map(|(_, point)| point.flags)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "attributes".into(),
            rows.iter()
                .map(|(_, point)| attributes_to_json_text(&point.attributes))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "resource_attributes".into(),
            resource_json(rows.iter().map(|(_, point)| &point.resource_attributes)),
        ),
        Column::new(
            "service_name".into(),
            text(|point| point.service_name.as_deref()),
        ),
        Column::new(
            "scope_name".into(),
            text(|point| point.scope_name.as_deref()),
        ),
        seq_column(rows.iter().map(|(seq, _)| *seq)),
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
pub(crate) fn invocations_frame(rows: &[(u64, &Invocation)]) -> PolarsResult<DataFrame> {
    let text = |f: fn(&Invocation) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(|(_, invocation)| f(invocation)).collect()
    };
    let numbers = |f: fn(&Invocation) -> Option<f64>| -> Vec<Option<f64>> {
        rows.iter().map(|(_, invocation)| f(invocation)).collect()
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
                .map(|(_, invocation)| {
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
                .map(|(_, invocation)| invocation.billed_ms)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "memory_mb".into(),
            rows.iter()
                .map(|(_, invocation)| invocation.memory_mb)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "memory_unit".into(),
            text(|invocation| Some(memory_unit_name(invocation.memory_unit))),
        ),
        Column::new(
            "max_memory_used_mb".into(),
            rows.iter()
                .map(|(_, invocation)| invocation.max_memory_used_mb)
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
                .map(|(_, invocation)| invocation.billed_restore_ms)
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
                .map(|(_, invocation)| invocation.out_of_memory)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "cold_start".into(),
            rows.iter()
                .map(|(_, invocation)| invocation.cold_start)
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
        seq_column(rows.iter().map(|(seq, _)| *seq)),
    ])
}
