//! OTLP/JSON decoding into the protobuf message types.
//!
//! Follows the OTLP/JSON rules. Field names are lowerCamelCase, and the proto names are
//! accepted too. Trace and span ids are hex strings in either case. Enums are integers, and
//! their names are accepted too. 64-bit integers are decimal strings or bare numbers, read
//! without going through f64. Doubles are numbers or `"NaN"`, `"Infinity"` and
//! `"-Infinity"`. Unknown fields are ignored.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};

use super::DecodeError;
use super::json_value::{self, Object, Value};

/// Decodes an OTLP/JSON trace export request.
pub fn traces_from_json(body: &[u8]) -> Result<ExportTraceServiceRequest, DecodeError> {
    let root = parse_root(body)?;
    let mut request = ExportTraceServiceRequest::default();
    for resource_spans in array(&root, "resourceSpans", "resource_spans")? {
        let resource_spans = object(resource_spans, "resourceSpans")?;
        let mut scope_spans_out = Vec::new();
        for scope_spans in array(resource_spans, "scopeSpans", "scope_spans")? {
            let scope_spans = object(scope_spans, "scopeSpans")?;
            let mut spans = Vec::new();
            for item in array(scope_spans, "spans", "spans")? {
                spans.push(span_from(object(item, "spans")?)?);
            }
            scope_spans_out.push(ScopeSpans {
                scope: scope(scope_spans)?,
                spans,
                schema_url: string(scope_spans, "schemaUrl", "schema_url")?,
            });
        }
        request.resource_spans.push(ResourceSpans {
            resource: resource(resource_spans)?,
            scope_spans: scope_spans_out,
            schema_url: string(resource_spans, "schemaUrl", "schema_url")?,
        });
    }
    Ok(request)
}

/// Decodes an OTLP/JSON metrics export request.
pub fn metrics_from_json(body: &[u8]) -> Result<ExportMetricsServiceRequest, DecodeError> {
    let root = parse_root(body)?;
    let mut request = ExportMetricsServiceRequest::default();
    for resource_metrics in array(&root, "resourceMetrics", "resource_metrics")? {
        let resource_metrics = object(resource_metrics, "resourceMetrics")?;
        let mut scope_metrics_out = Vec::new();
        for scope_metrics in array(resource_metrics, "scopeMetrics", "scope_metrics")? {
            let scope_metrics = object(scope_metrics, "scopeMetrics")?;
            let mut metrics = Vec::new();
            for item in array(scope_metrics, "metrics", "metrics")? {
                metrics.push(metric_from(object(item, "metrics")?)?);
            }
            scope_metrics_out.push(pm::ScopeMetrics {
                scope: scope(scope_metrics)?,
                metrics,
                schema_url: string(scope_metrics, "schemaUrl", "schema_url")?,
            });
        }
        request.resource_metrics.push(pm::ResourceMetrics {
            resource: resource(resource_metrics)?,
            scope_metrics: scope_metrics_out,
            schema_url: string(resource_metrics, "schemaUrl", "schema_url")?,
        });
    }
    Ok(request)
}

/// Decodes an OTLP/JSON logs export request.
pub fn logs_from_json(body: &[u8]) -> Result<ExportLogsServiceRequest, DecodeError> {
    let root = parse_root(body)?;
    let mut request = ExportLogsServiceRequest::default();
    for resource_logs in array(&root, "resourceLogs", "resource_logs")? {
        let resource_logs = object(resource_logs, "resourceLogs")?;
        let mut scope_logs_out = Vec::new();
        for scope_logs in array(resource_logs, "scopeLogs", "scope_logs")? {
            let scope_logs = object(scope_logs, "scopeLogs")?;
            let mut log_records = Vec::new();
            for item in array(scope_logs, "logRecords", "log_records")? {
                log_records.push(log_record_from(object(item, "logRecords")?)?);
            }
            scope_logs_out.push(ScopeLogs {
                scope: scope(scope_logs)?,
                log_records,
                schema_url: string(scope_logs, "schemaUrl", "schema_url")?,
            });
        }
        request.resource_logs.push(ResourceLogs {
            resource: resource(resource_logs)?,
            scope_logs: scope_logs_out,
            schema_url: string(resource_logs, "schemaUrl", "schema_url")?,
        });
    }
    Ok(request)
}

fn parse_root(body: &[u8]) -> Result<Object<'_>, DecodeError> {
    match json_value::from_slice(body)? {
        Value::Object(root) => Ok(root),
        _ => Err(field_error("(root)", "expected a JSON object")),
    }
}

fn field_error(field: &'static str, problem: impl Into<String>) -> DecodeError {
    DecodeError::JsonField {
        field,
        problem: problem.into(),
    }
}

/// Looks a field up by its JSON name, then by its proto name. `null` counts as absent.
fn get<'a, 'b>(object: &'a Object<'b>, camel: &str, snake: &str) -> Option<&'a Value<'b>> {
    object
        .get(camel)
        .or_else(|| object.get(snake))
        .filter(|value| !value.is_null())
}

fn object<'a, 'b>(
    value: &'a Value<'b>,
    field: &'static str,
) -> Result<&'a Object<'b>, DecodeError> {
    value
        .as_object()
        .ok_or_else(|| field_error(field, "expected an object"))
}

fn array<'a, 'b>(
    object: &'a Object<'b>,
    camel: &'static str,
    snake: &str,
) -> Result<&'a [Value<'b>], DecodeError> {
    match get(object, camel, snake) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(field_error(camel, "expected an array")),
    }
}

fn string(object: &Object<'_>, camel: &'static str, snake: &str) -> Result<String, DecodeError> {
    match get(object, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.as_ref().to_owned()),
        Some(_) => Err(field_error(camel, "expected a string")),
    }
}

fn u64_field(object: &Object<'_>, camel: &'static str, snake: &str) -> Result<u64, DecodeError> {
    match get(object, camel, snake) {
        None => Ok(0),
        Some(Value::Number(number)) => number.as_u64().ok_or_else(|| {
            field_error(
                camel,
                format!("expected an unsigned integer, found {number}"),
            )
        }),
        Some(Value::String(text)) => text.parse().map_err(|_| {
            field_error(
                camel,
                format!("expected an unsigned integer, found `{text}`"),
            )
        }),
        Some(_) => Err(field_error(camel, "expected an unsigned integer")),
    }
}

fn i64_value(value: &Value<'_>, field: &'static str) -> Result<i64, DecodeError> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .ok_or_else(|| field_error(field, format!("expected an integer, found {number}"))),
        Value::String(text) => text
            .parse()
            .map_err(|_| field_error(field, format!("expected an integer, found `{text}`"))),
        _ => Err(field_error(field, "expected an integer")),
    }
}

fn i32_field(object: &Object<'_>, camel: &'static str, snake: &str) -> Result<i32, DecodeError> {
    match get(object, camel, snake) {
        None => Ok(0),
        Some(value) => i32::try_from(i64_value(value, camel)?)
            .map_err(|_| field_error(camel, "integer out of range")),
    }
}

fn u32_field(object: &Object<'_>, camel: &'static str, snake: &str) -> Result<u32, DecodeError> {
    u32::try_from(u64_field(object, camel, snake)?)
        .map_err(|_| field_error(camel, "integer out of range"))
}

fn f64_value(value: &Value<'_>, field: &'static str) -> Result<f64, DecodeError> {
    match value {
        Value::Number(number) => number
            .as_f64()
            .ok_or_else(|| field_error(field, "expected a number")),
        Value::String(text) => match text.as_ref() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .parse()
                .map_err(|_| field_error(field, format!("expected a number, found `{other}`"))),
        },
        _ => Err(field_error(field, "expected a number")),
    }
}

fn optional_f64(object: &Object<'_>, camel: &'static str) -> Result<Option<f64>, DecodeError> {
    get(object, camel, camel)
        .map(|value| f64_value(value, camel))
        .transpose()
}

fn bool_field(object: &Object<'_>, camel: &'static str, snake: &str) -> Result<bool, DecodeError> {
    match get(object, camel, snake) {
        None => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(field_error(camel, "expected a boolean")),
    }
}

/// Reads an enum given as an integer or by its proto name.
fn enum_field(
    object: &Object<'_>,
    camel: &'static str,
    snake: &str,
    names: &[&str],
) -> Result<i32, DecodeError> {
    match get(object, camel, snake) {
        Some(Value::String(name)) if !name.bytes().all(|byte| byte.is_ascii_digit()) => names
            .iter()
            .position(|known| *known == name.as_ref())
            .map(|index| index as i32)
            .ok_or_else(|| field_error(camel, format!("unknown enum name `{name}`"))),
        _ => i32_field(object, camel, snake),
    }
}

/// Reads a hex id in either case. An invalid hex string fails the whole request; a valid
/// one of the wrong length is passed on, so that validation rejects only its item.
fn hex_id(object: &Object<'_>, camel: &'static str, snake: &str) -> Result<Vec<u8>, DecodeError> {
    let text = string(object, camel, snake)?;
    if text.len() % 2 != 0 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(field_error(
            camel,
            format!("expected a hex string, found `{text}`"),
        ));
    }
    Ok((0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).expect("checked hex"))
        .collect())
}

fn resource(object: &Object<'_>) -> Result<Option<Resource>, DecodeError> {
    get(object, "resource", "resource")
        .map(|value| {
            let resource = self::object(value, "resource")?;
            Ok(Resource {
                attributes: attributes(resource)?,
                dropped_attributes_count: u32_field(
                    resource,
                    "droppedAttributesCount",
                    "dropped_attributes_count",
                )?,
                ..Resource::default()
            })
        })
        .transpose()
}

fn scope(object: &Object<'_>) -> Result<Option<InstrumentationScope>, DecodeError> {
    get(object, "scope", "scope")
        .map(|value| {
            let scope = self::object(value, "scope")?;
            Ok(InstrumentationScope {
                name: string(scope, "name", "name")?,
                version: string(scope, "version", "version")?,
                attributes: attributes(scope)?,
                dropped_attributes_count: 0,
            })
        })
        .transpose()
}

fn attributes(object: &Object<'_>) -> Result<Vec<KeyValue>, DecodeError> {
    key_values(array(object, "attributes", "attributes")?)
}

fn key_values(items: &[Value<'_>]) -> Result<Vec<KeyValue>, DecodeError> {
    items
        .iter()
        .map(|item| {
            let pair = object(item, "attributes")?;
            Ok(KeyValue {
                key: string(pair, "key", "key")?,
                value: get(pair, "value", "value")
                    .map(|value| any_value(value, 0))
                    .transpose()?,
                ..KeyValue::default()
            })
        })
        .collect()
}

/// Nesting depth past which a JSON value is rejected; keeps recursion bounded.
const MAX_DEPTH: usize = 16;

fn any_value(value: &Value<'_>, depth: usize) -> Result<AnyValue, DecodeError> {
    use any_value::Value as V;
    if depth > MAX_DEPTH {
        return Err(field_error("value", "nested too deeply"));
    }
    let value = object(value, "value")?;
    let inner = if let Some(text) = get(value, "stringValue", "string_value") {
        let text = text
            .as_str()
            .ok_or_else(|| field_error("stringValue", "expected a string"))?;
        Some(V::StringValue(text.to_owned()))
    } else if get(value, "boolValue", "bool_value").is_some() {
        Some(V::BoolValue(bool_field(value, "boolValue", "bool_value")?))
    } else if let Some(number) = get(value, "intValue", "int_value") {
        Some(V::IntValue(i64_value(number, "intValue")?))
    } else if let Some(number) = get(value, "doubleValue", "double_value") {
        Some(V::DoubleValue(f64_value(number, "doubleValue")?))
    } else if let Some(text) = get(value, "bytesValue", "bytes_value") {
        use base64::Engine as _;
        let text = text
            .as_str()
            .ok_or_else(|| field_error("bytesValue", "expected a base64 string"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|error| field_error("bytesValue", error.to_string()))?;
        Some(V::BytesValue(bytes))
    } else if let Some(list) = get(value, "arrayValue", "array_value") {
        let list = object(list, "arrayValue")?;
        let values = array(list, "values", "values")?
            .iter()
            .map(|item| any_value(item, depth + 1))
            .collect::<Result<_, _>>()?;
        Some(V::ArrayValue(ArrayValue { values }))
    } else if let Some(list) = get(value, "kvlistValue", "kvlist_value") {
        let list = object(list, "kvlistValue")?;
        let mut values = Vec::new();
        for item in array(list, "values", "values")? {
            let pair = object(item, "values")?;
            values.push(KeyValue {
                key: string(pair, "key", "key")?,
                value: get(pair, "value", "value")
                    .map(|value| any_value(value, depth + 1))
                    .transpose()?,
                ..KeyValue::default()
            });
        }
        Some(V::KvlistValue(KeyValueList { values }))
    } else {
        None
    };
    Ok(AnyValue { value: inner })
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

fn span_from(object: &Object<'_>) -> Result<Span, DecodeError> {
    let mut events = Vec::new();
    for item in array(object, "events", "events")? {
        let event = self::object(item, "events")?;
        events.push(span::Event {
            time_unix_nano: u64_field(event, "timeUnixNano", "time_unix_nano")?,
            name: string(event, "name", "name")?,
            attributes: attributes(event)?,
            dropped_attributes_count: 0,
        });
    }
    let mut links = Vec::new();
    for item in array(object, "links", "links")? {
        let link = self::object(item, "links")?;
        links.push(span::Link {
            trace_id: hex_id(link, "traceId", "trace_id")?,
            span_id: hex_id(link, "spanId", "span_id")?,
            trace_state: string(link, "traceState", "trace_state")?,
            attributes: attributes(link)?,
            dropped_attributes_count: 0,
            flags: u32_field(link, "flags", "flags")?,
        });
    }
    let status = get(object, "status", "status")
        .map(|value| {
            let status = self::object(value, "status")?;
            Ok::<_, DecodeError>(Status {
                message: string(status, "message", "message")?,
                code: enum_field(status, "code", "code", STATUS_CODES)?,
            })
        })
        .transpose()?;
    Ok(Span {
        trace_id: hex_id(object, "traceId", "trace_id")?,
        span_id: hex_id(object, "spanId", "span_id")?,
        trace_state: string(object, "traceState", "trace_state")?,
        parent_span_id: hex_id(object, "parentSpanId", "parent_span_id")?,
        flags: u32_field(object, "flags", "flags")?,
        name: string(object, "name", "name")?,
        kind: enum_field(object, "kind", "kind", SPAN_KINDS)?,
        start_time_unix_nano: u64_field(object, "startTimeUnixNano", "start_time_unix_nano")?,
        end_time_unix_nano: u64_field(object, "endTimeUnixNano", "end_time_unix_nano")?,
        attributes: attributes(object)?,
        dropped_attributes_count: 0,
        events,
        dropped_events_count: 0,
        links,
        dropped_links_count: 0,
        status,
    })
}

fn metric_from(object: &Object<'_>) -> Result<pm::Metric, DecodeError> {
    use pm::metric::Data;
    let temporality = |data: &Object<'_>| {
        enum_field(
            data,
            "aggregationTemporality",
            "aggregation_temporality",
            TEMPORALITIES,
        )
    };
    let data = if let Some(data) = get(object, "gauge", "gauge") {
        let data = self::object(data, "gauge")?;
        Some(Data::Gauge(pm::Gauge {
            data_points: number_points(data)?,
        }))
    } else if let Some(data) = get(object, "sum", "sum") {
        let data = self::object(data, "sum")?;
        Some(Data::Sum(pm::Sum {
            data_points: number_points(data)?,
            aggregation_temporality: temporality(data)?,
            is_monotonic: bool_field(data, "isMonotonic", "is_monotonic")?,
        }))
    } else if let Some(data) = get(object, "histogram", "histogram") {
        let data = self::object(data, "histogram")?;
        let mut data_points = Vec::new();
        for item in array(data, "dataPoints", "data_points")? {
            data_points.push(histogram_point(self::object(item, "dataPoints")?)?);
        }
        Some(Data::Histogram(pm::Histogram {
            data_points,
            aggregation_temporality: temporality(data)?,
        }))
    } else if let Some(data) = get(object, "exponentialHistogram", "exponential_histogram") {
        let data = self::object(data, "exponentialHistogram")?;
        let mut data_points = Vec::new();
        for item in array(data, "dataPoints", "data_points")? {
            data_points.push(exponential_point(self::object(item, "dataPoints")?)?);
        }
        Some(Data::ExponentialHistogram(pm::ExponentialHistogram {
            data_points,
            aggregation_temporality: temporality(data)?,
        }))
    } else if let Some(data) = get(object, "summary", "summary") {
        let data = self::object(data, "summary")?;
        let mut data_points = Vec::new();
        for item in array(data, "dataPoints", "data_points")? {
            data_points.push(summary_point(self::object(item, "dataPoints")?)?);
        }
        Some(Data::Summary(pm::Summary { data_points }))
    } else {
        None
    };
    Ok(pm::Metric {
        name: string(object, "name", "name")?,
        description: string(object, "description", "description")?,
        unit: string(object, "unit", "unit")?,
        metadata: key_values(array(object, "metadata", "metadata")?)?,
        data,
    })
}

fn number_points(data: &Object<'_>) -> Result<Vec<pm::NumberDataPoint>, DecodeError> {
    use pm::number_data_point::Value as V;
    let mut points = Vec::new();
    for item in array(data, "dataPoints", "data_points")? {
        let point = object(item, "dataPoints")?;
        let value = if let Some(value) = get(point, "asInt", "as_int") {
            Some(V::AsInt(i64_value(value, "asInt")?))
        } else if let Some(value) = get(point, "asDouble", "as_double") {
            Some(V::AsDouble(f64_value(value, "asDouble")?))
        } else {
            None
        };
        points.push(pm::NumberDataPoint {
            attributes: attributes(point)?,
            start_time_unix_nano: u64_field(point, "startTimeUnixNano", "start_time_unix_nano")?,
            time_unix_nano: u64_field(point, "timeUnixNano", "time_unix_nano")?,
            exemplars: Vec::new(),
            flags: u32_field(point, "flags", "flags")?,
            value,
        });
    }
    Ok(points)
}

fn u64_list(
    object: &Object<'_>,
    camel: &'static str,
    snake: &str,
) -> Result<Vec<u64>, DecodeError> {
    array(object, camel, snake)?
        .iter()
        .map(|value| match value {
            Value::Number(number) => number
                .as_u64()
                .ok_or_else(|| field_error(camel, "expected unsigned integers")),
            Value::String(text) => text
                .parse()
                .map_err(|_| field_error(camel, "expected unsigned integers")),
            _ => Err(field_error(camel, "expected unsigned integers")),
        })
        .collect()
}

fn histogram_point(point: &Object<'_>) -> Result<pm::HistogramDataPoint, DecodeError> {
    Ok(pm::HistogramDataPoint {
        attributes: attributes(point)?,
        start_time_unix_nano: u64_field(point, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: u64_field(point, "timeUnixNano", "time_unix_nano")?,
        count: u64_field(point, "count", "count")?,
        sum: optional_f64(point, "sum")?,
        bucket_counts: u64_list(point, "bucketCounts", "bucket_counts")?,
        explicit_bounds: array(point, "explicitBounds", "explicit_bounds")?
            .iter()
            .map(|value| f64_value(value, "explicitBounds"))
            .collect::<Result<_, _>>()?,
        exemplars: Vec::new(),
        flags: u32_field(point, "flags", "flags")?,
        min: optional_f64(point, "min")?,
        max: optional_f64(point, "max")?,
    })
}

fn exponential_point(point: &Object<'_>) -> Result<pm::ExponentialHistogramDataPoint, DecodeError> {
    use pm::exponential_histogram_data_point::Buckets;
    let buckets = |name: &'static str| {
        get(point, name, name)
            .map(|value| {
                let buckets = object(value, name)?;
                Ok::<_, DecodeError>(Buckets {
                    offset: i32_field(buckets, "offset", "offset")?,
                    bucket_counts: u64_list(buckets, "bucketCounts", "bucket_counts")?,
                })
            })
            .transpose()
    };
    Ok(pm::ExponentialHistogramDataPoint {
        attributes: attributes(point)?,
        start_time_unix_nano: u64_field(point, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: u64_field(point, "timeUnixNano", "time_unix_nano")?,
        count: u64_field(point, "count", "count")?,
        sum: optional_f64(point, "sum")?,
        scale: i32_field(point, "scale", "scale")?,
        zero_count: u64_field(point, "zeroCount", "zero_count")?,
        positive: buckets("positive")?,
        negative: buckets("negative")?,
        flags: u32_field(point, "flags", "flags")?,
        exemplars: Vec::new(),
        min: optional_f64(point, "min")?,
        max: optional_f64(point, "max")?,
        zero_threshold: optional_f64(point, "zeroThreshold")?.unwrap_or(0.0),
    })
}

fn summary_point(point: &Object<'_>) -> Result<pm::SummaryDataPoint, DecodeError> {
    let mut quantile_values = Vec::new();
    for item in array(point, "quantileValues", "quantile_values")? {
        let quantile = object(item, "quantileValues")?;
        quantile_values.push(pm::summary_data_point::ValueAtQuantile {
            quantile: optional_f64(quantile, "quantile")?.unwrap_or(0.0),
            value: optional_f64(quantile, "value")?.unwrap_or(0.0),
        });
    }
    Ok(pm::SummaryDataPoint {
        attributes: attributes(point)?,
        start_time_unix_nano: u64_field(point, "startTimeUnixNano", "start_time_unix_nano")?,
        time_unix_nano: u64_field(point, "timeUnixNano", "time_unix_nano")?,
        count: u64_field(point, "count", "count")?,
        sum: optional_f64(point, "sum")?.unwrap_or(0.0),
        quantile_values,
        flags: u32_field(point, "flags", "flags")?,
    })
}

fn log_record_from(object: &Object<'_>) -> Result<LogRecord, DecodeError> {
    Ok(LogRecord {
        time_unix_nano: u64_field(object, "timeUnixNano", "time_unix_nano")?,
        observed_time_unix_nano: u64_field(
            object,
            "observedTimeUnixNano",
            "observed_time_unix_nano",
        )?,
        severity_number: i32_field(object, "severityNumber", "severity_number")?,
        severity_text: string(object, "severityText", "severity_text")?,
        body: get(object, "body", "body")
            .map(|value| any_value(value, 0))
            .transpose()?,
        attributes: attributes(object)?,
        flags: u32_field(object, "flags", "flags")?,
        trace_id: hex_id(object, "traceId", "trace_id")?,
        span_id: hex_id(object, "spanId", "span_id")?,
        ..LogRecord::default()
    })
}
