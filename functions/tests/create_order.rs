//! createOrder returns the right status for each kind of request, and one idempotency key
//! creates one order even under heavy concurrency.

// Instrumented handler futures exceed clippy's size limit; the binaries box them.
#![allow(clippy::large_futures)]

use crate::support;

use std::sync::Arc;

use opentelemetry_sdk::trace::InMemorySpanExporter;
use spanbill_functions::OrderService;
use spanbill_functions::bus::{Bus as _, InMemoryBus, QueueSettings};
use spanbill_functions::clock::ManualClock;
use spanbill_functions::handlers::create_order;
use spanbill_functions::payment::{BreakerSettings, PaymentClient, SandboxGateway};
use spanbill_functions::store::{OrderStatus, PublishState, Store};
use support::{
    Fixture, Harness, context, fast_policy, message_json, order_body, order_request, response_json,
};

const VALID: &str = r#"{"userId":"u-1","items":[{"sku":"BOOK-1","quantity":2,"price":12.5}]}"#;

/// A request createOrder must reject: the case, its idempotency key and body, the expected
/// status and, for a 422, the field the response names.
struct Rejected {
    case: &'static str,
    key: Option<&'static str>,
    body: &'static str,
    status: i64,
    field: Option<&'static str>,
}

const fn bad_request(
    case: &'static str,
    key: Option<&'static str>,
    body: &'static str,
) -> Rejected {
    Rejected {
        case,
        key,
        body,
        status: 400,
        field: None,
    }
}

const fn invalid(case: &'static str, body: &'static str, field: &'static str) -> Rejected {
    Rejected {
        case,
        key: Some("k"),
        body,
        status: 422,
        field: Some(field),
    }
}

const REJECTED: &[Rejected] = &[
    bad_request("missing idempotency key", None, VALID),
    bad_request("empty body", Some("k"), ""),
    bad_request("body not JSON", Some("k"), "{not json"),
    bad_request("body a JSON array", Some("k"), "[]"),
    invalid(
        "userId missing",
        r#"{"items":[{"sku":"A","quantity":1,"price":1}]}"#,
        "userId",
    ),
    invalid(
        "userId blank",
        r#"{"userId":" ","items":[{"sku":"A","quantity":1,"price":1}]}"#,
        "userId",
    ),
    invalid("items missing", r#"{"userId":"u-1"}"#, "items"),
    invalid("items empty", r#"{"userId":"u-1","items":[]}"#, "items"),
    invalid(
        "items not an array",
        r#"{"userId":"u-1","items":{}}"#,
        "items",
    ),
    invalid(
        "sku missing",
        r#"{"userId":"u-1","items":[{"quantity":1,"price":1}]}"#,
        "items[0].sku",
    ),
    invalid(
        "price missing",
        r#"{"userId":"u-1","items":[{"sku":"A","quantity":1}]}"#,
        "items[0].price",
    ),
    invalid(
        "price zero",
        r#"{"userId":"u-1","items":[{"sku":"A","quantity":1,"price":0}]}"#,
        "items[0].price",
    ),
    invalid(
        "price negative",
        r#"{"userId":"u-1","items":[{"sku":"A","quantity":1,"price":-5}]}"#,
        "items[0].price",
    ),
    invalid(
        "price a string",
        r#"{"userId":"u-1","items":[{"sku":"A","quantity":1,"price":"5"}]}"#,
        "items[0].price",
    ),
    invalid(
        "quantity missing",
        r#"{"userId":"u-1","items":[{"sku":"A","price":1}]}"#,
        "items[0].quantity",
    ),
    invalid(
        "quantity zero",
        r#"{"userId":"u-1","items":[{"sku":"A","quantity":0,"price":1}]}"#,
        "items[0].quantity",
    ),
    invalid(
        "quantity negative",
        r#"{"userId":"u-1","items":[{"sku":"A","quantity":-1,"price":1}]}"#,
        "items[0].quantity",
    ),
    invalid(
        "quantity fractional",
        r#"{"userId":"u-1","items":[{"sku":"A","quantity":1.5,"price":1}]}"#,
        "items[0].quantity",
    ),
    invalid(
        "quantity a string",
        r#"{"userId":"u-1","items":[{"sku":"A","quantity":"2","price":1}]}"#,
        "items[0].quantity",
    ),
    invalid(
        "second item invalid",
        r#"{"userId":"u-1","items":[{"sku":"A","quantity":1,"price":1},{"sku":"B","quantity":1,"price":-1}]}"#,
        "items[1].price",
    ),
];

#[tokio::test]
async fn invalid_requests_are_rejected_with_field_names() {
    let fixture = Fixture::new();

    for Rejected {
        case,
        key,
        body,
        status,
        field,
    } in REJECTED
    {
        let response = fixture
            .run(create_order(order_request(*key, body), context(case)))
            .await
            .unwrap();
        let json = response_json(&response);

        assert_eq!(response.status_code, *status, "{case}: {json}");
        let message = json["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{case}: no message in {json}");
        if let Some(field) = field {
            assert_eq!(json["field"], *field, "{case}");
            assert!(
                message.contains(&format!("`{field}`")),
                "{case}: message does not name `{field}`: {message}"
            );
        }
    }

    assert_eq!(fixture.store().order_count().await.unwrap(), 0);
    assert_eq!(fixture.bus.message_counts("orders").unwrap().visible, 0);
}

#[tokio::test]
async fn valid_order_is_created_and_announced() {
    let fixture = Fixture::new();

    let response = fixture
        .run(create_order(
            order_request(Some("key-1"), VALID),
            context("r-1"),
        ))
        .await
        .unwrap();

    assert_eq!(response.status_code, 201);
    let order_id = response_json(&response)["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        response.headers["location"],
        format!("/orders/{order_id}").as_str()
    );
    assert_eq!(response.headers["content-type"], "application/json");

    let order = fixture.store().order(&order_id).await.unwrap().unwrap();
    assert_eq!(order.user_id, "u-1");
    assert_eq!(order.total_cents, 2500);
    assert_eq!(order.status, OrderStatus::Created);
    assert_eq!(order.publish_state, PublishState::Published);

    let messages = fixture.bus.receive("orders", 10).await.unwrap();
    assert_eq!(messages.len(), 1);
    let body = message_json(&messages[0]);
    assert_eq!(body["type"], "order.created");
    assert_eq!(body["orderId"], order_id.as_str());
    assert_eq!(body["totalCents"], 2500);
    assert_eq!(
        messages[0].message_attributes["eventType"]
            .string_value
            .as_deref(),
        Some("order.created")
    );
}

#[tokio::test]
async fn duplicate_key_returns_409_with_existing_id() {
    let fixture = Fixture::new();
    let first = fixture
        .run(create_order(
            order_request(Some("key-1"), VALID),
            context("r-1"),
        ))
        .await
        .unwrap();
    let first_id = response_json(&first)["orderId"].clone();

    let other_body = order_body("u-2", "PEN-1", 1, 3.0);
    let second = fixture
        .run(create_order(
            order_request(Some("key-1"), &other_body),
            context("r-2"),
        ))
        .await
        .unwrap();

    assert_eq!(second.status_code, 409);
    assert_eq!(response_json(&second)["orderId"], first_id);
    assert_eq!(fixture.store().order_count().await.unwrap(), 1);
    assert_eq!(fixture.bus.message_counts("orders").unwrap().visible, 1);
}

#[tokio::test]
async fn failed_send_returns_generic_500_and_duplicate_resends() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("orders.db")).unwrap();
    let clock = Arc::new(ManualClock::new());
    // No queue yet, so the first send fails.
    let bus = Arc::new(InMemoryBus::new(clock.clone(), QueueSettings::default()));
    let payments = PaymentClient::new(
        Arc::new(SandboxGateway::new(100_000)),
        fast_policy(1),
        BreakerSettings::default(),
        clock,
    );
    let service = Arc::new(OrderService::new(store.clone(), bus.clone(), payments));

    let failed = service
        .clone()
        .scope(create_order(
            order_request(Some("key-1"), VALID),
            context("r-1"),
        ))
        .await
        .unwrap();

    assert_eq!(failed.status_code, 500);
    let json = response_json(&failed);
    assert_eq!(json["requestId"], "r-1");
    let text = json.to_string();
    assert!(!text.contains("queue"), "500 body leaks the cause: {text}");
    assert_eq!(store.order_count().await.unwrap(), 1);

    bus.create_queue("orders");
    let retried = service
        .clone()
        .scope(create_order(
            order_request(Some("key-1"), VALID),
            context("r-2"),
        ))
        .await
        .unwrap();

    assert_eq!(retried.status_code, 409);
    let order_id = response_json(&retried)["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        store.order(&order_id).await.unwrap().unwrap().publish_state,
        PublishState::Published
    );
    let messages = bus.receive("orders", 10).await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(message_json(&messages[0])["orderId"], order_id.as_str());
}

#[tokio::test]
async fn accepted_orders_are_counted_once() {
    let fixture = Fixture::new();
    let harness = Harness::new("createOrder", &InMemorySpanExporter::default());

    for (key, request_id) in [("key-1", "r-1"), ("key-1", "r-2"), ("key-2", "r-3")] {
        let call = fixture.run(create_order(
            order_request(Some(key), VALID),
            context(request_id),
        ));
        harness.run(call).await.unwrap();
    }

    assert_eq!(harness.counter("orders.created"), 2);
    assert!(harness.metric_names().contains(&"order.value".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_create_one_order() {
    const REQUESTS: usize = 1000;
    let fixture = Fixture::build(
        Arc::new(SandboxGateway::new(100_000)),
        fast_policy(1),
        BreakerSettings::default(),
        QueueSettings::default(),
        8,
    );

    // Every task runs the whole handler on the runtime's worker threads, and the store hands
    // each one a pooled connection, so transactions from different connections race for
    // the same key.
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..REQUESTS {
        let service = Arc::clone(&fixture.service);
        let request = order_request(Some("same-key"), VALID);
        tasks.spawn(async move {
            service
                .scope(create_order(request, context(&format!("r-{index}"))))
                .await
        });
    }
    let mut created = Vec::new();
    let mut duplicates = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let response = result.unwrap().unwrap();
        let order_id = response_json(&response)["orderId"]
            .as_str()
            .unwrap()
            .to_owned();
        match response.status_code {
            201 => created.push(order_id),
            409 => duplicates.push(order_id),
            other => panic!("unexpected status {other}: {}", response_json(&response)),
        }
    }

    assert_eq!(created.len(), 1);
    assert_eq!(duplicates.len(), REQUESTS - 1);
    assert!(
        duplicates.iter().all(|id| *id == created[0]),
        "a duplicate names another order"
    );
    assert_eq!(fixture.store().order_count().await.unwrap(), 1);
    assert_eq!(fixture.bus.message_counts("orders").unwrap().visible, 1);
}
