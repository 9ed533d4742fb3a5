//! The SQS bus against moto's SQS server: trace context survives the round trip byte for
//! byte, and the consumer continues the producer's trace.
//!
//! The test starts `moto_server` from `$SPANBILL_MOTO`, or from the workspace's
//! `.venv-test`, which `.ci/run` creates.

// Instrumented handler futures exceed clippy's size limit; the binaries box them.
#![allow(clippy::large_futures)]

use crate::support;

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::SqsMessage;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use spanbill::propagation::xray_header;
use spanbill_functions::OrderService;
use spanbill_functions::bus::{
    Bus as _, QueueSettings, SqsBus, deliver_batch, local_client, md5_of_body,
    md5_of_string_attributes,
};
use spanbill_functions::clock;
use spanbill_functions::handlers::{create_order, handle_payment};
use spanbill_functions::payment::{BreakerSettings, PaymentClient, SandboxGateway};
use spanbill_functions::store::Store;
use support::{
    Harness, RecordingBus, context, fast_policy, order_body, order_request_with_headers, span_named,
};

const INCOMING_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const INCOMING_TRACESTATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

/// A moto server on a free loopback port, killed by process id when dropped.
struct Moto {
    child: Child,
    endpoint: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    fn start() -> Self {
        let binary = std::env::var_os("SPANBILL_MOTO").map_or_else(
            || {
                PathBuf::from(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../.venv-test/bin/moto_server"
                ))
            },
            PathBuf::from,
        );
        assert!(
            binary.is_file(),
            "moto_server not found at `{}`: run `.ci/run`, or create the test venv in the workspace root \
             with `python3 -m venv .venv-test && .venv-test/bin/pip install 'moto[server]' boto3`, \
             or set SPANBILL_MOTO to the moto_server binary",
            binary.display()
        );

        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("moto.log");
        let output = File::create(&log).unwrap();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap_or_else(|error| panic!("failed to start `{}`: {error}", binary.display()));
        let mut moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        moto.wait_until_listening(port);
        moto
    }

    fn wait_until_listening(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "moto_server exited with {status} before listening:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on port {port} within 30 s:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn string_attribute<'a>(message: &'a SqsMessage, name: &str) -> &'a str {
    message.message_attributes[name]
        .string_value
        .as_deref()
        .unwrap()
}

/// Builds an order service whose bus is SQS at `endpoint`, with the `orders` and `payments` queues,
/// behind a recorder of what it sends.
async fn service_on_sqs(
    endpoint: &str,
    dir: &tempfile::TempDir,
) -> (Arc<RecordingBus<SqsBus>>, Arc<OrderService>) {
    let sqs = SqsBus::new(local_client(endpoint));
    sqs.create_queue("orders", QueueSettings::default())
        .await
        .unwrap();
    sqs.create_queue("payments", QueueSettings::default())
        .await
        .unwrap();
    let bus = Arc::new(RecordingBus::new(sqs));

    let store = Store::open(dir.path().join("orders.db")).unwrap();
    let gateway = Arc::new(SandboxGateway::new(100_000));
    let payments = PaymentClient::new(
        gateway,
        fast_policy(1),
        BreakerSettings::default(),
        clock::system(),
    );
    let service = Arc::new(OrderService::new(store, bus.clone(), payments));
    (bus, service)
}

/// Runs handlePayment on the first non-empty batch of the orders queue and returns the
/// records it received.
async fn deliver_orders(
    bus: &RecordingBus<SqsBus>,
    service: &Arc<OrderService>,
    pay: &Harness,
) -> Vec<SqsMessage> {
    let received = Mutex::new(Vec::new());
    for _ in 0..10 {
        let delivery = deliver_batch(bus, "orders", 10, |event| {
            received.lock().unwrap().extend(event.records.clone());
            pay.run(Arc::clone(service).scope(handle_payment(event, context("r-2"))))
        })
        .await
        .unwrap();
        if delivery.received > 0 {
            assert!(
                delivery.failed.is_empty(),
                "handlePayment failed: {delivery:?}"
            );
            assert_eq!(delivery.deleted, 1);
            break;
        }
    }
    received.into_inner().unwrap()
}

#[tokio::test]
async fn sqs_round_trip_keeps_trace_context() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let (bus, service) = service_on_sqs(&moto.endpoint, &dir).await;
    let exporter = InMemorySpanExporter::default();
    let create = Harness::new("createOrder", &exporter);
    let pay = Harness::new("handlePayment", &exporter);

    // The caller's trace arrives in HTTP headers, with a vendor trace state.
    let request = order_request_with_headers(
        Some("key-1"),
        &order_body("u-1", "BOOK-1", 1, 9.99),
        &[
            ("traceparent", INCOMING_TRACEPARENT),
            ("tracestate", INCOMING_TRACESTATE),
        ],
    );
    let response = create
        .run(Arc::clone(&service).scope(create_order(request, context("r-1"))))
        .await
        .unwrap();
    assert_eq!(response.status_code, 201);

    let received = deliver_orders(&bus, &service, &pay).await;
    assert_eq!(received.len(), 1);

    let sent = bus.sent();
    let (queue, message) = &sent[0];
    assert_eq!(queue, "orders");
    let record = &received[0];

    // What SQS returns is exactly what the producer attached.
    assert_eq!(
        string_attribute(record, "traceparent"),
        message.attributes["traceparent"]
    );
    assert_eq!(
        string_attribute(record, "tracestate"),
        message.attributes["tracestate"]
    );
    assert_eq!(string_attribute(record, "tracestate"), INCOMING_TRACESTATE);
    assert_eq!(
        record.attributes.get("AWSTraceHeader"),
        message.trace_header.as_ref()
    );
    assert_eq!(string_attribute(record, "eventType"), "order.created");
    assert_eq!(record.body.as_deref(), Some(message.body.as_str()));
    assert_eq!(
        record.md5_of_body.as_deref(),
        Some(md5_of_body(&message.body).as_str())
    );
    assert_eq!(
        record.md5_of_message_attributes.as_deref(),
        Some(md5_of_string_attributes(&message.attributes).as_str()),
        "the in-process bus computes attribute digests as SQS does"
    );
    assert_eq!(
        record.event_source_arn.as_deref(),
        Some("arn:aws:sqs:us-east-1:123456789012:orders")
    );
    assert_eq!(record.attributes["ApproximateReceiveCount"], "1");

    // The attached context is the producer span's, inside the caller's trace.
    let spans = exporter.get_finished_spans().unwrap();
    let producer = span_named(&spans, "send orders");
    let producer_context = &producer.span_context;
    assert_eq!(
        format!("{:032x}", producer_context.trace_id()),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        message.attributes["traceparent"],
        format!(
            "00-{:032x}-{:016x}-01",
            producer_context.trace_id(),
            producer_context.span_id()
        )
    );
    assert_eq!(message.trace_header, xray_header(producer_context));

    // The consumer continues the producer's trace.
    let invocation = span_named(&spans, "handlePayment");
    let process = span_named(&spans, "process orders");
    assert_eq!(
        invocation.span_context.trace_id(),
        producer_context.trace_id()
    );
    assert_eq!(invocation.parent_span_id, producer_context.span_id());
    assert_eq!(process.span_context.trace_id(), producer_context.trace_id());
    assert_eq!(process.parent_span_id, producer_context.span_id());

    // The payment announcement went out through SQS too, and the order message is gone.
    let announced = bus.receive("payments", 10).await.unwrap();
    assert_eq!(announced.len(), 1);
    assert_eq!(
        string_attribute(&announced[0], "eventType"),
        "payment.succeeded"
    );
    let payments_producer = span_named(&spans, "send payments");
    assert_eq!(
        payments_producer.parent_span_id,
        process.span_context.span_id()
    );
    assert!(
        string_attribute(&announced[0], "traceparent").contains(&format!(
            "{:016x}",
            payments_producer.span_context.span_id()
        ))
    );
    assert!(bus.receive("orders", 10).await.unwrap().is_empty());
}
