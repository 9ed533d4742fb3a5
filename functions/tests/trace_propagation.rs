//! A message that crosses the bus keeps its trace: createOrder, handlePayment and
//! updateInventory run through the in-process bus and their spans form one trace.

// Instrumented handler futures exceed clippy's size limit; the binaries box them.
#![allow(clippy::large_futures)]

use crate::support;

use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use spanbill_functions::bus::deliver_batch;
use spanbill_functions::handlers::{create_order, handle_payment, update_inventory};
use support::{Fixture, Harness, context, order_body, order_request, span_named, spans_named};

fn linked_span_ids(span: &SpanData) -> Vec<SpanId> {
    span.links
        .links
        .iter()
        .map(|link| link.span_context.span_id())
        .collect()
}

#[tokio::test]
async fn order_keeps_one_trace_across_three_functions() {
    let fixture = Fixture::new();
    fixture.store().set_stock("BOOK-1", 10).await.unwrap();
    let exporter = InMemorySpanExporter::default();
    let create = Harness::new("createOrder", &exporter);
    let pay = Harness::new("handlePayment", &exporter);
    let inventory = Harness::new("updateInventory", &exporter);

    let request = order_request(Some("key-1"), &order_body("u-1", "BOOK-1", 2, 12.5));
    let response = create
        .run(fixture.run(create_order(request, context("r-create"))))
        .await
        .unwrap();
    assert_eq!(response.status_code, 201);

    let payment = deliver_batch(fixture.bus.as_ref(), "orders", 10, |event| {
        pay.run(fixture.run(handle_payment(event, context("r-pay"))))
    })
    .await
    .unwrap();
    assert_eq!(payment.deleted, 1);

    let stock = deliver_batch(fixture.bus.as_ref(), "payments", 10, |event| {
        inventory.run(fixture.run(update_inventory(event, context("r-inventory"))))
    })
    .await
    .unwrap();
    assert_eq!(stock.deleted, 1);
    assert_eq!(fixture.store().stock("BOOK-1").await.unwrap(), Some(8));

    let spans = exporter.get_finished_spans().unwrap();
    let server = span_named(&spans, "createOrder");
    let send_order = span_named(&spans, "send orders");
    let pay_invocation = span_named(&spans, "handlePayment");
    let process_order = span_named(&spans, "process orders");
    let send_payment = span_named(&spans, "send payments");
    let inventory_invocation = span_named(&spans, "updateInventory");
    let process_payment = span_named(&spans, "process payments");

    let trace_id = server.span_context.trace_id();
    for span in [
        &send_order,
        &pay_invocation,
        &process_order,
        &send_payment,
        &inventory_invocation,
        &process_payment,
    ] {
        assert_eq!(
            span.span_context.trace_id(),
            trace_id,
            "`{}` left the trace",
            span.name
        );
    }

    assert_eq!(server.span_kind, SpanKind::Server);
    assert_eq!(server.parent_span_id, SpanId::INVALID);
    assert_eq!(send_order.span_kind, SpanKind::Producer);
    assert_eq!(send_order.parent_span_id, server.span_context.span_id());

    // A batch whose messages share one trace continues it, and links each producer.
    assert_eq!(pay_invocation.span_kind, SpanKind::Consumer);
    assert_eq!(
        pay_invocation.parent_span_id,
        send_order.span_context.span_id()
    );
    assert_eq!(
        linked_span_ids(&pay_invocation),
        vec![send_order.span_context.span_id()]
    );

    // The message span is a child of the producer; a link to the invocation would only
    // repeat the trace it is already in.
    assert_eq!(process_order.span_kind, SpanKind::Consumer);
    assert_eq!(
        process_order.parent_span_id,
        send_order.span_context.span_id()
    );
    assert!(process_order.links.links.is_empty());

    assert_eq!(send_payment.span_kind, SpanKind::Producer);
    assert_eq!(
        send_payment.parent_span_id,
        process_order.span_context.span_id()
    );

    assert_eq!(
        inventory_invocation.parent_span_id,
        send_payment.span_context.span_id()
    );
    assert_eq!(
        linked_span_ids(&inventory_invocation),
        vec![send_payment.span_context.span_id()]
    );
    assert_eq!(
        process_payment.parent_span_id,
        send_payment.span_context.span_id()
    );
}

#[tokio::test]
async fn mixed_batch_links_each_producer_trace() {
    let fixture = Fixture::new();
    let exporter = InMemorySpanExporter::default();
    let create = Harness::new("createOrder", &exporter);
    let pay = Harness::new("handlePayment", &exporter);

    for (key, user) in [("key-1", "u-1"), ("key-2", "u-2")] {
        let request = order_request(Some(key), &order_body(user, "BOOK-1", 1, 5.0));
        let response = create
            .run(fixture.run(create_order(request, context(key))))
            .await
            .unwrap();
        assert_eq!(response.status_code, 201);
    }

    let delivery = deliver_batch(fixture.bus.as_ref(), "orders", 10, |event| {
        pay.run(fixture.run(handle_payment(event, context("r-pay"))))
    })
    .await
    .unwrap();
    assert_eq!(delivery.received, 2);

    let spans = exporter.get_finished_spans().unwrap();
    let producers = spans_named(&spans, "send orders");
    let invocation = span_named(&spans, "handlePayment");
    let processes = spans_named(&spans, "process orders");
    assert_eq!(producers.len(), 2);
    assert_eq!(processes.len(), 2);

    let producer_traces: Vec<TraceId> = producers
        .iter()
        .map(|span| span.span_context.trace_id())
        .collect();
    assert_ne!(producer_traces[0], producer_traces[1]);

    // Two traces in one batch: the invocation starts its own trace and links both producers.
    assert_eq!(invocation.parent_span_id, SpanId::INVALID);
    assert!(!producer_traces.contains(&invocation.span_context.trace_id()));
    let mut linked = linked_span_ids(&invocation);
    let mut producer_ids: Vec<SpanId> = producers
        .iter()
        .map(|span| span.span_context.span_id())
        .collect();
    linked.sort_by_key(|id| format!("{id:x}"));
    producer_ids.sort_by_key(|id| format!("{id:x}"));
    assert_eq!(linked, producer_ids);

    // Each message span continues its own producer's trace and links the invocation.
    for process in &processes {
        let producer = producers
            .iter()
            .find(|producer| producer.span_context.span_id() == process.parent_span_id)
            .expect("a message span whose parent is not a producer");
        assert_eq!(
            process.span_context.trace_id(),
            producer.span_context.trace_id()
        );
        assert_eq!(
            linked_span_ids(process),
            vec![invocation.span_context.span_id()]
        );
    }
}
