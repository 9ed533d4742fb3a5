//! OTLP/JSON encoding of a trace export request, following the OTLP/HTTP JSON rules: field
//! names in lowerCamelCase, trace and span ids as hex, enums as integers, 64-bit integers
//! as decimal strings and bytes as base64. Fields at their default value are left out, as
//! the protobuf JSON mapping allows.

use std::fmt::Write as _;

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::{Map, Value, json};

/// Encodes `request` as an OTLP/JSON body.
pub(crate) fn encode(request: &ExportTraceServiceRequest) -> Vec<u8> {
    let body = json!({
        "resourceSpans": request.resource_spans.iter().map(resource_spans).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&body).expect("a JSON value always serializes")
}

/// Builds a JSON object from `(name, value)` pairs, leaving out the `None` values.
fn object(fields: impl IntoIterator<Item = (&'static str, Option<Value>)>) -> Value {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| (name.to_owned(), value)))
        .collect();
    Value::Object(map)
}

fn text(value: &str) -> Option<Value> {
    (!value.is_empty()).then(|| Value::from(value))
}

fn hex(bytes: &[u8]) -> Option<Value> {
    if bytes.is_empty() {
        return None;
    }
    let mut encoded = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        write!(encoded, "{byte:02x}").expect("writing to a String cannot fail");
    }
    Some(Value::from(encoded))
}

/// A `fixed64` or `uint64` field, as a decimal string.
fn uint64(value: u64) -> Option<Value> {
    (value != 0).then(|| Value::from(value.to_string()))
}

fn uint32(value: u32) -> Option<Value> {
    (value != 0).then(|| Value::from(value))
}

fn list<T>(items: &[T], encode: impl Fn(&T) -> Value) -> Option<Value> {
    (!items.is_empty()).then(|| Value::Array(items.iter().map(encode).collect()))
}

fn resource_spans(resource_spans: &ResourceSpans) -> Value {
    let resource = resource_spans.resource.as_ref().map(|resource| {
        object([
            ("attributes", list(&resource.attributes, key_value)),
            (
                "droppedAttributesCount",
                uint32(resource.dropped_attributes_count),
            ),
        ])
    });
    object([
        ("resource", resource),
        ("scopeSpans", list(&resource_spans.scope_spans, scope_spans)),
        ("schemaUrl", text(&resource_spans.schema_url)),
    ])
}

fn scope_spans(scope_spans: &ScopeSpans) -> Value {
    object([
        ("scope", scope_spans.scope.as_ref().map(scope)),
        ("spans", list(&scope_spans.spans, span)),
        ("schemaUrl", text(&scope_spans.schema_url)),
    ])
}

fn scope(scope: &InstrumentationScope) -> Value {
    object([
        ("name", text(&scope.name)),
        ("version", text(&scope.version)),
        ("attributes", list(&scope.attributes, key_value)),
        (
            "droppedAttributesCount",
            uint32(scope.dropped_attributes_count),
        ),
    ])
}

fn span(span: &Span) -> Value {
    object([
        ("traceId", hex(&span.trace_id)),
        ("spanId", hex(&span.span_id)),
        ("traceState", text(&span.trace_state)),
        ("parentSpanId", hex(&span.parent_span_id)),
        ("flags", uint32(span.flags)),
        ("name", text(&span.name)),
        ("kind", (span.kind != 0).then(|| Value::from(span.kind))),
        ("startTimeUnixNano", uint64(span.start_time_unix_nano)),
        ("endTimeUnixNano", uint64(span.end_time_unix_nano)),
        ("attributes", list(&span.attributes, key_value)),
        (
            "droppedAttributesCount",
            uint32(span.dropped_attributes_count),
        ),
        ("events", list(&span.events, event)),
        ("droppedEventsCount", uint32(span.dropped_events_count)),
        ("links", list(&span.links, link)),
        ("droppedLinksCount", uint32(span.dropped_links_count)),
        ("status", span.status.as_ref().map(status)),
    ])
}

fn event(event: &Event) -> Value {
    object([
        ("timeUnixNano", uint64(event.time_unix_nano)),
        ("name", text(&event.name)),
        ("attributes", list(&event.attributes, key_value)),
        (
            "droppedAttributesCount",
            uint32(event.dropped_attributes_count),
        ),
    ])
}

fn link(link: &Link) -> Value {
    object([
        ("traceId", hex(&link.trace_id)),
        ("spanId", hex(&link.span_id)),
        ("traceState", text(&link.trace_state)),
        ("attributes", list(&link.attributes, key_value)),
        (
            "droppedAttributesCount",
            uint32(link.dropped_attributes_count),
        ),
        ("flags", uint32(link.flags)),
    ])
}

fn status(status: &Status) -> Value {
    object([
        ("message", text(&status.message)),
        ("code", (status.code != 0).then(|| Value::from(status.code))),
    ])
}

fn key_value(key_value: &KeyValue) -> Value {
    object([
        ("key", Some(Value::from(key_value.key.as_str()))),
        ("value", key_value.value.as_ref().map(any_value)),
    ])
}

fn any_value(value: &AnyValue) -> Value {
    let Some(value) = &value.value else {
        return json!({});
    };
    match value {
        any_value::Value::StringValue(text) => json!({ "stringValue": text }),
        any_value::Value::BoolValue(flag) => json!({ "boolValue": flag }),
        // int64 is a decimal string in the protobuf JSON mapping.
        any_value::Value::IntValue(number) => json!({ "intValue": number.to_string() }),
        any_value::Value::DoubleValue(number) => json!({ "doubleValue": number }),
        any_value::Value::ArrayValue(array) => json!({
            "arrayValue": { "values": array.values.iter().map(any_value).collect::<Vec<_>>() }
        }),
        any_value::Value::KvlistValue(list) => json!({
            "kvlistValue": { "values": list.values.iter().map(key_value).collect::<Vec<_>>() }
        }),
        any_value::Value::BytesValue(bytes) => json!({
            "bytesValue": base64::engine::general_purpose::STANDARD.encode(bytes)
        }),
        any_value::Value::StringValueStrindex(_) => {
            unreachable!("string table references belong to profiles, not to trace requests")
        }
    }
}
