//! Test support: an order service on a temporary database and an in-process bus, scripted
//! payment gateways, environments that export into memory and event builders.

// Each test file uses a different part of this module.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::sqs::SqsMessage;
use opentelemetry_sdk::metrics::InMemoryMetricExporter;
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, MetricData, ResourceMetrics, ScopeMetrics, SumDataPoint,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use spanbill::{Architecture, Environment, FunctionConfig, Telemetry};
use spanbill_functions::OrderService;
use spanbill_functions::bus::{Bus, BusError, InMemoryBus, OutgoingMessage, QueueSettings};
use spanbill_functions::clock::ManualClock;
use spanbill_functions::payment::{
    BreakerSettings, Charge, ChargeRequest, GatewayError, PaymentClient, PaymentGateway,
    RetryPolicy, SandboxGateway,
};
use spanbill_functions::store::Store;
use tempfile::TempDir;

/// The behaviour of a [`ScriptedGateway`] on one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Approve,
    Decline,
    Unavailable,
    /// Never responds, so the client's call timeout fires.
    Hang,
}

/// A gateway that follows a script, then approves every call.
#[derive(Debug, Default)]
pub struct ScriptedGateway {
    script: Mutex<VecDeque<Step>>,
    calls: AtomicU32,
}

impl ScriptedGateway {
    pub fn new(steps: impl IntoIterator<Item = Step>) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(steps.into_iter().collect()),
            calls: AtomicU32::new(0),
        })
    }

    pub fn push(&self, steps: impl IntoIterator<Item = Step>) {
        self.script.lock().unwrap().extend(steps);
    }

    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PaymentGateway for ScriptedGateway {
    async fn charge(&self, request: &ChargeRequest) -> Result<Charge, GatewayError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let step = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Step::Approve);
        match step {
            Step::Approve => Ok(Charge {
                charge_id: format!("ch-{}-{call}", request.order_id),
            }),
            Step::Decline => Err(GatewayError::Declined {
                reason: "card_declined".to_owned(),
            }),
            Step::Unavailable => Err(GatewayError::Unavailable {
                message: "HTTP 503".to_owned(),
            }),
            Step::Hang => std::future::pending().await,
        }
    }
}

/// Returns a retry policy with short delays and a short call timeout.
pub fn fast_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
        call_timeout: Duration::from_millis(50),
    }
}

/// An order service on its own temporary database, with an in-process bus whose queues
/// `orders` and `payments` exist, both driven by a manual clock.
pub struct Fixture {
    pub dir: TempDir,
    pub clock: Arc<ManualClock>,
    pub bus: Arc<InMemoryBus>,
    pub service: Arc<OrderService>,
}

impl Fixture {
    /// A fixture whose gateway approves charges up to $1000.
    pub fn new() -> Self {
        Self::with_gateway(
            Arc::new(SandboxGateway::new(100_000)),
            fast_policy(3),
            BreakerSettings::default(),
        )
    }

    pub fn with_gateway(
        gateway: Arc<dyn PaymentGateway>,
        policy: RetryPolicy,
        breaker: BreakerSettings,
    ) -> Self {
        Self::build(gateway, policy, breaker, QueueSettings::default(), 4)
    }

    pub fn build(
        gateway: Arc<dyn PaymentGateway>,
        policy: RetryPolicy,
        breaker: BreakerSettings,
        queues: QueueSettings,
        pool_size: usize,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_pool_size(dir.path().join("orders.db"), pool_size).unwrap();
        let clock = Arc::new(ManualClock::new());
        let bus = Arc::new(InMemoryBus::new(clock.clone(), queues));
        bus.create_queue("orders");
        bus.create_queue("payments");
        let payments =
            PaymentClient::new(gateway, policy, breaker, clock.clone()).with_jitter_seed(42);
        let service = Arc::new(OrderService::new(store, bus.clone(), payments));
        Self {
            dir,
            clock,
            bus,
            service,
        }
    }

    pub fn store(&self) -> &Store {
        self.service.store()
    }

    pub async fn run<F: Future>(&self, future: F) -> F::Output {
        Arc::clone(&self.service).scope(future).await
    }
}

/// Builds an API Gateway HTTP API (payload 2.0) `POST /orders` request.
pub fn order_request(idempotency_key: Option<&str>, body: &str) -> ApiGatewayV2httpRequest {
    order_request_with_headers(idempotency_key, body, &[])
}

pub fn order_request_with_headers(
    idempotency_key: Option<&str>,
    body: &str,
    extra_headers: &[(&str, &str)],
) -> ApiGatewayV2httpRequest {
    let mut headers = serde_json::Map::new();
    headers.insert("content-type".to_owned(), "application/json".into());
    if let Some(key) = idempotency_key {
        headers.insert("x-idempotency-key".to_owned(), key.into());
    }
    for (name, value) in extra_headers {
        headers.insert((*name).to_owned(), (*value).into());
    }
    serde_json::from_value(serde_json::json!({
        "version": "2.0",
        "routeKey": "POST /orders",
        "rawPath": "/orders",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "api-id.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": "POST",
                "path": "/orders",
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.10",
                "userAgent": "spanbill-tests"
            },
            "requestId": "request-id",
            "routeKey": "POST /orders",
            "stage": "$default",
            "time": "04/Dec/2026:16:00:00 +0000",
            "timeEpoch": 1_796_486_400_000_u64
        },
        "body": body,
        "isBase64Encoded": false
    }))
    .unwrap()
}

/// Builds a valid order body for `user` with one line.
pub fn order_body(user: &str, sku: &str, quantity: u32, price: f64) -> String {
    serde_json::json!({ "userId": user, "items": [{ "sku": sku, "quantity": quantity, "price": price }] })
        .to_string()
}

pub fn context(request_id: &str) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    request_id.clone_into(&mut context.request_id);
    context
}

/// Parses the JSON body of a response.
pub fn response_json(response: &ApiGatewayV2httpResponse) -> serde_json::Value {
    match &response.body {
        Some(Body::Text(text)) => serde_json::from_str(text).unwrap(),
        other => panic!("expected a text body, got {other:?}"),
    }
}

/// One function's environment, exporting spans and metrics into memory.
pub struct Harness {
    pub spans: InMemorySpanExporter,
    pub metrics: InMemoryMetricExporter,
    pub environment: Arc<Environment>,
}

impl Harness {
    /// An environment for the function `name` that exports into `spans` (shared between
    /// functions, so one exporter collects the whole trace) and its own metric exporter.
    pub fn new(name: &str, spans: &InMemorySpanExporter) -> Self {
        let metrics = InMemoryMetricExporter::default();
        let function = FunctionConfig {
            name: Arc::from(name),
            version: Arc::from("$LATEST"),
            memory_mb: 256,
            region: Arc::from("us-east-1"),
            architecture: Architecture::X86_64,
            log_group: Arc::from(format!("/aws/lambda/{name}")),
            log_stream: Arc::from("2026/12/04/[$LATEST]0123456789abcdef"),
        };
        let telemetry = Telemetry::builder()
            .simple_exporter(spans.clone())
            .metric_exporter(metrics.clone())
            .build();
        let environment = Arc::new(Environment::builder(function).telemetry(telemetry).build());
        Self {
            spans: spans.clone(),
            metrics,
            environment,
        }
    }

    pub async fn run<F: Future>(&self, future: F) -> F::Output {
        Environment::scope(Arc::clone(&self.environment), future).await
    }

    /// Returns the total of counter `name` in the latest metric export, or 0 when it was not
    /// exported.
    pub fn counter(&self, name: &str) -> u64 {
        let exported = self.metrics.get_finished_metrics().unwrap();
        let Some(last) = exported.last() else {
            return 0;
        };
        last.scope_metrics()
            .flat_map(ScopeMetrics::metrics)
            .filter(|metric| metric.name() == name)
            .map(|metric| match metric.data() {
                AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                    sum.data_points().map(SumDataPoint::value).sum::<u64>()
                }
                _ => panic!("`{name}` is not a u64 counter"),
            })
            .sum::<u64>()
    }

    /// Returns the names of the metrics in the latest export.
    pub fn metric_names(&self) -> Vec<String> {
        let exported = self.metrics.get_finished_metrics().unwrap();
        exported
            .last()
            .map(|last: &ResourceMetrics| {
                last.scope_metrics()
                    .flat_map(ScopeMetrics::metrics)
                    .map(|metric| metric.name().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Returns every finished span named `name`.
pub fn spans_named(spans: &[SpanData], name: &str) -> Vec<SpanData> {
    spans
        .iter()
        .filter(|span| span.name == name)
        .cloned()
        .collect()
}

/// Returns the one finished span named `name`.
pub fn span_named(spans: &[SpanData], name: &str) -> SpanData {
    let mut matching = spans_named(spans, name);
    let names: Vec<&str> = spans.iter().map(|span| span.name.as_ref()).collect();
    assert_eq!(
        matching.len(),
        1,
        "expected one span named `{name}` among {names:?}"
    );
    matching.remove(0)
}

/// A bus that records what it is asked to send and passes everything on.
#[derive(Debug)]
pub struct RecordingBus<B> {
    pub inner: B,
    pub sent: Mutex<Vec<(String, OutgoingMessage)>>,
}

impl<B> RecordingBus<B> {
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            sent: Mutex::new(Vec::new()),
        }
    }

    pub fn sent(&self) -> Vec<(String, OutgoingMessage)> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl<B: Bus> Bus for RecordingBus<B> {
    async fn send(&self, queue: &str, message: OutgoingMessage) -> Result<String, BusError> {
        self.sent
            .lock()
            .unwrap()
            .push((queue.to_owned(), message.clone()));
        self.inner.send(queue, message).await
    }

    async fn receive(&self, queue: &str, max_messages: usize) -> Result<Vec<SqsMessage>, BusError> {
        self.inner.receive(queue, max_messages).await
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), BusError> {
        self.inner.delete(queue, receipt_handle).await
    }
}

/// Parses the body of a message as JSON.
pub fn message_json(message: &SqsMessage) -> serde_json::Value {
    serde_json::from_str(message.body.as_deref().unwrap()).unwrap()
}
