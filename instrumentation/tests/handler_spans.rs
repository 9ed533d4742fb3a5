//! Behaviour of `#[spanbill::handler]`: the exact spans, attributes, links and status that
//! an invocation produces.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use futures_util::FutureExt as _;
use lambda_runtime::{Context, LambdaEvent};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::InMemorySpanExporter;
use spanbill_instrumentation as spanbill;
use spanbill_instrumentation::InitType;
use support::{Harness, ManualClock, attribute, attribute_keys, context, http_event};

#[derive(Debug, thiserror::Error)]
#[error("order `{0}` not found")]
struct NotFound(String);

#[spanbill::handler(name = "createOrder")]
async fn create_order(
    event: ApiGatewayV2httpRequest,
    _context: Context,
) -> Result<ApiGatewayV2httpResponse, lambda_runtime::Error> {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = if event.body.as_deref() == Some("boom") {
        503
    } else {
        201
    };
    Ok(response)
}

#[spanbill::handler(name = "lookup", trigger = "other")]
async fn lookup(event: serde_json::Value, _context: Context) -> Result<String, NotFound> {
    match event["id"].as_str() {
        Some("missing") => Err(NotFound("missing".to_owned())),
        Some("panic") => panic!("stock table is corrupt"),
        _ => Ok("found".to_owned()),
    }
}

#[spanbill::handler]
async fn lambda_event_form(
    event: LambdaEvent<serde_json::Value>,
) -> Result<u32, lambda_runtime::Error> {
    Ok(event.payload["n"].as_u64().unwrap_or(0) as u32)
}

#[spanbill::handler(name = "handlePayment")]
async fn handle_payment(
    event: SqsEvent,
    _context: Context,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    for message in &event.records {
        spanbill::messaging::process_message(message, async { Ok::<_, NotFound>(()) }).await?;
    }
    Ok(SqsBatchResponse::default())
}

fn request() -> ApiGatewayV2httpRequest {
    http_event(
        serde_json::json!({"content-type": "application/json"}),
        "{}",
    )
}

#[tokio::test]
async fn cold_then_warm_on_demand() {
    let clock = ManualClock::at_millis(1_796_227_200_000);
    let harness = Harness::new(InitType::OnDemand, Some(clock.clone()));
    clock.advance(Duration::from_millis(180));
    harness.environment.mark_ready();

    clock.advance(Duration::from_millis(5));
    harness
        .run(create_order(request(), context("req-cold")))
        .await
        .unwrap();
    harness
        .run(create_order(request(), context("req-warm")))
        .await
        .unwrap();

    let spans = harness.finished();
    let invocations: Vec<_> = spans
        .iter()
        .filter(|span| span.name == "createOrder")
        .collect();
    assert_eq!(invocations.len(), 2);
    let (cold, warm) = (invocations[0], invocations[1]);
    assert_eq!(
        attribute(cold, "faas.invocation_id"),
        Some(&Value::from("req-cold"))
    );
    assert_eq!(attribute(cold, "faas.coldstart"), Some(&Value::Bool(true)));
    assert_eq!(
        attribute(warm, "faas.invocation_id"),
        Some(&Value::from("req-warm"))
    );
    assert_eq!(attribute(warm, "faas.coldstart"), Some(&Value::Bool(false)));

    // The init phase is a child of the cold invocation and spans init start to ready.
    let init = harness.span("createOrder init");
    assert_eq!(init.parent_span_id, cold.span_context.span_id());
    assert_eq!(init.span_context.trace_id(), cold.span_context.trace_id());
    assert_eq!(
        init.end_time.duration_since(init.start_time).unwrap(),
        Duration::from_millis(180)
    );
    assert_eq!(
        attribute(&init, "spanbill.phase"),
        Some(&Value::from("init"))
    );
}

#[tokio::test]
async fn invocation_span_attributes() {
    let harness = Harness::new(InitType::OnDemand, None);
    harness
        .run(create_order(request(), context("req-1")))
        .await
        .unwrap();
    let span = harness.span("createOrder");

    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.status, Status::Ok);
    assert_eq!(
        attribute_keys(&span),
        [
            "aws.lambda.invoked_arn",
            "client.address",
            "cloud.account.id",
            "cloud.resource_id",
            "faas.coldstart",
            "faas.invocation_id",
            "faas.max_memory",
            "faas.trigger",
            "http.request.method",
            "http.response.status_code",
            "http.route",
            "server.address",
            "spanbill.cost.source",
            "spanbill.cost.usd",
            "url.path",
            "url.scheme",
            "user_agent.original",
        ]
    );
    assert_eq!(attribute(&span, "faas.trigger"), Some(&Value::from("http")));
    assert_eq!(
        attribute(&span, "faas.max_memory"),
        Some(&Value::I64(512 * 1024 * 1024))
    );
    assert_eq!(
        attribute(&span, "cloud.account.id"),
        Some(&Value::from("123456789012"))
    );
    assert_eq!(
        attribute(&span, "aws.lambda.invoked_arn"),
        Some(&Value::from(support::ARN))
    );
    assert_eq!(
        attribute(&span, "http.route"),
        Some(&Value::from("/orders"))
    );
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(&Value::I64(201))
    );
    assert_eq!(
        attribute(&span, "spanbill.cost.source"),
        Some(&Value::from("estimate"))
    );
    let Some(Value::F64(cost)) = attribute(&span, "spanbill.cost.usd") else {
        panic!("no cost")
    };
    assert!(
        *cost >= 0.000_000_2,
        "cost {cost} is below the request price"
    );
}

#[tokio::test]
async fn cost_estimate_follows_duration_and_memory() {
    let clock = ManualClock::at_millis(1_796_227_200_000);
    let harness = Harness::new(InitType::ProvisionedConcurrency, Some(clock.clone()));

    #[spanbill::handler(name = "slow")]
    async fn slow(
        _event: serde_json::Value,
        _context: Context,
    ) -> Result<(), lambda_runtime::Error> {
        tokio::task::yield_now().await;
        Ok(())
    }
    let clock_inside = clock.clone();
    harness
        .run(async move {
            let invocation = slow(serde_json::json!({}), context("req-cost"));
            // The clock moves while the handler runs: 662 ms at 512 MB is 0.331 GB-s.
            let mut invocation = std::pin::pin!(invocation);
            let _ = futures_util::poll!(invocation.as_mut());
            clock_inside.advance(Duration::from_micros(661_400));
            invocation.await
        })
        .await
        .unwrap();

    let span = harness.span("slow");
    let Some(Value::F64(cost)) = attribute(&span, "spanbill.cost.usd") else {
        panic!("no cost")
    };
    let expected = 0.331 * 0.000_016_666_7 + 0.000_000_2;
    assert!(
        (cost - expected).abs() < 1e-15,
        "cost {cost}, expected {expected}"
    );
}

#[tokio::test]
async fn provisioned_concurrency_is_never_cold() {
    let harness = Harness::new(InitType::ProvisionedConcurrency, None);
    harness
        .run(create_order(request(), context("req-1")))
        .await
        .unwrap();
    harness
        .run(create_order(request(), context("req-2")))
        .await
        .unwrap();

    let spans = harness.finished();
    assert_eq!(spans.len(), 2, "no init span under provisioned concurrency");
    for span in &spans {
        assert_eq!(attribute(span, "faas.coldstart"), Some(&Value::Bool(false)));
    }
}

#[tokio::test]
async fn snap_start_restore_is_cold_without_init_span() {
    let harness = Harness::new(InitType::SnapStart, None);
    harness
        .run(create_order(request(), context("req-1")))
        .await
        .unwrap();
    harness
        .run(create_order(request(), context("req-2")))
        .await
        .unwrap();

    let spans = harness.finished();
    assert_eq!(
        spans.len(),
        2,
        "the restore happens outside the process, so no init span"
    );
    assert_eq!(
        attribute(&spans[0], "faas.coldstart"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        attribute(&spans[1], "faas.coldstart"),
        Some(&Value::Bool(false))
    );
}

#[tokio::test]
async fn proactive_initialisation_is_not_cold() {
    let clock = ManualClock::at_millis(1_796_227_200_000);
    let harness = Harness::new(InitType::OnDemand, Some(clock.clone()));
    harness.environment.mark_ready();
    clock.advance(Duration::from_secs(45));

    harness
        .run(create_order(request(), context("req-1")))
        .await
        .unwrap();
    let span = harness.span("createOrder");
    assert_eq!(
        attribute(&span, "faas.coldstart"),
        Some(&Value::Bool(false))
    );
    assert_eq!(
        attribute(&span, "spanbill.proactive_initialization"),
        Some(&Value::Bool(true))
    );
}

#[tokio::test]
async fn error_is_recorded_and_returned_unchanged() {
    let harness = Harness::new(InitType::OnDemand, None);
    let result = harness
        .run(lookup(
            serde_json::json!({"id": "missing"}),
            context("req-err"),
        ))
        .await;

    let error = result.unwrap_err();
    assert_eq!(error.to_string(), "order `missing` not found");
    let span = harness.span("lookup");
    assert_eq!(span.status, Status::error("order `missing` not found"));
    assert_eq!(
        attribute(&span, "faas.trigger"),
        Some(&Value::from("other"))
    );
    assert_eq!(
        attribute(&span, "error.type"),
        Some(&Value::from("NotFound"))
    );
    assert_eq!(span.events.len(), 1);
    let exception = &span.events[0];
    assert_eq!(exception.name, "exception");
    assert_eq!(
        exception.attributes,
        [
            KeyValue::new("exception.type", "NotFound"),
            KeyValue::new("exception.message", "order `missing` not found"),
        ]
    );
}

#[tokio::test]
async fn panic_is_recorded_then_resumed() {
    let harness = Harness::new(InitType::OnDemand, None);
    let outcome = harness
        .run(
            std::panic::AssertUnwindSafe(lookup(
                serde_json::json!({"id": "panic"}),
                context("req-panic"),
            ))
            .catch_unwind(),
        )
        .await;

    let payload = outcome.expect_err("the panic reaches the caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"stock table is corrupt")
    );
    let span = harness.span("lookup");
    assert_eq!(span.status, Status::error("stock table is corrupt"));
    assert_eq!(attribute(&span, "error.type"), Some(&Value::from("panic")));
    assert_eq!(
        span.events[0].attributes[1],
        KeyValue::new("exception.message", "stock table is corrupt")
    );
}

#[tokio::test]
async fn http_5xx_is_an_error_and_4xx_is_not() {
    let harness = Harness::new(InitType::OnDemand, None);
    let failing = http_event(serde_json::json!({}), "boom");
    let response = harness
        .run(create_order(failing, context("req-503")))
        .await
        .unwrap();

    assert_eq!(response.status_code, 503);
    let span = harness.span("createOrder");
    assert_eq!(span.status, Status::error("HTTP 503"));
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(&Value::I64(503))
    );
}

#[tokio::test]
async fn traceparent_header_becomes_the_parent() {
    let harness = Harness::new(InitType::OnDemand, None);
    let headers = serde_json::json!({
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=v1",
    });
    harness
        .run(create_order(http_event(headers, "{}"), context("req-1")))
        .await
        .unwrap();

    let span = harness.span("createOrder");
    assert_eq!(
        format!("{:032x}", span.span_context.trace_id()),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(format!("{:016x}", span.parent_span_id), "b7ad6b7169203331");
    assert!(span.parent_span_is_remote);
    assert_eq!(span.span_context.trace_state().header(), "vendor=v1");
}

#[tokio::test]
async fn sampled_xray_header_is_parent_unsampled_is_link() {
    let harness = Harness::new(InitType::OnDemand, None);
    let mut sampled = context("req-1");
    sampled.xray_trace_id =
        Some("Root=1-663367c2-ad6a0f14a3cdc9d8a02e9f81;Parent=3822071b209cf858;Sampled=1".into());
    let mut unsampled = context("req-2");
    unsampled.xray_trace_id =
        Some("Root=1-663367fe-fb363ed1100bcf415faa7d75;Parent=53995c3f42cd8ad8;Sampled=0".into());

    harness
        .run(lookup(serde_json::json!({}), sampled))
        .await
        .unwrap();
    harness
        .run(lookup(serde_json::json!({}), unsampled))
        .await
        .unwrap();

    let spans: Vec<_> = harness
        .finished()
        .into_iter()
        .filter(|span| span.name == "lookup")
        .collect();
    assert_eq!(
        format!("{:032x}", spans[0].span_context.trace_id()),
        "663367c2ad6a0f14a3cdc9d8a02e9f81"
    );
    assert_eq!(
        format!("{:016x}", spans[0].parent_span_id),
        "3822071b209cf858"
    );
    assert!(spans[0].links.is_empty());

    assert_ne!(
        format!("{:032x}", spans[1].span_context.trace_id()),
        "663367fefb363ed1100bcf415faa7d75"
    );
    assert_eq!(spans[1].links.len(), 1);
    assert_eq!(
        format!("{:032x}", spans[1].links[0].span_context.trace_id()),
        "663367fefb363ed1100bcf415faa7d75"
    );
}

#[tokio::test]
async fn lambda_event_form_works() {
    let harness = Harness::new(InitType::OnDemand, None);
    let event = LambdaEvent::new(serde_json::json!({"n": 7}), context("req-le"));
    assert_eq!(harness.run(lambda_event_form(event)).await.unwrap(), 7);

    let span = harness.span("orders-api");
    assert_eq!(
        attribute(&span, "faas.invocation_id"),
        Some(&Value::from("req-le"))
    );
}

#[tokio::test]
async fn sqs_batch_links_producers_and_continues_one_trace() {
    use support::{sqs_message, string_attribute};
    let harness = Harness::new(InitType::OnDemand, None);
    let producer = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
        sqs_message("m-1", serde_json::json!({"traceparent": string_attribute(producer)}), serde_json::json!({"ApproximateReceiveCount": "1"})),
        sqs_message("m-2", serde_json::json!({}), serde_json::json!({
            "ApproximateReceiveCount": "2",
            "AWSTraceHeader": "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=53995c3f42cd8ad8;Sampled=1"
        })),
    ]}))
    .unwrap();

    harness
        .run(handle_payment(event, context("req-sqs")))
        .await
        .unwrap();

    let invocation = harness.span("handlePayment");
    assert_eq!(invocation.span_kind, SpanKind::Consumer);
    assert_eq!(
        attribute(&invocation, "faas.trigger"),
        Some(&Value::from("pubsub"))
    );
    assert_eq!(
        attribute(&invocation, "messaging.system"),
        Some(&Value::from("aws_sqs"))
    );
    assert_eq!(
        attribute(&invocation, "messaging.batch.message_count"),
        Some(&Value::I64(2))
    );
    assert_eq!(
        attribute(&invocation, "messaging.destination.name"),
        Some(&Value::from("payments"))
    );
    assert_eq!(
        attribute(&invocation, "spanbill.batch.item_failures"),
        Some(&Value::I64(0))
    );

    // Both messages come from one trace, so the invocation continues it.
    assert_eq!(
        format!("{:032x}", invocation.span_context.trace_id()),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        format!("{:016x}", invocation.parent_span_id),
        "00f067aa0ba902b7"
    );
    let linked: Vec<String> = invocation
        .links
        .iter()
        .map(|link| format!("{:016x}", link.span_context.span_id()))
        .collect();
    assert_eq!(linked, ["00f067aa0ba902b7", "53995c3f42cd8ad8"]);
    assert_eq!(
        invocation.links[0].attributes,
        [KeyValue::new("messaging.message.id", "m-1")]
    );

    let spans = harness.finished();
    let message_spans: Vec<_> = spans
        .iter()
        .filter(|span| span.name == "process payments")
        .collect();
    assert_eq!(message_spans.len(), 2);
    for span in &message_spans {
        assert_eq!(span.span_kind, SpanKind::Consumer);
        assert_eq!(
            span.span_context.trace_id(),
            invocation.span_context.trace_id()
        );
    }
    assert_eq!(
        format!("{:016x}", message_spans[0].parent_span_id),
        "00f067aa0ba902b7"
    );
    assert_eq!(
        format!("{:016x}", message_spans[1].parent_span_id),
        "53995c3f42cd8ad8"
    );
    assert_eq!(
        attribute(message_spans[1], "messaging.aws.sqs.receive_count"),
        Some(&Value::I64(2))
    );
}

#[tokio::test]
async fn producer_context_reaches_consumer() {
    let harness = Harness::new(InitType::OnDemand, None);

    #[spanbill::handler(name = "producer")]
    async fn producer(
        _event: serde_json::Value,
        _context: Context,
    ) -> Result<spanbill::messaging::MessageContext, NotFound> {
        spanbill::messaging::publish("aws_sqs", "payments", |message| async move { Ok(message) })
            .await
    }
    let sent = harness
        .run(producer(serde_json::json!({}), context("req-p")))
        .await
        .unwrap();

    let send_span = harness.span("send payments");
    let producer_span = harness.span("producer");
    assert_eq!(send_span.span_kind, SpanKind::Producer);
    assert_eq!(
        send_span.parent_span_id,
        producer_span.span_context.span_id()
    );
    let expected = format!(
        "00-{:032x}-{:016x}-01",
        send_span.span_context.trace_id(),
        send_span.span_context.span_id()
    );
    assert_eq!(sent.attributes["traceparent"], expected);
    let trace = format!("{:032x}", send_span.span_context.trace_id());
    assert_eq!(
        sent.xray_header.as_deref(),
        Some(
            format!(
                "Root=1-{}-{};Parent={:016x};Sampled=1",
                &trace[..8],
                &trace[8..],
                send_span.span_context.span_id()
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn sensitive_attributes_are_redacted() {
    let harness = Harness::new(InitType::OnDemand, None);

    #[spanbill::handler(name = "charge")]
    async fn charge(_event: serde_json::Value, _context: Context) -> Result<(), NotFound> {
        let cx = opentelemetry::Context::current();
        cx.span()
            .set_attribute(KeyValue::new("payment.card_number", "4111111111111111"));
        cx.span().set_attribute(KeyValue::new(
            "customer.note",
            "send receipt to ana@example.com",
        ));
        Err(NotFound("card 4111 1111 1111 1111".to_owned()))
    }
    let _ = harness
        .run(charge(serde_json::json!({}), context("req-r")))
        .await;

    let span = harness.span("charge");
    assert_eq!(
        attribute(&span, "payment.card_number"),
        Some(&Value::from("[REDACTED]"))
    );
    assert_eq!(
        attribute(&span, "customer.note"),
        Some(&Value::from("send receipt to [REDACTED]"))
    );
    assert_eq!(
        span.events[0].attributes[1],
        KeyValue::new("exception.message", "order `card [REDACTED]` not found")
    );
}

#[tokio::test]
async fn tracing_spans_become_children() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let harness = Harness::new(InitType::OnDemand, None);
    let telemetry = harness.environment.telemetry().unwrap().clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(telemetry.tracer().clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    #[spanbill::handler(name = "traced")]
    async fn traced(_event: serde_json::Value, _context: Context) -> Result<(), NotFound> {
        let span = tracing::info_span!("load_order", order.id = "o-9");
        let _entered = span.enter();
        tracing::info!(rows = 1, "loaded");
        Ok(())
    }
    harness
        .run(traced(serde_json::json!({}), context("req-t")))
        .await
        .unwrap();

    let invocation = harness.span("traced");
    let child = harness.span("load_order");
    assert_eq!(child.parent_span_id, invocation.span_context.span_id());
    assert_eq!(
        child.span_context.trace_id(),
        invocation.span_context.trace_id()
    );
    assert_eq!(child.events.len(), 1);
}

/// Under a simulated clock, a `tracing` span ends up inside its invocation span on the
/// simulated timeline, though `tracing-opentelemetry` times it with the system clock.
#[tokio::test]
async fn tracing_spans_take_environment_clock() {
    use tracing_subscriber::layer::SubscriberExt as _;
    // 2026-12-01T00:00:00Z, days away from the system clock.
    let clock = ManualClock::at_millis(1_796_083_200_000);
    let harness = Harness::new(InitType::OnDemand, Some(clock.clone()));
    harness.environment.mark_ready();
    let telemetry = harness.environment.telemetry().unwrap().clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(telemetry.tracing_tracer().clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    #[spanbill::handler(name = "traced")]
    async fn traced(_event: serde_json::Value, _context: Context) -> Result<(), NotFound> {
        let span = tracing::info_span!("load_order");
        let _entered = span.enter();
        tracing::info!("loaded");
        Ok(())
    }
    harness
        .run(traced(serde_json::json!({}), context("req-c")))
        .await
        .unwrap();

    let invocation = harness.span("traced");
    let child = harness.span("load_order");
    assert_eq!(
        child.instrumentation_scope.name(),
        spanbill_instrumentation::TRACING_SCOPE_NAME
    );
    // The manual clock does not move, so the whole invocation is at one simulated instant,
    // and the child lands within the real time the handler took of that instant.
    let slack = Duration::from_secs(5);
    let start = invocation.start_time;
    assert!(
        child.start_time + slack >= start,
        "{:?} vs {start:?}",
        child.start_time
    );
    assert!(
        child.start_time <= start + slack,
        "{:?} vs {start:?}",
        child.start_time
    );
    assert!(child.end_time >= child.start_time);
    assert!(child.events.events[0].timestamp + slack >= start);
    assert!(child.events.events[0].timestamp <= start + slack);
}

#[tokio::test]
async fn deadline_flush_reports_a_running_handler() {
    let harness = Harness::with_telemetry(InitType::ProvisionedConcurrency, None, |builder| {
        builder.deadline_margin(Duration::from_millis(300))
    });

    #[spanbill::handler(name = "stuck")]
    async fn stuck(_event: serde_json::Value, _context: Context) -> Result<(), NotFound> {
        tokio::time::sleep(Duration::from_millis(700)).await;
        Ok(())
    }
    let mut context = context("req-deadline");
    let deadline = std::time::SystemTime::now() + Duration::from_millis(500);
    context.deadline = deadline
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;

    let spans = harness.spans.clone();
    let watcher = tokio::spawn(async move {
        // At 350 ms the handler still runs and its span has been exported.
        tokio::time::sleep(Duration::from_millis(350)).await;
        spans
            .get_finished_spans()
            .unwrap()
            .iter()
            .map(|span| span.name.to_string())
            .collect::<Vec<_>>()
    });
    harness
        .run(stuck(serde_json::json!({}), context))
        .await
        .unwrap();

    assert_eq!(watcher.await.unwrap(), ["stuck"]);
    let span = harness.span("stuck");
    assert_eq!(
        attribute(&span, "spanbill.deadline_flush"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        attribute(&span, "error.type"),
        Some(&Value::from("timeout"))
    );
    assert!(matches!(span.status, Status::Error { .. }));
    let completion = harness.span("stuck completion");
    assert_eq!(completion.parent_span_id, span.span_context.span_id());
    assert_eq!(completion.status, Status::Ok);
}

fn deadline_in(from_now: Duration) -> u64 {
    let deadline = std::time::SystemTime::now() + from_now;
    deadline
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Blocks the calling thread until `spans` holds a span, which only the deadline flush can
/// export while the handler still runs. Panics after 20 s.
fn block_until_exported(spans: &InMemorySpanExporter) {
    let started = std::time::Instant::now();
    while spans.get_finished_spans().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no span exported before the handler returned"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn assert_flushed_before_deadline(harness: &Harness, name: &str) {
    let span = harness.span(name);
    assert_eq!(
        attribute(&span, "spanbill.deadline_flush"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        attribute(&span, "error.type"),
        Some(&Value::from("timeout"))
    );
    assert!(attribute(&span, spanbill::COST_ATTRIBUTE).is_some());
    assert!(matches!(span.status, Status::Error { .. }));
    let completion = harness.span(&format!("{name} completion"));
    assert_eq!(completion.parent_span_id, span.span_context.span_id());
    assert_eq!(completion.status, Status::Ok);
}

#[test]
fn deadline_flush_with_handler_blocking_its_thread() {
    static SPANS: OnceLock<InMemorySpanExporter> = OnceLock::new();

    // The handler never yields, so nothing on its runtime's thread can run until it returns.
    #[spanbill::handler(name = "blocking")]
    async fn blocking(
        _event: serde_json::Value,
        _context: Context,
    ) -> Result<(), lambda_runtime::Error> {
        block_until_exported(SPANS.get().unwrap());
        Ok(())
    }

    let harness = Harness::with_telemetry(InitType::ProvisionedConcurrency, None, |builder| {
        builder.deadline_margin(Duration::from_millis(900))
    });
    SPANS.set(harness.spans.clone()).unwrap();
    let mut context = context("req-blocking");
    context.deadline = deadline_in(Duration::from_secs(1));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(harness.run(blocking(serde_json::json!({}), context)))
        .unwrap();

    assert_flushed_before_deadline(&harness, "blocking");
}

#[test]
fn deadline_flush_on_multi_thread_runtime() {
    static SPANS: OnceLock<InMemorySpanExporter> = OnceLock::new();

    #[spanbill::handler(name = "waiting")]
    async fn waiting(_event: serde_json::Value, _context: Context) -> Result<(), NotFound> {
        tokio::task::spawn_blocking(|| block_until_exported(SPANS.get().unwrap()))
            .await
            .unwrap();
        Ok(())
    }

    let harness = Harness::with_telemetry(InitType::ProvisionedConcurrency, None, |builder| {
        builder.deadline_margin(Duration::from_millis(900))
    });
    SPANS.set(harness.spans.clone()).unwrap();
    let mut context = context("req-multi-thread");
    context.deadline = deadline_in(Duration::from_secs(1));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(harness.run(waiting(serde_json::json!({}), context)))
        .unwrap();

    assert_flushed_before_deadline(&harness, "waiting");
}

#[tokio::test]
async fn cancelled_invocation_not_kept_for_deadline() {
    #[spanbill::handler(name = "cancelled")]
    async fn cancelled(_event: serde_json::Value, _context: Context) -> Result<(), NotFound> {
        std::future::pending::<()>().await;
        Ok(())
    }

    let harness = Harness::new(InitType::ProvisionedConcurrency, None);
    let mut context = context("req-cancelled");
    context.deadline = deadline_in(Duration::from_mins(10));

    // One poll, then the invocation is dropped as a cancelled future is.
    let polled_once = harness
        .run(cancelled(serde_json::json!({}), context))
        .now_or_never();
    assert!(polled_once.is_none());

    let span = harness.span("cancelled");
    assert_eq!(attribute(&span, "spanbill.deadline_flush"), None);
}

#[test]
fn flush_on_current_thread_runtime_finishes() {
    let spans = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let telemetry = spanbill::Telemetry::builder()
        .span_processor(
            opentelemetry_sdk::trace::BatchSpanProcessor::builder(spans.clone()).build(),
        )
        .build();
    // The test keeps a handle: dropping the last one shuts the pipeline down, which empties
    // the in-memory exporter.
    let environment = std::sync::Arc::new(
        spanbill::Environment::builder(support::function_config())
            .init_type(InitType::ProvisionedConcurrency)
            .telemetry(telemetry.clone())
            .build(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let (done_sender, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime
            .block_on(spanbill::Environment::scope(
                environment,
                lookup(serde_json::json!({}), context("req-ct")),
            ))
            .unwrap();
        done_sender.send(()).unwrap();
    });

    // A deadlock shows up as a timeout instead of a hung test.
    done.recv_timeout(Duration::from_secs(20))
        .expect("invocation on a current-thread runtime finished");
    assert_eq!(
        spans.get_finished_spans().unwrap().len(),
        1,
        "the batch was exported by the flush"
    );
}
