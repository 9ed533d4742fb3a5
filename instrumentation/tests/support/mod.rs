//! Test support: environments that export into memory, a settable clock and event builders.

// Each test file uses a different part of this module.
#![allow(dead_code, unreachable_pub)]
// A JSON value argument reads better at call sites than a reference to a temporary.
#![allow(clippy::needless_pass_by_value)]

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::SpanKind;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::InMemoryMetricExporter;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use spanbill_instrumentation::clock::Clock;
use spanbill_instrumentation::emf::EmfSink;
use spanbill_instrumentation::{Architecture, Environment, FunctionConfig, InitType, Telemetry};

pub const ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:orders-api";

/// A clock that moves only when the test advances it.
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    pub fn at_millis(millis: u64) -> Arc<Self> {
        Arc::new(Self(Mutex::new(UNIX_EPOCH + Duration::from_millis(millis))))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// A writer whose output the test can read.
#[derive(Debug, Clone, Default)]
pub struct SharedBuffer(pub Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An environment whose spans, metrics and EMF lines stay in memory.
pub struct Harness {
    pub spans: InMemorySpanExporter,
    pub metrics: InMemoryMetricExporter,
    pub emf: SharedBuffer,
    pub environment: Arc<Environment>,
}

pub fn function_config() -> FunctionConfig {
    FunctionConfig {
        name: Arc::from("orders-api"),
        version: Arc::from("7"),
        memory_mb: 512,
        region: Arc::from("eu-west-1"),
        architecture: Architecture::X86_64,
        log_group: Arc::from("/aws/lambda/orders-api"),
        log_stream: Arc::from("2026/12/04/[7]0123456789abcdef"),
    }
}

impl Harness {
    pub fn new(init_type: InitType, clock: Option<Arc<ManualClock>>) -> Self {
        Self::with_telemetry(init_type, clock, |builder| builder)
    }

    pub fn with_telemetry(
        init_type: InitType,
        clock: Option<Arc<ManualClock>>,
        configure: impl FnOnce(
            spanbill_instrumentation::TelemetryBuilder,
        ) -> spanbill_instrumentation::TelemetryBuilder,
    ) -> Self {
        let spans = InMemorySpanExporter::default();
        let metrics = InMemoryMetricExporter::default();
        let emf = SharedBuffer::default();
        let function = function_config();
        let telemetry = configure(
            Telemetry::builder()
                .resource(spanbill_instrumentation::function_resource(
                    &function, init_type,
                ))
                .simple_exporter(spans.clone())
                .metric_exporter(metrics.clone())
                .emf(EmfSink::new(Box::new(emf.clone()), "orders-api")),
        )
        .build();
        let mut builder = Environment::builder(function)
            .init_type(init_type)
            .telemetry(telemetry);
        if let Some(clock) = clock {
            builder = builder.clock(clock);
        }
        Self {
            spans,
            metrics,
            emf,
            environment: Arc::new(builder.build()),
        }
    }

    pub async fn run<F: Future>(&self, future: F) -> F::Output {
        Environment::scope(Arc::clone(&self.environment), future).await
    }

    pub fn finished(&self) -> Vec<SpanData> {
        self.spans.get_finished_spans().unwrap()
    }

    pub fn span(&self, name: &str) -> SpanData {
        let spans = self.finished();
        let mut matching = spans.into_iter().filter(|span| span.name == name);
        let span = matching
            .next()
            .unwrap_or_else(|| panic!("no span named `{name}`"));
        assert!(
            matching.next().is_none(),
            "more than one span named `{name}`"
        );
        span
    }
}

pub fn context(request_id: &str) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    request_id.clone_into(&mut context.request_id);
    ARN.clone_into(&mut context.invoked_function_arn);
    context
}

pub fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

pub fn attribute_keys(span: &SpanData) -> Vec<String> {
    let mut keys: Vec<String> = span
        .attributes
        .iter()
        .map(|kv| kv.key.to_string())
        .collect();
    keys.sort();
    keys
}

pub fn kv(key: &'static str, value: impl Into<Value>) -> KeyValue {
    KeyValue::new(key, value)
}

pub fn is_kind(span: &SpanData, kind: &SpanKind) -> bool {
    &span.span_kind == kind
}

pub fn http_event(
    headers: serde_json::Value,
    body: &str,
) -> aws_lambda_events::apigw::ApiGatewayV2httpRequest {
    serde_json::from_value(serde_json::json!({
        "version": "2.0",
        "routeKey": "POST /orders",
        "rawPath": "/orders",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3",
            "domainName": "a1b2c3.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "a1b2c3",
            "http": {
                "method": "POST",
                "path": "/orders",
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "curl/8.5.0"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "POST /orders",
            "stage": "$default",
            "time": "04/Dec/2026:16:00:00 +0000",
            "timeEpoch": 1_796_227_200_000_u64
        },
        "body": body,
        "isBase64Encoded": false
    }))
    .unwrap()
}

pub fn sqs_message(
    id: &str,
    message_attributes: serde_json::Value,
    attributes: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "messageId": id,
        "receiptHandle": format!("handle-{id}"),
        "body": "{\"orderId\":\"o-1\"}",
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": "0",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:payments",
        "awsRegion": "eu-west-1"
    })
}

pub fn string_attribute(value: &str) -> serde_json::Value {
    serde_json::json!({"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": "String"})
}
