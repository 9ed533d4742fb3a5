//! One OTLP trace export request shaped like a batch from an instrumented Lambda function.
//!
//! Every invocation is one trace of eight spans: the handler's SERVER span, two INTERNAL
//! steps, DynamoDB, HTTP and SQS CLIENT spans, and an INTERNAL span linked to the previous
//! invocation's root. Every 16th invocation has a failed HTTP call with an exception event.
//! Attribute names follow the OpenTelemetry semantic conventions. Ids come from a fixed
//! seed, so every run sends the same bytes apart from the timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

/// Spans in one invocation's trace.
pub(crate) const SPANS_PER_INVOCATION: usize = 8;

/// Time between the starts of two invocations in the batch, in nanoseconds.
const INVOCATION_GAP_NS: u64 = 50_000_000;

const MS: u64 = 1_000_000;

/// Builds a request of `span_count` spans, rounded up to whole invocations, whose spans end
/// before the current time.
pub(crate) fn export_request(span_count: usize) -> ExportTraceServiceRequest {
    let invocations = span_count.div_ceil(SPANS_PER_INVOCATION).max(1);
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("system clock after 1970")
        .as_nanos() as u64;
    let first_start = now_ns - (invocations as u64 + 20) * INVOCATION_GAP_NS;

    let mut ids = IdSource::new(0x5eed_0f5a_4bb1_1100);
    let mut handler_spans = Vec::with_capacity(invocations * 3);
    let mut client_spans = Vec::with_capacity(invocations * 5);
    let mut previous_root: Option<(Vec<u8>, Vec<u8>)> = None;
    for index in 0..invocations {
        let start = first_start + index as u64 * INVOCATION_GAP_NS;
        let trace = Trace {
            id: ids.bytes::<16>(),
            root_id: ids.bytes::<8>(),
            start,
            index,
        };
        handler_spans.push(trace.handler_span(&mut ids));
        handler_spans.push(trace.validate_span(&mut ids));
        client_spans.push(trace.dynamodb_span(&mut ids, "GetItem", 3, 7 * MS));
        client_spans.push(trace.dynamodb_span(&mut ids, "PutItem", 11, 9 * MS));
        client_spans.push(trace.http_span(&mut ids));
        handler_spans.push(trace.pricing_span(&mut ids));
        client_spans.push(trace.sqs_span(&mut ids));
        handler_spans.push(trace.metrics_span(&mut ids, previous_root.as_ref()));
        previous_root = Some((trace.id.clone(), trace.root_id.clone()));
    }

    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource()),
            scope_spans: vec![
                ScopeSpans {
                    scope: Some(scope("spanbill-instrumentation", "0.1.0")),
                    spans: handler_spans,
                    schema_url: SCHEMA_URL.to_owned(),
                },
                ScopeSpans {
                    scope: Some(scope("aws-sdk-instrumentation", "1.4.2")),
                    spans: client_spans,
                    schema_url: SCHEMA_URL.to_owned(),
                },
            ],
            schema_url: SCHEMA_URL.to_owned(),
        }],
    }
}

const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.26.0";

fn resource() -> Resource {
    Resource {
        attributes: vec![
            string("service.name", "orders-api"),
            string("service.version", "2024.11.3"),
            string("cloud.provider", "aws"),
            string("cloud.platform", "aws_lambda"),
            string("cloud.region", "eu-west-1"),
            string("cloud.account.id", "123456789012"),
            string("faas.name", "orders-api-create-order"),
            string("faas.version", "$LATEST"),
            string(
                "faas.instance",
                "2024/11/30/[$LATEST]8f3c0f6a2d9b4e1c9a7d5b3e1f0c2a4d",
            ),
            int("faas.max_memory", 1024 * 1024 * 1024),
            string("telemetry.sdk.name", "opentelemetry"),
            string("telemetry.sdk.language", "rust"),
            string("telemetry.sdk.version", "0.33.0"),
        ],
        ..Resource::default()
    }
}

fn scope(name: &str, version: &str) -> InstrumentationScope {
    InstrumentationScope {
        name: name.to_owned(),
        version: version.to_owned(),
        ..InstrumentationScope::default()
    }
}

/// One invocation: its trace id, the id of its root span, start time and position.
struct Trace {
    id: Vec<u8>,
    root_id: Vec<u8>,
    start: u64,
    index: usize,
}

impl Trace {
    fn fails(&self) -> bool {
        self.index % 16 == 15
    }

    fn span(&self, span_id: Vec<u8>, name: &str, kind: SpanKind, from_ms: u64, to_ms: u64) -> Span {
        Span {
            trace_id: self.id.clone(),
            span_id,
            parent_span_id: self.root_id.clone(),
            flags: 0x301,
            name: name.to_owned(),
            kind: kind as i32,
            start_time_unix_nano: self.start + from_ms * MS,
            end_time_unix_nano: self.start + to_ms * MS,
            ..Span::default()
        }
    }

    fn handler_span(&self, ids: &mut IdSource) -> Span {
        let status_code = if self.fails() { 502 } else { 201 };
        let mut span = self.span(
            self.root_id.clone(),
            "POST /orders",
            SpanKind::Server,
            0,
            42,
        );
        span.parent_span_id = Vec::new();
        span.attributes = vec![
            string("faas.trigger", "http"),
            string("faas.invocation_id", &ids.uuid()),
            boolean("faas.coldstart", self.index == 0),
            string("http.request.method", "POST"),
            string("http.route", "/orders"),
            string("url.path", "/orders"),
            string("url.scheme", "https"),
            int("http.response.status_code", status_code),
            string(
                "user_agent.original",
                "orders-web/3.2 (+https://example.com)",
            ),
            string("client.address", "203.0.113.24"),
        ];
        if self.fails() {
            span.status = Some(error_status("payment service returned 503"));
        }
        span
    }

    fn validate_span(&self, ids: &mut IdSource) -> Span {
        let mut span = self.span(ids.bytes::<8>(), "validate order", SpanKind::Internal, 1, 2);
        span.attributes = vec![
            int("order.items", (self.index % 7 + 1) as i64),
            double("order.total", 19.99 + self.index as f64),
            string("order.currency", "EUR"),
        ];
        span
    }

    fn dynamodb_span(
        &self,
        ids: &mut IdSource,
        operation: &str,
        from_ms: u64,
        length_ns: u64,
    ) -> Span {
        let mut span = self.span(
            ids.bytes::<8>(),
            &format!("DynamoDB.{operation}"),
            SpanKind::Client,
            from_ms,
            from_ms,
        );
        span.end_time_unix_nano += length_ns;
        span.attributes = vec![
            string("rpc.system", "aws-api"),
            string("rpc.service", "DynamoDB"),
            string("rpc.method", operation),
            string("db.system", "dynamodb"),
            array("aws.dynamodb.table_names", &["orders"]),
            string("aws.request_id", &ids.request_id()),
            string("cloud.region", "eu-west-1"),
            string("server.address", "dynamodb.eu-west-1.amazonaws.com"),
            int("http.response.status_code", 200),
        ];
        span
    }

    fn http_span(&self, ids: &mut IdSource) -> Span {
        let status_code = if self.fails() { 503 } else { 200 };
        let mut span = self.span(ids.bytes::<8>(), "POST", SpanKind::Client, 21, 36);
        span.attributes = vec![
            string("http.request.method", "POST"),
            string(
                "url.full",
                "https://payments.internal.example.com/v2/charges",
            ),
            string("server.address", "payments.internal.example.com"),
            int("server.port", 443),
            string("network.protocol.version", "1.1"),
            int("http.response.status_code", status_code),
            int("http.request.body.size", 412),
        ];
        if self.fails() {
            span.status = Some(error_status("HTTP 503"));
            span.events = vec![Event {
                time_unix_nano: span.end_time_unix_nano,
                name: "exception".to_owned(),
                attributes: vec![
                    string("exception.type", "reqwest::Error"),
                    string(
                        "exception.message",
                        "HTTP status server error (503 Service Unavailable) for url \
                         (https://payments.internal.example.com/v2/charges)",
                    ),
                    string(
                        "exception.stacktrace",
                        "0: orders_api::payments::charge\n   at src/payments.rs:88:14\n\
                         1: orders_api::handler::create_order\n   at src/handler.rs:41:9\n\
                         2: lambda_runtime::run\n",
                    ),
                ],
                dropped_attributes_count: 0,
            }];
        }
        span
    }

    fn pricing_span(&self, ids: &mut IdSource) -> Span {
        let mut span = self.span(ids.bytes::<8>(), "price order", SpanKind::Internal, 2, 3);
        span.events = vec![Event {
            time_unix_nano: span.start_time_unix_nano + 200_000,
            name: "price cache miss".to_owned(),
            attributes: vec![string("cache.key", &format!("price:{}", self.index % 97))],
            dropped_attributes_count: 0,
        }];
        span
    }

    fn sqs_span(&self, ids: &mut IdSource) -> Span {
        let mut span = self.span(
            ids.bytes::<8>(),
            "order-events publish",
            SpanKind::Producer,
            37,
            40,
        );
        span.attributes = vec![
            string("messaging.system", "aws_sqs"),
            string("messaging.operation.type", "publish"),
            string("messaging.destination.name", "order-events"),
            string("messaging.message.id", &ids.uuid()),
            string("rpc.system", "aws-api"),
            string("rpc.service", "SQS"),
            string("rpc.method", "SendMessage"),
            string("aws.request_id", &ids.request_id()),
        ];
        span
    }

    fn metrics_span(&self, ids: &mut IdSource, previous_root: Option<&(Vec<u8>, Vec<u8>)>) -> Span {
        let mut span = self.span(ids.bytes::<8>(), "emit metrics", SpanKind::Internal, 40, 41);
        span.attributes = vec![int("metrics.count", 4)];
        if let Some((trace_id, span_id)) = previous_root {
            span.links = vec![Link {
                trace_id: trace_id.clone(),
                span_id: span_id.clone(),
                trace_state: String::new(),
                attributes: vec![string("link.reason", "previous invocation")],
                dropped_attributes_count: 0,
                flags: 0x301,
            }];
        }
        span
    }
}

fn error_status(message: &str) -> Status {
    Status {
        message: message.to_owned(),
        code: StatusCode::Error as i32,
    }
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    attribute(key, any_value::Value::StringValue(value.to_owned()))
}

fn int(key: &str, value: i64) -> KeyValue {
    attribute(key, any_value::Value::IntValue(value))
}

fn double(key: &str, value: f64) -> KeyValue {
    attribute(key, any_value::Value::DoubleValue(value))
}

fn boolean(key: &str, value: bool) -> KeyValue {
    attribute(key, any_value::Value::BoolValue(value))
}

fn array(key: &str, values: &[&str]) -> KeyValue {
    let values = values
        .iter()
        .map(|value| AnyValue {
            value: Some(any_value::Value::StringValue((*value).to_owned())),
        })
        .collect();
    attribute(key, any_value::Value::ArrayValue(ArrayValue { values }))
}

/// Deterministic ids from a splitmix64 sequence.
struct IdSource {
    state: u64,
}

impl IdSource {
    fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Returns `N` random bytes, never all zero (OTLP treats all-zero ids as invalid).
    fn bytes<const N: usize>(&mut self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(N);
        while bytes.len() < N {
            bytes.extend_from_slice(&self.next().to_le_bytes());
        }
        bytes.truncate(N);
        bytes[0] |= 1;
        bytes
    }

    fn uuid(&mut self) -> String {
        let (high, low) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xffff,
            high & 0xfff,
            (low >> 48) & 0x3fff | 0x8000,
            low & 0xffff_ffff_ffff
        )
    }

    fn request_id(&mut self) -> String {
        format!("{:016X}{:04X}", self.next(), self.next() & 0xffff)
    }
}
