//! The defective releases that the platform's scenarios deploy: handlePayment release 2
//! loops declined orders through the orders queue, and release 1 does not.

// Handler futures in a debug build carry whole events and fixtures; only tests await them.
#![allow(clippy::large_futures)]

use crate::support;

use std::sync::Arc;

use opentelemetry_sdk::trace::InMemorySpanExporter;
use spanbill_functions::bus::{Bus as _, deliver_batch};
use spanbill_functions::handlers::{create_order, handle_payment};
use spanbill_functions::payment::{BreakerSettings, SandboxGateway};
use support::{Fixture, Harness, context, fast_policy, order_body, order_request};

/// A context of function version `version`.
fn versioned_context(request_id: &str, version: &str) -> lambda_runtime::Context {
    let mut context = context(request_id);
    let mut config = lambda_runtime::Config::default();
    version.clone_into(&mut config.version);
    context.env_config = Arc::new(config);
    context
}

/// A fixture whose gateway declines charges above $10, with one declined order queued.
async fn declined_order() -> Fixture {
    let gateway = Arc::new(SandboxGateway::new(1_000));
    let fixture = Fixture::with_gateway(gateway, fast_policy(3), BreakerSettings::default());
    let harness = Harness::new("createOrder", &InMemorySpanExporter::default());
    let request = order_request(Some("key-1"), &order_body("u-1", "TV-1", 1, 499.0));
    let response = harness
        .run(fixture.run(create_order(request, context("r-create"))))
        .await
        .unwrap();
    assert_eq!(response.status_code, 201);
    fixture
}

async fn deliver_orders(fixture: &Fixture, harness: &Harness, version: &str, round: usize) {
    let request_id = format!("r-pay-{round}");
    deliver_batch(fixture.bus.as_ref(), "orders", 10, |event| {
        harness.run(fixture.run(handle_payment(
            event,
            versioned_context(&request_id, version),
        )))
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn release_1_announces_declined_payment() {
    let fixture = declined_order().await;
    let harness = Harness::new("handlePayment", &InMemorySpanExporter::default());

    deliver_orders(&fixture, &harness, "1", 0).await;

    assert_eq!(fixture.bus.message_counts("orders").unwrap().visible, 0);
    let announced = fixture.bus.receive("payments", 10).await.unwrap();
    assert_eq!(announced.len(), 1);
    let body: serde_json::Value =
        serde_json::from_str(announced[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body["type"], "payment.failed");
}

#[tokio::test]
async fn release_2_loops_declined_order() {
    let fixture = declined_order().await;
    let spans = InMemorySpanExporter::default();
    let harness = Harness::new("handlePayment", &spans);

    for round in 0..5 {
        deliver_orders(&fixture, &harness, "2", round).await;
        // The order is back on the orders queue after every delivery.
        assert_eq!(
            fixture.bus.message_counts("orders").unwrap().visible,
            1,
            "round {round}"
        );
    }

    assert_eq!(fixture.bus.message_counts("payments").unwrap().visible, 0);
    assert_eq!(
        harness.counter("payments.failed"),
        1,
        "the gateway is charged once"
    );

    // Every loop stays in the order's trace, which is what shows the loop.
    let finished = spans.get_finished_spans().unwrap();
    let invocations = support::spans_named(&finished, "handlePayment");
    assert_eq!(invocations.len(), 5);
    let trace = invocations[0].span_context.trace_id();
    assert!(
        invocations
            .iter()
            .all(|span| span.span_context.trace_id() == trace)
    );
}
