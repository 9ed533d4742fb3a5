//! Reading invocation records, spans and KPI counts back from the collector's Parquet dataset.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use spanbill_collector::store::{DateRange, Table, partitions, scan};

use crate::downstream::DownstreamCall;
use crate::lambda::LambdaOptions;
use crate::pricing::PriceBook;
use crate::table::{InvocationFields, SpanFields, TableBuilder, Tables};
use crate::traces::{TraceSpan, UnitCount};
use spanbill_collector::{Architecture, BillingEra, Status, TraceContext};

/// Errors while reading the dataset.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The store could not scan the table.
    #[error(transparent)]
    Store(#[from] spanbill_collector::store::StoreError),
    /// A part could not be read or has an unexpected column.
    #[error(
        "failed to read the {table} under `{path}`: {}",
        suspect.as_ref().map_or_else(
            || "a part may be corrupt or from another version of spanbill".to_owned(),
            |part| format!("`{part}` is not a complete Parquet file; move it out of the dataset and run the command again")
        )
    )]
    Read {
        /// The table: spans, invocations or metrics.
        table: &'static str,
        /// The data directory.
        path: String,
        /// The first part that does not begin and end with the Parquet magic bytes.
        suspect: Option<String>,
        /// The polars error.
        #[source]
        source: PolarsError,
    },
    /// A part has a column of a type the report does not read.
    #[error(
        "failed to read the {table} under `{path}`: a part has a column of a type spanbill \
         does not read ({message}); write times and integers as BIGINT, durations as DOUBLE \
         and texts as VARCHAR"
    )]
    UnsupportedType {
        /// The table: spans, invocations or metrics.
        table: &'static str,
        /// The data directory.
        path: String,
        /// The panic message of polars.
        message: String,
    },
}

/// A window of the dataset: the rows whose time (`start_ns` of invocations and spans,
/// `time_ns` of metric points) is at or after `start_ns` and before `end_ns`, in ns since
/// the Unix epoch. `None` leaves that end open.
///
/// Rows without a time are kept when their partition date is within [`Window::dates`],
/// because the partition date is the only time they have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// First time included.
    pub start_ns: Option<i64>,
    /// First time after the window.
    pub end_ns: Option<i64>,
}

impl Window {
    /// Returns whether the window covers the whole UTC day `date`.
    #[must_use]
    pub fn covers_day(self, date: time::Date) -> bool {
        let midnight = |date: time::Date| date.midnight().assume_utc().unix_timestamp_nanos();
        let start = midnight(date);
        let end = date.next_day().map_or(i128::MAX, midnight);
        self.start_ns.is_none_or(|from| i128::from(from) <= start)
            && self.end_ns.is_none_or(|to| i128::from(to) >= end)
    }

    /// Returns the partition dates that hold the rows of the window. The collector
    /// partitions rows by the UTC date of their time.
    #[must_use]
    pub fn dates(self) -> DateRange {
        let date = |ns: i64| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
                .ok()
                .map(time::OffsetDateTime::date)
        };
        DateRange {
            from: self.start_ns.and_then(date),
            to: self.end_ns.and_then(|end| date(end.saturating_sub(1))),
        }
    }

    /// Returns the condition that keeps the rows of the window, by the time column
    /// `column`, or `None` when both ends are open.
    fn filter(self, column: &str) -> Option<Expr> {
        if self.start_ns.is_none() && self.end_ns.is_none() {
            return None;
        }
        // The collector writes times as UInt64, and a time past i64::MAX becomes null.
        let time = || col(column).cast(DataType::Int64);
        let mut inside = lit(true);
        if let Some(start) = self.start_ns {
            inside = inside.and(time().gt_eq(lit(start)));
        }
        if let Some(end) = self.end_ns {
            inside = inside.and(time().lt(lit(end)));
        }
        Some(time().is_null().or(inside))
    }

    /// Restricts `frame` to the rows of the window, by the time column `column`.
    fn apply(self, frame: LazyFrame, column: &str) -> LazyFrame {
        match self.filter(column) {
            Some(condition) => frame.filter(condition),
            None => frame,
        }
    }
}

impl From<DateRange> for Window {
    /// Converts whole UTC days: from the start of `from` to the end of `to`.
    fn from(dates: DateRange) -> Self {
        let midnight = |date: time::Date| {
            i64::try_from(date.midnight().assume_utc().unix_timestamp_nanos()).ok()
        };
        Self {
            start_ns: dates.from.and_then(midnight),
            end_ns: dates.to.and_then(time::Date::next_day).and_then(midnight),
        }
    }
}

/// Reads the invocations and spans within `window` into priced tables, with the KPI
/// counts `units`. Missing tables give no rows.
pub fn load_tables(
    data_dir: &Path,
    window: Window,
    units: Vec<UnitCount>,
    book: &PriceBook,
    options: LambdaOptions,
) -> Result<Tables, DatasetError> {
    // One partition at a time, so only a day or two of columns are in memory at once. A
    // thread decodes the next partition while this one adds the rows of the previous one.
    let mut builder = TableBuilder::default();
    // Growing the row vectors partition by partition would copy them several times.
    builder.reserve(
        row_count(data_dir, Table::Invocations, window)?,
        row_count(data_dir, Table::Spans, window)?,
    );
    let dates = window.dates();
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    crate::timed("reading rows", || {
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for table in [Table::Invocations, Table::Spans] {
                    for day in partitions(data_dir, table, dates).into_iter().map(one_day) {
                        let frame = read_partition(data_dir, table, day, window).transpose();
                        // A closed channel means that the receiver stopped at an error.
                        if frame.is_some_and(|frame| sender.send(frame).is_err()) {
                            return;
                        }
                    }
                }
            });
            for frame in receiver {
                let (table, frame) = frame?;
                push_frame(data_dir, &mut builder, table, &frame)?;
            }
            Ok::<_, DatasetError>(())
        })
    })?;
    builder.units = units;
    Ok(builder.finish(book, options))
}

/// Reads the invocations and spans of the day partition `date` that are within `window`
/// into a table builder.
pub(crate) fn read_day(
    data_dir: &Path,
    date: time::Date,
    window: Window,
) -> Result<TableBuilder, DatasetError> {
    let mut builder = TableBuilder::default();
    for table in [Table::Invocations, Table::Spans] {
        if let Some((table, frame)) = read_partition(data_dir, table, one_day(date), window)? {
            push_frame(data_dir, &mut builder, table, &frame)?;
        }
    }
    Ok(builder)
}

/// Adds the rows of a partition's frame of `table` to `builder`.
fn push_frame(
    data_dir: &Path,
    builder: &mut TableBuilder,
    table: Table,
    frame: &DataFrame,
) -> Result<(), DatasetError> {
    for chunk in chunks(frame) {
        let pushed = if table == Table::Invocations {
            push_invocations(builder, &chunk)
        } else {
            push_spans(builder, &chunk)
        };
        pushed.map_err(|source| read_error(data_dir, table, source))?;
    }
    Ok(())
}

/// Counts the rows of `table` within `window`. Without a window, polars counts from the
/// Parquet footers.
fn row_count(data_dir: &Path, table: Table, window: Window) -> Result<usize, DatasetError> {
    let counted = read_table(data_dir, table, window.dates(), |frame| {
        window.apply(frame, "start_ns").select([len()])
    })?;
    let Some(counted) = counted else {
        return Ok(0);
    };
    let count = integer_column(&counted, "len")
        .map_err(|source| read_error(data_dir, table, source))?
        .first()
        .copied()
        .flatten()
        .unwrap_or(0);
    let count = usize::try_from(count).unwrap_or(0);
    Ok(count)
}

/// Reads the columns the report uses from the rows of one day partition of `table` that
/// are within `window`.
fn read_partition(
    data_dir: &Path,
    table: Table,
    day: DateRange,
    window: Window,
) -> Result<Option<(Table, DataFrame)>, DatasetError> {
    let columns = if table == Table::Invocations {
        INVOCATION_COLUMNS.as_slice()
    } else {
        SPAN_COLUMNS.as_slice()
    };
    let frame = read_table(data_dir, table, day, |frame| {
        let selected: Vec<Expr> = columns.iter().map(|name| col(*name)).collect();
        window.apply(frame, "start_ns").select(selected)
    })?;
    let Some(mut frame) = frame else {
        return Ok(None);
    };
    // The thread that adds rows walks one arrow array per column at a time. Columns whose
    // chunks (Parquet row groups) line up are split at their chunk boundaries instead of
    // being joined, because joining copies every text value.
    frame.align_chunks();
    Ok(Some((table, frame)))
}

/// Splits `frame` at the chunk boundaries of its columns, which [`DataFrame::align_chunks`]
/// has lined up, so that each column of each slice is one arrow array.
fn chunks(frame: &DataFrame) -> Vec<DataFrame> {
    let Some(first) = frame.columns().first() else {
        return Vec::new();
    };
    let mut offset = 0_i64;
    first
        .as_materialized_series()
        .chunk_lengths()
        .map(|length| {
            let chunk = frame.slice(offset, length);
            offset += length as i64;
            chunk
        })
        .collect()
}

/// Returns the range of the single day `date`.
fn one_day(date: time::Date) -> DateRange {
    DateRange {
        from: Some(date),
        to: Some(date),
    }
}

/// Columns of the invocations table that [`load_tables`] reads.
const INVOCATION_COLUMNS: [&str; 17] = [
    "request_id",
    "function",
    "version",
    "start_ns",
    "duration_ms",
    "billed_ms",
    "memory_mb",
    "max_memory_used_mb",
    "init_ms",
    "restore_ms",
    "status",
    "cold_start",
    "architecture",
    "region",
    "xray_trace_id",
    "source",
    "billing_era",
];

/// Columns of the spans table that [`load_tables`] reads.
const SPAN_COLUMNS: [&str; 13] = [
    "trace_id",
    "name",
    "kind",
    "faas_name",
    "service_name",
    "service_version",
    "faas_invocation_id",
    "faas_trigger",
    "start_ns",
    "duration_ns",
    "status",
    "attributes",
    "resource_attributes",
];

fn push_invocations(builder: &mut TableBuilder, frame: &DataFrame) -> PolarsResult<()> {
    let text = |name: &str| texts(frame, name);
    let integer = |name: &str| integers(frame, name);
    let float = |name: &str| {
        frame
            .column(name)?
            .cast(&DataType::Float64)
            .and_then(|column| column.f64().map(one_chunk))
    };
    let flag = |name: &str| frame.column(name)?.bool().map(one_chunk);

    let request_id = text("request_id")?;
    let (function, version, status, architecture, region, xray, source, era) = (
        text("function")?,
        text("version")?,
        text("status")?,
        text("architecture")?,
        text("region")?,
        text("xray_trace_id")?,
        text("source")?,
        text("billing_era")?,
    );
    let (start_ns, billed_ms, memory_mb, max_memory_used_mb) = (
        integer("start_ns")?,
        integer("billed_ms")?,
        integer("memory_mb")?,
        integer("max_memory_used_mb")?,
    );
    let (duration_ms, init_ms, restore_ms) = (
        float("duration_ms")?,
        float("init_ms")?,
        float("restore_ms")?,
    );
    let cold_start = flag("cold_start")?;

    builder.reserve(frame.height(), 0);
    let mut request_id = request_id.downcast_as_array().iter();
    let mut function = function.downcast_as_array().iter();
    let mut version = version.downcast_as_array().iter();
    let mut status = status.downcast_as_array().iter();
    let mut architecture = architecture.downcast_as_array().iter();
    let mut region = region.downcast_as_array().iter();
    let mut xray = xray.downcast_as_array().iter();
    let mut source = source.downcast_as_array().iter();
    let mut era = era.downcast_as_array().iter();
    let mut start_ns = numbers(&start_ns);
    let mut billed_ms = numbers(&billed_ms);
    let mut memory_mb = numbers(&memory_mb);
    let mut max_memory_used_mb = numbers(&max_memory_used_mb);
    let mut duration_ms = numbers(&duration_ms);
    let mut init_ms = numbers(&init_ms);
    let mut restore_ms = numbers(&restore_ms);
    let mut cold_start = cold_start.downcast_as_array().iter();
    for _ in 0..frame.height() {
        // The X-Ray header gives the trace when no span names the invocation.
        let trace = xray
            .next()
            .flatten()
            .and_then(|header| TraceContext::from_xray_trace_id(header).w3c_trace_id);
        let count = |value: Option<Option<i64>>| value.flatten().unwrap_or_default().max(0);
        builder.push_invocation(&InvocationFields {
            request_id: request_id.next().flatten().unwrap_or_default(),
            function: function.next().flatten(),
            version: version.next().flatten(),
            start_ns: start_ns.next().flatten(),
            duration_ms: duration_ms.next().flatten().unwrap_or_default(),
            billed_ms: count(billed_ms.next()) as u64,
            memory_mb: count(memory_mb.next()) as u32,
            max_memory_used_mb: count(max_memory_used_mb.next()) as u32,
            init_ms: init_ms.next().flatten(),
            snapstart_restore: restore_ms.next().flatten().is_some(),
            status: match status.next().flatten() {
                Some("error") => Status::Error,
                Some("timeout") => Status::Timeout,
                _ => Status::Success,
            },
            cold_start: cold_start.next().flatten().unwrap_or_default(),
            billing_era: era.next().flatten().and_then(billing_era),
            architecture: architecture.next().flatten().map(|name| {
                if name == "arm64" {
                    Architecture::Arm64
                } else {
                    Architecture::X86_64
                }
            }),
            region: region.next().flatten(),
            provisioned: false,
            estimated: source.next().flatten() == Some("simulator"),
            trace_id: trace.as_deref(),
        });
    }
    Ok(())
}

/// Returns a column as one chunk, joining its chunks when there are several. Iterating one
/// arrow array avoids the per-value chunk bookkeeping of a chunked array's iterator.
fn one_chunk<T: PolarsDataType>(column: &ChunkedArray<T>) -> ChunkedArray<T> {
    column.rechunk().into_owned()
}

/// Returns a text column as one chunk.
fn texts(frame: &DataFrame, name: &str) -> PolarsResult<StringChunked> {
    frame.column(name)?.str().map(one_chunk)
}

/// Returns an integer column, cast to 64 bits, as one chunk.
fn integers(frame: &DataFrame, name: &str) -> PolarsResult<Int64Chunked> {
    frame
        .column(name)?
        .cast(&DataType::Int64)
        .and_then(|column| column.i64().map(one_chunk))
}

/// Iterates the values of a numeric column of one chunk.
fn numbers<T: PolarsNumericType>(
    column: &ChunkedArray<T>,
) -> impl Iterator<Item = Option<T::Native>> + '_ {
    column
        .downcast_as_array()
        .iter()
        .map(Option::<&T::Native>::copied)
}

fn billing_era(name: &str) -> Option<BillingEra> {
    match name {
        "rounded_100ms" => Some(BillingEra::Rounded100Ms),
        "rounded_1ms" => Some(BillingEra::Rounded1Ms),
        "init_billed" => Some(BillingEra::InitBilled),
        _ => None,
    }
}

fn push_spans(builder: &mut TableBuilder, frame: &DataFrame) -> PolarsResult<()> {
    let text = |name: &str| texts(frame, name);
    let integer = |name: &str| integers(frame, name);
    let (start_ns, duration_ns) = (integer("start_ns")?, integer("duration_ns")?);
    let (trace_id, name, kind, faas_name, service_name, service_version) = (
        text("trace_id")?,
        text("name")?,
        text("kind")?,
        text("faas_name")?,
        text("service_name")?,
        text("service_version")?,
    );
    let (invocation_id, trigger, status, attributes, resource_attributes) = (
        text("faas_invocation_id")?,
        text("faas_trigger")?,
        text("status")?,
        text("attributes")?,
        text("resource_attributes")?,
    );
    builder.reserve(0, frame.height());
    let mut trace_id = trace_id.downcast_as_array().iter();
    let mut name = name.downcast_as_array().iter();
    let mut kind = kind.downcast_as_array().iter();
    let mut faas_name = faas_name.downcast_as_array().iter();
    let mut service_name = service_name.downcast_as_array().iter();
    let mut service_version = service_version.downcast_as_array().iter();
    let mut invocation_id = invocation_id.downcast_as_array().iter();
    let mut trigger = trigger.downcast_as_array().iter();
    let mut status = status.downcast_as_array().iter();
    let mut attributes = attributes.downcast_as_array().iter();
    let mut resource_attributes = resource_attributes.downcast_as_array().iter();
    let mut start_ns = numbers(&start_ns);
    let mut duration_ns = numbers(&duration_ns);

    let mut versions = ResourceVersions::default();
    let mut calls = SpanCalls::default();
    for _ in 0..frame.height() {
        let trace = trace_id.next().flatten();
        let name = name.next().flatten();
        let kind = kind.next().flatten();
        let faas_name = faas_name.next().flatten();
        let service_name = service_name.next().flatten();
        let service_version = service_version.next().flatten();
        let invocation_id = invocation_id.next().flatten();
        let trigger = trigger.next().flatten();
        let status = status.next().flatten();
        let attributes = attributes.next().flatten();
        let resource_attributes = resource_attributes.next().flatten();
        let start_ns = start_ns.next().flatten();
        let duration_ns = duration_ns.next().flatten();
        let Some(trace) = trace else {
            continue;
        };
        let version = versions.get(resource_attributes).or(service_version);
        let call = calls.get(kind, attributes);
        builder.push_span(&SpanFields {
            trace_id: trace,
            name: name.unwrap_or_default(),
            function: faas_name.or(service_name),
            version,
            invocation_id,
            from_queue: trigger == Some("pubsub"),
            start_ns: start_ns.unwrap_or_default(),
            duration_ms: duration_ns.unwrap_or_default() as f64 / 1e6,
            error: status == Some("error"),
            call,
        });
    }
    Ok(())
}

/// Reads the spans within `window`, with the fields the report uses.
pub fn load_spans(data_dir: &Path, window: Window) -> Result<Vec<TraceSpan>, DatasetError> {
    let read_error = |source| read_error(data_dir, Table::Spans, source);
    let frame = read_table(data_dir, Table::Spans, window.dates(), |frame| {
        window.apply(frame, "start_ns").select([
            col("trace_id"),
            col("name"),
            col("kind"),
            col("faas_name"),
            col("service_name"),
            col("service_version"),
            col("faas_invocation_id"),
            col("faas_trigger"),
            col("start_ns"),
            col("duration_ns"),
            col("status"),
            col("attributes"),
            col("resource_attributes"),
        ])
    })?;
    let Some(frame) = frame else {
        return Ok(Vec::new());
    };
    span_rows(&frame).map_err(read_error)
}

fn span_rows(frame: &DataFrame) -> PolarsResult<Vec<TraceSpan>> {
    let text = |name: &str| text_column(frame, name);
    let integer = |name: &str| integer_column(frame, name);
    let trace_id = text("trace_id")?;
    let name = text("name")?;
    let kind = text("kind")?;
    let faas_name = text("faas_name")?;
    let service_name = text("service_name")?;
    let service_version = text("service_version")?;
    let invocation_id = text("faas_invocation_id")?;
    let trigger = text("faas_trigger")?;
    let start_ns = integer("start_ns")?;
    let duration_ns = integer("duration_ns")?;
    let status = text("status")?;
    let attributes = text("attributes")?;
    let resource_attributes = text("resource_attributes")?;

    let mut versions = ResourceVersions::default();
    let mut calls = SpanCalls::default();
    let mut spans = Vec::with_capacity(frame.height());
    for row in 0..frame.height() {
        let Some(trace) = trace_id[row] else {
            continue;
        };
        let version = versions
            .get(resource_attributes[row])
            .or(service_version[row])
            .map(str::to_owned);
        let downstream = calls.get(kind[row], attributes[row]).cloned();
        spans.push(TraceSpan {
            trace_id: trace.to_owned(),
            name: name[row].unwrap_or_default().to_owned(),
            function: faas_name[row].or(service_name[row]).map(str::to_owned),
            version,
            invocation_id: invocation_id[row].map(str::to_owned),
            trigger: trigger[row].map(str::to_owned),
            start_ns: start_ns[row].unwrap_or_default(),
            duration_ms: duration_ns[row].unwrap_or_default() as f64 / 1e6,
            error: status[row] == Some("error"),
            downstream,
        });
    }
    Ok(spans)
}

/// `faas.version` of each distinct resource attributes text. Resource attributes repeat for
/// every span of a process, so each distinct text is parsed once.
#[derive(Default)]
struct ResourceVersions<'a>(foldhash::HashMap<&'a str, Option<String>>);

impl<'a> ResourceVersions<'a> {
    /// Returns `faas.version` from a resource attributes column value.
    fn get(&mut self, resource_attributes: Option<&'a str>) -> Option<&str> {
        let text = resource_attributes?;
        self.0
            .entry(text)
            .or_insert_with(|| {
                json_object(Some(text))
                    .get("faas.version")
                    .and_then(|value| value.as_str())
                    .map(str::to_owned)
            })
            .as_deref()
    }
}

/// The priced call of each distinct span attributes text, parsed once per text.
#[derive(Default)]
struct SpanCalls<'a>(foldhash::HashMap<&'a str, Option<DownstreamCall>>);

impl<'a> SpanCalls<'a> {
    /// Returns the priced call that a span of `kind` with `attributes` records.
    fn get(&mut self, kind: Option<&str>, attributes: Option<&'a str>) -> Option<&DownstreamCall> {
        // A consumer span processes a message that a Lambda event source mapping already
        // received. The mapping's polling requests are not per message, so only the
        // producer's send is priced.
        // NOTE: the event source mapping's own SQS requests (receives and deletes per batch,
        // and empty polls) are not priced.
        match (kind, attributes) {
            (Some("consumer"), _) | (_, None) => None,
            (_, Some(text)) if CALL_KEYS.iter().any(|key| text.contains(key)) => self
                .0
                .entry(text)
                .or_insert_with(|| downstream_call(text))
                .as_ref(),
            _ => None,
        }
    }
}

/// Attribute names that [`DownstreamCall::from_attributes`] classifies a span by. A span
/// whose attributes contain none of them is not a priced call, so its JSON is not parsed.
const CALL_KEYS: [&str; 5] = [
    "\"messaging.system\"",
    "\"db.system",
    "\"rpc.service\"",
    "\"aws.service\"",
    "\"http.route\"",
];

/// Classifies a span's attributes, given as the JSON object text of the attributes column.
fn downstream_call(text: &str) -> Option<DownstreamCall> {
    if !CALL_KEYS.iter().any(|key| text.contains(key)) {
        return None;
    }
    let attributes = json_object(Some(text));
    let pairs: Vec<(&str, std::borrow::Cow<'_, str>)> = attributes
        .iter()
        .filter_map(|(key, value)| Some((key.as_str(), attribute_text(value)?)))
        .collect();
    DownstreamCall::from_attributes(pairs.iter().map(|(key, value)| (*key, value.as_ref())))
}

/// Parses an attribute column's JSON object; a missing or malformed value gives no
/// attributes.
fn json_object(text: Option<&str>) -> serde_json::Map<String, serde_json::Value> {
    text.and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// Returns a scalar attribute value as text; arrays and maps give `None`.
fn attribute_text(value: &serde_json::Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        serde_json::Value::String(text) => Some(text.as_str().into()),
        serde_json::Value::Number(number) => Some(number.to_string().into()),
        serde_json::Value::Bool(flag) => Some(flag.to_string().into()),
        _ => None,
    }
}

/// Reads the counts of business KPIs within `window`, by point time, as increments: a cumulative series
/// gives the difference between successive points, a delta series each point's value.
/// `names` selects monotonic counters by name, from any instrumentation scope; `None`
/// takes every monotonic counter of spanbill's KPI scope.
///
/// NOTE: a cumulative series that began before `window` counts from its start time, so the
/// first point of a window can include units counted before it.
pub fn load_unit_counts(
    data_dir: &Path,
    window: Window,
    names: Option<&[String]>,
) -> Result<Vec<UnitCount>, DatasetError> {
    let read_error = |source| read_error(data_dir, Table::Metrics, source);
    let counters = col("kind")
        .eq(lit("sum"))
        .and(col("monotonic").eq(lit(true)));
    let selected = match names {
        Some(names) => names.iter().fold(lit(false), |any, name| {
            any.or(col("name").eq(lit(name.as_str())))
        }),
        None => col("scope_name").eq(lit(KPI_SCOPE)),
    };
    let frame = read_table(data_dir, Table::Metrics, window.dates(), |frame| {
        window
            .apply(frame, "time_ns")
            .filter(counters.clone().and(selected.clone()))
            .select([
                col("name"),
                col("temporality"),
                col("start_ns"),
                col("time_ns"),
                col("value_int"),
                col("value_double"),
                col("attributes"),
                col("resource_attributes"),
            ])
    })?;
    let Some(frame) = frame else {
        return Ok(Vec::new());
    };
    unit_rows(&frame).map_err(read_error)
}

/// Name, attributes, resource attributes and start time: what the points of one metric
/// series share.
type SeriesKey = (String, String, String, i64);

/// Instrumentation scope of the KPI instruments.
const KPI_SCOPE: &str = "spanbill";

fn unit_rows(frame: &DataFrame) -> PolarsResult<Vec<UnitCount>> {
    let text = |name: &str| text_column(frame, name);
    let name = text("name")?;
    let temporality = text("temporality")?;
    let attributes = text("attributes")?;
    let resource = text("resource_attributes")?;
    let start_ns = integer_column(frame, "start_ns")?;
    let time_ns = integer_column(frame, "time_ns")?;
    let value_int = integer_column(frame, "value_int")?;
    let value_double = float_column(frame, "value_double")?;

    let mut series: BTreeMap<SeriesKey, Vec<(i64, f64)>> = BTreeMap::new();
    let mut counts = Vec::new();
    for row in 0..frame.height() {
        let Some(metric) = name[row].map(str::to_owned) else {
            continue;
        };
        let value = value_int[row]
            .map(|value| value as f64)
            .or(value_double[row])
            .unwrap_or_default();
        let time = time_ns[row].unwrap_or_default();
        if temporality[row] == Some("delta") {
            counts.push(UnitCount {
                name: metric,
                time_ns: time,
                units: value,
            });
            continue;
        }
        let key = (
            metric,
            attributes[row].unwrap_or_default().to_owned(),
            resource[row].unwrap_or_default().to_owned(),
            start_ns[row].unwrap_or_default(),
        );
        series.entry(key).or_default().push((time, value));
    }
    for ((metric, ..), mut points) in series {
        points.sort_by_key(|(time, _)| *time);
        let mut previous = 0.0;
        for (time, value) in points {
            // A cumulative value below the previous one means the series restarted.
            let units = if value >= previous {
                value - previous
            } else {
                value
            };
            previous = value;
            if units > 0.0 {
                counts.push(UnitCount {
                    name: metric.clone(),
                    time_ns: time,
                    units,
                });
            }
        }
    }
    Ok(counts)
}

/// Scans the parts of `table` within `dates`, applies `query` and collects the result.
/// Returns `None` when no partition within `dates` has a part. The collector deletes small
/// parts once it has merged them, so a part listed by the scan can be gone when polars
/// opens it. The read then runs once more on a new listing, which finds the merged part.
fn read_table(
    data_dir: &Path,
    table: Table,
    dates: DateRange,
    query: impl Fn(LazyFrame) -> LazyFrame,
) -> Result<Option<DataFrame>, DatasetError> {
    let mut retried = false;
    loop {
        let Some(frame) = scan(data_dir, table, dates)? else {
            return Ok(None);
        };
        match collect(data_dir, table, query(frame)) {
            Err(DatasetError::Read { source, .. }) if !retried && is_missing_file(&source) => {
                tracing::debug!(
                    table = table.name(),
                    "a part was gone when read; listing the parts again"
                );
                retried = true;
            }
            result => return result.map(Some),
        }
    }
}

/// Returns true when `error` comes from a file that does not exist.
fn is_missing_file(error: &PolarsError) -> bool {
    match error {
        PolarsError::IO { error, .. } => error.kind() == std::io::ErrorKind::NotFound,
        PolarsError::Context { error, .. } => is_missing_file(error),
        _ => false,
    }
}

/// Runs a lazy query over `table`. polars panics, instead of returning an error, on a
/// Parquet column whose type it was built without (such as `DECIMAL`), so the panic is
/// caught here and returned as an error naming the type.
fn collect(data_dir: &Path, table: Table, frame: LazyFrame) -> Result<DataFrame, DatasetError> {
    let hook = std::panic::take_hook();
    // The message goes into the error, and the default hook would print it as a crash.
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| frame.collect()));
    std::panic::set_hook(hook);
    match result {
        Ok(collected) => collected.map_err(|source| read_error(data_dir, table, source)),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("polars stopped while reading it");
            Err(DatasetError::UnsupportedType {
                table: table.name(),
                path: data_dir.display().to_string(),
                message: message.to_owned(),
            })
        }
    }
}

/// Builds a read error, naming the first part of `table` that is not a whole Parquet file.
fn read_error(data_dir: &Path, table: Table, source: PolarsError) -> DatasetError {
    DatasetError::Read {
        table: table.name(),
        path: data_dir.display().to_string(),
        suspect: truncated_part(&data_dir.join(table.name()))
            .map(|part| part.display().to_string()),
        source,
    }
}

/// Returns the first `.parquet` file under `dir` (one level of partitions deep) that does not
/// begin and end with the magic bytes `PAR1`, as a file cut short by a crash or a copy does.
fn truncated_part(dir: &Path) -> Option<std::path::PathBuf> {
    use std::io::{Read as _, Seek as _, SeekFrom};

    let mut parts: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|partition| std::fs::read_dir(partition.path()).ok())
        .flat_map(|files| files.flatten().map(|file| file.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "parquet")
        })
        .collect();
    parts.sort();
    parts.into_iter().find(|path| {
        let whole = (|| {
            let mut file = std::fs::File::open(path)?;
            let mut head = [0_u8; 4];
            let mut tail = [0_u8; 4];
            file.read_exact(&mut head)?;
            file.seek(SeekFrom::End(-4))?;
            file.read_exact(&mut tail)?;
            Ok::<_, std::io::Error>(&head == b"PAR1" && &tail == b"PAR1")
        })();
        !whole.unwrap_or(false)
    })
}

/// Reads a numeric column as 64-bit integers.
fn integer_column(frame: &DataFrame, name: &str) -> PolarsResult<Vec<Option<i64>>> {
    Ok(frame
        .column(name)?
        .cast(&DataType::Int64)?
        .i64()?
        .iter()
        .collect())
}

/// Reads a numeric column as 64-bit floats.
fn float_column(frame: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    Ok(frame
        .column(name)?
        .cast(&DataType::Float64)?
        .f64()?
        .iter()
        .collect())
}

/// Reads a string column, borrowing the values from `frame`.
fn text_column<'a>(frame: &'a DataFrame, name: &str) -> PolarsResult<Vec<Option<&'a str>>> {
    Ok(frame.column(name)?.str()?.iter().collect())
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;

    /// Writes `frame` as a part of `table` on 2026-10-01, in row groups of `group_rows`.
    fn write_part(
        data_dir: &Path,
        table: Table,
        name: &str,
        frame: &mut DataFrame,
        group_rows: usize,
    ) {
        let partition = data_dir.join(table.name()).join("date=2026-10-01");
        std::fs::create_dir_all(&partition).unwrap();
        let file = File::create(partition.join(name)).unwrap();
        ParquetWriter::new(file)
            .with_row_group_size(Some(group_rows))
            .finish(frame)
            .unwrap();
    }

    /// Builds the invocations `first..first + count`, one second apart, and one span for each.
    fn rows(first: i64, count: i64) -> (DataFrame, DataFrame) {
        let index: Vec<i64> = (first..first + count).collect();
        let text = |make: &dyn Fn(i64) -> String| -> Vec<String> {
            index.iter().map(|&i| make(i)).collect()
        };
        let start: Vec<i64> = index
            .iter()
            .map(|i| 1_790_812_800_000_000_000 + i * 1_000_000_000)
            .collect();
        let duration: Vec<f64> = index.iter().map(|&i| 10.0 + i as f64).collect();
        let request = text(&|i| format!("request-{i}"));
        let nothing: Vec<Option<&str>> = vec![None; index.len()];
        let no_number: Vec<Option<f64>> = vec![None; index.len()];
        let invocations = df!(
            "request_id" => &request,
            "function" => text(&|i| format!("function-{}", i % 2)),
            "version" => vec!["1"; index.len()],
            "start_ns" => &start,
            "duration_ms" => &duration,
            "billed_ms" => index.iter().map(|i| 11 + i).collect::<Vec<i64>>(),
            "memory_mb" => vec![512_i64; index.len()],
            "max_memory_used_mb" => vec![90_i64; index.len()],
            "init_ms" => &no_number,
            "restore_ms" => &no_number,
            "status" => vec!["success"; index.len()],
            "cold_start" => vec![false; index.len()],
            "architecture" => vec!["arm64"; index.len()],
            "region" => vec!["us-east-1"; index.len()],
            "xray_trace_id" => &nothing,
            "source" => vec!["report_line"; index.len()],
            "billing_era" => vec!["init_billed"; index.len()],
        )
        .unwrap();

        let spans = df!(
            "trace_id" => text(&|i| format!("{i:032x}")),
            "name" => text(&|i| format!("span-{}", i % 3)),
            "kind" => vec!["server"; index.len()],
            "faas_name" => text(&|i| format!("function-{}", i % 2)),
            "service_name" => &nothing,
            "service_version" => &nothing,
            "faas_invocation_id" => &request,
            "faas_trigger" => vec!["http"; index.len()],
            "start_ns" => &start,
            "duration_ns" => duration.iter().map(|ms| (ms * 1e6) as i64).collect::<Vec<i64>>(),
            "status" => vec!["unset"; index.len()],
            "attributes" => vec!["{}"; index.len()],
            "resource_attributes" => vec!["{}"; index.len()],
        )
        .unwrap();
        (invocations, spans)
    }

    #[test]
    fn partition_of_several_parts_and_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        // Five rows in row groups of two, then three rows in one row group, so the columns
        // of the partition arrive in several chunks.
        let (mut invocations, mut spans) = rows(0, 5);
        write_part(
            dir.path(),
            Table::Invocations,
            "part-a.parquet",
            &mut invocations,
            2,
        );
        write_part(dir.path(), Table::Spans, "part-a.parquet", &mut spans, 2);
        let (mut invocations, mut spans) = rows(5, 3);
        write_part(
            dir.path(),
            Table::Invocations,
            "part-b.parquet",
            &mut invocations,
            8,
        );
        write_part(dir.path(), Table::Spans, "part-b.parquet", &mut spans, 8);

        let day = partitions(dir.path(), Table::Invocations, DateRange::default());
        assert_eq!(day.len(), 1);
        let (_, frame) = read_partition(
            dir.path(),
            Table::Invocations,
            one_day(day[0]),
            Window::default(),
        )
        .unwrap()
        .unwrap();
        assert!(
            chunks(&frame).len() > 1,
            "the partition arrives in several chunks"
        );

        let tables = load_tables(
            dir.path(),
            Window::default(),
            Vec::new(),
            &PriceBook::built_in(),
            LambdaOptions::default(),
        )
        .unwrap();

        assert_eq!(tables.invocations.len(), 8);
        assert_eq!(tables.spans.len(), 8);
        let mut durations: Vec<f64> = tables
            .invocations
            .iter()
            .map(|row| row.duration_ms)
            .collect();
        durations.sort_by(f64::total_cmp);
        assert_eq!(durations, [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0]);
        for row in &tables.invocations {
            let index = row.duration_ms as u64 - 10;
            assert_eq!(row.billed_ms, 11 + index, "billed ms of invocation {index}");
            assert_eq!(
                tables.functions.get(row.function),
                format!("function-{}", index % 2),
                "function of invocation {index}"
            );
            assert!(row.trace.is_some(), "invocation {index} joined to its span");
        }
        for span in &tables.spans {
            let index = (span.duration_ms - 10.0).round() as u64;
            assert_eq!(
                tables.span_names.get(span.name),
                format!("span-{}", index % 3),
                "name of span {index}"
            );
            assert!(
                span.invocation.is_some(),
                "span {index} joined to its invocation"
            );
        }
    }

    fn october(day: u8) -> time::Date {
        time::Date::from_calendar_date(2026, time::Month::October, day).unwrap()
    }

    #[test]
    fn window_filters_rows_by_start() {
        let dir = tempfile::tempdir().unwrap();
        let (mut invocations, mut spans) = rows(0, 8);
        write_part(
            dir.path(),
            Table::Invocations,
            "part-a.parquet",
            &mut invocations,
            3,
        );
        write_part(dir.path(), Table::Spans, "part-a.parquet", &mut spans, 3);
        // Rows 2, 3 and 4 of the day: the start is included and the end is not.
        let base = 1_790_812_800_000_000_000_i64;
        let window = Window {
            start_ns: Some(base + 2_000_000_000),
            end_ns: Some(base + 5_000_000_000),
        };
        assert_eq!(
            window.dates(),
            DateRange {
                from: Some(october(1)),
                to: Some(october(1)),
            }
        );

        let tables = load_tables(
            dir.path(),
            window,
            Vec::new(),
            &PriceBook::built_in(),
            LambdaOptions::default(),
        )
        .unwrap();

        let mut durations: Vec<f64> = tables
            .invocations
            .iter()
            .map(|row| row.duration_ms)
            .collect();
        durations.sort_by(f64::total_cmp);
        assert_eq!(durations, [12.0, 13.0, 14.0]);
        assert_eq!(tables.spans.len(), 3);
        let spans = load_spans(dir.path(), window).unwrap();
        let mut starts: Vec<i64> = spans.iter().map(|span| span.start_ns - base).collect();
        starts.sort_unstable();
        assert_eq!(starts, [2_000_000_000, 3_000_000_000, 4_000_000_000]);
    }

    #[test]
    fn missing_file_error_detected() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let missing = PolarsError::IO {
            error: std::sync::Arc::new(missing),
            msg: None,
        };
        assert!(is_missing_file(&missing));
        let wrapped = missing.context("reading a part".into());
        assert!(is_missing_file(&wrapped));
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let denied = PolarsError::IO {
            error: std::sync::Arc::new(denied),
            msg: None,
        };
        assert!(!is_missing_file(&denied));
        assert!(!is_missing_file(&PolarsError::NoData("no rows".into())));
    }

    #[test]
    fn window_of_whole_days() {
        let dates = DateRange {
            from: Some(october(1)),
            to: Some(october(2)),
        };
        let window = Window::from(dates);
        assert_eq!(window.start_ns, Some(1_790_812_800_000_000_000));
        assert_eq!(
            window.end_ns,
            Some(1_790_812_800_000_000_000 + 2 * 86_400 * 1_000_000_000)
        );
        assert_eq!(window.dates(), dates);
        assert_eq!(Window::default().dates(), DateRange::default());
    }
}
