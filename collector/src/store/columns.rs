//! Record-to-column conversion: one polars `DataFrame` per table and date.
//!
//! Nested values (attributes, links, events, histogram buckets) are stored as JSON text, so
//! any Parquet reader can use them without knowing a nested schema. Every row carries `seq`,
//! the sequence number of the write that stored it, which the buffer appends as the last
//! column when it joins frames into row groups.

use std::ops::Range;
use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::array::{MutableBinaryViewArray, View};
use polars_buffer::Buffer;
use serde_json::json;
use time::{Date, OffsetDateTime};

use crate::invocation::{
    Architecture, BillingEra, ColdStartSource, InitializationType, MemoryUnit, Source,
};
use crate::model::attribute::{
    AttributeRef, borrow_attributes, write_json_attributes, write_json_object, write_json_string,
};
use crate::model::{
    Attributes, Event, Invocation, Link, MetricPoint, PointValue, Span, SpanId, SpanKind,
    StatusCode, Temporality, TraceId,
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

/// A link as the `links` column stores it, borrowed from a [`Link`] or a request body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinkRef<'a> {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) trace_state: Option<&'a str>,
    pub(crate) flags: u32,
    pub(crate) attributes: Vec<AttributeRef<'a>>,
}

/// An event as the `events` column stores it, borrowed from an [`Event`] or a request body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventRef<'a> {
    pub(crate) name: &'a str,
    pub(crate) time_ns: u64,
    pub(crate) attributes: Vec<AttributeRef<'a>>,
}

/// Appends links as the `links` column's JSON: an array of objects with their fields in key
/// order, as earlier versions wrote them through `serde_json`.
pub(crate) fn write_links(links: &[LinkRef<'_>], out: &mut String) {
    let mut hex = [0_u8; 32];
    out.push('[');
    for (index, link) in links.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(r#"{"attributes":"#);
        write_json_attributes(&link.attributes, out);
        out.push_str(r#","flags":"#);
        out.push_str(itoa::Buffer::new().format(link.flags));
        out.push_str(r#","span_id":""#);
        out.push_str(link.span_id.hex_in(&mut hex));
        out.push_str(r#"","trace_id":""#);
        out.push_str(link.trace_id.hex_in(&mut hex));
        out.push_str(r#"","trace_state":"#);
        match link.trace_state {
            Some(state) => write_json_string(state, out),
            None => out.push_str("null"),
        }
        out.push('}');
    }
    out.push(']');
}

/// Appends events as the `events` column's JSON, fields in key order.
pub(crate) fn write_events(events: &[EventRef<'_>], out: &mut String) {
    out.push('[');
    for (index, event) in events.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(r#"{"attributes":"#);
        write_json_attributes(&event.attributes, out);
        out.push_str(r#","name":"#);
        write_json_string(event.name, out);
        out.push_str(r#","time_ns":"#);
        out.push_str(itoa::Buffer::new().format(event.time_ns));
        out.push('}');
    }
    out.push(']');
}

fn borrow_links(links: &[Link]) -> Vec<LinkRef<'_>> {
    links
        .iter()
        .map(|link| LinkRef {
            trace_id: link.trace_id,
            span_id: link.span_id,
            trace_state: link.trace_state.as_deref(),
            flags: link.flags,
            attributes: borrow_attributes(&link.attributes),
        })
        .collect()
}

fn borrow_events(events: &[Event]) -> Vec<EventRef<'_>> {
    events
        .iter()
        .map(|event| EventRef {
            name: &event.name,
            time_ns: event.time_ns,
            attributes: borrow_attributes(&event.attributes),
        })
        .collect()
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

/// Builds the `resource_attributes` column of metric points. Rows that share one resource
/// (the points of one request) share one JSON encoding of it, and their values point at one
/// copy of that text instead of each holding its own.
fn resource_column<'a, T: 'a>(
    rows: &[&'a T],
    resource: impl Fn(&'a T) -> &'a Arc<Attributes>,
) -> Column {
    let mut column = SharedTextColumn::new(rows.len());
    let mut previous: Option<&Arc<Attributes>> = None;
    let mut json = String::new();
    for &row in rows {
        let attributes = resource(row);
        if !previous.is_some_and(|shared| Arc::ptr_eq(shared, attributes)) {
            json.clear();
            write_json_object(attributes, &mut json);
            column.start_value(&json);
            previous = Some(attributes);
        }
        column.push_current();
    }
    column.finish("resource_attributes")
}

/// A text column in which runs of rows repeat one value. Each run's text is stored once and
/// the rows of the run point at it.
struct SharedTextColumn {
    array: MutableBinaryViewArray<str>,
    /// The view of the current run's text, and the array buffer that contains it. A text
    /// short enough to sit in the view itself has no buffer.
    current: (View, Option<Buffer<u8>>),
}

impl SharedTextColumn {
    fn new(capacity: usize) -> Self {
        Self {
            array: MutableBinaryViewArray::with_capacity(capacity),
            current: (View::default(), None),
        }
    }

    /// Starts a run of rows with `text`; [`SharedTextColumn::push_current`] adds its rows.
    fn start_value(&mut self, text: &str) {
        if text.len() <= View::MAX_INLINE_SIZE as usize {
            self.current = (View::new_from_bytes(text.as_bytes(), 0, 0), None);
            return;
        }
        let buffer = Buffer::from(text.as_bytes().to_vec());
        // `push_view` reads the buffer index against the one-buffer slice it is given.
        self.current = (View::new_from_bytes(&buffer, 0, 0), Some(buffer));
    }

    /// Adds a row with the current run's text.
    fn push_current(&mut self) {
        let (view, buffer) = &self.current;
        self.array.push_view(*view, buffer.as_slice());
    }

    fn finish(self, name: &str) -> Column {
        StringChunked::with_chunk(name.into(), self.array.freeze()).into_column()
    }
}

/// The column values of one span, borrowed from a [`Span`] or straight from a request body.
/// The JSON texts of links, events and attributes sit in the [`SpanRows`] text and the row
/// keeps their ranges.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpanRow<'a> {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_span_id: Option<SpanId>,
    pub(crate) trace_state: Option<&'a str>,
    pub(crate) flags: u32,
    pub(crate) name: &'a str,
    pub(crate) kind: SpanKind,
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    pub(crate) status: StatusCode,
    pub(crate) status_message: Option<&'a str>,
    pub(crate) service_name: Option<&'a str>,
    pub(crate) service_version: Option<&'a str>,
    pub(crate) faas_name: Option<&'a str>,
    pub(crate) faas_invocation_id: Option<&'a str>,
    pub(crate) faas_coldstart: Option<bool>,
    pub(crate) faas_trigger: Option<&'a str>,
    pub(crate) links: Range<usize>,
    pub(crate) events: Range<usize>,
    pub(crate) attributes: Range<usize>,
    /// Index of the row's resource in [`SpanRows::resources`].
    pub(crate) resource: usize,
    pub(crate) scope_name: Option<&'a str>,
    pub(crate) scope_version: Option<&'a str>,
}

/// Span rows with the JSON texts they point into.
#[derive(Debug, Default)]
pub(crate) struct SpanRows<'a> {
    pub(crate) rows: Vec<SpanRow<'a>>,
    /// The JSON texts of every row and resource, one after the other.
    pub(crate) texts: String,
    /// The range of each resource's attributes JSON in `texts`.
    pub(crate) resources: Vec<Range<usize>>,
}

impl<'a> SpanRows<'a> {
    /// Appends the JSON text that `write` produces and returns its range in `texts`.
    pub(crate) fn write_text(&mut self, write: impl FnOnce(&mut String)) -> Range<usize> {
        let start = self.texts.len();
        write(&mut self.texts);
        start..self.texts.len()
    }

    /// Borrows the rows of `spans`. Spans that follow one another with one resource share
    /// its JSON text.
    pub(crate) fn from_spans(spans: &[&'a Span]) -> Self {
        let mut rows = Self::default();
        let mut previous: Option<&Arc<Attributes>> = None;
        for &span in spans {
            if !previous.is_some_and(|shared| Arc::ptr_eq(shared, &span.resource_attributes)) {
                let range =
                    rows.write_text(|out| write_json_object(&span.resource_attributes, out));
                rows.resources.push(range);
                previous = Some(&span.resource_attributes);
            }
            let links = rows.write_text(|out| write_links(&borrow_links(&span.links), out));
            let events = rows.write_text(|out| write_events(&borrow_events(&span.events), out));
            let attributes = rows.write_text(|out| write_json_object(&span.attributes, out));
            rows.rows.push(SpanRow {
                trace_id: span.trace_id,
                span_id: span.span_id,
                parent_span_id: span.parent_span_id,
                trace_state: span.trace_state.as_deref(),
                flags: span.flags,
                name: &span.name,
                kind: span.kind,
                start_ns: span.start_ns,
                end_ns: span.end_ns,
                status: span.status,
                status_message: span.status_message.as_deref(),
                service_name: span.service_name.as_deref(),
                service_version: span.service_version.as_deref(),
                faas_name: span.faas_name.as_deref(),
                faas_invocation_id: span.faas_invocation_id.as_deref(),
                faas_coldstart: span.faas_coldstart,
                faas_trigger: span.faas_trigger.as_deref(),
                links,
                events,
                attributes,
                resource: rows.resources.len() - 1,
                scope_name: span.scope_name.as_deref(),
                scope_version: span.scope_version.as_deref(),
            });
        }
        rows
    }

    /// Builds the `spans` table rows of the rows at `indices`.
    pub(crate) fn frame(&self, indices: &[usize]) -> PolarsResult<DataFrame> {
        let rows: Vec<&SpanRow<'a>> = indices.iter().map(|&index| &self.rows[index]).collect();
        let text = |range: &Range<usize>| &self.texts[range.clone()];
        let mut hex = [0_u8; 32];
        let mut resources = SharedTextColumn::new(rows.len());
        let mut previous_resource = None;
        for row in &rows {
            if previous_resource != Some(row.resource) {
                resources.start_value(text(&self.resources[row.resource]));
                previous_resource = Some(row.resource);
            }
            resources.push_current();
        }
        DataFrame::new_infer_height(vec![
            written_column("trace_id", &rows, |row, out| {
                out.push_str(row.trace_id.hex_in(&mut hex));
                true
            }),
            written_column("span_id", &rows, |row, out| {
                out.push_str(row.span_id.hex_in(&mut hex));
                true
            }),
            written_column("parent_span_id", &rows, |row, out| {
                row.parent_span_id.is_some_and(|id| {
                    out.push_str(id.hex_in(&mut hex));
                    true
                })
            }),
            text_column("trace_state", &rows, |row| row.trace_state),
            Column::new(
                "flags".into(),
                rows.iter().map(|row| row.flags).collect::<Vec<_>>(),
            ),
            text_column("name", &rows, |row| Some(row.name)),
            text_column("kind", &rows, |row| Some(row.kind.as_str())),
            Column::new(
                "start_ns".into(),
                rows.iter().map(|row| row.start_ns).collect::<Vec<_>>(),
            ),
            Column::new(
                "end_ns".into(),
                rows.iter().map(|row| row.end_ns).collect::<Vec<_>>(),
            ),
            Column::new(
                "duration_ns".into(),
                rows.iter()
                    .map(|row| row.end_ns.saturating_sub(row.start_ns))
                    .collect::<Vec<_>>(),
            ),
            text_column("status", &rows, |row| Some(row.status.as_str())),
            text_column("status_message", &rows, |row| row.status_message),
            text_column("service_name", &rows, |row| row.service_name),
            text_column("service_version", &rows, |row| row.service_version),
            text_column("faas_name", &rows, |row| row.faas_name),
            text_column("faas_invocation_id", &rows, |row| row.faas_invocation_id),
            Column::new(
                "faas_coldstart".into(),
                rows.iter()
                    .map(|row| row.faas_coldstart)
                    .collect::<Vec<_>>(),
            ),
            text_column("faas_trigger", &rows, |row| row.faas_trigger),
            text_column("links", &rows, |row| Some(text(&row.links))),
            text_column("events", &rows, |row| Some(text(&row.events))),
            text_column("attributes", &rows, |row| Some(text(&row.attributes))),
            resources.finish("resource_attributes"),
            text_column("scope_name", &rows, |row| row.scope_name),
            text_column("scope_version", &rows, |row| row.scope_version),
        ])
    }
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
