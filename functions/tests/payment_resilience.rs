//! Charging survives a flaky gateway: per-call timeout, backoff with jitter, bounded
//! attempts and a circuit breaker, all on a clock the test controls.

// Instrumented handler futures exceed clippy's size limit; the binaries box them.
#![allow(clippy::large_futures)]

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::trace::InMemorySpanExporter;
use spanbill_functions::bus::{Bus as _, deliver_batch};
use spanbill_functions::clock::ManualClock;
use spanbill_functions::handlers::handle_payment;
use spanbill_functions::model::{OrderCreated, OrderItem};
use spanbill_functions::payment::{
    AttemptFailure, BreakerSettings, BreakerState, ChargeRequest, PaymentClient, PaymentError,
    RetryPolicy,
};
use spanbill_functions::store::PaymentStatus;
use support::{Fixture, Harness, ScriptedGateway, Step, context, fast_policy, message_json};

const BREAKER: BreakerSettings = BreakerSettings {
    failure_threshold: 3,
    open_for: Duration::from_secs(30),
};

fn request(order_id: &str) -> ChargeRequest {
    ChargeRequest {
        order_id: order_id.to_owned(),
        amount_cents: 1250,
        idempotency_key: format!("order-{order_id}"),
    }
}

fn client(
    gateway: &Arc<ScriptedGateway>,
    policy: RetryPolicy,
) -> (PaymentClient, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let client =
        PaymentClient::new(gateway.clone(), policy, BREAKER, clock.clone()).with_jitter_seed(7);
    (client, clock)
}

#[tokio::test]
async fn unavailable_gateway_is_retried_with_growing_delays() {
    let gateway = ScriptedGateway::new([Step::Unavailable, Step::Unavailable, Step::Approve]);
    let (client, clock) = client(&gateway, fast_policy(3));

    let outcome = client.charge(&request("o-1")).await.unwrap();

    assert_eq!(outcome.attempts, 3);
    assert_eq!(gateway.calls(), 3);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2, "one wait before each retry: {sleeps:?}");
    assert!(
        sleeps[0] <= Duration::from_millis(100),
        "first wait {:?} above its ceiling",
        sleeps[0]
    );
    assert!(
        sleeps[1] <= Duration::from_millis(200),
        "second wait {:?} above its ceiling",
        sleeps[1]
    );
    assert_eq!(client.breaker().state(), BreakerState::Closed);
}

#[tokio::test]
async fn jitter_seed_makes_delays_repeatable() {
    let first = ScriptedGateway::new([Step::Unavailable; 3]);
    let second = ScriptedGateway::new([Step::Unavailable; 3]);
    let (first_client, first_clock) = client(&first, fast_policy(3));
    let (second_client, second_clock) = client(&second, fast_policy(3));

    let _ = first_client.charge(&request("o-1")).await;
    let _ = second_client.charge(&request("o-1")).await;

    assert_eq!(first_clock.sleeps(), second_clock.sleeps());
    assert_ne!(
        first_clock.sleeps()[0],
        first_clock.sleeps()[1],
        "jitter draws the same delay twice"
    );
}

#[tokio::test]
async fn attempts_are_bounded() {
    let gateway = ScriptedGateway::new([Step::Unavailable; 5]);
    let (client, clock) = client(&gateway, fast_policy(2));

    let error = client.charge(&request("o-1")).await.unwrap_err();

    assert!(matches!(
        &error,
        PaymentError::RetriesExhausted {
            attempts: 2,
            last: AttemptFailure::Unavailable { .. },
            ..
        }
    ));
    assert!(error.is_transient());
    assert_eq!(gateway.calls(), 2);
    assert_eq!(clock.sleeps().len(), 1, "no wait after the last attempt");
}

#[tokio::test]
async fn hanging_call_times_out_and_is_retried() {
    let gateway = ScriptedGateway::new([Step::Hang, Step::Approve]);
    let (client, _clock) = client(&gateway, fast_policy(2));

    let outcome = client.charge(&request("o-1")).await.unwrap();

    assert_eq!(outcome.attempts, 2);
    assert_eq!(gateway.calls(), 2);
}

#[tokio::test]
async fn timeout_is_reported_as_last_failure() {
    let gateway = ScriptedGateway::new([Step::Hang]);
    let (client, _clock) = client(&gateway, fast_policy(1));

    let error = client.charge(&request("o-1")).await.unwrap_err();

    let PaymentError::RetriesExhausted { last, .. } = error else {
        panic!("expected retries exhausted, got {error:?}")
    };
    assert_eq!(
        last,
        AttemptFailure::Timeout {
            timeout: Duration::from_millis(50)
        }
    );
    assert_eq!(last.to_string(), "payment gateway timed out after 50 ms");
}

#[tokio::test]
async fn decline_is_final_and_leaves_breaker_closed() {
    let gateway = ScriptedGateway::new([Step::Decline; 5]);
    let (client, clock) = client(&gateway, fast_policy(3));

    for _ in 0..5 {
        let error = client.charge(&request("o-1")).await.unwrap_err();
        assert!(
            matches!(&error, PaymentError::Declined { reason, .. } if reason == "card_declined")
        );
        assert!(!error.is_transient());
    }

    assert_eq!(gateway.calls(), 5);
    assert!(clock.sleeps().is_empty());
    assert_eq!(client.breaker().state(), BreakerState::Closed);
}

#[tokio::test]
async fn breaker_opens_after_consecutive_failures() {
    let gateway = ScriptedGateway::new([Step::Unavailable; 3]);
    let (client, clock) = client(&gateway, fast_policy(1));

    for _ in 0..3 {
        let _ = client.charge(&request("o-1")).await.unwrap_err();
    }
    assert_eq!(client.breaker().state(), BreakerState::Open);

    clock.advance(Duration::from_secs(10));
    let error = client.charge(&request("o-1")).await.unwrap_err();

    let PaymentError::CircuitOpen { source, .. } = error else {
        panic!("expected an open circuit, got {error:?}")
    };
    assert_eq!(source.retry_after, Duration::from_secs(20));
    assert_eq!(
        gateway.calls(),
        3,
        "an open circuit must not call the gateway"
    );
}

#[tokio::test]
async fn success_resets_the_failure_count() {
    let gateway = ScriptedGateway::new([
        Step::Unavailable,
        Step::Unavailable,
        Step::Approve,
        Step::Unavailable,
        Step::Unavailable,
    ]);
    let (client, _clock) = client(&gateway, fast_policy(1));

    for _ in 0..5 {
        let _ = client.charge(&request("o-1")).await;
    }

    assert_eq!(client.breaker().state(), BreakerState::Closed);
}

#[tokio::test]
async fn half_open_trial_success_closes_breaker() {
    let gateway = ScriptedGateway::new([Step::Unavailable; 3]);
    let (client, clock) = client(&gateway, fast_policy(1));
    for _ in 0..3 {
        let _ = client.charge(&request("o-1")).await;
    }

    clock.advance(Duration::from_secs(30));
    assert_eq!(client.breaker().state(), BreakerState::HalfOpen);

    let trial = client.breaker().try_acquire().unwrap();
    let second = client.breaker().try_acquire().unwrap_err();
    assert_eq!(
        second.retry_after,
        Duration::ZERO,
        "only one trial call at a time"
    );
    trial.succeeded();

    assert_eq!(client.breaker().state(), BreakerState::Closed);
    assert!(client.charge(&request("o-1")).await.is_ok());
}

#[tokio::test]
async fn half_open_trial_failure_reopens_breaker() {
    let gateway = ScriptedGateway::new([Step::Unavailable; 4]);
    let (client, clock) = client(&gateway, fast_policy(1));
    for _ in 0..3 {
        let _ = client.charge(&request("o-1")).await;
    }
    clock.advance(Duration::from_secs(30));

    let trial = client.charge(&request("o-1")).await.unwrap_err();

    assert!(matches!(
        trial,
        PaymentError::RetriesExhausted { attempts: 1, .. }
    ));
    assert_eq!(client.breaker().state(), BreakerState::Open);
    let PaymentError::CircuitOpen { source, .. } =
        client.charge(&request("o-1")).await.unwrap_err()
    else {
        panic!("expected an open circuit after the failed trial")
    };
    assert_eq!(
        source.retry_after,
        Duration::from_secs(30),
        "the open interval starts again"
    );
}

#[tokio::test]
async fn breaker_opening_mid_retry_stops_the_retries() {
    let gateway = ScriptedGateway::new([Step::Unavailable; 10]);
    let (client, _clock) = client(&gateway, fast_policy(10));

    let error = client.charge(&request("o-1")).await.unwrap_err();

    assert!(
        matches!(error, PaymentError::CircuitOpen { .. }),
        "got {error:?}"
    );
    assert_eq!(gateway.calls(), 3, "the breaker threshold bounds the calls");
}

fn order_created(order_id: &str) -> String {
    let order = OrderCreated {
        order_id: order_id.to_owned(),
        user_id: "u-1".to_owned(),
        items: vec![OrderItem {
            sku: "BOOK-1".to_owned(),
            quantity: 1,
            unit_price_cents: 1250,
        }],
        total_cents: 1250,
    };
    serde_json::to_string(&order).unwrap()
}

fn outgoing(body: String) -> spanbill_functions::bus::OutgoingMessage {
    spanbill_functions::bus::OutgoingMessage {
        body,
        ..Default::default()
    }
}

#[tokio::test]
async fn gateway_outage_leaves_message_for_retry() {
    let gateway = ScriptedGateway::new([Step::Unavailable; 3]);
    let fixture = Fixture::with_gateway(gateway.clone(), fast_policy(3), BREAKER);
    let harness = Harness::new("handlePayment", &InMemorySpanExporter::default());
    let id = fixture
        .bus
        .send("orders", outgoing(order_created("o-1")))
        .await
        .unwrap();

    let outage = deliver_batch(fixture.bus.as_ref(), "orders", 10, |event| {
        harness.run(fixture.run(handle_payment(event, context("r-1"))))
    })
    .await
    .unwrap();

    assert_eq!(outage.failed, vec![id.clone()]);
    assert_eq!(harness.counter("payments.retried"), 1);
    assert_eq!(fixture.store().payment("o-1").await.unwrap(), None);
    assert!(
        fixture
            .bus
            .receive("payments", 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The gateway is back. The queue delivers the message again after its visibility
    // timeout, and the breaker lets a trial call through after its open interval.
    fixture.clock.advance(Duration::from_secs(30));
    let recovered = deliver_batch(fixture.bus.as_ref(), "orders", 10, |event| {
        harness.run(fixture.run(handle_payment(event, context("r-2"))))
    })
    .await
    .unwrap();

    assert_eq!(recovered.deleted, 1);
    assert_eq!(harness.counter("payments.succeeded"), 1);
    let announced = fixture.bus.receive("payments", 10).await.unwrap();
    assert_eq!(announced.len(), 1);
    assert_eq!(message_json(&announced[0])["type"], "payment.succeeded");
}

#[tokio::test]
async fn declined_charge_is_announced_as_failed() {
    let gateway = ScriptedGateway::new([Step::Decline]);
    let fixture = Fixture::with_gateway(gateway.clone(), fast_policy(3), BREAKER);
    let harness = Harness::new("handlePayment", &InMemorySpanExporter::default());
    fixture
        .bus
        .send("orders", outgoing(order_created("o-1")))
        .await
        .unwrap();

    let delivery = deliver_batch(fixture.bus.as_ref(), "orders", 10, |event| {
        harness.run(fixture.run(handle_payment(event, context("r-1"))))
    })
    .await
    .unwrap();

    assert_eq!(delivery.deleted, 1);
    assert_eq!(gateway.calls(), 1);
    assert_eq!(harness.counter("payments.failed"), 1);
    assert_eq!(harness.counter("payments.succeeded"), 0);
    let recorded = fixture.store().payment("o-1").await.unwrap().unwrap();
    assert_eq!(
        recorded.status,
        PaymentStatus::Failed {
            reason: "card_declined".to_owned()
        }
    );
    let announced = fixture.bus.receive("payments", 10).await.unwrap();
    let body = message_json(&announced[0]);
    assert_eq!(body["type"], "payment.failed");
    assert_eq!(body["reason"], "card_declined");
    assert_eq!(
        announced[0].message_attributes["eventType"]
            .string_value
            .as_deref(),
        Some("payment.failed")
    );
}

#[tokio::test]
async fn redelivered_order_is_charged_once() {
    let gateway = ScriptedGateway::new([]);
    let fixture = Fixture::with_gateway(gateway.clone(), fast_policy(3), BREAKER);
    fixture
        .bus
        .send("orders", outgoing(order_created("o-1")))
        .await
        .unwrap();
    fixture
        .bus
        .send("orders", outgoing(order_created("o-1")))
        .await
        .unwrap();

    for request_id in ["r-1", "r-2"] {
        let delivery = deliver_batch(fixture.bus.as_ref(), "orders", 1, |event| {
            fixture.run(handle_payment(event, context(request_id)))
        })
        .await
        .unwrap();
        assert_eq!(delivery.deleted, 1);
    }

    assert_eq!(gateway.calls(), 1);
    let announced = fixture.bus.receive("payments", 10).await.unwrap();
    let charge_ids: Vec<_> = announced
        .iter()
        .map(|message| message_json(message)["chargeId"].clone())
        .collect();
    assert_eq!(charge_ids.len(), 2, "each delivery announces the outcome");
    assert_eq!(charge_ids[0], charge_ids[1]);
}
