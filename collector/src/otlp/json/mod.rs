//! OTLP/JSON decoding into the protobuf message types.
//!
//! Follows the OTLP/JSON rules. Field names are lowerCamelCase, and the proto names are
//! accepted too. Trace and span ids are hex strings in either case. Enums are integers, and
//! their names are accepted too. 64-bit integers are decimal strings or bare numbers, read
//! without going through f64. Doubles are numbers or `"NaN"`, `"Infinity"` and
//! `"-Infinity"`. `null` counts as an absent field, and unknown fields are ignored. A field
//! given twice, also once by each of its two names, fails the request.
//!
//! The body is read in one pass straight into the protobuf types: serde's derive reads each
//! message through a `remote` definition of its fields, and no document tree is built. Only
//! when that pass fails is the body read again, to name the path of the field at fault
//! (`resourceSpans[0].scopeSpans[0].spans[3].traceId`).

mod attributes;
mod rows;

pub(crate) use rows::trace_rows_json;
mod protobuf;
mod scalars;
mod scan;

use std::fmt;
use std::marker::PhantomData;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};

use self::attributes::{any_value, key_values};
use self::scalars::{
    EnumNumber, boolean, double, double_list, hex_id, integer, optional_double, optional_int64,
    string, uint64_list,
};
use super::DecodeError;

/// Decodes an OTLP/JSON trace export request.
pub fn traces_from_json(body: &[u8]) -> Result<ExportTraceServiceRequest, DecodeError> {
    decode::<TracesRequest>(body).map(|request| ExportTraceServiceRequest {
        resource_spans: request.resource_spans,
    })
}

/// Decodes an OTLP/JSON metrics export request.
pub fn metrics_from_json(body: &[u8]) -> Result<ExportMetricsServiceRequest, DecodeError> {
    decode::<MetricsRequest>(body).map(|request| ExportMetricsServiceRequest {
        resource_metrics: request.resource_metrics,
    })
}

/// Decodes an OTLP/JSON logs export request.
pub fn logs_from_json(body: &[u8]) -> Result<ExportLogsServiceRequest, DecodeError> {
    decode::<LogsRequest>(body).map(|request| ExportLogsServiceRequest {
        resource_logs: request.resource_logs,
    })
}

/// Reads `body` as `T`. A body that is valid JSON but breaks a field rule is read a second
/// time to find the path of that field. JSON text is UTF-8, so other bytes fail the body.
fn decode<'a, T: FromObject<'a>>(body: &'a [u8]) -> Result<T, DecodeError> {
    // One check of the whole body costs less than serde_json's check of each string.
    let body = std::str::from_utf8(body).map_err(|error| DecodeError::JsonUtf8 {
        offset: error.valid_up_to(),
    })?;
    let error = match serde_json::from_str::<InObject<T>>(body) {
        Ok(value) => return Ok(value.0),
        Err(error) => error,
    };
    if error.is_data() {
        let mut deserializer = serde_json::Deserializer::from_str(body);
        if let Err(located) = serde_path_to_error::deserialize::<_, InObject<T>>(&mut deserializer)
        {
            return Err(DecodeError::JsonField {
                path: located.path().to_string(),
                problem: located.into_inner().to_string(),
            });
        }
    }
    Err(DecodeError::Json(error))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TracesRequest {
    #[serde(default, alias = "resource_spans", deserialize_with = "list")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricsRequest {
    #[serde(default, alias = "resource_metrics", deserialize_with = "list")]
    resource_metrics: Vec<pm::ResourceMetrics>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogsRequest {
    #[serde(default, alias = "resource_logs", deserialize_with = "list")]
    resource_logs: Vec<ResourceLogs>,
}

/// A message read from a JSON object only. serde's derive also reads a struct from an array
/// of its fields in order, which OTLP/JSON does not allow.
#[repr(transparent)]
struct InObject<T>(T);

/// A message type, read field by field once its object is open.
trait FromObject<'de>: Sized {
    /// Description of the message, for the error when another JSON value is in its place.
    const EXPECTING: &'static str;

    /// Reads the message from the fields of its object.
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

impl<'de, T: FromObject<'de>> Deserialize<'de> for InObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(InObject)
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: FromObject<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }
}

/// Implements [`FromObject`] for `$message`, read through `$reader`: its remote definition,
/// or the type itself when it derives `Deserialize`.
macro_rules! from_object {
    ($($message:ty => $reader:ident, $expecting:literal;)*) => {$(
        impl<'de> FromObject<'de> for $message {
            const EXPECTING: &'static str = $expecting;

            fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
                $reader::deserialize(MapAccessDeserializer::new(map))
            }
        }
    )*};
}

from_object! {
    TracesRequest => TracesRequest, "an OTLP trace export request object";
    MetricsRequest => MetricsRequest, "an OTLP metrics export request object";
    LogsRequest => LogsRequest, "an OTLP logs export request object";
    ResourceSpans => ResourceSpansDef, "a resourceSpans object";
    ScopeSpans => ScopeSpansDef, "a scopeSpans object";
    Resource => ResourceDef, "a resource object";
    InstrumentationScope => ScopeDef, "a scope object";
    Span => SpanDef, "a span object";
    span::Event => EventDef, "a span event object";
    span::Link => LinkDef, "a span link object";
    Status => StatusDef, "a status object";
    pm::ResourceMetrics => ResourceMetricsDef, "a resourceMetrics object";
    pm::ScopeMetrics => ScopeMetricsDef, "a scopeMetrics object";
    MetricJson => MetricJson, "a metric object";
    pm::Gauge => GaugeDef, "a gauge object";
    pm::Sum => SumDef, "a sum object";
    pm::Histogram => HistogramDef, "a histogram object";
    pm::ExponentialHistogram => ExponentialHistogramDef, "an exponentialHistogram object";
    pm::Summary => SummaryDef, "a summary object";
    NumberPointJson => NumberPointJson, "a number data point object";
    pm::HistogramDataPoint => HistogramPointDef, "a histogram data point object";
    pm::ExponentialHistogramDataPoint => ExponentialPointDef, "an exponential histogram data point object";
    pm::exponential_histogram_data_point::Buckets => BucketsDef, "a buckets object";
    pm::SummaryDataPoint => SummaryPointDef, "a summary data point object";
    pm::summary_data_point::ValueAtQuantile => QuantileDef, "a quantile value object";
    ResourceLogs => ResourceLogsDef, "a resourceLogs object";
    ScopeLogs => ScopeLogsDef, "a scopeLogs object";
    LogRecord => LogRecordDef, "a log record object";
}

/// Reads a list of messages, or `null` for none.
fn list<'de, D: Deserializer<'de>, T: FromObject<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    let items: Option<Vec<InObject<T>>> = Deserialize::deserialize(deserializer)?;
    // Same layout, so the vector is reused in place.
    Ok(items
        .unwrap_or_default()
        .into_iter()
        .map(|item| item.0)
        .collect())
}

/// Reads a message, or `null` for none.
fn object<'de, D: Deserializer<'de>, T: FromObject<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    let item: Option<InObject<T>> = Deserialize::deserialize(deserializer)?;
    Ok(item.map(|item| item.0))
}

#[derive(Deserialize)]
#[serde(remote = "ResourceSpans", rename_all = "camelCase")]
struct ResourceSpansDef {
    #[serde(default, deserialize_with = "object")]
    resource: Option<Resource>,
    #[serde(default, alias = "scope_spans", deserialize_with = "list")]
    scope_spans: Vec<ScopeSpans>,
    #[serde(default, alias = "schema_url", deserialize_with = "string")]
    schema_url: String,
}

#[derive(Deserialize)]
#[serde(remote = "ScopeSpans", rename_all = "camelCase")]
struct ScopeSpansDef {
    #[serde(default, deserialize_with = "object")]
    scope: Option<InstrumentationScope>,
    #[serde(default, deserialize_with = "list")]
    spans: Vec<Span>,
    #[serde(default, alias = "schema_url", deserialize_with = "string")]
    schema_url: String,
}

#[derive(Deserialize)]
#[serde(remote = "Resource", rename_all = "camelCase")]
struct ResourceDef {
    #[serde(default, deserialize_with = "key_values")]
    attributes: Vec<KeyValue>,
    #[serde(
        default,
        alias = "dropped_attributes_count",
        deserialize_with = "integer"
    )]
    dropped_attributes_count: u32,
    #[serde(skip)]
    entity_refs: Vec<opentelemetry_proto::tonic::common::v1::EntityRef>,
}

#[derive(Deserialize)]
#[serde(remote = "InstrumentationScope", rename_all = "camelCase")]
struct ScopeDef {
    #[serde(default, deserialize_with = "string")]
    name: String,
    #[serde(default, deserialize_with = "string")]
    version: String,
    #[serde(default, deserialize_with = "key_values")]
    attributes: Vec<KeyValue>,
    #[serde(
        default,
        alias = "dropped_attributes_count",
        deserialize_with = "integer"
    )]
    dropped_attributes_count: u32,
}

#[derive(Deserialize)]
#[serde(remote = "Span", rename_all = "camelCase")]
struct SpanDef {
    #[serde(default, alias = "trace_id", deserialize_with = "hex_id")]
    trace_id: Vec<u8>,
    #[serde(default, alias = "span_id", deserialize_with = "hex_id")]
    span_id: Vec<u8>,
    #[serde(default, alias = "trace_state", deserialize_with = "string")]
    trace_state: String,
    #[serde(default, alias = "parent_span_id", deserialize_with = "hex_id")]
    parent_span_id: Vec<u8>,
    #[serde(default, deserialize_with = "integer")]
    flags: u32,
    #[serde(default, deserialize_with = "string")]
    name: String,
    #[serde(default, deserialize_with = "span_kind")]
    kind: i32,
    #[serde(default, alias = "start_time_unix_nano", deserialize_with = "integer")]
    start_time_unix_nano: u64,
    #[serde(default, alias = "end_time_unix_nano", deserialize_with = "integer")]
    end_time_unix_nano: u64,
    #[serde(default, deserialize_with = "key_values")]
    attributes: Vec<KeyValue>,
    #[serde(
        default,
        alias = "dropped_attributes_count",
        deserialize_with = "integer"
    )]
    dropped_attributes_count: u32,
    #[serde(default, deserialize_with = "list")]
    events: Vec<span::Event>,
    #[serde(default, alias = "dropped_events_count", deserialize_with = "integer")]
    dropped_events_count: u32,
    #[serde(default, deserialize_with = "list")]
    links: Vec<span::Link>,
    #[serde(default, alias = "dropped_links_count", deserialize_with = "integer")]
    dropped_links_count: u32,
    #[serde(default, deserialize_with = "object")]
    status: Option<Status>,
}

#[derive(Deserialize)]
#[serde(remote = "span::Event", rename_all = "camelCase")]
struct EventDef {
    #[serde(default, alias = "time_unix_nano", deserialize_with = "integer")]
    time_unix_nano: u64,
    #[serde(default, deserialize_with = "string")]
    name: String,
    #[serde(default, deserialize_with = "key_values")]
    attributes: Vec<KeyValue>,
    #[serde(
        default,
        alias = "dropped_attributes_count",
        deserialize_with = "integer"
    )]
    dropped_attributes_count: u32,
}

#[derive(Deserialize)]
#[serde(remote = "span::Link", rename_all = "camelCase")]
struct LinkDef {
    #[serde(default, alias = "trace_id", deserialize_with = "hex_id")]
    trace_id: Vec<u8>,
    #[serde(default, alias = "span_id", deserialize_with = "hex_id")]
    span_id: Vec<u8>,
    #[serde(default, alias = "trace_state", deserialize_with = "string")]
    trace_state: String,
    #[serde(default, deserialize_with = "key_values")]
    attributes: Vec<KeyValue>,
    #[serde(
        default,
        alias = "dropped_attributes_count",
        deserialize_with = "integer"
    )]
    dropped_attributes_count: u32,
    #[serde(default, deserialize_with = "integer")]
    flags: u32,
}

#[derive(Deserialize)]
#[serde(remote = "Status", rename_all = "camelCase")]
struct StatusDef {
    #[serde(default, deserialize_with = "string")]
    message: String,
    #[serde(default, deserialize_with = "status_code")]
    code: i32,
}

#[derive(Deserialize)]
#[serde(remote = "pm::ResourceMetrics", rename_all = "camelCase")]
struct ResourceMetricsDef {
    #[serde(default, deserialize_with = "object")]
    resource: Option<Resource>,
    #[serde(default, alias = "scope_metrics", deserialize_with = "list")]
    scope_metrics: Vec<pm::ScopeMetrics>,
    #[serde(default, alias = "schema_url", deserialize_with = "string")]
    schema_url: String,
}

#[derive(Deserialize)]
#[serde(remote = "pm::ScopeMetrics", rename_all = "camelCase")]
struct ScopeMetricsDef {
    #[serde(default, deserialize_with = "object")]
    scope: Option<InstrumentationScope>,
    #[serde(default, deserialize_with = "metrics")]
    metrics: Vec<pm::Metric>,
    #[serde(default, alias = "schema_url", deserialize_with = "string")]
    schema_url: String,
}

/// A metric as OTLP/JSON writes it: its data is one of five fields.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricJson {
    #[serde(default, deserialize_with = "string")]
    name: String,
    #[serde(default, deserialize_with = "string")]
    description: String,
    #[serde(default, deserialize_with = "string")]
    unit: String,
    #[serde(default, deserialize_with = "key_values")]
    metadata: Vec<KeyValue>,
    #[serde(default, deserialize_with = "object")]
    gauge: Option<pm::Gauge>,
    #[serde(default, deserialize_with = "object")]
    sum: Option<pm::Sum>,
    #[serde(default, deserialize_with = "object")]
    histogram: Option<pm::Histogram>,
    #[serde(default, alias = "exponential_histogram", deserialize_with = "object")]
    exponential_histogram: Option<pm::ExponentialHistogram>,
    #[serde(default, deserialize_with = "object")]
    summary: Option<pm::Summary>,
}

fn metrics<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<pm::Metric>, D::Error> {
    use pm::metric::Data;
    Ok(list::<D, MetricJson>(deserializer)?
        .into_iter()
        .map(|metric| {
            // The first of the five that is present, in the order of the proto's oneof.
            let data = (metric.gauge.map(Data::Gauge))
                .or(metric.sum.map(Data::Sum))
                .or(metric.histogram.map(Data::Histogram))
                .or(metric.exponential_histogram.map(Data::ExponentialHistogram))
                .or(metric.summary.map(Data::Summary));
            pm::Metric {
                name: metric.name,
                description: metric.description,
                unit: metric.unit,
                metadata: metric.metadata,
                data,
            }
        })
        .collect())
}

#[derive(Deserialize)]
#[serde(remote = "pm::Gauge", rename_all = "camelCase")]
struct GaugeDef {
    #[serde(default, alias = "data_points", deserialize_with = "number_points")]
    data_points: Vec<pm::NumberDataPoint>,
}

#[derive(Deserialize)]
#[serde(remote = "pm::Sum", rename_all = "camelCase")]
struct SumDef {
    #[serde(default, alias = "data_points", deserialize_with = "number_points")]
    data_points: Vec<pm::NumberDataPoint>,
    #[serde(
        default,
        alias = "aggregation_temporality",
        deserialize_with = "temporality"
    )]
    aggregation_temporality: i32,
    #[serde(default, alias = "is_monotonic", deserialize_with = "boolean")]
    is_monotonic: bool,
}

#[derive(Deserialize)]
#[serde(remote = "pm::Histogram", rename_all = "camelCase")]
struct HistogramDef {
    #[serde(default, alias = "data_points", deserialize_with = "list")]
    data_points: Vec<pm::HistogramDataPoint>,
    #[serde(
        default,
        alias = "aggregation_temporality",
        deserialize_with = "temporality"
    )]
    aggregation_temporality: i32,
}

#[derive(Deserialize)]
#[serde(remote = "pm::ExponentialHistogram", rename_all = "camelCase")]
struct ExponentialHistogramDef {
    #[serde(default, alias = "data_points", deserialize_with = "list")]
    data_points: Vec<pm::ExponentialHistogramDataPoint>,
    #[serde(
        default,
        alias = "aggregation_temporality",
        deserialize_with = "temporality"
    )]
    aggregation_temporality: i32,
}

#[derive(Deserialize)]
#[serde(remote = "pm::Summary", rename_all = "camelCase")]
struct SummaryDef {
    #[serde(default, alias = "data_points", deserialize_with = "list")]
    data_points: Vec<pm::SummaryDataPoint>,
}

/// A number data point as OTLP/JSON writes it: its value is `asInt` or `asDouble`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NumberPointJson {
    #[serde(default, deserialize_with = "key_values")]
    attributes: Vec<KeyValue>,
    #[serde(default, alias = "start_time_unix_nano", deserialize_with = "integer")]
    start_time_unix_nano: u64,
    #[serde(default, alias = "time_unix_nano", deserialize_with = "integer")]
    time_unix_nano: u64,
    #[serde(default, deserialize_with = "integer")]
    flags: u32,
    #[serde(default, alias = "as_int", deserialize_with = "optional_int64")]
    as_int: Option<i64>,
    #[serde(default, alias = "as_double", deserialize_with = "optional_double")]
    as_double: Option<f64>,
}

fn number_points<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<pm::NumberDataPoint>, D::Error> {
    use pm::number_data_point::Value as V;
    Ok(list::<D, NumberPointJson>(deserializer)?
        .into_iter()
        .map(|point| pm::NumberDataPoint {
            attributes: point.attributes,
            start_time_unix_nano: point.start_time_unix_nano,
            time_unix_nano: point.time_unix_nano,
            exemplars: Vec::new(),
            flags: point.flags,
            value: (point.as_int.map(V::AsInt)).or(point.as_double.map(V::AsDouble)),
        })
        .collect())
}

#[derive(Deserialize)]
#[serde(remote = "pm::HistogramDataPoint", rename_all = "camelCase")]
struct HistogramPointDef {
    #[serde(default, deserialize_with = "key_values")]
    attributes: Vec<KeyValue>,
    #[serde(default, alias = "start_time_unix_nano", deserialize_with = "integer")]
    start_time_unix_nano: u64,
    #[serde(default, alias = "time_unix_nano", deserialize_with = "integer")]
    time_unix_nano: u64,
    #[serde(default, deserialize_with = "integer")]
    count: u64,
    #[serde(default, deserialize_with = "optional_double")]
    sum: Option<f64>,
    #[serde(default, alias = "bucket_counts", deserialize_with = "uint64_list")]
    bucket_counts: Vec<u64>,
    #[serde(default, alias = "explicit_bounds", deserialize_with = "double_list")]
    explicit_bounds: Vec<f64>,
    #[serde(skip)]
    exemplars: Vec<pm::Exemplar>,
    #[serde(default, deserialize_with = "integer")]
    flags: u32,
    #[serde(default, deserialize_with = "optional_double")]
    min: Option<f64>,
    #[serde(default, deserialize_with = "optional_double")]
    max: Option<f64>,
}

#[derive(Deserialize)]
#[serde(remote = "pm::ExponentialHistogramDataPoint", rename_all = "camelCase")]
struct ExponentialPointDef {
    #[serde(default, deserialize_with = "key_values")]
    attributes: Vec<KeyValue>,
    #[serde(default, alias = "start_time_unix_nano", deserialize_with = "integer")]
    start_time_unix_nano: u64,
    #[serde(default, alias = "time_unix_nano", deserialize_with = "integer")]
    time_unix_nano: u64,
    #[serde(default, deserialize_with = "integer")]
    count: u64,
    #[serde(default, deserialize_with = "optional_double")]
    sum: Option<f64>,
    #[serde(default, deserialize_with = "integer")]
    scale: i32,
    #[serde(default, alias = "zero_count", deserialize_with = "integer")]
    zero_count: u64,
    #[serde(default, deserialize_with = "object")]
    positive: Option<pm::exponential_histogram_data_point::Buckets>,
    #[serde(default, deserialize_with = "object")]
    negative: Option<pm::exponential_histogram_data_point::Buckets>,
    #[serde(default, deserialize_with = "integer")]
    flags: u32,
    #[serde(skip)]
    exemplars: Vec<pm::Exemplar>,
    #[serde(default, deserialize_with = "optional_double")]
    min: Option<f64>,
    #[serde(default, deserialize_with = "optional_double")]
    max: Option<f64>,
    #[serde(default, alias = "zero_threshold", deserialize_with = "double")]
    zero_threshold: f64,
}

#[derive(Deserialize)]
#[serde(
    remote = "pm::exponential_histogram_data_point::Buckets",
    rename_all = "camelCase"
)]
struct BucketsDef {
    #[serde(default, deserialize_with = "integer")]
    offset: i32,
    #[serde(default, alias = "bucket_counts", deserialize_with = "uint64_list")]
    bucket_counts: Vec<u64>,
}

#[derive(Deserialize)]
#[serde(remote = "pm::SummaryDataPoint", rename_all = "camelCase")]
struct SummaryPointDef {
    #[serde(default, deserialize_with = "key_values")]
    attributes: Vec<KeyValue>,
    #[serde(default, alias = "start_time_unix_nano", deserialize_with = "integer")]
    start_time_unix_nano: u64,
    #[serde(default, alias = "time_unix_nano", deserialize_with = "integer")]
    time_unix_nano: u64,
    #[serde(default, deserialize_with = "integer")]
    count: u64,
    #[serde(default, deserialize_with = "double")]
    sum: f64,
    #[serde(default, alias = "quantile_values", deserialize_with = "list")]
    quantile_values: Vec<pm::summary_data_point::ValueAtQuantile>,
    #[serde(default, deserialize_with = "integer")]
    flags: u32,
}

#[derive(Deserialize)]
#[serde(remote = "pm::summary_data_point::ValueAtQuantile")]
struct QuantileDef {
    #[serde(default, deserialize_with = "double")]
    quantile: f64,
    #[serde(default, deserialize_with = "double")]
    value: f64,
}

#[derive(Deserialize)]
#[serde(remote = "ResourceLogs", rename_all = "camelCase")]
struct ResourceLogsDef {
    #[serde(default, deserialize_with = "object")]
    resource: Option<Resource>,
    #[serde(default, alias = "scope_logs", deserialize_with = "list")]
    scope_logs: Vec<ScopeLogs>,
    #[serde(default, alias = "schema_url", deserialize_with = "string")]
    schema_url: String,
}

#[derive(Deserialize)]
#[serde(remote = "ScopeLogs", rename_all = "camelCase")]
struct ScopeLogsDef {
    #[serde(default, deserialize_with = "object")]
    scope: Option<InstrumentationScope>,
    #[serde(default, alias = "log_records", deserialize_with = "list")]
    log_records: Vec<LogRecord>,
    #[serde(default, alias = "schema_url", deserialize_with = "string")]
    schema_url: String,
}

#[derive(Deserialize)]
#[serde(remote = "LogRecord", rename_all = "camelCase")]
struct LogRecordDef {
    #[serde(default, alias = "time_unix_nano", deserialize_with = "integer")]
    time_unix_nano: u64,
    #[serde(
        default,
        alias = "observed_time_unix_nano",
        deserialize_with = "integer"
    )]
    observed_time_unix_nano: u64,
    #[serde(default, alias = "severity_number", deserialize_with = "integer")]
    severity_number: i32,
    #[serde(default, alias = "severity_text", deserialize_with = "string")]
    severity_text: String,
    #[serde(default, deserialize_with = "any_value")]
    body: Option<AnyValue>,
    #[serde(default, deserialize_with = "key_values")]
    attributes: Vec<KeyValue>,
    #[serde(
        default,
        alias = "dropped_attributes_count",
        deserialize_with = "integer"
    )]
    dropped_attributes_count: u32,
    #[serde(default, deserialize_with = "integer")]
    flags: u32,
    #[serde(default, alias = "trace_id", deserialize_with = "hex_id")]
    trace_id: Vec<u8>,
    #[serde(default, alias = "span_id", deserialize_with = "hex_id")]
    span_id: Vec<u8>,
    #[serde(default, alias = "event_name", deserialize_with = "string")]
    event_name: String,
}

const SPAN_KINDS: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUS_CODES: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
const TEMPORALITIES: &[&str] = &[
    "AGGREGATION_TEMPORALITY_UNSPECIFIED",
    "AGGREGATION_TEMPORALITY_DELTA",
    "AGGREGATION_TEMPORALITY_CUMULATIVE",
];

fn span_kind<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    deserializer.deserialize_any(EnumNumber { names: SPAN_KINDS })
}

fn status_code<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    deserializer.deserialize_any(EnumNumber {
        names: STATUS_CODES,
    })
}

fn temporality<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    deserializer.deserialize_any(EnumNumber {
        names: TEMPORALITIES,
    })
}

#[cfg(test)]
mod tests;
