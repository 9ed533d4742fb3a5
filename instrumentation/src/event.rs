//! What an invocation's event and response say about the span: kind, trigger, attributes,
//! remote parent and links.
//!
//! [`TriggerEvent`] and [`TriggerResponse`] are implemented for the API Gateway and SQS types
//! of `aws_lambda_events`. The handler wrapper uses them when the event or response type
//! implements them and falls back to a generic description otherwise.

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Link, SpanContext, SpanKind};
use opentelemetry_semantic_conventions::attribute as semconv;

use crate::keys;
use crate::propagation;

/// The `faas.trigger` values of the OpenTelemetry FaaS conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An inbound HTTP request (API Gateway, function URL, load balancer).
    Http,
    /// A message from a queue or topic (SQS, SNS, EventBridge).
    PubSub,
    /// A change in a data store (S3, DynamoDB streams).
    Datasource,
    /// A schedule.
    Timer,
    /// Anything else.
    Other,
}

impl Trigger {
    /// Returns the attribute value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::PubSub => "pubsub",
            Self::Datasource => "datasource",
            Self::Timer => "timer",
            Self::Other => "other",
        }
    }
}

/// The part of an invocation span that comes from its event.
#[derive(Debug, Clone)]
pub struct EventInfo {
    /// Span kind: SERVER for requests, CONSUMER for messages, otherwise SERVER as the
    /// FaaS conventions give for an invoked function.
    pub kind: SpanKind,
    /// Trigger type.
    pub trigger: Trigger,
    /// Span attributes.
    pub attributes: Vec<KeyValue>,
    /// Remote parent carried by the event, such as a `traceparent` header.
    pub parent: Option<SpanContext>,
    /// Links to producer contexts, such as one per SQS message.
    pub links: Vec<Link>,
}

impl EventInfo {
    /// Returns the description of an event of unknown type.
    #[must_use]
    pub fn other() -> Self {
        Self {
            kind: SpanKind::Server,
            trigger: Trigger::Other,
            attributes: Vec::new(),
            parent: None,
            links: Vec::new(),
        }
    }
}

/// An event type that describes its own invocation span.
pub trait TriggerEvent {
    /// Describes the span of an invocation triggered by this event.
    fn describe(&self) -> EventInfo;
}

/// What the handler's successful result contributes to the span.
#[derive(Debug, Clone, Default)]
pub struct ResponseInfo {
    /// Span attributes.
    pub attributes: Vec<KeyValue>,
    /// Set when the response reports a failure, such as an HTTP 5xx status.
    pub error: Option<String>,
}

/// A response type that describes the outcome of the invocation.
pub trait TriggerResponse {
    /// Describes the response.
    fn describe(&self) -> ResponseInfo;
}

impl TriggerEvent for ApiGatewayV2httpRequest {
    fn describe(&self) -> EventInfo {
        let http = &self.request_context.http;
        let mut attributes = vec![
            KeyValue::new(keys::HTTP_REQUEST_METHOD, http.method.as_str().to_owned()),
            KeyValue::new(keys::URL_SCHEME, "https"),
        ];
        if let Some(path) = self.raw_path.as_ref().or(http.path.as_ref()) {
            attributes.push(KeyValue::new(semconv::URL_PATH, path.clone()));
        }
        if let Some(route) = route_of(self.route_key.as_deref()) {
            attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route.to_owned()));
        }
        if let Some(agent) = &http.user_agent {
            attributes.push(KeyValue::new(semconv::USER_AGENT_ORIGINAL, agent.clone()));
        }
        if let Some(ip) = &http.source_ip {
            attributes.push(KeyValue::new(semconv::CLIENT_ADDRESS, ip.clone()));
        }
        if let Some(domain) = &self.request_context.domain_name {
            attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, domain.clone()));
        }
        EventInfo {
            kind: SpanKind::Server,
            trigger: Trigger::Http,
            attributes,
            parent: propagation::extract_headers(&self.headers),
            links: Vec::new(),
        }
    }
}

impl TriggerEvent for ApiGatewayProxyRequest {
    fn describe(&self) -> EventInfo {
        let mut attributes = vec![
            KeyValue::new(
                keys::HTTP_REQUEST_METHOD,
                self.http_method.as_str().to_owned(),
            ),
            KeyValue::new(keys::URL_SCHEME, "https"),
        ];
        if let Some(path) = &self.path {
            attributes.push(KeyValue::new(semconv::URL_PATH, path.clone()));
        }
        if let Some(resource) = &self.resource {
            attributes.push(KeyValue::new(semconv::HTTP_ROUTE, resource.clone()));
        }
        if let Some(agent) = &self.request_context.identity.user_agent {
            attributes.push(KeyValue::new(semconv::USER_AGENT_ORIGINAL, agent.clone()));
        }
        if let Some(ip) = &self.request_context.identity.source_ip {
            attributes.push(KeyValue::new(semconv::CLIENT_ADDRESS, ip.clone()));
        }
        EventInfo {
            kind: SpanKind::Server,
            trigger: Trigger::Http,
            attributes,
            parent: propagation::extract_headers(&self.headers),
            links: Vec::new(),
        }
    }
}

impl TriggerEvent for SqsEvent {
    fn describe(&self) -> EventInfo {
        let mut attributes = vec![
            KeyValue::new(keys::MESSAGING_SYSTEM, "aws_sqs"),
            KeyValue::new(keys::MESSAGING_OPERATION_TYPE, "process"),
            KeyValue::new(keys::MESSAGING_OPERATION_NAME, "process"),
            KeyValue::new(
                keys::MESSAGING_BATCH_MESSAGE_COUNT,
                self.records.len() as i64,
            ),
        ];
        let queue = self
            .records
            .first()
            .and_then(|message| message.event_source_arn.as_deref())
            .map(queue_name);
        if let Some(queue) = queue {
            attributes.push(KeyValue::new(
                semconv::MESSAGING_DESTINATION_NAME,
                queue.to_owned(),
            ));
        }

        let mut links = Vec::with_capacity(self.records.len());
        let mut contexts: Vec<SpanContext> = Vec::with_capacity(self.records.len());
        for message in &self.records {
            let Some(producer) = propagation::extract_sqs_message(message) else {
                continue;
            };
            let mut link_attributes = Vec::with_capacity(1);
            if let Some(id) = &message.message_id {
                link_attributes.push(KeyValue::new(semconv::MESSAGING_MESSAGE_ID, id.clone()));
            }
            links.push(Link::new(producer.clone(), link_attributes, 0));
            contexts.push(producer);
        }

        // A batch whose messages all come from one trace continues that trace, so a message
        // crossing the queue keeps one trace id. A mixed batch starts a trace of its own and
        // keeps the producers as links.
        let parent = match contexts.first() {
            Some(first) if contexts.iter().all(|cx| cx.trace_id() == first.trace_id()) => {
                Some(first.clone())
            }
            _ => None,
        };
        EventInfo {
            kind: SpanKind::Consumer,
            trigger: Trigger::PubSub,
            attributes,
            parent,
            links,
        }
    }
}

impl TriggerEvent for serde_json::Value {
    fn describe(&self) -> EventInfo {
        EventInfo::other()
    }
}

impl TriggerResponse for ApiGatewayV2httpResponse {
    fn describe(&self) -> ResponseInfo {
        http_response(self.status_code)
    }
}

impl TriggerResponse for ApiGatewayProxyResponse {
    fn describe(&self) -> ResponseInfo {
        http_response(self.status_code)
    }
}

impl TriggerResponse for SqsBatchResponse {
    fn describe(&self) -> ResponseInfo {
        ResponseInfo {
            attributes: vec![KeyValue::new(
                keys::SPANBILL_BATCH_ITEM_FAILURES,
                self.batch_item_failures.len() as i64,
            )],
            error: None,
        }
    }
}

fn http_response(status: i64) -> ResponseInfo {
    // A SERVER span is an error only for 5xx; a 4xx is the client's mistake.
    let error = (status >= 500).then(|| format!("HTTP {status}"));
    ResponseInfo {
        attributes: vec![KeyValue::new(keys::HTTP_RESPONSE_STATUS_CODE, status)],
        error,
    }
}

/// Returns the route template from an API Gateway route key such as `POST /orders/{id}`.
fn route_of(route_key: Option<&str>) -> Option<&str> {
    let route_key = route_key?;
    if route_key == "$default" {
        return None;
    }
    Some(
        route_key
            .split_once(' ')
            .map_or(route_key, |(_, route)| route),
    )
}

/// Returns the queue name at the end of an SQS ARN, such as `orders` in
/// `arn:aws:sqs:us-east-1:123456789012:orders`.
pub(crate) fn queue_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}
