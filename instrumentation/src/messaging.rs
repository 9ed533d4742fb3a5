//! Spans for sending and processing queue messages, with the trace context carried in
//! message attributes.

use std::collections::HashMap;
use std::fmt::Display;

use aws_lambda_events::sqs::SqsMessage;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{
    Link, SpanBuilder, SpanKind, Status, TraceContextExt as _, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use crate::environment::Environment;
use crate::event::queue_name;
use crate::keys;
use crate::propagation;
use crate::telemetry::Telemetry;

/// The trace context a producer attaches to a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageContext {
    /// W3C `traceparent` and `tracestate`, to send as string message attributes.
    pub attributes: HashMap<String, String>,
    /// The same context as an X-Ray header, to send as the SQS `AWSTraceHeader` system
    /// attribute.
    pub xray_header: Option<String>,
}

/// Runs `send` inside a PRODUCER span named `send <destination>` and hands it the trace
/// context to attach to the message.
///
/// `system` is the `messaging.system` value, such as `aws_sqs`.
pub async fn publish<F, Fut, T, E>(system: &'static str, destination: &str, send: F) -> Result<T, E>
where
    F: FnOnce(MessageContext) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    let environment = Environment::current();
    let telemetry = Telemetry::for_environment(&environment);
    let builder = SpanBuilder::from_name(format!("send {destination}"))
        .with_kind(SpanKind::Producer)
        .with_start_time(environment.clock().now())
        .with_attributes([
            KeyValue::new(keys::MESSAGING_SYSTEM, system),
            KeyValue::new(keys::MESSAGING_OPERATION_TYPE, "send"),
            KeyValue::new(keys::MESSAGING_OPERATION_NAME, "send"),
            KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, destination.to_owned()),
        ]);
    let parent = Context::current();
    let span = telemetry.tracer().build_with_context(builder, &parent);
    let cx = parent.with_span(span);

    let mut message = MessageContext::default();
    propagation::inject(&cx, &mut message.attributes);
    message.xray_header = propagation::xray_header(cx.span().span_context());

    let result = send(message).with_context(cx.clone()).await;
    end_with_result(&cx, &result, &environment);
    result
}

/// Runs `process` inside a CONSUMER span for one SQS message.
///
/// The span continues the producer's trace when the message carries one, and links to the
/// invocation span that received the batch; otherwise it is a child of that invocation span.
pub async fn process_message<F, T, E>(message: &SqsMessage, process: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: Display,
{
    let environment = Environment::current();
    let telemetry = Telemetry::for_environment(&environment);
    let invocation = Context::current();
    let queue = message
        .event_source_arn
        .as_deref()
        .map_or("unknown", queue_name);

    let mut attributes = vec![
        KeyValue::new(keys::MESSAGING_SYSTEM, "aws_sqs"),
        KeyValue::new(keys::MESSAGING_OPERATION_TYPE, "process"),
        KeyValue::new(keys::MESSAGING_OPERATION_NAME, "process"),
        KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, queue.to_owned()),
    ];
    if let Some(id) = &message.message_id {
        attributes.push(KeyValue::new(semconv::MESSAGING_MESSAGE_ID, id.clone()));
    }
    if let Some(count) = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse::<i64>().ok())
    {
        attributes.push(KeyValue::new(keys::MESSAGING_AWS_SQS_RECEIVE_COUNT, count));
    }

    let mut builder = SpanBuilder::from_name(format!("process {queue}"))
        .with_kind(SpanKind::Consumer)
        .with_start_time(environment.clock().now())
        .with_attributes(attributes);
    let parent = match propagation::extract_sqs_message(message) {
        Some(producer) => {
            let invocation_span = invocation.span().span_context().clone();
            if invocation_span.is_valid() && invocation_span.trace_id() != producer.trace_id() {
                builder = builder.with_links(vec![Link::with_context(invocation_span)]);
            }
            Context::new().with_remote_span_context(producer)
        }
        None => invocation,
    };
    let span = telemetry.tracer().build_with_context(builder, &parent);
    let cx = parent.with_span(span);

    let result = process.with_context(cx.clone()).await;
    end_with_result(&cx, &result, &environment);
    result
}

fn end_with_result<T, E: Display>(cx: &Context, result: &Result<T, E>, environment: &Environment) {
    let span = cx.span();
    if let Err(error) = result {
        let message = error.to_string();
        span.add_event(
            "exception",
            vec![KeyValue::new(semconv::EXCEPTION_MESSAGE, message.clone())],
        );
        span.set_status(Status::error(message));
    }
    span.end_with_timestamp(environment.clock().now());
}
