//! The in-process bus behaves like SQS with a Lambda event source: Lambda-shaped records,
//! visibility timeout, dead-letter queue and partial batch failures.

// Instrumented handler futures exceed clippy's size limit; the binaries box them.
#![allow(clippy::large_futures)]

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_lambda_events::sqs::SqsBatchResponse;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use spanbill_functions::bus::{
    Bus as _, BusError, Delivery, InMemoryBus, MessageCounts, OutgoingMessage, QueueSettings,
    deliver_batch,
};
use spanbill_functions::handlers::update_inventory;
use spanbill_functions::model::{NewOrder, OrderItem, PaymentEvent};
use spanbill_functions::payment::BreakerSettings;
use spanbill_functions::store::OrderStatus;
use support::{Fixture, Harness, context, fast_policy};

fn text(body: &str) -> OutgoingMessage {
    OutgoingMessage {
        body: body.to_owned(),
        ..OutgoingMessage::default()
    }
}

fn paid(order_id: &str, sku: &str, quantity: u32) -> OutgoingMessage {
    let event = PaymentEvent::Succeeded {
        order_id: order_id.to_owned(),
        charge_id: format!("ch-{order_id}"),
        amount_cents: 100 * i64::from(quantity),
        items: vec![OrderItem {
            sku: sku.to_owned(),
            quantity,
            unit_price_cents: 100,
        }],
    };
    text(&serde_json::to_string(&event).unwrap())
}

fn fixture_with(settings: QueueSettings) -> Fixture {
    Fixture::build(
        std::sync::Arc::new(spanbill_functions::payment::SandboxGateway::new(100_000)),
        fast_policy(1),
        BreakerSettings::default(),
        settings,
        4,
    )
}

#[tokio::test]
async fn received_records_have_lambda_shape() {
    let fixture = Fixture::new();
    let message = OutgoingMessage {
        body: r#"{"type":"order.created"}"#.to_owned(),
        attributes: BTreeMap::from([
            ("eventType".to_owned(), "order.created".to_owned()),
            (
                "traceparent".to_owned(),
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
            ),
        ]),
        trace_header: Some(
            "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1".to_owned(),
        ),
    };
    let id = fixture.bus.send("orders", message).await.unwrap();

    let mut records = fixture.bus.receive("orders", 10).await.unwrap();
    assert_eq!(records.len(), 1);
    let record = records.remove(0);

    assert_eq!(record.message_id.as_deref(), Some(id.as_str()));
    assert!(
        record
            .receipt_handle
            .as_deref()
            .is_some_and(|handle| !handle.is_empty())
    );
    assert_eq!(record.body.as_deref(), Some(r#"{"type":"order.created"}"#));
    assert_eq!(
        record.md5_of_body.as_deref(),
        Some("c01fea207cd4445b20e651fef1154258")
    );
    assert!(
        record
            .md5_of_message_attributes
            .as_deref()
            .is_some_and(|md5| md5.len() == 32)
    );
    assert_eq!(
        record.event_source_arn.as_deref(),
        Some("arn:aws:sqs:us-east-1:123456789012:orders")
    );
    assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
    assert_eq!(record.aws_region.as_deref(), Some("us-east-1"));
    assert_eq!(record.attributes["ApproximateReceiveCount"], "1");
    assert!(record.attributes["SentTimestamp"].parse::<u64>().is_ok());
    assert!(
        record.attributes["ApproximateFirstReceiveTimestamp"]
            .parse::<u64>()
            .is_ok()
    );
    assert!(!record.attributes["SenderId"].is_empty());
    assert_eq!(
        record.attributes["AWSTraceHeader"],
        "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1"
    );
    let traceparent = &record.message_attributes["traceparent"];
    assert_eq!(traceparent.data_type.as_deref(), Some("String"));
    assert_eq!(
        traceparent.string_value.as_deref(),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    );

    // The JSON field names are the ones Lambda sends.
    let mut event = aws_lambda_events::sqs::SqsEvent::default();
    event.records = vec![record];
    let json = serde_json::to_value(&event).unwrap();
    let first = &json["Records"][0];
    assert_eq!(
        first["eventSourceARN"],
        "arn:aws:sqs:us-east-1:123456789012:orders"
    );
    assert_eq!(first["eventSource"], "aws:sqs");
    assert_eq!(
        first["messageAttributes"]["eventType"]["stringValue"],
        "order.created"
    );
    assert_eq!(
        first["messageAttributes"]["eventType"]["dataType"],
        "String"
    );
    assert_eq!(first["attributes"]["ApproximateReceiveCount"], "1");
}

#[tokio::test]
async fn unacknowledged_message_returns_after_visibility_timeout() {
    let fixture = fixture_with(QueueSettings {
        visibility_timeout: Duration::from_secs(30),
        max_receive_count: 5,
    });
    fixture.bus.send("orders", text("{}")).await.unwrap();

    let first = fixture.bus.receive("orders", 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(fixture.bus.receive("orders", 10).await.unwrap().is_empty());

    fixture.clock.advance(Duration::from_secs(29));
    assert!(fixture.bus.receive("orders", 10).await.unwrap().is_empty());
    assert_eq!(fixture.bus.message_counts("orders").unwrap().in_flight, 1);

    fixture.clock.advance(Duration::from_secs(1));
    let second = fixture.bus.receive("orders", 10).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].message_id, first[0].message_id);
    assert_eq!(second[0].attributes["ApproximateReceiveCount"], "2");
    assert_ne!(second[0].receipt_handle, first[0].receipt_handle);

    let stale = fixture
        .bus
        .delete("orders", first[0].receipt_handle.as_deref().unwrap())
        .await;
    assert!(matches!(stale, Err(BusError::InvalidReceiptHandle { .. })));

    fixture
        .bus
        .delete("orders", second[0].receipt_handle.as_deref().unwrap())
        .await
        .unwrap();
    fixture.clock.advance(Duration::from_mins(1));
    assert!(fixture.bus.receive("orders", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn dead_letter_after_max_receives() {
    let fixture = fixture_with(QueueSettings {
        visibility_timeout: Duration::from_secs(10),
        max_receive_count: 3,
    });
    let id = fixture.bus.send("orders", text("poison")).await.unwrap();

    for receive in 1..=3 {
        let batch = fixture.bus.receive("orders", 10).await.unwrap();
        assert_eq!(batch.len(), 1, "receive {receive}");
        assert_eq!(
            batch[0].attributes["ApproximateReceiveCount"],
            receive.to_string()
        );
        fixture.clock.advance(Duration::from_secs(10));
    }

    assert!(fixture.bus.receive("orders", 10).await.unwrap().is_empty());
    assert_eq!(
        fixture.bus.message_counts("orders").unwrap(),
        MessageCounts::default()
    );

    let dead = fixture.bus.receive("orders-dlq", 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id.as_deref(), Some(id.as_str()));
    assert_eq!(dead[0].body.as_deref(), Some("poison"));
    assert_eq!(dead[0].attributes["ApproximateReceiveCount"], "1");
    assert_eq!(
        dead[0].event_source_arn.as_deref(),
        Some("arn:aws:sqs:us-east-1:123456789012:orders-dlq")
    );
}

#[tokio::test]
async fn batch_failures_retry_only_failed_messages() {
    let fixture = fixture_with(QueueSettings {
        visibility_timeout: Duration::from_secs(30),
        max_receive_count: 5,
    });
    fixture.store().set_stock("BOOK-1", 10).await.unwrap();
    fixture
        .bus
        .send("payments", paid("o-1", "BOOK-1", 1))
        .await
        .unwrap();
    let broken = fixture
        .bus
        .send("payments", text("{not json"))
        .await
        .unwrap();
    fixture
        .bus
        .send("payments", paid("o-2", "BOOK-1", 2))
        .await
        .unwrap();

    let mut responses: Vec<SqsBatchResponse> = Vec::new();
    let first = deliver_batch(fixture.bus.as_ref(), "payments", 10, |event| async {
        let response = fixture.run(update_inventory(event, context("r-1"))).await;
        if let Ok(response) = &response {
            responses.push(response.clone());
        }
        response
    })
    .await
    .unwrap();

    assert_eq!(
        first,
        Delivery {
            received: 3,
            deleted: 2,
            failed: vec![broken.clone()]
        }
    );
    let reported: Vec<&str> = responses[0]
        .batch_item_failures
        .iter()
        .map(|failure| failure.item_identifier.as_str())
        .collect();
    assert_eq!(reported, vec![broken.as_str()]);
    assert_eq!(fixture.store().stock("BOOK-1").await.unwrap(), Some(7));

    fixture.clock.advance(Duration::from_secs(30));
    let redelivered = fixture.bus.receive("payments", 10).await.unwrap();
    assert_eq!(redelivered.len(), 1);
    assert_eq!(redelivered[0].message_id.as_deref(), Some(broken.as_str()));
    assert_eq!(redelivered[0].attributes["ApproximateReceiveCount"], "2");
}

#[tokio::test]
async fn handler_error_fails_whole_batch() {
    let fixture = Fixture::new();
    let first = fixture.bus.send("orders", text("a")).await.unwrap();
    let second = fixture.bus.send("orders", text("b")).await.unwrap();

    let delivery = deliver_batch(fixture.bus.as_ref(), "orders", 10, |_event| async {
        Err::<SqsBatchResponse, _>("handler crashed")
    })
    .await
    .unwrap();

    assert_eq!(
        delivery,
        Delivery {
            received: 2,
            deleted: 0,
            failed: vec![first, second]
        }
    );
    assert_eq!(fixture.bus.message_counts("orders").unwrap().in_flight, 2);
}

#[tokio::test]
async fn unknown_failure_id_fails_whole_batch() {
    let fixture = Fixture::new();
    let id = fixture.bus.send("orders", text("a")).await.unwrap();

    let delivery = deliver_batch(fixture.bus.as_ref(), "orders", 10, |_event| async {
        let mut response = SqsBatchResponse::default();
        response.add_failure("not-in-this-batch");
        Ok::<_, String>(response)
    })
    .await
    .unwrap();

    assert_eq!(
        delivery,
        Delivery {
            received: 1,
            deleted: 0,
            failed: vec![id]
        }
    );
}

#[tokio::test]
async fn redelivered_payment_changes_stock_once() {
    let fixture = Fixture::new();
    fixture.store().set_stock("BOOK-1", 10).await.unwrap();
    let harness = Harness::new("updateInventory", &InMemorySpanExporter::default());
    // SQS delivers a message at least once, so the same payment can arrive twice.
    fixture
        .bus
        .send("payments", paid("o-1", "BOOK-1", 3))
        .await
        .unwrap();
    fixture
        .bus
        .send("payments", paid("o-1", "BOOK-1", 3))
        .await
        .unwrap();

    let delivery = deliver_batch(fixture.bus.as_ref(), "payments", 1, |event| {
        harness.run(fixture.run(update_inventory(event, context("r-1"))))
    })
    .await
    .unwrap();
    let again = deliver_batch(fixture.bus.as_ref(), "payments", 1, |event| {
        harness.run(fixture.run(update_inventory(event, context("r-2"))))
    })
    .await
    .unwrap();

    assert_eq!(delivery.deleted, 1);
    assert_eq!(again.deleted, 1);
    assert_eq!(fixture.store().stock("BOOK-1").await.unwrap(), Some(7));
    assert_eq!(harness.counter("inventory.updates"), 1);
}

#[tokio::test]
async fn stock_out_is_counted_and_not_retried() {
    let fixture = Fixture::new();
    let harness = Harness::new("updateInventory", &InMemorySpanExporter::default());
    fixture.store().set_stock("BOOK-1", 1).await.unwrap();
    let order = NewOrder {
        user_id: "u-1".to_owned(),
        items: vec![OrderItem {
            sku: "BOOK-1".to_owned(),
            quantity: 2,
            unit_price_cents: 100,
        }],
        total_cents: 200,
    };
    fixture
        .store()
        .create_order("key-1", "o-1", &order)
        .await
        .unwrap();
    fixture
        .bus
        .send("payments", paid("o-1", "BOOK-1", 2))
        .await
        .unwrap();

    let delivery = deliver_batch(fixture.bus.as_ref(), "payments", 10, |event| {
        harness.run(fixture.run(update_inventory(event, context("r-1"))))
    })
    .await
    .unwrap();

    assert_eq!(
        delivery,
        Delivery {
            received: 1,
            deleted: 1,
            failed: Vec::new()
        }
    );
    assert_eq!(harness.counter("stock.outs"), 1);
    assert_eq!(harness.counter("inventory.updates"), 0);
    assert_eq!(fixture.store().stock("BOOK-1").await.unwrap(), Some(1));
    assert_eq!(
        fixture.store().order("o-1").await.unwrap().unwrap().status,
        OrderStatus::StockOut
    );
}

#[tokio::test]
async fn missing_queue_is_reported_by_name() {
    let bus = InMemoryBus::new(
        spanbill_functions::clock::system(),
        QueueSettings::default(),
    );

    let error = bus.send("nowhere", text("x")).await.unwrap_err();

    assert!(matches!(&error, BusError::QueueNotFound { queue } if queue == "nowhere"));
    assert!(error.to_string().contains("`nowhere`"));
}
